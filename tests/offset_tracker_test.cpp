// OffsetTracker: a partition's offset advances only past reads whose every message is delivered,
// and never past an earlier read that is still pending.
#include "pipeline/offset_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

namespace anpr::app {
namespace {

std::vector<std::pair<int32_t, int64_t>> ready(OffsetTracker& t) {
  std::vector<std::pair<int32_t, int64_t>> r;
  t.take_ready(r);
  return r;
}

TEST(OffsetTracker, ReadsWithoutMessagesAdvanceAtOnce) {
  OffsetTracker t;
  t.add(0, 10, 0);
  t.add(0, 11, 0);
  EXPECT_EQ(ready(t), (std::vector<std::pair<int32_t, int64_t>>{{0, 12}}));
  EXPECT_TRUE(ready(t).empty());  // reported once
}

TEST(OffsetTracker, PendingReadHoldsBackLaterReads) {
  OffsetTracker t;
  auto a = t.add(0, 10, 2);
  t.add(0, 11, 0);
  t.add(0, 12, 0);
  EXPECT_TRUE(ready(t).empty());
  t.delivered(a);
  EXPECT_TRUE(ready(t).empty());  // one of two messages still pending
  t.delivered(a);
  EXPECT_EQ(ready(t), (std::vector<std::pair<int32_t, int64_t>>{{0, 13}}));
  EXPECT_EQ(t.in_flight(0), 0u);
}

TEST(OffsetTracker, ProcessingHoldAndAddPending) {
  OffsetTracker t;
  auto a = t.add(3, 5, 1);  // the processing hold
  t.add_pending(a, 2);
  t.delivered(a);           // hold released
  t.delivered(a);
  EXPECT_TRUE(ready(t).empty());
  t.delivered(a);
  EXPECT_EQ(ready(t), (std::vector<std::pair<int32_t, int64_t>>{{3, 6}}));
}

TEST(OffsetTracker, PartitionsAreIndependent) {
  OffsetTracker t;
  auto a = t.add(0, 1, 1);
  t.add(1, 7, 0);
  EXPECT_EQ(ready(t), (std::vector<std::pair<int32_t, int64_t>>{{1, 8}}));
  t.delivered(a);
  EXPECT_EQ(ready(t), (std::vector<std::pair<int32_t, int64_t>>{{0, 2}}));
}

TEST(OffsetTracker, ReportsOfAnEarlierAssignmentAreIgnored) {
  OffsetTracker t;
  auto old = t.add(0, 100, 1);
  t.reset(0);  // revoked and assigned again
  auto now = t.add(0, 100, 1);
  t.delivered(old);
  EXPECT_TRUE(ready(t).empty());
  EXPECT_EQ(t.in_flight(0), 1u);
  t.delivered(now);
  EXPECT_EQ(ready(t), (std::vector<std::pair<int32_t, int64_t>>{{0, 101}}));
}

TEST(OffsetTracker, ExtraReportsDoNotUnderflow) {
  OffsetTracker t;
  auto a = t.add(0, 1, 1);
  auto b = t.add(0, 2, 1);
  t.delivered(a);
  t.delivered(a);  // a duplicate report must not release b
  EXPECT_EQ(ready(t), (std::vector<std::pair<int32_t, int64_t>>{{0, 2}}));
  t.delivered(b);
  EXPECT_EQ(ready(t), (std::vector<std::pair<int32_t, int64_t>>{{0, 3}}));
}

// Deliveries from several threads in random order: the stored offset never passes a read with an
// undelivered message, and ends past the last read.
TEST(OffsetTracker, ConcurrentDeliveriesNeverOvertake) {
  for (int threads : {1, 2, 4}) {
    OffsetTracker t;
    constexpr int kReads = 20000;
    std::vector<OffsetTracker::Ticket> tickets;
    std::vector<int> pending(kReads);
    std::mt19937 rng(7);
    for (int i = 0; i < kReads; ++i) {
      pending[i] = static_cast<int>(rng() % 3);
      tickets.push_back(t.add(0, i, static_cast<uint32_t>(pending[i])));
    }
    std::vector<int> reports;
    for (int i = 0; i < kReads; ++i)
      for (int k = 0; k < pending[i]; ++k) reports.push_back(i);
    std::shuffle(reports.begin(), reports.end(), rng);
    std::atomic<std::size_t> next{0};
    std::vector<std::atomic<int>> delivered(kReads);
    std::atomic<bool> bad{false};
    auto work = [&] {
      std::vector<std::pair<int32_t, int64_t>> r;
      for (std::size_t k; (k = next.fetch_add(1)) < reports.size();) {
        const int i = reports[k];
        delivered[i].fetch_add(1);
        t.delivered(tickets[i]);
        r.clear();
        t.take_ready(r);
        for (auto [p, off] : r)
          for (int64_t j = 0; j < off; ++j)
            if (delivered[j].load() < pending[j]) bad = true;
      }
    };
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i) ts.emplace_back(work);
    for (auto& th : ts) th.join();
    EXPECT_FALSE(bad) << threads << " threads";
    EXPECT_EQ(t.in_flight(0), 0u);
  }
}

}  // namespace
}  // namespace anpr::app
