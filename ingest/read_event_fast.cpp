// The read decoder's fast path: a strict scanner for the shape cameras send (docs/design.md §3),
// in one pass over the message, without building a document.
//
// It accepts a subset of what the general decoder accepts and, for that subset, produces the same
// ReadEvent to the bit: one object of known fields and scalar unknown fields, strings without
// escapes, numbers without exponents (at most 18 integer digits, 19 in all), the candidates array
// of flat objects. Anything else (an escape, a nested unknown value, an exponent, a duplicate
// key, a missing or bad field, trailing bytes) makes it give up, and the general decoder, which
// gives every error its reason and detail, decides. Tests and the read_event fuzzer decode every
// message both ways and compare (tests/read_event_test.cpp, fuzz/read_event_fuzz.cpp).
//
// Outside strings only ASCII is accepted; a string with bytes of 0x80 and above is reported, and
// the caller then checks the whole message's UTF-8, as the general parser does (reads of ASCII
// plates, the usual case, skip that pass).
#include <charconv>

#include "ingest/read_event_detail.h"
#include "match/time.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace anpr::read_event_detail {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The first '"', '\', control character (below 0x20) or byte of a multi-byte UTF-8 character
// (0x80 and above) at or after `p`. The zero padding after the message stops the search at the
// latest at its end.
const char* find_special(const char* p) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below = _mm_set1_epi8(0x1f);
  for (;; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                     _mm_cmpeq_epi8(_mm_max_epu8(x, below), below));  // x <= 0x1f, unsigned
    // The top bit of each byte of x itself marks the bytes of 0x80 and above.
    if (const int bits = _mm_movemask_epi8(_mm_or_si128(hit, x)))
      return p + __builtin_ctz(static_cast<unsigned>(bits));
  }
#else
  while (*p != '"' && *p != '\\' && static_cast<unsigned char>(*p) - 0x20u < 0x60u) ++p;
  return p;
#endif
}

class Scanner {
 public:
  Scanner(const char* buf, std::size_t n) : p_(buf), end_(buf + n) {}

  // Skips whitespace; the next byte (a zero past the end). Compact JSON has none: one compare.
  char peek() {
    while (static_cast<unsigned char>(*p_) <= ' ' && is_json_whitespace(*p_)) ++p_;
    return *p_;
  }
  bool eat(char c) {
    if (peek() != c) return false;
    ++p_;
    return true;
  }
  bool at_end() { return peek() == '\0' && p_ == end_; }

  // Whether a string had a byte of 0x80 or above (then the caller checks the UTF-8; outside
  // strings such a byte is refused as JSON).
  bool non_ascii() const { return non_ascii_; }

  // A string without escapes or control characters.
  bool string(std::string_view& s) {
    if (peek() != '"') return false;
    const char* b = ++p_;
    const char* q = find_special(b);
    while (static_cast<unsigned char>(*q) >= 0x80) {
      non_ascii_ = true;
      q = find_special(q + 1);
    }
    if (*q != '"' || q >= end_) return false;
    s = std::string_view(b, static_cast<std::size_t>(q - b));
    p_ = q + 1;
    return true;
  }

  bool null() {
    if (peek() != 'n' || std::memcmp(p_, "null", 4) != 0) return false;
    p_ += 4;
    return true;
  }

  // A number -?(0|[1-9][0-9]*)(.[0-9]+)? of at most 19 digits, 18 before the point: within
  // these bounds the general parser and this one both give the correctly rounded double.
  // "-0" is left to the general parser (it is an integer there, not -0.0).
  bool number(double& d, bool& integral) {
    peek();
    const char* q = p_;
    const bool negative = *q == '-';
    if (negative) ++q;
    const char* digits = q;
    uint64_t mantissa = 0;
    if (*q == '0') {
      ++q;
    } else {
      for (; is_digit(*q); ++q) mantissa = mantissa * 10 + static_cast<uint64_t>(*q - '0');
    }
    std::size_t count = static_cast<std::size_t>(q - digits);
    if (count == 0 || count > 18) return false;
    integral = *q != '.';
    std::size_t fraction = 0;
    if (!integral) {
      const char* f = ++q;
      for (; is_digit(*q); ++q) mantissa = mantissa * 10 + static_cast<uint64_t>(*q - '0');
      fraction = static_cast<std::size_t>(q - f);
      count += fraction;
      if (fraction == 0 || count > 19) return false;
    } else if (negative && *digits == '0') {
      return false;
    }
    if (*q == 'e' || *q == 'E') return false;
    // Clinger's exact case: the digits and the power of ten are both exact doubles, so the one
    // division rounds correctly. Otherwise the standard library's correctly rounded parse.
    static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                        1e16, 1e17, 1e18, 1e19};
    if (mantissa <= (uint64_t{1} << 53)) {
      d = static_cast<double>(mantissa) / kPow10[fraction];
      if (negative) d = -d;
    } else {
      const auto r = std::from_chars(p_, q, d);
      if (r.ec != std::errc() || r.ptr != q) return false;
    }
    p_ = q;
    return true;
  }

  // An unknown field's value: a scalar (string, number, true, false, null).
  bool skip_scalar() {
    std::string_view s;
    double d;
    bool integral;
    switch (peek()) {
      case '"':
        return string(s);
      case 'n':
        return null();
      case 't':
        return word("true");
      case 'f':
        return word("false");
      default:
        return number(d, integral);
    }
  }

 private:
  template <std::size_t N>
  bool word(const char (&w)[N]) {
    if (std::memcmp(p_, w, N - 1) != 0) return false;
    p_ += N - 1;
    return true;
  }

  const char* p_;
  const char* end_;
  bool non_ascii_ = false;
};

