// Exactly-once hits (pipeline.exactly_once, docs/kafka.md "Exactly-once hits"), on Apache Kafka
// only: the embedded broker accepts transactions without keeping them (docs/design.md §7).
//
// A processor with exactly_once consumes a stream of reads whose hits are known
// (tests/pipeline_fixture.h) while the stream is still being produced, and is killed with
// SIGKILL while a transaction holding hits is provably open: hits are on the hits topic for a
// read_uncommitted consumer that a read_committed one does not see, and after the kill (nothing
// changes then) the difference has grown. Restarted each time, it aborts what its previous
// incarnation left open (same transactional.id) and processes those reads again. At the end a
// read_committed consumer, kcat and KafkaJS (tests/js/read_hits.js), clients we did not write,
// must see every expected hit, route copy and dead letter exactly once; a read_uncommitted one
// sees the aborted copies too (their counts are printed).
//
// A second instance started with the same kafka.transactional_id fences the first, which must
// stop with exit code 3 and say why; the second finishes the stream, again exactly once.
// And a second instance with a transactional.id of its own takes partitions over mid-stream: the
// first commits before they are revoked, and every hit is still seen once.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/it_support.h"
#include "tests/pipeline_fixture.h"
#include "tests/process.h"
#include "tests/test_broker.h"

namespace anpr::testing {
namespace {

constexpr const char* kUncommitted = "-X isolation.level=read_uncommitted";

class ExactlyOnceTest : public PipelineFixture {
 protected:
  void SetUp() override {
    ANPR_REQUIRE_APACHE_KAFKA();
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = fresh_dir(name);
    broker_ = TestBroker(dir_, name, 3);
    bootstrap_ = broker_.bootstrap();
    ASSERT_FALSE(bootstrap_.empty()) << "no broker";
    // Transactions open for a second: a kill at any moment is likely to find one holding hits.
    make_data("exactly_once = true\ncommit_interval_ms = 1000\n");
  }

  // The reads of make_reads() with a broken one (a dead letter) after every 100th, in chunks.
  std::vector<std::vector<std::pair<std::string, std::string>>> chunks(std::size_t size) {
    std::vector<std::vector<std::pair<std::string, std::string>>> out(1);
    for (std::size_t i = 0; i < reads_.size(); ++i) {
      if (out.back().size() >= size) out.emplace_back();
      out.back().push_back(reads_[i]);
      if (i % 100 == 99) {
        const std::string bad = "not json, eos-bad-" + std::to_string(i);
        out.back().push_back({"nl-cam-1", bad});
        bad_payloads_.insert(bad);
      }
    }
    return out;
  }

  std::size_t count(const std::string& topic, const std::string& options = "") {
    return consume(topic, options).size();
  }

  // Hits only a read_uncommitted consumer sees: aborted ones, and those of open transactions.
  std::size_t invisible_hits() {
    const std::size_t committed = count("anpr.hits");
    const std::size_t all = count("anpr.hits", kUncommitted);
    return all > committed ? all - committed : 0;
  }

  // What KafkaJS reads of the hits topic: (event_id|list_id|reference -> times), hit_ids.
  struct JsRead {
    bool ok = false;
    std::map<std::string, int> hits;
    std::multiset<std::string> hit_ids;
    std::string output;
  };
  JsRead kafkajs(std::size_t n, const std::string& isolation) {
    JsRead r;
    r.output = shell("node " ANPR_SOURCE_DIR "/tests/js/read_hits.js " + bootstrap_ + " " +
                     T("anpr.hits") + " " + std::to_string(n) + " 60 " + isolation + " 2>&1");
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      std::string a, b, c, d;
      f >> a >> b >> c >> d;
      if (a == "OK") r.ok = true;
      else if (d.size() == 32) {
        ++r.hits[a + "|" + b + "|" + c];
        r.hit_ids.insert(d);
      }
    }
    return r;
  }

