// Synthetic but realistic data for the match benchmarks: Benelux plates in their real shapes,
// reference lists of unique plates per country, and query streams with a fixed 1 % hit rate.
//
// Everything is deterministic (fixed seeds), so two runs measure the same work.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "match/confusion.h"
#include "match/registry_rules.h"
#include "match/types.h"

namespace anpr::bench {

// splitmix64: fast, good enough for test data, and reproducible everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (Lemire's multiply-shift; the bias is irrelevant here).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  uint64_t s_;
};

// ---- plate shapes ----
// 'L' NL sidecode letter (BDFGHJKLNPRSTVXZ), 'A' any letter, 'D' digit, 'N' digit 1-9.
inline constexpr std::string_view kNlLetters = "BDFGHJKLNPRSTVXZ";

// NL sidecodes 4..14 (the ones issued since 1978), BE 1-ABC-123, LU AB 1234.
inline constexpr std::array<std::string_view, 11> kNlShapes = {
    "LLDDLL", "LLLLDD", "DDLLLL", "DDLLLD", "DLLLDD", "LLDDDL",
    "LDDDLL", "LLLDDL", "LDDLLL", "DLLDDD", "DDDLLD"};
inline constexpr std::string_view kBeShape = "NAAADDD";
inline constexpr std::string_view kLuShape = "AADDDD";

inline Plate plate_of_shape(Rng& rng, std::string_view shape) {
  PlateBuilder b;
  for (char s : shape) {
    switch (s) {
      case 'L':
        b.push(kNlLetters[rng.below(kNlLetters.size())]);
        break;
      case 'A':
        b.push(static_cast<char>('A' + rng.below(26)));
        break;
      case 'D':
        b.push(static_cast<char>('0' + rng.below(10)));
        break;
      default:
        b.push(static_cast<char>('1' + rng.below(9)));
        break;  // 'N'
    }
  }
  return b.plate();
}

// Country mix of lists and reads: 60 % NL, 30 % BE, 10 % LU.
inline CountryCode random_country(Rng& rng) {
  const uint64_t r = rng.below(10);
  return r < 6 ? kNL : r < 9 ? kBE : kLU;
}

inline std::string_view random_shape(Rng& rng, CountryCode c) {
  if (c == kNL) return kNlShapes[rng.below(kNlShapes.size())];
  return c == kBE ? kBeShape : kLuShape;
}

// A plate its registry issues: NL plates with a combination the RDW avoids
// (match/registry_rules.h) are drawn again, so generated reference lists load without rejections.
inline Plate random_plate(Rng& rng, CountryCode c) {
  for (;;) {
    Plate p = plate_of_shape(rng, random_shape(rng, c));
    if (c != kNL || !registry_rules::not_issued(c, p)) return p;
  }
}

// (country, plate) packed like the index does it, for sorting and membership tests.
inline uint64_t combined(CountryCode c, uint64_t plate_key) {
  return (static_cast<uint64_t>(c.raw()) << Plate::kKeyBits) | plate_key;
}

// ---- mutations a camera's OCR makes ----

// The default confusion classes (docs/design.md §4); checked against ConfusionClasses at start-up.
inline constexpr std::array<std::string_view, 6> kConfusable = {"0ODQ", "1I", "2Z",
                                                                "5S",   "8B", "6G"};

inline std::string_view confusion_class_of(char c) {
  for (std::string_view k : kConfusable)
    if (k.find(c) != std::string_view::npos) return k;
  return {};
}

// The plate with one character replaced by another of its confusion class (B->8, O->0, ...);
// false if the plate has no confusable character.
inline bool confusable_substitution(Rng& rng, const Plate& p, Plate& out) {
  std::array<std::size_t, Plate::kMaxLen> at{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (!confusion_class_of(p[i]).empty()) at[n++] = i;
  if (n == 0) return false;
  const std::size_t pos = at[rng.below(n)];
  const std::string_view k = confusion_class_of(p[pos]);
  char c = p[pos];
  while (c == p[pos]) c = k[rng.below(k.size())];
  PlateBuilder b;
  for (std::size_t i = 0; i < p.size(); ++i) b.push(i == pos ? c : p[i]);
  out = b.plate();
  return true;
}

// The plate with one character missing or one extra character (half each).
inline Plate single_edit(Rng& rng, const Plate& p) {
  static constexpr std::string_view kSymbols = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  PlateBuilder b;
  if (p.size() >= 2 && (p.size() == Plate::kMaxLen || rng.chance(50))) {
    const std::size_t del = rng.below(p.size());
    for (std::size_t i = 0; i < p.size(); ++i)
      if (i != del) b.push(p[i]);
  } else {
    const std::size_t ins = rng.below(p.size() + 1);
    for (std::size_t i = 0; i <= p.size(); ++i) {
      if (i == ins) b.push(kSymbols[rng.below(kSymbols.size())]);
      if (i < p.size()) b.push(p[i]);
    }
  }
  return b.plate();
}

// ---- raw camera strings for the normalisation benchmark ----

inline void append_utf8(std::string& s, char32_t cp) {
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Cyrillic capital look-alike of a Latin capital, or 0.
inline char32_t cyrillic_lookalike(char c) {
  switch (c) {
    case 'A':
      return 0x0410;
    case 'B':
      return 0x0412;
    case 'E':
      return 0x0415;
    case 'K':
      return 0x041A;
    case 'M':
      return 0x041C;
    case 'H':
      return 0x041D;
    case 'O':
      return 0x041E;
    case 'P':
      return 0x0420;
    case 'C':
      return 0x0421;
    case 'T':
      return 0x0422;
    case 'X':
      return 0x0425;
    default:
      return 0;
  }
}

// A plate as a camera might send it: printed with its country's separators ("AB-12-CD",
// "1-ABC-123", "AB 1234"), sometimes in lower case, with spaces or without separators, and
// sometimes with one character as a full-width form or a Cyrillic look-alike.
inline std::string raw_camera_string(Rng& rng, CountryCode c, const Plate& p) {
  const std::string_view v = p.view();
  // Group boundaries: where letters and digits alternate; NL "XX-XX-99" style splits 4 into 2+2.
  std::array<bool, Plate::kMaxLen + 1> cut{};
  auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  std::size_t groups = 1;
  for (std::size_t i = 1; i < v.size(); ++i)
    if (digit(v[i]) != digit(v[i - 1])) cut[i] = true, ++groups;
  if (c == kNL && groups == 2) cut[cut[2] ? 4 : 2] = true;
  const uint64_t style = rng.below(10);
  const char sep = c == kLU ? ' ' : style < 2 ? ' ' : style < 3 ? '.' : '-';
  const bool no_sep = style == 9;
  const bool lower = c == kNL ? rng.chance(40) : rng.chance(10);
  const uint64_t exotic = rng.below(20);  // 0: full-width, 1: Cyrillic, 2: spaces around
  const std::size_t exotic_at = rng.below(v.size());
  std::string s;
  if (exotic == 2) s += "  ";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (cut[i] && !no_sep) s.push_back(sep);
    const char ch = v[i];
    if (i == exotic_at && exotic == 0) {
      append_utf8(s, digit(ch) ? 0xFF10 + (ch - '0') : 0xFF21 + (ch - 'A'));
    } else if (i == exotic_at && exotic == 1 && cyrillic_lookalike(ch) != 0) {
      append_utf8(s, cyrillic_lookalike(ch));
    } else {
      s.push_back(lower && !digit(ch) ? static_cast<char>(ch - 'A' + 'a') : ch);
    }
  }
  if (exotic == 2) s += " ";
  return s;
}

}  // namespace anpr::bench
