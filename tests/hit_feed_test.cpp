// The control rooms' live feed (app/hit_feed.h): event order and resumption, deduplication,
// room visibility, acknowledgements, capacity, and concurrent writers and readers (run under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "app/hit_feed.h"

namespace anpr::app {
namespace {

using namespace std::chrono_literals;

std::string hit_json(const std::string& id, const std::string& room, int priority = 20) {
  return R"({"hit_id":")" + id + R"(","camera_id":"c1","control_room":")" + room +
         R"(","ts":"2026-11-24T08:00:00.000Z","plate":"AB12CD","priority":)" +
         std::to_string(priority) + "}";
}

TEST(HitFeed, EventsComeInOrderAndResumeAfterAnId) {
  HitFeed f(100);
  EXPECT_TRUE(f.add_hit(hit_json("a1", "R1")));
  EXPECT_TRUE(f.add_hit(hit_json("a2", "R1")));
  EXPECT_TRUE(f.add_hit(hit_json("a3", "R1")));
  auto all = f.events_after(0, "*", 0ms, 100);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].hit_id, "a1");
  EXPECT_EQ(all[2].hit_id, "a3");
  EXPECT_LT(all[0].seq, all[1].seq);
  auto later = f.events_after(all[0].seq, "*", 0ms, 100);
  ASSERT_EQ(later.size(), 2u);
  EXPECT_EQ(later[0].hit_id, "a2");
  EXPECT_TRUE(f.events_after(all[2].seq, "*", 0ms, 100).empty());
  EXPECT_EQ(f.events_after(0, "*", 0ms, 2).size(), 2u);  // at most max
}

TEST(HitFeed, DuplicatesAndMalformedHitsAreIgnored) {
  HitFeed f(100);
  EXPECT_TRUE(f.add_hit(hit_json("a1", "R1")));
  EXPECT_FALSE(f.add_hit(hit_json("a1", "R1")));  // sent again after a restart
  EXPECT_FALSE(f.add_hit("not json"));
  EXPECT_FALSE(f.add_hit(R"({"no_id":1})"));
  EXPECT_FALSE(f.add_hit(R"({"hit_id":""})"));
  EXPECT_FALSE(f.add_hit(R"({"hit_id":42})"));
  EXPECT_FALSE(f.add_hit(R"([1,2])"));
  EXPECT_FALSE(f.add_hit("{\"hit_id\":\"" + std::string(500, 'a') + "\"}"));
  EXPECT_EQ(f.size(), 1u);
}

TEST(HitFeed, RoomsSeeOnlyTheirOwnHits) {
  HitFeed f(100);
  f.add_hit(hit_json("a1", "R1"));
  f.add_hit(hit_json("b1", "R2"));
  f.add_hit(hit_json("a2", "R1"));
  auto r1 = f.events_after(0, "R1", 0ms, 100);
  ASSERT_EQ(r1.size(), 2u);
  EXPECT_EQ(r1[0].hit_id, "a1");
  EXPECT_EQ(r1[1].hit_id, "a2");
  EXPECT_EQ(f.events_after(0, "R2", 0ms, 100).size(), 1u);
  EXPECT_EQ(f.events_after(0, "*", 0ms, 100).size(), 3u);
  EXPECT_TRUE(f.events_after(0, "R3", 0ms, 100).empty());
  EXPECT_EQ(f.lookup("b1", "R1"), HitFeed::Lookup::not_visible);
  EXPECT_EQ(f.lookup("b1", "R2"), HitFeed::Lookup::open);
  EXPECT_EQ(f.lookup("zz", "*"), HitFeed::Lookup::unknown);
}

TEST(HitFeed, AcknowledgementMarksTheHitOnce) {
  HitFeed f(100);
  f.add_hit(hit_json("a1", "R1"));
  EXPECT_FALSE(f.add_ack(R"({"hit_id":"zz","acknowledged_by":"x"})"));  // unknown hit
  EXPECT_TRUE(f.add_ack(R"({"hit_id":"a1","acknowledged_by":"x"})"));
  EXPECT_FALSE(f.add_ack(R"({"hit_id":"a1","acknowledged_by":"y"})"));  // again
  EXPECT_EQ(f.lookup("a1", "R1"), HitFeed::Lookup::acknowledged);
  auto ev = f.events_after(0, "R1", 0ms, 100);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].kind, FeedEvent::Kind::ack);
  EXPECT_TRUE(f.events_after(0, "R2", 0ms, 100).empty());  // the ack follows the hit's room
}

