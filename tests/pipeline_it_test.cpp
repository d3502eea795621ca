// End-to-end tests of `anpr run` through the embedded broker, with kcat (a client we did not
// write) as producer and consumer. The embedded broker runs as a separate process (`anpr broker`).
// The cameras, lists, reads and expected hits are tests/pipeline_fixture.h's.
//
// The expected hits are the reference matcher's answer on the test's own lists and reads,
// filtered by the Benelux rules of docs/design.md §2 as the tests write them (tests/design_rules.h, not
// the product's rules); suppression is off so every match is published, but in the suppression
// test. Volumes stay far below the embedded broker's 5 MiB per partition, so a lost message is
// the processor's fault.
//
// The delivery tests (DeliveryTest) run the embedded broker inside the test, so they can take a
// topic's leader away: messages to it are then held back, provably in flight, for as long as the
// test wants. What the processor committed is read with KafkaJS (tests/js/offsets.js), a client
// we did not write.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "synth/plates.h"
#include "config/settings.h"
#include "base/json_writer.h"
#include "ingest/list_file.h"
#include "kafka/client.h"
#include "match/formats.h"
#include "match/plate.h"
#include "match/time.h"
#include "tests/design_rules.h"
#include "tests/it_support.h"
#include "tests/pipeline_fixture.h"
#include "tests/process.h"
#include "tests/test_broker.h"
#include "testing/reference_matcher.h"

namespace anpr::testing {
namespace {

// The broker may come from another build: under TSan the processor is checked, while the
// embedded broker (librdkafka's own code, not instrumented) runs from the release build.
std::string broker_binary() {
  const char* b = std::getenv("ANPR_TEST_BROKER");
  return b && *b ? b : kAnpr;
}

// One bad input, and the reason its dead letter must carry.
struct BadInput {
  std::string payload;
  std::string reason;
};

std::vector<BadInput> bad_inputs() {
  const std::string ok_tail = R"("ts":"2026-11-24T08:00:00.000Z","plate":"GB-123-X")";
  return {
      {"hello, this is not JSON", "not_json"},
      {R"({"event_id":"b2","camera_id":"nl-cam-1","ts":"2026-11-24T08:00)", "not_json"},
      {R"({"camera_id":"nl-cam-1",)" + ok_tail + "}", "missing_event_id"},
      {R"({"event_id":"b4",)" + ok_tail + "}", "missing_camera_id"},
      {R"({"event_id":"b5","camera_id":"nl-cam-1","plate":"GB-123-X"})", "missing_ts"},
      {R"({"event_id":"b6","camera_id":"nl-cam-1","ts":"2026-11-24T08:00:00.000Z"})",
       "missing_plate"},
      {R"({"event_id":"b7","camera_id":"nl-cam-1","ts":"2026-11-24T08:00:00.000Z","plate":42})",
       "wrong_type_plate"},
      {R"({"event_id":"b8","camera_id":"nl-cam-1","ts":1732435200000,"plate":"GB-123-X"})",
       "wrong_type_ts"},
      {R"({"event_id":"b9","camera_id":"nl-cam-1","ts":"2026-13-45T08:00:00.000Z","plate":"GB-123-X"})",
       "bad_timestamp"},
      {R"({"event_id":"b10","camera_id":"nl-cam-1","ts":"2026-11-24T08:00:00.000Z","plate":"ABCDEFGHIJKLMNOPQRST"})",
       "plate_too_long"},
      {"{\"event_id\":\"b11\",\"camera_id\":\"nl-cam-1\",\"ts\":\"2026-11-24T08:00:00.000Z\","
       "\"plate\":\"GB\xff\xfe-123\"}",
       "invalid_utf8"},
      {R"({"event_id":"b12","camera_id":"de-cam-9",)" + ok_tail + "}", "unknown_camera"},
      {R"([{"event_id":"b13"}])", "not_object"},
      {R"({"event_id":"b14","camera_id":"nl-cam-1",)" + ok_tail + R"(} {"x":1})",
       "trailing_content"},
      {R"({"event_id":"b15","event_id":"b15b","camera_id":"nl-cam-1",)" + ok_tail + "}",
       "duplicate_key"},
      {R"({"event_id":"b16","camera_id":"nl-cam-1",)" + ok_tail + R"(,"plate_country":"NLD"})",
       "bad_country"},
      {R"({"event_id":"b17","camera_id":"nl-cam-1",)" + ok_tail + R"(,"confidence":1.5})",
       "bad_confidence"},
      {R"({"event_id":"b18","camera_id":"nl-cam-1","ts":"2026-11-24T08:00:00.000Z","plate":" - . "})",
       "plate_empty"},
      {R"({"event_id":"b19","camera_id":"nl-cam-1","ts":"2026-11-24T08:00:00.000Z","plate":"AB\u0007CD"})",
       "plate_control_character"},
      {R"({"event_id":"","camera_id":"nl-cam-1",)" + ok_tail + "}", "empty_field"},
  };
}

// ---- metrics (GET /metrics of the processor) ----

// One sample of the text exposition: family name and labels.
struct Series {
  std::string name;
  std::map<std::string, std::string> labels;
  auto operator<=>(const Series&) const = default;
};

// Parses the sample lines of a Prometheus text exposition (comments skipped).
std::map<Series, double> parse_exposition(const std::string& text) {
  std::map<Series, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    Series s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string k, v;
        while (line[i] != '=') k += line[i++];
        i += 2;  // ="
        while (line[i] != '"') {
          if (line[i] == '\\') {
            ++i;
            v += line[i] == 'n' ? '\n' : line[i];
          } else {
            v += line[i];
          }
          ++i;
        }
        ++i;  // closing quote
        if (line[i] == ',') ++i;
        s.labels[k] = v;
      }
      ++i;
    }
    out[s] = std::stod(line.substr(i + 1));
  }
  return out;
}

// The sample of `name` without labels (NaN when absent).
double value(const std::map<Series, double>& m, const std::string& name) {
  const auto it = m.find(Series{name, {}});
  return it == m.end() ? std::nan("") : it->second;
}

// The samples of `name` that have the label `by`, summed per value of that label.
std::map<std::string, double> by_label(const std::map<Series, double>& m, const std::string& name,
                                       const std::string& by) {
  std::map<std::string, double> out;
  for (const auto& [s, v] : m)
    if (s.name == name && s.labels.count(by)) out[s.labels.at(by)] += v;
  return out;
}

