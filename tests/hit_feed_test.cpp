// The control rooms' live feed (serve/hit_feed.h): event order and resumption, deduplication,
// room visibility, acknowledgements, capacity, deadlines (per camera country, at insertion and
// at every serve, against a fake clock), and concurrent writers and readers (run under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "serve/hit_feed.h"
#include "match/time.h"
#include "tests/hits.h"

namespace anpr::app {
namespace {

using namespace std::chrono_literals;

using testing::hit_json;
using testing::system_now;

TEST(HitFeed, EventsComeInOrderAndResumeAfterAnId) {
  HitFeed f(100, config::default_retention_policies());
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
  HitFeed f(100, config::default_retention_policies());
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
  HitFeed f(100, config::default_retention_policies());
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
  HitFeed f(100, config::default_retention_policies());
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
  HitFeed f(3, config::default_retention_policies());
  for (int i = 0; i < 5; ++i) f.add_hit(hit_json("h" + std::to_string(i), "R"));
  auto ev = f.events_after(0, "*", 0ms, 100);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].hit_id, "h2");
  EXPECT_EQ(f.lookup("h0", "*"), HitFeed::Lookup::unknown);  // forgotten with its event
  // A reader that resumes from a forgotten id gets what is left.
  EXPECT_EQ(f.events_after(1, "*", 0ms, 100).size(), 3u);
}

TEST(HitFeed, AWaitingReaderWakesOnANewHit) {
  HitFeed f(10, config::default_retention_policies());
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
  HitFeed f(10, config::default_retention_policies());
  ASSERT_TRUE(f.add_hit("{\n  \"hit_id\": \"p1\",\r\n  \"control_room\": \"R\",\n  \"ts\": \"" +
                        format_rfc3339(system_now()) + "\"\n}"));
  ASSERT_TRUE(f.add_ack("{\n \"hit_id\": \"p1\"\n}"));
  for (const auto& e : f.events_after(0, "*", 0ms, 10)) {
    EXPECT_EQ(e.json.find('\n'), std::string::npos) << e.json;
    EXPECT_EQ(e.json.find('\r'), std::string::npos) << e.json;
  }
}

TEST(HitFeed, AReservedHitCannotBeAcknowledgedTwice) {
  HitFeed f(10, config::default_retention_policies());
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

// Deadlines against a fake clock. The default policies: NL and BE hits 365 days, LU 28.
class HitFeedDeadlines : public ::testing::Test {
 protected:
  static constexpr int64_t kT = 1'796'536'800'000;  // 2026-12-06T06:00:00Z
  static constexpr int64_t kHour = 3'600'000;
  std::atomic<int64_t> now_{kT};
  HitFeed f_{100, config::default_retention_policies(), [this] { return now_.load(); }};

  std::vector<std::string> served(uint64_t after = 0, std::string_view room = "*") {
    std::vector<std::string> ids;
    for (const FeedEvent& e : f_.events_after(after, room, 0ms, 100))
      ids.push_back(e.hit_id + (e.kind == FeedEvent::Kind::ack ? "+ack" : ""));
    return ids;
  }
  using Ids = std::vector<std::string>;
};

TEST_F(HitFeedDeadlines, AnLuHitPastItsCountrysRetentionIsNotAddedButAnNlHitIs) {
  ASSERT_EQ(format_rfc3339(kT), "2026-12-06T06:00:00.000Z");
  EXPECT_FALSE(f_.add_hit(hit_json("lu40", "R", 20, "LU", kT - 40 * kMsPerDay)));
  EXPECT_TRUE(f_.add_hit(hit_json("nl40", "R", 20, "NL", kT - 40 * kMsPerDay)));
  EXPECT_TRUE(f_.add_hit(hit_json("lu27", "R", 20, "LU", kT - 27 * kMsPerDay)));
  EXPECT_EQ(served(), (Ids{"nl40", "lu27"}));
  EXPECT_EQ(f_.lookup("lu40", "*"), HitFeed::Lookup::unknown);
  EXPECT_EQ(f_.reserve_ack("lu40", "*"), HitFeed::Lookup::unknown);
  EXPECT_FALSE(f_.add_ack(R"({"hit_id":"lu40"})"));
  EXPECT_EQ(f_.size(), 2u);
  // Exactly at the deadline is too late; a millisecond before is not.
  EXPECT_FALSE(f_.add_hit(hit_json("lu28", "R", 20, "LU", kT - 28 * kMsPerDay)));
  EXPECT_TRUE(f_.add_hit(hit_json("lu28-1", "R", 20, "LU", kT - 28 * kMsPerDay + 1)));
}

TEST_F(HitFeedDeadlines, AHitThatReachesItsDeadlineInTheBufferIsNoLongerServed) {
  ASSERT_TRUE(f_.add_hit(hit_json("lu", "R1", 20, "LU", kT - 28 * kMsPerDay + kHour)));
  ASSERT_TRUE(f_.add_hit(hit_json("nl", "R1", 20, "NL", kT - 28 * kMsPerDay + kHour)));
  ASSERT_TRUE(f_.add_ack(R"({"hit_id":"lu","acknowledged_by":"x","note":"stopped at exit 12"})"));
  const uint64_t first = f_.events_after(0, "*", 0ms, 1).at(0).seq;
  now_ = kT + kHour - 1;
  EXPECT_EQ(served(), (Ids{"lu", "nl", "lu+ack"}));
  EXPECT_EQ(f_.lookup("lu", "R1"), HitFeed::Lookup::acknowledged);
  now_ = kT + kHour;  // the LU hit's deadline: it goes, and its acknowledgement with it
  EXPECT_EQ(served(), (Ids{"nl"}));
  EXPECT_EQ(served(0, "R1"), (Ids{"nl"}));
  EXPECT_EQ(served(first), (Ids{"nl"}));  // a page resuming after the LU hit's id
  EXPECT_EQ(f_.lookup("lu", "R1"), HitFeed::Lookup::unknown);
  EXPECT_EQ(f_.reserve_ack("lu", "R1"), HitFeed::Lookup::unknown);
  EXPECT_EQ(f_.size(), 1u);
  // Sent again (a refill after a restart): still past its deadline.
  EXPECT_FALSE(f_.add_hit(hit_json("lu", "R1", 20, "LU", kT - 28 * kMsPerDay + kHour)));
  // Sequence numbers go on; later events are served after the gap.
  ASSERT_TRUE(f_.add_hit(hit_json("nl2", "R1")));
  EXPECT_EQ(served(first), (Ids{"nl", "nl2"}));
}

TEST_F(HitFeedDeadlines, AWaitingReaderIsNotServedAHitThatExpiredMeanwhile) {
  ASSERT_TRUE(f_.add_hit(hit_json("lu", "R", 20, "LU", kT - 28 * kMsPerDay + 1000)));
  const uint64_t seen = f_.last_seq();
  now_ = kT + 1000;
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    f_.add_hit(hit_json("nl", "R", 20, "NL", kT));
  });
  auto ev = f_.events_after(0, "*", 10s, 10);
  t.join();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].hit_id, "nl");
  EXPECT_GT(ev[0].seq, seen);
}

