// Plate normalisation (docs/design.md §4): raw OCR text as a camera or an operator wrote it, in UTF-8,
// becomes a Plate of 1..10 characters [A-Z0-9], or a reason why it cannot.
//
// Rules, in order, per code point:
//  - invalid UTF-8 (bad sequences, overlongs, surrogates, > U+10FFFF)  -> invalid_utf8
//  - C0/C1 control characters and DEL                                  -> control_character
//  - separators are dropped: ASCII space, '-', '.', '_', '/', '\'', ',', ':', '·' and the Unicode
//    spaces, dashes and dots listed in plate.cpp
//  - ASCII letters are upper-cased; full-width forms (U+FF10..) fold to ASCII
//  - Cyrillic and Greek letters that look like Latin letters fold to them (А->A, Ο->O, ...)
//  - everything else (accents, emoji, symbols, other scripts)          -> invalid_character
//  - nothing left                                                      -> empty
//  - more than 10 characters left                                      -> too_long
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

#include "match/types.h"

namespace anpr {

enum class NormalizeError : uint8_t {
  empty,
  too_long,
  invalid_utf8,
  control_character,
  invalid_character,
};
// Machine-readable reason, e.g. "plate_too_long".
std::string_view to_string(NormalizeError e);

Expected<Plate, NormalizeError> normalize(std::string_view raw);

}  // namespace anpr
