// The Benelux rules of docs/design.md §2 ("reference-list categories allowed on this country's cameras"
// and "lists accepted from partners"), written out here from the design's table, independently
// of the product's rules (match/rules.h) and of its default policies (config/settings.cpp). Tests
// compute what must happen from this table, so a wrong default or a wrong rule in the product
// cannot agree with itself.
#pragma once

#include <map>
#include <set>
#include <string>

#include "match/types.h"

namespace anpr::testing {

struct DesignCountry {
  std::set<std::string> categories;  // allowed on this country's cameras
  std::set<std::string> accepts;     // partner owners whose lists apply here
};

inline const std::map<std::string, DesignCountry>& design_rules() {
  static const std::map<std::string, DesignCountry> rules = [] {
    const std::set<std::string> nl = {"stolen_vehicle", "stolen_plate",    "wanted_person",
                                      "missing_person", "custodial_order", "driving_ban",
                                      "unpaid_fine",    "uninsured",       "suspect",
                                      "serious_crime",  "terrorism"};
    std::set<std::string> be = nl;
    be.insert("no_inspection");
    be.insert("tax_debt");
    const std::set<std::string> lu = {"terrorism",    "serious_crime",  "stolen_vehicle",
                                      "stolen_plate", "missing_person", "wanted_person"};
    return std::map<std::string, DesignCountry>{
        {"NL", {nl, {"BE"}}}, {"BE", {be, {"NL"}}}, {"LU", {lu, {}}}};
  }();
  return rules;
}

// Whether an entry of `category` on a list owned by `owner` applies at a camera in `camera`.
inline bool design_applies(const std::string& camera, const std::string& owner,
                           const std::string& category) {
  const auto it = design_rules().find(camera);
  if (it == design_rules().end()) return false;  // no policy: nothing applies
  if (!it->second.categories.count(category)) return false;
  return owner == camera || it->second.accepts.count(owner) > 0;
}

inline bool design_applies(CountryCode camera, CountryCode owner, Category category) {
  return design_applies(camera.str(), owner.str(), std::string(to_string(category)));
}

// Every category of docs/design.md §3's vocabulary.
inline const std::set<std::string>& design_categories() {
  static const std::set<std::string> all = {
      "stolen_vehicle", "stolen_plate", "wanted_person", "missing_person", "custodial_order",
      "driving_ban",    "unpaid_fine",  "uninsured",     "no_inspection",  "tax_debt",
      "suspect",        "serious_crime", "terrorism"};
  return all;
}

}  // namespace anpr::testing
