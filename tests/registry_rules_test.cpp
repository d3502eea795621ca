// What the registries issue (match/registry_rules.h, match/nl_registry_rules.txt): the NL
// sidecodes' letters and the combinations the RDW does not issue, as reference-list row
// rejections with their precise reason; the operator's registry_exception column that accepts a
// genuine exception (recorded in the load report, kept in stored versions); malformed rule text
// and malformed exception values. Camera reads are not judged by the avoided combinations.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "base/json_writer.h"
#include "ingest/list_file.h"
#include "lists/registry.h"
#include "match/formats.h"
#include "match/index.h"
#include "match/plate.h"
#include "match/registry_rules.h"
#include "pipeline/offline.h"
#include "tests/temp_dir.h"

namespace anpr {
namespace {

Plate P(std::string_view s) {
  auto p = normalize(s);
  EXPECT_TRUE(p.ok()) << s;
  return *p;
}

// ---- the rules as data ----

TEST(RegistryRules, TheBuiltInRulesParse) {
  const registry_rules::Parse p = registry_rules::parse_nl(registry_rules::nl_rules_text());
  ASSERT_TRUE(p.rules) << p.error;
  const registry_rules::NlRules& r = registry_rules::nl();
  const auto bit = [](char c) { return 1u << (c - 'A'); };
  EXPECT_TRUE(r.letters[1] & bit('A'));  // sidecodes 1-3: every letter
  EXPECT_TRUE(r.letters[3] & bit('Q'));
  for (int s = 4; s <= 14; ++s) {
    SCOPED_TRACE(s);
    for (char c : std::string("AEIUCQ")) EXPECT_FALSE(r.letters[s] & bit(c)) << c;
    EXPECT_FALSE(r.letters[s] & bit('O'));
    EXPECT_TRUE(r.first_only[s] & bit('O'));
    EXPECT_EQ(static_cast<bool>(r.letters[s] & bit('Y')), s <= 6);
  }
  // Every combination the RDW names is in the file.
  for (const char* c :
       {"SS", "SD", "GVD", "KKK", "NSB", "PKK", "PSV", "TBS", "PVV", "SGP", "VVD"}) {
    bool found = false;
    for (const auto& a : r.avoided) found |= a.combination == c;
    EXPECT_TRUE(found) << c;
  }
  // The file cites its sources.
  EXPECT_NE(registry_rules::nl_rules_text().find("[rdw]"), std::string_view::npos);
}

TEST(RegistryRules, MalformedRuleTextIsRefusedWithItsLine) {
  const std::string ok = "letters 1-14 BDF - [x]\n";
  struct Case {
    std::string text;
    std::string error_part;
  };
  const Case cases[] = {
      {"letters 1-13 BDF - [x]\n", "sidecode 14 has no letters rule"},
      {ok + "letters 4 BDF - [x]\n", "line 2: sidecode 4 has a letters rule already"},
      {"letters 0-14 BDF - [x]\n", "line 1: sidecodes"},
      {"letters 1-15 BDF - [x]\n", "line 1: sidecodes"},
      {"letters 5-4 BDF - [x]\n", "line 1: sidecodes"},
      {"letters 1-14 bdf - [x]\n", "line 1: letters"},
      {"letters 1-14 BDF\n", "line 1: expected: letters"},
      {"letters 1-14 BDF 0 [x]\n", "line 1: first"},
      {ok + "avoid 4-14 S [x]\n", "line 2: combination"},
      {ok + "avoid 4-14 SSSS [x]\n", "line 2: combination"},
      {ok + "avoid 4-14 S1 [x]\n", "line 2: combination"},
      {ok + "avoid 4-14 SS\n", "line 2: expected: avoid"},
      {ok + "forbid 4-14 SS [x]\n", "line 2: unknown rule 'forbid'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const registry_rules::Parse p = registry_rules::parse_nl(c.text);
    EXPECT_FALSE(p.rules);
    EXPECT_NE(p.error.find(c.error_part), std::string::npos) << p.error;
  }
  const registry_rules::Parse good =
      registry_rules::parse_nl("# comment\n\n" + ok + "avoid 7-14 NSB [x]  # trailing\n");
  ASSERT_TRUE(good.rules) << good.error;
  ASSERT_EQ(good.rules->avoided.size(), 1u);
  EXPECT_EQ(good.rules->avoided[0].combination, "NSB");
  EXPECT_EQ(good.rules->avoided[0].from, 7);
}

// ---- plates ----

struct PlateCase {
  const char* plate;
  const char* reason;        // "" when the registry issues it
  const char* detail_part;   // a part of the detail
};

TEST(RegistryRules, NlPlatesTheRegistryDoesNotIssue) {
  const PlateCase cases[] = {
      // Letters a sidecode does not use.
      {"AB-12-CD", "plate_letters_not_issued", "NL sidecode 4 (XX-99-XX)"},
      {"AB-12-CD", "plate_letters_not_issued", "; A and C are not issued there"},
      {"12-BDY-3", "plate_letters_not_issued", "NL sidecode 7 (99-XXX-9)"},
      {"12-BDY-3", "plate_letters_not_issued", "Y is not issued there"},
      {"BO-12-PL", "plate_letters_not_issued", "O is not issued there (or not in that position)"},
      {"QQ-11-QQ", "plate_letters_not_issued", "Q is not issued"},
      {"G-001-EB", "plate_letters_not_issued", "NL sidecode 10 (X-999-XX)"},
      // Combinations the RDW avoids.
      {"PSV-12-B", "plate_combination_avoided", "PSV"},
      {"PSV-12-B", "plate_combination_avoided", "NL sidecode 11 (XXX-99-X)"},
      {"12-NSB-1", "plate_combination_avoided", "NSB"},
      {"SS-12-BB", "plate_combination_avoided", "SS"},
      {"BB-12-SD", "plate_combination_avoided", "SD"},
      {"BS-SD-12", "plate_combination_avoided", "SD"},
      {"12-BSS-1", "plate_combination_avoided", "SS"},  // inside a group of three
      {"1-KKK-12", "plate_combination_avoided", "KKK"},
      {"G-12-TBS", "plate_combination_avoided", "TBS"},
      {"1-PVV-12", "plate_combination_avoided", "PVV"},
      {"VVD-12-B", "plate_combination_avoided", "VVD"},
      {"SGP-12-B", "plate_combination_avoided", "sidecodes 8-14"},
      {"GVD-12-B", "plate_combination_avoided", "GVD"},
      {"PKK-12-B", "plate_combination_avoided", "PKK"},
      // Issued: the same letters in other places, or series the rules leave alone.
      {"NB-12-PL", "", ""},
      {"GB-123-X", "", ""},
      {"N-001-SB", "", ""},
      {"69-SX-SX", "", ""},   // S and S in two groups
      {"BS-SB-12", "", ""},   // S S across the separator
      {"GV-123-D", "", ""},   // G V D across the separators
      {"12-PVV-1", "", ""},   // sidecode 7: PVV not judged (see the rules file)
      {"AB-12-34", "", ""},   // sidecode 1: every letter
      {"SS-12-34", "", ""},   // sidecode 1: the rules start at sidecode 4
      {"12-AB-34", "", ""},
      {"OB-12-PL", "", ""},   // O first: semi-trailers
      {"XY-12-ZZ", "", ""},   // Y in sidecode 4
      {"ABCDEFG", "", ""},    // no sidecode's form at all: formats::valid says so
  };
  for (const PlateCase& c : cases) {
    SCOPED_TRACE(c.plate);
    const auto f = registry_rules::not_issued(kNL, P(c.plate));
    if (std::string_view(c.reason).empty()) {
      EXPECT_FALSE(f) << f->detail;
      continue;
    }
    ASSERT_TRUE(f);
    EXPECT_EQ(f->reason, c.reason) << f->detail;
    EXPECT_NE(f->detail.find(c.detail_part), std::string::npos) << f->detail;
    // The detail names letters, never the whole plate (docs/design.md §6).
    EXPECT_EQ(f->detail.find(P(c.plate).str()), std::string::npos) << f->detail;
    EXPECT_EQ(f->detail.find(formats::display(kNL, P(c.plate))), std::string::npos) << f->detail;
  }
  // BE and LU have no such rules here.
  EXPECT_FALSE(registry_rules::not_issued(kBE, P("1-PSV-123")));
  EXPECT_FALSE(registry_rules::not_issued(kLU, P("SS 1234")));
}

TEST(RegistryRules, ReadsAreNotJudgedByTheAvoidedCombinations) {
  // formats::valid() decides what a camera read can be (and prunes fuzzy candidates): an avoided
  // combination is still a plate that can be on the road.
  EXPECT_TRUE(formats::valid(kNL, P("12-NSB-1")));
  EXPECT_TRUE(formats::valid(kNL, P("PSV-12-B")));
  EXPECT_FALSE(formats::valid(kNL, P("AB-12-CD")));
  EXPECT_EQ(formats::classify(kNL, P("12-NSB-1")).value_or(""), "NL sidecode 7");
  EXPECT_EQ(formats::nl_sidecode_of_shape(P("AB-12-CD")), 4);
  EXPECT_EQ(formats::nl_sidecode_pattern(4), "XX-99-XX");
  EXPECT_EQ(formats::nl_sidecode_of_shape(P("ABCDEFG")), 0);
}

// ---- list rows ----

ListMeta meta() {
  ListMeta m;
  m.id = "nl-test";
  m.owner = kNL;
  m.default_category = Category::stolen_vehicle;
  return m;
}

ListLoad load(const std::string& rows) {
  return load_list_text("plate,plate_country,reference,note,registry_exception\n" + rows,
                        "t.csv", meta());
}

TEST(RegistryRules, ListRowsAreRejectedWithThePreciseReason) {
  const ListLoad r = load(
      "AB-12-CD,NL,r1,,\n"        // line 2: letters
      "NB-12-PL,NL,r2,,\n"        // line 3: fine
      "PSV-12-B,NL,r3,,\n"        // line 4: avoided
      "GBB-12-B,NL,r4,,\n"        // line 5: fine
      "ABCDEFG,NL,r5,,\n"         // line 6: no form at all
      "12-NSB-1,NL,r6,,no\n"      // line 7: avoided, no exception
      "AB-12-CD,,r7,,\n"          // line 8: any country: not judged
      "1-PSV-123,BE,r8,,\n");     // line 9: BE: not judged
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  ASSERT_EQ(r.rejected.size(), 4u);
  EXPECT_EQ(r.rejected[0].line, 2u);
  EXPECT_EQ(r.rejected[0].column, "plate");
  EXPECT_EQ(r.rejected[0].reason, "plate_letters_not_issued");
  EXPECT_NE(r.rejected[0].detail.find("NL sidecode 4 (XX-99-XX)"), std::string::npos)
      << r.rejected[0].detail;
  EXPECT_NE(r.rejected[0].detail.find("A and C"), std::string::npos) << r.rejected[0].detail;
  EXPECT_EQ(r.rejected[1].line, 4u);
  EXPECT_EQ(r.rejected[1].reason, "plate_combination_avoided");
  EXPECT_EQ(r.rejected[2].line, 6u);
  EXPECT_EQ(r.rejected[2].reason, "plate_format");
  EXPECT_EQ(r.rejected[3].line, 7u);
  EXPECT_EQ(r.rejected[3].reason, "plate_combination_avoided");
  EXPECT_EQ(r.rejected_by_reason.at("plate_letters_not_issued"), 1u);
  EXPECT_EQ(r.rejected_by_reason.at("plate_combination_avoided"), 2u);
  ASSERT_TRUE(r.list);
  EXPECT_EQ(r.list->entries.size(), 4u);
  EXPECT_EQ(r.registry_exception_count, 0u);
  for (const ListEntry& e : r.list->entries) EXPECT_FALSE(e.registry_exception);
  // The line a person reads names the row, the column and the reason.
  EXPECT_EQ(to_string(r.rejected[0]).rfind("t.csv:2: plate: plate_letters_not_issued: ", 0), 0u)
      << to_string(r.rejected[0]);
}

TEST(RegistryRules, AnOperatorsExceptionAcceptsTheRowAndIsRecorded) {
  const ListLoad r = load(
      "AB-12-CD,NL,r1,imported; RDW letter 2026-03,yes\n"     // line 2: accepted
      "12-NSB-1,NL,r2,issued by mistake in 2010, yes \n"      // line 3: accepted (spaces)
      "NB-12-PL,NL,r3,nothing to override,yes\n"              // line 4: accepted, no exception
      "PSV-12-B,NL,r4,,yes\n"                                 // line 5: note missing
      "PSV-12-B,NL,r5,   ,yes\n"                              // line 6: note blank
      "ABCDEFG,NL,r6,not a plate of any form,yes\n"           // line 7: shape: not overridable
      "AB-12-CD,NL,r7,same plate again,yes\n");               // line 8: duplicate of line 2
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  ASSERT_EQ(r.rejected.size(), 4u);
  EXPECT_EQ(r.rejected[0].line, 5u);
  EXPECT_EQ(r.rejected[0].column, "note");
  EXPECT_EQ(r.rejected[0].reason, "registry_exception_note_missing");
  EXPECT_EQ(r.rejected[1].line, 6u);
  EXPECT_EQ(r.rejected[1].reason, "registry_exception_note_missing");
  EXPECT_EQ(r.rejected[2].line, 7u);
  EXPECT_EQ(r.rejected[2].reason, "plate_format");
  EXPECT_EQ(r.rejected[3].line, 8u);
  EXPECT_EQ(r.rejected[3].reason, "duplicate");
  ASSERT_TRUE(r.list);
  ASSERT_EQ(r.list->entries.size(), 3u);
  EXPECT_TRUE(r.list->entries[0].registry_exception);
  EXPECT_TRUE(r.list->entries[1].registry_exception);
  EXPECT_FALSE(r.list->entries[2].registry_exception);
  // Recorded: the rows and the rule each overrode.
  ASSERT_EQ(r.registry_exception_count, 2u);
  ASSERT_EQ(r.registry_exceptions.size(), 2u);
  EXPECT_EQ(r.registry_exceptions[0].line, 2u);
  EXPECT_EQ(r.registry_exceptions[0].reason, "plate_letters_not_issued");
  EXPECT_EQ(r.registry_exceptions[1].line, 3u);
  EXPECT_EQ(r.registry_exceptions[1].reason, "plate_combination_avoided");
}

TEST(RegistryRules, ExceptionsAreAllCountedButTheirDetailsKeptBounded) {
  std::string rows = "plate,plate_country,reference,note,registry_exception\n";
  for (int i = 0; i < 50; ++i)
    rows += "PSV-" + std::to_string(10 + i) + "-B,NL,r" + std::to_string(i) + ",confirmed,yes\n";
  rows += "PSV-10-B,NL,again,confirmed,yes\n";  // a duplicate: not in the list, not counted
  LoadOptions o;
  o.max_row_errors = 3;
  const ListLoad r = load_list_text(rows, "t.csv", meta(), o);
  ASSERT_FALSE(r.fatal);
  EXPECT_EQ(r.list->entries.size(), 50u);
  EXPECT_EQ(r.registry_exception_count, 50u);
  ASSERT_EQ(r.registry_exceptions.size(), 3u);
  EXPECT_EQ(r.registry_exceptions[2].line, 4u);
}

TEST(RegistryRules, AnExceptionsPlateMatchesReadsWithEveryTolerance) {
  // AB-12-CD fits no NL form (A and C are not issued in sidecode 4); accepted by its exception it
  // must still match a read of it, exactly, misread by one confusable character, and with one
  // character missing (the index must not prune that candidate by format).
  ListMeta m = meta();
  m.mode = MatchMode::ocr_edit;
  const ListLoad r = load_list_text(
      "plate,plate_country,reference,note,registry_exception\n"
      "AB-12-CD,NL,r1,imported oldtimer,yes\nNB-12-PL,NL,r2,,\n",
      "t.csv", m);
  ASSERT_FALSE(r.fatal);
  ASSERT_EQ(r.list->entries.size(), 2u);
  IndexBuilder b;
  b.add(*r.list);
  const auto snap = b.build();
  std::string reads;
  for (const char* plate : {"AB12CD", "A812CD", "AB2CD"})
    reads += std::string("{\"event_id\":\"e-") + plate +
             "\",\"camera_id\":\"c1\",\"ts\":\"2026-12-01T08:00:00Z\",\"plate\":\"" + plate +
             "\",\"plate_country\":\"NL\"}\n";
  std::istringstream in(reads);
  std::ostringstream err;
  std::set<std::string> hit_reads;
  const auto sink = [&](const HitReadView& v, const Snapshot& s, const IndexHit& h) {
    if (s.entry_plate(h.entry).str() == "AB12CD") hit_reads.insert(std::string(v.plate));
  };
  app::match_stream(*snap, in, "reads", sink, "test", err);
  EXPECT_EQ(hit_reads, (std::set<std::string>{"AB12CD", "A812CD", "AB2CD"})) << err.str();
}

TEST(RegistryRules, MalformedExceptionValuesAreRejected) {
  for (const char* v : {"Yes", "YES", "y", "1", "true", "maybe", "yes please", "\xff"}) {
    SCOPED_TRACE(v);
    const ListLoad r = load(std::string("NB-12-PL,NL,r1,why,") + v + "\n");
    ASSERT_FALSE(r.fatal);
    ASSERT_EQ(r.rejected.size(), 1u);
    EXPECT_EQ(r.rejected[0].column, "registry_exception");
    EXPECT_EQ(r.rejected[0].reason, "registry_exception_invalid");
    EXPECT_NE(r.rejected[0].detail.find("expected yes"), std::string::npos);
  }
  for (const char* v : {"", "no", " no ", "yes"}) {
    SCOPED_TRACE(v);
    const ListLoad r = load(std::string("NB-12-PL,NL,r1,why,") + v + "\n");
    EXPECT_TRUE(r.rejected.empty()) << to_string(r.rejected.at(0));
  }
  // A hostile value: long, with a control character; the detail quotes it bounded.
  const ListLoad r = load("NB-12-PL,NL,r1,why," + std::string(5000, 'y') + "\x01\n");
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].reason, "registry_exception_invalid");
  EXPECT_LT(r.rejected[0].detail.size(), 400u);
}

TEST(RegistryRules, JsonLinesRowsTakeTheExceptionToo) {
  const ListLoad r = load_list_jsonl_text(
      "{\"plate\":\"AB-12-CD\",\"plate_country\":\"NL\",\"reference\":\"r1\","
      "\"note\":\"imported\",\"registry_exception\":\"yes\"}\n"
      "{\"plate\":\"AB-12-CD\",\"plate_country\":\"NL\",\"reference\":\"r2\","
      "\"registry_exception\":true}\n",
      "t.jsonl", meta());
  ASSERT_FALSE(r.fatal);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].line, 2u);
  EXPECT_EQ(r.rejected[0].reason, "field_type");
  EXPECT_EQ(r.registry_exception_count, 1u);
}

