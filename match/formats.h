// Country plate formats for NL, BE and LU (docs/design.md §4): which normalised plates can exist in a
// country, which series a plate belongs to, and how to print it for a person.
//
// Used to validate reference-list rows, to format plates for display, and to prune fuzzy
// candidates that cannot exist in the read's country. Countries without known formats accept
// every normalised plate. See docs/matching.md for the tables and their sources.
//
// Thread safety: pure functions over constant tables.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "match/types.h"

namespace anpr::formats {

// True for the countries whose formats this module knows (NL, BE, LU).
bool has_formats(CountryCode c);

// The series a plate fits in its country, e.g. "NL sidecode 4", "BE 1-ABC-123",
// "BE personalised", "LU AB 1234". nullopt if it fits none (or the country has no formats).
std::optional<std::string_view> classify(CountryCode c, const Plate& p);

// True if the plate can exist in that country; always true for countries without formats.
bool valid(CountryCode c, const Plate& p);

// NL: the sidecode (1..14) whose shape the plate has (which positions hold letters and which
// digits), whatever its letters; 0 when none. nl_sidecode_pattern(n) is its printed form, e.g.
// "XX-99-XX" for 4 ("" outside 1..14).
int nl_sidecode_of_shape(const Plate& p);
std::string_view nl_sidecode_pattern(int sidecode);

// The plate as printed on the plate, e.g. NL "AB-12-CD", BE "1-ABC-123", LU "AB 1234".
// Plates that fit no format, and countries without formats, print as the normalised text.
std::string display(CountryCode c, const Plate& p);

}  // namespace anpr::formats
