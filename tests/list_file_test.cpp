#include "ingest/list_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "match/time.h"

namespace anpr {
namespace {

const std::string kDir = ANPR_SOURCE_DIR "/tests/data/lists/";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TimestampMs at(const char* rfc3339) { return *parse_rfc3339(rfc3339); }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// ---- good lists ----

TEST(LoadList, GoodNetherlandsList) {
  const ListLoad r = load_list(kDir + "nl_stolen.csv");
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  ASSERT_TRUE(r.list);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(r.rows, 4u);
  const ListMeta& m = r.list->meta;
  EXPECT_EQ(m.id, "nl-stolen");
  EXPECT_EQ(m.owner, kNL);
  EXPECT_EQ(m.mode, MatchMode::ocr);
  EXPECT_EQ(m.max_substitutions, 2);
  EXPECT_EQ(m.default_category, Category::stolen_vehicle);
  EXPECT_EQ(m.default_action, Action::intercept);
  EXPECT_EQ(m.default_priority, 30);
  EXPECT_EQ(m.valid_from, at("2026-01-01T00:00:00Z"));
  EXPECT_EQ(m.valid_until, at("2028-01-01T00:00:00Z"));  // TOML date 2027-12-31, through that day
  EXPECT_EQ(m.version, "2026-11-23.1");
  EXPECT_EQ(m.source, kDir + "nl_stolen.csv");

  const auto& e = r.list->entries;
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].plate.view(), "GB12ZX");
  EXPECT_EQ(e[0].country, kNL);
  EXPECT_EQ(e[0].category, Category::stolen_vehicle);
  EXPECT_EQ(e[0].action, Action::intercept);
  EXPECT_EQ(e[0].priority, 10);
  EXPECT_EQ(e[0].valid_until, kNoExpiry);
  EXPECT_EQ(e[0].reference, "NL-2026-0001");
  EXPECT_EQ(e[0].note, "");

  EXPECT_EQ(e[1].plate.view(), "GH123B");
  EXPECT_EQ(e[1].category, Category::stolen_plate);
  EXPECT_EQ(e[1].action, Action::observe);
  EXPECT_EQ(e[1].valid_until, at("2027-01-01T00:00:00Z"));  // "2026-12-31": through that day
  EXPECT_EQ(e[1].note, "seen near Utrecht, silver");

  EXPECT_EQ(e[2].plate.view(), "12KRB3");
  EXPECT_EQ(e[2].category, Category::stolen_vehicle);  // sidecar default
  EXPECT_EQ(e[2].priority, 30);                        // sidecar default
  EXPECT_EQ(e[2].valid_until, at("2027-01-15T12:00:00Z"));
  EXPECT_EQ(e[2].note, "line one\nline two");

  EXPECT_EQ(e[3].plate.view(), "99XX99");
  EXPECT_FALSE(e[3].country.known());  // empty plate_country: any country
  EXPECT_EQ(e[3].category, Category::wanted_person);
  EXPECT_EQ(e[3].action, Action::notify);
  EXPECT_EQ(e[3].priority, 0);
  EXPECT_EQ(e[3].reference, "NL-2026-0004");  // surrounding spaces removed
  EXPECT_EQ(e[3].note, "says \"hi\"");
}

