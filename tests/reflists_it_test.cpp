// Distribution of reference lists through the reflists topic (reflists/reflists.h), on the embedded
// broker and Apache Kafka (tests/test_broker.h): followers in this process (a late one included),
// and two `anpr run` instances in one consumer group that both apply what `anpr lists publish`
// writes. Volumes stay far below the embedded broker's 5 MiB per partition. What compaction does
// to the topic: tests/reflists_kafka_test.cpp.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>

#include "reflists/reflists.h"
#include "config/settings.h"
#include "base/json_writer.h"
#include "http/audit.h"
#include "http/auth.h"
#include "kafka/client.h"
#include "lists/registry.h"
#include "match/plate.h"
#include "tests/index_refs.h"
#include "match/time.h"
#include "tests/process.h"
#include "tests/test_broker.h"

namespace anpr::app {
namespace {

namespace fs = std::filesystem;
using anpr::testing::Child;
using anpr::testing::shell;
using anpr::testing::TestBroker;
using Clock = std::chrono::steady_clock;

using anpr::testing::kAnpr;

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("anpr-reflists-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A list of plates P<first>..P<first+n-1> (any country) with references TAG-i.
void write_list(const fs::path& csv, std::size_t first, std::size_t n, const std::string& tag) {
  std::string s = "plate,plate_country,reference,note\n";
  for (std::size_t i = first; i < first + n; ++i)
    s += "P" + std::to_string(100000 + i) + ",," + tag + "-" + std::to_string(i) + ",note " +
         std::to_string(i) + "\n";
  // Two plates with a country, one of them with a validity.
  s += "GB-123-X,NL," + tag + "-nl,\n";
  write(csv, s);
  fs::path side = csv;
  side.replace_extension(".toml");
  write(side, "id = \"shared\"\nowner_country = \"NL\"\ncategory = \"stolen_vehicle\"\n");
}

// The audit records of `action` in `file`, as raw lines.
std::vector<std::string> audit_lines(const fs::path& file, std::string_view action) {
  std::istringstream in(slurp(file));
  std::vector<std::string> out;
  const std::string tag = "\"action\":\"" + std::string(action) + "\"";
  for (std::string l; std::getline(in, l);)
    if (l.find(tag) != std::string::npos) out.push_back(l);
  return out;
}

template <class F>
bool wait_for(F&& done, int seconds = 30) {
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

struct Instance {
  LiveIndex live;
  std::ostringstream log;
  std::unique_ptr<lists::Registry> registry;
  std::unique_ptr<http::AuditLog> audit;
  std::unique_ptr<ReflistFollower> follower;

  Instance(const std::string& bootstrap, const std::string& topic, const fs::path& state) {
    lists::Policy p;
    p.countries = config::default_country_policies();
    registry = std::make_unique<lists::Registry>(live, p, state);
    audit = std::make_unique<http::AuditLog>(state / "audit.jsonl");
    follower = std::make_unique<ReflistFollower>(
        kafka::Properties{{"bootstrap.servers", bootstrap}, {"log_level", "3"}}, topic, *registry,
        log, audit.get());
    follower->start();
  }
  std::vector<std::string> refs(std::string_view plate, CountryCode c = {}) {
    return testing::matched_references(live, plate, lists::system_now(), c);
  }
  std::size_t entries() { return live.read()->entry_count(); }
};

TEST(Reflists, FollowersApplyEveryPublishedVersionAndALateOneBuildsTheLatest) {
  const fs::path dir = fresh_dir("inproc");
  TestBroker broker(dir, anpr::testing::current_test_name(), 1);
  ASSERT_FALSE(broker.bootstrap().empty());
  const std::string topic = broker.topic("anpr.reflists");
  const kafka::Properties props{{"bootstrap.servers", broker.bootstrap()}, {"log_level", "3"}};
  lists::Policy policy;
  policy.countries = config::default_country_policies();

  Instance a(broker.bootstrap(), topic, dir / "a"), b(broker.bootstrap(), topic, dir / "b");
  ASSERT_TRUE(wait_for([&] { return a.follower->caught_up() && b.follower->caught_up(); }))
      << a.log.str();
  EXPECT_EQ(a.entries(), 0u);

  http::AuditLog pub_audit(dir / "publisher" / "audit.jsonl");
  write_list(dir / "v1.csv", 0, 2000, "v1");
  PublishResult r1 =
      publish_list(props, topic, dir / "v1.csv", policy, "olga", &pub_audit);
  ASSERT_TRUE(r1.published) << r1.error;
  EXPECT_EQ(r1.entries, 2001u);
  EXPECT_EQ(r1.tombstones, 0u);
  ASSERT_TRUE(wait_for([&] { return a.follower->applied() == 1 && b.follower->applied() == 1; }))
      << a.log.str() << b.log.str();
  for (Instance* i : {&a, &b}) {
    EXPECT_EQ(i->entries(), 2001u);
    EXPECT_EQ(i->refs("P100005"), std::vector<std::string>{"v1-5"});
    EXPECT_EQ(i->refs("GB123X", kNL), std::vector<std::string>{"v1-nl"});
    auto v = i->registry->show("shared");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->current.kind, "topic");
    EXPECT_EQ(v->current.who, "olga");
    EXPECT_EQ(v->meta->version, r1.checksum);
  }

  // Version 2: the first 500 plates gone (tombstones), 300 new ones, the rest re-tagged.
  write_list(dir / "v2.csv", 500, 1800, "v2");
  PublishResult r2 =
      publish_list(props, topic, dir / "v2.csv", policy, "olga", &pub_audit);
  ASSERT_TRUE(r2.published) << r2.error;
  EXPECT_EQ(r2.tombstones, 500u);
  ASSERT_TRUE(wait_for([&] { return a.follower->applied() == 2 && b.follower->applied() == 2; }));
  for (Instance* i : {&a, &b}) {
    EXPECT_EQ(i->entries(), 1801u);
    EXPECT_TRUE(i->refs("P100005").empty());
    EXPECT_EQ(i->refs("P102200"), std::vector<std::string>{"v2-2200"});
    EXPECT_EQ(i->refs("P100600"), std::vector<std::string>{"v2-600"});
    EXPECT_EQ(i->registry->show("shared")->meta->version, r2.checksum);
  }

  // A refused file publishes nothing.
  write(dir / "bad.csv", "plate,reference\n!!,x\nP1,y\n");
  write(dir / "bad.toml", "id = \"shared\"\nowner_country = \"NL\"\ncategory = \"suspect\"\n");
  PublishResult bad =
      publish_list(props, topic, dir / "bad.csv", policy, "olga", &pub_audit);
  EXPECT_FALSE(bad.published);
  EXPECT_TRUE(bad.report.over_threshold);

  // Every publish is audited: its intent, then who published which version with how many
  // entries, or why nothing was published.
  const fs::path pub_log = dir / "publisher" / "audit.jsonl";
  EXPECT_EQ(audit_lines(pub_log, "list.publish.requested").size(), 3u) << slurp(pub_log);
  const auto published = audit_lines(pub_log, "list.publish");
  ASSERT_EQ(published.size(), 3u) << slurp(pub_log);
  for (const auto& [line, sum, tomb] : {std::tuple{published[0], r1.checksum, 0},
                                        std::tuple{published[1], r2.checksum, 500}}) {
    EXPECT_NE(line.find(R"("who":"olga","role":"publisher")"), std::string::npos) << line;
    EXPECT_NE(line.find(R"("list_id":"shared","topic":")" + topic + R"(","outcome":"published")"),
              std::string::npos)
        << line;
    EXPECT_NE(line.find("\"checksum\":\"" + sum + "\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"tombstones\":" + std::to_string(tomb)), std::string::npos) << line;
  }
  EXPECT_NE(published[0].find(R"("entries":2001,"written":2001)"), std::string::npos)
      << published[0];
  EXPECT_NE(published[1].find(R"("entries":1801,"written":1801)"), std::string::npos)
      << published[1];
  EXPECT_NE(published[2].find(R"("outcome":"refused","detail":"too many rows rejected)"),
            std::string::npos)
      << published[2];
  for (const std::string& l : audit_lines(pub_log, "list.publish"))
    EXPECT_EQ(l.find("P100"), std::string::npos) << "a plate in the audit record: " << l;
  // And every version a follower applied.
  const auto applied = audit_lines(dir / "a" / "audit.jsonl", "list.apply_published");
  ASSERT_EQ(applied.size(), 2u) << slurp(dir / "a" / "audit.jsonl");
  EXPECT_NE(applied[1].find("\"outcome\":\"applied\""), std::string::npos) << applied[1];
  EXPECT_NE(applied[1].find("\"checksum\":\"" + r2.checksum + "\""), std::string::npos)
      << applied[1];

  // An instance started now reads the whole topic and builds version 2 only, once.
  Instance late(broker.bootstrap(), topic, dir / "late");
  ASSERT_TRUE(wait_for([&] { return late.follower->caught_up(); })) << late.log.str();
  EXPECT_EQ(late.follower->applied(), 1u);
  EXPECT_EQ(late.entries(), 1801u);
  EXPECT_EQ(late.refs("P100600"), std::vector<std::string>{"v2-600"});
  EXPECT_EQ(late.registry->show("shared")->meta->version, r2.checksum);
  EXPECT_EQ(a.follower->applied(), 2u) << "a refused publish reached a follower";

  // Malformed records are skipped; the following stays alive.
  {
    kafka::Producer p(props, [](rd_kafka_resp_err_t, void*, const rd_kafka_message_t&) {});
    p.produce(topic, "e/shared/-/P1", "{not json", nullptr, 0);
    p.produce(topic, "v/shared", "[]", nullptr, 0);
    p.produce(topic, "garbage", "x", nullptr, 0);
    ASSERT_TRUE(p.flush(10'000));
  }
  write_list(dir / "v3.csv", 0, 10, "v3");
  PublishResult r3 = publish_list(props, topic, dir / "v3.csv", policy, "olga");
  ASSERT_TRUE(r3.published) << r3.error;
  ASSERT_TRUE(wait_for([&] { return a.follower->applied() == 3; })) << a.log.str();
  EXPECT_EQ(a.entries(), 11u);

  // No publish without its record: when the audit log cannot be written (a full disk), nothing
  // reaches the topic.
  {
    kafka::Producer probe(props, [](rd_kafka_resp_err_t, void*, const rd_kafka_message_t&) {});
    const auto end_offset = [&] {
      int64_t lo = 0, hi = -1;
      EXPECT_EQ(rd_kafka_query_watermark_offsets(probe.get(), topic.c_str(), 0, &lo, &hi, 5000),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      return hi;
    };
    const int64_t before = end_offset();
    http::AuditLog full("/dev/full");
    EXPECT_THROW(publish_list(props, topic, dir / "v2.csv", policy, "olga", &full),
                 std::runtime_error);
    EXPECT_EQ(end_offset(), before) << "records were published without an audit record";
  }
  a.follower->stop();
  b.follower->stop();
  late.follower->stop();
}

// Two processors in one consumer group share the reads; each reads the whole reflists topic.
TEST(Reflists, TwoProcessorInstancesBothApplyAPublishedUpdate) {
  const fs::path dir = fresh_dir("two");
  TestBroker broker(dir, anpr::testing::current_test_name(), 2);
  const std::string bootstrap = broker.bootstrap();
  ASSERT_FALSE(bootstrap.empty());
  write(dir / "cameras.csv", "camera_id,country,site,lat,lon,control_room\n"
                             "nl-cam-1,NL,Test site,52.1,5.0,NL-MIDDEN\n");
  const std::string base =
      "[kafka]\nbrokers = \"" + bootstrap + "\"\ngroup_id = \"" + broker.group("anpr-reflists-it") +
      "\"\n" + broker.topics_toml() + "[cameras]\nregistry = \"cameras.csv\"\n"
      "[lists]\nfollow_topic = true\n[http]\nlisten = \"127.0.0.1:0\"\n"
      "[http.tokens.olga]\nrole = \"operator\"\nsha256 = \"" +
      http::sha256_hex("op-token") +
      "\"\n[kafka.consumer]\n\"session.timeout.ms\" = 6000\n\"heartbeat.interval.ms\" = 1000\n";
  write(dir / "a.toml", base + "[state]\ndir = \"state-a\"\n");
  write(dir / "b.toml", base + "[state]\ndir = \"state-b\"\n");
  Child a({kAnpr, "run", "--config", (dir / "a.toml").string()}, false, (dir / "a.err").string());
  Child b({kAnpr, "run", "--config", (dir / "b.toml").string()}, false, (dir / "b.err").string());
  const auto port_of = [&](const char* log) {
    int port = 0;
    wait_for([&] {
      const std::string s = slurp(dir / log);
      const auto at = s.find(" on port ");
      if (at != std::string::npos) port = std::atoi(s.c_str() + at + 9);
      return port > 0;
    });
    return port;
  };
  const int pa = port_of("a.err"), pb = port_of("b.err");
  ASSERT_GT(pa, 0) << slurp(dir / "a.err");
  ASSERT_GT(pb, 0) << slurp(dir / "b.err");

  // What an instance's list API says of the list: its version and entries ("" while absent).
  const auto state_of = [](int port) -> std::pair<std::string, uint64_t> {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/api/v1/lists/shared", {{"Authorization", "Bearer op-token"}});
    if (!r || r->status != 200) return {"", 0};
    simdjson::dom::parser p;
    simdjson::dom::element d;
    std::string_view v;
    uint64_t n = 0;
    if (p.parse(r->body).get(d) || d["version"].get_string().get(v) || d["entries"].get_uint64().get(n))
      return {"", 0};
    return {std::string(v), n};
  };
  const auto publish = [&](const std::string& file) {
    const std::string cmd = kAnpr + " lists publish " + (dir / file).string() + " --brokers " +
                            bootstrap + " --topic " + broker.topic("anpr.reflists") +
                            " --by olga --audit-log " +
                            (dir / "pub-audit.jsonl").string() + " --json >" +
                            (dir / "pub.out").string() +
                            " 2>" + (dir / "pub.err").string();
    const int status = std::system(cmd.c_str());
    EXPECT_EQ(WEXITSTATUS(status), 0) << slurp(dir / "pub.err");
    const std::string err = slurp(dir / "pub.err");
    const auto at = err.find(" version ");
    return at == std::string::npos ? std::string() : err.substr(at + 9, 16);
  };

  write_list(dir / "v1.csv", 0, 3000, "v1");
  const std::string v1 = publish("v1.csv");
  ASSERT_EQ(v1.size(), 16u) << slurp(dir / "pub.err");
  auto t0 = Clock::now();
  ASSERT_TRUE(wait_for([&] {
    return state_of(pa) == std::pair{v1, uint64_t{3001}} &&
           state_of(pb) == std::pair{v1, uint64_t{3001}};
  })) << slurp(dir / "a.err") << slurp(dir / "b.err");

  write_list(dir / "v2.csv", 1000, 2500, "v2");
  const std::string v2 = publish("v2.csv");
  t0 = Clock::now();
  ASSERT_TRUE(wait_for([&] {
    return state_of(pa) == std::pair{v2, uint64_t{2501}} &&
           state_of(pb) == std::pair{v2, uint64_t{2501}};
  })) << slurp(dir / "a.err") << slurp(dir / "b.err");
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  std::printf("both instances applied the published update %lld ms after publish returned\n",
              static_cast<long long>(ms));

  // The publishes and both instances' applications are audited (the instances in the audit log
  // of their state.dir, with the API's records).
  const auto pub = audit_lines(dir / "pub-audit.jsonl", "list.publish");
  ASSERT_EQ(pub.size(), 2u) << slurp(dir / "pub-audit.jsonl");
  EXPECT_NE(pub[1].find("\"outcome\":\"published\""), std::string::npos) << pub[1];
  EXPECT_NE(pub[1].find("\"entries\":2501"), std::string::npos) << pub[1];
  for (const char* state : {"state-a", "state-b"}) {
    const auto got = audit_lines(dir / state / "audit.jsonl", "list.apply_published");
    ASSERT_EQ(got.size(), 2u) << slurp(dir / state / "audit.jsonl");
    EXPECT_NE(got[1].find("\"who\":\"olga\",\"role\":\"publisher\""), std::string::npos)
        << got[1];
    EXPECT_NE(got[1].find("\"outcome\":\"applied\""), std::string::npos) << got[1];
    EXPECT_NE(got[1].find("\"entries\":2501"), std::string::npos) << got[1];
  }

  // Changes through the API are refused on instances that follow the topic.
  httplib::Client c("127.0.0.1", pa);
  auto r = c.Delete("/api/v1/lists/shared", {{"Authorization", "Bearer op-token"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(state_of(pa).first, v2);
}

// `anpr run` with lists.follow_topic consumes reads only once the reflists topic has been read to
// its end. The list is on the topic, but the topic's partition has no leader when the processor
// starts (nobody can read it), and reads that match only that list wait on the reads topic: a
// processor that consumed before its follower caught up would take those reads while it holds
// no list, and the very first read would never give its hit. On the embedded broker only: it
// runs in this process, so the test can take the partition's leader away.
TEST(ReflistsLeaderless, RunConsumesReadsOnlyAfterTheReflistsTopicHasBeenReadToItsEnd) {
  const fs::path dir = fresh_dir("order");
  kafka::EmbeddedBroker broker;  // in this process, so the test can take the partition's leader
  for (const char* t : {"anpr.reads", "anpr.hits", "anpr.deadletter", "anpr.reflists"})
    broker.create_topic(t, 1);
  const kafka::Properties props{{"bootstrap.servers", broker.bootstrap()}, {"log_level", "3"}};
  write(dir / "cameras.csv", "camera_id,country,site,lat,lon,control_room\n"
                             "nl-cam-1,NL,Test site,52.1,5.0,NL-MIDDEN\n");
  write(dir / "anpr.toml",
        "[kafka]\nbrokers = \"" + broker.bootstrap() +
            "\"\ngroup_id = \"anpr-reflists-order\"\n[cameras]\nregistry = \"cameras.csv\"\n"
            "[lists]\nfollow_topic = true\n[suppression]\nwindow_s = 0\n"
            "[kafka.consumer]\n\"session.timeout.ms\" = 6000\n\"heartbeat.interval.ms\" = 1000\n");

  // The list: one entry.
  write(dir / "late.csv", "plate,plate_country,reference\nGB-123-X,NL,late-1\n");
  write(dir / "late.toml", "id = \"late\"\nowner_country = \"NL\"\ncategory = \"stolen_vehicle\"\n");
  lists::Policy policy;
  policy.countries = config::default_country_policies();
  http::AuditLog pub_audit(dir / "publisher" / "audit.jsonl");
  PublishResult pub =
      publish_list(props, "anpr.reflists", dir / "late.csv", policy, "olga", &pub_audit);
  ASSERT_TRUE(pub.published) << pub.error;

  // The reads: the listed plate first, then others, then the listed plate again.
  const TimestampMs now = lists::system_now();
  {
    kafka::Producer p(props, [](rd_kafka_resp_err_t, void*, const rd_kafka_message_t&) {});
    const std::vector<std::string> plates = {"GB-123-X", "XX-999-Y", "ZZ-111-A", "GB-123-X"};
    for (std::size_t i = 0; i < plates.size(); ++i) {
      std::string json;
      JsonWriter w(json);
      w.begin_object();
      w.field("event_id", "o-" + std::to_string(i));
      w.field("camera_id", "nl-cam-1");
      w.field("ts", format_rfc3339(now + static_cast<TimestampMs>(i)));
      w.field("plate", plates[i]);
      w.field("plate_country", "NL");
      w.end_object();
      ASSERT_EQ(p.produce("anpr.reads", "nl-cam-1", json), RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_TRUE(p.flush(10'000));
  }

  broker.set_leader("anpr.reflists", 0, -1);
  Child run({kAnpr, "run", "--config", (dir / "anpr.toml").string()}, false,
            (dir / "run.err").string());
  ASSERT_TRUE(wait_for([&] {
    return slurp(dir / "run.err").find("waiting until the reflists topic has been read to its end") !=
           std::string::npos;
  })) << slurp(dir / "run.err");
  // Long enough for a processor that did not wait to join its group and take the reads (the
  // embedded broker assigns within a few seconds); this one must not even take partitions.
  EXPECT_FALSE(wait_for(
      [&] { return slurp(dir / "run.err").find("assigned anpr.reads") != std::string::npos; }, 12))
      << "the reads were consumed before the reflists topic was read: " << slurp(dir / "run.err");
  EXPECT_EQ(slurp(dir / "run.err").find("reference lists complete"), std::string::npos)
      << slurp(dir / "run.err");

  // The topic can be read again.
  broker.set_leader("anpr.reflists", 0, 1);

  // Both listed reads give their hit, the very first one included.
  std::string hits;
  const bool both = wait_for(
      [&] {
        hits = shell("kcat -C -b " + broker.bootstrap() +
                     " -t anpr.hits -o beginning -e -q -f '%s\\n' 2>/dev/null");
        return hits.find("\"o-0\"") != std::string::npos &&
               hits.find("\"o-3\"") != std::string::npos;
      },
      60);
  EXPECT_TRUE(both) << "hits: " << hits << "\n" << slurp(dir / "run.err");
  EXPECT_NE(hits.find("\"reference\":\"late-1\""), std::string::npos) << hits;
  EXPECT_EQ(hits.find("\"o-1\""), std::string::npos) << hits;

  const std::string err = slurp(dir / "run.err");
  const auto complete = err.find("reference lists complete from the reflists topic");
  const auto assigned = err.find("assigned anpr.reads");
  ASSERT_NE(complete, std::string::npos) << err;
  ASSERT_NE(assigned, std::string::npos) << err;
  EXPECT_LT(complete, assigned) << err;
  EXPECT_EQ(err.find("GB123X"), std::string::npos) << "a plate in the log";
  EXPECT_EQ(err.find("GB-123-X"), std::string::npos) << "a plate in the log";

  // Without an HTTP server, the follower still audits what it applies (state.dir/audit.jsonl).
  const auto applied = audit_lines(dir / "state" / "audit.jsonl", "list.apply_published");
  ASSERT_EQ(applied.size(), 1u) << slurp(dir / "state" / "audit.jsonl");
  EXPECT_NE(applied[0].find(R"("outcome":"applied")"), std::string::npos) << applied[0];
  EXPECT_NE(applied[0].find("\"checksum\":\"" + pub.checksum + "\""), std::string::npos)
      << applied[0];

  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(60'000), 0) << slurp(dir / "run.err");
}

}  // namespace
}  // namespace anpr::app
