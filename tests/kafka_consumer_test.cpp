// kafka::Consumer (kafka/client.h) against the embedded broker: it reads what was produced, closes
// once (explicitly or in its destructor, which leaves the group: the rebalance callback sees the
// revocation), and moves without closing twice.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "kafka/client.h"

namespace anpr::kafka {
namespace {

using Clock = std::chrono::steady_clock;

class KafkaConsumer : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_.create_topic("t", 1);
    Producer p({{"bootstrap.servers", broker_.bootstrap()}, {"log_level", "3"}}, nullptr);
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(p.produce("t", "k", "v" + std::to_string(i)), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(p.flush(10'000));
  }

  Properties props(const std::string& group) const {
    return {{"bootstrap.servers", broker_.bootstrap()},
            {"group.id", group},
            {"auto.offset.reset", "earliest"},
            {"log_level", "3"}};
  }

  // A subscribed consumer whose rebalance callback counts assignments and revocations.
  struct Counts {
    std::atomic<int> assigned{0}, revoked{0};
  };
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* c = static_cast<Counts*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      ++c->assigned;
      rd_kafka_assign(rk, parts);
    } else {
      ++c->revoked;
      rd_kafka_assign(rk, nullptr);
    }
  }
  Consumer subscribed(const std::string& group, Counts& counts) const {
    rd_kafka_conf_t* conf = make_conf(props(group));
    rd_kafka_conf_set_opaque(conf, &counts);
    rd_kafka_conf_set_rebalance_cb(conf, &on_rebalance);
    Consumer c(conf);
    EXPECT_EQ(c.subscribe({"t"}), RD_KAFKA_RESP_ERR_NO_ERROR);
    return c;
  }

  // Polls `c` until it has read `n` messages (or 20 s passed); their values.
  static std::vector<std::string> read(Consumer& c, std::size_t n) {
    std::vector<std::string> got;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (got.size() < n && Clock::now() < deadline) {
      const Message m = c.poll(100);
      if (m && !m->err) got.emplace_back(static_cast<const char*>(m->payload), m->len);
    }
    return got;
  }

  EmbeddedBroker broker_;
};

TEST_F(KafkaConsumer, AssignedReadsAndClosesOnce) {
  Consumer c(props("assign"));
  ASSERT_TRUE(c);
  PartitionList parts(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(parts.get(), "t", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  ASSERT_EQ(c.assign(parts.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(read(c, 3), (std::vector<std::string>{"v0", "v1", "v2"}));
  EXPECT_EQ(c.close(), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(c.close(), RD_KAFKA_RESP_ERR_NO_ERROR);  // once only
  EXPECT_TRUE(rd_kafka_consumer_closed(c.get()));
  EXPECT_TRUE(c);  // the handle stays until the destructor
}

TEST_F(KafkaConsumer, TheDestructorLeavesTheGroup) {
  Counts counts;
  {
    Consumer c = subscribed("group-d", counts);
    EXPECT_EQ(read(c, 3).size(), 3u);
    EXPECT_EQ(counts.assigned.load(), 1);
    EXPECT_EQ(counts.revoked.load(), 0);
  }
  EXPECT_EQ(counts.revoked.load(), 1);
}

TEST_F(KafkaConsumer, AnExplicitCloseIsNotRepeatedByTheDestructor) {
  Counts counts;
  {
    Consumer c = subscribed("group-e", counts);
    EXPECT_EQ(read(c, 3).size(), 3u);
    EXPECT_EQ(c.close(), RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(counts.revoked.load(), 1);
  }
  EXPECT_EQ(counts.revoked.load(), 1);
}

TEST_F(KafkaConsumer, MovesCarryTheHandleAndCloseTheOneReplaced) {
  Counts first, second;
  Consumer a = subscribed("group-m1", first);
  EXPECT_EQ(read(a, 3).size(), 3u);
  rd_kafka_t* handle = a.get();
  Consumer b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): a moved-from Consumer is empty
  EXPECT_EQ(a.close(), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(b.get(), handle);
  EXPECT_EQ(first.revoked.load(), 0);

  b = subscribed("group-m2", second);  // the first consumer leaves its group here
  EXPECT_EQ(first.revoked.load(), 1);
  EXPECT_EQ(read(b, 3).size(), 3u);
  EXPECT_EQ(b.close(), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(second.revoked.load(), 1);
  Consumer empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.close(), RD_KAFKA_RESP_ERR_NO_ERROR);
}

}  // namespace
}  // namespace anpr::kafka
