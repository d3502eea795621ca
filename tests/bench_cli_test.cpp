// `anpr bench` refuses malformed options with exit code 2 before it starts anything (the
// benchmark itself runs in scripts/test.sh as `anpr bench --quick`; its figures are not asserted).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <string>

#include "tests/process.h"

namespace anpr::testing {
namespace {

int exit_code(const std::string& args, std::string* out = nullptr) {
  const std::string o = shell(kAnpr + " bench " + args + " 2>&1; echo \"rc=$?\"");
  if (out) *out = o;
  const std::size_t at = o.rfind("rc=");
  return at == std::string::npos ? -1 : std::stoi(o.substr(at + 3));
}

TEST(BenchCli, MalformedOptionsAreUsageErrors) {
  for (const char* bad : {"--mix NL", "--mix NL:x", "--mix DE:50", "--mix NL:101", "--mix NL:-1",
                          "--mix NL:0", "--mix ''", "--mix 'NL:60,,BE:40'", "--mix 'NL:60;BE:40'",
                          "--reads 5", "--reads abc", "--entries 0", "--hit-rate 1.5",
                          "--ocr-noise -0.1", "--threads 0", "--rounds 0", "--image /nonexistent",
                          "--unknown", "--partitions 100000"}) {
    std::string out;
    EXPECT_EQ(exit_code(bad, &out), 2) << bad << "\n" << out;
  }
}

// A load the embedded broker cannot hold (it keeps 5 MiB per partition and drops older data
// silently) is refused before anything is produced, instead of waiting for reads that are gone.
TEST(BenchCli, ALoadTooLargeForTheEmbeddedBrokerIsRefused) {
  std::string out;
  EXPECT_EQ(exit_code("--reads 2000000 --partitions 1 --entries 1000", &out), 2) << out;
  EXPECT_NE(out.find("5 MiB per partition"), std::string::npos) << out;
}

TEST(BenchCli, HelpNamesTheOptions) {
  std::string out;
  EXPECT_EQ(exit_code("--help", &out), 0);
  for (const char* opt : {"--quick", "--entries", "--hit-rate", "--ocr-noise", "--mix", "--image",
                          "--brokers", "--json"})
    EXPECT_NE(out.find(opt), std::string::npos) << opt;
}

}  // namespace
}  // namespace anpr::testing
