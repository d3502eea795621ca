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

}  // namespace
}  // namespace anpr
