// What only Apache Kafka shows (ANPR_TEST_KAFKA, tests/test_broker.h; the embedded broker neither
// compacts, nor ages data out, nor takes Admin requests, nor commits during a rebalance):
//  - the reflists topic compacted: a list entry removed by publishing a version without it
//    (`anpr lists publish`, reflists/reflists.h) is a tombstone; once the log cleaner has run the
//    topic holds only the latest record of each key, and a new `anpr run` with
//    lists.follow_topic builds exactly the current lists from it;
//  - `anpr topics apply` (cli/topics_plan.h) creates the missing topics and alters the existing
//    ones as planned, and the retention it sets takes effect: records older than retention.ms
//    leave the topic at the broker's next retention check;
//  - two `anpr run` in one consumer group, the second joining mid-stream: the first commits its
//    offsets when its partitions are revoked, so no read is lost and none is read again.
// The test cluster (scripts/kafka.sh) checks retention every 10 s and looks for logs to compact
// every second (docs/kafka.md); the topics here are made so that the cleaner acts at once.
#include <gtest/gtest.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/json_writer.h"
#include "http/auth.h"
#include "kafka/client.h"
#include "match/formats.h"
#include "match/plate.h"
#include "match/time.h"
#include "reflists/reflists.h"
#include "synth/plates.h"
#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr::testing {
namespace {

namespace fs = std::filesystem;

// `count` different NL plates that pass NL's plate format.
std::vector<std::string> nl_plates(std::size_t count, uint64_t seed) {
  bench::Rng rng(seed);
  std::set<std::string> seen;
  std::vector<std::string> out;
  while (out.size() < count) {
    const Plate p = bench::random_plate(rng, kNL);
    if (formats::valid(kNL, p) && seen.insert(p.str()).second) out.push_back(p.str());
  }
  return out;
}

// A read of `plate` at the NL camera, as JSON.
std::string read_json(const std::string& event_id, const std::string& plate, TimestampMs ts) {
  std::string json;
  JsonWriter w(json);
  w.begin_object();
  w.field("event_id", event_id);
  w.field("camera_id", "nl-cam-1");
  w.field("ts", format_rfc3339(ts));
  w.field("plate", plate);
  w.field("plate_country", "NL");
  w.end_object();
  return json;
}

const std::string kCameras =
    "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,A2 Utrecht,52.1,5.1,NL-1\n";

// The port `anpr run` logged its HTTP server on (0 while not yet).
int logged_port(const fs::path& log) {
  const std::string s = slurp(log);
  const std::size_t at = s.find(" on port ");
  return at == std::string::npos ? 0 : std::atoi(s.c_str() + at + 9);
}

// One record of a topic as kcat read it: key, value, and whether the value is null (a tombstone).
struct Record {
  int64_t offset = -1;
  std::string key, value;
  bool tombstone = false;
};

// Every record of partition 0 of `topic`, from its beginning, in order.
std::vector<Record> records(const std::string& bootstrap, const std::string& topic) {
  const std::string out = shell("kcat -C -b " + bootstrap + " -t " + topic +
                                " -p 0 -o beginning -e -q -f '%o\\t%k\\t%S\\t%s\\n' 2>/dev/null");
  std::vector<Record> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    Record r;
    std::string len;
    f >> r.offset;
    f.ignore(1);
    std::getline(f, r.key, '\t');
    std::getline(f, len, '\t');
    std::getline(f, r.value);
    r.tombstone = len == "-1";
    v.push_back(std::move(r));
  }
  return v;
}

