// ANPR_CHECK (base/check.h): an internal invariant, checked in every build type.
#include <gtest/gtest.h>

#include <csignal>

// From here on this file is compiled as the release build is (RelWithDebInfo defines NDEBUG),
// whatever the build type: assert() is compiled out, ANPR_CHECK must not be.
#ifndef NDEBUG
#define NDEBUG
#endif
#include <cassert>  // assert() is defined anew at each inclusion, after NDEBUG

#include "base/check.h"

namespace {

int g_evaluations = 0;
bool counted(bool v) {
  ++g_evaluations;
  return v;
}

TEST(CheckTest, AHoldingCheckDoesNothingAndEvaluatesItsConditionOnce) {
  g_evaluations = 0;
  ANPR_CHECK(counted(true));
  ANPR_CHECK(counted(true), "with a message");
  EXPECT_EQ(g_evaluations, 2);
}

TEST(CheckDeathTest, AFailingCheckAbortsNamingFileLineConditionAndMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const int two = 2;
  EXPECT_EXIT(ANPR_CHECK(two == 3, "two is not three"), testing::KilledBySignal(SIGABRT),
              "check_test\\.cpp:[0-9]+: CHECK failed: two == 3: two is not three");
  EXPECT_EXIT(ANPR_CHECK(two < 1), testing::KilledBySignal(SIGABRT),
              "check_test\\.cpp:[0-9]+: CHECK failed: two < 1");
}

TEST(CheckDeathTest, IsActiveUnderNdebugWhereAssertIsNot) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const bool never = g_evaluations < 0;
  assert(never);  // compiled out: NDEBUG is defined here
  EXPECT_EXIT(ANPR_CHECK(never, "checked in release builds"), testing::KilledBySignal(SIGABRT),
              "CHECK failed: never: checked in release builds");
}

}  // namespace
