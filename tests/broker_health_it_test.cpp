// End-to-end tests of what `anpr run` and `anpr replay` do when the Kafka cluster stops answering
// (docs/design.md §6: readiness says so, the log says so, nothing hangs):
//  - the broker frozen mid-stream (SIGSTOP: its connections stay open, nothing answers): /readyz
//    turns 503 once kafka.unanswered_after_ms passed, a warning is logged, the metric shows the
//    silence; thawed, readiness returns and the reads produced meanwhile are all matched;
//  - with log.format = "json", every line on stderr is a JSON object, librdkafka's own included
//    (the broker killed: librdkafka reports the refused connections through the product's log);
//  - `anpr replay` against a cluster that does not answer (nothing listening, or frozen) exits 3
//    with a clear message instead of hanging.
// The frozen and killed broker is the embedded one only (TestBroker::EmbeddedOnly): its process is
// the test's own, while an Apache Kafka cluster (ANPR_TEST_KAFKA) is shared by the tests of a run.
// Replay's other cases run on both brokers (tests/test_broker.h).
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr::testing {
namespace {

namespace fs = std::filesystem;

class BrokerHealthIt : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    broker_ = TestBroker(TestBroker::EmbeddedOnly{}, dir_, 2);
    bootstrap_ = broker_.bootstrap();
    ASSERT_FALSE(bootstrap_.empty());
    write_file(dir_ / "cameras.csv",
          "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,A2 Utrecht,52.1,5.1,NL-1\n");
    write_file(dir_ / "nl.csv", "plate,plate_country,reference\n12-BDF-3,NL,r1\nABCDEFG,NL,r2\n");
    write_file(dir_ / "nl.toml",
          "id = \"nl-stolen\"\nowner_country = \"NL\"\nmatch_mode = \"exact\"\n"
          "category = \"stolen_vehicle\"\n");
    write_file(dir_ / "anpr.toml",
          "[kafka]\nbrokers = \"" + bootstrap_ +
              "\"\ngroup_id = \"anpr-bh\"\nunanswered_after_ms = 3000\n"
              "[cameras]\nregistry = \"cameras.csv\"\n"
              // One row is rejected: its report line must be JSON too.
              "[lists]\nfiles = [\"nl.csv\"]\nmax_rejected_percent = 60\n"
              "[suppression]\nwindow_s = 0\n"
              "[retention]\nsink = \"none\"\n[log]\nformat = \"json\"\n"
              "[http]\nlisten = \"127.0.0.1:0\"\n"
              "[kafka.consumer]\n\"session.timeout.ms\" = 6000\n\"heartbeat.interval.ms\" = 1000\n");
  }
  void TearDown() override {
    if (broker_.embedded().pid() > 0) ::kill(broker_.embedded().pid(), SIGCONT);
  }

  Child start_processor() {
    Child c({kAnpr, "run", "--config", (dir_ / "anpr.toml").string()}, false,
            (dir_ / "run.err").string());
    eventually([&] {
      const std::string text = slurp(dir_ / "run.err");
      const std::size_t at = text.find("\"port\":");
      if (at == std::string::npos) return false;
      port_ = std::to_string(std::stoi(text.substr(at + 7)));
      return true;
    });
    return c;
  }
  std::string get(const std::string& path) {
    return shell("curl -s -m 5 -w '\\nstatus=%{http_code}' http://127.0.0.1:" + port_ + path);
  }
  void produce(int from, int n) {
    std::string s;
    for (int i = from; i < from + n; ++i)
      s += "nl-cam-1\t{\"event_id\":\"e" + std::to_string(i) +
           "\",\"camera_id\":\"nl-cam-1\",\"ts\":\"2026-12-01T10:00:00.000Z\",\"plate\":\"12-BDF-3\","
           "\"plate_country\":\"NL\"}\n";
    const fs::path f = dir_ / ("reads-" + std::to_string(from) + ".txt");
    write_file(f, s);
    const std::string out = kcat_produce(bootstrap_, "anpr.reads", f);
    ASSERT_TRUE(out.empty()) << out;
  }
  std::set<std::string> hit_events() {
    const std::multiset<std::string> ids = topic_event_ids(bootstrap_, "anpr.hits");
    return {ids.begin(), ids.end()};
  }

  testing::TempDir tmp_{"brokerhealth", testing::TempDir::Keep::on_failure};  // first: removed last
  fs::path dir_;
  TestBroker broker_;
  std::string bootstrap_, port_;
};

TEST_F(BrokerHealthIt, FrozenBrokerTurnsReadinessOffAndBackOnWithoutLosingReads) {
  Child proc = start_processor();
  ASSERT_FALSE(port_.empty()) << slurp(dir_ / "run.err");
  ASSERT_TRUE(eventually([&] { return get("/readyz").find("status=200") != std::string::npos; }))
      << get("/readyz") << slurp(dir_ / "run.err");
  produce(0, 5);
  ASSERT_TRUE(eventually([&] { return hit_events().size() == 5; }));

  ASSERT_EQ(::kill(broker_.embedded().pid(), SIGSTOP), 0);
  std::string ready;
  ASSERT_TRUE(eventually([&] {
    ready = get("/readyz");
    return ready.find("status=503") != std::string::npos;
  })) << ready;
  EXPECT_NE(ready.find("Kafka cluster has not answered"), std::string::npos) << ready;
  EXPECT_NE(ready.find("\"kafka_answering\":false"), std::string::npos) << ready;
  const std::string metrics = get("/metrics");
  const std::size_t at = metrics.find("\nanpr_kafka_unanswered_seconds ");
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stod(metrics.substr(at + 31)), 3.0);
  EXPECT_NE(slurp(dir_ / "run.err").find("has not answered for"), std::string::npos)
      << slurp(dir_ / "run.err");

  // Thawed: readiness returns, and reads sent now are matched like the rest.
  ASSERT_EQ(::kill(broker_.embedded().pid(), SIGCONT), 0);
  EXPECT_TRUE(eventually([&] { return get("/readyz").find("status=200") != std::string::npos; }))
      << get("/readyz");
  EXPECT_NE(slurp(dir_ / "run.err").find("answers again after"), std::string::npos);
  produce(5, 5);
  EXPECT_TRUE(eventually([&] { return hit_events().size() == 10; })) << hit_events().size();
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0) << slurp(dir_ / "run.err");
}

