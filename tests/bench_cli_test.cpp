// `anpr bench` refuses malformed options with exit code 2 before it starts anything, and a small
// run against a broker (the embedded one or Apache Kafka, tests/test_broker.h) consumes every read
// it produced, raw and through the processor (the full benchmark runs in scripts/test.sh as
// `anpr bench --quick`; its figures are not asserted).
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <string>

#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

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

// The embedded broker accepts transactions without keeping them: --exactly-once needs a cluster.
TEST(BenchCli, ExactlyOnceOnTheEmbeddedBrokerIsRefused) {
  std::string out;
  EXPECT_EQ(exit_code("--exactly-once --quick", &out), 2) << out;
  EXPECT_NE(out.find("--exactly-once needs --brokers"), std::string::npos) << out;
}

TEST(BenchCli, HelpNamesTheOptions) {
  std::string out;
  EXPECT_EQ(exit_code("--help", &out), 0);
  for (const char* opt : {"--quick", "--entries", "--hit-rate", "--ocr-noise", "--mix", "--image",
                          "--brokers", "--json", "--exactly-once"})
    EXPECT_NE(out.find(opt), std::string::npos) << opt;
}

// The benchmark's topics (`--topic-prefix`) on a broker of the test's own: the processor's dead
// letters and route copies (BE and LU cameras' hits on the benchmark's NL list) go to the
// benchmark's topics, not to the product's.
TEST(BenchSmoke, ASmallRunConsumesEveryReadRawAndThroughTheProcessor) {
  TempDir tmp("bench-smoke", TempDir::Keep::on_failure);
  TestBroker broker(tmp.path(), current_test_name(), 2, kAnpr,
                    {"bench.reads", "bench.hits", "bench.lat.reads", "bench.lat.hits",
                     "bench.deadletter", "bench.route.nl", "bench.route.be", "bench.route.lu"});
  ASSERT_FALSE(broker.bootstrap().empty());
  const std::string json = (tmp.path() / "bench.json").string();
  std::string out;
  ASSERT_EQ(exit_code("--reads 2000 --entries 1000 --rounds 1 --latency-seconds 1 --broken 0.05 "
                      "--brokers " + broker.bootstrap() + " --topic-prefix " +
                          broker.topic("bench.") + " --json " + json,
                      &out),
            0)
      << out;
  simdjson::dom::parser p;
  simdjson::dom::element d;
  ASSERT_FALSE(p.parse(slurp(json)).get(d)) << slurp(json);
  EXPECT_EQ(std::string_view(d["options"]["broker"]), broker.bootstrap());
  EXPECT_EQ(uint64_t(d["raw"]["reads"]), 2000u);
  EXPECT_EQ(uint64_t(d["processor"]["reads"]), 2000u);
  // Rates and CPU per read count the reads of the timed span only: not those the processor went
  // through before the benchmark noticed it had started.
  EXPECT_GT(uint64_t(d["processor"]["timed_reads"]), 0u);
  EXPECT_LE(uint64_t(d["processor"]["timed_reads"]), 2000u);
  EXPECT_GT(double(d["rate_ratio_median"]), 0.0);
  EXPECT_GT(double(d["cpu_ratio_median"]), 0.0);
  EXPECT_GT(simdjson::dom::array(d["latency_ms"]).size(), 0u);
  // The latency rows split each hit's time into the broker's part, the processor's and the
  // hit's way out (docs/benchmarks.md, "What it measures"); and the run says how busy the
  // machine was.
  uint64_t hits = 0, split = 0;
  for (simdjson::dom::element row : simdjson::dom::array(d["latency_ms"])) {
    hits += uint64_t(row["hits"]);
    split += uint64_t(row["hits_split"]);
    for (const char* k : {"broker_to_read_p99", "processor_p99", "hit_way_out_p99"})
      EXPECT_GE(double(row[k]), 0.0) << k;
  }
  EXPECT_GT(hits, 0u);
  EXPECT_GT(split, 0u) << "no hit's time was split into its parts";
  EXPECT_LE(split, hits);
  EXPECT_GE(double(d["load_average_start"]), 0.0);
  const auto messages = [&](const std::string& t) {
    return shell("kcat -C -b " + broker.bootstrap() + " -t " + broker.topic(t) +
                 " -o beginning -e -q 2>/dev/null | wc -l");
  };
  EXPECT_NE(std::stoi(messages("bench.deadletter")), 0)
      << "no dead letter on the benchmark's topic";
  EXPECT_NE(std::stoi(messages("bench.route.nl")), 0) << "no route copy on the benchmark's topic";
  // On the embedded broker the product's topics are on the same broker: nothing reached them.
  if (!broker.on_kafka()) {
    for (const char* t : {"anpr.deadletter", "anpr.route.nl", "anpr.route.be", "anpr.route.lu"})
      EXPECT_EQ(std::stoi(messages(t)), 0) << t;
  }
}

}  // namespace
}  // namespace anpr::testing
