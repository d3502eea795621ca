// Plate normalisation (plate.h, docs/design.md §4).
//
// One pass over the bytes, left to right, no allocation. Each code point is decoded strictly and
// classified as kept (it becomes one of [A-Z0-9]), dropped (a separator) or a problem; the first
// problem in reading order is the answer. An 11th kept character answers too_long at once, so a
// long input costs no more than its first 11 kept characters (and what precedes them).
//
// ASCII bytes take the fast path: one lookup in a 256-entry table per byte. Other bytes are
// decoded as UTF-8 and the code point is mapped by `classify_code_point()`.
//
// Code points the normaliser knows besides ASCII:
//  - separators (dropped): U+00A0 NO-BREAK SPACE, U+00B7 MIDDLE DOT, U+2000..U+200B (Unicode
//    spaces and ZERO WIDTH SPACE), U+2010..U+2015 (hyphens and dashes), U+2027 HYPHENATION POINT,
//    U+202F NARROW NO-BREAK SPACE, U+205F MEDIUM MATHEMATICAL SPACE, U+2212 MINUS SIGN,
//    U+2219 BULLET OPERATOR, U+22C5 DOT OPERATOR, U+3000 IDEOGRAPHIC SPACE, U+30FB KATAKANA
//    MIDDLE DOT, U+FF0D FULLWIDTH HYPHEN-MINUS, U+FF0E FULLWIDTH FULL STOP;
//  - full-width digits and letters U+FF10..U+FF19, U+FF21..U+FF3A, U+FF41..U+FF5A fold to ASCII
//    (letters upper-cased);
//  - Cyrillic look-alikes, capital and small: А В Е К М Н О Р С Т У Х І Ј Ѕ -> A B E K M H O P C
//    T Y X I J S (small в к м н т fold too: OCR engines emit them for the Latin capitals);
//  - Greek capitals Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ -> A B E Z H I K M N O P T Y X and Greek small
//    α ι κ ν ο ρ τ υ χ -> A I K V O P T Y X;
//  - C1 controls U+0080..U+009F are control characters, like C0 and DEL.
// Everything else (accents, other scripts, emoji, format characters such as ZWJ, RTL marks and
// the BOM) is an invalid character.
#include "match/plate.h"

#include "base/utf8.h"

#include <array>
#include <cstdint>

