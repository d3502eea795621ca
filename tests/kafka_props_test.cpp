// The properties of a Kafka client built from the settings (pipeline/kafka_props.h): the merge
// order (the caller's defaults, bootstrap.servers and log_level, kafka.properties.*, the role's
// table, the caller's fixed properties) and the processor's two clients written out in full.
#include "pipeline/kafka_props.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <string>

namespace anpr::app {
namespace {

// What librdkafka ends up with: the last value set for each property.
std::map<std::string, std::string> effective(const kafka::Properties& p) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : p) out[k] = v;
  return out;
}

config::KafkaSettings operator_settings() {
  config::KafkaSettings k;
  k.brokers = "k1:9093,k2:9093";
  k.group_id = "anpr-prod";
  k.common = {{"security.protocol", "SASL_SSL"}, {"log_level", "6"}, {"linger.ms", "2"}};
  k.consumer = {{"fetch.wait.max.ms", "50"}, {"security.protocol", "SSL"}};
  k.producer = {{"linger.ms", "5"}, {"compression.type", "lz4"}};
  return k;
}

TEST(KafkaProps, NothingConfiguredIsTheBrokersAndTheLogLevel) {
  const config::KafkaSettings k;
  const kafka::Properties want{{"bootstrap.servers", "localhost:9092"}, {"log_level", "4"}};
  EXPECT_EQ(kafka_properties(k, KafkaRole::consumer, "4"), want);
  EXPECT_EQ(kafka_properties(k, KafkaRole::producer, "4"), want);
  EXPECT_EQ(kafka_properties(k, KafkaRole::common, "3"),
            (kafka::Properties{{"bootstrap.servers", "localhost:9092"}, {"log_level", "3"}}));
}

TEST(KafkaProps, DefaultsThenBrokersThenCommonThenRoleThenFixed) {
  const config::KafkaSettings k = operator_settings();
  const kafka::Properties got =
      kafka_properties(k, KafkaRole::consumer, "4", {{"linger.ms", "1"}, {"a.default", "d"}},
                       {{"fetch.wait.max.ms", "7"}, {"a.fixed", "f"}});
  const kafka::Properties want{
      {"linger.ms", "1"},          {"a.default", "d"},                  // defaults
      {"bootstrap.servers", "k1:9093,k2:9093"}, {"log_level", "4"},     // kafka.brokers
      {"linger.ms", "2"},          {"log_level", "6"},                  // kafka.properties,
      {"security.protocol", "SASL_SSL"},                                //   in key order
      {"fetch.wait.max.ms", "50"}, {"security.protocol", "SSL"},        // kafka.consumer
      {"fetch.wait.max.ms", "7"},  {"a.fixed", "f"},                    // fixed
  };
  EXPECT_EQ(got, want);
  const auto e = effective(got);
  EXPECT_EQ(e.at("linger.ms"), "2");            // kafka.properties beats a default
  EXPECT_EQ(e.at("log_level"), "6");            // and the caller's log level
  EXPECT_EQ(e.at("security.protocol"), "SSL");  // the role's table beats kafka.properties
  EXPECT_EQ(e.at("fetch.wait.max.ms"), "7");    // a fixed property beats every setting
  EXPECT_EQ(e.at("a.default"), "d");
}

TEST(KafkaProps, EachRoleGetsOnlyItsOwnTable) {
  const config::KafkaSettings k = operator_settings();
  const auto consumer = effective(kafka_properties(k, KafkaRole::consumer, "4"));
  EXPECT_EQ(consumer.count("compression.type"), 0u);
  EXPECT_EQ(consumer.at("linger.ms"), "2");
  EXPECT_EQ(consumer.at("fetch.wait.max.ms"), "50");

  const auto producer = effective(kafka_properties(k, KafkaRole::producer, "4"));
  EXPECT_EQ(producer.count("fetch.wait.max.ms"), 0u);
  EXPECT_EQ(producer.at("linger.ms"), "5");
  EXPECT_EQ(producer.at("compression.type"), "lz4");
  EXPECT_EQ(producer.at("security.protocol"), "SASL_SSL");

  const auto common = effective(kafka_properties(k, KafkaRole::common, "3"));
  EXPECT_EQ(common.count("fetch.wait.max.ms"), 0u);
  EXPECT_EQ(common.count("compression.type"), 0u);
  EXPECT_EQ(common.at("linger.ms"), "2");
}

// Written out as the processor built them before the builder existed: same entries, same order.
TEST(KafkaProps, TheProcessorsConsumer) {
  const config::KafkaSettings k = operator_settings();
  const kafka::Properties want{
      {"group.id", "anpr-prod"},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"session.timeout.ms", "10000"},
      {"auto.offset.reset", "earliest"},
      {"enable.auto.commit", "true"},
      {"auto.commit.interval.ms", "1000"},
      {"enable.partition.eof", "false"},
      {"queued.min.messages", "1000000"},
      {"queued.max.messages.kbytes", "131072"},
      {"fetch.wait.max.ms", "5"},
      {"bootstrap.servers", "k1:9093,k2:9093"},
      {"log_level", "4"},
      {"linger.ms", "2"},
      {"log_level", "6"},
      {"security.protocol", "SASL_SSL"},
      {"fetch.wait.max.ms", "50"},
      {"security.protocol", "SSL"},
      {"enable.auto.offset.store", "false"},
  };
  EXPECT_EQ(processor_consumer_properties(k), want);
}