bool number_in(Scanner& s, double lo, double hi, std::optional<double>& out) {
  double d = 0;
  bool integral = false;
  if (!s.number(d, integral) || !(d >= lo && d <= hi)) return false;
  out = d;
  return true;
}

// A string of 1..limit bytes into `to`.
bool bounded(Scanner& s, std::size_t limit, std::string& to) {
  std::string_view v;
  if (!s.string(v) || v.empty() || v.size() > limit) return false;
  set(to, v);
  return true;
}

bool candidates(Scanner& s, ReadEvent& out, std::vector<std::string_view>& unknown) {
  if (!s.eat('[')) return false;
  if (s.eat(']')) return true;
  for (;;) {
    if (out.candidates.size() == kMaxCandidates || !s.eat('{')) return false;
    ReadCandidate& c = out.candidates.emplace_back();
    bool have_plate = false, have_conf = false;
    unknown.clear();
    for (;;) {
      std::string_view key;
      if (!s.string(key) || !s.eat(':')) return false;
      if (key == "plate") {
        if (have_plate || !bounded(s, kMaxRawPlateBytes, c.plate)) return false;
        have_plate = true;
      } else if (key == "confidence") {
        if (have_conf) return false;
        have_conf = true;
        if (!s.null() && !number_in(s, 0.0, 1.0, c.confidence)) return false;
      } else {
        unknown.push_back(key);
        if (!s.skip_scalar()) return false;
      }
      if (s.eat(',')) continue;
      if (s.eat('}')) break;
      return false;
    }
    if (!have_plate || (unknown.size() > 1 && has_duplicate(unknown))) return false;
    if (s.eat(',')) continue;
    if (s.eat(']')) return true;
    return false;
  }
}

bool field(Scanner& s, int f, ReadEvent& out, std::vector<std::string_view>& cand_unknown) {
  std::string_view v;
  switch (f) {
    case kEventId:
    case kCameraId: {
      std::string& to = f == kEventId ? out.event_id : out.camera_id;
      return bounded(s, f == kEventId ? kMaxEventIdBytes : kMaxCameraIdBytes, to) &&
             !has_control(to);
    }
    case kPlate:
      return bounded(s, kMaxRawPlateBytes, out.plate);
    case kTs: {
      if (!s.string(v) || v.empty() || v.size() > kMaxTimestampBytes) return false;
      const auto t = parse_rfc3339(v);
      if (!t) return false;
      out.ts = *t;
      return true;
    }
    default:
      break;
  }
  if (s.null()) return true;  // the optional fields: null is "not given"
  switch (f) {
    case kPlateCountry: {
      if (!s.string(v)) return false;
      const auto c = CountryCode::parse_or_unknown(v);
      if (!c) return false;
      out.plate_country = *c;
      return true;
    }
    case kConfidence:
      return number_in(s, 0.0, 1.0, out.confidence);
    case kCandidates:
      return candidates(s, out, cand_unknown);
    case kLane: {
      double d = 0;
      bool integral = false;
      if (!s.number(d, integral) || !integral || d < INT32_MIN || d > INT32_MAX) return false;
      out.lane = static_cast<int32_t>(d);
      return true;
    }
    case kDirection:
      if (!s.string(v) || v.size() > kMaxDirectionBytes) return false;
      set(out.direction, v);
      return true;
    case kLat:
      return number_in(s, -90.0, 90.0, out.lat);
    case kLon:
      return number_in(s, -180.0, 180.0, out.lon);
    case kPlateJpeg:
    case kOverviewJpeg:
      if (!s.string(v)) return false;
      set(f == kPlateJpeg ? out.plate_jpeg : out.overview_jpeg, v);
      return true;
    default:
      return false;
  }
}

}  // namespace

[[gnu::flatten]] bool scan_read(const char* buf, std::size_t n, ReadEvent& out,
               std::vector<std::string_view>& unknown,
               std::vector<std::string_view>& cand_unknown, bool& non_ascii) {
  Scanner s(buf, n);
  if (!s.eat('{')) return false;
  uint32_t seen = 0;
  unknown.clear();
  for (;;) {
    std::string_view key;
    if (!s.string(key) || !s.eat(':')) return false;
    const int f = field_of(key);
    if (f < 0) {
      unknown.push_back(key);
      if (!s.skip_scalar()) return false;
    } else {
      if (seen & (1u << f)) return false;
      seen |= 1u << f;
      if (!field(s, f, out, cand_unknown)) return false;
    }
    if (s.eat(',')) continue;
    if (s.eat('}')) break;
    return false;
  }
  constexpr uint32_t kRequired = 1u << kEventId | 1u << kCameraId | 1u << kTs | 1u << kPlate;
  non_ascii = s.non_ascii();
  return s.at_end() && (seen & kRequired) == kRequired &&
         out.lat.has_value() == out.lon.has_value() &&
         !(unknown.size() > 1 && has_duplicate(unknown));
}

}  // namespace anpr::read_event_detail