TEST(LoadList, GoodBelgianListWithColumnsInAnotherOrder) {
  const ListLoad r = load_list(kDir + "be_wanted.csv");
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  EXPECT_TRUE(r.rejected.empty());
  const ListMeta& m = r.list->meta;
  EXPECT_EQ(m.id, "be.wanted");
  EXPECT_EQ(m.owner, kBE);
  EXPECT_EQ(m.mode, MatchMode::ocr_edit);
  EXPECT_EQ(m.max_substitutions, 1);
  EXPECT_FALSE(m.default_category);
  EXPECT_EQ(m.default_priority, kDefaultPriority);
  EXPECT_EQ(m.valid_from, kNoStart);
  EXPECT_EQ(m.valid_until, kNoExpiry);
  // No version in the sidecar: the checksum of the CSV bytes.
  EXPECT_EQ(m.version, checksum_hex(slurp(kDir + "be_wanted.csv")));
  EXPECT_EQ(m.version.size(), 16u);

  const auto& e = r.list->entries;
  ASSERT_EQ(e.size(), 4u);
  const char* plates[] = {"1ABC123", "2XYZ987", "ABC123", "MARC1"};
  const Category cats[] = {Category::wanted_person, Category::serious_crime,
                           Category::no_inspection, Category::tax_debt};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(e[i].plate.view(), plates[i]);
    EXPECT_EQ(e[i].country, kBE);  // "be" accepted
    EXPECT_EQ(e[i].category, cats[i]);
    EXPECT_EQ(e[i].action, Action::intercept);
    EXPECT_EQ(e[i].priority, kDefaultPriority);
    EXPECT_EQ(e[i].reference, "BE-000" + std::to_string(i + 1));
  }
}

TEST(LoadList, GoodLuxembourgListWithBomCrlfAndLooseHeader) {
  const ListLoad r = load_list(kDir + "lu_terror.csv");
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(r.rows, 4u);  // the blank line is not a row
  const ListMeta& m = r.list->meta;
  EXPECT_EQ(m.owner, kLU);
  EXPECT_EQ(m.default_action, Action::observe);
  EXPECT_EQ(m.valid_from, at("2025-12-31T23:00:00Z"));  // TOML offset date-time, +01:00
  const auto& e = r.list->entries;
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].plate.view(), "AB1234");
  EXPECT_EQ(e[1].plate.view(), "CD1234");
  EXPECT_EQ(e[2].plate.view(), "P1234");
  EXPECT_EQ(e[3].plate.view(), "12345");
  EXPECT_EQ(e[0].country, kLU);
  EXPECT_FALSE(e[3].country.known());
  for (const auto& x : e) {
    EXPECT_EQ(x.category, Category::terrorism);
    EXPECT_EQ(x.action, Action::observe);
  }
  EXPECT_EQ(e[3].reference, "LU-4");
}

TEST(LoadList, HeaderOnlyIsAnEmptyList) {
  const ListLoad r = load_list(kDir + "header_only.csv");
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  ASSERT_TRUE(r.list);
  EXPECT_TRUE(r.list->entries.empty());
  EXPECT_EQ(r.rows, 0u);
  EXPECT_EQ(r.rejected_count, 0u);
}

// ---- fatal problems ----

struct FatalCase {
  const char* csv;
  const char* file_suffix;  // which file the error names
  std::size_t line, column;
  const char* message_part;
};

TEST(LoadList, FatalProblemsNameFileLineAndExpectation) {
  const FatalCase cases[] = {
      {"does_not_exist.csv", "does_not_exist.csv", 0, 0,
       "cannot read the list: No such file or directory"},
      {"missing_sidecar.csv", "missing_sidecar.toml", 0, 0, "cannot read the sidecar of "},
      {"bad_toml.csv", "bad_toml.toml", 2, 20, "invalid TOML: "},
      {"unknown_key.csv", "unknown_key.toml", 3, 1,
       "unknown key 'match_mod': expected one of id, owner_country, match_mode, "},
      {"bad_meta.csv", "bad_meta.toml", 3, 12, "'priority' is 200: expected 0 (highest) .. 100"},
      {"header_unknown.csv", "header_unknown.csv", 1, 0,
       "unknown column 'colour' (column 3 of the header): expected only plate, plate_country, "
       "category, reference, valid_until, priority, action, note, registry_exception"},
      {"header_duplicate.csv", "header_duplicate.csv", 1, 0,
       "duplicate column 'plate' (columns 1 and 3 of the header)"},
      {"header_missing.csv", "header_missing.csv", 1, 0,
       "missing required column 'reference' in the header"},
      {"header_nul.csv", "header_nul.csv", 1, 12, "bad header line: nul_byte: "},
      {"no_category.csv", "no_category.csv", 1, 0,
       "no 'category' column and no default 'category' in the sidecar"},
      {"empty.csv", "empty.csv", 0, 0, "empty file: expected a header line"},
      {"nl_stolen.toml", "nl_stolen.toml", 0, 0, "expected a list file ending in .csv"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.csv);
    const ListLoad r = load_list(kDir + c.csv);
    ASSERT_TRUE(r.fatal);
    EXPECT_FALSE(r.list);
    EXPECT_TRUE(ends_with(r.fatal->file, c.file_suffix)) << r.fatal->file;
    EXPECT_EQ(r.fatal->line, c.line);
    EXPECT_EQ(r.fatal->column, c.column);
    EXPECT_NE(r.fatal->message.find(c.message_part), std::string::npos) << r.fatal->message;
    EXPECT_EQ(r.rows, 0u);
  }
}