  // The processor has stopped: read_committed consumers see every expected hit, route copy and
  // dead letter exactly once. Prints what read_uncommitted consumers see besides.
  void expect_exactly_once() {
    std::map<std::string, std::set<std::string>> ids;
    const std::vector<std::string> hits = consume("anpr.hits");
    const std::set<ExpectedHit> got = hit_set(hits, &ids);
    std::set<ExpectedHit> missing, unexpected;
    std::set_difference(expected_.begin(), expected_.end(), got.begin(), got.end(),
                        std::inserter(missing, missing.end()));
    std::set_difference(got.begin(), got.end(), expected_.begin(), expected_.end(),
                        std::inserter(unexpected, unexpected.end()));
    EXPECT_TRUE(missing.empty()) << missing.size() << " expected hits missing:\n"
                                 << describe(missing);
    EXPECT_TRUE(unexpected.empty()) << unexpected.size() << " unexpected hits:\n"
                                    << describe(unexpected);
    EXPECT_EQ(hits.size(), expected_.size()) << "a hit twice for a read_committed consumer";
    std::set<std::string> distinct_ids;
    for (const auto& [hit, hit_ids] : ids) distinct_ids.insert(hit_ids.begin(), hit_ids.end());
    EXPECT_EQ(distinct_ids.size(), hits.size()) << "a hit_id twice";

    for (const auto& [owner, want] : expected_routes_) {
      std::string topic = "anpr.route." + owner;
      for (char& c : topic) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const std::vector<std::string> routed = consume(topic);
      EXPECT_EQ(hit_set(routed), want) << topic;
      EXPECT_EQ(routed.size(), want.size()) << topic << ": a route copy twice";
    }

    std::multiset<std::string> dead;
    simdjson::dom::parser p;
    for (const std::string& m : consume("anpr.deadletter")) {
      simdjson::dom::element d;
      std::string_view payload;
      if (!p.parse(m).get(d) && !d["payload"].get(payload)) dead.insert(std::string(payload));
    }
    EXPECT_EQ(std::set<std::string>(dead.begin(), dead.end()), bad_payloads_);
    EXPECT_EQ(dead.size(), bad_payloads_.size()) << "a dead letter twice";

    // KafkaJS, read_committed: the same hits, each once.
    const JsRead js = kafkajs(hits.size(), "read_committed");
    EXPECT_TRUE(js.ok) << "KafkaJS: " << js.output.substr(js.output.size() > 2000 ? js.output.size() - 2000 : 0);
    std::size_t js_twice = 0;
    std::set<std::string> js_set;
    for (const auto& [hit, n] : js.hits) {
      js_set.insert(hit);
      if (n > 1) ++js_twice;
    }
    std::set<std::string> want_set;
    for (const ExpectedHit& h : expected_)
      want_set.insert(h.event_id + "|" + h.list_id + "|" + h.reference);
    EXPECT_EQ(js_set, want_set) << "KafkaJS read_committed";
    EXPECT_EQ(js_twice, 0u) << "KafkaJS read_committed read a hit twice";

    // read_uncommitted: the aborted copies are there too.
    const std::vector<std::string> all = consume("anpr.hits", kUncommitted);
    std::map<std::string, std::set<std::string>> all_ids;
    const std::set<ExpectedHit> all_set = hit_set(all, &all_ids);
    EXPECT_TRUE(std::includes(all_set.begin(), all_set.end(), expected_.begin(), expected_.end()));
    for (const auto& [hit, hit_ids] : all_ids)
      EXPECT_EQ(hit_ids.size(), 1u) << "an aborted copy of " << hit << " has another hit_id";
    const JsRead js_all = kafkajs(all.size(), "read_uncommitted");
    EXPECT_TRUE(js_all.ok) << "KafkaJS read_uncommitted: " << js_all.output.substr(0, 2000);
    std::printf(
        "[ exactly-once ] %zu expected hits; read_committed: kcat %zu (%zu distinct hit_ids), "
        "KafkaJS %zu; read_uncommitted: kcat %zu (%zu aborted copies), KafkaJS %zu; route "
        "copies and %zu dead letters once each\n",
        expected_.size(), hits.size(), distinct_ids.size(), js.hit_ids.size(), all.size(),
        all.size() - hits.size(), js_all.hit_ids.size(), dead.size());
    uncommitted_extra_ = all.size() - hits.size();
  }

