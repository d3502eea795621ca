// The audit log's hash chain (http/audit.h; docs/operators.md §11): records are chained across
// restarts, rotations and removals of the file, and verify_audit() finds an edited, removed,
// reordered or spliced record, a torn record and a cut-off end. The `anpr audit verify` command
// is tested in tests/audit_verify_it_test.cpp.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/audit.h"
#include "tests/temp_dir.h"

namespace anpr::http {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

using testing::read_lines;
using testing::write_lines;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_n(AuditLog& log, int n, const std::string& who = "alice") {
  for (int i = 0; i < n; ++i)
    log.record(who, "operator", "list.load", [&](JsonWriter& w) {
      w.field("list_id", "nl-stolen");
      w.field("n", i);
    });
}

std::string field(const std::string& line, const char* key) {
  simdjson::dom::parser p;
  simdjson::dom::element doc = p.parse(line);
  simdjson::dom::element v = doc[key];
  if (v.is_string()) return std::string(std::string_view(v));
  return std::to_string(uint64_t(v));
}

AuditVerifyOptions with_head(const fs::path& log) {
  AuditVerifyOptions o;
  o.head = audit_head_path(log);
  return o;
}

TEST(AuditChain, RecordsAreNumberedAndEachNamesTheHashOfTheOneBefore) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  {
    AuditLog log(file);
    write_n(log, 4);
  }
  const auto lines = read_lines(file);
  ASSERT_EQ(lines.size(), 4u);
  std::string prev(kAuditGenesis);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(field(lines[i], "audit_seq"), std::to_string(i + 1));
    EXPECT_EQ(field(lines[i], "audit_prev"), prev);
    EXPECT_EQ(field(lines[i], "who"), "alice");
    prev = field(lines[i], "audit_hash");
    EXPECT_EQ(prev.size(), 64u);
  }
  const AuditVerifyResult r = verify_audit({file}, with_head(file));
  EXPECT_TRUE(r.intact) << r.problem;
  EXPECT_EQ(r.records, 4u);
  EXPECT_EQ(r.last_seq, 4u);
  EXPECT_EQ(r.last_hash, prev);
  EXPECT_TRUE(r.notes.empty());
  EXPECT_EQ(audit_head_path(file), dir / "audit.head");
  EXPECT_NE(slurp(dir / "audit.head").find("\"seq\":4"), std::string::npos);
}

TEST(AuditChain, AReopenedLogContinuesTheChain) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  {
    AuditLog log(file);
    write_n(log, 2);
  }
  {
    AuditLog log(file);  // a restart
    write_n(log, 2, "bob");
  }
  const auto lines = read_lines(file);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(field(lines[2], "audit_seq"), "3");
  EXPECT_EQ(field(lines[2], "audit_prev"), field(lines[1], "audit_hash"));
  const AuditVerifyResult r = verify_audit({file}, with_head(file));
  EXPECT_TRUE(r.intact) << r.problem;
  EXPECT_EQ(r.records, 4u);
  // Without its head (a state folder restored from a backup): the log's own last record.
  fs::remove(audit_head_path(file));
  {
    AuditLog log(file);
    write_n(log, 1, "carl");
  }
  EXPECT_EQ(field(read_lines(file).back(), "audit_seq"), "5");
  EXPECT_TRUE(verify_audit({file}, with_head(file)).intact);
}

// One log of five records, then the change `change` makes to its lines: verify names `line`.
struct Tamper {
  const char* name;
  std::function<void(std::vector<std::string>&)> change;
  uint64_t line;
  const char* problem;  // a part of the problem's text
};