TEST(LoadList, FatalToString) {
  const ListLoad r = load_list(kDir + "bad_meta.csv");
  ASSERT_TRUE(r.fatal);
  EXPECT_EQ(to_string(*r.fatal),
            kDir + "bad_meta.toml:3:12: 'priority' is 200: expected 0 (highest) .. 100");
  EXPECT_EQ(to_string(LoadError{"x.csv", 1, 0, "m"}), "x.csv:1: m");
  EXPECT_EQ(to_string(LoadError{"x.csv", 0, 0, "m"}), "x.csv: m");
}

// ---- rejected rows ----

struct Reject {
  std::size_t line;
  const char* column;
  const char* reason;
};

TEST(LoadList, EveryRowRejectionReasonWithItsLine) {
  const ListLoad r = load_list(kDir + "rejects.csv");
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  const Reject want[] = {
      {3, "plate", "plate_empty"},
      {4, "plate", "plate_too_long"},
      {5, "plate", "plate_invalid_utf8"},
      {6, "plate", "plate_control_character"},
      {7, "plate", "plate_invalid_character"},
      {8, "plate_country", "country_invalid"},
      {9, "plate", "plate_format"},
      {10, "category", "category_missing"},
      {11, "category", "category_unknown"},
      {12, "action", "action_unknown"},
      {13, "priority", "priority_invalid"},
      {14, "valid_until", "date_invalid"},
      {15, "reference", "reference_missing"},
      {16, "reference", "reference_too_long"},
      {17, "note", "note_too_long"},
      {18, "reference", "text_invalid_utf8"},
      {19, "", "field_count"},
      {20, "plate", "duplicate"},
      {21, "category", "csv_syntax"},
  };
  ASSERT_EQ(r.rejected.size(), std::size(want));
  EXPECT_EQ(r.rejected_count, std::size(want));
  EXPECT_EQ(r.rows, 21u);
  for (std::size_t i = 0; i < std::size(want); ++i) {
    const RowError& e = r.rejected[i];
    SCOPED_TRACE(to_string(e));
    EXPECT_EQ(e.line, want[i].line);
    EXPECT_EQ(e.column, want[i].column);
    EXPECT_EQ(e.reason, want[i].reason);
    EXPECT_EQ(e.file, kDir + "rejects.csv");
    EXPECT_FALSE(e.detail.empty());
  }
  // The first of the duplicates is kept; the same plate with any-country is a different key.
  ASSERT_TRUE(r.list);
  const auto& e = r.list->entries;
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].reference, "R1");
  EXPECT_EQ(e[0].country, kNL);
  EXPECT_EQ(e[1].reference, "R21");
  EXPECT_FALSE(e[1].country.known());

  // Messages are specific and never quote the plate, reference or note.
  EXPECT_EQ(to_string(r.rejected[17]),
            kDir +
                "rejects.csv:20: plate: duplicate: same plate_country and plate as line 2, "
                "which is kept");
  EXPECT_EQ(to_string(r.rejected[16]),
            kDir +
                "rejects.csv:19: field_count: 7 fields, expected 8 as in the header "
                "(plate,plate_country,category,reference,valid_until,priority,action,note)");
  EXPECT_EQ(r.rejected[5].detail,
            "'NLD' is not an ISO 3166-1 alpha-2 code: expected an ISO 3166-1 alpha-2 code such "
            "as NL, BE or LU, or empty for a plate of any country");
  EXPECT_EQ(r.rejected[18].detail.rfind("garbage_after_quote: ", 0), 0u) << r.rejected[18].detail;
  for (const RowError& x : r.rejected) {
    EXPECT_EQ(x.detail.find("GB"), std::string::npos) << x.detail;
    EXPECT_EQ(x.detail.find("xxxxxxxx"), std::string::npos) << x.detail;
  }
}