namespace anpr {

namespace {

// Byte classes of the ASCII table; kept characters are stored as themselves ('0'..'Z' > 3).
enum : uint8_t {
  kInvalid = 0,    // -> invalid_character
  kSeparator = 1,  // dropped
  kControl = 2,    // -> control_character
  kMultiByte = 3,  // first byte >= 0x80: decode UTF-8
};

constexpr std::array<uint8_t, 256> make_ascii_table() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = kInvalid;
  for (int c = 0; c < 0x20; ++c) t[c] = kControl;
  t[0x7F] = kControl;
  for (int c = 0x80; c < 0x100; ++c) t[c] = kMultiByte;
  for (char c : {' ', '-', '.', '_', '/', '\'', ',', ':'}) t[static_cast<uint8_t>(c)] = kSeparator;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<uint8_t>(c);
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = static_cast<uint8_t>(c);
  for (int c = 'a'; c <= 'z'; ++c) t[c] = static_cast<uint8_t>(c - 'a' + 'A');
  return t;
}
constexpr std::array<uint8_t, 256> kAscii = make_ascii_table();

// Class of a non-ASCII code point: a kept character ('0'..'Z'), kSeparator, kControl or kInvalid.
inline uint8_t classify_code_point(int32_t cp) {
  if (cp <= 0x9F) return kControl;  // C1 controls (ASCII never gets here)
  if (cp >= 0xFF10 && cp <= 0xFF5A) {
    if (cp <= 0xFF19) return static_cast<uint8_t>('0' + (cp - 0xFF10));
    if (cp >= 0xFF21 && cp <= 0xFF3A) return static_cast<uint8_t>('A' + (cp - 0xFF21));
    if (cp >= 0xFF41) return static_cast<uint8_t>('A' + (cp - 0xFF41));
    return kInvalid;
  }
  if (cp >= 0x2000 && cp <= 0x200B) return kSeparator;
  if (cp >= 0x2010 && cp <= 0x2015) return kSeparator;
  // clang-format off
  switch (cp) {
    // Separators.
    case 0x00A0: case 0x00B7: case 0x2027: case 0x202F: case 0x205F: case 0x2212:
    case 0x2219: case 0x22C5: case 0x3000: case 0x30FB: case 0xFF0D: case 0xFF0E:
      return kSeparator;
    // Greek capitals.
    case 0x0391: return 'A';
    case 0x0392: return 'B';
    case 0x0395: return 'E';
    case 0x0396: return 'Z';
    case 0x0397: return 'H';
    case 0x0399: return 'I';
    case 0x039A: return 'K';
    case 0x039C: return 'M';
    case 0x039D: return 'N';
    case 0x039F: return 'O';
    case 0x03A1: return 'P';
    case 0x03A4: return 'T';
    case 0x03A5: return 'Y';
    case 0x03A7: return 'X';
    // Greek small.
    case 0x03B1: return 'A';
    case 0x03B9: return 'I';
    case 0x03BA: return 'K';
    case 0x03BD: return 'V';  // nu
    case 0x03BF: return 'O';
    case 0x03C1: return 'P';
    case 0x03C4: return 'T';
    case 0x03C5: return 'Y';
    case 0x03C7: return 'X';
    // Cyrillic capitals.
    case 0x0405: return 'S';  // Ѕ
    case 0x0406: return 'I';  // І
    case 0x0408: return 'J';  // Ј
    case 0x0410: return 'A';
    case 0x0412: return 'B';
    case 0x0415: return 'E';
    case 0x041A: return 'K';
    case 0x041C: return 'M';
    case 0x041D: return 'H';
    case 0x041E: return 'O';
    case 0x0420: return 'P';
    case 0x0421: return 'C';
    case 0x0422: return 'T';
    case 0x0423: return 'Y';
    case 0x0425: return 'X';
    // Cyrillic small.
    case 0x0430: return 'A';
    case 0x0432: return 'B';
    case 0x0435: return 'E';
    case 0x043A: return 'K';
    case 0x043C: return 'M';
    case 0x043D: return 'H';
    case 0x043E: return 'O';
    case 0x0440: return 'P';
    case 0x0441: return 'C';
    case 0x0442: return 'T';
    case 0x0443: return 'Y';
    case 0x0445: return 'X';
    case 0x0455: return 'S';  // ѕ
    case 0x0456: return 'I';  // і
    case 0x0458: return 'J';  // ј
    default: return kInvalid;
  }
  // clang-format on
}

}  // namespace

std::string_view to_string(NormalizeError e) {
  // clang-format off
  switch (e) {
    case NormalizeError::empty: return "plate_empty";
    case NormalizeError::too_long: return "plate_too_long";
    case NormalizeError::invalid_utf8: return "plate_invalid_utf8";
    case NormalizeError::control_character: return "plate_control_character";
    case NormalizeError::invalid_character: return "plate_invalid_character";
  }
  // clang-format on
  return "plate_unknown_error";
}

Expected<Plate, NormalizeError> normalize(std::string_view raw) {
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  const auto* const end = p + raw.size();
  PlateBuilder b;
  while (p < end) {
    uint8_t t = kAscii[*p];
    if (t == kMultiByte) {
      int len = 0;
      const int32_t cp = decode_utf8(p, end, len);
      if (cp < 0) return NormalizeError::invalid_utf8;
      p += len;
      t = classify_code_point(cp);
    } else {
      ++p;
    }
    switch (t) {
      case kSeparator:
        continue;
      case kInvalid:
        return NormalizeError::invalid_character;
      case kControl:
        return NormalizeError::control_character;
      default:
        if (!b.push(static_cast<char>(t))) return NormalizeError::too_long;
    }
  }
  if (b.size() == 0) return NormalizeError::empty;
  return b.plate();
}

}  // namespace anpr
