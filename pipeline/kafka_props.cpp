#include "pipeline/kafka_props.h"

#include <unistd.h>

#include <string>
#include <utility>

namespace anpr::app {

kafka::Properties kafka_properties(const config::KafkaSettings& k, KafkaRole role,
                                   std::string_view log_level, kafka::Properties defaults,
                                   const kafka::Properties& fixed) {
  kafka::Properties p = std::move(defaults);
  p.emplace_back("bootstrap.servers", k.brokers);
  p.emplace_back("log_level", std::string(log_level));
  for (const auto& kv : k.common) p.emplace_back(kv);
  if (role == KafkaRole::consumer)
    for (const auto& kv : k.consumer) p.emplace_back(kv);
  if (role == KafkaRole::producer)
    for (const auto& kv : k.producer) p.emplace_back(kv);
  for (const auto& kv : fixed) p.emplace_back(kv);
  return p;
}

kafka::Properties processor_consumer_properties(const config::KafkaSettings& k,
                                                bool exactly_once) {
  kafka::Properties fixed{{"enable.auto.offset.store", "false"}};
  if (!k.instance_id.empty()) fixed.emplace_back("group.instance.id", k.instance_id);
  if (exactly_once) {
    // Offsets are committed by the producer's transactions (pipeline/processor.h).
    fixed.emplace_back("enable.auto.commit", "false");
    fixed.emplace_back("isolation.level", "read_committed");
  }
  return kafka_properties(
      k, KafkaRole::consumer, "4",
      {{"group.id", k.group_id},
       // Failover (docs/kafka.md): a rebalance moves only the partitions that change owner, the
       // others keep flowing; a member that stops answering is replaced after 10 s, not 45.
       {"partition.assignment.strategy", "cooperative-sticky"},
       {"session.timeout.ms", "10000"},
       {"auto.offset.reset", "earliest"},
       {"enable.auto.commit", "true"},
       {"auto.commit.interval.ms", "1000"},
       {"enable.partition.eof", "false"},
       // librdkafka 2.0 stops prefetching once this many messages are queued and looks again
       // only a second later: a processor catching up would stall for that second every 100 000
       // reads at the default.
       {"queued.min.messages", "1000000"},
       {"queued.max.messages.kbytes", "131072"},
       // Hits are wanted within milliseconds: a broker that holds an empty fetch (as the
       // embedded one does) must not hold it for long (kafka_props.h).
       {"fetch.wait.max.ms", k.embedded_broker ? kEmbeddedFetchWaitMs : kFetchWaitMs}},
      // At-least-once: offsets are stored by the tracker only, never by librdkafka on poll.
      fixed);
}

kafka::Properties processor_producer_properties(const config::KafkaSettings& k,
                                                const std::string& transactional_id) {
  if (transactional_id.empty())
    return kafka_properties(k, KafkaRole::producer, "4",
                            {{"linger.ms", "1"}, {"message.timeout.ms", "120000"}},
                            {{"enable.idempotence", "true"}, {"acks", "all"}});
  // librdkafka refuses a message.timeout.ms set above transaction.timeout.ms and sets it to
  // that when it is not set: so no default of its own here.
  return kafka_properties(
      k, KafkaRole::producer, "4", {{"linger.ms", "1"}, {"transaction.timeout.ms", "60000"}},
      {{"enable.idempotence", "true"}, {"acks", "all"}, {"transactional.id", transactional_id}});
}

std::string processor_transactional_id(const config::KafkaSettings& k) {
  if (!k.transactional_id.empty()) return k.transactional_id;
  if (!k.instance_id.empty()) return k.group_id + "-" + k.instance_id;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return k.group_id;
  return k.group_id + "-" + host;
}

}  // namespace anpr::app