class PipelineTest : public PipelineFixture {
 protected:
  void SetUp() override {
    dir_ = fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    if (in_process_broker_) {
      // The topics `anpr broker` creates, three partitions each.
      embedded_ = std::make_unique<kafka::EmbeddedBroker>();
      for (const char* t : {"anpr.reads", "anpr.hits", "anpr.deadletter", "anpr.route.nl",
                            "anpr.route.be", "anpr.route.lu", "anpr.hit-acks"})
        embedded_->create_topic(t, 3);
      embedded_->create_topic("anpr.reflists", 1);
      bootstrap_ = embedded_->bootstrap();
    } else {
      broker_ = TestBroker(dir_, ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                           3, broker_binary());
      bootstrap_ = broker_.bootstrap();
    }
    ASSERT_FALSE(bootstrap_.empty()) << "no broker";
    make_data();
  }

  // Waits (up to 60 s) until every expected hit is on the hits topic; a hit there more than
  // once (at-least-once) must carry the same hit_id each time.
  void expect_every_hit_once_or_with_the_same_id() {
    std::map<std::string, std::set<std::string>> ids;
    std::set<ExpectedHit> got;
    for (int i = 0; i < 120; ++i) {
      ids.clear();
      got = hit_set(consume("anpr.hits"), &ids);
      if (std::includes(got.begin(), got.end(), expected_.begin(), expected_.end())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    std::set<ExpectedHit> missing;
    std::set_difference(expected_.begin(), expected_.end(), got.begin(), got.end(),
                        std::inserter(missing, missing.end()));
    EXPECT_TRUE(missing.empty()) << missing.size() << " hits lost:\n" << describe(missing);
    for (const auto& [hit, hit_ids] : ids)
      EXPECT_EQ(hit_ids.size(), 1u) << "a duplicate of " << hit << " has another hit_id";
  }

  // ---- for the delivery tests ----

  // Where each read landed, read back with kcat: event_id -> (partition, offset).
  std::map<std::string, std::pair<int32_t, int64_t>> read_positions() {
    const std::string out = shell("kcat -C -b " + bootstrap_ + " -t " + T("anpr.reads") +
                                  " -o beginning -e -q -f '%p %o %s\\n' 2>/dev/null");
    std::map<std::string, std::pair<int32_t, int64_t>> pos;
    std::istringstream in(out);
    simdjson::dom::parser p;
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      int32_t part = -1;
      int64_t off = -1;
      f >> part >> off;
      std::string payload;
      std::getline(f, payload);
      simdjson::dom::element d;
      std::string_view id;
      if (p.parse(payload).get(d) || d["event_id"].get(id)) continue;
      pos[std::string(id)] = {part, off};
    }
    return pos;
  }

  struct Offsets {
    int64_t committed = -1;  // -1: nothing committed
    int64_t end = -1;
    bool operator==(const Offsets&) const = default;
  };
  // The group's committed offsets of the reads topic and the partitions' ends, asked with
  // KafkaJS's admin client (tests/js/offsets.js); {} when it could not answer.
  std::map<int32_t, Offsets> group_offsets(const std::string& group = "") {
    const std::string out = shell("node " ANPR_SOURCE_DIR "/tests/js/offsets.js " + bootstrap_ +
                                  " " + (group.empty() ? this->group() : group) + " " +
                                  T("anpr.reads") + " 2>&1");
    std::map<int32_t, Offsets> m;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      if (line == "OK") return m;
      std::istringstream f(line);
      int32_t part;
      Offsets o;
      if (f >> part >> o.committed >> o.end) m[part] = o;
    }
    ADD_FAILURE() << "KafkaJS could not read the offsets: " << out;
    return {};
  }
  static std::string describe_offsets(const std::map<int32_t, Offsets>& m) {
    std::string s;
    for (const auto& [p, o] : m)
      s += " p" + std::to_string(p) + " committed " + std::to_string(o.committed) + " of " +
           std::to_string(o.end);
    return s;
  }

  // Serves the processor's /metrics on a free port (appended to anpr.toml); returns the port.
  int enable_metrics(const std::string& config = "anpr.toml") {
    const int port = free_port();
    std::ofstream f(dir_ / config, std::ios::app);
    f << "[http]\nlisten = \"127.0.0.1:" << port << "\"\n";
    return port;
  }
  static std::map<Series, double> scrape(int port) {
    httplib::Client http("127.0.0.1", port);
    http.set_connection_timeout(5);
    auto res = http.Get("/metrics");
    if (!res || res->status != 200) return {};
    return parse_exposition(res->body);
  }

  // Waits (up to 60 s) until the processor serving /metrics on `port` has published `reads`
  // reads and the group's committed offsets are the ones it stored (a partition's end less the
  // processor's lag on it): what a restart would resume from is then what the processor itself
  // considers finished. Returns those offsets ({} on timeout).
  std::map<int32_t, Offsets> settled_offsets(int port, std::size_t reads) {
    std::map<int32_t, Offsets> offs;
    for (int i = 0; i < 120; ++i) {
      const auto m = scrape(port);
      double published = 0;
      for (const auto& [c, n] : by_label(m, "anpr_reads_total", "country")) published += n;
      const auto lag = by_label(m, "anpr_consumer_lag", "partition");
      if (published == static_cast<double>(reads) && lag.size() == 3) {
        offs = group_offsets();
        bool same = offs.size() == 3;
        for (const auto& [p, o] : offs) {
          const auto l = lag.find(std::to_string(p));
          same = same && l != lag.end() && o.committed == o.end - static_cast<int64_t>(l->second);
        }
        if (same) return offs;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    ADD_FAILURE() << "the committed offsets never settled:" << describe_offsets(offs);
    return {};
  }

  // One read per camera of a plate no list holds, to be produced before the others: each
  // partition then starts with a read that is done as soon as it is processed, so the processor
  // stores an offset on every partition.
  std::vector<std::pair<std::string, std::string>> plain_reads() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Camera& c : kCameras) {
      std::string json;
      JsonWriter w(json);
      w.begin_object();
      w.field("event_id", "plain-" + c.id);
      w.field("camera_id", c.id);
      w.field("ts", format_rfc3339(1'795'400'000'000));
      w.field("plate", "Q");
      w.field("plate_country", "NL");
      w.end_object();
      out.push_back({c.id, json});
      expect(c, kNL, 1'795'400'000'000, *Plate::from_normalized("Q"), "plain-" + c.id);
    }
    return out;
  }

