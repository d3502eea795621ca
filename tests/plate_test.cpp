// Plate normalisation (match/plate.h) checked against the case table tests/data/plates.tsv, plus
// property tests of normalize(), Plate keys and CountryCode.
#include "match/plate.h"
#include "tests/case_table.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace anpr {
namespace {

constexpr const char* kTablePath = ANPR_SOURCE_DIR "/tests/data/plates.tsv";
constexpr std::size_t kMinCases = 300;

constexpr std::array<NormalizeError, 5> kAllErrors = {
    NormalizeError::empty, NormalizeError::too_long, NormalizeError::invalid_utf8,
    NormalizeError::control_character, NormalizeError::invalid_character};

struct Case {
  int line = 0;
  std::string input;     // raw bytes after unescaping
  std::string expected;  // normalised plate, or "!reason"
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Encodes any value up to 0x1FFFFF with the UTF-8 bit layout, without checking it: surrogates and
// values above U+10FFFF give exactly the ill-formed sequences the table wants to write.
void append_utf8_unchecked(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Unescapes one INPUT field (syntax in the header of plates.tsv). Returns nullopt and sets `error`
// for malformed escapes, so a typo in the table fails loudly instead of testing something else.
std::optional<std::string> unescape(std::string_view s, std::string& error) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '{') {
      constexpr std::string_view kRepeat = "{repeat:";
      // The closing brace is the first one not closing a \u{...} escape inside TEXT.
      std::size_t close = i + 1;
      while (close < s.size() && s[close] != '}') {
        if (s[close] == '\\' && close + 1 < s.size() && s[close + 1] == 'u') {
          close = s.find('}', close);
          if (close == std::string_view::npos) break;
        } else if (s[close] == '\\') {
          ++close;
        }
        ++close;
      }
      if (close >= s.size()) close = std::string_view::npos;
      if (s.substr(i, kRepeat.size()) != kRepeat || close == std::string_view::npos) {
        error = "a literal '{' must be written \\x7B";
        return std::nullopt;
      }
      const std::string_view body = s.substr(i + kRepeat.size(), close - i - kRepeat.size());
      const std::size_t colon = body.rfind(':');
      if (colon == std::string_view::npos || colon + 1 == body.size()) {
        error = "{repeat:TEXT:N} needs a count";
        return std::nullopt;
      }
      std::size_t count = 0;
      for (char d : body.substr(colon + 1)) {
        if (d < '0' || d > '9') {
          error = "bad repeat count";
          return std::nullopt;
        }
        count = count * 10 + static_cast<std::size_t>(d - '0');
      }
      const auto text = unescape(body.substr(0, colon), error);
      if (!text) return std::nullopt;
      for (std::size_t k = 0; k < count; ++k) out += *text;
      i = close + 1;
      continue;
    }
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) {
      error = "dangling backslash";
      return std::nullopt;
    }
    const char e = s[i + 1];
    if (e == '\\') {
      out.push_back('\\');
      i += 2;
    } else if (e == 't') {
      out.push_back('\t');
      i += 2;
    } else if (e == 'n') {
      out.push_back('\n');
      i += 2;
    } else if (e == 'r') {
      out.push_back('\r');
      i += 2;
    } else if (e == 'x') {
      if (i + 3 >= s.size() || hex_value(s[i + 2]) < 0 || hex_value(s[i + 3]) < 0) {
        error = "\\x needs two hex digits";
        return std::nullopt;
      }
      out.push_back(static_cast<char>(hex_value(s[i + 2]) * 16 + hex_value(s[i + 3])));
      i += 4;
    } else if (e == 'u') {
      const std::size_t close = s.find('}', i);
      if (i + 2 >= s.size() || s[i + 2] != '{' || close == std::string_view::npos ||
          close == i + 3 || close > i + 9) {
        error = "\\u needs {1-6 hex digits}";
        return std::nullopt;
      }
      uint32_t cp = 0;
      for (std::size_t k = i + 3; k < close; ++k) {
        const int h = hex_value(s[k]);
        if (h < 0) {
          error = "bad hex digit in \\u{}";
          return std::nullopt;
        }
        cp = cp * 16 + static_cast<uint32_t>(h);
      }
      if (cp > 0x1FFFFF) {
        error = "\\u{} above 0x1FFFFF";
        return std::nullopt;
      }
      append_utf8_unchecked(out, cp);
      i = close + 1;
    } else {
      error = std::string("unknown escape \\") + e;
      return std::nullopt;
    }
  }
  return out;
}

