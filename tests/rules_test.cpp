// Benelux rules at match time (DESIGN §2) with the default policies.
#include "match/rules.h"

#include <gtest/gtest.h>

#include "config/settings.h"

namespace anpr {
namespace {

MatchRules defaults() { return MatchRules(config::default_country_policies()); }

TEST(MatchRules, BelgianNoInspectionDoesNotApplyOnDutchCameras) {
  MatchRules r = defaults();
  EXPECT_FALSE(r.applies(kNL, kBE, Category::no_inspection));
  EXPECT_TRUE(r.applies(kBE, kBE, Category::no_inspection));
  EXPECT_TRUE(r.applies(kNL, kBE, Category::stolen_vehicle));
}

TEST(MatchRules, LuxembourgIgnoresPartnerListsAndTrafficMatters) {
  MatchRules r = defaults();
  EXPECT_FALSE(r.applies(kLU, kNL, Category::unpaid_fine));
  EXPECT_FALSE(r.applies(kLU, kBE, Category::unpaid_fine));
  EXPECT_FALSE(r.applies(kLU, kNL, Category::stolen_vehicle));  // no partner lists yet
  EXPECT_FALSE(r.applies(kLU, kLU, Category::unpaid_fine));     // not a LU category
  EXPECT_TRUE(r.applies(kLU, kLU, Category::serious_crime));
}

TEST(MatchRules, PartnersAndRoutes) {
  MatchRules r = defaults();
  EXPECT_TRUE(r.applies(kBE, kNL, Category::wanted_person));
  EXPECT_FALSE(r.applies(kNL, kLU, Category::wanted_person));  // NL does not accept LU lists
  EXPECT_TRUE(MatchRules::route_to_owner(kNL, kBE));
  EXPECT_FALSE(MatchRules::route_to_owner(kNL, kNL));
}

TEST(MatchRules, CountryWithoutPolicyMatchesNothing) {
  MatchRules r = defaults();
  const CountryCode de = CountryCode::from_letters('D', 'E');
  EXPECT_FALSE(r.has_policy(de));
  EXPECT_FALSE(r.applies(de, de, Category::stolen_vehicle));
  EXPECT_TRUE(r.has_policy(kNL));
}

}  // namespace
}  // namespace anpr