TEST_F(BrokerHealthIt, JsonLogHasOnlyJsonLinesLibrdkafkasOwnIncluded) {
  Child proc = start_processor();
  ASSERT_FALSE(port_.empty()) << slurp(dir_ / "run.err");
  ASSERT_TRUE(eventually([&] { return get("/readyz").find("status=200") != std::string::npos; }));
  // The broker gone: librdkafka reports the refused connections (its own log lines).
  broker_.embedded().signal(SIGKILL);
  broker_.embedded().wait(10'000);
  ASSERT_TRUE(eventually([&] {
    return slurp(dir_ / "run.err").find("\"component\":\"kafka\"") != std::string::npos;
  })) << slurp(dir_ / "run.err");
  proc.signal(SIGTERM);
  proc.wait(60'000);
  std::istringstream in(slurp(dir_ / "run.err"));
  std::string line;
  simdjson::dom::parser parser;
  int lines = 0, kafka = 0;
  while (std::getline(in, line)) {
    ++lines;
    simdjson::dom::object o;
    ASSERT_FALSE(parser.parse(line).get(o)) << "not a JSON object: " << line;
    std::string_view component;
    ASSERT_FALSE(o["component"].get(component)) << line;
    kafka += component == "kafka";
  }
  EXPECT_GT(lines, 3);
  EXPECT_GT(kafka, 0);
  EXPECT_NE(slurp(dir_ / "run.err").find("plate_format"), std::string::npos)
      << "the rejected list row was not reported";
}

TEST(Replay, AClusterThatDoesNotAnswerIsExit3AndOneThatAnswersGetsTheReads) {
  testing::TempDir tmp("replay", testing::TempDir::Keep::on_failure);
  const fs::path dir = tmp.path();
  write_file(dir / "reads.jsonl", "{\"event_id\":\"e1\",\"camera_id\":\"c1\"}\n");
  // Nothing listens on port 1.
  const std::string out = shell(kAnpr + " replay " + (dir / "reads.jsonl").string() +
                                " --brokers 127.0.0.1:1 --timeout 3 2>&1; echo rc=$?");
  EXPECT_NE(out.find("did not answer within 3 s"), std::string::npos) << out;
  EXPECT_NE(out.find("nothing was produced"), std::string::npos) << out;
  EXPECT_NE(out.find("rc=3"), std::string::npos) << out;

  // Answering: the read is produced, and is on the topic.
  TestBroker broker(dir, current_test_name(), 1);
  ASSERT_FALSE(broker.bootstrap().empty());
  const std::string ok = shell(kAnpr + " replay " + (dir / "reads.jsonl").string() + " --brokers " +
                               broker.bootstrap() + " --topic " + broker.topic("anpr.reads") +
                               " --timeout 10 2>&1; echo rc=$?");
  EXPECT_NE(ok.find("1 reads produced"), std::string::npos) << ok;
  EXPECT_NE(ok.find("rc=0"), std::string::npos) << ok;
  EXPECT_EQ(topic_event_ids(broker.bootstrap(), broker.topic("anpr.reads")),
            std::multiset<std::string>{"e1"});
}

// The embedded broker only: a test freezes its process (see above).
TEST(ReplayFrozen, AFrozenClusterIsExit3WithAClearMessage) {
  testing::TempDir tmp("replay-frozen", testing::TempDir::Keep::on_failure);
  const fs::path dir = tmp.path();
  write_file(dir / "reads.jsonl", "{\"event_id\":\"e1\",\"camera_id\":\"c1\"}\n");
  // A frozen broker: connections are accepted, nothing answers.
  TestBroker broker(TestBroker::EmbeddedOnly{}, dir, 1);
  const std::string bootstrap = broker.bootstrap();
  ASSERT_FALSE(bootstrap.empty());
  ASSERT_EQ(::kill(broker.embedded().pid(), SIGSTOP), 0);
  const std::string frozen = shell(kAnpr + " replay " + (dir / "reads.jsonl").string() +
                                   " --brokers " + bootstrap + " --timeout 3 2>&1; echo rc=$?");
  ::kill(broker.embedded().pid(), SIGCONT);
  EXPECT_NE(frozen.find("did not answer within 3 s"), std::string::npos) << frozen;
  EXPECT_NE(frozen.find("rc=3"), std::string::npos) << frozen;

  // Thawed: the read is produced.
  const std::string ok = shell(kAnpr + " replay " + (dir / "reads.jsonl").string() + " --brokers " +
                               bootstrap + " --timeout 10 2>&1; echo rc=$?");
  EXPECT_NE(ok.find("1 reads produced"), std::string::npos) << ok;
  EXPECT_NE(ok.find("rc=0"), std::string::npos) << ok;
}

}  // namespace
}  // namespace anpr::testing
