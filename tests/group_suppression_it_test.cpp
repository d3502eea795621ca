// One alert per plate across the instances of a consumer group (ARCHITECTURE.md, "One alert per
// plate across instances"; docs/matching.md, "Repeated hits"), end to end: two processors in one
// consumer group on a reads topic of two partitions, each owning one (checked, not assumed: both
// must hold one partition, and each read must be consumed by the instance the test expects). A
// plate passes a camera whose read lands on one instance and then, within the window, a camera
// whose read lands on the other: exactly one hit is published. Outside the window both alert; a
// hit on another list suppresses nothing; a forged (unsigned) hit record on the hits topic
// suppresses nothing either.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/settings.h"
#include "ingest/cameras.h"
#include "kafka/client.h"
#include "match/live_index.h"
#include "match/plate.h"
#include "match/time.h"
#include "pipeline/processor.h"
#include "tests/hits.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr {
namespace {

using Clock = std::chrono::steady_clock;
const std::string kKey(32, '\x3c');
constexpr int64_t kWindowMs = 300'000;

bool eventually(const std::function<bool()>& f, int seconds) {
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

class TwoInstances : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::TestBroker(tmp_.path(), testing::current_test_name(), 2);
    ASSERT_FALSE(broker_.bootstrap().empty());
    index_ = std::make_unique<LiveIndex>(snapshot("nl-stolen"));
    s_.kafka.brokers = broker_.bootstrap();
    s_.kafka.group_id = broker_.group("two-instances");
    s_.kafka.common = {{"log_level", "3"}};
    // The embedded broker waits a whole session timeout for members during a rebalance.
    s_.kafka.consumer = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "1000"}};
    s_.kafka.signing_keys = {kKey};
    s_.topics.reads = broker_.topic("anpr.reads");
    s_.topics.hits = broker_.topic("anpr.hits");
    s_.topics.deadletter = broker_.topic("anpr.deadletter");
    s_.topics.route_prefix = broker_.topic("anpr.route.");
    s_.topics.hit_acks = broker_.topic("anpr.hit-acks");
    s_.countries = config::default_country_policies();
    s_.suppression.window_ms = kWindowMs;
    s_.pipeline.threads = 2;
    s_.state_dir = tmp_.path();
    s_.retention.sink = "none";
    producer_ = std::make_unique<kafka::Producer>(
        kafka::Properties{{"bootstrap.servers", broker_.bootstrap()}, {"log_level", "3"}}, nullptr);
  }

  void TearDown() override {
    for (auto& p : procs_) p->request_stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  // An index where plate GB123X (NL) is on list `list` only.
  static std::shared_ptr<const Snapshot> snapshot(const std::string& list) {
    IndexBuilder b;
    ListMeta m;
    m.id = list;
    m.owner = kNL;
    const uint16_t l = b.add_list(m);
    b.add(l, *normalize("GB123X"), kNL, Category::stolen_vehicle, Action::intercept, 20,
          kNoExpiry, list + "-1", "");
    return std::shared_ptr<const Snapshot>(b.build());
  }

  // Starts the two instances and waits until each owns one of the two partitions.
  void start_two() {
    for (int i = 0; i < 2; ++i) {
      procs_.push_back(std::make_unique<app::Processor>(s_, *index_, cameras_));
      threads_.emplace_back([p = procs_.back().get()] { p->run(); });
    }
    ASSERT_TRUE(eventually(
        [&] {
          return procs_[0]->assigned_partitions() == 1 && procs_[1]->assigned_partitions() == 1;
        },
        90))
        << "the two instances never split the partitions: " << procs_[0]->assigned_partitions()
        << " and " << procs_[1]->assigned_partitions();
  }

  // Produces a read of GB123X at `camera`, captured at `ts`, to partition `partition`.
  void read(const std::string& camera, int32_t partition, TimestampMs ts, const std::string& id) {
    const std::string value = R"({"event_id":")" + id + R"(","camera_id":")" + camera +
                              R"(","ts":")" + format_rfc3339(ts) +
                              R"(","plate":"GB-123-X","plate_country":"NL"})";
    ASSERT_EQ(rd_kafka_producev(producer_->get(), RD_KAFKA_V_TOPIC(s_.topics.reads.c_str()),
                                RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_KEY(camera.data(), camera.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(producer_->flush(10'000));
  }

  // Waits until the two instances have finished `total` reads between them.
  void finished(uint64_t total) {
    EXPECT_TRUE(eventually(
        [&] {
          const auto a = procs_[0]->counters(), b = procs_[1]->counters();
          return a.reads + b.reads >= total && a.unfinished == 0 && b.unfinished == 0;
        },
        60))
        << "the reads were not all processed";
  }

  // The instance (0 or 1) whose reads count is `n`, the other's being `m`; -1 otherwise.
  int which(uint64_t n, uint64_t m) {
    const auto a = procs_[0]->counters(), b = procs_[1]->counters();
    if (a.reads == n && b.reads == m) return 0;
    if (b.reads == n && a.reads == m) return 1;
    return -1;
  }

  // Every record on the hits topic: (list id, whether it is signed with the test's key).
  std::vector<std::pair<std::string, bool>> hits_on_topic() {
    const kafka::Signer verifier({kKey});
    kafka::Consumer c({{"bootstrap.servers", broker_.bootstrap()},
                       {"group.id", broker_.group("viewer")},
                       {"log_level", "3"}});
    kafka::PartitionList parts(rd_kafka_topic_partition_list_new(4));
    int64_t expected = 0;
    for (int32_t part : {0, 1}) {
      int64_t low = 0, high = 0;
      if (rd_kafka_query_watermark_offsets(c.get(), s_.topics.hits.c_str(), part, &low, &high,
                                           10'000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        continue;
      expected += high - low;
      rd_kafka_topic_partition_list_add(parts.get(), s_.topics.hits.c_str(), part)->offset = low;
    }
    c.assign(parts.get());
    std::vector<std::pair<std::string, bool>> out;
    simdjson::dom::parser parser;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (static_cast<int64_t>(out.size()) < expected && Clock::now() < deadline) {
      const kafka::Message m = c.poll(100);
      if (!m || m->err) continue;
      std::string_view list;
      if (parser.parse(static_cast<const char*>(m->payload), m->len)["list_id"].get(list))
        list = "?";
      out.emplace_back(std::string(list), verifier.verify(*m));
    }
    EXPECT_EQ(static_cast<int64_t>(out.size()), expected);
    return out;
  }

  // The first read (camera-a, partition 0) at `t0`: one instance consumes it and publishes its
  // hit; then waits until the other has read that hit back from the hits topic (the round trip
  // within which two instances could both alert, ARCHITECTURE.md). Returns the first instance.
  int first_hit(TimestampMs t0) {
    read("cam-a", 0, t0, "e1");
    finished(1);
    const int first = which(1, 0);
    EXPECT_NE(first, -1) << "the first read was not consumed by exactly one instance";
    if (first < 0) return -1;
    EXPECT_EQ(procs_[first]->counters().hits, 1u);
    const int other = 1 - first;
    EXPECT_TRUE(eventually(
        [&] { return procs_[other]->counters().group_hits.recorded >= 1; }, 60))
        << "the other instance never read the hit back from the hits topic";
    return first;
  }

  // The second read (camera-b, partition 1) at `t1`; checks that the other instance consumed it.
  void second_read(TimestampMs t1, int first) {
    read("cam-b", 1, t1, "e2");
    finished(2);
    EXPECT_EQ(procs_[first]->counters().reads, 1u)
        << "both reads went to one instance: the partitions were not split between them";
    EXPECT_EQ(procs_[1 - first]->counters().reads, 1u);
  }

  testing::TempDir tmp_{"two-instances"};
  testing::TestBroker broker_;
  std::unique_ptr<LiveIndex> index_;
  CameraRegistry cameras_ = CameraRegistry::parse(
      "camera_id,country,site,lat,lon,control_room\n"
      "cam-a,NL,Utrecht A12,52.1,5.1,R-NL\ncam-b,NL,Arnhem A12,52.0,5.9,R-NL\n",
      "test cameras");
  config::Settings s_;
  std::unique_ptr<kafka::Producer> producer_;
  std::vector<std::unique_ptr<app::Processor>> procs_;
  std::vector<std::thread> threads_;
};

// The guarantee: one alert per plate and list within the window, whichever instance reads it.
TEST_F(TwoInstances, APlateOnBothInstancesWithinTheWindowAlertsOnce) {
  start_two();
  if (HasFatalFailure()) return;
  const TimestampMs t0 = testing::system_now();
  const int first = first_hit(t0);
  ASSERT_NE(first, -1);
  second_read(t0 + 60'000, first);
  const auto other = procs_[1 - first]->counters();
  EXPECT_EQ(other.hits, 0u);
  EXPECT_EQ(other.suppressed, 1u);
  EXPECT_EQ(other.suppressed_by_group, 1u);
  const auto on_topic = hits_on_topic();
  ASSERT_EQ(on_topic.size(), 1u) << "the plate alerted on both instances";
  EXPECT_EQ(on_topic[0].first, "nl-stolen");
}

TEST_F(TwoInstances, OutsideTheWindowBothAlert) {
  start_two();
  if (HasFatalFailure()) return;
  const TimestampMs t0 = testing::system_now() - kWindowMs - 10'000;
  const int first = first_hit(t0);
  ASSERT_NE(first, -1);
  second_read(t0 + kWindowMs, first);
  EXPECT_EQ(procs_[1 - first]->counters().hits, 1u);
  EXPECT_EQ(procs_[1 - first]->counters().suppressed, 0u);
  EXPECT_EQ(hits_on_topic().size(), 2u);
}

// The same plate on another list is another alert, also within the window.
TEST_F(TwoInstances, AHitOnAnotherListDoesNotSuppress) {
  start_two();
  if (HasFatalFailure()) return;
  const TimestampMs t0 = testing::system_now();
  const int first = first_hit(t0);
  ASSERT_NE(first, -1);
  index_->publish(snapshot("nl-wanted"));  // the plate is now on nl-wanted only
  second_read(t0 + 60'000, first);
  EXPECT_EQ(procs_[1 - first]->counters().hits, 1u);
  EXPECT_EQ(procs_[1 - first]->counters().suppressed, 0u);
  const auto on_topic = hits_on_topic();
  ASSERT_EQ(on_topic.size(), 2u);
  EXPECT_EQ(on_topic[0].first == "nl-stolen" ? on_topic[1].first : on_topic[0].first,
            "nl-wanted");
}

// With kafka.signing_key_file, a hit record nobody signed (anybody with write access to the
// hits topic could write it) cannot silence a real hit.
TEST_F(TwoInstances, AnUnsignedHitRecordSuppressesNothing) {
  start_two();
  if (HasFatalFailure()) return;
  const TimestampMs t0 = testing::system_now();
  const std::string forged = R"({"hit_id":"f","list_id":"nl-stolen","matched_plate":"GB123X",)"
                             R"("matched_country":"NL","ts":")" +
                             format_rfc3339(t0) + R"("})";
  ASSERT_EQ(producer_->produce(s_.topics.hits, "cam-x", forged), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer_->flush(10'000));
  ASSERT_TRUE(eventually(
      [&] {
        // Read, whatever was made of it.
        for (const auto& p : procs_) {
          const auto g = p->counters().group_hits;
          if (g.unsigned_ + g.recorded == 0) return false;
        }
        return true;
      },
      60))
      << "the instances never read the forged record";
  for (const auto& p : procs_) EXPECT_EQ(p->counters().group_hits.unsigned_, 1u);
  read("cam-a", 0, t0 + 1000, "e1");
  finished(1);
  EXPECT_EQ(procs_[0]->counters().hits + procs_[1]->counters().hits, 1u);
  std::size_t signed_hits = 0;
  for (const auto& [list, ok] : hits_on_topic()) signed_hits += ok;
  EXPECT_EQ(signed_hits, 1u);
}

}  // namespace
}  // namespace anpr