// On the embedded broker, which holds an empty fetch for the whole wait even when reads arrive,
// the processor waits 1 ms instead of 5; kafka.consumer still has the last word; the other
// consumers built from the settings keep their own waits.
TEST(KafkaProps, TheEmbeddedBrokerShortensTheProcessorsFetchWait) {
  config::KafkaSettings k;
  EXPECT_EQ(effective(processor_consumer_properties(k)).at("fetch.wait.max.ms"), "5");
  k.embedded_broker = true;
  EXPECT_EQ(effective(processor_consumer_properties(k)).at("fetch.wait.max.ms"), "1");
  EXPECT_EQ(effective(kafka_properties(k, KafkaRole::consumer, "4", {{"fetch.wait.max.ms", "50"}}))
                .at("fetch.wait.max.ms"),
            "50");
  k.consumer = {{"fetch.wait.max.ms", "3"}};
  EXPECT_EQ(effective(processor_consumer_properties(k)).at("fetch.wait.max.ms"), "3");
}

// At-least-once does not depend on the configuration: offsets are stored by the tracker only,
// whatever an operator sets.
TEST(KafkaProps, NoSettingLetsTheProcessorsConsumerStoreOffsetsOnPoll) {
  config::KafkaSettings k = operator_settings();
  k.common["enable.auto.offset.store"] = "true";
  k.consumer["enable.auto.offset.store"] = "true";
  k.consumer["enable.auto.commit"] = "false";  // a default: the operator's choice stands
  const auto e = effective(processor_consumer_properties(k));
  EXPECT_EQ(e.at("enable.auto.offset.store"), "false");
  EXPECT_EQ(e.at("enable.auto.commit"), "false");
  EXPECT_EQ(e.at("group.id"), "anpr-prod");
  EXPECT_EQ(e.count("group.instance.id"), 0u) << "no instance_id: dynamic membership";
}

// Static membership: kafka.instance_id becomes group.instance.id, after every property table;
// the assignment strategy and session timeout are defaults an operator may change.
TEST(KafkaProps, InstanceIdMakesTheConsumerAStaticMember) {
  config::KafkaSettings k = operator_settings();
  k.instance_id = "anpr-2";
  k.consumer["partition.assignment.strategy"] = "range,roundrobin";
  const auto e = effective(processor_consumer_properties(k));
  EXPECT_EQ(e.at("group.instance.id"), "anpr-2");
  EXPECT_EQ(e.at("partition.assignment.strategy"), "range,roundrobin");
  EXPECT_EQ(e.at("session.timeout.ms"), "10000");
}

TEST(KafkaProps, TheProcessorsProducer) {
  config::KafkaSettings k = operator_settings();
  const kafka::Properties want{
      {"linger.ms", "1"},
      {"message.timeout.ms", "120000"},
      {"bootstrap.servers", "k1:9093,k2:9093"},
      {"log_level", "4"},
      {"linger.ms", "2"},
      {"log_level", "6"},
      {"security.protocol", "SASL_SSL"},
      {"compression.type", "lz4"},
      {"linger.ms", "5"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
  };
  EXPECT_EQ(processor_producer_properties(k), want);
  k.producer["acks"] = "1";
  k.common["enable.idempotence"] = "false";
  const auto e = effective(processor_producer_properties(k));
  EXPECT_EQ(e.at("acks"), "all");
  EXPECT_EQ(e.at("enable.idempotence"), "true");
}

// pipeline.exactly_once: the transactions commit the offsets, so no setting lets librdkafka
// commit any, nor read past the reads' last stable offset.
TEST(KafkaProps, ExactlyOnceConsumerCommitsNothingItself) {
  config::KafkaSettings k = operator_settings();
  k.consumer["enable.auto.commit"] = "true";
  k.common["isolation.level"] = "read_uncommitted";
  const auto e = effective(processor_consumer_properties(k, true));
  EXPECT_EQ(e.at("enable.auto.commit"), "false");
  EXPECT_EQ(e.at("enable.auto.offset.store"), "false");
  EXPECT_EQ(e.at("isolation.level"), "read_committed");
  EXPECT_EQ(e.at("group.id"), "anpr-prod");
}

TEST(KafkaProps, ExactlyOnceProducerIsTransactional) {
  config::KafkaSettings k = operator_settings();
  k.producer["acks"] = "1";
  const auto e = effective(processor_producer_properties(k, "anpr-prod-a"));
  EXPECT_EQ(e.at("transactional.id"), "anpr-prod-a");
  EXPECT_EQ(e.at("enable.idempotence"), "true");
  EXPECT_EQ(e.at("acks"), "all");
  EXPECT_EQ(e.at("transaction.timeout.ms"), "60000");
  // Left to librdkafka, which sets it to transaction.timeout.ms.
  EXPECT_EQ(e.count("message.timeout.ms"), 0u);
  EXPECT_EQ(effective(processor_producer_properties(k)).count("transactional.id"), 0u);
}

// The default transactional.id is the group and the static member's name, or the host: the
// same at every start of the instance.
TEST(KafkaProps, TransactionalIdIsTheSettingOrTheGroupAndTheInstanceOrHost) {
  config::KafkaSettings k = operator_settings();
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(processor_transactional_id(k), "anpr-prod-" + std::string(host));
  EXPECT_EQ(processor_transactional_id(k), processor_transactional_id(k));
  k.instance_id = "anpr-1";  // a static member's name is stable per instance already
  EXPECT_EQ(processor_transactional_id(k), "anpr-prod-anpr-1");
  k.transactional_id = "anpr-site-2";
  EXPECT_EQ(processor_transactional_id(k), "anpr-site-2");
}

}  // namespace
}  // namespace anpr::app
