// The follower of topics without a consumer group (pipeline/topic_follower.h) against the embedded
// broker in this process: every partition of every topic reaches the callback, the start
// positions, the signature check as its users rely on it (unsigned, wrong key and other-topic
// records never reach on_record, they reach on_unsigned), empty polls, the catch-up callback and
// its bound, a bad consumer property, and stop() while records are still being read.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kafka/client.h"
#include "kafka/signing.h"
#include "pipeline/topic_follower.h"
#include "tests/it_support.h"

namespace anpr::app {
namespace {

using anpr::testing::within;

const std::string kKey(32, 'k');
const std::string kOtherKey(32, 'o');

// What the callbacks saw, from the follower's thread.
struct Seen {
  struct Rec {
    std::size_t topic;
    int32_t partition;
    int64_t offset;
    std::string value;
    bool has_time;
  };
  mutable std::mutex mu;
  std::vector<Rec> records, unsigned_records;
  std::atomic<int> caught_up{0};
  std::size_t records_when_caught_up = 0;

  std::size_t count() const {
    std::lock_guard lock(mu);
    return records.size();
  }
  std::size_t unsigned_count() const {
    std::lock_guard lock(mu);
    return unsigned_records.size();
  }
  std::set<std::string> values() const {
    std::lock_guard lock(mu);
    std::set<std::string> out;
    for (const Rec& r : records) out.insert(r.value);
    return out;
  }
  TopicFollower::Callbacks callbacks(bool want_caught_up = false) {
    TopicFollower::Callbacks cb;
    cb.on_record = [this](const FollowedRecord& r) {
      std::lock_guard lock(mu);
      records.push_back({r.topic, r.partition, r.offset, std::string(r.value),
                         r.published_ms.has_value()});
    };
    cb.on_unsigned = [this](const FollowedRecord& r) {
      std::lock_guard lock(mu);
      unsigned_records.push_back({r.topic, r.partition, r.offset, std::string(r.value), false});
    };
    if (want_caught_up)
      cb.on_caught_up = [this] {
        {
          std::lock_guard lock(mu);
          records_when_caught_up = records.size();
        }
        ++caught_up;
      };
    return cb;
  }
};

class TopicFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_.create_topic("hits", 2);
    broker_.create_topic("acks", 1);
    settings_.brokers = broker_.bootstrap();
    producer_ = std::make_unique<kafka::Producer>(
        kafka::Properties{{"bootstrap.servers", broker_.bootstrap()}, {"log_level", "3"}}, nullptr);
  }