  kafka::EmbeddedBroker& broker() { return *embedded_; }
  // Takes the leader of every partition of `topic` away (nothing can be written to it) or gives
  // it back.
  void hold(const std::string& topic, bool held) {
    for (int p = 0; p < 3; ++p) broker().set_leader(topic, p, held ? -1 : 1);
  }

  // The exit summary of a processor's log ("N reads, M hits (...), S suppressed, ...").
  std::string summary_line(const std::string& log) const {
    std::ifstream f(dir_ / log);
    std::string last;
    for (std::string line; std::getline(f, line);)
      if (line.find(" reads, ") != std::string::npos && line.find(" hits (") != std::string::npos)
        last = line;
    return last;
  }
  // The count before `what` in the summary ("17 suppressed" -> 17; -1 when absent).
  static long summary_count(const std::string& summary, const std::string& what) {
    const std::size_t at = summary.find(" " + what);
    if (at == std::string::npos) return -1;
    std::size_t b = at;
    while (b > 0 && std::isdigit(static_cast<unsigned char>(summary[b - 1]))) --b;
    return b == at ? -1 : std::atol(summary.c_str() + b);
  }

  bool in_process_broker_ = false;
  std::unique_ptr<kafka::EmbeddedBroker> embedded_;
};


TEST_F(PipelineTest, EveryExpectedHitArrivesAndEveryBadInputIsDeadLettered) {
  make_reads(1500, 1);
  ASSERT_GT(expected_.size(), 50u);
  // Bad inputs spread among the good reads.
  const std::vector<BadInput> bad = bad_inputs();
  std::vector<std::pair<std::string, std::string>> msgs;
  for (std::size_t i = 0; i < reads_.size(); ++i) {
    msgs.push_back(reads_[i]);
    if (i % 70 == 35 && i / 70 < bad.size()) msgs.push_back({"nl-cam-1", bad[i / 70].payload});
  }
  ASSERT_EQ(msgs.size(), reads_.size() + bad.size());
  Child proc = start_processor();
  produce(msgs);

  const std::vector<std::string> hits = consume_at_least("anpr.hits", expected_.size());
  const std::set<ExpectedHit> got = hit_set(hits);
  std::set<ExpectedHit> missing, unexpected;
  std::set_difference(expected_.begin(), expected_.end(), got.begin(), got.end(),
                      std::inserter(missing, missing.end()));
  std::set_difference(got.begin(), got.end(), expected_.begin(), expected_.end(),
                      std::inserter(unexpected, unexpected.end()));
  EXPECT_TRUE(missing.empty()) << missing.size() << " expected hits missing:\n" << describe(missing);
  EXPECT_TRUE(unexpected.empty()) << unexpected.size() << " unexpected hits:\n" << describe(unexpected);
  EXPECT_EQ(hits.size(), expected_.size()) << "duplicates on the hits topic";

  // KafkaJS, a client we did not write, reads the same hits in a consumer group of its own and
  // finds every one a valid hit.
  const std::string js = shell("node " ANPR_SOURCE_DIR "/tests/js/read_hits.js " + bootstrap_ +
                               " " + T("anpr.hits") + " " + std::to_string(hits.size()) + " 60 2>&1");
  std::set<ExpectedHit> js_hits;
  std::size_t js_lines = 0;
  bool js_ok = false;
  {
    std::istringstream in(js);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string a, b, c, d;
      f >> a >> b >> c >> d;
      if (a == "OK") {
        js_ok = true;
        continue;
      }
      if (d.size() == 32) {
        js_hits.insert({a, b, c});
        ++js_lines;
      }
    }
  }
  EXPECT_TRUE(js_ok) << "KafkaJS: " << js.substr(js.size() > 2000 ? js.size() - 2000 : 0);
  EXPECT_EQ(js_lines, hits.size());
  EXPECT_EQ(js_hits, got);

  // Route copies: hits on a partner's list also went to the partner's route topic.
  for (const auto& [owner, want] : expected_routes_) {
    std::string topic = "anpr.route." + owner;
    for (char& c : topic) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(hit_set(consume_at_least(topic, want.size())), want) << topic;
  }

  // An oversized message (4 MiB; pipeline.max_message_bytes is 1 MiB) last. The embedded broker
  // keeps at most 5 MiB per partition and drops a larger message whole, so a 10 MB read cannot
  // travel through it; read_event_test covers 10 MB at the decoder.
  produce({{"nl-cam-1", "{\"event_id\":\"huge\",\"pad\":\"" + std::string(4 << 20, 'x') + "\"}"}});
  const std::vector<std::string> dls = consume_at_least("anpr.deadletter", bad.size() + 1);
  std::multiset<std::string> reasons;
  simdjson::dom::parser p;
  for (const auto& m : dls) {
    simdjson::dom::element d;
    ASSERT_FALSE(p.parse(m).get(d)) << m;
    reasons.insert(std::string(std::string_view(d["reason"])));
    EXPECT_EQ(std::string_view(d["source"]["topic"]), T("anpr.reads"));
    EXPECT_LE(m.size(), 10'000u) << "a dead letter keeps only the first bytes of its payload";
  }
  std::multiset<std::string> want{"too_large"};
  for (const BadInput& b : bad) want.insert(b.reason);
  EXPECT_EQ(reasons, want);

  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0) << "the processor did not stop cleanly on SIGTERM";
}