TEST(AuditVerify, FindsTheFirstBrokenRecord) {
  TempDir dir("audit");
  TempDir other("audit-other");
  {
    AuditLog b(other / "audit.jsonl");
    write_n(b, 5, "alice");  // the same people and actions, another chain
  }
  const auto foreign = read_lines(other / "audit.jsonl");
  const std::vector<Tamper> cases = {
      {"edited", [](auto& l) { l[2].replace(l[2].find("alice"), 5, "mallo"); }, 3, "hash"},
      {"removed", [](auto& l) { l.erase(l.begin() + 2); }, 3, "audit_seq 4 follows audit_seq 2"},
      {"reordered", [](auto& l) { std::swap(l[1], l[2]); }, 2, "audit_seq 3 follows audit_seq 1"},
      {"repeated", [](auto& l) { l.insert(l.begin() + 3, l[2]); }, 4, "audit_seq 3 follows audit_seq 3"},
      {"spliced from another log", [&](auto& l) { l[2] = foreign[2]; }, 3, "prev"},
      {"first records removed", [](auto& l) { l.erase(l.begin(), l.begin() + 2); }, 1,
       "without a segment record"},
      {"a line added", [](auto& l) { l.insert(l.begin() + 1, R"({"who":"mallory"})"); }, 2,
       "no break record"},
      {"an empty line added", [](auto& l) { l.insert(l.begin() + 4, ""); }, 5,
       "no break record"},
      {"hash field cut", [](auto& l) { l[0].resize(l[0].size() - 10); }, 1, "no break record"},
      {"seq rewritten", [](auto& l) { l[3].replace(0, 14, "{\"audit_seq\":9"); }, 4, "hash"},
  };
  for (const Tamper& t : cases) {
    SCOPED_TRACE(t.name);
    const fs::path file = dir / (std::string("t") + std::to_string(&t - cases.data()) + ".jsonl");
    {
      AuditLog log(file);
      write_n(log, 5);
    }
    auto lines = read_lines(file);
    t.change(lines);
    write_lines(file, lines);
    const AuditVerifyResult r = verify_audit({file});
    EXPECT_FALSE(r.intact);
    EXPECT_EQ(r.file, file);
    EXPECT_EQ(r.line, t.line) << r.problem;
    EXPECT_NE(r.problem.find(t.problem), std::string::npos) << r.problem;
  }
}

TEST(AuditVerify, ACutOffEndIsFoundAgainstTheHead) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  {
    AuditLog log(file);
    write_n(log, 5);
  }
  auto lines = read_lines(file);
  lines.resize(3);
  write_lines(file, lines);
  // The chain alone cannot tell: its records are whole.
  EXPECT_TRUE(verify_audit({file}).intact);
  const AuditVerifyResult r = verify_audit({file}, with_head(file));
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.line, 4u);
  EXPECT_NE(r.problem.find("the log ends at seq 3"), std::string::npos) << r.problem;
  EXPECT_NE(r.problem.find("seq 5"), std::string::npos) << r.problem;

  // The writer started again goes on from the head: the gap stays visible.
  {
    AuditLog log(file);
    write_n(log, 1);
  }
  const AuditVerifyResult after = verify_audit({file}, with_head(file));
  EXPECT_FALSE(after.intact);
  EXPECT_EQ(after.line, 4u);
  EXPECT_NE(after.problem.find("audit_seq 6 follows audit_seq 3"), std::string::npos) << after.problem;
}

TEST(AuditVerify, AHeadThatDisagreesWithTheLogIsFound) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  {
    AuditLog log(file);
    write_n(log, 3);
  }
  std::string head = slurp(dir / "audit.head");
  const auto at = head.find("\"hash\":\"") + 8;
  head[at] = head[at] == 'a' ? 'b' : 'a';
  std::ofstream(dir / "audit.head", std::ios::trunc) << head;
  const AuditVerifyResult r = verify_audit({file}, with_head(file));
  EXPECT_FALSE(r.intact);
  EXPECT_NE(r.problem.find("the end of the log was replaced"), std::string::npos) << r.problem;
  std::ofstream(dir / "audit.head", std::ios::trunc) << "{\"seq\":\"x\"}";
  EXPECT_THROW(verify_audit({file}, with_head(file)), std::runtime_error);
}

