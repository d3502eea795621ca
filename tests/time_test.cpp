#include "match/time.h"

#include <gtest/gtest.h>

#include <thread>

#include <random>
#include <string>

namespace anpr {
namespace {

// 2026-11-23T19:31:49.123Z
constexpr TimestampMs kT = 1795462309123;

struct Good {
  const char* text;
  TimestampMs want;
};

TEST(Rfc3339, AcceptsStrictForms) {
  const Good cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"1970-01-01T00:00:00.000Z", 0},
      {"1970-01-01T00:00:00.001Z", 1},
      {"1969-12-31T23:59:59.999Z", -1},
      {"2026-11-23T19:31:49.123Z", kT},
      {"2026-11-23t19:31:49.123z", kT},
      {"2026-11-23T19:31:49.1Z", kT - 23},
      {"2026-11-23T19:31:49.12Z", kT - 3},
      {"2026-11-23T19:31:49.1239Z", kT},       // truncated, not rounded
      {"2026-11-23T19:31:49.123999999Z", kT},  // 9 digits
      {"2026-11-23T20:31:49.123+01:00", kT},   // CET
      {"2026-11-23T21:31:49.123+02:00", kT},
      {"2026-11-23T14:01:49.123-05:30", kT},
      {"2026-11-23T19:31:49.123+00:00", kT},
      {"2026-11-23T19:31:49.123-00:00", kT},
      {"2026-11-24T00:31:49.123+05:00", kT},   // crosses midnight
      {"2000-02-29T00:00:00Z", 951782400000},  // leap year (div by 400)
      {"2024-02-29T12:00:00Z", 1709208000000},
      {"2016-12-31T23:59:60Z", 1483228799999},  // leap second -> 59.999
      {"2016-12-31T23:59:60.5Z", 1483228799999},
      {"0000-01-01T00:00:00Z", -62167219200000},
      {"9999-12-31T23:59:59.999Z", 253402300799999},
      {"0000-01-01T01:00:00+01:00", -62167219200000},
      {"9999-12-31T22:59:59.999-01:00", 253402300799999},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto got = parse_rfc3339(c.text);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, c.want);
  }
}

TEST(Rfc3339, RejectsEverythingElse) {
  const char* bad[] = {
      "",
      "2026",
      "2026-11-23",               // date only
      "2026-11-23T19:31:49",      // no offset
      "2026-11-23T19:31:49.123",  // no offset
      "2026-11-23 19:31:49Z",     // space instead of T
      "2026-11-23X19:31:49Z",
      "2026-11-23T19:31Z",                // no seconds
      "2026-11-23T19:31:49.Z",            // empty fraction
      "2026-11-23T19:31:49.1234567890Z",  // 10 fraction digits
      "2026-11-23T19:31:49,123Z",         // comma fraction
      "2026-11-23T19:31:49.123+0100",     // offset without colon
      "2026-11-23T19:31:49.123+01",
      "2026-11-23T19:31:49.123+1:00",
      "2026-11-23T19:31:49.123+01:0",
      "2026-11-23T19:31:49.123+24:00",
      "2026-11-23T19:31:49.123+01:60",
      "2026-11-23T19:31:49.123ZZ",
      "2026-11-23T19:31:49.123Z ",
      " 2026-11-23T19:31:49.123Z",
      "+2026-11-23T19:31:49Z",
      "-2026-11-23T19:31:49Z",
      "26-11-23T19:31:49Z",
      "20266-11-23T19:31:49Z",
      "2026-1-23T19:31:49Z",
      "2026-11-3T19:31:49Z",
      "2026-00-23T19:31:49Z",
      "2026-13-23T19:31:49Z",
      "2026-11-00T19:31:49Z",
      "2026-11-31T19:31:49Z",  // November has 30 days
      "2026-02-29T00:00:00Z",  // not a leap year
      "1900-02-29T00:00:00Z",  // div by 100, not by 400
      "2026-04-31T00:00:00Z",
      "2026-11-23T24:00:00Z",
      "2026-11-23T23:60:00Z",
      "2026-11-23T23:59:61Z",
      "2026-11-23T-1:59:59Z",
      "2026-11-23T1a:31:49Z",
      "2026-11-23T19:31:49.12aZ",
      "2026-11-23T19:31:49.123+01:00Z",
      "2026\xef\xbc\x8d"
      "11-23T19:31:49Z",  // full-width hyphen
      "\xef\xbc\x92"
      "026-11-23T19:31:49Z",  // full-width digit
      "2026-11-23T19:31:49.123UTC",
      "2026-11-23T19:31:49.123GMT+1",
      "1795462309123",
      "Mon, 23 Nov 2026 19:31:49 GMT",
      "0000-01-01T00:59:59.999+01:00",  // before year 0000 in UTC
      "9999-12-31T23:30:00-00:31",      // after year 9999 in UTC
  };
  for (const char* b : bad) {
    SCOPED_TRACE(b);
    EXPECT_FALSE(parse_rfc3339(b).has_value());
  }
  // Embedded NUL inside an otherwise valid text.
  using namespace std::string_view_literals;
  EXPECT_FALSE(parse_rfc3339("2026-11-23T19:31:49.123Z\0"sv).has_value());
  EXPECT_FALSE(parse_rfc3339("2026-11-23T19:31:4\0.123Z"sv).has_value());
}