// Reads the table; malformed lines are reported as failures (with their line number) and skipped.
std::vector<Case> load_cases() {
  std::vector<Case> cases;
  for (const auto& row :
       testing::read_case_table(kTablePath, 2, 3, 2, "INPUT<TAB>EXPECTED[<TAB>note]")) {
    std::string error;
    auto input = unescape(row.fields[0], error);
    if (!input) {
      ADD_FAILURE() << "plates.tsv:" << row.line << ": " << error;
      continue;
    }
    cases.push_back({row.line, std::move(*input), row.fields[1]});
  }
  return cases;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = load_cases();
  return c;
}

std::string describe(const Expected<Plate, NormalizeError>& r) {
  return r.ok() ? r->str() : "!" + std::string(to_string(r.error()));
}

TEST(PlateTable, HasEnoughCases) { EXPECT_GE(cases().size(), kMinCases); }

TEST(PlateTable, EveryCaseNormalisesAsExpected) {
  std::set<std::string> reasons;
  for (NormalizeError e : kAllErrors) reasons.insert("!" + std::string(to_string(e)));
  std::map<std::string, int> seen;  // every outcome kind must be exercised
  for (const Case& c : cases()) {
    if (c.expected[0] == '!') {
      ASSERT_TRUE(reasons.count(c.expected))
          << "plates.tsv:" << c.line << ": unknown reason " << c.expected;
    } else {
      ASSERT_TRUE(Plate::from_normalized(c.expected).has_value())
          << "plates.tsv:" << c.line << ": expected value is not a normalised plate";
    }
    const auto r = normalize(c.input);
    EXPECT_EQ(describe(r), c.expected) << "plates.tsv:" << c.line;
    ++seen[c.expected[0] == '!' ? c.expected : "ok"];
  }
  EXPECT_GT(seen["ok"], 0);
  for (const auto& r : reasons) EXPECT_GT(seen[r], 0) << "no case expects " << r;
}

TEST(PlateTable, ReasonNamesAreDistinctAndPrefixed) {
  std::set<std::string_view> names;
  for (NormalizeError e : kAllErrors) {
    EXPECT_EQ(to_string(e).substr(0, 6), "plate_");
    names.insert(to_string(e));
  }
  EXPECT_EQ(names.size(), kAllErrors.size());
}

// ---- Properties ----

bool is_plate_text(std::string_view s) {
  if (s.empty() || s.size() > Plate::kMaxLen) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

void expect_idempotent(std::string_view input, const std::string& where) {
  const auto r = normalize(input);
  if (!r.ok()) return;
  ASSERT_TRUE(is_plate_text(r->view())) << where;
  const auto again = normalize(r->view());
  ASSERT_TRUE(again.ok()) << where;
  EXPECT_EQ(again->view(), r->view()) << where;
}

TEST(PlateProperties, IdempotentOnTableOutputs) {
  std::size_t checked = 0;
  for (const Case& c : cases()) {
    expect_idempotent(c.input, "plates.tsv:" + std::to_string(c.line));
    checked += normalize(c.input).ok();
  }
  EXPECT_GT(checked, 100u);
}

// Random strings built from pieces the normaliser treats differently: kept ASCII, separators,
// folds, invalid characters, controls and broken bytes.
TEST(PlateProperties, IdempotentOnRandomInputs) {
  // clang-format off
  const std::vector<std::string> pieces = {
      "A", "z", "7", "-", " ", ".", "\xC2\xA0", "\xE2\x80\x94", "\xEF\xBC\xA1", "\xEF\xBD\x9A",
      "\xD0\x90", "\xD1\x85", "\xCE\x9F", "\xCF\x87", "\xC3\xA9", "!", "\t", "\xFF", "\xC3",
      "\xED\xA0\x80", "\xF0\x9F\x98\x80", "\xE2\x80\x8B", "\xE3\x80\x80"};
  // clang-format on
  std::mt19937 rng(12345);
  std::size_t ok = 0, failed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const int n = static_cast<int>(rng() % 16);
    for (int k = 0; k < n; ++k) s += pieces[rng() % pieces.size()];
    const auto r = normalize(s);
    (r.ok() ? ok : failed)++;
    expect_idempotent(s, "random input #" + std::to_string(i));
  }
  EXPECT_GT(ok, 1000u);  // both outcomes must be exercised
  EXPECT_GT(failed, 1000u);
}

