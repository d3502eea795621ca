// librdkafka properties for a client, built from the configuration file's [kafka] table.
//
// Why in pipeline/: kafka/ knows only librdkafka and sits below config/, and config/ does not
// depend on kafka/ (rooms, ARCHITECTURE.md), so neither can hold a function from
// config::KafkaSettings to kafka::Properties. pipeline/ depends on both and sits below every room
// that creates clients from the settings (serve/, bench/e2e/, cli/), so the one builder lives
// here and returns kafka::Properties itself. reflists/ takes ready kafka::Properties (from cli/).
#pragma once

#include <string>
#include <string_view>

#include "config/settings.h"
#include "kafka/client.h"

namespace anpr::app {

// Which per-role table of the settings applies on top of kafka.properties.
enum class KafkaRole {
  common,    // none: a client used both ways or for admin requests (topics, lists publish)
  consumer,  // kafka.consumer.*
  producer,  // kafka.producer.*
};

// The properties of one client, in the order they are set; librdkafka keeps the last value set
// for a property, so later entries win:
//   1. `defaults`: the caller's choices an operator may change (linger.ms, timeouts, ...);
//   2. bootstrap.servers (kafka.brokers) and log_level (`log_level`);
//   3. kafka.properties.* (KafkaSettings::common), in key order;
//   4. kafka.consumer.* or kafka.producer.* by `role`, in key order;
//   5. `fixed`: what the product relies on, which no setting may change (for instance
//      enable.auto.offset.store=false for the processor's at-least-once offsets).
kafka::Properties kafka_properties(const config::KafkaSettings& k, KafkaRole role,
                                   std::string_view log_level, kafka::Properties defaults = {},
                                   const kafka::Properties& fixed = {});

// The processor's consumer: a member of kafka.group_id that stores offsets only through its
// OffsetTracker (enable.auto.offset.store=false, fixed) and commits them every second.
// `exactly_once` (pipeline.exactly_once): offsets go into the producer's transactions instead,
// so librdkafka commits nothing (enable.auto.commit=false, fixed), and only committed reads are
// consumed (isolation.level=read_committed, fixed).
kafka::Properties processor_consumer_properties(const config::KafkaSettings& k,
                                                bool exactly_once = false);

// The processor's consumer waits at most fetch.wait.max.ms for reads: 5 ms, and 1 ms with
// `k.embedded_broker` (`anpr demo`, `anpr bench` without --brokers; kafka.consumer can set it
// either way). An Apache Kafka broker answers a waiting fetch as soon as reads arrive, so there the
// wait only sets how often an idle consumer asks again; the embedded broker answers an empty fetch
// only when the wait has passed, even when reads arrive meanwhile, so every read could wait that
// long (docs/benchmarks.md, "Where the latency goes").
inline constexpr const char* kFetchWaitMs = "5";
inline constexpr const char* kEmbeddedFetchWaitMs = "1";

// The processor's producer: idempotent with acks=all (fixed). With a `transactional_id`
// (pipeline.exactly_once) it is transactional: transaction.timeout.ms 60 s by default, and
// librdkafka bounds message.timeout.ms by it.
kafka::Properties processor_producer_properties(const config::KafkaSettings& k,
                                                const std::string& transactional_id = {});

// The transactional.id of the processor's producer with pipeline.exactly_once:
// kafka.transactional_id, or kafka.group_id + "-" + kafka.instance_id (static membership), or
// kafka.group_id + "-" + the host's name (gethostname). It must be
// the same at every start of one instance (so the new incarnation aborts what the previous left
// open and fences it) and differ between instances running at once (docs/kafka.md).
std::string processor_transactional_id(const config::KafkaSettings& k);

}  // namespace anpr::app