// The parser keeps the last date it read on each thread (reads arrive in time order): dates
// that change back and forth, and a first input on a fresh thread that matches the empty memory.
TEST(Rfc3339, TheRememberedDateNeverLeaks) {
  std::thread([] {
    EXPECT_FALSE(parse_rfc3339(std::string(10, '\0') + "T00:00:00Z"));
    EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
    EXPECT_FALSE(parse_rfc3339(std::string(10, '\0') + "T00:00:00Z"));
  }).join();
  const TimestampMs a = *parse_rfc3339("2026-11-23T19:31:49.123Z");
  const TimestampMs b = *parse_rfc3339("2026-11-24T19:31:49.123Z");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(*parse_rfc3339("2026-11-23T19:31:49.123Z"), a);
    EXPECT_EQ(*parse_rfc3339("2026-11-24T19:31:49.123Z"), b);
    EXPECT_EQ(b - a, 86'400'000);
    EXPECT_FALSE(parse_rfc3339("2026-11-24T25:31:49.123Z"));
    EXPECT_FALSE(parse_rfc3339("2026-11-31T19:31:49.123Z"));
  }
}

TEST(Rfc3339, Formats) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(kT), "2026-11-23T19:31:49.123Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(kNoExpiry), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339(kNoStart), "0000-01-01T00:00:00.000Z");
}

TEST(Rfc3339, RoundTripsEveryFormattableInstant) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<TimestampMs> dist(-62167219200000, 253402300799999);
  for (int i = 0; i < 200000; ++i) {
    const TimestampMs t = dist(rng);
    const std::string s = format_rfc3339(t);
    auto back = parse_rfc3339(s);
    ASSERT_TRUE(back.has_value()) << s;
    ASSERT_EQ(*back, t) << s;
  }
  // Every day boundary for 400 years (one Gregorian cycle) round-trips and is monotonic.
  TimestampMs prev = INT64_MIN;
  for (int64_t d = days_from_civil(1900, 1, 1); d < days_from_civil(2300, 1, 1); ++d) {
    const TimestampMs t = d * kMsPerDay;
    const std::string s = format_rfc3339(t);
    ASSERT_EQ(parse_rfc3339(s), t) << s;
    ASSERT_EQ(parse_date_or_timestamp(s.substr(0, 10), false), t) << s;
    ASSERT_GT(t, prev);
    prev = t;
  }
}

TEST(DateOrTimestamp, DateMeansStartOrThroughThatDay) {
  const TimestampMs day = days_from_civil(2026, 12, 31) * kMsPerDay;
  EXPECT_EQ(parse_date_or_timestamp("2026-12-31", false), day);
  EXPECT_EQ(parse_date_or_timestamp("2026-12-31", true), day + kMsPerDay);
  EXPECT_EQ(format_rfc3339(*parse_date_or_timestamp("2026-12-31", true)),
            "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(parse_date_or_timestamp("2024-02-29", true), days_from_civil(2024, 3, 1) * kMsPerDay);
  // A full timestamp is taken as written.
  EXPECT_EQ(parse_date_or_timestamp("2026-11-23T19:31:49.123Z", true), kT);
  EXPECT_EQ(parse_date_or_timestamp("2026-11-23T20:31:49.123+01:00", false), kT);

  const char* bad[] = {"",
                       "2026-02-30",
                       "2026-13-01",
                       "2026-1-01",
                       "26-01-01",
                       "2026-01-01 ",
                       " 2026-01-01",
                       "2026/01/01",
                       "2026-01-01T",
                       "20260101",
                       "2026-01-01Z",
                       "31-12-2026",
                       "2026-12-31T23:59:59"};
  for (const char* b : bad) {
    SCOPED_TRACE(b);
    EXPECT_FALSE(parse_date_or_timestamp(b, false).has_value());
    EXPECT_FALSE(parse_date_or_timestamp(b, true).has_value());
  }
}

TEST(Civil, DaysInMonth) {
  EXPECT_EQ(days_in_month(2024, 2), 29u);
  EXPECT_EQ(days_in_month(2023, 2), 28u);
  EXPECT_EQ(days_in_month(1900, 2), 28u);
  EXPECT_EQ(days_in_month(2000, 2), 29u);
  EXPECT_EQ(days_in_month(2026, 4), 30u);
  EXPECT_EQ(days_in_month(2026, 12), 31u);
}

}  // namespace
}  // namespace anpr