TEST(LoadList, NulByteRejectsOnlyItsRow) {
  const ListLoad r = load_list(kDir + "nul.csv");
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].line, 3u);
  EXPECT_EQ(r.rejected[0].reason, "csv_syntax");
  EXPECT_EQ(r.rejected[0].column, "plate");
  EXPECT_NE(r.rejected[0].detail.find("nul_byte"), std::string::npos);
  ASSERT_EQ(r.list->entries.size(), 2u);
  EXPECT_EQ(r.list->entries[1].reference, "R3");
}

TEST(LoadList, UnterminatedQuoteAtEndOfFile) {
  const ListLoad r = load_list(kDir + "unterminated.csv");
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(to_string(r.rejected[0]),
            kDir +
                "unterminated.csv:3: note: csv_syntax: unterminated_quote: quoted field opened "
                "at line 3 column 13 is never closed: expected a closing '\"' before the end "
                "of the file");
  ASSERT_EQ(r.list->entries.size(), 1u);
  EXPECT_EQ(r.list->entries[0].note, "ok");
}

TEST(LoadList, RowErrorListIsCappedButEveryRejectionCounted) {
  ListMeta meta;
  meta.id = "cap";
  meta.owner = kNL;
  meta.default_category = Category::suspect;
  std::string csv = "plate,reference\n";
  for (int i = 0; i < 50; ++i) csv += "!!!,R\n";
  csv += "GB-12-ZX,R\n";
  LoadOptions opt;
  opt.max_row_errors = 10;
  const ListLoad r = load_list_text(csv, "mem.csv", meta, opt);
  ASSERT_FALSE(r.fatal);
  EXPECT_EQ(r.rejected.size(), 10u);
  EXPECT_EQ(r.rejected_count, 50u);
  EXPECT_EQ(r.rows, 51u);
  EXPECT_EQ(r.rejected[9].line, 11u);
  EXPECT_EQ(r.list->entries.size(), 1u);
  EXPECT_EQ(r.list->meta.version, checksum_hex(csv));
  EXPECT_EQ(r.list->meta.source, "mem.csv");
}

TEST(LoadList, DuplicatesKeepTheFirstAndNameIt) {
  ListMeta meta;
  meta.id = "dups";
  meta.owner = kNL;
  meta.default_category = Category::suspect;
  const std::string csv =
      "plate,plate_country,reference\n"
      "GB-12-ZX,NL,first\n"     // 2
      "XX-99-99,,other\n"       // 3
      "gb12zx,NL,second\n"      // 4
      "GB 12 ZX,nl,third\n"     // 5
      "xx 99 99,,other-dup\n";  // 6
  const ListLoad r = load_list_text(csv, "mem.csv", meta);
  ASSERT_EQ(r.rejected.size(), 3u);
  EXPECT_EQ(to_string(r.rejected[0]),
            "mem.csv:4: plate: duplicate: same plate_country and plate as line 2, which is kept");
  EXPECT_EQ(r.rejected[1].line, 5u);
  EXPECT_NE(r.rejected[1].detail.find("line 2"), std::string::npos);
  EXPECT_EQ(r.rejected[2].line, 6u);
  EXPECT_NE(r.rejected[2].detail.find("line 3"), std::string::npos);
  ASSERT_EQ(r.list->entries.size(), 2u);
  EXPECT_EQ(r.list->entries[0].reference, "first");
  EXPECT_EQ(r.list->entries[1].reference, "other");
}

