#include "match/suppression.h"

#include <gtest/gtest.h>

namespace anpr {
namespace {

TEST(Suppressor, RepeatWithinWindowIsSuppressed) {
  Suppressor s(300'000);
  EXPECT_TRUE(s.admit("nl-stolen", 42, 1'000'000));
  EXPECT_FALSE(s.admit("nl-stolen", 42, 1'000'000 + 299'999));
  EXPECT_TRUE(s.admit("nl-stolen", 42, 1'000'000 + 300'000));
  EXPECT_EQ(s.suppressed(), 1u);
}

TEST(Suppressor, OtherListOrPlateIsNotSuppressed) {
  Suppressor s(300'000);
  EXPECT_TRUE(s.admit("nl-stolen", 42, 0));
  EXPECT_TRUE(s.admit("be-stolen", 42, 1));
  EXPECT_TRUE(s.admit("nl-stolen", 43, 2));
  EXPECT_EQ(s.suppressed(), 0u);
}

TEST(Suppressor, SuppressedHitsDoNotExtendTheWindow) {
  Suppressor s(100);
  EXPECT_TRUE(s.admit("l", 1, 0));
  EXPECT_FALSE(s.admit("l", 1, 60));
  EXPECT_TRUE(s.admit("l", 1, 100));  // measured from the published hit at 0, not from 60
}

TEST(Suppressor, PerListWindowAndOff) {
  Suppressor s(300'000, {{"fines", 0}, {"wanted", 1000}});
  EXPECT_TRUE(s.admit("fines", 1, 0));
  EXPECT_TRUE(s.admit("fines", 1, 1));  // window 0: never suppressed
  EXPECT_TRUE(s.admit("wanted", 1, 0));
  EXPECT_FALSE(s.admit("wanted", 1, 999));
  EXPECT_TRUE(s.admit("wanted", 1, 1000));
  EXPECT_EQ(s.window_ms("other"), 300'000);
}

TEST(Suppressor, LateReadsInsideTheWindowAreSuppressed) {
  Suppressor s(1000);
  EXPECT_TRUE(s.admit("l", 1, 10'000));
  EXPECT_FALSE(s.admit("l", 1, 9'500));  // an earlier capture delivered late
}

TEST(Suppressor, OldStateIsSwept) {
  Suppressor s(1000);
  for (uint64_t i = 0; i < 100'000; ++i) EXPECT_TRUE(s.admit("l", i, static_cast<TimestampMs>(i * 10)));
  EXPECT_LT(s.tracked(), 10'000u);  // only about the last window's plates are kept
}

// An aborted transaction's hits are decided again as the first time (pipeline.exactly_once).
TEST(Suppressor, RollbackUndoesEverySinceTheCheckpoint) {
  Suppressor s(1000);
  EXPECT_TRUE(s.admit("l", 1, 0));
  s.checkpoint();
  EXPECT_FALSE(s.admit("l", 1, 500));  // suppressed: no change but the count
  EXPECT_TRUE(s.admit("l", 1, 1500));  // updated
  EXPECT_TRUE(s.admit("l", 2, 1600));  // inserted
  EXPECT_EQ(s.suppressed(), 1u);
  s.rollback();
  EXPECT_EQ(s.suppressed(), 0u);
  EXPECT_EQ(s.tracked(), 1u);
  // The same reads again: the same decisions.
  EXPECT_FALSE(s.admit("l", 1, 500));
  EXPECT_TRUE(s.admit("l", 1, 1500));
  EXPECT_TRUE(s.admit("l", 2, 1600));
  // A new checkpoint keeps what came before it.
  s.checkpoint();
  s.rollback();
  EXPECT_FALSE(s.admit("l", 1, 2000));
  EXPECT_FALSE(s.admit("l", 2, 2000));
}

TEST(Suppressor, RollbackRestoresWhatASweepRemoved) {
  Suppressor s(1000);
  for (uint64_t i = 0; i < 2000; ++i) EXPECT_TRUE(s.admit("l", i, static_cast<TimestampMs>(i)));
  s.checkpoint();
  // Far later: the sweep drops the old plates.
  for (uint64_t i = 0; i < 5000; ++i)
    EXPECT_TRUE(s.admit("l", 10'000 + i, static_cast<TimestampMs>(1'000'000 + i)));
  EXPECT_LT(s.tracked(), 7000u);
  s.rollback();
  EXPECT_EQ(s.tracked(), 2000u);
  EXPECT_FALSE(s.admit("l", 1999, 1999));
}

// Across instances (suppression.across_instances): a hit another instance published, as the hits
// topic says, suppresses the same plate on the same list here within the window, and only that.
TEST(GroupSuppression, AHitTheGroupPublishedSuppressesTheSamePlateOnTheSameList) {
  GroupHits group(300'000);
  Suppressor s(300'000);
  s.follow(&group);
  EXPECT_TRUE(group.record("nl-stolen", 42, 1'000'000));
  EXPECT_FALSE(s.admit("nl-stolen", 42, 1'000'000 + 60'000));
  EXPECT_FALSE(s.admit("nl-stolen", 42, 1'000'000 - 60'000));  // an earlier capture, late
  EXPECT_TRUE(s.admit("be-stolen", 42, 1'000'000 + 60'000));   // another list
  EXPECT_TRUE(s.admit("nl-stolen", 43, 1'000'000 + 60'000));   // another plate
  EXPECT_TRUE(s.admit("nl-stolen", 42, 1'000'000 + 300'000));  // outside the window
  EXPECT_EQ(s.suppressed(), 2u);
  EXPECT_EQ(s.suppressed_by_group(), 2u);
}

TEST(GroupSuppression, PerListWindowsApplyToTheGroupsHits) {
  GroupHits group(3'600'000);
  Suppressor s(300'000, {{"fines", 3'600'000}, {"off", 0}});
  s.follow(&group);
  group.record("fines", 1, 0);
  group.record("off", 1, 0);
  group.record("other", 1, 0);
  EXPECT_FALSE(s.admit("fines", 1, 3'000'000));
  EXPECT_TRUE(s.admit("off", 1, 10));
  EXPECT_TRUE(s.admit("other", 1, 300'000));
}

// Without follow() (suppression.across_instances = false) the group's hits count for nothing.
TEST(GroupSuppression, NotFollowedTheGroupSuppressesNothing) {
  GroupHits group(300'000);
  Suppressor s(300'000);
  group.record("l", 1, 0);
  EXPECT_TRUE(s.admit("l", 1, 10));
}

// A hit suppressed because of the group is not this instance's published hit: the window is
// measured from the group's hit, and what this instance published is its own.
TEST(GroupSuppression, AHitSuppressedByTheGroupDoesNotStartAWindowHere) {
  GroupHits group(1000);
  Suppressor s(1000);
  s.follow(&group);
  group.record("l", 1, 0);
  EXPECT_FALSE(s.admit("l", 1, 900));
  EXPECT_TRUE(s.admit("l", 1, 1000));   // 1000 after the group's hit, 100 after the suppressed one
  EXPECT_FALSE(s.admit("l", 1, 1500));  // this instance's own hit at 1000 now counts
}

// An aborted transaction forgets this instance's decisions, not what is on the topic.
TEST(GroupSuppression, RollbackKeepsTheGroupsHits) {
  GroupHits group(1000);
  Suppressor s(1000);
  s.follow(&group);
  s.checkpoint();
  group.record("l", 1, 0);
  EXPECT_FALSE(s.admit("l", 1, 10));
  s.rollback();
  EXPECT_EQ(s.suppressed_by_group(), 0u);
  EXPECT_FALSE(s.admit("l", 1, 10));
}

TEST(GroupHits, KeepsTheLatestCaptureTimeOfAKey) {
  GroupHits g(1000);
  EXPECT_TRUE(g.record("l", 1, 5000));
  EXPECT_TRUE(g.record("l", 1, 4500));  // an earlier hit of the same plate: the later one stays
  const uint64_t k = suppression_key("l", 1);
  EXPECT_TRUE(g.covers(k, 5900, 1000));
  EXPECT_FALSE(g.covers(k, 6000, 1000));
  EXPECT_FALSE(g.covers(suppression_key("m", 1), 5000, 1000));
}

// Memory stays bounded whatever the topic holds: old hits are swept, and at capacity a new key
// is refused (a second alert may then go out; nothing is lost).
TEST(GroupHits, MemoryIsBounded) {
  {
    GroupHits g(1000);
    for (uint64_t i = 0; i < 200'000; ++i) g.record("l", i, static_cast<TimestampMs>(i * 10));
    EXPECT_LT(g.tracked(), 10'000u);
    EXPECT_EQ(g.refused(), 0u);
  }
  GroupHits g(1'000'000, 100);
  for (uint64_t i = 0; i < 10'000; ++i) g.record("l", i, static_cast<TimestampMs>(i));
  EXPECT_LE(g.tracked(), 100u);
  EXPECT_EQ(g.refused(), 9'900u);
  EXPECT_TRUE(g.covers(suppression_key("l", 5), 5, 1000));  // what was recorded still counts
  // Too old to suppress anything newer than the newest recorded: not kept.
  EXPECT_FALSE(g.record("l", 99'999, -2'000'000));
}

}  // namespace
}  // namespace anpr
