// End-to-end tests of retention through `anpr run`, a broker (the embedded one or Apache Kafka,
// tests/test_broker.h) and kcat:
//  - the processor is killed with SIGKILL while it writes passages and hits to the retention
//    store: every read whose offset was committed is in the store (no committed passage is lost),
//    and after a restart every read is; no record is readable past its deadline; Luxembourg
//    passages are never stored;
//  - `anpr search` through the running processor's API, refused without the legal reference;
//  - `anpr topics plan`, and `anpr topics apply` against the embedded broker, which takes no Admin
//    requests (what apply does on Apache Kafka, and that the retention it sets takes effect:
//    tests/reflists_kafka_test.cpp).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "pipeline/retention_sink.h"
#include "synth/plates.h"
#include "config/settings.h"
#include "base/json_writer.h"
#include "http/auth.h"
#include "kafka/client.h"
#include "match/formats.h"
#include "match/plate.h"
#include "match/time.h"
#include "store/store.h"
#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kPartitions = 3;

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

struct Read {
  std::string event_id, camera, payload;
  CountryCode country;  // the camera's
  Plate plate;
  bool listed = false;  // an NL camera's read of an NL-listed plate: a hit
  bool old = false;     // captured 29 days ago: past NL's deadline on arrival
};

class RetentionIt : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    broker_ = embedded_only_ ? TestBroker(TestBroker::EmbeddedOnly{}, dir_, kPartitions)
                             : TestBroker(dir_, current_test_name(), kPartitions);
    bootstrap_ = broker_.bootstrap();
    ASSERT_FALSE(bootstrap_.empty());
    write(dir_ / "cameras.csv",
          "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,A2 Utrecht,52.1,5.1,NL-1\n"
          "be-cam-1,BE,E19 Mechelen,51.0,4.5,BE-1\nlu-cam-1,LU,A1 Luxembourg,49.6,6.1,LU-1\n");
    bench::Rng rng(5);
    std::string csv = "plate,plate_country,reference\n";
    for (int i = 0; i < 30; ++i) {
      Plate p = bench::random_plate(rng, kNL);
      if (!formats::valid(kNL, p)) continue;
      listed_.push_back(p);
      csv += p.str() + ",NL,ref-" + std::to_string(i) + "\n";
    }
    write(dir_ / "nl-stolen.csv", csv);
    write(dir_ / "nl-stolen.toml",
          "id = \"nl-stolen\"\nowner_country = \"NL\"\nmatch_mode = \"exact\"\n"
          "category = \"stolen_vehicle\"\n");
    write(dir_ / "anpr.toml",
          "[kafka]\nbrokers = \"" + bootstrap_ + "\"\ngroup_id = \"" + broker_.group("anpr-ret") +
              "\"\n" + broker_.topics_toml() + "[cameras]\nregistry = \"cameras.csv\"\n"
              "[lists]\nfiles = [\"nl-stolen.csv\"]\n[suppression]\nwindow_s = 0\n"
              "[pipeline]\nthreads = 2\nbatch = 64\n"
              "[retention]\npurge_interval_s = 1\n"  // purges run among the writes
              "[http]\nlisten = \"127.0.0.1:0\"\n[http.tokens.ivo]\nrole = \"investigator\"\n"
              "sha256 = \"" + http::sha256_hex("inv-token") + "\"\n"
              "[kafka.consumer]\n\"session.timeout.ms\" = 6000\n\"heartbeat.interval.ms\" = 1000\n");
    write(dir_ / "token", "inv-token\n");
  }

  void make_reads(int n) {
    bench::Rng rng(7);
    const TimestampMs now = wall_ms();
    const std::pair<const char*, CountryCode> cams[] = {
        {"nl-cam-1", kNL}, {"be-cam-1", kBE}, {"lu-cam-1", kLU}};
    for (int i = 0; i < n; ++i) {
      Read r;
      const auto& cam = cams[rng.below(3)];
      r.camera = cam.first;
      r.country = cam.second;
      r.event_id = "e" + std::to_string(i);
      const CountryCode pc = rng.chance(80) ? cam.second : kNL;
      r.plate = bench::random_plate(rng, pc);
      if (r.country == kNL && rng.chance(5)) {
        r.plate = listed_[rng.below(listed_.size())];
        r.listed = true;
      }
      r.old = r.country == kNL && !r.listed && i % 97 == 0;
      const TimestampMs ts = r.old ? now - 29 * kMsPerDay : now - 3'600'000 + i;
      JsonWriter w(r.payload);
      w.begin_object();
      w.field("event_id", r.event_id);
      w.field("camera_id", r.camera);
      w.field("ts", format_rfc3339(ts));
      w.field("plate", r.plate.view());
      w.field("plate_country", r.listed ? std::string("NL") : pc.str());
      w.end_object();
      reads_.push_back(std::move(r));
    }
  }

  void produce(std::size_t from, std::size_t to) {
    std::string s;
    for (std::size_t i = from; i < to; ++i) s += reads_[i].camera + "\t" + reads_[i].payload + "\n";
    const fs::path f = dir_ / ("produce-" + std::to_string(from) + ".txt");
    write(f, s);
    const std::string out = kcat_produce(bootstrap_, T("anpr.reads"), f);
    ASSERT_TRUE(out.empty()) << out;
  }

  Child start_processor(const std::string& log) {
    return Child({kAnpr, "run", "--config", (dir_ / "anpr.toml").string()}, false,
                 (dir_ / log).string());
  }

  // Committed offset of each partition of the reads topic for the processor's group (-1: none).
  std::map<int, int64_t> committed() {
    kafka::Consumer c({{"bootstrap.servers", bootstrap_},
                       {"group.id", broker_.group("anpr-ret")},
                       {"log_level", "3"}});
    kafka::PartitionList l(rd_kafka_topic_partition_list_new(kPartitions));
    for (int p = 0; p < kPartitions; ++p)
      rd_kafka_topic_partition_list_add(l.get(), T("anpr.reads").c_str(), p);
    std::map<int, int64_t> out;
    if (rd_kafka_committed(c.get(), l.get(), 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
    for (int i = 0; i < l->cnt; ++i) out[l->elems[i].partition] = l->elems[i].offset;
    return out;  // c is closed here, as on the early return
  }

  // Event id -> (partition, offset), read back from the topic with kcat.
  std::map<std::string, std::pair<int, int64_t>> positions() {
    const std::string out = shell("kcat -C -b " + bootstrap_ + " -t " + T("anpr.reads") +
                                  " -o beginning -e -q -f '%p %o %s\\n' 2>/dev/null");
    std::map<std::string, std::pair<int, int64_t>> pos;
    std::istringstream in(out);
    std::string line;
    simdjson::dom::parser parser;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      int p;
      int64_t o;
      f >> p >> o;
      std::string json;
      std::getline(f, json);
      simdjson::dom::element d;
      std::string_view id;
      if (parser.parse(json).get(d) || d["event_id"].get(id)) continue;
      pos[std::string(id)] = {p, o};
    }
    return pos;
  }

  std::unique_ptr<store::Store> open_store(TimestampMs offset_ms = 0) {
    store::Options o;
    o.dir = dir_ / "state" / "retention";
    o.clock = [offset_ms] { return wall_ms() + offset_ms; };
    return std::make_unique<store::Store>(o, config::default_retention_policies());
  }

  // The kind of the record the store holds for `r` ("" = none).
  static std::string stored(const store::Store& s, const Read& r) {
    store::Query q;
    q.plate = r.plate;
    q.cameras = {r.camera};
    const std::string needle = "\"event_id\":\"" + r.event_id + "\"";
    for (const store::Found& f : s.search(q).records)
      if (app::RetentionSink::render(f).find(needle) != std::string::npos)
        return std::string(store::to_string(f.kind));
    return "";
  }

  // This test's name of a topic (test_broker.h).
  std::string T(std::string_view topic) const { return broker_.topic(topic); }

  testing::TempDir tmp_{"ret-it", testing::TempDir::Keep::on_failure};  // first: removed last
  fs::path dir_;
  bool embedded_only_ = false;  // set by the suites of what only the embedded broker does
  TestBroker broker_;
  std::string bootstrap_;
  std::vector<Plate> listed_;
  std::vector<Read> reads_;
};