TEST(PlateProperties, RandomBytesNeverYieldInvalidPlates) {
  std::mt19937 rng(777);
  for (int i = 0; i < 50000; ++i) {
    std::string s(rng() % 24, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    const auto r = normalize(s);
    if (r.ok()) {
      ASSERT_TRUE(is_plate_text(r->view()));
    }
  }
}

Plate random_plate(std::mt19937& rng) {
  static constexpr std::string_view kSymbols = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string s(1 + rng() % Plate::kMaxLen, '\0');
  for (char& c : s) c = kSymbols[rng() % kSymbols.size()];
  return *Plate::from_normalized(s);
}

TEST(PlateKey, RoundTripsForRandomPlates) {
  std::mt19937 rng(42);
  for (int i = 0; i < 100000; ++i) {
    const Plate p = random_plate(rng);
    const uint64_t k = p.key();
    ASSERT_NE(k, 0u) << p.str();
    ASSERT_EQ(k & ~Plate::kKeyMask, 0u) << p.str();
    ASSERT_EQ(Plate::from_key(k), p) << p.str();
  }
}

TEST(PlateKey, RoundTripsAtTheExtremes) {
  for (std::string_view s : {"0", "Z", "0000000000", "ZZZZZZZZZZ", "A0", "0A", "00", "000000000"}) {
    const Plate p = *Plate::from_normalized(s);
    EXPECT_EQ(Plate::from_key(p.key()), p) << s;
  }
}

TEST(PlateKey, DifferentPlatesHaveDifferentKeys) {
  std::mt19937 rng(4242);
  std::map<uint64_t, Plate> by_key;
  for (int i = 0; i < 200000; ++i) {
    const Plate p = random_plate(rng);
    const auto [it, inserted] = by_key.emplace(p.key(), p);
    if (!inserted) {
      ASSERT_EQ(it->second, p) << "key collision";
    }
  }
  // Prefixes and zero-padding are the classic collisions of a base-N packing.
  std::set<uint64_t> keys;
  for (std::string_view s : {"0", "00", "000", "0000000000", "1", "01", "001", "10", "100"})
    EXPECT_TRUE(keys.insert(Plate::from_normalized(s)->key()).second) << s;
}

TEST(PlateKey, SymbolCodesRoundTrip) {
  for (char c : std::string_view("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
    EXPECT_GE(Plate::code(c), 1u);
    EXPECT_LE(Plate::code(c), 36u);
    EXPECT_EQ(Plate::symbol(Plate::code(c)), c);
  }
}

TEST(PlateFromNormalized, RejectsWhatNormalizeWouldChange) {
  for (std::string_view s : {"", "ab12", "AB-12", "AB 12", "ABCDEFGHIJK", "\xD0\x90"})
    EXPECT_FALSE(Plate::from_normalized(s).has_value()) << s;
  EXPECT_TRUE(Plate::from_normalized("ABCDEFGHIJ").has_value());
}

// Every two-letter code packs and unpacks; which of them parse from text is tests/ids_test.cpp's.
TEST(CountryCodeRoundTrip, EveryTwoLetterCode) {
  std::set<uint16_t> raws;
  for (char a = 'A'; a <= 'Z'; ++a) {
    for (char b = 'A'; b <= 'Z'; ++b) {
      const std::string s{a, b};
      const CountryCode c = CountryCode::from_letters(a, b);
      EXPECT_TRUE(c.known()) << s;
      EXPECT_EQ(c.str(), s);
      EXPECT_LT(c.raw(), 1u << CountryCode::kBits);
      EXPECT_EQ(CountryCode::from_raw(c.raw()), c);
      if (c.assigned()) {
        EXPECT_EQ(CountryCode::parse(s), c) << s;
        const std::string lower{static_cast<char>(a - 'A' + 'a'), static_cast<char>(b - 'A' + 'a')};
        EXPECT_EQ(CountryCode::parse(lower), c) << lower;
      } else {
        EXPECT_FALSE(CountryCode::parse(s).has_value()) << s;
      }
      raws.insert(c.raw());
    }
  }
  EXPECT_EQ(raws.size(), 26u * 26u);
  EXPECT_EQ(raws.count(0), 0u);
}

TEST(CountryCodeRoundTrip, UnknownAndRejected) {
  const auto c = CountryCode::parse_or_unknown("");
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->known());
  EXPECT_EQ(c->str(), "");
  EXPECT_EQ(*c, kAnyCountry);
  for (std::string_view s : {"", " ", "   ", " NL", "NL ", "N", "NLD", "N1", "1L", "N-",
                             "\xC3\x9F"
                             "A",
                             "N L"}) {
    EXPECT_FALSE(CountryCode::parse(s).has_value()) << s;
    if (!s.empty()) {
      EXPECT_FALSE(CountryCode::parse_or_unknown(s).has_value()) << s;
    }
  }
  EXPECT_EQ(kNL.str(), "NL");
  EXPECT_EQ(kBE.str(), "BE");
  EXPECT_EQ(kLU.str(), "LU");
}

}  // namespace
}  // namespace anpr
