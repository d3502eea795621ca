#include "match/types.h"

#include <array>

namespace anpr {

namespace {

// ISO 3166-1 alpha-2: the 249 officially assigned codes, plus XK (Kosovo).
constexpr std::string_view kIsoAlpha2 =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS XK YE YT ZA ZM ZW";

// One bit per packed code (1..676): assigned or not.
constexpr std::array<bool, 26 * 26 + 1> kAssigned = [] {
  std::array<bool, 26 * 26 + 1> t{};
  for (std::size_t i = 0; i + 2 <= kIsoAlpha2.size(); i += 3)
    t[CountryCode::from_letters(kIsoAlpha2[i], kIsoAlpha2[i + 1]).raw()] = true;
  return t;
}();

constexpr char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
constexpr bool letter(char c) { return c >= 'A' && c <= 'Z'; }

std::string shown(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < 16; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 16) out += "...";
  return out + "\"";
}

}  // namespace

std::optional<CountryCode> CountryCode::parse(std::string_view s) {
  if (s.size() != 2) return std::nullopt;
  const char a = upper(s[0]), b = upper(s[1]);
  if (!letter(a) || !letter(b)) return std::nullopt;
  const CountryCode c = from_letters(a, b);
  if (!kAssigned[c.raw()]) return std::nullopt;
  return c;
}

std::optional<CountryCode> CountryCode::parse_or_unknown(std::string_view s) {
  if (s.empty()) return CountryCode{};
  return parse(s);
}

bool CountryCode::assigned() const { return v_ < kAssigned.size() && kAssigned[v_]; }

std::string CountryCode::why_not(std::string_view s) {
  if (s.size() == 2 && letter(upper(s[0])) && letter(upper(s[1])))
    return shown(s) + ", which is not an assigned ISO 3166-1 alpha-2 code";
  return shown(s) + " (not two letters)";
}

std::string CountryCode::str() const {
  if (v_ == 0) return {};
  unsigned v = v_ - 1u;
  return {static_cast<char>('A' + v / 26), static_cast<char>('A' + v % 26)};
}

std::optional<Plate> Plate::from_normalized(std::string_view s) {
  if (s.empty() || s.size() > kMaxLen) return std::nullopt;
  PlateBuilder b;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return std::nullopt;
    b.push(c);
  }
  return b.plate();
}

Plate Plate::from_key(uint64_t key) {
  std::array<char, kMaxLen> tmp{};
  std::size_t n = 0;
  while (key != 0 && n < kMaxLen) {
    tmp[n++] = symbol(static_cast<unsigned>(key % 37));
    key /= 37;
  }
  PlateBuilder b;
  while (n > 0) b.push(tmp[--n]);
  return b.plate();
}

namespace {
constexpr std::array<std::string_view, kCategoryCount> kCategoryNames = {
    "stolen_vehicle", "stolen_plate", "wanted_person", "missing_person", "custodial_order",
    "driving_ban",    "unpaid_fine",  "uninsured",     "no_inspection",  "tax_debt",
    "suspect",        "serious_crime", "terrorism"};
constexpr std::array<std::string_view, kActionCount> kActionNames = {"intercept", "observe",
                                                                     "notify"};
constexpr std::array<std::string_view, 3> kModeNames = {"exact", "ocr", "ocr+edit"};
constexpr std::array<std::string_view, 3> kKindNames = {"exact", "ocr", "edit"};
}  // namespace

std::string_view to_string(Category c) { return kCategoryNames[static_cast<std::size_t>(c)]; }

std::string all_categories() {
  std::string out;
  for (std::string_view name : kCategoryNames) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}
std::string_view to_string(Action a) { return kActionNames[static_cast<std::size_t>(a)]; }
std::string_view to_string(MatchMode m) { return kModeNames[static_cast<std::size_t>(m)]; }
std::string_view to_string(MatchKind k) { return kKindNames[static_cast<std::size_t>(k)]; }

std::optional<Category> parse_category(std::string_view s) {
  for (std::size_t i = 0; i < kCategoryNames.size(); ++i)
    if (kCategoryNames[i] == s) return static_cast<Category>(i);
  return std::nullopt;
}
std::optional<Action> parse_action(std::string_view s) {
  for (std::size_t i = 0; i < kActionNames.size(); ++i)
    if (kActionNames[i] == s) return static_cast<Action>(i);
  return std::nullopt;
}
std::optional<MatchMode> parse_match_mode(std::string_view s) {
  for (std::size_t i = 0; i < kModeNames.size(); ++i)
    if (kModeNames[i] == s) return static_cast<MatchMode>(i);
  return std::nullopt;
}

}  // namespace anpr
