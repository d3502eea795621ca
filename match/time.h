// Timestamps as text: strict RFC 3339 parsing and formatting, and the "date or timestamp" form
// used by reference lists for validity bounds. Pure arithmetic (days-from-civil); no locale, no
// TZ environment, no timegm.
//
// Accepted by parse_rfc3339 (and nothing else):
//   YYYY-MM-DD[Tt]hh:mm:ss[.f{1,9}](Z|z|+hh:mm|-hh:mm)
// - exactly 4-digit year 0000..9999, 2-digit month/day/hour/minute/second; the day must exist in
//   that month (leap years by the Gregorian rule);
// - hour 00..23, minute 00..59, second 00..60, offset hours 00..23 and minutes 00..59;
// - fractional seconds: 1..9 digits after '.', truncated (not rounded) to milliseconds;
// - leap second: second 60 is accepted and read as 59.999 of that minute (the last representable
//   millisecond), so a leap-second read sorts after every other read of that minute and never
//   spills into the next minute. Its fraction, if any, is ignored.
// - the instant, in UTC, must lie in 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z, so every
//   accepted text round-trips through format_rfc3339 (an offset can push a local time in year
//   0000 or 9999 outside that range).
// Rejected: a space instead of 'T', missing offset, offsets without a colon, signs or spaces
// around the text, trailing bytes, 2-digit years, 24:00:00, and anything non-ASCII.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "match/types.h"

namespace anpr {

inline constexpr int64_t kMsPerDay = 86'400'000;

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31; not validated).
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);             // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// True for Gregorian leap years.
constexpr bool is_leap_year(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

// Number of days in a month (1..12) of a year.
constexpr unsigned days_in_month(int64_t y, unsigned m) {
  constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap_year(y) ? 29 : kDays[m - 1];
}

// "2026-11-23T19:31:49.123Z" (any offset, see above) -> ms since the epoch; nullopt if the text
// is not strictly RFC 3339 or names a date that does not exist.
std::optional<TimestampMs> parse_rfc3339(std::string_view s);

// Always UTC with exactly three fractional digits and 'Z': "2026-11-23T19:31:49.123Z".
// Timestamps before 0000-01-01T00:00:00.000Z or after 9999-12-31T23:59:59.999Z are clamped to
// those bounds (so kNoStart and kNoExpiry print as the first and last representable instants);
// everything in between round-trips through parse_rfc3339.
std::string format_rfc3339(TimestampMs ms);

// "YYYY-MM-DD" or a full RFC 3339 timestamp. A bare date means 00:00:00.000Z of that day, or,
// with end_of_day = true, 00:00:00.000Z of the NEXT day: an exclusive upper bound meaning "valid
// through that day" (UTC). A full timestamp is taken as written whatever end_of_day says.
std::optional<TimestampMs> parse_date_or_timestamp(std::string_view s, bool end_of_day);

}  // namespace anpr
