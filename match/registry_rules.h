// What the registries issue, beyond a plate's shape (docs/matching.md, "Plates the registry does
// not issue"): for NL, the letters each sidecode uses and the letter combinations the RDW does
// not issue. The rules are data, match/nl_registry_rules.txt, with their public sources; the file
// is built into the binary (cmake/embed_text.cmake) and parsed once, on first use.
//
// The letter sets are used by match/formats.h for every plate (whether an NL plate can exist).
// not_issued() is for reference-list rows only: camera reads are never judged by it.
//
// Thread safety: the rules are parsed once (a function-local static) and never change.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "match/types.h"

namespace anpr::registry_rules {

inline constexpr int kNlSidecodes = 14;

struct Avoided {
  std::string combination;  // 2 or 3 letters A-Z
  int from = 0, to = 0;     // sidecodes it applies to, inclusive
  std::string sources;      // as written in the file, e.g. "[rdw][nrc]"
};

struct NlRules {
  // By sidecode (index 1..14; 0 unused): bit i set when letter 'A'+i is used.
  std::array<uint32_t, kNlSidecodes + 1> letters{};
  // Letters used only as the plate's first letter (e.g. O for semi-trailers).
  std::array<uint32_t, kNlSidecodes + 1> first_only{};
  std::vector<Avoided> avoided;
};

struct Parse {
  std::optional<NlRules> rules;
  std::string error;  // "line N: what is wrong", when rules is empty
};
// Parses rules text in the format described at the top of match/nl_registry_rules.txt.
Parse parse_nl(std::string_view text);

// The built-in rules (match/nl_registry_rules.txt). The text is checked by the tests; should it
// ever not parse, the process stops with the parse error on stderr at first use.
const NlRules& nl();
// The built-in text, as embedded.
std::string_view nl_rules_text();

// Why a registry never issues this plate, when its shape is one of the country's forms.
struct Finding {
  std::string_view reason;  // "plate_letters_not_issued" | "plate_combination_avoided"
  std::string detail;       // names the series, the letters or combination, and the rule; never
                            // the whole plate (docs/design.md §6); no advice (the caller's)
};
// For a reference-list row of country `c`: nullopt when the plate breaks no issuing rule (or `c`
// has none, or the plate fits no form at all: formats::valid() reports that).
std::optional<Finding> not_issued(CountryCode c, const Plate& p, const NlRules& rules = nl());

}  // namespace anpr::registry_rules
