// Benelux rules at match time (docs/design.md §2) with the default policies.
#include "match/rules.h"

#include <gtest/gtest.h>

#include "config/settings.h"
#include "tests/design_rules.h"

namespace anpr {
namespace {

using testing::design_applies;
using testing::design_categories;

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

// Fails on the owner country alone: serious_crime is allowed on Dutch and Belgian cameras, and a
// Luxembourg list of it applies at a Luxembourg camera, but NL and BE do not accept LU lists.
TEST(MatchRules, AnAllowedCategoryFromAnOwnerNotAcceptedDoesNotApply) {
  MatchRules r = defaults();
  // The category is allowed at NL and BE cameras (on their own lists)...
  ASSERT_TRUE(r.applies(kNL, kNL, Category::serious_crime));
  ASSERT_TRUE(r.applies(kBE, kBE, Category::serious_crime));
  // ...and the LU list is fine at home...
  ASSERT_TRUE(r.applies(kLU, kLU, Category::serious_crime));
  // ...but not at a camera of a country that does not accept LU lists.
  EXPECT_FALSE(r.applies(kNL, kLU, Category::serious_crime));
  EXPECT_FALSE(r.applies(kBE, kLU, Category::serious_crime));
  // Likewise an NL stolen-vehicle list at an LU camera (LU allows stolen_vehicle, accepts no list).
  ASSERT_TRUE(r.applies(kLU, kLU, Category::stolen_vehicle));
  EXPECT_FALSE(r.applies(kLU, kNL, Category::stolen_vehicle));
}

// The whole of docs/design.md §2's table: every camera country, owner and category, against the table as
// the tests write it (tests/design_rules.h), not as the product's default policies do.
TEST(MatchRules, DefaultPoliciesAreDesignTable) {
  MatchRules r = defaults();
  const CountryCode de = CountryCode::from_letters('D', 'E');
  std::size_t applies = 0, refused_by_owner_only = 0;
  for (CountryCode camera : {kNL, kBE, kLU})
    for (CountryCode owner : {kNL, kBE, kLU, de})
      for (const std::string& name : design_categories()) {
        const auto cat = parse_category(name);
        ASSERT_TRUE(cat.has_value()) << name;
        const bool want = design_applies(camera, owner, *cat);
        EXPECT_EQ(r.applies(camera, owner, *cat), want)
            << "camera " << camera.str() << ", list of " << owner.str() << ", " << name;
        applies += want;
        refused_by_owner_only += !want && design_applies(camera, camera, *cat);
      }
  // The table has both kinds of answer, and refusals that only the owner country explains.
  EXPECT_GT(applies, 0u);
  EXPECT_GT(refused_by_owner_only, 0u);
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
