// `anpr match` as a black box: the shipped samples give exactly the hits the reference matcher
// finds, and hostile input gets a clear message naming file and line, with the right exit code.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <tuple>

#include "ingest/list_file.h"
#include "ingest/read_event.h"
#include "match/plate.h"
#include "testing/reference_matcher.h"
#include "tests/it_support.h"
#include "tests/temp_dir.h"

namespace anpr {
namespace {

namespace fs = std::filesystem;

using testing::CmdRun;

using testing::slurp;

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() /
               ("anpr-app-test-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

CmdRun anpr(const std::string& args) {
  const testing::TempDir dir("app-run");
  return testing::run_anpr(args, dir);
}

const std::string kSamples = std::string(ANPR_SOURCE_DIR) + "/samples";

std::vector<fs::path> sample_lists() {
  std::vector<fs::path> files;
  for (const auto& f : fs::directory_iterator(kSamples + "/lists"))
    if (f.path().extension() == ".csv") files.push_back(f.path());
  std::sort(files.begin(), files.end());
  return files;
}

using HitKey = std::tuple<std::string, std::string, std::string, std::string, unsigned>;

TEST(AppMatchTest, SamplesGiveTheReferenceMatchersHits) {
  std::string args;
  std::vector<ReferenceList> lists;
  for (const auto& f : sample_lists()) {
    args += " --list " + f.string();
    ListLoad l = load_list(f);
    ASSERT_FALSE(l.fatal) << f;
    EXPECT_EQ(l.rejected_count, 0u) << f << " sample lists must be clean";
    lists.push_back(*l.list);
  }
  CmdRun r = anpr("match" + args + " --reads " + kSamples + "/reads.jsonl");
  EXPECT_EQ(r.exit_code, 1) << "the samples contain rejected reads on purpose\n" << r.err;

  // Expected: every read of the file through the reference matcher.
  std::set<HitKey> want;
  std::ifstream in(kSamples + "/reads.jsonl");
  std::string line;
  ReadEventDecoder dec;
  ReadEvent ev;
  DecodeError derr;
  std::size_t rejected = 0;
  while (std::getline(in, line)) {
    if (!dec.decode(line, ev, derr)) { ++rejected; continue; }
    auto p = normalize(ev.plate);
    if (!p) { ++rejected; continue; }
    std::vector<Plate> plates{*p};
    for (const auto& c : ev.candidates)
      if (auto cp = normalize(c.plate)) plates.push_back(*cp);
    for (const auto& h : testing::reference_match(lists, ConfusionClasses{}, ev.plate_country,
                                                  ev.ts, plates)) {
      want.insert({ev.event_id, lists[h.list].meta.id, lists[h.list].entries[h.entry].reference,
                   std::string(to_string(h.kind)), h.differences});
    }
  }
  EXPECT_EQ(rejected, 5u);
  EXPECT_GE(want.size(), 10u);

  std::set<HitKey> got;
  simdjson::dom::parser parser;
  std::istringstream outs(r.out);
  while (std::getline(outs, line)) {
    simdjson::dom::element h;
    ASSERT_EQ(parser.parse(line).get(h), simdjson::SUCCESS) << line;
    std::string_view ev_id, list, ref, kind, plate, norm, matched;
    int64_t diff = -1;
    ASSERT_EQ(h["event_id"].get(ev_id), simdjson::SUCCESS);
    ASSERT_EQ(h["list_id"].get(list), simdjson::SUCCESS);
    ASSERT_EQ(h["reference"].get(ref), simdjson::SUCCESS);
    ASSERT_EQ(h["match_kind"].get(kind), simdjson::SUCCESS);
    ASSERT_EQ(h["differences"].get(diff), simdjson::SUCCESS);
    ASSERT_EQ(h["plate"].get(plate), simdjson::SUCCESS);
    ASSERT_EQ(h["plate_normalized"].get(norm), simdjson::SUCCESS);
    ASSERT_EQ(h["matched_plate"].get(matched), simdjson::SUCCESS);
    got.insert({std::string(ev_id), std::string(list), std::string(ref), std::string(kind),
                static_cast<unsigned>(diff)});
  }
  EXPECT_EQ(got, want);
  // A few the samples exist to show.
  EXPECT_TRUE(got.count({"e-0003", "nl-stolen-vehicles", "NL-SV-2026-000101", "ocr", 1}));
  EXPECT_TRUE(got.count({"e-0005", "nl-wanted-persons", "NL-WP-77812", "edit", 1}));
  EXPECT_TRUE(got.count({"e-0018", "lu-serious-crime", "LU-PGD-2026-118", "exact", 0}));
  EXPECT_FALSE(got.count({"e-0007", "nl-stolen-vehicles", "NL-SV-2026-000108", "exact", 0}))
      << "an expired entry matched";
  // Rejected reads are named by file and line, with a reason, and no plate text.
  EXPECT_NE(r.err.find("reads.jsonl:21: plate_too_long"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("reads.jsonl:22: missing_plate"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("reads.jsonl:23: bad_timestamp"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("reads.jsonl:24: not_json"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("ABCDEFGHIJKL"), std::string::npos) << "a plate leaked into stderr";
}

TEST(AppMatchTest, HitIdsAreDeterministic) {
  const std::string args = "match --list " + kSamples + "/lists/nl-stolen-vehicles.csv --reads " +
                           kSamples + "/reads.jsonl";
  CmdRun a = anpr(args), b = anpr(args);
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
}

TEST(AppMatchTest, CleanInputExitsZero) {
  const fs::path dir = temp_dir();
  std::ofstream(dir / "reads.jsonl")
      << R"({"event_id":"a","camera_id":"c","ts":"2026-01-01T00:00:00.000Z","plate":"GB123X","plate_country":"NL"})"
      << "\n\n";
  CmdRun r = anpr("match --list " + kSamples + "/lists/nl-stolen-vehicles.csv --reads " +
               (dir / "reads.jsonl").string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"reference\":\"NL-SV-2026-000101\""), std::string::npos) << r.out;
}

TEST(AppMatchTest, MissingSidecarNamesTheFile) {
  const fs::path dir = temp_dir();
  std::ofstream(dir / "lonely.csv") << "plate,reference\nGB123X,R1\n";
  CmdRun r = anpr("match --list " + (dir / "lonely.csv").string() + " --reads " + kSamples +
               "/reads.jsonl");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find((dir / "lonely.toml").string()), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << "nothing may be matched against an incomplete list set";
}

TEST(AppMatchTest, MalformedRowsNameFileAndLine) {
  const fs::path dir = temp_dir();
  std::ofstream(dir / "bad.toml") << "id = \"bad\"\nowner_country = \"NL\"\ncategory = "
                                     "\"stolen_vehicle\"\n";
  std::ofstream(dir / "bad.csv") << "plate,plate_country,reference\n"
                                    "GB-123-X,NL,R1\n"
                                    "\"unterminated,NL,R2\n";
  std::ofstream(dir / "bad2.toml") << "id = \"bad2\"\nowner_country = \"NL\"\ncategory = "
                                      "\"stolen_vehicle\"\n";
  std::ofstream(dir / "bad2.csv") << "plate,plate_country,reference\n"
                                     "GB-123-X,NL,R1\n"
                                     "AAAAAAAAAAAAAAAA,NL,R2\n"
                                     "GB-123-X,NL,R3\n"
                                     "QQ-11-QQ,NL,R4\n"
                                     "HK-471-N,NL\n";
  // Both lists are over the refusal threshold of `anpr lists validate`: refused, nothing matched.
  CmdRun refused = anpr("match --list " + (dir / "bad.csv").string() + " --list " +
                        (dir / "bad2.csv").string() + " --reads " + kSamples + "/reads.jsonl");
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_TRUE(refused.out.empty()) << refused.out;
  EXPECT_NE(refused.err.find((dir / "bad2.csv").string() + ": refused"), std::string::npos)
      << refused.err;
  // With the threshold raised, the same rows are reported and the good rows match.
  CmdRun r = anpr("match --max-rejected-percent 100 --list " + (dir / "bad.csv").string() +
                  " --list " + (dir / "bad2.csv").string() + " --reads " + kSamples +
                  "/reads.jsonl");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string bad2 = (dir / "bad2.csv").string();
  EXPECT_NE(r.err.find((dir / "bad.csv").string() + ":3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad2 + ":3: plate: plate_too_long"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad2 + ":4"), std::string::npos) << r.err;  // duplicate
  EXPECT_NE(r.err.find(bad2 + ":5"), std::string::npos) << r.err;  // not an NL format
  EXPECT_NE(r.err.find(bad2 + ":6"), std::string::npos) << r.err;  // field count
  // The good row of each list still matches.
  EXPECT_NE(r.out.find("\"event_id\":\"e-0001\""), std::string::npos) << r.out;
}

TEST(AppMatchTest, UsageErrorsExitTwo) {
  EXPECT_EQ(anpr("match --reads x.jsonl").exit_code, 2);
  EXPECT_EQ(anpr("nonsense").exit_code, 2);
  CmdRun r = anpr("match --list " + kSamples + "/lists/nl-stolen-vehicles.csv --reads /nonexistent");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent"), std::string::npos);
  EXPECT_EQ(anpr("match --help").exit_code, 0);
}

TEST(AppMatchTest, HostileReadsNeverStopTheBatch) {
  const fs::path dir = temp_dir();
  {
    std::ofstream f(dir / "reads.jsonl", std::ios::binary);
    f << "\xff\xfe garbage\n";
    f << std::string(2 << 20, '{') << "\n";  // over the size limit
    f << R"({"event_id":"x","camera_id":"c","ts":"2026-01-01T00:00:00.000Z","plate":"G\u0000B123X"})" << "\n";
    f << R"({"event_id":"y","camera_id":"c","ts":"2026-01-01T00:00:00.000Z","plate":"😀"})" << "\n";
    f << R"({"event_id":"z","camera_id":"c","ts":"2026-01-01T00:00:00.000Z","plate":"GB123X","candidates":[{"plate":"\u0007"}]})" << "\n";
  }
  CmdRun r = anpr("match --list " + kSamples + "/lists/nl-stolen-vehicles.csv --reads " +
               (dir / "reads.jsonl").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("reads.jsonl:1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("reads.jsonl:2: too_large"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("reads.jsonl:3: plate_control_character"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("reads.jsonl:4: plate_invalid_character"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("\"event_id\":\"z\""), std::string::npos) << "good read after bad ones";
}

}  // namespace
}  // namespace anpr
