// Broker faults on a three-node Apache Kafka cluster of the test's own (scripts/kafka.sh start
// --nodes 3: replication factor 3, min.insync.replicas 2; docs/kafka.md): one broker stopped
// mid-stream, then the whole cluster stopped for 30 s. A steady stream of reads that all hit
// (tests/steady_stream.h) runs throughout. Checked: no read loses its hit, readiness turns 503
// while the cluster is gone and 200 again without anyone touching the processor. Printed (not
// asserted): the longest time a partition went without a hit around each fault, and how many
// hits were published twice (at least once).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/it_support.h"
#include "tests/steady_stream.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kPartitions = 4;

// scripts/kafka.sh with `args` on the cluster in `dir`; its stdout (stderr goes to dir/kafka.log).
std::string kafka_sh(const fs::path& dir, const std::string& args) {
  return shell(std::string(ANPR_SOURCE_DIR) + "/scripts/kafka.sh " + args + " --dir " +
               (dir / "cluster").string() + " 2>>" + (dir / "kafka.log").string());
}

int readyz(int port) {
  httplib::Client http("127.0.0.1", port);
  http.set_connection_timeout(2);
  http.set_read_timeout(5);
  auto r = http.Get("/readyz");
  return r ? r->status : -1;
}

std::string max_gap_line(const std::map<int, int64_t>& gaps, int64_t* worst) {
  std::string s;
  *worst = 0;
  for (const auto& [p, g] : gaps) {
    s += " p" + std::to_string(p) + "=" + std::to_string(g);
    *worst = std::max(*worst, g);
  }
  return s;
}

TEST(ClusterFaults, OneBrokerDownThenTheWholeClusterDownFor30sLoseNoHit) {
  ANPR_REQUIRE_APACHE_KAFKA();
  TempDir dir("cluster-faults", TempDir::Keep::on_failure);
  std::string bootstrap = kafka_sh(dir.path(), "start --nodes 3");
  while (!bootstrap.empty() && bootstrap.back() == '\n') bootstrap.pop_back();
  ASSERT_FALSE(bootstrap.empty()) << "the three-node cluster did not start:\n"
                                  << slurp(dir.path() / "kafka.log");
  struct Stop {
    fs::path d;
    ~Stop() { kafka_sh(d, "stop --kill"); }
  } stop_cluster{dir.path()};

  // The reads carry the time the cluster appended them: a stall of the writers (the leader
  // election) shows there, a stall of the processor only in the hits.
  TestBroker broker = TestBroker::on(bootstrap, "faults", kPartitions,
                                     {{"message.timestamp.type", "LogAppendTime"}});
  write_stream_data(dir.path());
  const int port = free_port();
  write_file(dir.path() / "anpr.toml",
             "[kafka]\nbrokers = \"" + bootstrap + "\"\ngroup_id = \"" + broker.group("faults") +
                 "\"\nunanswered_after_ms = 5000\n" + broker.topics_toml() +
                 "[cameras]\nregistry = \"cameras.csv\"\n[lists]\nfiles = [\"wanted.csv\"]\n"
                 "[suppression]\nwindow_s = 0\n[pipeline]\nthreads = 2\n[http]\nlisten = "
                 "\"127.0.0.1:" +
                 std::to_string(port) + "\"\n");
  Child proc({kAnpr, "run", "--config", (dir.path() / "anpr.toml").string()}, false,
             (dir.path() / "run.err").string());
  SteadyReads reads(bootstrap, broker.topic("anpr.reads"), kPartitions, 100);
  const std::string hits_topic = broker.topic("anpr.hits");
  ASSERT_TRUE(eventually([&] { return timed_hits(bootstrap, hits_topic, 20).size() >= 20; }, 90))
      << "no hits flow:\n" << slurp(dir.path() / "run.err");
  ASSERT_TRUE(eventually([&] { return readyz(port) == 200; }, 60));

  // 1. Node 2 stopped (controlled shutdown) mid-stream for 15 s, then started again.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int64_t t1 = wall_ms();
  kafka_sh(dir.path(), "stop --node 2");
  std::this_thread::sleep_for(std::chrono::seconds(15));
  EXPECT_EQ(readyz(port), 200) << "two brokers of three serve everything";
  ASSERT_FALSE(kafka_sh(dir.path(), "start --node 2").empty()) << slurp(dir.path() / "kafka.log");
  std::this_thread::sleep_for(std::chrono::seconds(3));

  // 2. Every node stopped for 30 s, then all started again.
  const int64_t t2 = wall_ms();
  kafka_sh(dir.path(), "stop");
  EXPECT_TRUE(eventually([&] { return readyz(port) == 503; }, 60))
      << "readiness did not say the cluster is gone";
  std::this_thread::sleep_until(std::chrono::system_clock::time_point(std::chrono::milliseconds(t2)) +
                                std::chrono::seconds(30));
  const int64_t t2_start = wall_ms();
  ASSERT_FALSE(kafka_sh(dir.path(), "start --node 1,2,3").empty())
      << slurp(dir.path() / "kafka.log");
  const int64_t t2_back = wall_ms();
  EXPECT_TRUE(eventually([&] { return readyz(port) == 200; }, 120))
      << "the processor did not become ready again by itself";
  std::this_thread::sleep_for(std::chrono::seconds(5));

  int duplicates = 0;
  expect_every_read_hit(reads, bootstrap, hits_topic, &duplicates);
  const auto all = timed_hits(bootstrap, hits_topic);
  const auto appended = appended_reads(bootstrap, broker.topic("anpr.reads"));
  // The first fault's window ends where the second begins.
  auto before_t2 = [&](const std::vector<TimedHit>& v) {
    std::vector<TimedHit> out;
    for (const TimedHit& h : v)
      if (h.at_ms < t2) out.push_back(h);
    return out;
  };
  int64_t w1 = 0, w2 = 0, r1 = 0, r2 = 0;
  const std::string l1 = max_gap_line(longest_gaps(before_t2(all), t1 - 1000), &w1);
  const std::string l2 = max_gap_line(longest_gaps(all, t2 - 1000), &w2);
  max_gap_line(longest_gaps(before_t2(appended), t1 - 1000), &r1);
  max_gap_line(longest_gaps(appended, t2 - 1000), &r2);
  std::printf("[cluster-faults] %d reads, %zu hits published, %d reads with a duplicate hit\n",
              reads.delivered(), all.size(), duplicates);
  std::printf("[cluster-faults] one broker of three stopped: longest time without a hit %lld ms"
              " (per partition:%s); without a read appended %lld ms\n",
              static_cast<long long>(w1), l1.c_str(), static_cast<long long>(r1));
  std::printf("[cluster-faults] whole cluster stopped for %lld ms (its start took %lld ms of "
              "them): longest time without a hit %lld ms (per partition:%s); without a read "
              "appended %lld ms\n",
              static_cast<long long>(t2_back - t2), static_cast<long long>(t2_back - t2_start),
              static_cast<long long>(w2), l2.c_str(), static_cast<long long>(r2));
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0) << slurp(dir.path() / "run.err");
}

}  // namespace
}  // namespace anpr::testing
