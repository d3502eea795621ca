// Distribution of reference lists through the reflists topic (app/reflists.h) over the embedded
// broker: followers in this process (a late one included), and two `anpr run` instances in one
// consumer group that both apply what `anpr lists publish` writes. Volumes stay far below the
// embedded broker's 5 MiB per partition.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "app/reflists.h"
#include "config/settings.h"
#include "http/auth.h"
#include "kafka/client.h"
#include "lists/registry.h"
#include "match/plate.h"
#include "tests/process.h"

namespace anpr::app {
namespace {

namespace fs = std::filesystem;
using anpr::testing::Child;
using Clock = std::chrono::steady_clock;

const std::string kAnpr = std::string(ANPR_BINARY_DIR) + "/app/anpr";

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
  std::unique_ptr<ReflistFollower> follower;

  Instance(const std::string& bootstrap, const fs::path& state) {
    lists::Policy p;
    p.countries = config::default_country_policies();
    registry = std::make_unique<lists::Registry>(live, p, state);
    follower = std::make_unique<ReflistFollower>(
        kafka::Properties{{"bootstrap.servers", bootstrap}, {"log_level", "3"}}, "anpr.reflists",
        *registry, log);
    follower->start();
  }
  std::vector<std::string> refs(std::string_view plate, CountryCode c = {}) {
    auto r = live.read();
    Plate p = *Plate::from_normalized(plate);
    std::vector<IndexHit> hits;
    r->match(MatchQuery{c, lists::system_now(), std::span<const Plate>(&p, 1)}, hits);
    std::vector<std::string> out;
    for (const IndexHit& h : hits) out.emplace_back(r->entry_reference(h.entry));
    return out;
  }
  std::size_t entries() { return live.read()->entry_count(); }
};

TEST(Reflists, FollowersApplyEveryPublishedVersionAndALateOneBuildsTheLatest) {
  const fs::path dir = fresh_dir("inproc");
  kafka::EmbeddedBroker broker;
  broker.create_topic("anpr.reflists", 1);
  const kafka::Properties props{{"bootstrap.servers", broker.bootstrap()}, {"log_level", "3"}};
  lists::Policy policy;
  policy.countries = config::default_country_policies();

  Instance a(broker.bootstrap(), dir / "a"), b(broker.bootstrap(), dir / "b");
  ASSERT_TRUE(wait_for([&] { return a.follower->caught_up() && b.follower->caught_up(); }))
      << a.log.str();
  EXPECT_EQ(a.entries(), 0u);

  write_list(dir / "v1.csv", 0, 2000, "v1");
  PublishResult r1 = publish_list(props, "anpr.reflists", dir / "v1.csv", policy, "olga");
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
  PublishResult r2 = publish_list(props, "anpr.reflists", dir / "v2.csv", policy, "olga");
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
  PublishResult bad = publish_list(props, "anpr.reflists", dir / "bad.csv", policy, "olga");
  EXPECT_FALSE(bad.published);
  EXPECT_TRUE(bad.report.over_threshold);

  // An instance started now reads the whole topic and builds version 2 only, once.
  Instance late(broker.bootstrap(), dir / "late");
  ASSERT_TRUE(wait_for([&] { return late.follower->caught_up(); })) << late.log.str();
  EXPECT_EQ(late.follower->applied(), 1u);
  EXPECT_EQ(late.entries(), 1801u);
  EXPECT_EQ(late.refs("P100600"), std::vector<std::string>{"v2-600"});
  EXPECT_EQ(late.registry->show("shared")->meta->version, r2.checksum);
  EXPECT_EQ(a.follower->applied(), 2u) << "a refused publish reached a follower";

  // Malformed records are skipped; the following stays alive.
  {
    kafka::Producer p(props, [](rd_kafka_resp_err_t, void*, const rd_kafka_message_t&) {});
    p.produce("anpr.reflists", "e/shared/-/P1", "{not json", nullptr, 0);
    p.produce("anpr.reflists", "v/shared", "[]", nullptr, 0);
    p.produce("anpr.reflists", "garbage", "x", nullptr, 0);
    ASSERT_TRUE(p.flush(10'000));
  }
  write_list(dir / "v3.csv", 0, 10, "v3");
  PublishResult r3 = publish_list(props, "anpr.reflists", dir / "v3.csv", policy, "olga");
  ASSERT_TRUE(r3.published) << r3.error;
  ASSERT_TRUE(wait_for([&] { return a.follower->applied() == 3; })) << a.log.str();
  EXPECT_EQ(a.entries(), 11u);
  a.follower->stop();
  b.follower->stop();
  late.follower->stop();
}

// Two processors in one consumer group share the reads; each reads the whole reflists topic.
TEST(Reflists, TwoProcessorInstancesBothApplyAPublishedUpdate) {
  const fs::path dir = fresh_dir("two");
  Child broker({kAnpr, "broker", "--partitions", "2"}, true, (dir / "broker.err").string());
  const std::string bootstrap = broker.read_line(20'000);
  ASSERT_FALSE(bootstrap.empty());
  write(dir / "cameras.csv", "camera_id,country,site,lat,lon,control_room\n"
                             "nl-cam-1,NL,Test site,52.1,5.0,NL-MIDDEN\n");
  const std::string base =
      "[kafka]\nbrokers = \"" + bootstrap +
      "\"\ngroup_id = \"anpr-reflists-it\"\n[cameras]\nregistry = \"cameras.csv\"\n"
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
                            bootstrap + " --by olga --json >" + (dir / "pub.out").string() +
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

  // Changes through the API are refused on instances that follow the topic.
  httplib::Client c("127.0.0.1", pa);
  auto r = c.Delete("/api/v1/lists/shared", {{"Authorization", "Bearer op-token"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(state_of(pa).first, v2);
}

}  // namespace
}  // namespace anpr::app
