// Shared by the read decoder's two paths (ingest/read_event.cpp): the event's field names and
// the checks both paths make on them. Internal to ingest; not part of the decoder's interface.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/read_event.h"

namespace anpr::read_event_detail {

// JSON's whitespace (RFC 8259): space, tab, line feed, carriage return.
inline bool is_json_whitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The longest `ts` accepted, in bytes (longer is bad_timestamp without parsing).
inline constexpr std::size_t kMaxTimestampBytes = 64;

// A byte below 0x20 or 0x7f (DEL) in the eight bytes of `w`: for each byte b, the top bit of
// (b - 0x20) & ~b is set exactly when b < 0x20, and that of ((b ^ 0x7f) - 1) & ~(b ^ 0x7f)
// exactly when b == 0x7f (a borrow only crosses into the next byte from a byte that matched, so
// the test of the whole word is exact).
inline constexpr uint64_t kOnes = 0x0101010101010101ull;
inline bool word_has_control(uint64_t w) {
  const uint64_t del = w ^ (kOnes * 0x7f);
  return ((((w - kOnes * 0x20) & ~w) | ((del - kOnes) & ~del)) & (kOnes * 0x80)) != 0;
}

inline uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// A control character in `s`, eight bytes at a time (every read's ids go through here): whole
// words, then the last eight bytes (overlapping the words already checked); a string shorter
// than eight bytes is padded with spaces.
inline bool has_control(std::string_view s) {
  const char* p = s.data();
  std::size_t n = s.size();
  if (n < 8) {
    uint64_t w = kOnes * ' ';
    if (n > 0) std::memcpy(&w, p, n);
    return word_has_control(w);
  }
  for (; n > 8; p += 8, n -= 8)
    if (word_has_control(load8(p))) return true;
  return word_has_control(load8(p + n - 8));
}

// `to` = `s`, keeping `to`'s capacity: append copies without the overlap checks of assign.
inline void set(std::string& to, std::string_view s) {
  to.clear();
  to.append(s);
}

enum Field : int {
  kEventId,
  kCameraId,
  kTs,
  kPlate,
  kPlateCountry,
  kConfidence,
  kCandidates,
  kLane,
  kDirection,
  kLat,
  kLon,
  kPlateJpeg,
  kOverviewJpeg,
  kFieldCount
};
inline constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "event_id", "camera_id", "ts",  "plate", "plate_country", "confidence",   "candidates",
    "lane",     "direction", "lat", "lon",   "plate_jpeg",    "overview_jpeg"};

// `key` is `name` (a literal of N - 1 characters): one fixed-size compare the compiler inlines.
template <std::size_t N>
inline bool is_key(std::string_view key, const char (&name)[N]) {
  return key.size() == N - 1 && std::memcmp(key.data(), name, N - 1) == 0;
}

[[gnu::always_inline]] inline int field_of(std::string_view key) {
  // Every read carries most of these keys: dispatch on the length and a letter, then one compare
  // (scripts/profile_e2e.sh: a loop over the names cost about 400 instructions per read).
  switch (key.size()) {
    case 2:
      return is_key(key, "ts") ? kTs : -1;
    case 3:
      return is_key(key, "lat") ? kLat : is_key(key, "lon") ? kLon : -1;
    case 4:
      return is_key(key, "lane") ? kLane : -1;
    case 5:
      return is_key(key, "plate") ? kPlate : -1;
    case 8:
      return is_key(key, "event_id") ? kEventId : -1;
    case 9:
      return is_key(key, "camera_id") ? kCameraId : is_key(key, "direction") ? kDirection : -1;
    case 10:
      return is_key(key, "confidence")   ? kConfidence
             : is_key(key, "candidates") ? kCandidates
             : is_key(key, "plate_jpeg") ? kPlateJpeg
                                         : -1;
    case 13:
      return is_key(key, "plate_country")   ? kPlateCountry
             : is_key(key, "overview_jpeg") ? kOverviewJpeg
                                            : -1;
    default:
      return -1;
  }
}

// Sorts `keys`; true if one appears twice. O(n log n), so many keys cannot slow us down.
inline bool has_duplicate(std::vector<std::string_view>& keys) {
  if (keys.size() < 2) return false;
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

// The strict scanner for the common shape of a read (ingest/read_event_fast.cpp). `buf` holds
// the message (`n` bytes) followed by at least 64 zero bytes. True: `out` (cleared by the
// caller) holds exactly what the general decoder would produce for this message. False: the
// message has something the scanner does not handle (an escape, a nested unknown value, an
// exponent, any error...) and the general decoder must decide; `out` is then unspecified.
// `unknown` and `cand_unknown` are scratch for the ignored keys of the event and of a candidate.
// `non_ascii`: a string held a byte of 0x80 or above; the answer then stands only if the
// message is valid UTF-8, which the caller checks.
bool scan_read(const char* buf, std::size_t n, ReadEvent& out,
               std::vector<std::string_view>& unknown,
               std::vector<std::string_view>& cand_unknown, bool& non_ascii);

}  // namespace anpr::read_event_detail
