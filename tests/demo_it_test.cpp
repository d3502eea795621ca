// `anpr demo` as a user runs it: the embedded broker, the processor, the synthetic camera feed and
// the pages in one process. Lists changed through the HTTP list API while the feed runs (a full
// load of a new list, then a delta) must be followed: the demo stays up, its feed sends plates of
// the new version, the hits on them are shown, and Ctrl-C ends it with exit code 0.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "tests/it_support.h"
#include "tests/process.h"

namespace anpr {
namespace {

namespace fs = std::filesystem;
using testing::Child;

using testing::free_port;
using testing::kAnpr;

// `n` NL plates (sidecode XX-999-X) with references `ref_prefix`0, 1, ...
std::string rows(int first, int n, const std::string& ref_prefix) {
  std::string csv = "plate,plate_country,reference\n";
  for (int i = 0; i < n; ++i)
    csv += "XR-" + std::to_string(first + i) + "-L,NL," + ref_prefix + std::to_string(i) + "\n";
  return csv;
}

class Demo {
 public:
  Demo(int port, const fs::path& err)
      : child_({kAnpr, "demo", "--samples", std::string(ANPR_SOURCE_DIR) + "/samples", "--http",
                "127.0.0.1:" + std::to_string(port), "--rate", "200", "--listed", "0.2",
                "--duration", "120"},
               true, err.string()) {}

  // Reads stdout until a line contains `what`; false after `timeout_s`, or once the demo exited.
  bool wait_for(const std::string& what, int timeout_s, std::string* line = nullptr) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < end) {
      std::string l = child_.read_line(1000);
      if (l.find(what) != std::string::npos) {
        if (line) *line = l;
        return true;
      }
      if (l.empty() && exit_code() != -1) return false;
    }
    return false;
  }
  // The exit code (128 + signal), or -1 while the demo runs.
  int exit_code(int timeout_ms = 0) {
    if (rc_ == -1) rc_ = child_.wait(timeout_ms);
    return rc_;
  }
  // Ctrl-C, then the exit code; stdout is drained meanwhile, so a demo blocked on a full pipe
  // can still stop. -1 when it has not exited within `timeout_s`.
  int interrupt(int timeout_s) {
    child_.signal(SIGINT);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < end) {
      child_.read_line(100);
      if (exit_code() != -1) return rc_;
    }
    return -1;
  }

 private:
  Child child_;
  int rc_ = -1;
};

TEST(Demo, FollowsListChangesMadeThroughTheApi) {
  const fs::path dir = fs::temp_directory_path() / ("anpr-demo-it-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const int port = free_port();
  Demo demo(port, dir / "demo.err");

  // The operator's token, printed at start ("  operator      <token>").
  std::string line;
  ASSERT_TRUE(demo.wait_for("  operator ", 60, &line))
      << "no tokens printed (exit code " << demo.exit_code() << "); see " << dir;
  const std::string token = line.substr(line.find_last_of(' ') + 1);
  ASSERT_GE(token.size(), 20u) << line;
  ASSERT_TRUE(demo.wait_for("HIT ", 60))
      << "no hit before the list change (exit code " << demo.exit_code() << "); see " << dir;

  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  const httplib::Headers auth = {{"Authorization", "Bearer " + token}};

  // A full load of a new list: the sample version it replaces is freed.
  const std::string sidecar =
      "id = \"demo-new\"\nowner_country = \"NL\"\nmatch_mode = \"exact\"\n"
      "category = \"stolen_vehicle\"\naction = \"intercept\"\npriority = 30\n";
  httplib::MultipartFormDataItems load = {{"sidecar", sidecar, "demo-new.toml", ""},
                                          {"rows", rows(100, 200, "DEMO-NEW-"), "demo-new.csv", ""}};
  auto r = c.Put("/api/v1/lists/demo-new", auth, load);
  ASSERT_TRUE(r) << "no answer to the list load: the demo died? see " << dir;
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(demo.wait_for("ref DEMO-NEW-", 30)) << "no hit on the new list within 30 s";
  ASSERT_EQ(demo.exit_code(), -1) << "the demo exited after the list load; see " << dir;

  // A delta on it: another version, and the one before it freed.
  httplib::MultipartFormDataItems delta = {{"add", rows(400, 100, "DEMO-DELTA-"), "add.csv", ""}};
  r = c.Post("/api/v1/lists/demo-new/delta", auth, delta);
  ASSERT_TRUE(r) << "no answer to the delta: the demo died? see " << dir;
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(demo.wait_for("ref DEMO-DELTA-", 30)) << "no hit on the delta's rows within 30 s";
  ASSERT_EQ(demo.exit_code(), -1) << "the demo exited after the delta; see " << dir;

  EXPECT_EQ(demo.interrupt(30), 0) << "see " << dir;
  if (!HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace anpr
