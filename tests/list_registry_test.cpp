// Reference lists as operators manage them (lists/registry.h): every rejection reason of the
// validation report with its line and column, threshold refusal, versions, deltas, delete,
// rollback, restart, expiry with a fake clock, and readers that never see a mix of two versions.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "config/settings.h"
#include "lists/registry.h"
#include "match/plate.h"
#include "tests/index_refs.h"
#include "match/time.h"

namespace anpr::lists {
namespace {

namespace fs = std::filesystem;

const TimestampMs kT0 = *parse_rfc3339("2026-11-24T12:00:00.000Z");

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() /
               ("anpr-lists-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string sidecar(std::string_view id = "nl-test", std::string_view owner = "NL",
                    std::string_view category = "stolen_vehicle") {
  return "id = \"" + std::string(id) + "\"\nowner_country = \"" + std::string(owner) +
         "\"\ncategory = \"" + std::string(category) + "\"\n";
}

// `n` valid rows of plates of any country: P0000000, P0000001, ... with reference tag-i.
std::string good_rows(std::size_t n, std::string_view tag = "r", std::size_t first = 0) {
  std::string s;
  char buf[64];
  for (std::size_t i = first; i < first + n; ++i) {
    std::snprintf(buf, sizeof buf, "P%07zu,%s-%zu\n", i, std::string(tag).c_str(), i);
    s += buf;
  }
  return s;
}

struct Fixture {
  explicit Fixture(const std::string& name, bool stored = true, Policy p = Policy{})
      : dir(stored ? temp_dir(name) : fs::path{}) {
    p.countries = config::default_country_policies();
    policy = p;
    reg = std::make_unique<Registry>(live, policy, dir, [this] { return now.load(); });
  }
  ChangeResult load(const std::string& rows, std::string_view id = "nl-test",
                    Format f = Format::csv) {
    const std::string side = sidecar(id);
    return reg->load(ListInput{side, rows, f, "upload.csv"}, Actor{"olga", "operator"});
  }
  std::size_t entries() const { return live.read()->entry_count(); }
  // The references matched by plate `p` (any country), in the current snapshot.
  std::vector<std::string> refs(std::string_view plate) const {
    return testing::matched_references(live, plate, now.load());
  }

