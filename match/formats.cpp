// Country plate formats for NL, BE and LU (formats.h, docs/design.md §4).
//
// A plate is matched by its shape (which positions hold letters and which digits) and then by the
// letters a series allows. Digits are never restricted: no source gives digit ranges precise
// enough to prune on (e.g. NL "00" pairs were issued on CD plates). The tables below are meant to
// reject what cannot exist and to print plates for people; where sources disagree or are vague,
// they err on the side of accepting, since a plate wrongly rejected would prune a true hit.
//
// SOURCES (consulted through stored copies of these pages):
//  NL
//   [nl1] https://www.nummerborden.info/info-nl-kentekens  (RDW table of sidecodes 6-11 with
//         start dates; sidecodes 12-14 XXX shapes; first letters per vehicle class; "since
//         sidecode 4 no vowels (except semi-trailers), no C and Q")
//   [nl2] https://www.autoscout24.nl/informeren/advies/wetgeving/alles-over-de-kentekenplaat
//         (all 14 shapes, 12-14 not issued yet: X-99-XXX, 9-XX-999, 999-XX-9)
//   [nl3] https://wownwr.best/article/the-rules-behind-the-dutch-license-plates/3342 (copy of
//         Dik T. Winter's "Rules behind the Dutch license plates": from sequence 4 the vowels
//         went, Y was added and M restricted to motorcycles)
//   [nl4] https://memim.com/vehicle-registration-plates-of-the-netherlands.html (Y dropped from
//         sidecode 7 on; C/Q only in CD)
//   [nl5] https://nl.frwiki.wiki./wiki/Plaque_d%27immatriculation_n%C3%A9erlandaise (sidecode 1
//         re-used for imported oldtimers with vowel series such as AE, DE; sidecode 2 for ZZ;
//         sidecode 3 for youngtimers YA, YB, YD; sidecode 4 now issued to semi-trailers "O")
//   [nl6] https://www.rtlnieuws.nl/nieuws/nederland/artikel/4819131/ (first letters: A royal
//         house (AA), B/V commercial, D/F mopeds, M motorcycles, O semi-trailers, W trailers)
//   [nl7] https://kentekenkennis.nl/overige/diplomatieke-kentekenplaten-voor-1991 (CD plates
//         moved onto sidecode 1 "CD-10-00" and sidecode 3 "00-CD-01" in 1991; CDJ kept apart)
//  BE
//   [be1] https://mobilit.belgium.be/nl/wegverkeer/inschrijving_van_voertuigen/kentekenplaten/
//         gepersonaliseerde_nummerplaat and https://mobiliteit.d8.pr.belgium.be/nl/weg/
//         inschrijven-en-schrappen/gepersonaliseerde-nummerplaat/introductie (personalised: at
//         most 8 characters where each hyphen counts, a hyphen between every letter group and
//         digit group, at least one letter, digits-only reserved to the royal family and to
//         vehicles registered before 1 January 1954)
//   [be2] https://www.thebulletin.be/new-belgian-licence-plates-begin-2-new-year (1-ABC-123 from
//         2010, 2-ABC-123 from 2021; pre-2010 plates ABC-123)
//   [be3] http://pj-web.de/kfz/mehr/m_belgien.htm and https://kennzeichen-guide.de/
//         schilder-europas/belgien/ (index digits 1-7 normal, 8 special/international, 9 the
//         pre-2014 personalised plates; category letters in front: M/W motorcycles, O
//         oldtimers, Q trailers, S mopeds, T taxis, G tractors)
//   [be4] https://de.wikipedia.org/wiki?curid=374331 (category letter instead of the index digit
//         for non-car vehicles: "M-ABC-123" shape)
//   [be5] https://nl.m.wikipedia.org/wiki/Belgisch_kenteken (before 2010 I, O, Q unused; on EU
//         plates only O is unused); http://kennzeichen.pj-web.de/kenzeur/belgien.htm (123-ABC
//         issued 2008-2010; pre-1973 plates 1 letter + 4 digits, 2 letters + 3 digits)
//  LU
//   [lu1] https://europlate.org/Luxembourg (since 2003 two letters + four digits, I and O unused,
//         AA official, CD diplomatic, ZZ limited use; plates of four or five digits and other
//         former series still valid)
//   [lu2] https://en.wikipedia.org/wiki/Vehicle_registration_plates_of_Luxembourg (max six
//         characters; digits-only of four then five digits; mopeds two letters + two digits)
//   [lu3] https://memim.com/vehicle-registration-plates-of-luxembourg.html (old formats still in
//         circulation: MK 286, P 1234, 12345, 1234, 987; CD plates printed "CD 12-34";
//         grand-ducal plates of one or two digits; deputies P + one or two digits)
//
// DECISIONS
//  NL sidecodes 1-3 (1951-1978): any letter A-Z. These series used most of the alphabet and are
//     re-used today for special series with vowels and C (CD diplomatic, AA royal, oldtimer
//     imports AE/DE..., youngtimers YA..., ZZ) [nl5][nl7].
//  NL sidecodes 4-14: the letters of each series are data, match/nl_registry_rules.txt (with its
//     sources): no vowels, no C, no Q; Y in sidecodes 4-6 only; O only as the first letter
//     (semi-trailers). M is kept: it is issued, as the first letter, to motorcycles [nl3][nl6];
//     W to trailers [nl6].
//     The combinations the RDW avoids (GVD, KKK, NSB, SS, SD, PVV, ...) are not excluded here:
//     several were issued by mistake and are on the road, and a camera read is never refused
//     for them. Reference-list rows are checked against them (registry_rules.h), with an
//     operator's override per row.
//  NL special series: CD on sidecodes 1 and 3 and AA on sidecode-1 shapes fit the permissive
//     early sidecodes. CDJ plates (International Court of Justice) and other off-sidecode
//     special plates are left out: their formats are not documented well enough here.
//  BE "1-ABC-123": index digit 1-9 (1 and 2 ordinary, 8 special, 9 old personalised) [be2][be3];
//     0 does not exist. The three letters are any letter but O [be5].
//  BE "M-ABC-123": a vehicle-category letter (any letter) instead of the index digit [be3][be4];
//     the three letters as above.
//  BE "ABC-123" (1973-2008) and "123-ABC" (2008-2010): any letters. Sources disagree on the
//     letters used and every such plate is also a valid personalised combination, so a letter
//     rule would only change the label, never validity.
//  BE "digits": 1 to 6 digits, no leading zero (royal family; vehicles registered before 1954,
//     whose numbers ran to 999.999) [be1].
//  BE "personalised": at least one letter, and the plate text with its mandatory hyphens (one
//     per change between letters and digits) is at most 8 characters [be1]. This also covers
//     the pre-1973 shapes still on old vehicles. Content rules (offensive words, reserved
//     prefixes such as CD) are not checked.
//     Standard series are tried before personalised ones.
//  LU "AB 1234": two letters other than I and O, four digits (leading zeros allowed) [lu1].
//     CD (diplomatic) plates fit and print as "CD 12-34" [lu3].
//  LU "letter+digits": legacy one letter + 1-4 digits (P 1234, deputies P 12) or two letters +
//     2-3 digits (MK 286, moped plates AB 12) [lu2][lu3]; any letters.
//  LU "digits": 1 to 5 digits, no leading zero [lu2][lu3].
#include "match/formats.h"