// ---- sidecar from memory ----

struct SidecarCase {
  std::string text;
  std::size_t line, column;  // of the error; line 0 with a message means "not tied to a line"
  const char* message_part;  // nullptr: must parse
};

TEST(Sidecar, Table) {
  const std::string base = "id = \"l\"\nowner_country = \"NL\"\n";
  const std::vector<SidecarCase> cases = {
      {base, 0, 0, nullptr},
      {"id = \"a.b_c-9\"\nowner_country = \"be\"\n", 0, 0, nullptr},
      {base + "valid_from = 2026-01-01\nvalid_until = \"2026-06-30T12:00:00+02:00\"\n", 0, 0,
       nullptr},
      {base + "# comment\nversion = \"v1\"\n", 0, 0, nullptr},
      {"", 0, 0, "missing required key 'id'"},
      {"id = \"a\"\n", 0, 0, "missing required key 'owner_country'"},
      {"owner_country = \"NL\"\n", 0, 0, "missing required key 'id'"},
      {"id = \"A\"\nowner_country = \"NL\"\n", 1, 6, "'id' 'A' is not a list id"},
      {"id = \"\"\nowner_country = \"NL\"\n", 1, 6, "is not a list id"},
      {"id = \"" + std::string(65, 'a') + "\"\nowner_country = \"NL\"\n", 1, 6,
       "expected 1..64 characters"},
      {"id = \"a b\"\nowner_country = \"NL\"\n", 1, 6, "is not a list id"},
      {"id = 5\nowner_country = \"NL\"\n", 1, 6, "'id' must be a string, got an integer"},
      {"id = \"a\"\nowner_country = \"NLD\"\n", 2, 17, "is not an ISO 3166-1 alpha-2 code"},
      {"id = \"a\"\nowner_country = \"\"\n", 2, 17, "is not an ISO 3166-1 alpha-2 code"},
      {"id = \"a\"\nowner_country = \"N1\"\n", 2, 17, "is not an ISO 3166-1 alpha-2 code"},
      {base + "match_mode = \"fuzzy\"\n", 3, 14, "expected exact, ocr or ocr+edit"},
      {base + "max_substitutions = 3\n", 3, 21, "'max_substitutions' is 3: expected 1 or 2"},
      {base + "max_substitutions = 0\n", 3, 21, "expected 1 or 2"},
      {base + "max_substitutions = \"1\"\n", 3, 21, "must be an integer 1..2, got a string"},
      {base + "category = \"stolen\"\n", 3, 12, "is not a category: expected one of"},
      {base + "action = \"arrest\"\n", 3, 10, "expected intercept, observe or notify"},
      {base + "priority = -1\n", 3, 12, "expected 0 (highest) .. 100"},
      {base + "priority = 1.5\n", 3, 12, "must be an integer 0..100, got a float"},
      {base + "priority = true\n", 3, 12, "got a boolean"},
      {base + "valid_from = \"2026-13-01\"\n", 3, 14, "is not a date or RFC 3339 timestamp"},
      {base + "valid_until = 2026-12-31T10:00:00\n", 3, 15, "has no UTC offset"},
      {base + "valid_from = 10:00:00\n", 3, 14, "got a time"},
      {base + "valid_from = [2026]\n", 3, 14, "got an array"},
      {base + "valid_from = 2026-06-01\nvalid_until = 2026-05-31\n", 4, 15,
       "must be after 'valid_from'"},
      {base + "version = \"\"\n", 3, 11, "'version' must be 1..128 printable ASCII"},
      {base + "version = \"a\\tb\"\n", 3, 11, "printable ASCII"},
      {base + "[extra]\nkey = 1\n", 3, 1, "tables are not allowed in a sidecar"},
      {base + "  [[x]]\n", 3, 3, "tables are not allowed in a sidecar"},
      {"[%\n", 1, 1, "tables are not allowed"},  // trips an assertion in toml++ 3.3
      {base + "x = { a = 1 }\n", 3, 1, "unknown key 'x'"},
      {base + "Id = \"x\"\n", 3, 1, "unknown key 'Id'"},
      {base + "match-mode = \"ocr\"\n", 3, 1, "unknown key 'match-mode'"},
      {"id = \"a\"\nid = \"b\"\n", 2, 6, "cannot redefine existing string 'id'"},
      {"id = \"a\"\nowner_country = \"NL\n", 2, 20, "invalid TOML"},
      {"id = \"a\xff\"\n", 1, 7, "invalid TOML"},
      {"\xff\xfe", 1, 1, "invalid TOML"},
      {std::string("id = \"a\0\"\n", 10), 1, 8, "invalid TOML"},
      {"= 1\n", 1, 1, "invalid TOML"},
      // Constructs toml++ 3.3 mishandles, refused by base/toml_guard.h before it sees them.
      {base + "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q = 1\n", 3, 1, "dotted key of more than 16"},
      {base + "x = [}\n", 3, 1, "invalid TOML"},
      {base + "x = 4'a'\n", 3, 1, "invalid TOML"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const SidecarParse p = parse_sidecar(c.text, "s.toml");
    if (!c.message_part) {
      EXPECT_FALSE(p.error) << to_string(*p.error);
      EXPECT_TRUE(p.meta);
      continue;
    }
    ASSERT_TRUE(p.error);
    EXPECT_FALSE(p.meta);
    EXPECT_EQ(p.error->file, "s.toml");
    EXPECT_NE(p.error->message.find(c.message_part), std::string::npos) << p.error->message;
    EXPECT_EQ(p.error->line, c.line) << p.error->message;
    if (c.line != 0) {
      EXPECT_EQ(p.error->column, c.column) << p.error->message;
    }
  }
}

TEST(Sidecar, ValuesAndDefaults) {
  const SidecarParse d = parse_sidecar("id = \"l\"\nowner_country = \"NL\"\n", "s.toml");
  ASSERT_TRUE(d.meta);
  EXPECT_EQ(d.meta->mode, MatchMode::exact);
  EXPECT_EQ(d.meta->max_substitutions, 1);
  EXPECT_EQ(d.meta->default_action, Action::intercept);
  EXPECT_EQ(d.meta->default_priority, 50);
  EXPECT_FALSE(d.meta->default_category);
  EXPECT_EQ(d.meta->valid_from, kNoStart);
  EXPECT_EQ(d.meta->valid_until, kNoExpiry);
  EXPECT_EQ(d.meta->version, "");

  const SidecarParse p = parse_sidecar(
      "id = \"l\"\nowner_country = \"LU\"\nvalid_from = \"2026-03-01\"\n"
      "valid_until = 2026-06-30T12:00:00.250Z\nmatch_mode = \"ocr+edit\"\npriority = 0\n",
      "s.toml");
  ASSERT_TRUE(p.meta) << to_string(*p.error);
  EXPECT_EQ(p.meta->valid_from, at("2026-03-01T00:00:00Z"));
  EXPECT_EQ(p.meta->valid_until, at("2026-06-30T12:00:00.250Z"));
  EXPECT_EQ(p.meta->mode, MatchMode::ocr_edit);
  EXPECT_EQ(p.meta->default_priority, 0);

  // A string valid_until date means through that day; a TOML date too.
  for (const char* v : {"\"2026-06-30\"", "2026-06-30"}) {
    const SidecarParse q = parse_sidecar(
        std::string("id = \"l\"\nowner_country = \"NL\"\nvalid_until = ") + v + "\n", "s.toml");
    ASSERT_TRUE(q.meta);
    EXPECT_EQ(q.meta->valid_until, at("2026-07-01T00:00:00Z")) << v;
  }
}

// ---- checksum ----

TEST(Checksum, StableAndSensitive) {
  // Pinned values: the default list version must not change between releases.
  EXPECT_EQ(checksum_hex(""), "8a3cf4470d20f1a9");
  EXPECT_EQ(checksum_hex("plate,reference\n"), "aecdb59985d84507");
  EXPECT_EQ(checksum_hex("abcdefgh"), "8c445445279bb097");
  EXPECT_NE(checksum64("a"), checksum64("b"));
  EXPECT_NE(checksum64("a"), checksum64(std::string_view("a\0", 2)));
  EXPECT_NE(checksum64("abcdefgh"), checksum64("abcdefgi"));
  EXPECT_NE(checksum64("abcdefgh1"), checksum64("abcdefgh2"));
  EXPECT_NE(checksum64(std::string(16, 'x')), checksum64(std::string(17, 'x')));
  // Every single-bit flip of a small text changes the checksum.
  std::string text = "plate,reference\nGB-12-ZX,R1\n";
  const uint64_t base = checksum64(text);
  for (std::size_t i = 0; i < text.size(); ++i)
    for (int b = 0; b < 8; ++b) {
      text[i] ^= static_cast<char>(1 << b);
      EXPECT_NE(checksum64(text), base) << i << ":" << b;
      text[i] ^= static_cast<char>(1 << b);
    }
}

}  // namespace
}  // namespace anpr