  // Waits (up to `seconds`) until a read_committed consumer sees every expected hit.
  bool every_hit_committed(int seconds) {
    return within(seconds, [&] {
      const std::set<ExpectedHit> got = hit_set(consume("anpr.hits"));
      return std::includes(got.begin(), got.end(), expected_.begin(), expected_.end());
    });
  }

  // anpr.toml keeps its state in state-a, anpr-b.toml (otherwise the same) in state-b: two
  // instances at once, each with its own retention store.
  void two_configs() {
    {
      std::ofstream f(dir_ / "anpr.toml", std::ios::app);
      f << "[state]\ndir = \"state-a\"\n";
    }
    std::string b = slurp(dir_ / "anpr.toml");
    b.replace(b.find("state-a"), 7, "state-b");
    write(dir_ / "anpr-b.toml", b);
  }

  // The number of reads in the exit summary of a processor's log ("anpr run: N reads, ...").
  long reads_in_summary(const std::string& log) {
    const std::string text = slurp(dir_ / log);
    const std::size_t at = text.rfind("anpr run: ");
    return at == std::string::npos ? -1 : std::atol(text.c_str() + at + 10);
  }

  std::set<std::string> bad_payloads_;
  std::size_t uncommitted_extra_ = 0;
};

// Killed with SIGKILL at least twice while a transaction holding hits was open, restarted each
// time: read_committed consumers see every hit once.
TEST_F(ExactlyOnceTest, KilledMidTransactionTwiceEveryHitOnceForReadCommittedConsumers) {
  make_reads(6000, 31);
  ASSERT_GT(expected_.size(), 150u);
  const auto parts = chunks(50);
  // The cameras' side: a chunk every 300 ms until the kills are done, then the rest at once.
  std::atomic<bool> kills_done{false};
  std::thread feed([&] {
    for (const auto& c : parts) {
      produce(c);
      if (!kills_done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  Child proc = start_processor("run1.err");
  int in_flight_kills = 0, runs = 1;
  std::size_t invisible_before = 0;  // aborted hits of the earlier kills
  std::vector<std::size_t> open_at_kill;
  for (int attempt = 0; attempt < 6 && in_flight_kills < 2; ++attempt) {
    // A transaction with hits is open: a read_uncommitted consumer sees hits that a
    // read_committed one does not, beyond the aborted ones of earlier kills.
    const bool open = within(90, [&] { return invisible_hits() > invisible_before; });
    ASSERT_TRUE(open) << "no transaction with hits was ever seen open (run " << runs << ")";
    proc.signal(SIGKILL);
    ASSERT_EQ(proc.wait(10'000), 128 + SIGKILL);
    // Nothing changes now: what only read_uncommitted sees beyond the earlier kills' aborted
    // hits is what the killed transaction held.
    const std::size_t invisible = invisible_hits();
    const std::size_t committed = count("anpr.hits");
    if (invisible > invisible_before && committed < expected_.size()) {
      ++in_flight_kills;
      open_at_kill.push_back(invisible - invisible_before);
    }
    invisible_before = invisible;
    proc = start_processor("run" + std::to_string(++runs) + ".err");
  }
  kills_done = true;
  feed.join();
  EXPECT_GE(in_flight_kills, 2) << "the processor was not killed twice with a transaction open";
  // expect_exactly_once() below names what is missing, if anything.
  EXPECT_TRUE(every_hit_committed(120)) << "not every expected hit was committed";
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0) << "the processor did not stop cleanly on SIGTERM";
  std::string held;
  for (std::size_t n : open_at_kill) held += (held.empty() ? "" : ", ") + std::to_string(n);
  std::printf("[ exactly-once ] %d kills with a transaction open (hits it held: %s), %d runs\n",
              in_flight_kills, held.c_str(), runs);
  expect_exactly_once();
  EXPECT_GE(uncommitted_extra_, open_at_kill.size())
      << "the killed transactions' hits were not left aborted on the topic";
  // Every restart started its transactions under the same transactional.id.
  for (int r = 1; r <= runs; ++r)
    EXPECT_NE(slurp(dir_ / ("run" + std::to_string(r) + ".err")).find("transactions started as"),
              std::string::npos)
        << "run" << r;
}

// A second instance with the same transactional.id fences the first: the first stops with exit
// code 3 and says why; nothing of its open transaction is visible, and the second finishes the
// stream exactly once.
TEST_F(ExactlyOnceTest, AnInstanceWithTheSameTransactionalIdFencesTheFirst) {
  make_reads(3000, 32);
  const auto parts = chunks(50);
  const std::size_t half = parts.size() / 2;
  two_configs();
  Child a = start_processor("a.err");
  for (std::size_t i = 0; i < half; ++i) produce(parts[i]);
  ASSERT_TRUE(within(90, [&] { return count("anpr.hits", kUncommitted) > 5; }))
      << "the first instance published no hit";
  Child b = start_processor("b.err", "anpr-b.toml");
  // Once the second has registered the transactional id the first is fenced; it learns so at its
  // next transactional request, so reads keep coming for it.
  ASSERT_TRUE(within(90, [&] {
    return slurp(dir_ / "b.err").find("transactions started as") != std::string::npos;
  })) << "the second instance never started its transactions";
  std::thread feed([&] {
    for (std::size_t i = half; i < parts.size(); ++i) {
      produce(parts[i]);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  const int a_exit = a.wait(120'000);
  EXPECT_EQ(a_exit, 3) << "the fenced instance did not stop with exit code 3";
  const std::string a_log = slurp(dir_ / "a.err");
  EXPECT_NE(a_log.find("fenced: another instance started with this instance's transactional.id"),
            std::string::npos)
      << a_log;
  feed.join();
  // expect_exactly_once() below names what is missing, if anything.
  EXPECT_TRUE(every_hit_committed(120)) << "not every expected hit was committed";
  b.signal(SIGTERM);
  EXPECT_EQ(b.wait(60'000), 0);
  expect_exactly_once();
}

// A second instance (its own kafka.instance_id, so its own transactional.id) joins mid-stream:
// partitions move to it, the first commits its open transaction before they are revoked, and
// read_committed consumers see every hit once.
TEST_F(ExactlyOnceTest, PartitionsMovingToASecondInstanceKeepEveryHitOnce) {
  make_reads(3000, 33);
  const auto parts = chunks(50);
  std::thread feed([&] {
    for (const auto& c : parts) {
      produce(c);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  two_configs();
  Child a = start_processor("a.err", "anpr.toml", {"--instance-id", "a"});
  ASSERT_TRUE(within(90, [&] { return count("anpr.hits") > 5; }))
      << "the first instance committed no hit";
  Child b = start_processor("b.err", "anpr-b.toml", {"--instance-id", "b"});
  auto b_assigned = [&] {  // cooperative rebalancing: an empty assignment may come first
    const std::string text = slurp(dir_ / "b.err");
    const std::string line = "assigned " + T("anpr.reads") + " partitions [";
    for (std::size_t at = text.find(line); at != std::string::npos; at = text.find(line, at + 1))
      if (text[at + line.size()] != ']') return true;
    return false;
  };
  EXPECT_TRUE(within(90, b_assigned)) << "the second instance was never given partitions";
  feed.join();
  EXPECT_TRUE(every_hit_committed(120)) << "not every expected hit was committed";
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  EXPECT_EQ(a.wait(60'000), 0);
  EXPECT_EQ(b.wait(60'000), 0);
  const std::string a_log = slurp(dir_ / "a.err");
  EXPECT_NE(a_log.find("revoked " + T("anpr.reads")), std::string::npos)
      << "no partition moved away from the first instance:\n" << a_log;
  EXPECT_GT(reads_in_summary("a.err"), 0);
  EXPECT_GT(reads_in_summary("b.err"), 0);
  expect_exactly_once();
}

}  // namespace
}  // namespace anpr::testing