TEST(AuditChain, ATornRecordIsReportedThenSealedByTheWriter) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  {
    AuditLog log(file);
    write_n(log, 3);
  }
  {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << R"({"audit_seq":4,"audit_prev":"0123","ts":"2026-)";  // a crash mid-write
  }
  const AuditVerifyResult torn = verify_audit({file});
  EXPECT_FALSE(torn.intact);
  EXPECT_EQ(torn.line, 4u);
  EXPECT_NE(torn.problem.find("cut short"), std::string::npos) << torn.problem;
  {
    AuditLog log(file);  // the restart seals it
    write_n(log, 1, "bob");
  }
  const auto lines = read_lines(file);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[3], R"({"audit_seq":4,"audit_prev":"0123","ts":"2026-)");
  EXPECT_EQ(field(lines[4], "action"), "audit.break");
  EXPECT_EQ(field(lines[4], "audit_seq"), "4");
  EXPECT_EQ(field(lines[4], "audit_prev"), field(lines[2], "audit_hash"));
  EXPECT_EQ(field(lines[5], "who"), "bob");
  const AuditVerifyResult r = verify_audit({file}, with_head(file));
  EXPECT_TRUE(r.intact) << r.problem;
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find(":4: 1 line(s)"), std::string::npos) << r.notes[0];

  // The sealed line cannot be changed afterwards.
  auto changed = lines;
  changed[3][5] = 'X';
  write_lines(file, changed);
  const AuditVerifyResult c = verify_audit({file});
  EXPECT_FALSE(c.intact);
  EXPECT_EQ(c.line, 4u);
}

TEST(AuditChain, LinesOfAnEarlierVersionAreSealedOnce) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  write_lines(file, {R"({"ts":"2026-11-24T10:12:03.512Z","who":"olga","action":"list.load"})",
                     R"({"ts":"2026-11-24T10:13:03.512Z","who":"ivo","action":"search"})"});
  {
    AuditLog log(file);
    write_n(log, 2);
  }
  {
    AuditLog log(file);  // nothing more to seal
    write_n(log, 1);
  }
  const auto lines = read_lines(file);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(field(lines[2], "action"), "audit.break");
  EXPECT_EQ(field(lines[2], "audit_seq"), "1");
  EXPECT_EQ(field(lines[2], "unchained_lines"), "2");
  const AuditVerifyResult r = verify_audit({file}, with_head(file));
  EXPECT_TRUE(r.intact) << r.problem;
  EXPECT_EQ(r.records, 4u);
  EXPECT_EQ(r.notes.size(), 1u);
}

TEST(AuditChain, WithAKeyOnlyItsHolderWritesAChainThatVerifies) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  const std::string key = "0123456789abcdef-secret";
  {
    AuditLog log(file, key);
    write_n(log, 3);
  }
  AuditVerifyOptions keyed;
  keyed.key = key;
  EXPECT_TRUE(verify_audit({file}, keyed).intact);
  const AuditVerifyResult plain = verify_audit({file});
  EXPECT_FALSE(plain.intact);
  EXPECT_NE(plain.problem.find("--key-file"), std::string::npos);

  // Someone without the key edits a record and computes the chain again (plain SHA-256, as
  // anyone can): the keyed check refuses it; an unkeyed log would have accepted it.
  const fs::path forged = dir / "forged.jsonl";
  {
    AuditLog log(forged);  // records chained with plain SHA-256
    write_n(log, 3, "mallory");
  }
  EXPECT_TRUE(verify_audit({forged}).intact);
  EXPECT_FALSE(verify_audit({forged}, keyed).intact);

  AuditVerifyOptions wrong;
  wrong.key = "another-key-of-16-bytes";
  EXPECT_FALSE(verify_audit({file}, wrong).intact);
}

TEST(AuditChain, KeyFilesAreChecked) {
  TempDir dir("audit");
  std::ofstream(dir / "short.key") << "too-short\n";
  std::ofstream(dir / "good.key") << "0123456789abcdef0123\n";
  EXPECT_THROW(read_audit_key(dir / "short.key"), std::runtime_error);
  EXPECT_THROW(read_audit_key(dir / "missing.key"), std::runtime_error);
  EXPECT_EQ(read_audit_key(dir / "good.key"), "0123456789abcdef0123");
  {
    std::ofstream big(dir / "big.key");
    big << std::string(5000, 'k');
  }
  EXPECT_THROW(read_audit_key(dir / "big.key"), std::runtime_error);
}

TEST(AuditRotation, ARemovedFileIsWrittenAgainAtItsPath) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  AuditLog log(file);
  write_n(log, 2);
  const std::string last = field(read_lines(file).back(), "audit_hash");
  fs::remove(file);
  write_n(log, 1, "bob");
  ASSERT_TRUE(fs::exists(file));
  const auto lines = read_lines(file);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(field(lines[0], "action"), "audit.segment");
  EXPECT_EQ(field(lines[0], "audit_seq"), "3");
  EXPECT_EQ(field(lines[0], "audit_prev"), last);
  EXPECT_EQ(field(lines[1], "who"), "bob");
  const AuditVerifyResult r = verify_audit({file}, with_head(file));
  EXPECT_TRUE(r.intact) << r.problem;
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("continues seq 2"), std::string::npos) << r.notes[0];
}

