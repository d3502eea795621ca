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

}  // namespace
}  // namespace anpr