#include <array>
#include <cstdint>

#include "match/registry_rules.h"

namespace anpr::formats {

namespace {

// The plate's shape: bit i set when character i is a digit.
struct Shape {
  uint32_t digits = 0;
  unsigned len = 0;
};

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

inline Shape shape_of(const Plate& p) {
  Shape s;
  s.len = static_cast<unsigned>(p.size());
  for (unsigned i = 0; i < s.len; ++i)
    if (is_digit(p[i])) s.digits |= 1u << i;
  return s;
}

// Shape mask from a pattern of 'X' (letter) and '9' (digit), ignoring separators.
constexpr Shape shape_of_pattern(std::string_view pattern) {
  Shape s;
  for (char c : pattern) {
    if (c == '9') s.digits |= 1u << s.len;
    if (c == '9' || c == 'X') ++s.len;
  }
  return s;
}

constexpr uint32_t letter_bits(std::string_view letters) {
  uint32_t m = 0;
  for (char c : letters) m |= 1u << (c - 'A');
  return m;
}

constexpr uint32_t kAllLetters = (1u << 26) - 1;
constexpr uint32_t kBeIndexed = kAllLetters & ~letter_bits("O");
constexpr uint32_t kLuCurrent = kAllLetters & ~letter_bits("IO");

inline bool letter_in(char c, uint32_t set) { return (set >> (c - 'A')) & 1u; }

// Inserts the separators of `pattern` ('X'/'9' = next plate character, anything else printed).
std::string apply_pattern(const Plate& p, std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size());
  std::size_t i = 0;
  for (char c : pattern) out.push_back(c == 'X' || c == '9' ? p[i++] : c);
  return out;
}

// ---- NL ----

struct NlSidecode {
  std::string_view pattern;
  std::string_view label;
  Shape shape;
};

constexpr NlSidecode nl(std::string_view pattern, std::string_view label) {
  return {pattern, label, shape_of_pattern(pattern)};
}

constexpr std::array<NlSidecode, 14> kNlSidecodes = {
    nl("XX-99-99", "NL sidecode 1"),  nl("99-99-XX", "NL sidecode 2"),
    nl("99-XX-99", "NL sidecode 3"),  nl("XX-99-XX", "NL sidecode 4"),
    nl("XX-XX-99", "NL sidecode 5"),  nl("99-XX-XX", "NL sidecode 6"),
    nl("99-XXX-9", "NL sidecode 7"),  nl("9-XXX-99", "NL sidecode 8"),
    nl("XX-999-X", "NL sidecode 9"),  nl("X-999-XX", "NL sidecode 10"),
    nl("XXX-99-X", "NL sidecode 11"), nl("X-99-XXX", "NL sidecode 12"),
    nl("9-XX-999", "NL sidecode 13"), nl("999-XX-9", "NL sidecode 14"),
};

// Index into kNlSidecodes by shape alone, or -1.
int nl_shape_index(const Plate& p) {
  const Shape s = shape_of(p);
  if (s.len != 6) return -1;
  for (int i = 0; i < static_cast<int>(kNlSidecodes.size()); ++i)
    if (kNlSidecodes[i].shape.digits == s.digits) return i;
  return -1;
}

// Index into kNlSidecodes, or -1: the shape, then the letters the series uses
// (match/nl_registry_rules.txt).
int nl_sidecode(const Plate& p) {
  const int i = nl_shape_index(p);
  if (i < 0) return -1;
  const registry_rules::NlRules& rules = registry_rules::nl();
  const uint32_t set = rules.letters[static_cast<std::size_t>(i + 1)];
  const uint32_t first_only = rules.first_only[static_cast<std::size_t>(i + 1)];
  bool first_letter = true;
  for (unsigned k = 0; k < 6; ++k) {
    const char c = p[k];
    if (is_digit(c)) continue;
    const uint32_t allowed = first_letter ? (set | first_only) : set;
    first_letter = false;
    if (!letter_in(c, allowed)) return -1;
  }
  return i;
}

// ---- BE ----

enum class BeSeries { none, indexed_digit, indexed_letter, abc123, d123abc, digits, personalised };

BeSeries be_series(const Plate& p) {
  const Shape s = shape_of(p);
  const auto letters_in = [&](unsigned from, unsigned to, uint32_t set) {
    for (unsigned i = from; i < to; ++i)
      if (!letter_in(p[i], set)) return false;
    return true;
  };
  constexpr Shape k1abc123 = shape_of_pattern("9-XXX-999");
  constexpr Shape kMabc123 = shape_of_pattern("X-XXX-999");
  constexpr Shape kAbc123 = shape_of_pattern("XXX-999");
  constexpr Shape k123abc = shape_of_pattern("999-XXX");
  if (s.len == 7 && s.digits == k1abc123.digits && p[0] != '0' && letters_in(1, 4, kBeIndexed))
    return BeSeries::indexed_digit;
  if (s.len == 7 && s.digits == kMabc123.digits && letters_in(1, 4, kBeIndexed))
    return BeSeries::indexed_letter;
  if (s.len == 6 && s.digits == kAbc123.digits) return BeSeries::abc123;
  if (s.len == 6 && s.digits == k123abc.digits) return BeSeries::d123abc;
  const uint32_t all = (1u << s.len) - 1;
  if (s.digits == all) return s.len <= 6 && p[0] != '0' ? BeSeries::digits : BeSeries::none;
  // Personalised: characters plus one hyphen per letter/digit change, at most 8.
  unsigned changes = 0;
  for (unsigned i = 1; i < s.len; ++i) changes += ((s.digits >> i) ^ (s.digits >> (i - 1))) & 1u;
  return s.len + changes <= 8 ? BeSeries::personalised : BeSeries::none;
}

// ---- LU ----

enum class LuSeries { none, current, letters_digits, digits };

LuSeries lu_series(const Plate& p) {
  const Shape s = shape_of(p);
  const uint32_t all = (1u << s.len) - 1;
  if (s.digits == all) return s.len <= 5 && p[0] != '0' ? LuSeries::digits : LuSeries::none;
  // Letters first, then digits only.
  unsigned nletters = 0;
  while (nletters < s.len && !is_digit(p[nletters])) ++nletters;
  const unsigned ndigits = s.len - nletters;
  if (s.digits != (all & ~((1u << nletters) - 1))) return LuSeries::none;  // not letters-digits
  if (nletters == 2 && ndigits == 4 && letter_in(p[0], kLuCurrent) && letter_in(p[1], kLuCurrent))
    return LuSeries::current;
  if ((nletters == 1 && ndigits >= 1 && ndigits <= 4) ||
      (nletters == 2 && ndigits >= 2 && ndigits <= 3))
    return LuSeries::letters_digits;
  return LuSeries::none;
}

}  // namespace