// The Benelux rules of docs/design.md §2, each on a read made for it.
TEST_F(PipelineTest, BeneluxRules) {
  auto entry_of = [&](const std::string& list_id, CountryCode want) -> const ListEntry& {
    for (const auto& l : lists_)
      if (l.meta.id == list_id)
        for (const auto& e : l.entries)
          if (e.country == want) return e;
    throw std::runtime_error("no entry");
  };
  auto read = [&](const std::string& id, const std::string& cam, const ListEntry& e) {
    std::string json;
    JsonWriter w(json);
    w.begin_object();
    w.field("event_id", id);
    w.field("camera_id", cam);
    w.field("ts", "2026-11-24T08:00:00.000Z");
    w.field("plate", e.plate.view());
    w.field("plate_country", e.country.str());
    w.end_object();
    return std::pair<std::string, std::string>{cam, json};
  };
  const ListEntry& noinsp = entry_of("be-noinsp", kBE);
  const ListEntry& nl_fine = entry_of("nl-fines", kNL);
  const ListEntry& be_fine = entry_of("be-fines", kBE);
  const ListEntry& be_stolen = entry_of("be-stolen", kBE);
  const ListEntry& lu_crime = entry_of("lu-crime", kLU);
  const ListEntry& nl_stolen = entry_of("nl-stolen", kNL);
  Child proc = start_processor();
  produce({read("noinsp-at-nl", "nl-cam-1", noinsp), read("noinsp-at-be", "be-cam-1", noinsp),
           read("nlfine-at-lu", "lu-cam-1", nl_fine), read("befine-at-lu", "lu-cam-2", be_fine),
           read("nlfine-at-nl", "nl-cam-2", nl_fine), read("bestolen-at-nl", "nl-cam-1", be_stolen),
           // Refused on the owner country alone: serious_crime is allowed on NL and BE cameras
           // and stolen_vehicle on LU ones, but NL and BE accept no LU list, LU no list at all.
           read("lucrime-at-nl", "nl-cam-2", lu_crime), read("lucrime-at-be", "be-cam-2", lu_crime),
           read("nlstolen-at-lu", "lu-cam-1", nl_stolen),
           read("lucrime-at-lu", "lu-cam-2", lu_crime)});
  // Four hits are allowed: no_inspection at a BE camera, the NL fine at an NL camera, the BE
  // stolen vehicle at an NL camera (which also goes to BE's route topic), the LU list at an LU
  // camera.
  const std::set<std::string> allowed{"noinsp-at-be", "nlfine-at-nl", "bestolen-at-nl",
                                      "lucrime-at-lu"};
  const auto hits = hit_set(consume_at_least("anpr.hits", allowed.size()));
  std::set<std::string> events;
  for (const auto& h : hits) events.insert(h.event_id);
  EXPECT_EQ(events, allowed);
  const auto routed = hit_set(consume_at_least("anpr.route.be", 1));
  ASSERT_EQ(routed.size(), 1u);
  EXPECT_EQ(routed.begin()->event_id, "bestolen-at-nl");
  EXPECT_EQ(routed.begin()->list_id, "be-stolen");
  EXPECT_TRUE(consume("anpr.route.nl").empty());
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0);
  // Stopped, so every read was processed and its hits delivered: still only the allowed ones.
  events.clear();
  for (const auto& h : hit_set(consume("anpr.hits"))) events.insert(h.event_id);
  EXPECT_EQ(events, allowed) << "after the processor finished";
  EXPECT_TRUE(consume("anpr.route.lu").empty());
}

