// The broker an end-to-end test runs against (README "Building by hand", two brokers):
//   - the embedded broker (`anpr broker`, librdkafka's test broker in a process of its own, one
//     per test), by default;
//   - Apache Kafka when ANPR_TEST_KAFKA holds a cluster's bootstrap servers (scripts/test.sh
//     starts one with scripts/kafka.sh and runs the tests labelled `kafka` against it).
// On Apache Kafka many tests share one cluster, so each test gets topics and consumer groups of
// its own: `topic("anpr.reads")` and `group("anpr-it")` are the names to use (on the embedded
// broker they are the names given). The test's topics are deleted when it ends.
#pragma once

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "kafka/client.h"
#include "tests/process.h"

namespace anpr::testing {

// The running test's name, for TestBroker's `name`.
inline std::string current_test_name() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

// The topics `anpr broker` creates (partitions as asked) besides anpr.reflists (one partition).
inline const std::vector<std::string> kProductTopics = {
    "anpr.reads",    "anpr.hits",     "anpr.deadletter", "anpr.route.nl",
    "anpr.route.be", "anpr.route.lu", "anpr.hit-acks"};

class TestBroker {
 public:
  // The Apache Kafka cluster of this run (ANPR_TEST_KAFKA), or "" for the embedded broker.
  static std::string kafka_bootstrap() {
    const char* b = std::getenv("ANPR_TEST_KAFKA");
    return b ? b : "";
  }
  static bool kafka() { return !kafka_bootstrap().empty(); }

  TestBroker() = default;
  // Starts the embedded broker (`binary broker --partitions N`, its stderr into `dir`/broker.err)
  // or, on Apache Kafka, creates the product's topics under a name of this test's own.
  // `name` is the test's name; `more_topics` are created too (with N partitions each, named
  // topic(t) on Apache Kafka). Fails the test (ADD_FAILURE) when no broker is there.
  TestBroker(const std::filesystem::path& dir, const std::string& name, int partitions,
             const std::string& binary = kAnpr, const std::vector<std::string>& more_topics = {}) {
    if (kafka())
      on_cluster(kafka_bootstrap(), name, partitions, {}, more_topics);
    else
      start_embedded(dir, partitions, binary, more_topics);
  }
  // The embedded broker also under ANPR_TEST_KAFKA: for the tests of what only it does (its
  // process frozen or killed, its refusals, its limits).
  struct EmbeddedOnly {};
  TestBroker(EmbeddedOnly, const std::filesystem::path& dir, int partitions,
             const std::string& binary = kAnpr) {
    start_embedded(dir, partitions, binary, {});
  }
  // The product's topics, named for test `name`, on the Apache Kafka cluster at `bootstrap` (a
  // test's own cluster). Throws when they cannot be created.
  // `reads_configs`: topic settings for the reads topic.
  static TestBroker on(const std::string& bootstrap, const std::string& name, int partitions,
                       const std::vector<std::pair<std::string, std::string>>& reads_configs = {}) {
    TestBroker b;
    b.on_cluster(bootstrap, name, partitions, reads_configs);
    return b;
  }
  TestBroker(TestBroker&&) = default;
  TestBroker& operator=(TestBroker&& o) noexcept {
    cleanup();
    bootstrap_ = std::move(o.bootstrap_);
    prefix_ = std::move(o.prefix_);
    created_ = std::move(o.created_);
    o.created_.clear();
    embedded_ = std::move(o.embedded_);
    return *this;
  }
  TestBroker(const TestBroker&) = delete;
  TestBroker& operator=(const TestBroker&) = delete;
  ~TestBroker() { cleanup(); }

  const std::string& bootstrap() const { return bootstrap_; }
  // This test's name for a topic (Apache Kafka: prefixed with the test's name).
  std::string topic(std::string_view t) const { return prefix_ + std::string(t); }
  // This test's name for a consumer group.
  std::string group(std::string_view g) const { return prefix_ + std::string(g); }
  // A config file's [topics] section naming this test's topics.
  std::string topics_toml() const {
    return "[topics]\nreads = \"" + topic("anpr.reads") + "\"\nhits = \"" + topic("anpr.hits") +
           "\"\ndeadletter = \"" + topic("anpr.deadletter") + "\"\nroute_prefix = \"" +
           topic("anpr.route.") + "\"\nhit_acks = \"" + topic("anpr.hit-acks") +
           "\"\nreflists = \"" + topic("anpr.reflists") + "\"\n";
  }
  // The embedded broker's process (signals: freeze it with SIGSTOP).
  Child& embedded() { return embedded_; }
  // Whether this is Apache Kafka (else the embedded broker).
  bool on_kafka() const { return !prefix_.empty(); }