TEST_F(HitFeedDeadlines, ACountryThatKeepsNoHitsIsShownOnlyWhileFresh) {
  // DE has no policy; a policy with hit_days = 0 is the same.
  HitFeed zero(100, {config::RetentionPolicy{.country = kNL, .hit_days = 0}},
               [this] { return now_.load(); });
  for (HitFeed* f : {&f_, &zero}) {
    const std::string c = f == &f_ ? "DE" : "NL";
    SCOPED_TRACE(c);
    now_ = kT;
    EXPECT_FALSE(f->add_hit(hit_json("old", "R", 20, c, kT - kUnkeptHitAlertMs)));
    EXPECT_TRUE(f->add_hit(hit_json("fresh", "R", 20, c, kT - kUnkeptHitAlertMs + 60'000)));
    EXPECT_TRUE(f->add_hit(hit_json("unknown-country", "R", 20, "", kT)));
    EXPECT_EQ(f->lookup("fresh", "*"), HitFeed::Lookup::open);
    now_ = kT + 60'000;
    EXPECT_EQ(f->lookup("fresh", "*"), HitFeed::Lookup::unknown);
    EXPECT_EQ(f->lookup("unknown-country", "*"), HitFeed::Lookup::open);
    now_ = kT + kUnkeptHitAlertMs;
    EXPECT_EQ(f->size(), 0u);
  }
}

TEST_F(HitFeedDeadlines, ACameraClockInTheFutureGainsNothing) {
  // Captured "10 days from now" by a camera's clock: counted from its arrival.
  ASSERT_TRUE(f_.add_hit(hit_json("future", "R", 20, "LU", kT + 10 * kMsPerDay)));
  now_ = kT + 28 * kMsPerDay - 1;
  EXPECT_EQ(f_.lookup("future", "*"), HitFeed::Lookup::open);
  now_ = kT + 28 * kMsPerDay;
  EXPECT_EQ(f_.lookup("future", "*"), HitFeed::Lookup::unknown);
  // On a refill the hits topic's message time is the arrival: published 30 days ago with a
  // capture time 10 days later than that, it was due 2 days ago.
  now_ = kT;
  EXPECT_FALSE(f_.add_hit(hit_json("late", "R", 20, "LU", kT - 20 * kMsPerDay),
                          kT - 30 * kMsPerDay));
  EXPECT_TRUE(f_.add_hit(hit_json("ok", "R", 20, "LU", kT - 20 * kMsPerDay), kT - 20 * kMsPerDay));
}

TEST_F(HitFeedDeadlines, AHitWithoutACaptureTimeIsNotShown) {
  EXPECT_FALSE(f_.add_hit(R"({"hit_id":"x1","camera_country":"NL","control_room":"R"})"));
  EXPECT_FALSE(f_.add_hit(R"({"hit_id":"x2","camera_country":"NL","ts":"yesterday"})"));
  EXPECT_FALSE(f_.add_hit(R"({"hit_id":"x3","camera_country":"NL","ts":17})"));
  EXPECT_EQ(f_.size(), 0u);
}

// Writers add hits and acknowledgements while readers follow the feed: every reader sees every
// event exactly once, in sequence order, and the feed's bookkeeping stays consistent.
TEST(HitFeed, ConcurrentWritersAndReadersSeeEveryEventInOrder) {
  constexpr int kWriters = 3, kPerWriter = 300, kReaders = 3;
  HitFeed f(100000, config::default_retention_policies());
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