TEST_F(RetentionIt, KilledDuringHeavyWritesLosesNoCommittedPassageAndServesNothingPastItsDeadline) {
  make_reads(12'000);
  Child proc = start_processor("run1.err");
  produce(0, 6000);
  // Kill once the store has taken writes and offsets have been committed, while the second half
  // is still arriving.
  for (int i = 0; i < 200; ++i) {
    const auto c = committed();
    int64_t sum = 0;
    for (auto [p, o] : c) sum += std::max<int64_t>(o, 0);
    if (sum > 1000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::thread second([&] { produce(6000, reads_.size()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  proc.signal(SIGKILL);
  EXPECT_EQ(proc.wait(10'000), 128 + SIGKILL);
  second.join();

  // Every read whose offset was committed before the kill has its records in the store.
  const auto at_kill = committed();
  const auto pos = positions();
  ASSERT_EQ(pos.size(), reads_.size());
  std::size_t checked = 0, missing = 0;
  {
    auto st = open_store();
    for (const Read& r : reads_) {
      const auto [p, o] = pos.at(r.event_id);
      if (o >= at_kill.at(p) || r.country == kLU || r.old) continue;
      ++checked;
      if (stored(*st, r).empty()) {
        if (++missing <= 5) ADD_FAILURE() << r.event_id << " (partition " << p << ", offset " << o
                                          << ") was committed but is not in the store";
      }
    }
  }
  EXPECT_GT(checked, 500u) << "too few reads were committed before the kill to show anything";
  EXPECT_EQ(missing, 0u);

  // Restarted, it consumes the rest (and some again).
  Child again = start_processor("run2.err");
  std::map<int, int64_t> c;
  for (int i = 0; i < 600; ++i) {
    c = committed();
    int64_t sum = 0;
    for (auto [p, o] : c) sum += std::max<int64_t>(o, 0);
    if (sum == static_cast<int64_t>(reads_.size())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // `anpr search` through the running processor: refused without the prosecutor's order,
  // allowed with it (an authorisation).
  const Read* nl = nullptr;
  for (const Read& r : reads_)
    if (r.country == kNL && !r.listed && !r.old) {
      nl = &r;
      break;
    }
  ASSERT_NE(nl, nullptr);
  std::string port;
  for (int i = 0; i < 100 && port.empty(); ++i) {
    const std::string log = slurp(dir_ / "run2.err");
    const std::size_t at = log.find("on port ");
    if (at != std::string::npos) port = log.substr(at + 8, log.find('\n', at) - at - 8);
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(port.empty()) << slurp(dir_ / "run2.err");
  const std::string cli = kAnpr + " search --url http://127.0.0.1:" + port + " --token-file " +
                          (dir_ / "token").string() + " --plate " + nl->plate.str() +
                          " --country NL --json";
  std::string out = shell(cli + " 2>&1; echo \"rc=$?\"");
  EXPECT_NE(out.find("authorisation_required"), std::string::npos) << out;
  EXPECT_NE(out.find("rc=1"), std::string::npos) << out;
  // The prosecutor's order, entered as an authorisation (`anpr authorisations add` prints its id).
  std::string id = shell(kAnpr + " authorisations add --url http://127.0.0.1:" + port +
                         " --token-file " + (dir_ / "token").string() +
                         " --country NL --reference 13/654321-26 --issued-by 'mr. A. de Vries'"
                         " --plate " + nl->plate.str() + " --valid-until 2099-01-01T00:00:00Z");
  while (!id.empty() && id.back() == '\n') id.pop_back();
  ASSERT_EQ(id.rfind("az-", 0), 0u) << id;
  out = shell(cli + " --authorisation " + id + " 2>&1; echo \"rc=$?\"");
  EXPECT_NE(out.find("\"event_id\":\"" + nl->event_id + "\""), std::string::npos) << out;
  EXPECT_NE(out.find("rc=0"), std::string::npos) << out;
  out = shell(kAnpr + " search --url http://127.0.0.1:" + port + " --token-file " +
              (dir_ / "token").string() + " --plate " + nl->plate.str() +
              " --authorisation " + id + " 2>/dev/null");
  EXPECT_NE(out.find("passage  NL"), std::string::npos) << out;
  const std::string audit = slurp(dir_ / "state" / "audit.jsonl");
  EXPECT_NE(audit.find("\"outcome\":\"refused\""), std::string::npos) << audit;
  EXPECT_NE(audit.find("\"reference\":\"13/654321-26\""), std::string::npos) << audit;
  EXPECT_NE(audit.find("\"plates_disclosed\":[\"" + nl->plate.str() + "\"]"), std::string::npos)
      << audit;

  again.signal(SIGTERM);
  EXPECT_EQ(again.wait(60'000), 0) << slurp(dir_ / "run2.err");
  int64_t sum = 0;
  for (auto [p, o] : c) sum += std::max<int64_t>(o, 0);
  ASSERT_EQ(sum, static_cast<int64_t>(reads_.size())) << "the restarted processor did not finish";

  // Every NL and BE read is stored (hits as hits), no LU passage and no read that arrived past
  // its deadline is.
  {
    auto st = open_store();
    std::size_t hits = 0;
    for (const Read& r : reads_) {
      const std::string kind = stored(*st, r);
      if (r.country == kLU || r.old) {
        EXPECT_EQ(kind, "") << r.event_id << " of " << r.camera << " was stored";
      } else if (r.listed) {
        EXPECT_EQ(kind, "hit") << r.event_id;
        hits += kind == "hit";
      } else {
        EXPECT_EQ(kind, "passage") << r.event_id;
      }
    }
    EXPECT_GT(hits, 20u);
  }
  // Nothing is readable past its deadline: NL passages at 28 days, everything at 365 days.
  {
    auto st = open_store(28 * kMsPerDay);
    for (const Read& r : reads_)
      if (r.country == kNL && !r.listed) {
        EXPECT_EQ(stored(*st, r), "") << r.event_id;
      }
  }
  {
    auto st = open_store(365 * kMsPerDay);
    for (const Read& r : reads_) EXPECT_EQ(stored(*st, r), "") << r.event_id;
  }
}

// Sink "kafka": each kept passage goes to its camera country's topic, timed by its capture time
// (so the topic's retention counts from capture); LU's and expired ones go nowhere; hits stay on
// the hits topic.
TEST_F(RetentionIt, KafkaSinkPutsPassagesOnTheirCountrysTopicTimedByCapture) {
  std::string cfg = slurp(dir_ / "anpr.toml");
  cfg.replace(cfg.find("[retention]\n"), 12,
              "[retention]\nsink = \"kafka\"\ntopic_prefix = \"" + T("anpr.passages.") + "\"\n");
  write(dir_ / "anpr.toml", cfg);
  // The embedded broker creates them on first use; on Apache Kafka they are the test's own.
  if (broker_.on_kafka())
    for (const char* cc : {"nl", "be", "lu"})
      broker_.create_topic(T("anpr.passages.") + cc, kPartitions);
  make_reads(600);
  Child proc = start_processor("run.err");
  produce(0, reads_.size());
  std::map<std::string, std::size_t> want;
  for (const Read& r : reads_)
    if (!r.listed && !r.old && r.country != kLU) ++want[r.country == kNL ? "nl" : "be"];
  simdjson::dom::parser parser;
  for (const auto& [cc, n] : want) {
    std::vector<std::string> lines;
    for (int i = 0; i < 120; ++i) {
      lines.clear();
      std::istringstream in(shell("kcat -C -b " + bootstrap_ + " -t " + T("anpr.passages.") + cc +
                                  " -o beginning -e -q -f '%T %s\\n' 2>/dev/null"));
      for (std::string l; std::getline(in, l);) lines.push_back(l);
      if (lines.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    EXPECT_EQ(lines.size(), n) << cc;
    for (const std::string& l : lines) {
      const std::size_t sp = l.find(' ');
      simdjson::dom::element d;
      ASSERT_FALSE(parser.parse(l.substr(sp + 1)).get(d)) << l;
      const auto ts = parse_rfc3339(std::string_view(d["ts"]));
      ASSERT_TRUE(ts);
      EXPECT_EQ(std::stoll(l.substr(0, sp)), *ts) << "the message is not timed by its capture";
      EXPECT_EQ(std::string_view(d["camera_country"]), cc == "nl" ? "NL" : "BE");
    }
  }
  EXPECT_TRUE(shell("kcat -C -b " + bootstrap_ + " -t " + T("anpr.passages.lu") +
                    " -o beginning -e -q 2>/dev/null").empty());
  EXPECT_FALSE(fs::exists(dir_ / "state" / "retention")) << "sink kafka opened the store";
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0) << slurp(dir_ / "run.err");
}

// What the embedded broker answers to the Admin API: on the embedded broker only (on Apache Kafka
// apply succeeds: tests/reflists_kafka_test.cpp).
class RetentionEmbeddedIt : public RetentionIt {
 protected:
  RetentionEmbeddedIt() { embedded_only_ = true; }
};

TEST_F(RetentionEmbeddedIt, TopicsPlanAndApplyThroughTheAdminApi) {
  write(dir_ / "kafka.toml", "[kafka]\nbrokers = \"" + bootstrap_ +
                                 "\"\n[cameras]\nregistry = \"cameras.csv\"\n"
                                 "[retention]\nsink = \"kafka\"\n[retention.NL]\npassage_days = 14\n");
  const std::string cfg = (dir_ / "kafka.toml").string();
  const std::string plan = shell(kAnpr + " topics plan --config " + cfg + " --json 2>&1");
  simdjson::dom::parser p;
  simdjson::dom::element d;
  ASSERT_FALSE(p.parse(plan).get(d)) << plan;
  std::map<std::string, std::pair<int64_t, int64_t>> got;  // topic -> retention.ms, segment.ms
  std::map<std::string, int64_t> bound;
  bool reflists = false;
  for (auto t : d.get_array()) {
    const std::string topic{std::string_view(t["topic"])};
    if (topic == "anpr.reflists") {
      // The lists' source of truth, keyed per entry: compacted, never aged out, one partition.
      reflists = true;
      EXPECT_EQ(std::string_view(t["configs"]["cleanup.policy"]), "compact");
      EXPECT_EQ(std::string_view(t["configs"]["retention.ms"]), "-1");
      EXPECT_EQ(std::string_view(t["configs"]["retention.bytes"]), "-1");
      EXPECT_TRUE(t["configs"]["segment.ms"].error()) << "segment.ms on the compacted topic";
      EXPECT_TRUE(t["max_age_ms"].is_null());
      EXPECT_EQ(int64_t(t["partitions"]), 1);
      continue;
    }
    got[topic] = {std::stoll(std::string(std::string_view(t["configs"]["retention.ms"]))),
                  std::stoll(std::string(std::string_view(t["configs"]["segment.ms"])))};
    bound[topic] = int64_t(t["max_age_ms"]);
    EXPECT_EQ(std::string_view(t["configs"]["message.timestamp.type"]), "CreateTime");
    EXPECT_EQ(std::string_view(t["configs"]["cleanup.policy"]), "delete");
  }
  EXPECT_TRUE(reflists) << "the reflists topic is not planned: " << plan;
  ASSERT_TRUE(got.count("anpr.passages.nl")) << plan;
  ASSERT_TRUE(got.count("anpr.passages.be")) << plan;
  EXPECT_FALSE(got.count("anpr.passages.lu")) << "LU keeps no passages";
  EXPECT_EQ(bound["anpr.passages.nl"], 14 * kMsPerDay);
  EXPECT_EQ(bound["anpr.passages.be"], 365 * kMsPerDay);
  EXPECT_EQ(bound["anpr.reads"], 24 * 3'600'000);
  // Hits of every country share these topics: the strictest hit policy (LU, 28 days) bounds them.
  EXPECT_EQ(bound["anpr.hits"], 28 * kMsPerDay);
  EXPECT_EQ(bound["anpr.route.be"], 28 * kMsPerDay);
  EXPECT_EQ(bound["anpr.hit-acks"], 28 * kMsPerDay);
  // The bound holds: retention + segment + the broker's 5-minute check stays within it.
  for (const auto& [topic, rs] : got)
    EXPECT_LE(rs.first + rs.second + 300'000, bound[topic]) << topic;

  const std::string text = shell(kAnpr + " topics plan --config " + cfg + " 2>&1");
  EXPECT_NE(text.find("anpr.passages.nl"), std::string::npos) << text;
  EXPECT_NE(text.find("cleanup.policy=compact"), std::string::npos) << text;
  std::printf("%s", text.c_str());  // shown in the test log

  // apply: one CreateTopics call for the topics the cluster lacks (the passages topics) and one
  // AlterConfigs call for those it has. librdkafka 2.0's embedded broker names no controller
  // (ControllerId 0, brokers 1..n), so it answers neither: the command reports each topic as not
  // set up, names the reason and exits 3, rather than hanging or pretending.
  const std::string applied = shell(kAnpr + " topics apply --config " + cfg +
                                    " --partitions 2 --replication 1 --timeout 2 --json 2>&1;"
                                    " echo rc=$?");
  std::printf("%s", applied.c_str());
  EXPECT_NE(applied.find(R"({"topic":"anpr.passages.nl","action":"created","ok":false,"error":"no answer from the cluster's controller)"),
            std::string::npos)
      << applied;
  EXPECT_NE(applied.find(R"({"topic":"anpr.passages.be","action":"created")"), std::string::npos)
      << applied;
  EXPECT_NE(applied.find(R"({"topic":"anpr.reads","action":"altered")"), std::string::npos)
      << applied;
  EXPECT_NE(applied.find(R"({"topic":"anpr.hits","action":"altered")"), std::string::npos)
      << applied;
  EXPECT_NE(applied.find(R"({"topic":"anpr.reflists","action":"altered")"), std::string::npos)
      << applied;
  EXPECT_NE(applied.find("10 of 10 topics could not be set up"), std::string::npos) << applied;
  EXPECT_NE(applied.find("rc=3"), std::string::npos) << applied;
}

TEST_F(RetentionIt, TopicsCommandsRefuseBadConfigurationAndUnreachableClusters) {
  write(dir_ / "bad.toml", "[cameras]\nregistry = \"c.csv\"\n[retention.NL]\npassage_days = 0\n");
  std::string out = shell(kAnpr + " topics plan --config " + (dir_ / "bad.toml").string() +
                          " 2>&1; echo rc=$?");
  EXPECT_NE(out.find("retention.NL.passage_days: expected an integer 1..3650, got 0"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("rc=2"), std::string::npos) << out;
  write(dir_ / "nobody.toml", "[kafka]\nbrokers = \"127.0.0.1:1\"\n[cameras]\nregistry = \"c.csv\"\n");
  out = shell(kAnpr + " topics apply --timeout 2 --config " + (dir_ / "nobody.toml").string() +
              " 2>&1; echo rc=$?");
  EXPECT_NE(out.find("rc=3"), std::string::npos) << out;
}

}  // namespace
}  // namespace anpr::testing