  // Creates a topic (Apache Kafka; `compacted`: cleanup.policy=compact; `configs`: more topic
  // settings, e.g. segment.ms) and waits until every partition has a leader; on the embedded
  // broker topics come from `anpr broker` only.
  using Configs = std::vector<std::pair<std::string, std::string>>;
  void create_topic(const std::string& name, int partitions, bool compacted = false,
                    const Configs& configs = {}) {
    if (prefix_.empty()) throw std::logic_error("create_topic: the embedded broker's topics are fixed");
    char err[512];
    kafka::Handle rk(admin());
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(name.c_str(), partitions, -1, err, sizeof err);
    if (!nt) throw std::runtime_error(std::string("topic ") + name + ": " + err);
    if (compacted) rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    // The tests send oversized reads (to see them dead-lettered): the broker must take them.
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", "16777216");
    for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> q(
        rd_kafka_queue_new(rk.get()), &rd_kafka_queue_destroy);
    rd_kafka_CreateTopics(rk.get(), &nt, 1, nullptr, q.get());
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q.get(), 30'000);
    std::string problem = ev ? "" : "no answer within 30 s";
    if (ev) {
      std::size_t n = 0;
      const rd_kafka_topic_result_t** r =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      if (rd_kafka_event_error(ev)) problem = rd_kafka_event_error_string(ev);
      else if (n == 1 && rd_kafka_topic_result_error(r[0]) != RD_KAFKA_RESP_ERR_NO_ERROR)
        problem = rd_kafka_topic_result_error_string(r[0]);
      rd_kafka_event_destroy(ev);
    }
    rd_kafka_NewTopic_destroy(nt);
    if (!problem.empty()) throw std::runtime_error("cannot create topic " + name + ": " + problem);
    created_.push_back(name);
    // Creation returns before every partition has a leader: wait for them.
    for (int i = 0; i < 300; ++i) {
      const rd_kafka_metadata_t* md = nullptr;
      kafka::Handle meta = admin();
      rd_kafka_topic_t* t = rd_kafka_topic_new(meta.get(), name.c_str(), nullptr);
      bool ready = rd_kafka_metadata(meta.get(), 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                   md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                   md->topics[0].partition_cnt == partitions;
      for (int p = 0; ready && p < md->topics[0].partition_cnt; ++p)
        ready = md->topics[0].partitions[p].leader >= 0;
      if (md) rd_kafka_metadata_destroy(md);
      rd_kafka_topic_destroy(t);
      if (ready) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("topic " + name + ": partitions without a leader after 30 s");
  }
  // A topic of this test that something else created (`anpr topics apply`, a producer's first
  // message): deleted with the test's own (Apache Kafka).
  void delete_at_end(const std::string& name) {
    if (on_kafka()) created_.push_back(name);
  }

 private:
  void on_cluster(const std::string& bootstrap, const std::string& name, int partitions,
                  const std::vector<std::pair<std::string, std::string>>& reads_configs = {},
                  const std::vector<std::string>& more_topics = {}) {
    bootstrap_ = bootstrap;
    static std::atomic<int> counter{0};
    prefix_ = name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".";
    for (const std::string& t : kProductTopics)
      create_topic(topic(t), partitions, false, t == "anpr.reads" ? reads_configs : Configs{});
    for (const std::string& t : more_topics) create_topic(topic(t), partitions);
    create_topic(topic("anpr.reflists"), 1, true);
  }

  void start_embedded(const std::filesystem::path& dir, int partitions, const std::string& binary,
                      const std::vector<std::string>& more_topics) {
    std::vector<std::string> args = {binary, "broker", "--partitions", std::to_string(partitions)};
    for (const std::string& t : more_topics) args.insert(args.end(), {"--topic", t});
    embedded_ = Child(args, true, (dir / "broker.err").string());
    bootstrap_ = embedded_.read_line(20'000);
    if (bootstrap_.empty()) ADD_FAILURE() << "the embedded broker printed no bootstrap servers";
  }

  kafka::Handle admin() const {
    return kafka::make_client(
        RD_KAFKA_PRODUCER,
        kafka::make_conf({{"bootstrap.servers", bootstrap_}, {"log_level", "0"}}));
  }

  void cleanup() {
    if (created_.empty()) return;
    try {
      kafka::Handle rk(admin());
      std::vector<rd_kafka_DeleteTopic_t*> del;
      for (const std::string& t : created_) del.push_back(rd_kafka_DeleteTopic_new(t.c_str()));
      rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
      rd_kafka_DeleteTopics(rk.get(), del.data(), del.size(), nullptr, q);
      if (rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 10'000)) rd_kafka_event_destroy(ev);
      rd_kafka_queue_destroy(q);
      rd_kafka_DeleteTopic_destroy_array(del.data(), del.size());
    } catch (const std::exception&) {
      // A cluster gone already: nothing to clean.
    }
    created_.clear();
  }

  std::string bootstrap_;
  std::string prefix_;
  std::vector<std::string> created_;
  Child embedded_;
};

// For the tests that only Apache Kafka can run (compaction, time retention, transactions): fails
// (never skips) when the run has no Apache Kafka cluster.
#define ANPR_REQUIRE_APACHE_KAFKA()                                                             \
  do {                                                                                          \
    if (!::anpr::testing::TestBroker::kafka())                                                  \
      FAIL() << "this test needs Apache Kafka: start one with `scripts/kafka.sh start` and "    \
                "set ANPR_TEST_KAFKA to the bootstrap servers it prints (scripts/test.sh does)"; \
  } while (0)

}  // namespace anpr::testing