TEST(HitFeed, KeepsTheLatestCapacityEvents) {
  HitFeed f(3);
  for (int i = 0; i < 5; ++i) f.add_hit(hit_json("h" + std::to_string(i), "R"));
  auto ev = f.events_after(0, "*", 0ms, 100);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].hit_id, "h2");
  EXPECT_EQ(f.lookup("h0", "*"), HitFeed::Lookup::unknown);  // forgotten with its event
  // A reader that resumes from a forgotten id gets what is left.
  EXPECT_EQ(f.events_after(1, "*", 0ms, 100).size(), 3u);
}

TEST(HitFeed, AWaitingReaderWakesOnANewHit) {
  HitFeed f(10);
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    f.add_hit(hit_json("late", "R"));
  });
  auto ev = f.events_after(0, "*", 10s, 10);
  t.join();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].hit_id, "late");
}

TEST(HitFeed, PrettyPrintedJsonIsStoredOnOneLine) {
  HitFeed f(10);
  ASSERT_TRUE(f.add_hit("{\n  \"hit_id\": \"p1\",\r\n  \"control_room\": \"R\"\n}"));
  ASSERT_TRUE(f.add_ack("{\n \"hit_id\": \"p1\"\n}"));
  for (const auto& e : f.events_after(0, "*", 0ms, 10)) {
    EXPECT_EQ(e.json.find('\n'), std::string::npos) << e.json;
    EXPECT_EQ(e.json.find('\r'), std::string::npos) << e.json;
  }
}

TEST(HitFeed, AReservedHitCannotBeAcknowledgedTwice) {
  HitFeed f(10);
  f.add_hit(hit_json("r1", "R1"));
  EXPECT_EQ(f.reserve_ack("r1", "R2"), HitFeed::Lookup::not_visible);
  EXPECT_EQ(f.reserve_ack("zz", "*"), HitFeed::Lookup::unknown);
  EXPECT_EQ(f.reserve_ack("r1", "R1"), HitFeed::Lookup::open);
  EXPECT_EQ(f.reserve_ack("r1", "*"), HitFeed::Lookup::acknowledged);  // being acknowledged
  f.release("r1");                                                     // publishing failed
  EXPECT_EQ(f.reserve_ack("r1", "*"), HitFeed::Lookup::open);
  EXPECT_TRUE(f.add_ack(R"({"hit_id":"r1"})"));
  EXPECT_EQ(f.reserve_ack("r1", "*"), HitFeed::Lookup::acknowledged);
}

// Writers add hits and acknowledgements while readers follow the feed: every reader sees every
// event exactly once, in sequence order, and the feed's bookkeeping stays consistent.
TEST(HitFeed, ConcurrentWritersAndReadersSeeEveryEventInOrder) {
  constexpr int kWriters = 3, kPerWriter = 300, kReaders = 3;
  HitFeed f(100000);
  std::atomic<int> writers_done{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> seen(kReaders);
  for (int r = 0; r < kReaders; ++r)
    threads.emplace_back([&, r] {
      uint64_t last = 0;
      for (;;) {
        auto ev = f.events_after(last, "*", 20ms, 64);
        for (const auto& e : ev) {
          seen[r].push_back(e.seq);
          last = e.seq;
        }
        if (ev.empty() && writers_done.load() == kWriters && last == f.last_seq()) break;
      }
    });
  for (int w = 0; w < kWriters; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        const std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
        f.add_hit(hit_json(id, "R" + std::to_string(i % 2)));
        if (i % 3 == 0) f.add_ack(R"({"hit_id":")" + id + R"(","acknowledged_by":"x"})");
        (void)f.lookup(id, "R0");
      }
      writers_done.fetch_add(1);
    });
  for (auto& t : threads) t.join();
  const uint64_t total = kWriters * kPerWriter + kWriters * ((kPerWriter + 2) / 3);
  EXPECT_EQ(f.last_seq(), total);
  for (int r = 0; r < kReaders; ++r) {
    ASSERT_EQ(seen[r].size(), total) << "reader " << r;
    for (std::size_t i = 0; i < seen[r].size(); ++i) ASSERT_EQ(seen[r][i], i + 1);
  }
}

}  // namespace
}  // namespace anpr::app
