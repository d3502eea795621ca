#include "match/types.h"

#include <array>

namespace anpr {

std::optional<CountryCode> CountryCode::parse(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return CountryCode{};
  if (s.size() != 2) return std::nullopt;
  char a = s[0], b = s[1];
  if (a >= 'a' && a <= 'z') a = static_cast<char>(a - 'a' + 'A');
  if (b >= 'a' && b <= 'z') b = static_cast<char>(b - 'a' + 'A');
  if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z') return std::nullopt;
  return from_letters(a, b);
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