bool has_formats(CountryCode c) { return c == kNL || c == kBE || c == kLU; }

// clang-format off
std::optional<std::string_view> classify(CountryCode c, const Plate& p) {
  if (p.size() == 0) return std::nullopt;
  if (c == kNL) {
    const int i = nl_sidecode(p);
    if (i < 0) return std::nullopt;
    return kNlSidecodes[static_cast<std::size_t>(i)].label;
  }
  if (c == kBE) {
    switch (be_series(p)) {
      case BeSeries::indexed_digit: return "BE 1-ABC-123";
      case BeSeries::indexed_letter: return "BE M-ABC-123";
      case BeSeries::abc123: return "BE ABC-123";
      case BeSeries::d123abc: return "BE 123-ABC";
      case BeSeries::digits: return "BE digits";
      case BeSeries::personalised: return "BE personalised";
      case BeSeries::none: return std::nullopt;
    }
  }
  if (c == kLU) {
    switch (lu_series(p)) {
      case LuSeries::current: return "LU AB 1234";
      case LuSeries::letters_digits: return "LU letter+digits";
      case LuSeries::digits: return "LU digits";
      case LuSeries::none: return std::nullopt;
    }
  }
  return std::nullopt;
}
// clang-format on

int nl_sidecode_of_shape(const Plate& p) { return nl_shape_index(p) + 1; }

