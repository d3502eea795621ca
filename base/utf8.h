// Strict UTF-8 decoding of one sequence, shared by plate normalisation and the JSON writer.
//
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>

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

}  // namespace anpr
