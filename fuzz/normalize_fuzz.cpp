// libFuzzer target: normalize() on arbitrary bytes, then the country formats on its result.
//
// Invariants (a violation traps):
//  - a successful result is [A-Z0-9]{1,10};
//  - normalising the result again gives the same plate (idempotence);
//  - the result round-trips through Plate::key() / Plate::from_key();
//  - for NL, BE and LU: classify() and valid() agree, and display() with its separators (space,
//    '-') removed is the plate itself; other countries accept every plate and print it plain;
//  - a failed normalisation names one of the known reasons.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "match/formats.h"
#include "match/plate.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool is_plate_text(std::string_view s) {
  if (s.empty() || s.size() > anpr::Plate::kMaxLen) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

std::string strip_separators(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '-') out.push_back(c);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const auto r = anpr::normalize(raw);
  if (!r.ok()) {
    check(anpr::to_string(r.error()).substr(0, 6) == "plate_");
    return 0;
  }
  const anpr::Plate& p = r.value();
  check(is_plate_text(p.view()));

  const auto again = anpr::normalize(p.view());
  check(again.ok() && again->view() == p.view());
  check(anpr::Plate::from_key(p.key()) == p);

  for (anpr::CountryCode c : {anpr::kNL, anpr::kBE, anpr::kLU}) {
    const auto label = anpr::formats::classify(c, p);
    check(anpr::formats::valid(c, p) == label.has_value());
    check(strip_separators(anpr::formats::display(c, p)) == p.view());
  }
  for (anpr::CountryCode c : {anpr::kAnyCountry, anpr::CountryCode::from_letters('D', 'E')}) {
    check(anpr::formats::valid(c, p));
    check(!anpr::formats::classify(c, p).has_value());
    check(anpr::formats::display(c, p) == p.view());
  }
  return 0;
}