std::string_view nl_sidecode_pattern(int sidecode) {
  if (sidecode < 1 || sidecode > static_cast<int>(kNlSidecodes.size())) return {};
  return kNlSidecodes[static_cast<std::size_t>(sidecode - 1)].pattern;
}

bool valid(CountryCode c, const Plate& p) {
  if (!has_formats(c)) return true;
  return classify(c, p).has_value();
}

std::string display(CountryCode c, const Plate& p) {
  if (p.size() == 0) return {};
  if (c == kNL) {
    const int i = nl_sidecode(p);
    if (i >= 0) return apply_pattern(p, kNlSidecodes[static_cast<std::size_t>(i)].pattern);
  } else if (c == kBE) {
    switch (be_series(p)) {
      case BeSeries::indexed_digit:
      case BeSeries::indexed_letter:
        return apply_pattern(p, "X-XXX-XXX");
      case BeSeries::abc123:
      case BeSeries::d123abc:
        return apply_pattern(p, "XXX-XXX");
      case BeSeries::personalised: {
        // The plate carries a hyphen wherever letters and digits meet (JOHN-1, 7-OKTOBR).
        std::string out;
        for (std::size_t i = 0; i < p.size(); ++i) {
          if (i > 0 && is_digit(p[i]) != is_digit(p[i - 1])) out.push_back('-');
          out.push_back(p[i]);
        }
        return out;
      }
      default:
        break;
    }
  } else if (c == kLU) {
    switch (lu_series(p)) {
      case LuSeries::current:
        if (p[0] == 'C' && p[1] == 'D') return apply_pattern(p, "XX 99-99");
        return apply_pattern(p, "XX 9999");
      case LuSeries::letters_digits: {
        const std::size_t nletters = is_digit(p[1]) ? 1 : 2;
        std::string out(p.view().substr(0, nletters));
        out.push_back(' ');
        out.append(p.view().substr(nletters));
        return out;
      }
      default:
        break;
    }
  }
  return p.str();
}

}  // namespace anpr::formats