TEST(RegistryRules, TheExceptionIsInTheReportAndSurvivesAStoredVersion) {
  testing::TempDir dir("registry-rules");
  {
    std::ofstream(dir.path() / "x.toml") << "id = \"nl-x\"\nowner_country = \"NL\"\n"
                                            "category = \"stolen_vehicle\"\n";
    std::ofstream(dir.path() / "x.csv")
        << "plate,plate_country,reference,note,registry_exception\n"
           "AB-12-CD,NL,r1,imported oldtimer,yes\nNB-12-PL,NL,r2,,\nPSV-12-B,NL,r3,,\n";
  }
  lists::Policy policy;
  policy.max_rejected_percent = 100;
  lists::FileLoad f = lists::load_file(dir.path() / "x.csv", policy, 0);
  ASSERT_FALSE(f.report.fatal);
  EXPECT_EQ(f.report.accepted, 2u);
  EXPECT_EQ(f.report.registry_exceptions, 1u);
  ASSERT_EQ(f.report.registry_exception_rows.size(), 1u);
  EXPECT_EQ(f.report.registry_exception_rows[0].line, 2u);

  std::ostringstream text;
  lists::write_report_text(text, f.report);
  EXPECT_NE(text.str().find(":2: registry_exception: accepted although plate_letters_not_issued: "),
            std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find(":4: plate: plate_combination_avoided: "), std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("1 accepted as registry exceptions"), std::string::npos) << text.str();
  std::string json;
  {
    JsonWriter w(json);
    lists::write_report_json(w, f.report);
  }
  EXPECT_NE(json.find("\"registry_exceptions\":1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"reason\":\"plate_letters_not_issued\""), std::string::npos) << json;

  // A stored version (state.dir/lists) keeps the exception, so a restart restores the row.
  ASSERT_TRUE(f.list);
  lists::write_list_files(*f.list, dir.path() / "v1.csv");
  LoadOptions o;
  o.stored_version = true;
  const ListLoad again = load_list(dir.path() / "v1.csv", o);
  ASSERT_FALSE(again.fatal) << to_string(*again.fatal);
  EXPECT_EQ(again.rejected_count, 0u) << to_string(again.rejected.at(0));
  ASSERT_EQ(again.list->entries.size(), 2u);
  EXPECT_TRUE(again.list->entries[0].registry_exception);
  EXPECT_EQ(again.registry_exception_count, 1u);
}

}  // namespace
}  // namespace anpr
