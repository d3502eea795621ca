// `anpr audit verify` (cli/cmd_audit.cpp; docs/operators.md §11), run as a process: exit 0 for an
// intact log, 1 naming the first broken record (an edited, removed or reordered record, a cut-off
// end found against audit.head), 2 for usage errors and files that cannot be read.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "http/audit.h"
#include "tests/it_support.h"
#include "tests/temp_dir.h"

namespace anpr {
namespace {

namespace fs = std::filesystem;
using testing::run_anpr;
using testing::TempDir;

using testing::read_lines;
using testing::write_lines;

// state/audit.jsonl of five records in `dir`, written with `key` (empty: none).
fs::path make_log(const fs::path& dir, const std::string& key = {}) {
  http::AuditLog log(dir / "state" / "audit.jsonl", key);
  for (int i = 0; i < 5; ++i)
    log.record("olga", "operator", "list.load", [&](JsonWriter& w) { w.field("n", i); });
  return dir / "state" / "audit.jsonl";
}

TEST(AuditVerifyCli, AnIntactLogIsZeroAndEachKindOfDamageIsOneWithItsLine) {
  struct Case {
    const char* name;
    void (*change)(std::vector<std::string>&);
    int exit_code;
    const char* expect;  // in stdout
  };
  const std::vector<Case> cases = {
      {"intact", [](auto&) {}, 0, "intact: 5 records, last seq 5"},
      {"edited", [](auto& l) { l[1].replace(l[1].find("olga"), 4, "ivo!"); }, 1,
       "audit.jsonl:2: its hash does not match"},
      {"removed", [](auto& l) { l.erase(l.begin() + 3); }, 1,
       "audit.jsonl:4: audit_seq 5 follows audit_seq 3"},
      {"reordered", [](auto& l) { std::swap(l[0], l[1]); }, 1,
       "audit.jsonl:1: the chain starts at seq 2"},
      {"end cut off", [](auto& l) { l.resize(3); }, 1,
       "audit.jsonl:4: the log ends at seq 3, but "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir("audit-cli");
    const fs::path log = make_log(dir);
    auto lines = read_lines(log);
    c.change(lines);
    write_lines(log, lines);
    // The default file is state/audit.jsonl of the working folder.
    const auto r = run_anpr("audit verify", dir,
                            "cd " + dir.path().string() + " &&");
    EXPECT_EQ(r.exit_code, c.exit_code) << r.out << r.err;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

TEST(AuditVerifyCli, RotatedFilesKeysJsonAndTheHeadOption) {
  TempDir dir("audit-cli");
  const std::string key = "a-key-of-more-than-16-bytes";
  std::ofstream(dir / "audit.key") << key << "\n";
  const fs::path log = make_log(dir, key);
  const std::string d = dir.path().string();
  // Without the key: broken, and the message says why it may be.
  auto r = run_anpr("audit verify " + log.string(), dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--key-file"), std::string::npos) << r.out;
  r = run_anpr("audit verify " + log.string() + " --key-file " + d + "/audit.key --json", dir);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"intact\":true,\"records\":5,\"last_seq\":5"), std::string::npos)
      << r.out;
  // The key from the configuration.
  fs::copy_file(std::string(ANPR_SOURCE_DIR) + "/samples/cameras.csv", dir / "cameras.csv");
  std::ofstream(dir / "anpr.toml") << "[cameras]\nregistry = \"cameras.csv\"\n"
                                   << "[audit]\nkey_file = \"audit.key\"\n";
  r = run_anpr("audit verify --config " + d + "/anpr.toml", dir);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // Rotated: the old file first, then the current one.
  fs::rename(log, d + "/state/audit.jsonl.1");
  {
    http::AuditLog again(log, key);
    again.record("ivo", "investigator", "search");
  }
  r = run_anpr("audit verify --config " + d + "/anpr.toml " + d + "/state/audit.jsonl.1 " +
                   log.string(),
               dir);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("intact: 7 records"), std::string::npos) << r.out;
  // The current file alone: intact, with a note that it continues an earlier one.
  r = run_anpr("audit verify --config " + d + "/anpr.toml", dir);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("note: "), std::string::npos) << r.out;
  // The files in the wrong order.
  r = run_anpr("audit verify --config " + d + "/anpr.toml " + log.string() + " " + d +
                   "/state/audit.jsonl.1 --no-head",
               dir);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
}

TEST(AuditVerifyCli, UsageErrorsAndUnreadableFilesAreTwo) {
  TempDir dir("audit-cli");
  const fs::path log = make_log(dir);
  const std::string d = dir.path().string();
  std::ofstream(dir / "short.key") << "short\n";
  struct Case {
    std::string args;
    std::string expect;  // in stderr
  };
  const std::vector<Case> cases = {
      {"audit verify " + d + "/nothing.jsonl", "anpr audit verify: " + d + "/nothing.jsonl: cannot read"},
      {"audit verify " + d, "anpr audit verify: " + d + ": not a regular file"},
      {"audit verify " + log.string() + " --key-file " + d + "/none.key",
       "anpr audit verify: " + d + "/none.key: cannot read the audit key"},
      {"audit verify " + log.string() + " --key-file " + d + "/short.key",
       "at least 16 bytes"},
      {"audit verify " + log.string() + " --head " + d + "/none.head",
       "anpr audit verify: " + d + "/none.head: cannot read the head file"},
      {"audit verify --config " + d + "/none.toml", "anpr audit verify: "},
      {"audit verify --bogus", "anpr audit verify: The following argument was not expected: --bogus"},
      {"audit frobnicate", "anpr audit: unknown command 'frobnicate'"},
      {"audit", "anpr audit: "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const auto r = run_anpr(c.args, dir);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  const auto help = run_anpr("audit verify --help", dir);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--key-file TEXT=audit.key_file of the configuration"),
            std::string::npos)
      << help.out;
}

}  // namespace
}  // namespace anpr