// SIGKILL in the middle of a stream, then a restart: no expected hit is missing, and a hit
// delivered twice carries the same hit_id both times.
TEST_F(PipelineTest, KilledAndRestartedLosesNoHit) {
  make_reads(3000, 2);
  Child proc = start_processor("run1.err");
  produce(std::vector<std::pair<std::string, std::string>>(reads_.begin(), reads_.begin() + 1500));
  // Kill once some hits are out, while the rest of the stream is being produced.
  consume_at_least("anpr.hits", 5);
  std::thread second_half([&] {
    produce(std::vector<std::pair<std::string, std::string>>(reads_.begin() + 1500, reads_.end()));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  proc.signal(SIGKILL);
  EXPECT_EQ(proc.wait(10'000), 128 + SIGKILL);
  second_half.join();
  Child again = start_processor("run2.err");
  expect_every_hit_once_or_with_the_same_id();
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait(60'000), 0);
}

// A second instance joins the consumer group mid-stream: partitions move between them (offsets
// committed on revoke), every expected hit arrives, and duplicates keep their hit_id.
TEST_F(PipelineTest, TwoInstancesInOneGroupLoseNoHit) {
  make_reads(2000, 3);
  Child a = start_processor("a.err");
  produce(std::vector<std::pair<std::string, std::string>>(reads_.begin(), reads_.begin() + 1000));
  consume_at_least("anpr.hits", 5);
  // Each instance keeps its own retention store (state.dir).
  {
    std::ifstream in(dir_ / "anpr.toml");
    std::stringstream text;
    text << in.rdbuf();
    write(dir_ / "anpr-b.toml", text.str() + "[state]\ndir = \"state-b\"\n");
  }
  Child b = start_processor("b.err", "anpr-b.toml");
  // Wait until the group has given B some partitions, then send the rest.
  auto b_assigned = [&] {
    std::ifstream f(dir_ / "b.err");
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const std::size_t at = text.rfind("assigned " + T("anpr.reads") + " partitions");
    return at != std::string::npos && text.find("[]", at) != text.find('[', at);
  };
  for (int i = 0; i < 600 && !b_assigned(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(b_assigned()) << "the second instance was never given partitions";
  produce(std::vector<std::pair<std::string, std::string>>(reads_.begin() + 1000, reads_.end()));
  expect_every_hit_once_or_with_the_same_id();
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  EXPECT_EQ(a.wait(60'000), 0);
  EXPECT_EQ(b.wait(60'000), 0);
  // Both instances did some of the work, so the partitions really moved.
  for (const char* log : {"a.err", "b.err"}) {
    std::ifstream f(dir_ / log);
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const std::size_t at = text.rfind("anpr run: ");
    ASSERT_NE(at, std::string::npos) << log;
    const long reads = std::atol(text.c_str() + at + 10);
    EXPECT_GT(reads, 0) << log << ": " << text.substr(at);
  }
}


// An idempotent producer can fail for good after broker failures (librdkafka's fatal error: an
// out-of-order sequence, seen on a three-node cluster with one node stopped). The processor then
// replaces it; what it had not delivered is sent again. ANPR_INJECT_PRODUCER_FATAL makes the
// producer fail so after 40 messages.
TEST_F(PipelineTest, AProducerThatFailsForGoodIsReplacedAndNoHitIsLost) {
  make_reads(1500, 9);
  ASSERT_GT(expected_.size(), 80u);
  ::setenv("ANPR_INJECT_PRODUCER_FATAL", "40", 1);
  Child proc = start_processor();
  ::unsetenv("ANPR_INJECT_PRODUCER_FATAL");
  produce(reads_);
  expect_every_hit_once_or_with_the_same_id();
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0);
  const std::string log = slurp(dir_ / "run.err");
  const std::size_t at = log.find("the Kafka producer failed for good (");
  ASSERT_NE(at, std::string::npos) << log.substr(0, 3000);
  EXPECT_NE(log.find("injected by ANPR_INJECT_PRODUCER_FATAL", at), std::string::npos);
}

TEST_F(PipelineTest, MetricsCountWhatWasSentAndPassPromtool) {
  make_reads(900, 4);
  ASSERT_GT(expected_.size(), 20u);
  const std::vector<BadInput> bad = bad_inputs();
  // Two reads with a hit carry a plate image that is not a JPEG: the hit goes out without it and
  // the image counters say so.
  std::set<std::string> hit_events;
  for (const ExpectedHit& h : expected_) hit_events.insert(h.event_id);
  int broken_images = 0;
  for (auto& [key, payload] : reads_) {
    if (broken_images == 2) break;
    const std::size_t at = payload.find("\"event_id\":\"") + 12;
    if (!hit_events.count(payload.substr(at, payload.find('"', at) - at))) continue;
    payload.pop_back();
    payload += ",\"plate_jpeg\":\"bm90IGEganBlZw==\"}";  // "not a jpeg"
    ++broken_images;
  }
  ASSERT_EQ(broken_images, 2);
  std::vector<std::pair<std::string, std::string>> msgs = reads_;
  for (const BadInput& b : bad) msgs.push_back({"nl-cam-1", b.payload});

  // What the counters must say. A read is counted under its camera's country once the event is
  // decoded and the camera found; bad plates (reasons plate_*) fail after that, at nl-cam-1.
  std::map<std::string, double> want_reads, want_dls, want_hits;
  for (const auto& [cam, payload] : reads_) ++want_reads[cam.substr(0, 2) == "nl" ? "NL" : cam.substr(0, 2) == "be" ? "BE" : "LU"];
  for (const BadInput& b : bad) {
    ++want_dls[b.reason];
    ++want_reads[b.reason.rfind("plate_", 0) == 0 ? "NL" : "unknown"];
  }
  for (const ExpectedHit& h : expected_) ++want_hits[h.list_id];

  const int port = free_port();
  {
    std::ofstream f(dir_ / "anpr.toml", std::ios::app);
    f << "[http]\nlisten = \"127.0.0.1:" << port << "\"\n";
  }
  Child proc = start_processor();
  produce(msgs);
  consume_at_least("anpr.hits", expected_.size());
  consume_at_least("anpr.deadletter", bad.size());

  httplib::Client http("127.0.0.1", port);
  http.set_connection_timeout(5);
  std::string text;
  std::map<Series, double> m;
  // Counters are updated when a batch is published, just before its messages are delivered;
  // wait until every read is counted and every partition's lag is back to 0.
  for (int i = 0; i < 120; ++i) {
    auto res = http.Get("/metrics");
    if (res && res->status == 200) {
      text = res->body;
      m = parse_exposition(text);
      double reads = 0;
      for (const auto& [c, n] : by_label(m, "anpr_reads_total", "country")) reads += n;
      const auto lag = by_label(m, "anpr_consumer_lag", "partition");
      double lag_sum = 0;
      for (const auto& [p, n] : lag) lag_sum += n;
      if (reads == static_cast<double>(msgs.size()) && lag.size() == 3 && lag_sum == 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_FALSE(text.empty()) << "GET /metrics never answered";

  EXPECT_EQ(by_label(m, "anpr_reads_total", "country"), want_reads);
  EXPECT_EQ(by_label(m, "anpr_deadletter_total", "reason"), want_dls);
  EXPECT_EQ(by_label(m, "anpr_hits_total", "list"), want_hits);
  // Each test list has one category; match kinds are the three the index knows.
  for (const auto& sample : m) {
    const Series& s = sample.first;  // not a structured binding: clang 14 cannot capture those
    if (s.name != "anpr_hits_total") continue;
    const auto l = std::find_if(kLists.begin(), kLists.end(),
                                [&](const ListSpec& x) { return x.id == s.labels.at("list"); });
    ASSERT_NE(l, kLists.end()) << s.labels.at("list");
    EXPECT_EQ(s.labels.at("category"), l->category);
    EXPECT_TRUE(std::set<std::string>({"exact", "ocr", "edit"}).count(s.labels.at("match_kind")))
        << s.labels.at("match_kind");
  }
  EXPECT_TRUE(by_label(m, "anpr_suppressed_total", "list").empty()) << "suppression is off";
  EXPECT_EQ(value(m, "anpr_image_decodes_total"), 2);
  double image_errors = 0;
  for (const auto& [reason, n] : by_label(m, "anpr_image_errors_total", "reason")) image_errors += n;
  EXPECT_EQ(image_errors, 2);
  EXPECT_EQ(value(m, "anpr_reads_consumed_total"), static_cast<double>(msgs.size()));
  double routes = 0;
  for (const auto& [owner, hits] : expected_routes_) routes += static_cast<double>(hits.size());
  EXPECT_EQ(value(m, "anpr_route_copies_total"), routes);
  EXPECT_EQ(value(m, "anpr_partitions_assigned"), 3);
  EXPECT_EQ(value(m, "anpr_reads_unfinished"), 0);
  const auto lag = by_label(m, "anpr_consumer_lag", "partition");
  EXPECT_EQ(lag, (std::map<std::string, double>{{"0", 0}, {"1", 0}, {"2", 0}}));
  // Every published hit was delivered, so each has a read-to-hit latency.
  EXPECT_EQ(value(m, "anpr_read_to_hit_seconds_count"), static_cast<double>(expected_.size()));
  EXPECT_GT(value(m, "anpr_match_batch_seconds_count"), 0);
  // The reference lists.
  std::map<std::string, double> want_entries;
  for (const ReferenceList& l : lists_) want_entries[l.meta.id] = static_cast<double>(l.entries.size());
  EXPECT_EQ(by_label(m, "anpr_reference_entries", "list"), want_entries);
  EXPECT_EQ(by_label(m, "anpr_reference_list_info", "version").size(), kLists.size());

  // The retention store (on by default: NL and BE keep passages, every country keeps hits).
  EXPECT_GT(by_label(m, "anpr_retention_records_stored_total", "country")["NL"], 0);
  EXPECT_GT(by_label(m, "anpr_retention_records_stored_total", "country")["BE"], 0);
  EXPECT_GT(by_label(m, "anpr_retention_oldest_record_age_seconds", "country")["NL"], 0);
  EXPECT_EQ((m[Series{"anpr_retention_max_age_seconds", {{"country", "NL"}, {"kind", "passage"}}}]),
            28 * 86400);
  EXPECT_EQ(m.count(Series{"anpr_retention_max_age_seconds", {{"country", "LU"}, {"kind", "passage"}}}),
            0u) << "LU keeps no passages";
  // Every family the processor exports is documented for the engineers who run it.
  {
    std::ifstream d(ANPR_SOURCE_DIR "/docs/operations.md");
    const std::string doc((std::istreambuf_iterator<char>(d)), std::istreambuf_iterator<char>());
    for (const auto& [s, v] : m) {
      std::string family = s.name;
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (family.size() > std::strlen(suffix) &&
            family.compare(family.size() - std::strlen(suffix), std::string::npos, suffix) == 0 &&
            family.find("_seconds") != std::string::npos)
          family.resize(family.size() - std::strlen(suffix));
      EXPECT_NE(doc.find("`" + family + "`"), std::string::npos)
          << family << " is not in docs/operations.md";
    }
  }
  // No series twice (promtool does not check that; two collectors exporting the same family would).
  {
    std::size_t samples = 0;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) samples += !line.empty() && line[0] != '#';
    EXPECT_EQ(samples, m.size()) << "a series appears more than once:\n" << text;
  }
  // Prometheus' own checker accepts the exposition, lint included.
  write(dir_ / "metrics.txt", text);
  const std::string check = shell("promtool check metrics < " + (dir_ / "metrics.txt").string() +
                                  " 2>&1; echo rc=$?");
  EXPECT_EQ(check, "rc=0\n") << check;
  // No plate of the test's reads or lists appears in the metrics or in the processor's log.
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0);
  std::ifstream f(dir_ / "run.err");
  const std::string log((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (const ReferenceList& l : lists_)
    for (const ListEntry& e : l.entries) {
      ASSERT_EQ(text.find(std::string(e.plate.view())), std::string::npos) << "plate in /metrics";
      ASSERT_EQ(log.find(std::string(e.plate.view())), std::string::npos) << "plate in the log";
    }
}

// The processor's diagnostics as JSON Lines (--log-format json): every line is one JSON object
// with the fixed keys, and the exit summary carries its counts as fields.
TEST_F(PipelineTest, JsonLogLinesAreObjectsWithCounts) {
  make_reads(200, 5);
  Child proc({kAnpr, "run", "--config", (dir_ / "anpr.toml").string(), "--log-format", "json"},
             false, (dir_ / "json.err").string());
  produce(reads_);
  consume_at_least("anpr.hits", expected_.size());
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0);
  std::ifstream f(dir_ / "json.err");
  simdjson::dom::parser p;
  std::size_t lines = 0;
  bool summary = false;
  for (std::string line; std::getline(f, line);) {
    simdjson::dom::element d;
    ASSERT_FALSE(p.parse(line).get(d)) << "not JSON: " << line;
    ++lines;
    for (const char* k : {"ts", "level", "component", "msg"})
      EXPECT_FALSE(d[k].error()) << k << " missing: " << line;
    uint64_t reads = 0;
    if (!d["reads"].get(reads) && !d["hits"].error()) {
      summary = true;
      EXPECT_EQ(reads, reads_.size());
      EXPECT_EQ(uint64_t(d["hits"]), expected_.size());
    }
  }
  EXPECT_GE(lines, 3u);
  EXPECT_TRUE(summary) << "no exit summary with counts";
}

// ---- suppression in the running pipeline (docs/design.md §4) ----

// The same listed plate on the same list is published once per window of capture time (300 s;
// lu-crime has a window of 0, so it is never suppressed); repeats are counted, not published and
// not routed. What is published is worked out here from the reads and the windows, with the
// matches of the reference matcher.
TEST_F(PipelineTest, RepeatedPlatesArePublishedOncePerWindowAndCounted) {
  {
    std::ifstream in(dir_ / "anpr.toml");
    std::stringstream text;
    text << in.rdbuf();
    std::string conf = text.str();
    const std::size_t at = conf.find("window_s = 0");
    ASSERT_NE(at, std::string::npos);
    conf.replace(at, 12, "window_s = 300");
    write(dir_ / "anpr.toml", conf + "[suppression.lists]\n\"lu-crime\" = 0\n");
  }
  const int port = enable_metrics();
  auto entry_of = [&](const std::string& list_id, CountryCode want) -> const ListEntry& {
    for (const auto& l : lists_)
      if (l.meta.id == list_id)
        for (const auto& e : l.entries)
          if (e.country == want) return e;
    throw std::runtime_error("no entry");
  };
  // Each plate read six times by one camera (so in order, on one partition): at 0, 60, 120, 400,
  // 500 and 800 s.
  const std::vector<std::tuple<std::string, CountryCode, std::string>> repeated = {
      {"nl-stolen", kNL, "nl-cam-1"},
      {"be-stolen", kBE, "nl-cam-2"},  // a partner's list: routed to BE when published
      {"be-noinsp", kBE, "be-cam-1"},
      {"lu-crime", kLU, "lu-cam-1"},
  };
  const TimestampMs t0 = 1'795'500'000'000;
  for (const auto& [list_id, country, cam_id] : repeated) {
    const ListEntry& e = entry_of(list_id, country);
    const std::string& wanted_cam = cam_id;  // a structured binding cannot be captured (C++20)
    const Camera& cam = *std::find_if(kCameras.begin(), kCameras.end(),
                                      [&](const Camera& c) { return c.id == wanted_cam; });
    int k = 0;
    for (int s : {0, 60, 120, 400, 500, 800}) {
      const std::string id = list_id + "-" + std::to_string(k++);
      const TimestampMs ts = t0 + s * 1000;
      std::string json;
      JsonWriter w(json);
      w.begin_object();
      w.field("event_id", id);
      w.field("camera_id", cam.id);
      w.field("ts", format_rfc3339(ts));
      w.field("plate", formats::display(e.country, e.plate));
      w.field("plate_country", e.country.str());
      w.end_object();
      reads_.push_back({cam.id, json});
      expect(cam, e.country, ts, e.plate, id);
    }
  }
  // Published: per list and listed plate (its reference), in capture order, a hit at least a
  // window after the last published one; the others are suppressed.
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<TimestampMs, ExpectedHit>>>
      by_entry;
  for (const ExpectedHit& h : expected_)
    by_entry[{h.list_id, h.reference}].push_back({expected_ts_.at(h.event_id), h});
  std::set<ExpectedHit> published;
  std::map<std::string, double> suppressed;
  for (auto& [key, seen] : by_entry) {
    std::sort(seen.begin(), seen.end());
    const TimestampMs window = key.first == "lu-crime" ? 0 : 300'000;
    std::optional<TimestampMs> last;
    for (const auto& [ts, h] : seen) {
      if (!last || ts - *last >= window) {
        published.insert(h);
        last = ts;
      } else {
        ++suppressed[key.first];
      }
    }
  }
  double total_suppressed = 0;
  for (const auto& [l, n] : suppressed) total_suppressed += n;
  ASSERT_EQ(suppressed.size(), 3u) << "every list but lu-crime has repeats within its window";
  ASSERT_GE(total_suppressed, 9);
  std::set<ExpectedHit> routed;
  for (const ExpectedHit& h : expected_routes_["BE"])
    if (published.count(h)) routed.insert(h);
  ASSERT_FALSE(routed.empty());

  Child proc = start_processor();
  produce(reads_);
  const auto hits = consume_at_least("anpr.hits", published.size());
  // Every read processed (its counters are updated when its batch is published).
  std::map<Series, double> m;
  for (int i = 0; i < 120; ++i) {
    m = scrape(port);
    double reads = 0;
    for (const auto& [c, n] : by_label(m, "anpr_reads_total", "country")) reads += n;
    if (reads == static_cast<double>(reads_.size())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(by_label(m, "anpr_suppressed_total", "list"), suppressed);
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0);
  // Stopped: everything it published is on the topics now.
  const auto all = consume("anpr.hits");
  EXPECT_EQ(hit_set(all), published);
  EXPECT_EQ(all.size(), published.size()) << "a hit published twice";
  EXPECT_EQ(hit_set(consume("anpr.route.be")), routed) << "route copies follow suppression";
  const std::string summary = summary_line("run.err");
  EXPECT_EQ(summary_count(summary, "suppressed"), static_cast<long>(total_suppressed)) << summary;
  EXPECT_EQ(summary_count(summary, "hits ("), static_cast<long>(published.size())) << summary;
}

// ---- delivery guarantees (docs/design.md §6), the embedded broker in the test process ----

class DeliveryTest : public PipelineTest {
 protected:
  DeliveryTest() { in_process_broker_ = true; }

  // Each partition's first read with one of `hits`: (partition -> offset).
  static std::map<int32_t, int64_t> first_read_with(
      const std::set<ExpectedHit>& hits,
      const std::map<std::string, std::pair<int32_t, int64_t>>& pos) {
    std::map<int32_t, int64_t> first;
    for (const ExpectedHit& h : hits) {
      const auto [p, o] = pos.at(h.event_id);
      if (!first.count(p) || o < first[p]) first[p] = o;
    }
    return first;
  }

  // Produces the plain reads, then the test's reads; returns where each landed. Every partition
  // starts with a plain read.
  std::map<std::string, std::pair<int32_t, int64_t>> produce_all() {
    auto plain = plain_reads();
    produce(plain);
    produce(reads_);
    total_ = plain.size() + reads_.size();
    auto pos = read_positions();
    EXPECT_EQ(pos.size(), total_);
    std::set<int32_t> starts_plain;
    for (const auto& [id, at] : pos)
      if (at.second == 0 && id.rfind("plain-", 0) == 0) starts_plain.insert(at.first);
    EXPECT_EQ(starts_plain.size(), 3u) << "a partition does not start with a plain read";
    return pos;
  }

  static bool wait_for(const std::function<bool()>& f, int seconds) {
    for (int i = 0; i < seconds * 10; ++i) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return f();
  }

  std::size_t total_ = 0;  // reads produced
};

// At least once (pipeline/offset_tracker.h): a read's offset is stored only once every message it
// produced, and those of every earlier read of its partition, is acknowledged. The hits topic has
// no leader, so every hit stays in flight: the committed offsets (KafkaJS) must stop at each
// partition's first read with a hit. Killed then, and restarted once the topic takes writes
// again, the processor loses no hit.
TEST_F(DeliveryTest, NoOffsetIsCommittedPastAnUndeliveredHitAndAKillLosesNone) {
  make_reads(600, 11);
  const int port = enable_metrics();
  hold("anpr.hits", true);
  Child proc = start_processor("run1.err");
  const auto pos = produce_all();
  const auto first_hit = first_read_with(expected_, pos);
  ASSERT_EQ(first_hit.size(), 3u) << "a partition without a read with a hit";
  const auto at_kill = settled_offsets(port, total_);
  ASSERT_EQ(at_kill.size(), 3u);
  for (const auto& [p, o] : at_kill) {
    EXPECT_LE(o.committed, first_hit.at(p))
        << "partition " << p << ": committed past a read whose hit was never delivered";
    EXPECT_GE(o.committed, 1) << "partition " << p << ": not even its plain first read committed";
    EXPECT_LT(o.committed, o.end) << "partition " << p << ": nothing in flight";
  }
  proc.signal(SIGKILL);
  ASSERT_EQ(proc.wait(10'000), 128 + SIGKILL);
  hold("anpr.hits", false);
  Child again = start_processor("run2.err");
  expect_every_hit_once_or_with_the_same_id();
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait(60'000), 0);
}

// Duplicates keep their hit_id (docs/design.md §3, §6). The route topics have no leader, so the reads
// whose hits also go to a partner stay unfinished while every hit reaches the hits topic: the
// reads after them in their partition are done but cannot be committed. Killed then, the
// restarted processor reads those reads again and publishes their hits a second time, each with
// the hit_id it had the first time.
TEST_F(DeliveryTest, HitsDeliveredAgainAfterARestartKeepTheirHitId) {
  make_reads(600, 12);
  const int port = enable_metrics();
  hold("anpr.route.nl", true);
  hold("anpr.route.be", true);
  Child proc = start_processor("run1.err");
  const auto pos = produce_all();
  std::set<ExpectedHit> routed;
  for (const auto& [owner, hits] : expected_routes_) routed.insert(hits.begin(), hits.end());
  const auto first_routed = first_read_with(routed, pos);
  ASSERT_FALSE(first_routed.empty());
  // Every hit is delivered (only the route copies are held back).
  const auto first_run = consume_at_least("anpr.hits", expected_.size());
  ASSERT_EQ(hit_set(first_run), expected_);
  ASSERT_EQ(settled_offsets(port, total_).size(), 3u);
  proc.signal(SIGKILL);
  ASSERT_EQ(proc.wait(10'000), 128 + SIGKILL);
  // What the restart resumes from.
  const auto at_kill = group_offsets();
  ASSERT_EQ(at_kill.size(), 3u);
  for (const auto& [p, first] : first_routed)
    EXPECT_LE(at_kill.at(p).committed, first)
        << "partition " << p << ": committed past a read whose route copy was never delivered";
  // The hits delivered once already that the restart will deliver again.
  std::set<ExpectedHit> twice_expected;
  for (const ExpectedHit& h : expected_) {
    const auto [p, o] = pos.at(h.event_id);
    if (o >= at_kill.at(p).committed) twice_expected.insert(h);
  }
  ASSERT_FALSE(twice_expected.empty()) << "no hit would be delivered twice: nothing to compare";
  hold("anpr.route.nl", false);
  hold("anpr.route.be", false);
  Child again = start_processor("run2.err");
  const auto all = consume_at_least("anpr.hits", first_run.size() + twice_expected.size());
  std::map<std::string, std::set<std::string>> ids;
  std::map<ExpectedHit, int> times;
  {
    simdjson::dom::parser p;
    for (const auto& m : all) {
      simdjson::dom::element d;
      ASSERT_FALSE(p.parse(m).get(d)) << m;
      const ExpectedHit h{std::string(std::string_view(d["event_id"])),
                          std::string(std::string_view(d["list_id"])),
                          std::string(std::string_view(d["reference"]))};
      ++times[h];
      ids[h.event_id + " " + h.list_id + " " + h.reference].insert(
          std::string(std::string_view(d["hit_id"])));
    }
  }
  std::set<ExpectedHit> twice;
  for (const auto& [h, n] : times) {
    EXPECT_LE(n, 2) << h.event_id << " " << h.list_id;
    if (n == 2) twice.insert(h);
  }
  EXPECT_EQ(twice, twice_expected) << "not the hits of the reads the restart read again";
  ASSERT_FALSE(twice.empty());
  for (const auto& [hit, hit_ids] : ids)
    EXPECT_EQ(hit_ids.size(), 1u) << "a hit delivered twice with two hit_ids: " << hit;
  // And the route copies held back at the kill arrive now.
  for (const auto& [owner, want] : expected_routes_) {
    std::string topic = "anpr.route." + owner;
    for (char& c : topic) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto got = hit_set(consume_at_least(topic, want.size()));
    EXPECT_TRUE(std::includes(got.begin(), got.end(), want.begin(), want.end())) << topic;
  }
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait(60'000), 0);
}

// Drain on SIGTERM: with every hit held back (the hits topic has no leader), a stopped processor
// waits for their delivery before it finishes; once they are delivered it commits the end of
// every partition, so nothing it consumed is read again.
TEST_F(DeliveryTest, SigtermWaitsForUndeliveredHitsThenCommitsEveryRead) {
  make_reads(600, 13);
  const int port = enable_metrics();
  hold("anpr.hits", true);
  Child proc = start_processor();
  const auto pos = produce_all();
  ASSERT_EQ(first_read_with(expected_, pos).size(), 3u) << "a partition without a read with a hit";
  const auto before = settled_offsets(port, total_);
  ASSERT_EQ(before.size(), 3u);
  for (const auto& [p, o] : before)
    ASSERT_LT(o.committed, o.end) << "partition " << p << ": nothing in flight";
  proc.signal(SIGTERM);
  // It must not finish while the hits cannot be delivered (the shutdown timeout is 30 s).
  EXPECT_FALSE(wait_for([&] { return !summary_line("run.err").empty(); }, 5))
      << "the processor finished before its hits were delivered: " << summary_line("run.err");
  hold("anpr.hits", false);
  EXPECT_EQ(proc.wait(60'000), 0);
  const auto after = group_offsets();
  ASSERT_EQ(after.size(), 3u);
  for (const auto& [p, o] : after)
    EXPECT_EQ(o.committed, o.end) << "partition " << p << ": not every consumed read committed";
  const auto hits = consume_at_least("anpr.hits", expected_.size());
  EXPECT_EQ(hit_set(hits), expected_);
  EXPECT_EQ(hits.size(), expected_.size());
  EXPECT_EQ(summary_count(summary_line("run.err"), "reads,"), static_cast<long>(total_));
}

// A stop is honoured within the shutdown timeout even while hits cannot be delivered, and the
// hits that reach the brokers after the processor gave up waiting (while it closes) neither
// crash it nor corrupt it: it exits 0.
TEST_F(DeliveryTest, HitsDeliveredAfterTheShutdownTimeoutDoNotCrashTheStoppingProcessor) {
  make_reads(300, 15);
  {
    std::ifstream in(dir_ / "anpr.toml");
    std::stringstream text;
    text << in.rdbuf();
    std::string conf = text.str();
    const std::size_t at = conf.find("batch = 64\n");
    ASSERT_NE(at, std::string::npos);
    conf.insert(at, "shutdown_timeout_ms = 1000\n");
    write(dir_ / "anpr.toml", conf);
  }
  const int port = enable_metrics();
  hold("anpr.hits", true);
  Child proc = start_processor();
  produce_all();
  ASSERT_EQ(settled_offsets(port, total_).size(), 3u);
  proc.signal(SIGTERM);
  // It gives up waiting after the shutdown timeout and prints its summary...
  ASSERT_TRUE(wait_for([&] { return !summary_line("run.err").empty(); }, 30));
  // ...then, while it closes, the hits can be delivered.
  hold("anpr.hits", false);
  EXPECT_EQ(proc.wait(60'000), 0);
}

}  // namespace
}  // namespace anpr::testing