  // Produces `value` to `topic`'s `partition`, signed with `key` ("" unsigned), at `ts_ms` (0 =
  // now). `sign_as`: the topic the signature is made for (another one than `topic` forges a
  // record copied across topics).
  void produce(const std::string& topic, int32_t partition, const std::string& value,
               const std::string& key = "", int64_t ts_ms = 0, const std::string& sign_as = "") {
    kafka::Producer& p = *producer_;
    std::vector<std::pair<std::string, std::string>> headers;
    if (!key.empty()) {
      const kafka::Signer signer({key});
      headers.emplace_back(std::string(kafka::kSignatureHeader),
                           signer.sign(sign_as.empty() ? topic : sign_as, "k", value));
    }
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& [n, v] : headers)
      rd_kafka_header_add(hdrs, n.data(), static_cast<ssize_t>(n.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    const rd_kafka_resp_err_t e = rd_kafka_producev(
        p.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY("k", 1),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts_ms),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(p.flush(10'000));
  }

  TopicFollower::Options options(FollowerStart start = FollowerStart::beginning()) const {
    TopicFollower::Options o;
    o.name = "test follower";
    o.group_prefix = "anpr-test-follower";
    o.topics = {"hits", "acks"};
    o.start = start;
    o.fixed = {{"fetch.wait.max.ms", "10"}};
    o.unsigned_log = "";
    return o;
  }

  kafka::EmbeddedBroker broker_;
  std::unique_ptr<kafka::Producer> producer_;
  config::KafkaSettings settings_;
};

TEST_F(TopicFollowerTest, RecordsOfEveryPartitionAndTopicReachTheCallback) {
  produce("hits", 0, "h0");
  produce("hits", 1, "h1");
  produce("acks", 0, "a0");
  Seen seen;
  TopicFollower f;
  f.start(settings_, options(), seen.callbacks());
  ASSERT_TRUE(within(30, [&] { return seen.count() == 3; }, 10)) << seen.count();
  f.stop();
  std::lock_guard lock(seen.mu);
  std::set<std::pair<std::size_t, int32_t>> where;
  for (const auto& r : seen.records) {
    where.insert({r.topic, r.partition});
    EXPECT_TRUE(r.has_time) << r.value;  // the message's time is handed on
    EXPECT_EQ(r.value[0] == 'h', r.topic == 0) << r.value;
  }
  EXPECT_EQ(where, (std::set<std::pair<std::size_t, int32_t>>{{0, 0}, {0, 1}, {1, 0}}));
  EXPECT_TRUE(seen.unsigned_records.empty());
}

TEST_F(TopicFollowerTest, WithKeysOnlySignedRecordsReachOnRecordTheOthersOnUnsigned) {
  settings_.signing_keys = {kKey};
  produce("hits", 0, "signed-hit", kKey);
  produce("hits", 1, "unsigned-hit");
  produce("hits", 1, "other-key-hit", kOtherKey);
  produce("hits", 0, "signed-for-acks", kKey, 0, "acks");  // copied from the other topic
  produce("acks", 0, "signed-ack", kKey);
  produce("acks", 0, "unsigned-ack");
  Seen seen;
  TopicFollower f;
  f.start(settings_, options(), seen.callbacks());
  ASSERT_TRUE(within(30, [&] { return seen.count() + seen.unsigned_count() == 6; }, 10));
  f.stop();
  EXPECT_EQ(seen.values(), (std::set<std::string>{"signed-hit", "signed-ack"}));
  std::lock_guard lock(seen.mu);
  std::set<std::pair<std::size_t, std::string>> ignored;
  for (const auto& r : seen.unsigned_records) ignored.insert({r.topic, r.value});
  EXPECT_EQ(ignored, (std::set<std::pair<std::size_t, std::string>>{{0, "unsigned-hit"},
                                                                     {0, "other-key-hit"},
                                                                     {0, "signed-for-acks"},
                                                                     {1, "unsigned-ack"}}));
}

TEST_F(TopicFollowerTest, WithoutKeysEveryRecordIsTaken) {
  produce("hits", 0, "unsigned-hit");
  produce("hits", 1, "other-key-hit", kOtherKey);
  Seen seen;
  TopicFollower f;
  f.start(settings_, options(), seen.callbacks());
  ASSERT_TRUE(within(30, [&] { return seen.count() == 2; }, 10));
  f.stop();
  EXPECT_EQ(seen.values(), (std::set<std::string>{"unsigned-hit", "other-key-hit"}));
  EXPECT_EQ(seen.unsigned_count(), 0u);
}

TEST_F(TopicFollowerTest, PollsThatBringNoRecordReachOnIdle) {
  // The control rooms' feed escalates on these when no record arrives.
  std::atomic<int> idle{0};
  TopicFollower::Callbacks cb;
  cb.on_idle = [&] { ++idle; };
  TopicFollower f;
  f.start(settings_, options(), std::move(cb));
  EXPECT_TRUE(within(30, [&] { return idle.load() >= 3; }, 10));
}

TEST_F(TopicFollowerTest, ATailStartReadsTheLastRecordsOfEachPartition) {
  for (int i = 0; i < 5; ++i) produce("hits", 0, "p0-" + std::to_string(i));
  produce("hits", 1, "p1-0");
  Seen seen;
  TopicFollower f;
  TopicFollower::Options o = options(FollowerStart::last(2));
  o.topics = {"hits"};
  f.start(settings_, std::move(o), seen.callbacks());
  ASSERT_TRUE(within(30, [&] { return seen.count() == 3; }, 10));
  produce("hits", 0, "p0-live");  // and what comes after the start
  ASSERT_TRUE(within(30, [&] { return seen.count() == 4; }, 10));
  f.stop();
  EXPECT_EQ(seen.values(), (std::set<std::string>{"p0-3", "p0-4", "p1-0", "p0-live"}));
}

TEST_F(TopicFollowerTest, ASinceStartSkipsWhatWasPublishedBefore) {
  const int64_t now = anpr::testing::wall_ms();
  produce("hits", 0, "old-0", "", now - 3'600'000);
  produce("hits", 1, "old-1", "", now - 3'600'000);
  produce("hits", 0, "recent-0", "", now - 1'000);
  produce("hits", 1, "recent-1", "", now - 1'000);
  Seen seen;
  TopicFollower f;
  TopicFollower::Options o = options(FollowerStart::published_since(now - 600'000));
  o.topics = {"hits"};
  f.start(settings_, std::move(o), seen.callbacks());
  ASSERT_TRUE(within(30, [&] { return seen.count() == 2; }, 10));
  produce("hits", 0, "live");
  ASSERT_TRUE(within(30, [&] { return seen.count() == 3; }, 10));
  f.stop();
  EXPECT_EQ(seen.values(), (std::set<std::string>{"recent-0", "recent-1", "live"}));
}

TEST_F(TopicFollowerTest, CaughtUpComesOnceEverythingThereAtTheStartWasRead) {
  for (int i = 0; i < 20; ++i) produce("hits", i % 2, "h" + std::to_string(i));
  for (int i = 0; i < 5; ++i) produce("acks", 0, "a" + std::to_string(i));
  Seen seen;
  TopicFollower f;
  TopicFollower::Options o = options();
  o.caught_up_at_most = std::chrono::minutes(10);  // only the reading may trigger it here
  f.start(settings_, std::move(o), seen.callbacks(/*want_caught_up=*/true));
  ASSERT_TRUE(within(30, [&] { return seen.caught_up.load() == 1; }, 10));
  produce("hits", 0, "later");
  ASSERT_TRUE(within(30, [&] { return seen.count() == 26; }, 10));
  f.stop();
  EXPECT_EQ(seen.caught_up.load(), 1);  // once
  std::lock_guard lock(seen.mu);
  EXPECT_EQ(seen.records_when_caught_up, 25u);
}

TEST_F(TopicFollowerTest, CaughtUpComesAtOnceForEmptyTopicsAndAtTheLatestAtItsBound) {
  {
    Seen seen;
    TopicFollower f;
    TopicFollower::Options o = options();
    o.caught_up_at_most = std::chrono::minutes(10);
    f.start(settings_, std::move(o), seen.callbacks(true));
    EXPECT_TRUE(within(30, [&] { return seen.caught_up.load() == 1; }, 10));
  }
  {
    // A user slower than the bound: it is told at the bound, not when everything was read.
    for (int i = 0; i < 100; ++i) produce("hits", i % 2, "h" + std::to_string(i));
    Seen seen;
    TopicFollower::Callbacks cb = seen.callbacks(true);
    cb.on_record = [record = cb.on_record](const FollowedRecord& r) {
      record(r);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    };
    TopicFollower f;
    TopicFollower::Options o = options();
    o.caught_up_at_most = std::chrono::milliseconds(200);
    f.start(settings_, std::move(o), std::move(cb));
    EXPECT_TRUE(within(30, [&] { return seen.caught_up.load() == 1; }, 10));
    f.stop();
    std::lock_guard lock(seen.mu);
    EXPECT_LT(seen.records_when_caught_up, 100u);
  }
}

TEST_F(TopicFollowerTest, ABadConsumerPropertyThrowsAndNothingRuns) {
  settings_.consumer["no.such.property"] = "1";
  TopicFollower f;
  Seen seen;
  EXPECT_THROW(f.start(settings_, options(), seen.callbacks()), kafka::KafkaError);
  EXPECT_FALSE(f.running());
  f.stop();
}

TEST_F(TopicFollowerTest, StopWhileRecordsAreInFlightReturnsAndNoCallbackFollows) {
  for (int i = 0; i < 200; ++i) produce("hits", i % 2, "h" + std::to_string(i));
  std::atomic<int> calls{0};
  std::atomic<bool> stopped{false}, after_stop{false};
  TopicFollower::Callbacks cb;
  cb.on_record = [&](const FollowedRecord&) {
    if (stopped.load()) after_stop = true;
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a slow user
  };
  cb.on_idle = [&] {
    if (stopped.load()) after_stop = true;
  };
  TopicFollower f;
  f.start(settings_, options(), std::move(cb));
  ASSERT_TRUE(within(30, [&] { return calls.load() >= 5; }, 10));
  f.stop();  // returns, with most of the 200 still unread
  stopped = true;
  EXPECT_FALSE(f.running());
  const int at_stop = calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(calls.load(), at_stop);
  EXPECT_FALSE(after_stop.load());
  f.stop();  // again: nothing to do

  // It can be started again, from its start position.
  Seen seen;
  f.start(settings_, options(), seen.callbacks());
  EXPECT_TRUE(within(30, [&] { return seen.count() == 200; }, 10));
}

}  // namespace
}  // namespace anpr::app
