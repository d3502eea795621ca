// Failover of the processor instances of one consumer group (docs/kafka.md "Failover"), on the
// embedded broker and on Apache Kafka (ANPR_TEST_KAFKA, tests/test_broker.h).
//
// Two instances consume a steady stream of reads (each read a hit, on four partitions, produced
// by the test at a fixed pace with its partition in its event id). One instance is then killed
// and restarted, or stopped. What is checked: no read loses its hit. What is measured and
// printed (never asserted: figures depend on the machine): per partition, the longest time
// without a hit after the event, split into the partitions the stopped instance owned (its
// failover time) and the others (a stall of the survivor).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <memory>
#include <thread>
#include <vector>

#include "tests/it_support.h"
#include "tests/steady_stream.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kPartitions = 4;
constexpr int kReadsPerSecond = 100;  // in all, spread evenly over the partitions

class Failover : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    broker_ = TestBroker(dir_.path(), name, kPartitions);
    ASSERT_FALSE(broker_.bootstrap().empty());
    write_stream_data(dir_.path());
  }

  // A config for one instance: static membership when `instance_id` is not empty.
  fs::path config(const std::string& name, const std::string& instance_id) {
    const fs::path p = dir_.path() / (name + ".toml");
    write_file(p, "[kafka]\nbrokers = \"" + broker_.bootstrap() + "\"\ngroup_id = \"" +
                      broker_.group("failover") + "\"\n" +
                      (instance_id.empty() ? "" : "instance_id = \"" + instance_id + "\"\n") +
                      broker_.topics_toml() +
                      "[cameras]\nregistry = \"cameras.csv\"\n[lists]\nfiles = [\"wanted.csv\"]\n"
                      "[suppression]\nwindow_s = 0\n[pipeline]\nthreads = 2\n[state]\ndir = \"state-" +
                      name + "\"\n");
    return p;
  }

  // Starts instance `name` (its config, state folder and log `log`.err, by default `name`.err).
  Child start(const std::string& name, const std::string& instance_id, std::string log = "") {
    if (log.empty()) log = name;
    return Child({kAnpr, "run", "--config", config(name, instance_id).string()}, false,
                 (dir_.path() / (log + ".err")).string());
  }

  void start_producing() {
    reads_ = std::make_unique<SteadyReads>(broker_.bootstrap(), broker_.topic("anpr.reads"),
                                           kPartitions, kReadsPerSecond);
  }
  std::vector<TimedHit> hits(int at_most = 0) const {
    return timed_hits(broker_.bootstrap(), broker_.topic("anpr.hits"), at_most);
  }

  // The partitions an instance owns by its log: "assigned ... [..]" adds, "revoked ... [..]"
  // removes (an eager rebalance revokes and assigns all, a cooperative one only what moves).
  std::set<int> owned(const std::string& name) const {
    const std::string text = slurp(dir_.path() / (name + ".err"));
    std::set<int> s;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      const bool add = line.find("assigned " + broker_.topic("anpr.reads") + " partitions [") !=
                       std::string::npos;
      const bool del = line.find("revoked " + broker_.topic("anpr.reads") + " partitions [") !=
                       std::string::npos;
      if (!add && !del) continue;
      std::string list = line.substr(line.find('[') + 1);
      list = list.substr(0, list.find(']'));
      std::istringstream l(list);
      for (std::string p; std::getline(l, p, ',');)
        if (!p.empty()) add ? (void)s.insert(std::stoi(p)) : (void)s.erase(std::stoi(p));
    }
    return s;
  }

  // Waits until the two instances split the partitions between them and hits flow.
  void wait_for_a_split(const std::string& a, const std::string& b) {
    ASSERT_TRUE(eventually(
        [&] {
          const auto x = owned(a), y = owned(b);
          std::set<int> all(x.begin(), x.end());
          all.insert(y.begin(), y.end());
          return !x.empty() && !y.empty() && all.size() == kPartitions;
        },
        90))
        << "the two instances never shared the partitions";
    ASSERT_TRUE(eventually([&] { return hits(20).size() >= 20; }, 60)) << "no hits flow";
  }

  // Prints, for the event at `t0`, the longest time between two hits from t0 - 1 s on, for the
  // partitions the stopped instance owned (`moved`) and for the others.
  void report(const std::string& what, int64_t t0, const std::set<int>& moved) {
    int64_t worst_moved = 0, worst_other = 0;
    std::string per;
    for (const auto& [p, gap] : longest_gaps(hits(), t0 - 1000)) {
      per += " p" + std::to_string(p) + (moved.count(p) ? "*" : "") + "=" + std::to_string(gap);
      int64_t& worst = moved.count(p) ? worst_moved : worst_other;
      worst = std::max(worst, gap);
    }
    const std::string line = std::string("[failover] ") +
                             (TestBroker::kafka() ? "Apache Kafka" : "embedded broker") + ", " +
                             what + ": partitions of the stopped instance without a hit for " +
                             std::to_string(worst_moved) + " ms, the others for " +
                             std::to_string(worst_other) + " ms (per partition, ms; * = moved:" +
                             per + ")";
    std::printf("%s\n", line.c_str());
    ::testing::Test::RecordProperty("failover", line);
  }

  // Stops the producer; every read produced has its hit (at least once).
  void expect_no_hit_lost() {
    expect_every_read_hit(*reads_, broker_.bootstrap(), broker_.topic("anpr.hits"));
  }

  // Starts instances a and b (static members when their ids are not empty) and the stream, and
  // waits until they share the partitions and hits flow; `moved` gets a's partitions.
  void start_two(Child& a, Child& b, const std::string& id_a, const std::string& id_b,
                 std::set<int>& moved) {
    a = start("a", id_a);
    b = start("b", id_b);
    start_producing();
    wait_for_a_split("a", "b");
    std::this_thread::sleep_for(std::chrono::seconds(2));
    moved = owned("a");
  }

  // Stops instance a for good with SIGTERM, waits `settle_s` seconds, then checks that no hit was
  // lost and that b took over every partition; prints the times.
  void stop_a_for_good(const std::string& id_a, const std::string& id_b, int settle_s,
                       const std::string& what) {
    Child a, b;
    std::set<int> moved;
    start_two(a, b, id_a, id_b, moved);
    if (HasFatalFailure()) return;
    const int64_t t0 = wall_ms();
    a.signal(SIGTERM);
    EXPECT_EQ(a.wait(60'000), 0);
    std::this_thread::sleep_for(std::chrono::seconds(settle_s));
    expect_no_hit_lost();
    report(what, t0, moved);
    EXPECT_EQ(owned("b").size(), static_cast<std::size_t>(kPartitions))
        << "the survivor did not take over every partition";
  }

  TempDir dir_{"failover"};
  TestBroker broker_;
  std::unique_ptr<SteadyReads> reads_;
};

// A static member killed with SIGKILL and started again at once, under the same instance id: it
// is back in the group without a rebalance (Apache Kafka) and its partitions resume.
TEST_F(Failover, AStaticMemberKilledAndRestartedGetsItsPartitionsBack) {
  Child a, b;
  std::set<int> moved;
  start_two(a, b, "anpr-a", "anpr-b", moved);
  ASSERT_FALSE(HasFatalFailure());
  const int64_t t0 = wall_ms();
  a.signal(SIGKILL);
  a.wait(10'000);
  a = start("a", "anpr-a", "a-restarted");
  // Long enough for the session timeout (10 s) to pass had the group waited for it.
  std::this_thread::sleep_for(std::chrono::seconds(14));
  expect_no_hit_lost();
  report("SIGKILL and restart of a static member", t0, moved);
}

// A dynamic member stopped with SIGTERM (not restarted) leaves the group: its partitions move to
// the survivor, whose own partitions keep flowing (cooperative rebalance).
TEST_F(Failover, AStoppedInstanceHandsItsPartitionsOverWithoutStallingTheOthers) {
  stop_a_for_good("", "", 8, "SIGTERM of a dynamic member");
}

// A static member stopped for good with SIGTERM does not leave the group (static members never
// do): its partitions wait for the session timeout (10 s), then move to the survivor.
TEST_F(Failover, AStaticMemberStoppedForGoodIsReplacedAfterTheSessionTimeout) {
  stop_a_for_good("anpr-a", "anpr-b", 16, "SIGTERM of a static member, not restarted");
}

}  // namespace
}  // namespace anpr::testing
