#include "match/time.h"

#include <algorithm>
#include <cstring>

namespace anpr {
namespace {

constexpr TimestampMs kMinFormattable = days_from_civil(0, 1, 1) * kMsPerDay;
constexpr TimestampMs kMaxFormattable = days_from_civil(10000, 1, 1) * kMsPerDay - 1;

struct Civil {
  int64_t y;
  unsigned m, d;
};

// Inverse of days_from_civil (H. Hinnant's algorithm).
constexpr Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(civil_from_days(11017).y == 2000 && civil_from_days(11017).m == 3);

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly n ASCII digits at s[pos..]; false if any is not a digit.
bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  return true;
}

// "YYYY-MM-DD" at the start of s -> days since the epoch.
std::optional<int64_t> parse_date_prefix(std::string_view s) {
  unsigned y = 0, m = 0, d = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, m) || s[7] != '-' ||
      !digits(s, 8, 2, d))
    return std::nullopt;
  if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return std::nullopt;
  return days_from_civil(y, m, d);
}

void put2(std::string& out, std::size_t pos, unsigned v) {
  out[pos] = static_cast<char>('0' + v / 10 % 10);
  out[pos + 1] = static_cast<char>('0' + v % 10);
}

}  // namespace

std::optional<TimestampMs> parse_rfc3339(std::string_view s) {
  // 0123456789012345678
  // YYYY-MM-DDThh:mm:ss
  if (s.size() < 20) return std::nullopt;
  // Reads arrive in time order, so most share the previous one's date on this thread: its ten
  // bytes are compared, and only a new date is parsed and checked.
  struct LastDate {
    char text[10] = {};
    int64_t days = 0;
    bool set = false;  // nothing parsed yet: ten NUL bytes are not a date
  };
  thread_local LastDate last;
  std::optional<int64_t> days;
  if (last.set && std::memcmp(s.data(), last.text, 10) == 0) {
    days = last.days;
  } else {
    days = parse_date_prefix(s);
    if (!days) return std::nullopt;
    std::memcpy(last.text, s.data(), 10);
    last.days = *days;
    last.set = true;
  }
  if (s[10] != 'T' && s[10] != 't') return std::nullopt;
  unsigned hh = 0, mm = 0, ss = 0;
  if (!digits(s, 11, 2, hh) || s[13] != ':' || !digits(s, 14, 2, mm) || s[16] != ':' ||
      !digits(s, 17, 2, ss))
    return std::nullopt;
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;

  std::size_t pos = 19;
  unsigned ms = 0;
  if (s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && is_digit(s[pos])) {
      if (pos - start < 3) ms = ms * 10 + static_cast<unsigned>(s[pos] - '0');
      ++pos;
    }
    const std::size_t n = pos - start;
    if (n < 1 || n > 9) return std::nullopt;
    for (std::size_t i = n; i < 3; ++i) ms *= 10;
  }
  if (ss == 60) {  // leap second: the last millisecond of the minute (see time.h)
    ss = 59;
    ms = 999;
  }

  if (pos >= s.size()) return std::nullopt;
  int64_t offset_min = 0;
  const char z = s[pos];
  if (z == 'Z' || z == 'z') {
    ++pos;
  } else if (z == '+' || z == '-') {
    unsigned oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om))
      return std::nullopt;
    if (oh > 23 || om > 59) return std::nullopt;
    offset_min = static_cast<int64_t>(oh * 60 + om) * (z == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;

  const int64_t local_ms =
      *days * kMsPerDay + (static_cast<int64_t>(hh) * 3600 + mm * 60 + ss) * 1000 + ms;
  const TimestampMs utc = local_ms - offset_min * 60'000;                   // local = UTC + offset
  if (utc < kMinFormattable || utc > kMaxFormattable) return std::nullopt;  // see time.h
  return utc;
}

std::string format_rfc3339(TimestampMs t) {
  t = std::clamp(t, kMinFormattable, kMaxFormattable);
  int64_t days = t / kMsPerDay;
  int64_t rem = t % kMsPerDay;
  if (rem < 0) {
    rem += kMsPerDay;
    --days;
  }
  const Civil c = civil_from_days(days);
  const auto ms_of_day = static_cast<unsigned>(rem);
  std::string out = "0000-00-00T00:00:00.000Z";
  const auto y = static_cast<unsigned>(c.y);
  put2(out, 0, y / 100);
  put2(out, 2, y % 100);
  put2(out, 5, c.m);
  put2(out, 8, c.d);
  put2(out, 11, ms_of_day / 3'600'000);
  put2(out, 14, ms_of_day / 60'000 % 60);
  put2(out, 17, ms_of_day / 1000 % 60);
  const unsigned ms = ms_of_day % 1000;
  out[20] = static_cast<char>('0' + ms / 100);
  put2(out, 21, ms % 100);
  return out;
}

std::optional<TimestampMs> parse_date_or_timestamp(std::string_view s, bool end_of_day) {
  if (s.size() == 10) {
    const auto days = parse_date_prefix(s);
    if (!days) return std::nullopt;
    return (*days + (end_of_day ? 1 : 0)) * kMsPerDay;
  }
  return parse_rfc3339(s);
}

}  // namespace anpr