TEST(AuditRotation, ARenamedFileIsFollowedByANewOneThatContinuesItsChain) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  AuditLog log(file);
  write_n(log, 2);
  fs::rename(file, dir / "audit.jsonl.1");  // logrotate
  write_n(log, 2, "bob");
  EXPECT_EQ(read_lines(dir / "audit.jsonl.1").size(), 2u);
  const auto lines = read_lines(file);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(field(lines[2], "who"), "bob");
  const AuditVerifyResult both = verify_audit({dir / "audit.jsonl.1", file}, with_head(file));
  EXPECT_TRUE(both.intact) << both.problem;
  EXPECT_EQ(both.records, 5u);
  EXPECT_TRUE(both.notes.empty());
  // The files out of order, or one missing in the middle, break the chain.
  EXPECT_FALSE(verify_audit({file, dir / "audit.jsonl.1"}).intact);
  // A file truncated in place (copytruncate) starts a new segment too.
  ::truncate(file.c_str(), 0);
  write_n(log, 1, "carl");
  const auto after = read_lines(file);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(field(after[0], "action"), "audit.segment");
  EXPECT_EQ(field(after[0], "audit_seq"), "6");
  EXPECT_TRUE(verify_audit({file}, with_head(file)).intact);
}

TEST(AuditRotation, AStartAfterTheLogWasRotatedContinuesFromTheHead) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  {
    AuditLog log(file);
    write_n(log, 2);
  }
  fs::rename(file, dir / "audit.jsonl.1");
  {
    AuditLog log(file);
    write_n(log, 1);
  }
  EXPECT_TRUE(verify_audit({dir / "audit.jsonl.1", file}, with_head(file)).intact);
  EXPECT_EQ(field(read_lines(file)[0], "audit_seq"), "3");
}

// Two writers on one file (the processor and `anpr lists publish`): one chain.
TEST(AuditChain, TwoWritersOfOneFileKeepOneChain) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  AuditLog a(file);
  AuditLog b(file);
  for (int i = 0; i < 5; ++i) {
    write_n(a, 1, "a");
    write_n(b, 2, "b");
  }
  const AuditVerifyResult r = verify_audit({file}, with_head(file));
  EXPECT_TRUE(r.intact) << r.problem;
  EXPECT_EQ(r.records, 15u);
}

TEST(AuditChain, RecordsFromManyThreadsFormOneChain) {
  TempDir dir("audit");
  const fs::path file = dir / "audit.jsonl";
  {
    AuditLog log(file);
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
      threads.emplace_back([&log, t] { write_n(log, 20, "user" + std::to_string(t)); });
    for (auto& th : threads) th.join();
  }
  const AuditVerifyResult r = verify_audit({file}, with_head(file));
  EXPECT_TRUE(r.intact) << r.problem;
  EXPECT_EQ(r.records, 120u);
}

TEST(AuditVerify, HostileFilesAreClearErrorsOrBreaks) {
  TempDir dir("audit");
  EXPECT_THROW(verify_audit({dir / "missing.jsonl"}), std::runtime_error);
  EXPECT_THROW(verify_audit({dir.path()}), std::runtime_error);  // a folder
  // A line too long to be a record: refused without reading it all into memory.
  {
    std::ofstream big(dir / "big.jsonl", std::ios::binary);
    const std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 65; ++i) big << chunk;
  }
  EXPECT_THROW(verify_audit({dir / "big.jsonl"}), std::runtime_error);
  // Binary noise and a seq of 25 digits: not records.
  write_lines(dir / "noise.jsonl",
              {std::string("\0\xff\x01", 3),
               "{\"audit_seq\":1234567890123456789012345,\"audit_prev\":\"" + std::string(64, '0') + "\"}"});
  const AuditVerifyResult r = verify_audit({dir / "noise.jsonl"});
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.line, 1u);
  // An empty log is intact (nothing written yet).
  std::ofstream(dir / "empty.jsonl").close();
  EXPECT_TRUE(verify_audit({dir / "empty.jsonl"}).intact);
}

}  // namespace
}  // namespace anpr::http