TEST(ReflistsKafka, ARemovedEntryIsATombstoneCompactionKeepsTheLatestAndANewInstanceBuildsIt) {
  ANPR_REQUIRE_APACHE_KAFKA();
  TempDir tmp("reflists-kafka", TempDir::Keep::on_failure);
  const fs::path dir = tmp.path();
  TestBroker broker(dir, current_test_name(), 1);
  ASSERT_FALSE(broker.bootstrap().empty());
  // The reflists topic as `anpr topics apply` makes it (compacted, one partition), with segments
  // that roll after a second, any share of superseded records worth cleaning, and tombstones kept
  // a second after cleaning: the log cleaner compacts it within seconds.
  const std::string topic = broker.topic("compacting.reflists");
  broker.create_topic(topic, 1, true,
                      {{"segment.ms", "1000"},
                       {"min.cleanable.dirty.ratio", "0.01"},
                       {"delete.retention.ms", "1000"}});

  // Version 1 of the list: 20 plates. Version 2: the first 5 removed, the next 5 with another
  // reference, the other 10 unchanged, 3 new.
  const std::vector<std::string> plates = nl_plates(23, 31);
  const auto write_list = [&](const std::string& name, const std::string& rows) {
    write_file(dir / (name + ".csv"), "plate,plate_country,reference\n" + rows);
    write_file(dir / (name + ".toml"),
               "id = \"shared\"\nowner_country = \"NL\"\ncategory = \"stolen_vehicle\"\n");
  };
  std::string v1, v2;
  for (std::size_t i = 0; i < 20; ++i) v1 += plates[i] + ",NL,v1-" + std::to_string(i) + "\n";
  for (std::size_t i = 5; i < 23; ++i)
    v2 += plates[i] + ",NL," + (i < 10 || i >= 20 ? "v2-" : "v1-") + std::to_string(i) + "\n";
  write_list("v1", v1);
  write_list("v2", v2);
  // Another list, published again and again below: new records after the rolled segment.
  write_file(dir / "other.csv", "plate,plate_country,reference\n" + plates[0] + ",NL,other-0\n");
  write_file(dir / "other.toml",
             "id = \"other\"\nowner_country = \"NL\"\ncategory = \"stolen_vehicle\"\n");
  const auto publish = [&](const std::string& file) {
    const CmdRun r = run_anpr("lists publish " + (dir / file).string() + " --brokers " +
                                  broker.bootstrap() + " --topic " + topic +
                                  " --by olga --audit-log " + (dir / "pub-audit.jsonl").string(),
                              dir);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::size_t at = r.err.find(" version ");
    return at == std::string::npos ? std::string() : r.err.substr(at + 9, 16);
  };
  const std::string version1 = publish("v1.csv");
  ASSERT_EQ(version1.size(), 16u);
  const std::string version2 = publish("v2.csv");
  ASSERT_EQ(version2.size(), 16u);

  // The last record of each entry's key: a tombstone (a null value) for the 5 removed.
  std::map<std::string, std::size_t> key_of_plate;  // key -> index into plates
  for (std::size_t i = 0; i < plates.size(); ++i)
    key_of_plate[app::reflist_entry_key("shared", kNL, *normalize(plates[i]))] = i;
  {
    std::map<std::string, Record> last;
    for (const Record& r : records(broker.bootstrap(), topic)) last[r.key] = r;
    for (const auto& [key, i] : key_of_plate) {
      ASSERT_TRUE(last.count(key)) << key;
      EXPECT_EQ(last[key].tombstone, i < 5) << key << ": " << last[key].value;
    }
  }

  // The cleaner compacts only segments that have rolled: another list's publish, a second after
  // the last, rolls the segment of version 2. Until then each key of the list is there once per
  // version that wrote it.
  const auto compacted = [&](std::string* why) {
    std::map<std::string, std::vector<Record>> by_key;
    for (const Record& r : records(broker.bootstrap(), topic))
      if (r.key.starts_with("e/shared/") || r.key == "v/shared") by_key[r.key].push_back(r);
    for (const auto& [key, rs] : by_key)
      if (rs.size() > 1) {
        *why = key + " has " + std::to_string(rs.size()) + " records";
        return false;
      }
    return true;
  };
  std::string why;
  ASSERT_TRUE(within(120, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    publish("other.csv");
    return compacted(&why);
  }, 500)) << "the topic was not compacted: " << why;

  // Only the latest record of each key is left: version 2's entries and marker; of a removed
  // entry its tombstone or nothing (the cleaner drops tombstones delete.retention.ms after).
  std::map<std::string, Record> left;
  for (const Record& r : records(broker.bootstrap(), topic)) left[r.key] = r;
  for (const auto& [key, i] : key_of_plate) {
    if (i < 5) {
      EXPECT_TRUE(!left.count(key) || left[key].tombstone) << key << ": " << left[key].value;
      continue;
    }
    ASSERT_TRUE(left.count(key)) << key;
    const std::string ref = (i < 10 || i >= 20 ? "v2-" : "v1-") + std::to_string(i);
    EXPECT_NE(left[key].value.find("\"reference\":\"" + ref + "\""), std::string::npos)
        << key << ": " << left[key].value;
  }
  ASSERT_TRUE(left.count("v/shared"));
  EXPECT_NE(left["v/shared"].value.find("\"checksum\":\"" + version2), std::string::npos)
      << left["v/shared"].value;

  // A new instance follows the compacted topic: it has version 2 exactly, and matches by it.
  std::string topics = broker.topics_toml();
  const std::string ours = "reflists = \"" + broker.topic("anpr.reflists") + "\"";
  topics.replace(topics.find(ours), ours.size(), "reflists = \"" + topic + "\"");
  write_file(dir / "cameras.csv", kCameras);
  write_file(dir / "anpr.toml",
             "[kafka]\nbrokers = \"" + broker.bootstrap() + "\"\ngroup_id = \"" +
                 broker.group("anpr-compacted") + "\"\n" + topics +
                 "[cameras]\nregistry = \"cameras.csv\"\n[lists]\nfollow_topic = true\n"
                 "[suppression]\nwindow_s = 0\n[http]\nlisten = \"127.0.0.1:0\"\n"
                 "[http.tokens.olga]\nrole = \"operator\"\nsha256 = \"" +
                 http::sha256_hex("op-token") + "\"\n");
  Child run({kAnpr, "run", "--config", (dir / "anpr.toml").string()}, false,
            (dir / "run.err").string());
  ASSERT_TRUE(within(60, [&] { return logged_port(dir / "run.err") > 0; }, 500))
      << slurp(dir / "run.err");
  httplib::Client api("127.0.0.1", logged_port(dir / "run.err"));
  std::string list;
  ASSERT_TRUE(within(60, [&] {
    auto r = api.Get("/api/v1/lists/shared", {{"Authorization", "Bearer op-token"}});
    list = r ? r->body : "";
    return r && r->status == 200;
  }, 500)) << list << slurp(dir / "run.err");
  simdjson::dom::parser parser;
  simdjson::dom::element d;
  ASSERT_FALSE(parser.parse(list).get(d)) << list;
  EXPECT_EQ(std::string_view(d["version"]), version2) << list;
  EXPECT_EQ(uint64_t(d["entries"]), 18u) << list;

  // Reads of a removed plate (first), of a re-referenced, an unchanged and a new one.
  const TimestampMs now = wall_ms();
  const std::vector<std::pair<std::string, std::size_t>> reads = {
      {"r-removed", 2}, {"r-changed", 7}, {"r-same", 12}, {"r-new", 21}};
  std::string lines;
  for (std::size_t k = 0; k < reads.size(); ++k)
    lines += "nl-cam-1\t" +
             read_json(reads[k].first, plates[reads[k].second], now - 1000 + int64_t(k)) + "\n";
  write_file(dir / "reads.txt", lines);
  ASSERT_EQ(kcat_produce(broker.bootstrap(), broker.topic("anpr.reads"), dir / "reads.txt"), "");
  // Every read done (its offset committed), then its hits are out.
  ASSERT_TRUE(within(60, [&] {
    const auto c = committed_offsets(broker.bootstrap(), broker.group("anpr-compacted"),
                                     broker.topic("anpr.reads"), 1);
    return c.count(0) && c.at(0) == int64_t(reads.size());
  }, 500)) << slurp(dir / "run.err");
  const std::string hits = shell("kcat -C -b " + broker.bootstrap() + " -t " +
                                 broker.topic("anpr.hits") +
                                 " -o beginning -e -q -f '%s\\n' 2>/dev/null");
  EXPECT_EQ(topic_event_ids(broker.bootstrap(), broker.topic("anpr.hits")),
            (std::multiset<std::string>{"r-changed", "r-new", "r-same"}))
      << hits;
  EXPECT_NE(hits.find("\"reference\":\"v2-7\""), std::string::npos) << hits;
  EXPECT_NE(hits.find("\"reference\":\"v1-12\""), std::string::npos) << hits;
  EXPECT_NE(hits.find("\"reference\":\"v2-21\""), std::string::npos) << hits;
  const std::string err = slurp(dir / "run.err");
  EXPECT_NE(err.find("reference lists complete from the reflists topic"), std::string::npos)
      << err;
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(60'000), 0) << slurp(dir / "run.err");
}

