// Strict UTF-8 decoding of one sequence, shared by plate normalisation and the JSON writer.
//
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace anpr {

// Decodes one UTF-8 sequence whose lead byte (>= 0x80) is at p[0]; p < end. Returns the code point
// and sets `len`, or returns -1 for any ill-formed sequence: a continuation or invalid lead byte,
// a truncated sequence, an overlong form, a surrogate, or a value above U+10FFFF. The accepted
// byte ranges are those of Unicode Table 3-7 (Well-Formed UTF-8 Byte Sequences).
inline int32_t decode_utf8(const unsigned char* p, const unsigned char* end, int& len) {
  const unsigned b0 = p[0];
  const std::ptrdiff_t avail = end - p;
  auto cont = [](unsigned b) { return (b & 0xC0u) == 0x80u; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (avail < 2 || !cont(p[1])) return -1;
    len = 2;
    return static_cast<int32_t>(((b0 & 0x1Fu) << 6) | (p[1] & 0x3Fu));
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (avail < 2) return -1;
    const unsigned b1 = p[1];
    const unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F would be overlong
    const unsigned hi = b0 == 0xED ? 0x9F : 0xBF;  // ED A0..BF would be a surrogate
    if (b1 < lo || b1 > hi) return -1;
    if (avail < 3 || !cont(p[2])) return -1;
    len = 3;
    return static_cast<int32_t>(((b0 & 0x0Fu) << 12) | ((b1 & 0x3Fu) << 6) | (p[2] & 0x3Fu));
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (avail < 2) return -1;
    const unsigned b1 = p[1];
    const unsigned lo = b0 == 0xF0 ? 0x90 : 0x80;  // F0 80..8F would be overlong
    const unsigned hi = b0 == 0xF4 ? 0x8F : 0xBF;  // F4 90.. would be above U+10FFFF
    if (b1 < lo || b1 > hi) return -1;
    if (avail < 3 || !cont(p[2])) return -1;
    if (avail < 4 || !cont(p[3])) return -1;
    len = 4;
    return static_cast<int32_t>(((b0 & 0x07u) << 18) | ((b1 & 0x3Fu) << 12) |
                                ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu));
  }
  return -1;  // 0x80..0xBF (continuation), 0xC0/0xC1 (overlong), 0xF5..0xFF
}

// Characters a text field of a reference list may not hold (docs/operators.md, the rejection
// reason text_control_character):
// they could hide or reorder what a person reads on a page, a terminal or a spreadsheet. C0
// controls (tab and newlines included), DEL, C1 controls, the bidirectional overrides and
// isolates U+202A..U+202E and U+2066..U+2069, the zero-width U+200B..U+200D and U+FEFF.
constexpr bool unsafe_text_char(int32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200D) ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

// The first character of `s` that unsafe_text_char() refuses, with its byte offset in `at`; -1
// when there is none. `allow_line_feed`: a line feed (U+000A) is text here (a note may have
// several lines). Ill-formed UTF-8 is skipped a byte at a time (the caller checks it).
inline int32_t find_unsafe_text_char(std::string_view s, std::size_t& at,
                                     bool allow_line_feed = false) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  for (const auto* q = p; q < end;) {
    int len = 1;
    const int32_t cp = *q < 0x80 ? int32_t{*q} : decode_utf8(q, end, len);
    if (cp >= 0 && unsafe_text_char(cp) && !(allow_line_feed && cp == 0x0A)) {
      at = static_cast<std::size_t>(q - p);
      return cp;
    }
    q += cp < 0 ? 1 : len;
  }
  return -1;
}

}  // namespace anpr
