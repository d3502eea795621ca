// Covert lists end to end (docs/operators.md, "Covert lists"): the processor, on a broker of its
// own, matches reads against a covert BE list and an ordinary one at an NL camera. The covert
// hit goes to the hits topic marked with its rooms, signed like every hit (docs/kafka.md,
// "Signed records"), but to no partner route topic, and no metric names its list or counts it;
// the control rooms' feed, reading the same topic, shows it to the list's room only.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "config/settings.h"
#include "ingest/cameras.h"
#include "kafka/client.h"
#include "kafka/signing.h"
#include "match/plate.h"
#include "match/time.h"
#include "metrics/metrics.h"
#include "pipeline/processor.h"
#include "pipeline/run_metrics.h"
#include "serve/hit_feed.h"
#include "tests/hits.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr {
namespace {

using Clock = std::chrono::steady_clock;
const std::string kKey(32, '\x5a');

class CovertLists : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::TestBroker(tmp_.path(), testing::current_test_name(), 1);
    ASSERT_FALSE(broker_.bootstrap().empty());
    IndexBuilder b;
    ListMeta open, secret;
    open.id = "be-stolen";
    open.owner = kBE;
    secret.id = "be-secret-ops";
    secret.owner = kBE;
    secret.covert = true;
    secret.rooms = {"R-SECRET"};
    const uint16_t o = b.add_list(open), s = b.add_list(secret);
    b.add(o, *normalize("OPN001"), CountryCode{}, Category::stolen_vehicle, Action::intercept, 20,
          kNoExpiry, "BE-1", "");
    b.add(s, *normalize("SEC001"), CountryCode{}, Category::stolen_vehicle, Action::observe, 20,
          kNoExpiry, "BE-2", "");
    index_ = std::make_unique<LiveIndex>(std::shared_ptr<const Snapshot>(b.build()));
    s_.kafka.brokers = broker_.bootstrap();
    s_.kafka.group_id = broker_.group("covert");
    s_.kafka.common = {{"log_level", "3"}};
    s_.kafka.signing_keys = {kKey};
    s_.topics.reads = broker_.topic("anpr.reads");
    s_.topics.hits = broker_.topic("anpr.hits");
    s_.topics.deadletter = broker_.topic("anpr.deadletter");
    s_.topics.route_prefix = broker_.topic("anpr.route.");
    s_.topics.hit_acks = broker_.topic("anpr.hit-acks");
    s_.countries = config::default_country_policies();  // NL accepts BE lists, routes to BE
    s_.suppression.window_ms = 0;
    s_.pipeline.threads = 2;
    s_.state_dir = tmp_.path();
    s_.retention.sink = "none";
    s_.retention.policies = config::default_retention_policies();
  }

  // What a record said, and whether its signature verifies under the test's key.
  struct Record {
    std::string value;
    bool signed_ok = false;
  };

  // Every record of `topic`, every partition, up to its end (the processor has finished: nothing
  // more comes).
  std::vector<Record> all_of(const std::string& topic) {
    const kafka::Signer verifier({kKey});
    kafka::Consumer c({{"bootstrap.servers", broker_.bootstrap()},
                       {"group.id", broker_.group("viewer")},
                       {"log_level", "3"}});
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(c.get(), topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    EXPECT_EQ(rd_kafka_metadata(c.get(), 0, rkt, &md, 10'000), RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka::PartitionList parts(rd_kafka_topic_partition_list_new(4));
    int64_t expected = 0;
    for (int i = 0; md && md->topic_cnt == 1 && i < md->topics[0].partition_cnt; ++i) {
      const int32_t part = md->topics[0].partitions[i].id;
      int64_t low = 0, high = 0;
      EXPECT_EQ(rd_kafka_query_watermark_offsets(c.get(), topic.c_str(), part, &low, &high,
                                                 10'000),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      expected += high - low;
      rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), part)->offset = low;
    }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    c.assign(parts.get());
    std::vector<Record> out;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (static_cast<int64_t>(out.size()) < expected && Clock::now() < deadline) {
      // Each message is destroyed before the consumer (which waits for its messages).
      const kafka::Message m = c.poll(100);
      if (m && !m->err)
        out.push_back({std::string(static_cast<const char*>(m->payload), m->len),
                       verifier.verify(*m)});
    }
    EXPECT_EQ(static_cast<int64_t>(out.size()), expected) << topic;
    return out;
  }

  testing::TempDir tmp_{"covert"};
  testing::TestBroker broker_;
  std::unique_ptr<LiveIndex> index_;
  CameraRegistry cameras_ = CameraRegistry::parse(
      "camera_id,country,site,lat,lon,control_room\nnl-cam,NL,Utrecht A12,52.1,5.1,R-NL\n",
      "test cameras");
  config::Settings s_;
};

TEST_F(CovertLists, ACovertHitReachesOnlyItsRoomsNoRouteAndNoMetric) {
  {
    kafka::Producer prod({{"bootstrap.servers", broker_.bootstrap()}, {"log_level", "3"}}, nullptr);
    const std::string ts = format_rfc3339(testing::system_now());
    for (const auto& [id, plate] : {std::pair{"e1", "SEC001"}, std::pair{"e2", "OPN001"}})
      ASSERT_EQ(prod.produce(s_.topics.reads, "nl-cam",
                             std::string(R"({"event_id":")") + id +
                                 R"(","camera_id":"nl-cam","ts":")" + ts + R"(","plate":")" +
                                 plate + R"("})"),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(prod.flush(10'000));
  }
  std::string scraped;
  uint64_t latencies = 0;
  app::ProcessorCounters counters;
  {
    app::Processor p(s_, *index_, cameras_);
    metrics::Collector proc = app::collect_processor(p, s_.topics.reads);
    metrics::Collector idx = app::collect_index(*index_);
    std::thread t([&] { p.run(); });
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      const auto c = p.counters();
      if (c.reads >= 2 && c.unfinished == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    scraped = metrics::scrape();
    latencies = p.read_to_hit_seconds().count();
    p.request_stop();
    t.join();
    counters = p.counters();
  }
  ASSERT_EQ(counters.reads, 2u);
  EXPECT_EQ(counters.hits, 2u);

  // Both hits on the hits topic, each signed for it; the covert one names its rooms.
  simdjson::dom::parser parser;
  std::map<std::string, std::string> by_list;
  for (const Record& m : all_of(s_.topics.hits)) {
    EXPECT_TRUE(m.signed_ok) << m.value;
    std::string_view list;
    ASSERT_EQ(parser.parse(m.value)["list_id"].get(list), simdjson::SUCCESS);
    by_list[std::string(list)] = m.value;
  }
  ASSERT_EQ(by_list.size(), 2u);
  const std::string covert_json = by_list["be-secret-ops"];
  bool covert = false;
  ASSERT_EQ(parser.parse(covert_json)["covert"].get(covert), simdjson::SUCCESS) << covert_json;
  EXPECT_TRUE(covert);
  EXPECT_NE(covert_json.find(R"("covert_rooms":["R-SECRET"])"), std::string::npos) << covert_json;
  EXPECT_NE(covert_json.find(R"("routes":[])"), std::string::npos) << covert_json;
  EXPECT_NE(by_list["be-stolen"].find(R"("routes":["BE"])"), std::string::npos);

  // The partner route gets the ordinary hit only, also signed (for its own topic).
  const auto routed = all_of(s_.route_topic(kBE));
  ASSERT_EQ(routed.size(), 1u);
  EXPECT_NE(routed[0].value.find("\"be-stolen\""), std::string::npos);
  EXPECT_TRUE(routed[0].signed_ok);
  EXPECT_EQ(counters.route_copies, 1u);

  // No metric names or counts the covert list.
  EXPECT_EQ(scraped.find("be-secret-ops"), std::string::npos) << scraped;
  EXPECT_NE(scraped.find("list=\"be-stolen\""), std::string::npos) << scraped;
  EXPECT_EQ(latencies, 1u) << "the covert hit's latency would tell when it happened";
  for (const auto& [key, n] : counters.hits_by_list) EXPECT_NE(std::get<0>(key), "be-secret-ops");

  // The control rooms' feed, following the same topics with the key.
  app::HitFeed feed(100, s_.retention.policies);
  feed.start(s_);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (feed.size() < 2 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(feed.size(), 2u);
  EXPECT_EQ(feed.unsigned_records(), 0u);
  const auto lists_seen = [&](std::string_view room) {
    std::vector<std::string> out;
    for (const app::FeedEvent& e : feed.events_after(0, room, std::chrono::milliseconds(0), 10)) {
      std::string_view list;
      EXPECT_EQ(parser.parse(e.json)["list_id"].get(list), simdjson::SUCCESS);
      out.emplace_back(list);
    }
    return out;
  };
  EXPECT_EQ(lists_seen("R-SECRET"), std::vector<std::string>{"be-secret-ops"});
  EXPECT_EQ(lists_seen("R-NL"), std::vector<std::string>{"be-stolen"});
  EXPECT_EQ(lists_seen("*"), std::vector<std::string>{"be-stolen"});
  feed.stop();
}

}  // namespace
}  // namespace anpr
