// Country formats (match/formats.h) checked against the case table tests/data/formats.tsv, plus
// properties that must hold for every plate: classify and valid agree, display only adds
// separators, countries without formats accept everything.
#include "match/formats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "match/plate.h"
#include "tests/case_table.h"

namespace anpr {
namespace {

constexpr const char* kTablePath = ANPR_SOURCE_DIR "/tests/data/formats.tsv";
constexpr std::size_t kMinCases = 150;

struct Case {
  int line = 0;
  CountryCode country;
  Plate plate;
  std::string expected;  // label, "!invalid" or "-"
  std::string display;
};

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  for (const auto& row : testing::read_case_table(
           kTablePath, 4, 5, 4, "COUNTRY<TAB>PLATE<TAB>EXPECTED<TAB>DISPLAY[<TAB>note]")) {
    const int n = row.line;
    const auto& f = row.fields;
    const auto country =
        f[0] == "any" ? std::optional<CountryCode>(kAnyCountry) : CountryCode::parse(f[0]);
    if (!country || (f[0] != "any" && !country->known())) {
      ADD_FAILURE() << "formats.tsv:" << n << ": bad country '" << f[0] << "'";
      continue;
    }
    const auto plate = normalize(f[1]);
    if (!plate.ok()) {
      ADD_FAILURE() << "formats.tsv:" << n
                    << ": plate does not normalise: " << to_string(plate.error());
      continue;
    }
    cases.push_back({n, *country, *plate, f[2], f[3]});
  }
  return cases;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = load_cases();
  return c;
}

std::string strip_separators(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '-') out.push_back(c);
  return out;
}

TEST(FormatsTable, HasEnoughCases) { EXPECT_GE(cases().size(), kMinCases); }

TEST(FormatsTable, EveryCaseClassifiesValidatesAndDisplays) {
  for (const Case& c : cases()) {
    const std::string where = "formats.tsv:" + std::to_string(c.line) + " (" + c.country.str() +
                              " " + c.plate.str() + ")";
    const auto label = formats::classify(c.country, c.plate);
    const bool valid = formats::valid(c.country, c.plate);
    if (c.expected == "!invalid") {
      EXPECT_TRUE(formats::has_formats(c.country)) << where << ": only NL/BE/LU can reject";
      EXPECT_FALSE(valid) << where;
      EXPECT_FALSE(label.has_value()) << where << ": got " << *label;
    } else if (c.expected == "-") {
      EXPECT_FALSE(formats::has_formats(c.country)) << where;
      EXPECT_TRUE(valid) << where;
      EXPECT_FALSE(label.has_value()) << where << ": got " << *label;
    } else {
      EXPECT_TRUE(valid) << where;
      EXPECT_EQ(label.value_or("<none>"), c.expected) << where;
    }
    EXPECT_EQ(formats::display(c.country, c.plate), c.display) << where;
  }
}

// Each series label the module can produce appears in the table, so a series that silently stops
// matching is noticed.
TEST(FormatsTable, CoversEverySeries) {
  std::set<std::string> labels;
  std::map<std::string, int> invalid_per_country;
  for (const Case& c : cases()) {
    labels.insert(c.expected);
    if (c.expected == "!invalid") ++invalid_per_country[c.country.str()];
  }
  for (int i = 1; i <= 14; ++i) EXPECT_TRUE(labels.count("NL sidecode " + std::to_string(i))) << i;
  for (const char* l : {"BE 1-ABC-123", "BE M-ABC-123", "BE ABC-123", "BE 123-ABC", "BE digits",
                        "BE personalised", "LU AB 1234", "LU letter+digits", "LU digits", "-"})
    EXPECT_TRUE(labels.count(l)) << l;
  for (const char* cc : {"NL", "BE", "LU"}) EXPECT_GT(invalid_per_country[cc], 0) << cc;
}

// ---- Properties over random plates ----

Plate random_plate(std::mt19937& rng) {
  // Bias towards the lengths and letter/digit mixes of real plates.
  static constexpr std::string_view kLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  static constexpr std::string_view kDigits = "0123456789";
  std::string s(1 + rng() % Plate::kMaxLen, '\0');
  if (rng() % 2) s.resize(5 + rng() % 3);
  for (char& c : s) c = rng() % 2 ? kLetters[rng() % 26] : kDigits[rng() % 10];
  return *Plate::from_normalized(s);
}

TEST(FormatsProperties, ClassifyValidAndDisplayAgree) {
  std::mt19937 rng(2024);
  const CountryCode countries[] = {kNL, kBE, kLU, *CountryCode::parse("DE"), kAnyCountry};
  std::map<std::string, int> valid_count;
  for (int i = 0; i < 100000; ++i) {
    const Plate p = random_plate(rng);
    for (CountryCode c : countries) {
      const auto label = formats::classify(c, p);
      const bool valid = formats::valid(c, p);
      const std::string shown = formats::display(c, p);
      ASSERT_EQ(strip_separators(shown), p.str()) << c.str() << " " << p.str() << " -> " << shown;
      if (!formats::has_formats(c)) {
        ASSERT_TRUE(valid) << p.str();
        ASSERT_FALSE(label.has_value()) << p.str();
        ASSERT_EQ(shown, p.str());
        continue;
      }
      ASSERT_EQ(valid, label.has_value()) << c.str() << " " << p.str();
      ASSERT_EQ(label.value_or(c.str()).substr(0, 2), c.str()) << *label;
      if (!valid) {
        ASSERT_EQ(shown, p.str()) << "invalid plates print plain";
      }
      valid_count[c.str()] += valid;
    }
  }
  // The formats must neither accept nor reject everything.
  for (const char* cc : {"NL", "BE", "LU"}) {
    EXPECT_GT(valid_count[cc], 100) << cc;
    EXPECT_LT(valid_count[cc], 100000) << cc;
  }
}

TEST(FormatsProperties, HasFormatsOnlyForNlBeLu) {
  EXPECT_TRUE(formats::has_formats(kNL));
  EXPECT_TRUE(formats::has_formats(kBE));
  EXPECT_TRUE(formats::has_formats(kLU));
  for (const char* cc : {"DE", "FR", "GB", "NO"})
    EXPECT_FALSE(formats::has_formats(*CountryCode::parse(cc))) << cc;
  EXPECT_FALSE(formats::has_formats(kAnyCountry));
}

// Every NL sidecode shape with the first allowed letters is valid, and the display has exactly two
// dashes with groups of the shape's lengths (checked on all 14 shapes at once).
TEST(FormatsProperties, NlDisplayHasTwoDashes) {
  for (const Case& c : cases()) {
    if (c.country != kNL || c.expected.rfind("NL sidecode", 0) != 0) continue;
    const std::string shown = formats::display(kNL, c.plate);
    EXPECT_EQ(std::count(shown.begin(), shown.end(), '-'), 2) << "formats.tsv:" << c.line;
    EXPECT_EQ(shown.size(), 8u) << "formats.tsv:" << c.line;
  }
}

}  // namespace
}  // namespace anpr