namespace anpr {
namespace {

// A list large enough to be parsed in parts: every rejection keeps its line, quoted fields with
// line ends and commas are cut around, duplicates across parts are found, and a CSV syntax error
// gives the same report as a one-piece read.
std::string large_list(std::vector<std::size_t>& bad_lines, std::size_t rows, bool syntax_error) {
  std::string csv = "plate,reference,note\n";
  std::size_t line = 2;
  for (std::size_t i = 0; i < rows; ++i) {
    const std::size_t start = line;
    if (i % 997 == 5) {
      csv += "AB$" + std::to_string(i) + ",r" + std::to_string(i) + ",\n";
      bad_lines.push_back(start);
    } else if (i % 1001 == 7) {
      csv += "P" + std::to_string(i) + ",r" + std::to_string(i) + ",\"two\nlines, \"\"quoted\"\"\"\n";
      ++line;
    } else if (i == rows - 3) {
      csv += "P6,dup,\n";  // the same plate as row 6 near the top
      bad_lines.push_back(start);
    } else if (syntax_error && i == rows / 2) {
      csv += "P" + std::to_string(i) + ",r" + std::string(1, '\0') + "x,\n";  // nul_byte
      bad_lines.push_back(start);
    } else {
      csv += "P" + std::to_string(i) + ",r" + std::to_string(i) + ",note\n";
    }
    ++line;
  }
  return csv;
}

TEST(LoadList, LargeListsParsedInPartsKeepEveryLine) {
  for (bool syntax_error : {false, true}) {
    std::vector<std::size_t> bad;
    const std::string csv = large_list(bad, 500'000, syntax_error);
    ASSERT_GT(csv.size(), std::size_t{8} << 20);
    ListMeta meta;
    meta.id = "big";
    meta.owner = kNL;
    meta.default_category = Category::suspect;
    const ListLoad r = load_list_text(csv, "big.csv", meta);
    ASSERT_FALSE(r.fatal);
    EXPECT_EQ(r.rows, 500'000u);
    ASSERT_EQ(r.rejected.size(), bad.size());
    std::sort(bad.begin(), bad.end());
    for (std::size_t i = 0; i < bad.size(); ++i) EXPECT_EQ(r.rejected[i].line, bad[i]) << i;
    EXPECT_EQ(r.list->entries.size(), 500'000u - bad.size());
    EXPECT_EQ(r.rejected_by_reason.at("duplicate"), 1u);
    // The quoted notes came through whole, and the entries are in file order.
    EXPECT_EQ(r.list->entries[6].note, "two\nlines, \"quoted\"");
    EXPECT_EQ(r.list->entries[0].plate.str(), "P0");
    EXPECT_EQ(r.list->entries.back().plate.str(), "P499999");
  }
}

}  // namespace
}  // namespace anpr