// The configuration of `topics` (TOPIC -> {NAME -> VALUE}) as the cluster describes it.
std::map<std::string, std::map<std::string, std::string>> describe_configs(
    const std::string& bootstrap, const std::vector<std::string>& topics) {
  kafka::Handle rk = kafka::make_client(
      RD_KAFKA_PRODUCER, kafka::make_conf({{"bootstrap.servers", bootstrap}, {"log_level", "0"}}));
  std::vector<rd_kafka_ConfigResource_t*> res;
  for (const std::string& t : topics)
    res.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t.c_str()));
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> q(
      rd_kafka_queue_new(rk.get()), &rd_kafka_queue_destroy);
  rd_kafka_DescribeConfigs(rk.get(), res.data(), res.size(), nullptr, q.get());
  std::map<std::string, std::map<std::string, std::string>> out;
  if (rd_kafka_event_t* ev = rd_kafka_queue_poll(q.get(), 30'000)) {
    std::size_t n = 0;
    const rd_kafka_ConfigResource_t** r = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(ev), &n);
    for (std::size_t i = 0; r && i < n; ++i) {
      if (rd_kafka_ConfigResource_error(r[i])) continue;
      std::size_t m = 0;
      const rd_kafka_ConfigEntry_t** e = rd_kafka_ConfigResource_configs(r[i], &m);
      auto& to = out[rd_kafka_ConfigResource_name(r[i])];
      for (std::size_t j = 0; j < m; ++j) {
        const char* v = rd_kafka_ConfigEntry_value(e[j]);
        to[rd_kafka_ConfigEntry_name(e[j])] = v ? v : "";
      }
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_ConfigResource_destroy_array(res.data(), res.size());
  return out;
}

// The number of partitions of `topic` (-1: unknown).
int partitions_of(const std::string& bootstrap, const std::string& topic) {
  kafka::Handle rk = kafka::make_client(
      RD_KAFKA_PRODUCER, kafka::make_conf({{"bootstrap.servers", bootstrap}, {"log_level", "0"}}));
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int n = -1;
  if (rd_kafka_metadata(rk.get(), 0, t, &md, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
    n = md->topics[0].partition_cnt;
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  return n;
}

TEST(TopicsKafka, ApplyCreatesAndAltersTheTopicsAndTheirRetentionTakesEffect) {
  ANPR_REQUIRE_APACHE_KAFKA();
  TempDir tmp("topics-kafka", TempDir::Keep::on_failure);
  const fs::path dir = tmp.path();
  // The product's topics exist (with the broker's default settings); the passages topics do not.
  TestBroker broker(dir, current_test_name(), 1);
  ASSERT_FALSE(broker.bootstrap().empty());
  write_file(dir / "cameras.csv", kCameras);
  write_file(dir / "anpr.toml",
             "[kafka]\nbrokers = \"" + broker.bootstrap() + "\"\n" + broker.topics_toml() +
                 "[cameras]\nregistry = \"cameras.csv\"\n[retention]\nsink = \"kafka\"\n"
                 "topic_prefix = \"" + broker.topic("anpr.passages.") + "\"\n");
  for (const char* cc : {"nl", "be"}) broker.delete_at_end(broker.topic("anpr.passages.") + cc);

  // The plan: every topic with its settings.
  const CmdRun plan = run_anpr("topics plan --json --config " + (dir / "anpr.toml").string(), dir);
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  std::map<std::string, std::map<std::string, std::string>> want;
  std::map<std::string, int64_t> want_partitions;
  simdjson::dom::parser parser;
  simdjson::dom::element d;
  ASSERT_FALSE(parser.parse(plan.out).get(d)) << plan.out;
  for (auto t : d.get_array()) {
    const std::string name{std::string_view(t["topic"])};
    for (auto [k, v] : simdjson::dom::object(t["configs"]))
      want[name][std::string(k)] = std::string(std::string_view(v));
    int64_t p = 0;
    if (!t["partitions"].get(p)) want_partitions[name] = p;
  }
  const std::string reads = broker.topic("anpr.reads"), nl = broker.topic("anpr.passages.nl");
  ASSERT_TRUE(want.count(reads) && want.count(nl)) << plan.out;
  EXPECT_FALSE(want.count(broker.topic("anpr.passages.lu"))) << "LU keeps no passages";

  // Apply: the passages topics created, every other one altered; all set up.
  const CmdRun apply = run_anpr("topics apply --json --partitions 2 --replication 1 --config " +
                                    (dir / "anpr.toml").string(),
                                dir);
  EXPECT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  ASSERT_FALSE(parser.parse(apply.out).get(d)) << apply.out << apply.err;
  std::map<std::string, std::string> action;
  for (auto r : d.get_array()) {
    const std::string name{std::string_view(r["topic"])};
    action[name] = std::string(std::string_view(r["action"]));
    bool ok = false;
    EXPECT_FALSE(r["ok"].get(ok));
    EXPECT_TRUE(ok) << apply.out;
  }
  EXPECT_EQ(action.size(), want.size()) << apply.out;
  for (const auto& [name, configs] : want) {
    const bool passages = name.find("anpr.passages.") != std::string::npos;
    EXPECT_EQ(action[name], passages ? "created" : "altered") << name;
  }

  // The cluster has every planned setting (its brokers take a change from the controller a
  // moment after apply returns); the topics it created have the partitions asked for (the
  // reflists topic one).
  std::vector<std::string> names;
  for (const auto& [name, configs] : want) names.push_back(name);
  std::string differs;
  EXPECT_TRUE(within(60, [&] {
    const auto got = describe_configs(broker.bootstrap(), names);
    differs.clear();
    for (const auto& [name, configs] : want)
      for (const auto& [k, v] : configs) {
        const auto t = got.find(name);
        const std::string is = t == got.end() || !t->second.count(k) ? "?" : t->second.at(k);
        if (is != v) differs += name + " " + k + " = " + is + ", planned " + v + "\n";
      }
    return differs.empty();
  }, 500)) << differs;
  EXPECT_EQ(partitions_of(broker.bootstrap(), nl), 2);
  EXPECT_EQ(partitions_of(broker.bootstrap(), broker.topic("anpr.reflists")), 1);

  // The retention set takes effect. The reads topic keeps reads retention.ms (about 23 hours,
  // retention.input_hours = 24); the broker's default is 7 days. Reads captured 2 days ago,
  // then reads of now: the first of these rolls the segment (its first record is older than
  // segment.ms), and the broker's retention check deletes the old segment.
  const int64_t retention = std::stoll(want[reads]["retention.ms"]);
  ASSERT_LT(retention, 2 * kMsPerDay);
  const TimestampMs now = wall_ms();
  {
    std::atomic<int> delivered{0}, failed{0};
    kafka::Producer p({{"bootstrap.servers", broker.bootstrap()}, {"log_level", "3"}},
                      [&](rd_kafka_resp_err_t e, void*, const rd_kafka_message_t&) {
                        ++(e ? failed : delivered);
                      });
    for (int i = 0; i < 10; ++i)
      ASSERT_EQ(p.produce(reads, "nl-cam-1",
                          read_json("old-" + std::to_string(i), "12-ABC-3", now - 2 * kMsPerDay),
                          nullptr, 0, now - 2 * kMsPerDay),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(p.flush(10'000));
    for (int i = 0; i < 10; ++i)
      ASSERT_EQ(p.produce(reads, "nl-cam-1", read_json("new-" + std::to_string(i), "12-ABC-3", now),
                          nullptr, 0, now),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(p.flush(10'000));
    ASSERT_EQ(delivered.load(), 20) << failed.load() << " reads were refused";
  }
  std::multiset<std::string> left;
  EXPECT_TRUE(within(120, [&] {
    left = topic_event_ids(broker.bootstrap(), reads);
    return left.size() == 10;
  }, 500))
      << left.size() << " reads left; the old ones were not deleted";
  for (const std::string& id : left) EXPECT_EQ(id.rfind("new-", 0), 0u) << id;
}

// Two processors in one consumer group; the second joins while reads keep arriving.
TEST(RebalanceKafka, CommitOnRevokeIsAcceptedSoNoReadIsLostOrReadAgain) {
  ANPR_REQUIRE_APACHE_KAFKA();
  TempDir tmp("rebalance-kafka", TempDir::Keep::on_failure);
  const fs::path dir = tmp.path();
  TestBroker broker(dir, current_test_name(), 3);
  ASSERT_FALSE(broker.bootstrap().empty());
  const std::vector<std::string> listed = nl_plates(40, 7);
  std::string csv = "plate,plate_country,reference\n";
  for (std::size_t i = 0; i < listed.size(); ++i)
    csv += listed[i] + ",NL,ref-" + std::to_string(i) + "\n";
  write_file(dir / "nl.csv", csv);
  write_file(dir / "nl.toml",
             "id = \"nl-stolen\"\nowner_country = \"NL\"\nmatch_mode = \"exact\"\n"
             "category = \"stolen_vehicle\"\n");
  write_file(dir / "cameras.csv", kCameras);
  const std::string base =
      "[kafka]\nbrokers = \"" + broker.bootstrap() + "\"\ngroup_id = \"" +
      broker.group("anpr-rebalance") + "\"\n" + broker.topics_toml() +
      "[cameras]\nregistry = \"cameras.csv\"\n[lists]\nfiles = [\"nl.csv\"]\n"
      "[suppression]\nwindow_s = 0\n[pipeline]\nthreads = 2\n"
      "batch = 64\n[kafka.consumer]\n\"session.timeout.ms\" = 6000\n"
      "\"heartbeat.interval.ms\" = 1000\n";
  write_file(dir / "a.toml", base + "[state]\ndir = \"state-a\"\n");
  write_file(dir / "b.toml", base + "[state]\ndir = \"state-b\"\n");

  // The reads: every eighth one of a listed plate (a hit), under keys that reach every partition.
  // NL keeps passages: every read is finished only once its passage is in the retention store.
  const std::vector<std::string> other = nl_plates(200, 8);
  std::vector<std::string> lines;
  std::set<std::string> want;
  const TimestampMs now = wall_ms();
  for (int i = 0; i < 100'000; ++i) {
    const bool hit = i % 8 == 0;
    const std::string id = "r-" + std::to_string(i);
    if (hit) want.insert(id);
    const std::string& plate = hit ? listed[std::size_t(i) % listed.size()]
                                   : other[std::size_t(i) % other.size()];
    lines.push_back("key-" + std::to_string(i % 7) + "\t" +
                    read_json(id, plate, now - 600'000 + i));
  }
  std::atomic<std::size_t> sent{0};
  const auto produce = [&](std::size_t from, std::size_t to) {
    std::string s;
    for (std::size_t i = from; i < to; ++i) s += lines[i] + "\n";
    const fs::path f = dir / ("reads-" + std::to_string(from) + ".txt");
    write_file(f, s);
    EXPECT_EQ(kcat_produce(broker.bootstrap(), broker.topic("anpr.reads"), f), "");
    sent = to;
  };

  Child a({kAnpr, "run", "--config", (dir / "a.toml").string()}, false, (dir / "a.err").string());
  produce(0, 600);
  ASSERT_TRUE(within(60, [&] {
    return !topic_event_ids(broker.bootstrap(), broker.topic("anpr.hits")).empty();
  }, 500)) << slurp(dir / "a.err");
  // A backlog, and reads that keep arriving faster than one instance takes them while the second
  // joins and takes partitions: the first is busy when its partitions are revoked.
  produce(600, 30'000);
  std::atomic<bool> stop{false};
  std::thread feeder([&] {
    while (!stop.load() && sent.load() < lines.size()) {
      produce(sent.load(), std::min(lines.size(), sent.load() + 4000));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  Child b({kAnpr, "run", "--config", (dir / "b.toml").string()}, false, (dir / "b.err").string());
  const std::string assigned = "assigned " + broker.topic("anpr.reads") + " partitions [";
  const auto b_assigned = [&] {
    const std::string text = slurp(dir / "b.err");
    const std::size_t at = text.rfind(assigned);
    return at != std::string::npos && at + assigned.size() < text.size() &&
           text[at + assigned.size()] != ']';
  };
  const bool b_has_partitions = eventually(b_assigned);
  stop = true;
  feeder.join();
  ASSERT_TRUE(b_has_partitions) << "the second instance was never given partitions\n"
                                << slurp(dir / "b.err");
  if (sent.load() < lines.size()) produce(sent.load(), lines.size());

  // Every read done by one of them: the group's offsets at the ends of the partitions.
  ASSERT_TRUE(within(180, [&] {
    int64_t sum = 0;
    for (auto [p, o] : committed_offsets(broker.bootstrap(), broker.group("anpr-rebalance"),
                                         broker.topic("anpr.reads"), 3))
      sum += std::max<int64_t>(o, 0);
    return sum == int64_t(lines.size());
  }, 500)) << slurp(dir / "a.err") << slurp(dir / "b.err");
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  EXPECT_EQ(a.wait(60'000), 0) << slurp(dir / "a.err");
  EXPECT_EQ(b.wait(60'000), 0) << slurp(dir / "b.err");

  // The first instance gave up partitions and committed what it had done: the broker took the
  // commit (no warning), and the partitions' next owner went on from there.
  const std::string a_log = slurp(dir / "a.err");
  const std::string revoked = "revoked " + broker.topic("anpr.reads") + " partitions [";
  bool gave_up = false;
  for (std::size_t at = a_log.find(revoked); at != std::string::npos && !gave_up;
       at = a_log.find(revoked, at + 1))
    gave_up = a_log[at + revoked.size()] != ']';
  EXPECT_TRUE(gave_up) << "the first instance never gave up partitions\n" << a_log;
  EXPECT_EQ(a_log.find("commit on revoke failed"), std::string::npos) << a_log;
  EXPECT_EQ(slurp(dir / "b.err").find("commit on revoke failed"), std::string::npos);
  const std::multiset<std::string> hits =
      topic_event_ids(broker.bootstrap(), broker.topic("anpr.hits"));
  EXPECT_EQ(std::set<std::string>(hits.begin(), hits.end()), want) << "hits were lost";
  std::vector<std::string> again;
  for (const std::string& id : want)
    if (hits.count(id) > 1) again.push_back(id);
  EXPECT_TRUE(again.empty()) << again.size() << " reads were matched again by their partition's "
                             << "next owner, e.g. " << again.front();
  // Both did some of the work.
  for (const char* log : {"a.err", "b.err"}) {
    const std::string text = slurp(dir / log);
    const std::size_t at = text.rfind("anpr run: ");
    ASSERT_NE(at, std::string::npos) << log;
    EXPECT_GT(std::atol(text.c_str() + at + 10), 0) << log << ": " << text.substr(at);
  }
}

}  // namespace
}  // namespace anpr::testing
