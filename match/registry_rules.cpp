// The registries' issuing rules (registry_rules.h); the rules themselves are data in
// match/nl_registry_rules.txt.
#include "match/registry_rules.h"

#include <cstdio>
#include <cstdlib>

#include "match/formats.h"

namespace anpr::registry_rules {

namespace {

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

// Splits a line into fields separated by spaces and tabs.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// "N" or "N-M" within 1..14.
bool parse_range(std::string_view s, int& from, int& to) {
  const auto number = [](std::string_view t, int& v) {
    if (t.empty() || t.size() > 2) return false;
    v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    return v >= 1 && v <= kNlSidecodes;
  };
  const std::size_t dash = s.find('-');
  if (dash == std::string_view::npos) {
    if (!number(s, from)) return false;
    to = from;
    return true;
  }
  return number(s.substr(0, dash), from) && number(s.substr(dash + 1), to) && from <= to;
}

bool parse_letters(std::string_view s, uint32_t& set) {
  set = 0;
  if (s == "-") return true;
  for (char c : s) {
    if (!is_upper(c)) return false;
    set |= 1u << (c - 'A');
  }
  return !s.empty();
}

// "A and C", "A, E and C".
std::string and_list(const std::string& letters) {
  std::string out;
  for (std::size_t i = 0; i < letters.size(); ++i) {
    if (i > 0) out += i + 1 == letters.size() ? " and " : ", ";
    out += letters[i];
  }
  return out;
}

std::string letters_of(uint32_t set) {
  std::string out;
  for (int i = 0; i < 26; ++i)
    if (set >> i & 1u) {
      if (!out.empty()) out += ' ';
      out += static_cast<char>('A' + i);
    }
  return out;
}

}  // namespace

Parse parse_nl(std::string_view text) {
  NlRules r;
  std::array<bool, kNlSidecodes + 1> have{};
  std::size_t line_no = 0;
  const auto fail = [&](const std::string& what) {
    return Parse{std::nullopt, "line " + std::to_string(line_no) + ": " + what};
  };
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    const auto f = fields_of(line);
    if (f.empty()) continue;
    int from = 0, to = 0;
    if (f[0] == "letters") {
      if (f.size() != 5) return fail("expected: letters SIDECODES LETTERS FIRST SOURCES");
      if (!parse_range(f[1], from, to)) return fail("sidecodes: expected N or N-M within 1..14");
      uint32_t letters = 0, first = 0;
      if (!parse_letters(f[2], letters) || letters == 0)
        return fail("letters: expected capital letters A-Z");
      if (!parse_letters(f[3], first)) return fail("first: expected capital letters A-Z or -");
      for (int s = from; s <= to; ++s) {
        if (have[s]) return fail("sidecode " + std::to_string(s) + " has a letters rule already");
        have[s] = true;
        r.letters[s] = letters;
        r.first_only[s] = first & ~letters;
      }
    } else if (f[0] == "avoid") {
      if (f.size() != 4) return fail("expected: avoid SIDECODES COMBINATION SOURCES");
      if (!parse_range(f[1], from, to)) return fail("sidecodes: expected N or N-M within 1..14");
      const std::string_view combo = f[2];
      if (combo.size() < 2 || combo.size() > 3) return fail("combination: expected 2 or 3 letters");
      for (char c : combo)
        if (!is_upper(c)) return fail("combination: expected capital letters A-Z");
      r.avoided.push_back(Avoided{std::string(combo), from, to, std::string(f[3])});
    } else {
      return fail("unknown rule '" + std::string(f[0]) + "': expected letters or avoid");
    }
  }
  for (int s = 1; s <= kNlSidecodes; ++s)
    if (!have[s]) {
      line_no = 0;
      return Parse{std::nullopt, "sidecode " + std::to_string(s) + " has no letters rule"};
    }
  return Parse{std::move(r), {}};
}

const NlRules& nl() {
  static const NlRules rules = [] {
    Parse p = parse_nl(nl_rules_text());
    if (!p.rules) {
      std::fprintf(stderr, "anpr: built-in match/nl_registry_rules.txt: %s\n", p.error.c_str());
      std::abort();
    }
    return std::move(*p.rules);
  }();
  return rules;
}

std::optional<Finding> not_issued(CountryCode c, const Plate& p, const NlRules& rules) {
  if (c != kNL) return std::nullopt;
  const int sidecode = formats::nl_sidecode_of_shape(p);
  if (sidecode == 0) return std::nullopt;
  const std::string_view pattern = formats::nl_sidecode_pattern(sidecode);
  const auto series = [&] {
    return "NL sidecode " + std::to_string(sidecode) + " (" + std::string(pattern) + ")";
  };

  // Letters the series does not use (each named once, in plate order).
  const uint32_t set = rules.letters[sidecode];
  const uint32_t first = rules.first_only[sidecode];
  std::string bad;
  bool first_letter = true;
  bool bad_first_only = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char ch = p[i];
    if (!is_upper(ch)) continue;
    const uint32_t bit = 1u << (ch - 'A');
    const bool ok = (set & bit) || (first_letter && (first & bit));
    if (!ok) {
      if (first & bit) bad_first_only = true;
      if (bad.find(ch) == std::string::npos) bad.push_back(ch);
    }
    first_letter = false;
  }
  if (!bad.empty()) {
    std::string d = "the plate is in the form of " + series() +
                    ", whose letters the RDW takes from " + letters_of(set);
    if (first != 0) d += " (and " + letters_of(first) + " only as the plate's first letter)";
    d += "; " + and_list(bad) + (bad.size() == 1 ? " is" : " are") +
         " not issued there";
    if (bad_first_only) d += " (or not in that position)";
    return Finding{"plate_letters_not_issued", std::move(d)};
  }

  // Avoided combinations, within one letter group of the printed form.
  std::size_t at = 0;
  for (std::size_t k = 0; k <= pattern.size(); ++k) {
    const bool end = k == pattern.size() || (pattern[k] != 'X' && pattern[k] != '9');
    if (!end) continue;
    // The group is pattern[start, k); its plate characters end at `at` (exclusive).
    std::size_t start = k;
    while (start > 0 && (pattern[start - 1] == 'X' || pattern[start - 1] == '9')) --start;
    const std::size_t len = k - start;
    const std::size_t from = at;
    at += len;
    if (len == 0 || pattern[start] != 'X') continue;
    const std::string_view group = p.view().substr(from, len);
    for (const Avoided& a : rules.avoided) {
      if (sidecode < a.from || sidecode > a.to) continue;
      if (group.find(a.combination) == std::string_view::npos) continue;
      return Finding{
          "plate_combination_avoided",
          "the plate is in the form of " + series() + " and its letters hold " + a.combination +
              ", a combination the RDW does not issue in sidecodes " + std::to_string(a.from) +
              "-" + std::to_string(a.to) + " (docs/matching.md, sources " + a.sources +
              ")"};
    }
  }
  return std::nullopt;
}

}  // namespace anpr::registry_rules