  fs::path dir;
  Policy policy;
  LiveIndex live;
  std::atomic<TimestampMs> now{kT0};
  std::unique_ptr<Registry> reg;
};

// ---- the validation report: every reason, with line and column ----

struct ReasonCase {
  const char* name;
  std::string owner;
  std::string header;
  std::string row;
  std::string reason;
  std::string column;
};

class RejectionReason : public ::testing::TestWithParam<ReasonCase> {};

TEST_P(RejectionReason, IsReportedWithLineAndColumn) {
  const ReasonCase& c = GetParam();
  Policy p;
  p.max_rejected_percent = 100;
  Fixture f("reason", false, p);
  // Three good rows, the bad one on line 5 (the header is line 1).
  std::string rows = c.header + "\n";
  const bool has_country = c.header.find("plate_country") != std::string::npos;
  const std::size_t ncols = static_cast<std::size_t>(std::count(c.header.begin(), c.header.end(), ',')) + 1;
  for (int i = 0; i < 3; ++i) {
    // plate first, then the reference, then empty columns (headers below keep that order).
    std::string r = "Q" + std::to_string(100 + i) + (has_country ? ",," : ",") + "ref-" + std::to_string(i);
    const std::size_t have = has_country ? 3 : 2;
    for (std::size_t k = have; k < ncols; ++k) r += ",";
    rows += r + "\n";
  }
  rows += c.row + "\n";
  const std::string side = sidecar("x-list", c.owner);
  Report r = f.reg->validate(ListInput{side, rows, Format::csv, "x.csv"});
  ASSERT_FALSE(r.fatal) << to_string(*r.fatal);
  EXPECT_EQ(r.rows, 4u);
  EXPECT_EQ(r.accepted, 3u);
  ASSERT_EQ(r.rejected, 1u);
  ASSERT_EQ(r.rejected_rows.size(), 1u);
  EXPECT_EQ(r.rejected_rows[0].reason, c.reason) << r.rejected_rows[0].detail;
  EXPECT_EQ(r.rejected_rows[0].line, 5u);
  EXPECT_EQ(r.rejected_rows[0].column, c.column);
  EXPECT_FALSE(r.rejected_rows[0].detail.empty());
  EXPECT_EQ(r.rejected_by_reason.at(c.reason), 1u);
}

const std::string kFull = "plate,plate_country,reference,category,action,priority,valid_until,note";

INSTANTIATE_TEST_SUITE_P(
    AllReasons, RejectionReason,
    ::testing::Values(
        ReasonCase{"plate_empty", "NL", kFull, "--,,r9,,,,,", "plate_empty", "plate"},
        ReasonCase{"plate_too_long", "NL", kFull, "ABCDEFGHIJK,,r9,,,,,", "plate_too_long", "plate"},
        ReasonCase{"plate_invalid_character", "NL", kFull, "AB$12,,r9,,,,,",
                   "plate_invalid_character", "plate"},
        ReasonCase{"plate_control_character", "NL", kFull, "AB\x01" "12,,r9,,,,,",
                   "plate_control_character", "plate"},
        ReasonCase{"plate_format", "NL", kFull, "AAAAAA,NL,r9,,,,,", "plate_format", "plate"},
        ReasonCase{"country_invalid", "NL", kFull, "GB-123-X,NLD,r9,,,,,", "country_invalid",
                   "plate_country"},
        ReasonCase{"category_unknown", "NL", kFull, "GB-123-X,NL,r9,stolen_bike,,,,",
                   "category_unknown", "category"},
        ReasonCase{"category_not_allowed", "LU", kFull, "AB 1234,LU,r9,unpaid_fine,,,,",
                   "category_not_allowed", "category"},
        ReasonCase{"action_unknown", "NL", kFull, "GB-123-X,NL,r9,,arrest,,,", "action_unknown",
                   "action"},
        ReasonCase{"priority_invalid", "NL", kFull, "GB-123-X,NL,r9,,,101,,", "priority_invalid",
                   "priority"},
        ReasonCase{"date_invalid", "NL", kFull, "GB-123-X,NL,r9,,,,2026-02-30,", "date_invalid",
                   "valid_until"},
        ReasonCase{"expired", "NL", kFull, "GB-123-X,NL,r9,,,,2026-11-23,", "expired",
                   "valid_until"},
        ReasonCase{"reference_missing", "NL", kFull, "GB-123-X,NL,,,,,,", "reference_missing",
                   "reference"},
        ReasonCase{"reference_too_long", "NL", kFull,
                   "GB-123-X,NL," + std::string(129, 'r') + ",,,,,", "reference_too_long",
                   "reference"},
        ReasonCase{"note_too_long", "NL", kFull, "GB-123-X,NL,r9,,,,," + std::string(1025, 'n'),
                   "note_too_long", "note"},
        ReasonCase{"text_invalid_utf8", "NL", kFull, "GB-123-X,NL,r\xff,,,,,", "text_invalid_utf8",
                   "reference"},
        // Characters that hide or reorder text on a page, a terminal or a spreadsheet.
        ReasonCase{"reference_bidi_override", "NL", kFull, "GB-123-X,NL,r\xE2\x80\xAE" "9,,,,,",
                   "text_control_character", "reference"},
        ReasonCase{"reference_bom", "NL", kFull, "GB-123-X,NL,\xEF\xBB\xBFr9,,,,,",
                   "text_control_character", "reference"},
        ReasonCase{"note_tab", "NL", kFull, "GB-123-X,NL,r9,,,,,a\tb", "text_control_character",
                   "note"},
        ReasonCase{"note_escape", "NL", kFull, "GB-123-X,NL,r9,,,,,\x1B[2J",
                   "text_control_character", "note"},
        ReasonCase{"reference_line_break", "NL", kFull, "GB-123-X,NL,\"r\n9\",,,,,",
                   "text_control_character", "reference"},
        ReasonCase{"note_carriage_return", "NL", kFull, "GB-123-X,NL,r9,,,,,\"a\rb\"",
                   "text_control_character", "note"},
        ReasonCase{"note_del", "NL", kFull, "GB-123-X,NL,r9,,,,,a\x7F", "text_control_character",
                   "note"},
        ReasonCase{"note_c1", "NL", kFull, "GB-123-X,NL,r9,,,,,a\xC2\x85", "text_control_character",
                   "note"},
        ReasonCase{"note_zero_width", "NL", kFull, "GB-123-X,NL,r9,,,,,a\xE2\x80\x8B",
                   "text_control_character", "note"},
        ReasonCase{"note_isolate", "NL", kFull, "GB-123-X,NL,r9,,,,,a\xE2\x81\xA6",
                   "text_control_character", "note"},
        ReasonCase{"duplicate", "NL", kFull, "Q-100,,r9,,,,,", "duplicate", "plate"},
        ReasonCase{"field_count", "NL", kFull, "GB-123-X,NL,r9", "field_count", ""},
        ReasonCase{"csv_syntax", "NL", kFull, "GB-123-X,NL,\"r9,,,,,", "csv_syntax", "reference"}),
    [](const ::testing::TestParamInfo<ReasonCase>& i) { return std::string(i.param.name); });

TEST(RejectionReasonCategoryMissing, IsReportedWithoutSidecarDefault) {
  Policy p;
  p.max_rejected_percent = 100;
  Fixture f("catmissing", false, p);
  const std::string side = "id = \"x\"\nowner_country = \"NL\"\n";
  Report r = f.reg->validate(
      ListInput{side, "plate,reference,category\nGB-123-X,r1,suspect\nX-999-DB,r2,\n", Format::csv,
                "x.csv"});
  ASSERT_EQ(r.rejected_rows.size(), 1u);
  EXPECT_EQ(r.rejected_rows[0].reason, "category_missing");
  EXPECT_EQ(r.rejected_rows[0].line, 3u);
  EXPECT_EQ(r.rejected_rows[0].column, "category");
}

TEST(ValidationReport, JsonLinesRowsAndTheirOwnReasons) {
  Policy p;
  p.max_rejected_percent = 100;
  Fixture f("jsonl", false, p);
  const std::string side = sidecar("x");
  const std::string rows =
      "{\"plate\":\"GB-123-X\",\"plate_country\":\"NL\",\"reference\":\"r1\",\"priority\":7}\n"
      "\n"
      "{\"plate\":\"X-999-DB\",\"reference\":\"r2\",\"valid_until\":null,\"note\":\"a \\\"b\\\"\"}\n"
      "[1,2]\n"
      "{\"plate\":\"HF-17-DS\",\"reference\":\"r4\",\"colour\":\"red\"}\n"
      "{\"plate\":\"HF-17-DT\",\"reference\":7}\n"
      "{\"plate\":\"HF-17-DV\",\"reference\":\"r6\",\"action\":\"arrest\"}\n"
      "{\"plate\":\"HF-17\n";
  Report r = f.reg->validate(ListInput{side, rows, Format::jsonl, "x.jsonl"});
  ASSERT_FALSE(r.fatal);
  EXPECT_EQ(r.rows, 7u);
  EXPECT_EQ(r.accepted, 2u);
  ASSERT_EQ(r.rejected_rows.size(), 5u);
  EXPECT_EQ(r.rejected_rows[0].line, 4u);
  EXPECT_EQ(r.rejected_rows[0].reason, "json_syntax");
  EXPECT_EQ(r.rejected_rows[1].reason, "field_unknown");
  EXPECT_EQ(r.rejected_rows[2].reason, "field_type");
  EXPECT_EQ(r.rejected_rows[2].column, "reference");
  EXPECT_EQ(r.rejected_rows[3].reason, "action_unknown");
  EXPECT_EQ(r.rejected_rows[3].line, 7u);
  EXPECT_EQ(r.rejected_rows[4].reason, "json_syntax");
}

TEST(ValidationReport, BadMetadataOrHeaderIsFatalBeforeAnyRow) {
  Fixture f("fatal", false);
  Report r = f.reg->validate(ListInput{"id = \"x\"\n", "plate,reference\nGB-123-X,r\n",
                                       Format::csv, "x.csv"});
  ASSERT_TRUE(r.fatal);
  EXPECT_NE(r.fatal->message.find("owner_country"), std::string::npos);
  EXPECT_EQ(r.rows, 0u);
  r = f.reg->validate(ListInput{sidecar(), "plate,colour\nGB-123-X,red\n", Format::csv, "x.csv"});
  ASSERT_TRUE(r.fatal);
  EXPECT_EQ(r.fatal->line, 1u);
  EXPECT_FALSE(r.ok());
  // A refused load changes nothing.
  ChangeResult c = f.reg->load(ListInput{"id = \"x\"\n", "plate,reference\nGB-123-X,r\n",
                                         Format::csv, "x.csv"},
                               Actor{"olga", "operator"});
  EXPECT_EQ(c.error, ChangeError::invalid);
  EXPECT_TRUE(f.reg->lists().empty());
}

TEST(ValidationReport, CountsEntriesExpiringWithin24Hours) {
  Fixture f("expiring", false);
  const std::string rows =
      "plate,reference,valid_until\nP1,a,2026-11-24T13:00:00Z\nP2,b,2026-11-25T11:59:59Z\n"
      "P3,c,2026-11-25T12:00:01Z\nP4,d,\n";
  Report r = f.reg->validate(ListInput{sidecar(), rows, Format::csv, "x.csv"});
  EXPECT_EQ(r.accepted, 4u);
  EXPECT_EQ(r.expiring_24h, 2u);
}

TEST(ValidateFile, ReadsCsvAndJsonLinesFilesWithTheirSidecars) {
  const fs::path d = temp_dir("files");
  std::ofstream(d / "a.csv") << "plate,reference\nGB-123-X,r1\n!!,r2\n";
  std::ofstream(d / "a.toml") << sidecar("a");
  std::ofstream(d / "b.jsonl") << "{\"plate\":\"GB-123-X\",\"reference\":\"r1\"}\n";
  std::ofstream(d / "b.toml") << sidecar("b");
  Policy p;
  Report a = validate_file(d / "a.csv", p, kT0);
  EXPECT_EQ(a.rows, 2u);
  EXPECT_EQ(a.rejected, 1u);
  EXPECT_TRUE(a.over_threshold);
  std::ostringstream text;
  write_report_text(text, a);
  EXPECT_NE(text.str().find("a.csv:3: plate: plate_invalid_character"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("refused"), std::string::npos);
  EXPECT_EQ(text.str().find("!!"), std::string::npos) << "row data in the report";
  Report b = validate_file(d / "b.jsonl", p, kT0);
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(b.accepted, 1u);
  Report c = validate_file(d / "missing.csv", p, kT0);
  EXPECT_TRUE(c.fatal);
}

// ---- loads, threshold, versions ----

TEST(Registry, ThresholdRefusalKeepsTheActiveVersion) {
  Fixture f("threshold");
  ASSERT_TRUE(f.load("plate,reference\n" + good_rows(100, "v1")).applied());
  // 1 rejected of 100 rows is exactly 1 %: accepted.
  ChangeResult ok = f.load("plate,reference\n" + good_rows(99, "v2") + "!!,x\n");
  ASSERT_TRUE(ok.applied()) << ok.detail;
  EXPECT_EQ(ok.report.rejected, 1u);
  EXPECT_EQ(f.refs("P0000005"), std::vector<std::string>{"v2-5"});
  // 2 of 100: refused, version 2 stays.
  ChangeResult bad = f.load("plate,reference\n" + good_rows(98, "v3") + "!!,x\n??,y\n");
  EXPECT_EQ(bad.error, ChangeError::refused);
  EXPECT_TRUE(bad.report.over_threshold);
  EXPECT_NE(bad.detail.find("active version stays"), std::string::npos);
  EXPECT_EQ(f.refs("P0000005"), std::vector<std::string>{"v2-5"});
  auto v = f.reg->show("nl-test");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->current.seq, 2u);
  EXPECT_EQ(v->entries, 99u);
  EXPECT_EQ(v->history.size(), 2u);
}

TEST(Registry, ConfiguredThresholdApplies) {
  Policy p;
  p.max_rejected_percent = 10;
  Fixture f("threshold10", true, p);
  EXPECT_TRUE(f.load("plate,reference\n" + good_rows(18) + "!!,x\n??,y\n").applied());
  EXPECT_EQ(f.load("plate,reference\n" + good_rows(17) + "!!,x\n??,y\n..,z\n").error, ChangeError::refused);
}

TEST(Registry, VersionsCarryIdChecksumCountsWhoAndWhen) {
  Fixture f("versions");
  ChangeResult a = f.load("plate,reference\n" + good_rows(3));
  ASSERT_TRUE(a.applied());
  ASSERT_TRUE(a.version);
  EXPECT_EQ(a.version->seq, 1u);
  EXPECT_EQ(a.version->kind, "load");
  EXPECT_EQ(a.version->checksum.size(), 16u);
  EXPECT_EQ(a.version->entries, 3u);
  EXPECT_EQ(a.version->who, "olga");
  EXPECT_EQ(a.version->at, kT0);
  f.now += 1000;
  ChangeResult b = f.load("plate,reference\n" + good_rows(4));
  EXPECT_EQ(b.version->seq, 2u);
  EXPECT_NE(b.version->checksum, a.version->checksum);
  EXPECT_EQ(b.version->at, kT0 + 1000);
  // The hits' list_version is the version's.
  EXPECT_EQ(f.live.read()->list(0).version, b.version->version);
  // Only keep_versions versions are kept, with their files.
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(f.load("plate,reference\n" + good_rows(2 + i)).applied());
  auto v = f.reg->show("nl-test");
  EXPECT_EQ(v->history.size(), 5u);
  EXPECT_EQ(v->history.front().seq, 8u);
  EXPECT_FALSE(fs::exists(f.dir / "nl-test" / "v3.csv"));
  EXPECT_TRUE(fs::exists(f.dir / "nl-test" / "v4.csv"));
}

TEST(Registry, SidecarIdMustBeTheListAddressed) {
  Fixture f("mismatch");
  const std::string side = sidecar("other");
  ChangeResult r = f.reg->load(ListInput{side, "plate,reference\nP1,r\n", Format::csv, "x.csv"},
                               Actor{"olga", "operator"}, "nl-test");
  EXPECT_EQ(r.error, lists::ChangeError::mismatch);
  EXPECT_TRUE(f.reg->lists().empty());
}

TEST(Registry, ListsAreIndependent) {
  Fixture f("independent");
  ASSERT_TRUE(f.load("plate,reference\nP1,a1\n", "list-a").applied());
  ASSERT_TRUE(f.load("plate,reference\nP1,b1\nP2,b2\n", "list-b").applied());
  ASSERT_TRUE(f.load("plate,reference\nP3,a3\n", "list-a").applied());
  EXPECT_EQ(f.refs("P1"), std::vector<std::string>{"b1"});
  EXPECT_EQ(f.refs("P3"), std::vector<std::string>{"a3"});
  EXPECT_EQ(f.entries(), 3u);
  EXPECT_EQ(f.reg->lists().size(), 2u);
}

// ---- deltas ----

TEST(Registry, DeltaAddsReplacesAndRemoves) {
  Fixture f("delta");
  ASSERT_TRUE(f.load("plate,reference\nP1,r1\nP2,r2\nP3,r3\n").applied());
  DeltaInput d;
  const std::string add = "plate,reference\nP4,r4\nP2,r2-new\n";
  const std::string rem = "plate,plate_country\nP1,\nP3,\n";
  d.add = add;
  d.remove = rem;
  ChangeResult r = f.reg->delta("nl-test", d, Actor{"olga", "operator"});
  ASSERT_TRUE(r.applied()) << r.detail;
  EXPECT_EQ(r.version->kind, "delta");
  EXPECT_EQ(r.version->added, 1u);
  EXPECT_EQ(r.version->updated, 1u);
  EXPECT_EQ(r.version->removed, 2u);
  EXPECT_EQ(r.version->entries, 2u);
  EXPECT_TRUE(f.refs("P1").empty());
  EXPECT_EQ(f.refs("P2"), std::vector<std::string>{"r2-new"});
  EXPECT_TRUE(f.refs("P3").empty());
  EXPECT_EQ(f.refs("P4"), std::vector<std::string>{"r4"});
  EXPECT_EQ(f.reg->show("nl-test")->current.seq, 2u);
}

TEST(Registry, DeltaRemovalOfAnUnlistedPlateIsRejectedAndCountsTowardsTheThreshold) {
  Fixture f("delta-unlisted");
  ASSERT_TRUE(f.load("plate,reference\nP1,r1\nP2,r2\n").applied());
  DeltaInput d;
  const std::string rem = "{\"plate\":\"P9\"}\n{\"plate\":\"P1\",\"plate_country\":null}\n";
  d.remove = rem;
  d.remove_format = Format::jsonl;
  ChangeResult r = f.reg->delta("nl-test", d, Actor{"olga", "operator"});
  EXPECT_EQ(r.error, lists::ChangeError::refused);
  ASSERT_EQ(r.report.rejected_rows.size(), 1u);
  EXPECT_EQ(r.report.rejected_rows[0].reason, "not_listed");
  EXPECT_EQ(r.report.rejected_rows[0].line, 1u);
  EXPECT_EQ(f.refs("P1"), std::vector<std::string>{"r1"}) << "refused delta applied";
  EXPECT_EQ(f.reg->delta("nope", d, Actor{"olga", "operator"}).error, ChangeError::not_found);
}

TEST(Registry, DeltaRowsAreValidatedLikeALoad) {
  Policy p;
  p.max_rejected_percent = 50;
  Fixture f("delta-validate", true, p);
  ASSERT_TRUE(f.load("plate,reference\nP1,r1\n").applied());
  DeltaInput d;
  const std::string add = "plate,plate_country,reference\nAAAAAA,NL,x\nP5,,r5\n";
  d.add = add;
  ChangeResult r = f.reg->delta("nl-test", d, Actor{"olga", "operator"});
  ASSERT_TRUE(r.applied());
  ASSERT_EQ(r.report.rejected_rows.size(), 1u);
  EXPECT_EQ(r.report.rejected_rows[0].reason, "plate_format");
  EXPECT_EQ(f.entries(), 2u);
}

// ---- delete, rollback, restart ----

TEST(Registry, RollbackReturnsToThePreviousVersionAndDeleteRemoves) {
  Fixture f("rollback");
  ASSERT_TRUE(f.load("plate,reference\nP1,v1\n").applied());
  ASSERT_TRUE(f.load("plate,reference\nP1,v2\n").applied());
  ChangeResult r = f.reg->rollback("nl-test", 0, Actor{"olga", "operator"});
  ASSERT_TRUE(r.applied()) << r.detail;
  EXPECT_EQ(r.version->kind, "rollback");
  EXPECT_EQ(r.version->restored_seq, 1u);
  EXPECT_EQ(r.version->seq, 3u);
  EXPECT_EQ(f.refs("P1"), std::vector<std::string>{"v1"});
  auto v = f.reg->show("nl-test");
  EXPECT_EQ(v->meta->version, v->history.back().version);  // restored version id
  // Rolling back again returns to version 2 (the one before the active version 3).
  ASSERT_TRUE(f.reg->rollback("nl-test", 0, Actor{"olga", "operator"}).applied());
  EXPECT_EQ(f.refs("P1"), std::vector<std::string>{"v2"});
  // To a named version.
  ASSERT_TRUE(f.reg->rollback("nl-test", 1, Actor{"olga", "operator"}).applied());
  EXPECT_EQ(f.refs("P1"), std::vector<std::string>{"v1"});
  EXPECT_EQ(f.reg->rollback("nl-test", 99, Actor{"olga", "operator"}).error, ChangeError::conflict);
  // Delete: no entries, history kept, rollback brings it back.
  ChangeResult d = f.reg->remove("nl-test", Actor{"olga", "operator"});
  ASSERT_TRUE(d.applied());
  EXPECT_TRUE(f.refs("P1").empty());
  EXPECT_EQ(f.live.read()->list_count(), 0u);
  EXPECT_FALSE(f.reg->show("nl-test")->active);
  EXPECT_EQ(f.reg->remove("nl-test", Actor{"olga", "operator"}).error, ChangeError::not_found);
  ASSERT_TRUE(f.reg->rollback("nl-test", 0, Actor{"olga", "operator"}).applied());
  EXPECT_EQ(f.refs("P1"), std::vector<std::string>{"v1"});
}

TEST(Registry, RollbackWithoutEarlierVersionIsAConflict) {
  Fixture f("rollback-none");
  ASSERT_TRUE(f.load("plate,reference\nP1,v1\n").applied());
  EXPECT_EQ(f.reg->rollback("nl-test", 0, Actor{"olga", "operator"}).error, ChangeError::conflict);
  EXPECT_EQ(f.reg->rollback("nope", 0, Actor{"olga", "operator"}).error, ChangeError::not_found);
  Fixture m("rollback-memory", false);
  ASSERT_TRUE(m.load("plate,reference\nP1,v1\n").applied());
  ASSERT_TRUE(m.load("plate,reference\nP1,v2\n").applied());
  ChangeResult r = m.reg->rollback("nl-test", 0, Actor{"olga", "operator"});
  EXPECT_EQ(r.error, lists::ChangeError::conflict);
  EXPECT_NE(r.detail.find("no state folder"), std::string::npos);
}

TEST(RejectionReasonText, NamesTheCharacterAndLetsOrdinaryTextThrough) {
  Policy p;
  p.max_rejected_percent = 100;
  Fixture f("textchar", false, p);
  Report r = f.reg->validate(ListInput{
      sidecar("x"),
      "plate,reference,note\nGB-123-X,r1,caf\xC3\xA9 \xE2\x80\x94 \xD8\xB4 ok\n"
      "X-999-DB,r\xE2\x80\xAE" "2,\n",
      Format::csv, "x.csv"});
  EXPECT_EQ(r.accepted, 1u);
  ASSERT_EQ(r.rejected_rows.size(), 1u);
  EXPECT_EQ(r.rejected_rows[0].line, 3u);
  EXPECT_NE(r.rejected_rows[0].detail.find("U+202E at byte 2"), std::string::npos)
      << r.rejected_rows[0].detail;
  // JSON Lines rows go through the same check.
  Report j = f.reg->validate(ListInput{
      sidecar("x"), "{\"plate\":\"GB-123-X\",\"reference\":\"r\\u202e1\"}\n", Format::jsonl,
      "x.jsonl"});
  ASSERT_EQ(j.rejected_rows.size(), 1u);
  EXPECT_EQ(j.rejected_rows[0].reason, "text_control_character");
}

// A stored version (state.dir/lists) may be opened in a spreadsheet: a cell that would run as a
// formula carries a leading quote, which a restart or a rollback takes off again.
TEST(Registry, StoredVersionsKeepFormulasInertAndRoundTrip) {
  Fixture f("formula");
  const std::vector<std::string> refs = {"=1+2", "+31", "-5", "@SUM(A1)", "'q", "plain"};
  std::string rows = "plate,reference,note\n";
  for (std::size_t i = 0; i < refs.size(); ++i)
    rows += "P" + std::to_string(i + 1) + "," + refs[i] + "," + refs[refs.size() - 1 - i] + "\n";
  ASSERT_TRUE(f.load(rows).applied());
  std::ifstream in(f.dir / "nl-test" / "v1.csv");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string stored = ss.str();
  for (const char* cell : {",'=1+2,", ",'+31,", ",'-5,", ",'@SUM(A1),", ",''q,", ",plain,"})
    EXPECT_NE(stored.find(cell), std::string::npos) << cell << " in\n" << stored;
  EXPECT_EQ(stored.find(",=1+2"), std::string::npos) << stored;

  const auto check = [&](LiveIndex& live) {
    auto snap = live.read();
    ASSERT_EQ(snap->entry_count(), refs.size());
    for (std::size_t i = 0; i < refs.size(); ++i) {
      const auto got = testing::matched_references(live, "P" + std::to_string(i + 1), f.now.load());
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(got[0], refs[i]);
    }
  };
  LiveIndex live2;
  Registry again(live2, f.policy, f.dir, [&] { return f.now.load(); });
  std::ostringstream log;
  ASSERT_EQ(again.restore(log), 1u) << log.str();
  check(live2);
  ASSERT_TRUE(f.load("plate,reference\nP9,other\n").applied());
  ASSERT_TRUE(f.reg->rollback("nl-test", 1, Actor{"olga", "operator"}).applied());
  check(f.live);
}

// The state folder is the processor's alone: list versions 0600, their folders 0700, whatever the
// umask (docs/operations.md, "The state folder").
TEST(Registry, StateFilesArePrivateWhateverTheUmask) {
  const mode_t old = ::umask(022);
  Fixture f("private");
  ASSERT_TRUE(f.load("plate,reference\nP1,v1\n").applied());
  ASSERT_TRUE(f.load("plate,reference\nP1,v2\n").applied());
  ::umask(old);
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(f.dir)) {
    const auto perms = fs::status(e.path()).permissions();
    const bool others = (perms & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none;
    EXPECT_FALSE(others) << e.path() << " is open to others: " << std::oct
                         << static_cast<unsigned>(perms);
    files += e.is_regular_file();
  }
  EXPECT_GE(files, 3u);
  const auto top = fs::status(f.dir).permissions();
  EXPECT_EQ(top & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

TEST(Registry, RestartRestoresActiveVersionsAndHistory) {
  Fixture f("restart");
  ASSERT_TRUE(f.load("plate,reference,note\nP1,v1,\"a, \"\"quoted\"\" note\"\n", "list-a").applied());
  ASSERT_TRUE(f.load("plate,reference,valid_until\nP1,v2,2027-01-01\nP2,v2,\n", "list-a").applied());
  ASSERT_TRUE(f.load("plate,reference\nP7,b\n", "list-b").applied());
  ASSERT_TRUE(f.reg->remove("list-b", Actor{"olga", "operator"}).applied());
  const std::string version = f.live.read()->list(0).version;

  LiveIndex live2;
  Registry again(live2, f.policy, f.dir, [&] { return f.now.load(); });
  std::ostringstream log;
  EXPECT_EQ(again.restore(log), 2u) << log.str();
  EXPECT_EQ(log.str(), "");
  {
    auto snap = live2.read();
    ASSERT_EQ(snap->list_count(), 1u);
    EXPECT_EQ(snap->list(0).version, version);
    EXPECT_EQ(snap->entry_count(), 2u);
  }
  auto v = again.show("list-a");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->current.seq, 2u);
  EXPECT_EQ(v->history.size(), 2u);
  EXPECT_FALSE(again.show("list-b")->active);
  // Rollback works across the restart, and the quoted note survived the round trip.
  ASSERT_TRUE(again.rollback("list-a", 0, Actor{"olga", "operator"}).applied());
  auto s2 = live2.read();
  ASSERT_EQ(s2->entry_count(), 1u);
  EXPECT_EQ(s2->entry_note(0), "a, \"quoted\" note");
}

TEST(Registry, DamagedHistoryIsReportedAndSkipped) {
  Fixture f("damaged");
  ASSERT_TRUE(f.load("plate,reference\nP1,v1\n").applied());
  std::ofstream(f.dir / "nl-test" / "versions.json") << "{\"list_id\":";
  LiveIndex live2;
  Registry again(live2, f.policy, f.dir, [&] { return f.now.load(); });
  std::ostringstream log;
  EXPECT_EQ(again.restore(log), 0u);
  EXPECT_NE(log.str().find("damaged"), std::string::npos);
}

TEST(Registry, ConfigFileIsImportedOnceAndAgainWhenItChanges) {
  Fixture f("config");
  const fs::path csv = f.dir / ".." / ("anpr-lists-cfg-" + std::to_string(::getpid()) + ".csv");
  std::ofstream(csv) << "plate,reference\nP1,c1\n";
  std::ofstream(sidecar_path(csv)) << sidecar("cfg");
  std::ostringstream log;
  ASSERT_TRUE(f.reg->import_config_file(csv, log)) << log.str();
  ASSERT_TRUE(f.reg->import_config_file(csv, log)) << log.str();
  EXPECT_EQ(f.reg->show("cfg")->current.seq, 1u);
  EXPECT_EQ(f.reg->show("cfg")->current.kind, "config");
  // An operator's load is kept over an unchanged config file at the next start.
  const std::string side = sidecar("cfg");
  ASSERT_TRUE(f.reg->load(ListInput{side, "plate,reference\nP1,op\n", Format::csv, "u.csv"},
                          Actor{"olga", "operator"})
                  .applied());
  ASSERT_TRUE(f.reg->import_config_file(csv, log));
  EXPECT_EQ(f.refs("P1"), std::vector<std::string>{"op"});
  std::ofstream(csv) << "plate,reference\nP1,c2\n";
  ASSERT_TRUE(f.reg->import_config_file(csv, log));
  EXPECT_EQ(f.refs("P1"), std::vector<std::string>{"c2"});
  std::ofstream(csv) << "plate,colour\n";
  EXPECT_FALSE(f.reg->import_config_file(csv, log));
  fs::remove(csv);
  fs::remove(sidecar_path(csv));
}

// ---- expiry ----

TEST(Registry, ExpiryWithAFakeClock) {
  Fixture f("expiry");
  ASSERT_TRUE(f.load("plate,reference,valid_until\nP1,a,2026-11-24T18:00:00Z\n"
                     "P2,b,2026-11-25T06:00:00Z\nP3,c,2026-12-31\nP4,d,\n")
                  .applied());
  auto v = f.reg->lists();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].entries, 4u);
  EXPECT_EQ(v[0].expiring_24h, 2u);
  EXPECT_FALSE(f.reg->maintain()) << "nothing expired yet";
  // 19:00: P1 has expired. It never matches, even before the rebuild...
  f.now = *parse_rfc3339("2026-11-24T19:00:00Z");
  EXPECT_TRUE(f.refs("P1").empty());
  EXPECT_EQ(f.reg->show("nl-test")->entries, 3u);
  EXPECT_EQ(f.live.read()->entry_count(), 4u);
  // ... and the next build drops it.
  EXPECT_TRUE(f.reg->maintain());
  EXPECT_EQ(f.live.read()->entry_count(), 3u);
  EXPECT_FALSE(f.reg->maintain());
  // A load's expired rows are rejected; entries expired since are dropped by any build.
  f.now = *parse_rfc3339("2026-11-25T07:00:00Z");
  ASSERT_TRUE(f.load("plate,reference\nP9,x\n", "other").applied());
  EXPECT_EQ(f.live.read()->entry_count(), 3u);  // P3, P4, P9
  EXPECT_EQ(f.reg->show("nl-test")->expiring_24h, 0u);
}

TEST(Registry, ListsOutsideTheirWindowNeverMatch) {
  Fixture f("window");
  const std::string side = sidecar("win") + "valid_from = \"2026-12-01\"\n";
  ASSERT_TRUE(f.reg->load(ListInput{side, "plate,reference\nP1,a\n", Format::csv, "w.csv"},
                          Actor{"olga", "operator"})
                  .applied());
  EXPECT_TRUE(f.refs("P1").empty());
  EXPECT_EQ(f.reg->show("win")->window, "not_yet");
  f.now = *parse_rfc3339("2026-12-01T00:00:00Z");
  EXPECT_EQ(f.refs("P1"), std::vector<std::string>{"a"});
  EXPECT_EQ(f.reg->show("win")->window, "open");
}

// ---- readers never see a mix ----

TEST(Registry, ReadersSeeOneVersionPerLookupWhileVersionsAreLoaded) {
  Fixture f("concurrent", false);
  constexpr std::size_t kEntries = 2000;
  constexpr int kVersions = 30;
  ASSERT_TRUE(f.load("plate,reference\n" + good_rows(kEntries, "v0")).applied());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> batches{0}, mixed{0}, missing{0};
  std::vector<std::thread> readers;
  std::set<std::string> seen_tags;
  std::mutex seen_mu;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&, t] {
      std::vector<Plate> plates;
      for (std::size_t i = t; i < kEntries; i += 97) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "P%07zu", i);
        plates.push_back(*Plate::from_normalized(buf));
      }
      std::vector<MatchQuery> qs;
      for (const Plate& p : plates)
        qs.push_back(MatchQuery{CountryCode{}, kT0, std::span<const Plate>(&p, 1)});
      std::vector<IndexHit> hits;
      std::vector<uint32_t> ends;
      std::set<std::string> local;
      while (!stop.load()) {
        hits.clear();
        std::string tag;
        bool mix = false;
        {
          auto r = f.live.read();  // one batch of lookups under one reader
          r->match_batch(qs, hits, ends);
          for (const IndexHit& h : hits) {
            std::string_view ref = r->entry_reference(h.entry);
            std::string this_tag(ref.substr(0, ref.find('-')));
            if (tag.empty()) tag = this_tag;
            mix |= this_tag != tag;
          }
        }
        if (hits.size() != qs.size()) ++missing;
        if (mix) ++mixed;
        local.insert(tag);
        ++batches;
      }
      std::lock_guard lk(seen_mu);
      seen_tags.insert(local.begin(), local.end());
    });
  for (int v = 1; v <= kVersions; ++v) {
    if (v % 3 == 0) {
      DeltaInput d;
      // A delta rewrites every entry with the new tag (updates), so a batch spanning it would mix.
      const std::string add = "plate,reference\n" + good_rows(kEntries, "v" + std::to_string(v));
      d.add = add;
      ASSERT_TRUE(f.reg->delta("nl-test", d, Actor{"olga", "operator"}).applied());
    } else {
      ASSERT_TRUE(
          f.load("plate,reference\n" + good_rows(kEntries, "v" + std::to_string(v))).applied());
    }
  }
  const uint64_t at_end = batches.load();
  while (batches.load() < at_end + 100) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(mixed.load(), 0u);
  EXPECT_EQ(missing.load(), 0u);
  EXPECT_GT(batches.load(), 0u);
  EXPECT_TRUE(seen_tags.count("v" + std::to_string(kVersions)));
}

}  // namespace
}  // namespace anpr::lists
