// Benelux rules at match time (docs/design.md §2): which list entries apply to a camera's reads.
//
// A list entry applies to a read of a camera in country C only if
//   (a) the list's owner country is C, or a partner that C accepts, and
//   (b) the entry's category is allowed on C's cameras.
// A hit on a partner's list is also reported back to that partner: route_to_owner() says when.
// Cameras of a country without a policy match nothing (the configuration must name every camera
// country; config::Settings checks the camera registry against it at start).
//
// Thread safety: immutable after construction; any number of threads may call the const methods.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "match/types.h"

namespace anpr {

struct CountryRule {
  CountryCode country;
  std::vector<CountryCode> accepts;  // partner owners whose lists apply to this country's cameras
  uint32_t categories = 0;           // bit (1 << Category): allowed on this country's cameras
};

class MatchRules {
 public:
  MatchRules() = default;
  explicit MatchRules(const std::vector<CountryRule>& rules);

  // Whether an entry of category `cat` on a list owned by `owner` applies to a camera in `camera`.
  bool applies(CountryCode camera, CountryCode owner, Category cat) const {
    const Rule& r = rules_[camera.raw()];
    if (!(r.categories >> static_cast<unsigned>(cat) & 1u)) return false;
    return owner == camera || (r.accepts_bits[owner.raw() >> 6] >> (owner.raw() & 63) & 1u);
  }
  // A hit on a list owned by `owner` at a camera in `camera` also goes to the owner's route.
  static bool route_to_owner(CountryCode camera, CountryCode owner) {
    return owner.known() && owner != camera;
  }
  bool has_policy(CountryCode camera) const { return rules_[camera.raw()].present; }

 private:
  static constexpr std::size_t kCodes = std::size_t{1} << CountryCode::kBits;
  struct Rule {
    bool present = false;
    uint32_t categories = 0;
    std::array<uint64_t, kCodes / 64> accepts_bits{};
  };
  std::vector<Rule> rules_ = std::vector<Rule>(kCodes);
};

inline MatchRules::MatchRules(const std::vector<CountryRule>& rules) {
  for (const CountryRule& cr : rules) {
    if (!cr.country.known()) continue;
    Rule& r = rules_[cr.country.raw()];
    r.present = true;
    r.categories = cr.categories;
    for (CountryCode a : cr.accepts)
      if (a.known()) r.accepts_bits[a.raw() >> 6] |= uint64_t{1} << (a.raw() & 63);
  }
}

}  // namespace anpr
