#include "config/settings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace anpr::config {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

constexpr const char* kName = "t.toml";
constexpr const char* kRegistry = "[cameras]\nregistry = \"cameras.csv\"\n";

Settings parse(const std::string& text) { return parse_settings(text, kName, "/cfg"); }

// The ConfigError message for `text`, or "" if it parsed. Any other exception fails the test.
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a ConfigError: " << e.what();
    return e.what();
  }
  return "";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint32_t bits(std::initializer_list<Category> cats) {
  uint32_t b = 0;
  for (Category c : cats) b |= uint32_t{1} << static_cast<unsigned>(c);
  return b;
}

CountryCode cc(const char* s) { return *CountryCode::parse(s); }

std::vector<std::string> codes(const std::vector<CountryCode>& v) {
  std::vector<std::string> out;
  for (CountryCode c : v) out.push_back(c.str());
  return out;
}

std::vector<std::string> countries_of(const Settings& s) {
  std::vector<std::string> out;
  for (const CountryPolicy& p : s.countries) out.push_back(p.country.str());
  return out;
}

// A temporary folder of this test, removed at the end.
class TempDir {
 public:
  TempDir() {
    path_ = fs::path(::testing::TempDir()) /
            ("settings_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// ---- defaults and good files ----

TEST(Settings, DefaultsWhenOnlyTheRegistryIsGiven) {
  const Settings s = parse(kRegistry);
  EXPECT_EQ(s.file, fs::path(kName));
  EXPECT_EQ(s.cameras, fs::path("/cfg/cameras.csv"));
  EXPECT_EQ(s.kafka.brokers, "localhost:9092");
  EXPECT_EQ(s.kafka.group_id, "anpr");
  EXPECT_TRUE(s.kafka.common.empty());
  EXPECT_TRUE(s.kafka.consumer.empty());
  EXPECT_TRUE(s.kafka.producer.empty());
  EXPECT_EQ(s.topics.reads, "anpr.reads");
  EXPECT_EQ(s.topics.hits, "anpr.hits");
  EXPECT_EQ(s.topics.deadletter, "anpr.deadletter");
  EXPECT_EQ(s.topics.route_prefix, "anpr.route.");
  EXPECT_TRUE(s.lists.empty());
  EXPECT_EQ(s.pipeline.threads, 0);
  EXPECT_EQ(s.pipeline.batch, 256u);
  EXPECT_EQ(s.pipeline.max_message_bytes, 1048576u);
  EXPECT_EQ(s.pipeline.deadletter_payload_bytes, 4096u);
  EXPECT_FALSE(s.pipeline.exactly_once);
  EXPECT_EQ(s.pipeline.commit_interval_ms, 100);
  EXPECT_EQ(s.kafka.transactional_id, "");
  EXPECT_EQ(s.suppression.window_ms, 300'000);
  EXPECT_TRUE(s.suppression.per_list_ms.empty());
  EXPECT_EQ(countries_of(s), (std::vector<std::string>{"NL", "BE", "LU"}));
}

TEST(Settings, DefaultCountryPoliciesFollowTheDesign) {
  using C = Category;
  const auto p = default_country_policies();
  ASSERT_EQ(p.size(), 3u);
  const uint32_t nl = bits({C::stolen_vehicle, C::stolen_plate, C::wanted_person, C::missing_person,
                            C::custodial_order, C::driving_ban, C::unpaid_fine, C::uninsured,
                            C::suspect, C::serious_crime, C::terrorism});
  EXPECT_EQ(p[0].country, kNL);
  EXPECT_EQ(codes(p[0].accepts), std::vector<std::string>{"BE"});
  EXPECT_EQ(p[0].categories, nl);
  EXPECT_EQ(p[1].country, kBE);
  EXPECT_EQ(codes(p[1].accepts), std::vector<std::string>{"NL"});
  EXPECT_EQ(p[1].categories, nl | bits({C::no_inspection, C::tax_debt}));
  EXPECT_EQ(p[2].country, kLU);
  EXPECT_TRUE(p[2].accepts.empty());
  EXPECT_EQ(p[2].categories, bits({C::terrorism, C::serious_crime, C::stolen_vehicle,
                                   C::stolen_plate, C::missing_person, C::wanted_person}));
}

TEST(Settings, EveryKeyGiven) {
  const Settings s = parse(R"(
[kafka]
brokers = "k1:9093,k2:9093"
group_id = "anpr-prod"
transactional_id = "anpr-prod-a"
[kafka.properties]
"security.protocol" = "SASL_SSL"
[kafka.consumer]
"fetch.wait.max.ms" = 50
[kafka.producer]
"linger.ms" = 5
[topics]
reads = "in"
hits = "out"
deadletter = "dead"
route_prefix = "x.route-"
[cameras]
registry = "/etc/anpr/cameras.csv"
[lists]
files = ["a.csv", "sub/b.CSV", "../c.csv", "/abs/d.csv"]
[pipeline]
threads = 8
batch = 65536
max_message_bytes = 67108864
deadletter_payload_bytes = 0
exactly_once = true
commit_interval_ms = 250
[suppression]
window_s = 0
[suppression.lists]
"nl-stolen" = 86400
[log]
level = "warn"
format = "json"
[countries.NL]
accepts = []
categories = ["terrorism"]
)");
  EXPECT_EQ(s.kafka.brokers, "k1:9093,k2:9093");
  EXPECT_EQ(s.kafka.group_id, "anpr-prod");
  EXPECT_EQ(s.kafka.common.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(s.kafka.consumer.at("fetch.wait.max.ms"), "50");
  EXPECT_EQ(s.kafka.producer.at("linger.ms"), "5");
  EXPECT_EQ(s.topics.reads, "in");
  EXPECT_EQ(s.topics.hits, "out");
  EXPECT_EQ(s.topics.deadletter, "dead");
  EXPECT_EQ(s.route_topic(kBE), "x.route-be");
  EXPECT_EQ(s.cameras, fs::path("/etc/anpr/cameras.csv"));
  EXPECT_EQ(s.lists,
            (std::vector<fs::path>{"/cfg/a.csv", "/cfg/sub/b.CSV", "/c.csv", "/abs/d.csv"}));
  EXPECT_EQ(s.pipeline.threads, 8);
  EXPECT_EQ(s.pipeline.batch, 65536u);
  EXPECT_EQ(s.pipeline.max_message_bytes, 64u << 20);
  EXPECT_EQ(s.pipeline.deadletter_payload_bytes, 0u);
  EXPECT_TRUE(s.pipeline.exactly_once);
  EXPECT_EQ(s.pipeline.commit_interval_ms, 250);
  EXPECT_EQ(s.kafka.transactional_id, "anpr-prod-a");
  EXPECT_EQ(s.suppression.window_ms, 0);
  EXPECT_EQ(s.suppression.per_list_ms.at("nl-stolen"), 86'400'000);
  EXPECT_EQ(s.log.level, "warn");
  EXPECT_EQ(s.log.format, "json");
  ASSERT_NE(s.policy(kNL), nullptr);
  EXPECT_TRUE(s.policy(kNL)->accepts.empty());
  EXPECT_EQ(s.policy(kNL)->categories, bits({Category::terrorism}));
}

TEST(Settings, ListPolicyAndReflistsTopic) {
  const Settings d = parse("[cameras]\nregistry = \"c.csv\"\n");
  EXPECT_EQ(d.list_policy.max_rejected_percent, 1.0);
  EXPECT_EQ(d.list_policy.keep_versions, 5u);
  EXPECT_FALSE(d.list_policy.follow_topic);
  EXPECT_EQ(d.topics.reflists, "anpr.reflists");
  const Settings s = parse(R"(
[cameras]
registry = "c.csv"
[topics]
reflists = "lists.compacted"
[lists]
max_rejected_percent = 2.5
keep_versions = 20
follow_topic = true
)");
  EXPECT_EQ(s.list_policy.max_rejected_percent, 2.5);
  EXPECT_EQ(s.list_policy.keep_versions, 20u);
  EXPECT_TRUE(s.list_policy.follow_topic);
  EXPECT_EQ(s.topics.reflists, "lists.compacted");
  EXPECT_EQ(parse("[cameras]\nregistry = \"c.csv\"\n[lists]\nmax_rejected_percent = 0\n")
                .list_policy.max_rejected_percent,
            0.0);
}

TEST(Settings, ImagesTable) {
  const Settings d = parse(R"(
[cameras]
registry = "c.csv"
)");
  EXPECT_TRUE(d.images.enabled);
  EXPECT_EQ(d.images.thumbnail_width, 240);
  const Settings s = parse(R"(
[cameras]
registry = "c.csv"
[images]
enabled = false
max_bytes = 2048
max_width = 640
max_height = 480
max_pixels = 300000
max_scans = 4
thumbnail_width = 320
thumbnail_quality = 60
overview_quality = 70
blur_faces = false
face_cascade = "cascades/face.xml"
)");
  EXPECT_FALSE(s.images.enabled);
  EXPECT_EQ(s.images.limits.max_bytes, 2048u);
  EXPECT_EQ(s.images.limits.max_width, 640u);
  EXPECT_EQ(s.images.limits.max_height, 480u);
  EXPECT_EQ(s.images.limits.max_pixels, 300000u);
  EXPECT_EQ(s.images.limits.max_scans, 4u);
  EXPECT_EQ(s.images.thumbnail_width, 320);
  EXPECT_EQ(s.images.thumbnail_quality, 60);
  EXPECT_EQ(s.images.overview_quality, 70);
  EXPECT_FALSE(s.images.blur_faces);
  EXPECT_EQ(s.images.face_cascade, "/cfg/cascades/face.xml");
}

TEST(Settings, OverridingNetherlandsCategoriesKeepsItsPartners) {
  const Settings s = parse(std::string(kRegistry) +
                           "[countries.NL]\ncategories = [\"terrorism\", \"stolen_plate\"]\n");
  const CountryPolicy* nl = s.policy(kNL);
  ASSERT_NE(nl, nullptr);
  EXPECT_EQ(nl->categories, bits({Category::terrorism, Category::stolen_plate}));
  EXPECT_EQ(codes(nl->accepts), std::vector<std::string>{"BE"});
  // The other countries keep their defaults.
  const auto d = default_country_policies();
  EXPECT_EQ(s.policy(kBE)->categories, d[1].categories);
  EXPECT_EQ(s.policy(kLU)->categories, d[2].categories);
}

TEST(Settings, OverridingPartnersKeepsTheCategories) {
  const Settings s = parse(std::string(kRegistry) + "[countries.LU]\naccepts = [\"BE\", \"NL\"]\n");
  EXPECT_EQ(codes(s.policy(kLU)->accepts), (std::vector<std::string>{"BE", "NL"}));
  EXPECT_EQ(s.policy(kLU)->categories, default_country_policies()[2].categories);
}

TEST(Settings, AddingCountriesSortsThemAfterTheBeneluxOnes) {
  const Settings s = parse(std::string(kRegistry) + R"(
[countries.DE]
categories = ["stolen_vehicle", "terrorism"]
[countries.AT]
accepts = ["DE", "AT", "DE"]
categories = []
)");
  EXPECT_EQ(countries_of(s), (std::vector<std::string>{"NL", "BE", "LU", "AT", "DE"}));
  const CountryPolicy* de = s.policy(cc("DE"));
  ASSERT_NE(de, nullptr);
  EXPECT_TRUE(de->accepts.empty());  // the default for a new country
  EXPECT_EQ(de->categories, bits({Category::stolen_vehicle, Category::terrorism}));
  // Accepting itself is ignored, duplicates count once.
  EXPECT_EQ(codes(s.policy(cc("AT"))->accepts), std::vector<std::string>{"DE"});
  EXPECT_EQ(s.policy(cc("AT"))->categories, 0u);
  EXPECT_EQ(s.policy(cc("FR")), nullptr);
  EXPECT_EQ(s.route_topic(cc("DE")), "anpr.route.de");
}

TEST(Settings, CountriesAsInlineAndDottedTables) {
  Settings s = parse(std::string("countries.NL.accepts = []\n") + kRegistry);
  EXPECT_TRUE(s.policy(kNL)->accepts.empty());
  s = parse(std::string("countries = { BE = { accepts = [\"LU\"] } }\n") + kRegistry);
  EXPECT_EQ(codes(s.policy(kBE)->accepts), std::vector<std::string>{"LU"});
}

TEST(Settings, PerListSuppression) {
  const Settings s = parse(std::string(kRegistry) + R"(
[suppression]
window_s = 60
[suppression.lists]
"nl-stolen-vehicles" = 600
nl-unpaid-fines = 0
be.wanted = 86400
)");
  EXPECT_EQ(s.suppression.window_ms, 60'000);
  const std::map<std::string, int64_t> want = {
      {"nl-stolen-vehicles", 600'000}, {"nl-unpaid-fines", 0}, {"be.wanted", 86'400'000}};
  EXPECT_EQ(s.suppression.per_list_ms, want);
}

TEST(Settings, KafkaPropertiesPassThroughAsText) {
  const Settings s = parse(std::string(kRegistry) + R"(
[kafka.properties]
"security.protocol" = "SASL_SSL"
sasl.mechanism = "SCRAM-SHA-512"
"socket.keepalive.enable" = true
"enable.ssl.certificate.verification" = false
"socket.timeout.ms" = 30000
"some.ratio" = 0.25
"ssl.ca.pem" = """
-----BEGIN CERTIFICATE-----
MIIB
-----END CERTIFICATE-----
"""
[kafka.consumer]
"session.timeout.ms" = "45000"
[kafka.producer]
"compression.type" = "lz4"
"security.protocol" = "SSL"
)");
  const std::map<std::string, std::string> common = {
      {"security.protocol", "SASL_SSL"},
      {"sasl.mechanism", "SCRAM-SHA-512"},
      {"socket.keepalive.enable", "true"},
      {"enable.ssl.certificate.verification", "false"},
      {"socket.timeout.ms", "30000"},
      {"some.ratio", "0.25"},
      {"ssl.ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
  };
  EXPECT_EQ(s.kafka.common, common);
  EXPECT_EQ(s.kafka.consumer,
            (std::map<std::string, std::string>{{"session.timeout.ms", "45000"}}));
  EXPECT_EQ(s.kafka.producer, (std::map<std::string, std::string>{{"compression.type", "lz4"},
                                                                  {"security.protocol", "SSL"}}));
}

TEST(Settings, PathsResolveAgainstTheBaseFolder) {
  const std::string text =
      "[cameras]\nregistry = \"./reg/../cameras.csv\"\n[lists]\nfiles = [\"l/x.csv\"]\n";
  Settings s = parse_settings(text, "x.toml", "/srv/anpr");
  EXPECT_EQ(s.cameras, fs::path("/srv/anpr/cameras.csv"));
  EXPECT_EQ(s.lists, std::vector<fs::path>{"/srv/anpr/l/x.csv"});
  s = parse_settings(text, "x.toml", "");
  EXPECT_EQ(s.cameras, fs::path("cameras.csv"));
  EXPECT_EQ(s.lists, std::vector<fs::path>{"l/x.csv"});
}

TEST(Settings, WindowsLineEndingsAndByteOrderMark) {
  const Settings s =
      parse("\xEF\xBB\xBF[cameras]\r\nregistry = \"c.csv\"\r\n[pipeline]\r\nthreads = 3\r\n");
  EXPECT_EQ(s.pipeline.threads, 3);
}

TEST(Settings, PolicyAndRouteTopic) {
  const Settings s = parse(kRegistry);
  ASSERT_NE(s.policy(kBE), nullptr);
  EXPECT_EQ(s.policy(kBE)->country, kBE);
  EXPECT_EQ(s.policy(cc("DE")), nullptr);
  EXPECT_EQ(s.policy(kAnyCountry), nullptr);
  EXPECT_EQ(s.route_topic(kNL), "anpr.route.nl");
  EXPECT_EQ(s.route_topic(kLU), "anpr.route.lu");
}

TEST(Settings, DefaultRetentionPoliciesFollowTheDesign) {
  const Settings s = parse(kRegistry);
  EXPECT_EQ(s.retention.sink, "store");
  EXPECT_EQ(s.retention.purge_interval_ms, 600'000);
  EXPECT_EQ(s.retention.max_results, 1000u);
  EXPECT_EQ(s.retention.input_hours, 24);
  ASSERT_EQ(s.retention.policies.size(), 3u);
  const RetentionPolicy* nl = s.retention.policy(kNL);
  const RetentionPolicy* be = s.retention.policy(kBE);
  const RetentionPolicy* lu = s.retention.policy(kLU);
  ASSERT_TRUE(nl && be && lu);
  EXPECT_TRUE(nl->keep_passages);
  EXPECT_EQ(nl->passage_days, 28);
  EXPECT_EQ(nl->hit_days, 365);
  EXPECT_EQ(nl->order_after_days, 0);
  EXPECT_TRUE(be->keep_passages);
  EXPECT_EQ(be->passage_days, 365);
  EXPECT_EQ(be->hit_days, 365);
  EXPECT_EQ(be->order_after_days, 30);
  EXPECT_FALSE(lu->keep_passages);
  EXPECT_EQ(lu->hit_days, 28);
  for (const RetentionPolicy& p : s.retention.policies) EXPECT_FALSE(p.keep_images);
  EXPECT_EQ(s.retention.policy(cc("DE")), nullptr);
  EXPECT_EQ(s.retention.passages_topic(kNL), "anpr.passages.nl");
}

TEST(Settings, RetentionOverridesAndNewCountries) {
  const Settings s = parse(std::string(kRegistry) + R"(
[retention]
sink = "kafka"
purge_interval_s = 60
topic_prefix = "x.pass-"
max_results = 50
[retention.NL]
passage_days = 14
keep_images = true
[retention.LU]
keep_passages = true
[retention.DE]
keep_passages = true
passage_days = 7
hit_days = 30
order_after_days = 2
[retention.AT]
hit_days = 10
)");
  EXPECT_EQ(s.retention.sink, "kafka");
  EXPECT_EQ(s.retention.purge_interval_ms, 60'000);
  EXPECT_EQ(s.retention.max_results, 50u);
  EXPECT_EQ(s.retention.passages_topic(kBE), "x.pass-be");
  const RetentionPolicy* nl = s.retention.policy(kNL);
  EXPECT_EQ(nl->passage_days, 14);
  EXPECT_EQ(nl->hit_days, 365);  // untouched keys keep their defaults
  EXPECT_TRUE(nl->keep_images);
  EXPECT_TRUE(s.retention.policy(kLU)->keep_passages);
  EXPECT_EQ(s.retention.policy(kLU)->passage_days, 28);
  const RetentionPolicy* de = s.retention.policy(cc("DE"));
  ASSERT_NE(de, nullptr);
  EXPECT_TRUE(de->keep_passages);
  EXPECT_EQ(de->passage_days, 7);
  EXPECT_EQ(de->hit_days, 30);
  EXPECT_EQ(de->order_after_days, 2);
  const RetentionPolicy* at = s.retention.policy(cc("AT"));
  ASSERT_NE(at, nullptr);
  EXPECT_FALSE(at->keep_passages);
  EXPECT_EQ(at->hit_days, 10);
  // Built-in countries first, then the others in code order.
  std::vector<std::string> order;
  for (const RetentionPolicy& p : s.retention.policies) order.push_back(p.country.str());
  EXPECT_EQ(order, (std::vector<std::string>{"NL", "BE", "LU", "AT", "DE"}));
}

// ---- bad files ----

struct BadCase {
  const char* name;
  std::string toml;
  std::string expected;  // a substring of the message
  bool add_registry = true;
};

std::vector<BadCase> bad_cases() {
  const std::string long_topic(250, 't');
  std::string deep_key = "a";
  for (int i = 0; i < 100000; ++i) deep_key += ".a";
  return {
      // TOML syntax
      {"syntax", "[pipeline]\nthreads = \n", "t.toml:2: invalid TOML: "},
      {"unterminated string", "[kafka]\nbrokers = \"x\n", "t.toml:2: invalid TOML: "},
      {"duplicate key", "[pipeline]\nthreads = 1\nthreads = 2\n", "t.toml:3: invalid TOML: "},
      {"huge integer", "[pipeline]\nthreads = 99999999999999999999999\n",
       "t.toml:2: invalid TOML: "},
      {"invalid UTF-8", "[kafka]\ngroup_id = \"a\xC3\x28\"\n", "t.toml:2: invalid TOML: "},
      {"NUL byte", "[kafka]\ngroup_id = \"a\0b\"\n"s, "t.toml:2: invalid TOML: "},
      {"bad header [&", "[pipeline]\n[&\n", "t.toml:2: invalid TOML: expected a table name"},
      {"bad header [[[", "\n\n[[[a]]]\n", "t.toml:3: invalid TOML: expected a table name"},
      {"bad header [ then newline", "[\n", "t.toml:1: invalid TOML: expected a table name"},
      {"earlier syntax error wins", "x = \n[&\n", "t.toml:1: invalid TOML: "},
      // constructs toml++ 3.3 mishandles (undefined behaviour), refused before it sees them
      {"brace closing an array", "[kafka.properties]\nx = [1, }\n",
       "t.toml:2: invalid TOML: '}' closes '['"},
      {"string glued to a number", "[pipeline]\nthreads = 4'\xC3\xA9'\n",
       "t.toml:2: invalid TOML: expected ',', ']', '}' or a line break after a value, found \"'\""},
      {"non-ASCII after a key", "[pipeline]\nthreads\xC2\xA1 = 1\n",
       "t.toml:2: invalid TOML: a non-ASCII character outside a string or comment"},
      {"non-ASCII after a value", "[pipeline]\nthreads = 1\xD2\x99\n",
       "t.toml:2: invalid TOML: a non-ASCII character outside a string or comment"},
      {"non-ASCII after a backslash", "[kafka]\ngroup_id = \"\"\"a\\\n  \xC2\xA1\"\"\"\n",
       "t.toml:3: invalid TOML: a non-ASCII character right after a backslash"},
      {"date-time without a time", "[kafka.properties]\nx = 1979-05-27T!7:32:00Z\n",
       "t.toml:2: invalid TOML: expected a time after the 'T' of a date-time, found \"!\""},
      {"date, space, one digit", "[kafka.properties]\nx = 1979-05-27 0,\n",
       "t.toml:2: invalid TOML: expected a time after the date and space of a date-time"},
      {"deep dotted key", deep_key + " = 1\n", "t.toml:1: invalid TOML: a dotted key of more"},
      {"deep header", "[" + deep_key + "]\n", "t.toml:1: invalid TOML: a dotted key of more"},
      {"deep arrays", "x = " + std::string(100000, '['), "nested more than"},
      {"deep inline tables",
       "x = " +
           [] {
             std::string s;
             for (int i = 0; i < 1000; ++i) s += "{a=";
             return s;
           }(),
       "nested more than"},
      // unknown keys
      {"typo with suggestion", "[kafka]\nbroker = \"x\"\n",
       "t.toml:2: kafka.broker: unknown key; did you mean kafka.brokers?"},
      {"typo in a table name", "[pipelin]\nthreads = 1\n",
       "t.toml:1: pipelin: unknown key; did you mean pipeline?"},
      {"typo in a country key", "[countries.NL]\naccept = [\"BE\"]\n",
       "t.toml:2: countries.NL.accept: unknown key; did you mean countries.NL.accepts?"},
      {"unknown key, no suggestion", "[pipeline]\nspeed = 3\n",
       "t.toml:2: pipeline.speed: unknown key; expected one of the keys of [pipeline]: threads, "
       "batch, max_message_bytes, deadletter_payload_bytes"},
      {"unknown table", "[archive]\ndays = 28\n",
       "t.toml:1: archive: unknown key; expected one of the tables kafka, topics, cameras, "
       "lists, pipeline, log, suppression, state, audit, http, images, countries, retention"},
      {"unknown retention setting", "[retention]\ndays = 28\n",
       "t.toml:2: retention.days: unknown key; expected one of the keys of [retention]: sink, "
       "purge_interval_s, topic_prefix, max_results, input_hours, XX (a country code)"},
      // types and ranges
      {"string for integer", "[suppression]\nwindow_s = \"five\"\n",
       "t.toml:2: suppression.window_s: expected an integer 0..86400, got \"five\""},
      {"float for integer", "[pipeline]\nbatch = 1.5\n",
       "t.toml:2: pipeline.batch: expected an integer 1..65536, got the float 1.5"},
      {"threshold over 100", "[lists]\nmax_rejected_percent = 150\n",
       "t.toml:2: lists.max_rejected_percent: expected a number 0..100, got 150"},
      {"threshold as text", "[lists]\nmax_rejected_percent = \"1%\"\n",
       "t.toml:2: lists.max_rejected_percent: expected a number 0..100, got \"1%\""},
      {"no versions kept", "[lists]\nkeep_versions = 0\n",
       "t.toml:2: lists.keep_versions: expected an integer 1..1000, got 0"},
      {"follow_topic as text", "[lists]\nfollow_topic = \"yes\"\n",
       "t.toml:2: lists.follow_topic: expected true or false, got \"yes\""},
      {"reflists topic equals the reads topic", "[topics]\nreflists = \"anpr.reads\"\n",
       "t.toml:2: topics.reflists: expected a topic different from topics.reads"},
      {"threads too many", "[pipeline]\nthreads = 257\n",
       "t.toml:2: pipeline.threads: expected an integer 0..256, got 257"},
      {"threads negative", "[pipeline]\nthreads = -1\n", "expected an integer 0..256, got -1"},
      {"batch zero", "[pipeline]\nbatch = 0\n",
       "pipeline.batch: expected an integer 1..65536, got 0"},
      {"message too small", "[pipeline]\nmax_message_bytes = 1023\n",
       "pipeline.max_message_bytes: expected an integer 1024..67108864, got 1023"},
      {"message too big", "[pipeline]\nmax_message_bytes = 67108865\n",
       "expected an integer 1024..67108864, got 67108865"},
      {"dead letter too big", "[pipeline]\ndeadletter_payload_bytes = 1048577\n",
       "pipeline.deadletter_payload_bytes: expected an integer 0..1048576, got 1048577"},
      {"int64 max", "[suppression]\nwindow_s = 9223372036854775807\n",
       "suppression.window_s: expected an integer 0..86400, got 9223372036854775807"},
      {"window a day and a second", "[suppression]\nwindow_s = 86401\n",
       "expected an integer 0..86400, got 86401"},
      {"images enabled not a boolean", "[images]\nenabled = \"yes\"\n",
       "t.toml:2: images.enabled: expected true or false, got \"yes\""},
      {"thumbnail too narrow", "[images]\nthumbnail_width = 8\n",
       "t.toml:2: images.thumbnail_width: expected an integer 16..2048, got 8"},
      {"per-list window too long", "[suppression.lists]\n\"nl-x\" = 86401\n",
       "t.toml:2: suppression.lists.nl-x: expected an integer 0..86400, got 86401"},
      {"per-list bad id", "[suppression.lists]\n\"NL Stolen\" = 60\n",
       "suppression.lists.\"NL Stolen\": expected a list id (1..64 characters of a-z 0-9 . _ -, "
       "starting with a letter or digit), "
       "got \"NL Stolen\""},
      {"table expected", "kafka = 5\n", "t.toml:1: kafka: expected a table, got 5"},
      {"array of tables", "[[pipeline]]\nthreads = 1\n",
       "t.toml:1: pipeline: expected a table, got an array"},
      {"boolean for string", "[kafka]\ngroup_id = true\n",
       "kafka.group_id: expected a non-empty consumer group name, got the boolean true"},
      // names
      {"empty brokers", "[kafka]\nbrokers = \"\"\n",
       "t.toml:2: kafka.brokers: expected a non-empty list of brokers"},
      {"empty group", "[kafka]\ngroup_id = \"\"\n",
       "t.toml:2: kafka.group_id: expected a non-empty consumer group name, got \"\""},
      {"group with control character", "[kafka]\ngroup_id = \"a\\tb\"\n",
       "kafka.group_id: expected a non-empty consumer group name, got \"a\\x09b\""},
      {"empty topic", "[topics]\nreads = \"\"\n",
       "t.toml:2: topics.reads: expected a Kafka topic name (1..249 characters of A-Z a-z 0-9 . _ "
       "-), got \"\""},
      {"topic with a space", "[topics]\nhits = \"anpr hits\"\n",
       "topics.hits: expected a Kafka topic name"},
      {"topic too long", "[topics]\ndeadletter = \"" + long_topic + "\"\n",
       "topics.deadletter: expected a Kafka topic name"},
      {"topic ..", "[topics]\nreads = \"..\"\n", "topics.reads: expected a Kafka topic name"},
      {"duplicate topic with a default", "[topics]\nreads = \"anpr.hits\"\n",
       "t.toml:2: topics.reads: expected a topic different from topics.hits, got \"anpr.hits\""},
      {"duplicate topics both given", "[topics]\ndeadletter = \"x\"\nreads = \"x\"\n",
       "t.toml:3: topics.reads: expected a topic different from topics.deadletter"},
      {"topic is a route topic", "[topics]\nhits = \"anpr.route.be\"\n",
       "t.toml:2: topics.hits: expected topics.hits not to be a route topic"},
      {"bad route prefix", "[topics]\nroute_prefix = \"anpr/route/\"\n",
       "t.toml:2: topics.route_prefix: expected a topic name prefix"},
      // cameras and lists
      {"registry missing", "\n\n[cameras]\n",
       "t.toml:3: cameras.registry: expected the path of "
       "the camera registry CSV (the key is required), got nothing",
       false},
      {"registry missing, no table", "[pipeline]\nthreads = 1\n",
       "t.toml:1: cameras.registry: expected the path of the camera registry CSV", false},
      {"registry empty", "[cameras]\nregistry = \"\"\n",
       "t.toml:2: cameras.registry: expected the path of the camera registry CSV, got \"\"", false},
      {"registry not a string", "[cameras]\nregistry = 7\n", "cameras.registry: expected the path",
       false},
      {"cameras not a table", "cameras = \"c.csv\"\n",
       "t.toml:1: cameras: expected a table, got \"c.csv\"", false},
      {"list not a csv", "[lists]\nfiles = [\"a.csv\", \"lists/a.toml\"]\n",
       "t.toml:2: lists.files[1]: expected the path of a reference list ending in .csv, got "
       "\"lists/a.toml\""},
      {"list is only .csv", "[lists]\nfiles = [\".csv\"]\n", "lists.files[0]: expected the path"},
      {"list empty path", "[lists]\nfiles = [\"\"]\n", "lists.files[0]: expected the path"},
      {"list not a string", "[lists]\nfiles = [\n  \"a.csv\",\n  3,\n]\n",
       "t.toml:4: lists.files[1]: expected the path of a reference list ending in .csv, got 3"},
      {"lists not an array", "[lists]\nfiles = \"a.csv\"\n",
       "t.toml:2: lists.files: expected an array of paths, got \"a.csv\""},
      {"list twice", "[lists]\nfiles = [\"a.csv\", \"./a.csv\"]\n",
       "lists.files[1]: expected each list once, got \"./a.csv\" again (also lists.files[0])"},
      // countries
      {"country in lower case", "[countries.nl]\naccepts = []\n",
       "t.toml:1: countries.nl: expected a table named by an upper-case ISO 3166-1 alpha-2 code "
       "such as NL, BE or LU, got \"nl\" (write it in upper case: NL)"},
      {"country of three letters", "[countries.NLD]\naccepts = []\n",
       "countries.NLD: expected a table named by an upper-case ISO 3166-1 alpha-2 code"},
      {"country not assigned", "[countries.XX]\ncategories = []\n",
       "countries.XX: expected a table named by an upper-case ISO 3166-1 alpha-2 code such as NL, "
       "BE or LU, got \"XX\", which is not an assigned ISO 3166-1 alpha-2 code"},
      {"country not a table", "[countries]\nNL = [\"BE\"]\n",
       "t.toml:2: countries.NL: expected a table, got an array"},
      {"unknown category", "[countries.NL]\ncategories = [\"terrorism\", \"stolen_car\"]\n",
       "t.toml:2: countries.NL.categories[1]: expected a category (stolen_vehicle, stolen_plate, "
       "wanted_person, missing_person, custodial_order, driving_ban, unpaid_fine, uninsured, "
       "no_inspection, tax_debt, suspect, serious_crime, terrorism), got \"stolen_car\""},
      {"categories not an array", "[countries.BE]\ncategories = \"terrorism\"\n",
       "countries.BE.categories: expected an array of categories, got \"terrorism\""},
      {"accepts unassigned", "[countries.NL]\naccepts = [\"BE\", \"ZZ\"]\n",
       "countries.NL.accepts[1]: expected an ISO 3166-1 alpha-2 code such as NL, BE or LU, got "
       "\"ZZ\", which is not an assigned"},
      {"accepts not a code", "[countries.NL]\naccepts = [\"BEL\"]\n",
       "countries.NL.accepts[0]: expected an ISO 3166-1 alpha-2 code such as NL, BE or LU, got "
       "\"BEL\" (not two letters)"},
      {"accepts a number", "[countries.NL]\naccepts = [32]\n",
       "countries.NL.accepts[0]: expected an ISO 3166-1 alpha-2 code such as NL, BE or LU, got 32"},
      {"accepts not an array", "[countries.NL]\naccepts = \"BE\"\n",
       "countries.NL.accepts: expected an array of country codes, got \"BE\""},
      {"new country without categories", "[countries.DE]\naccepts = [\"NL\"]\n",
       "t.toml:1: countries.DE.categories: expected the categories allowed on DE's cameras"},
      {"new country, empty table", "\n[countries.FR]\n",
       "t.toml:2: countries.FR.categories: expected the categories allowed on FR's cameras"},
      // retention
      {"retention country lower case", "[retention.nl]\nkeep_passages = true\n",
       "t.toml:1: retention.nl: expected a table named by an upper-case ISO 3166-1 alpha-2 code "
       "such as NL, BE or LU, got \"nl\" (write it in upper case: NL)"},
      {"retention country unassigned", "[retention.QQ]\nhit_days = 1\n",
       "retention.QQ: expected a table named by an upper-case ISO 3166-1 alpha-2 code"},
      {"keep_passages not a boolean", "[retention.NL]\nkeep_passages = \"yes\"\n",
       "t.toml:2: retention.NL.keep_passages: expected true or false, got \"yes\""},
      {"passage_days zero", "[retention.NL]\npassage_days = 0\n",
       "t.toml:2: retention.NL.passage_days: expected an integer 1..3650, got 0"},
      {"passage_days a float", "[retention.BE]\npassage_days = 28.5\n",
       "retention.BE.passage_days: expected an integer 1..3650, got the float 28.5"},
      {"hit_days negative", "[retention.LU]\nhit_days = -1\n",
       "retention.LU.hit_days: expected an integer 0..3650, got -1"},
      {"keep_images a number", "[retention.BE]\nkeep_images = 1\n",
       "retention.BE.keep_images: expected true or false, got 1"},
      {"new country keeps passages without days", "\n[retention.DE]\nkeep_passages = true\n",
       "t.toml:2: retention.DE.passage_days: expected how many days DE's passages are kept"},
      {"unknown retention key", "[retention.NL]\npassage_day = 3\n",
       "retention.NL.passage_day: unknown key; did you mean retention.NL.passage_days?"},
      {"bad sink", "[retention]\nsink = \"disk\"\n",
       "t.toml:2: retention.sink: expected one of \"store\", \"kafka\", \"none\", got \"disk\""},
      {"bad passages prefix", "[retention]\ntopic_prefix = \"a b\"\n",
       "retention.topic_prefix: expected a topic name prefix"},
      {"purge interval zero", "[retention]\npurge_interval_s = 0\n",
       "retention.purge_interval_s: expected an integer 1..86400, got 0"},
      // Kafka properties
      {"property array", "[kafka.properties]\n\"socket.timeout.ms\" = [1]\n",
       "t.toml:2: kafka.properties.\"socket.timeout.ms\": expected a string, integer, float or "
       "boolean, got an array"},
      {"property bootstrap.servers", "[kafka.properties]\n\"bootstrap.servers\" = \"h:1\"\n",
       "kafka.properties.\"bootstrap.servers\": expected any librdkafka property but "
       "bootstrap.servers, which is set by kafka.brokers"},
      {"property group.id", "[kafka.consumer]\ngroup.id = \"g\"\n",
       "kafka.consumer.\"group.id\": expected any librdkafka property but group.id, which is set "
       "by kafka.group_id"},
      {"property group.instance.id", "[kafka.consumer]\n\"group.instance.id\" = \"a\"\n",
       "kafka.consumer.\"group.instance.id\": expected any librdkafka property but "
       "group.instance.id, which is set by kafka.instance_id"},
      {"instance_id number", "[kafka]\ninstance_id = 2\n",
       "t.toml:2: kafka.instance_id: expected an instance name such as \"anpr-1\" (\"\": none), got 2"},
      {"property transactional.id", "[kafka.producer]\n\"transactional.id\" = \"t\"\n",
       "kafka.producer.\"transactional.id\": expected any librdkafka property but "
       "transactional.id, which is set by kafka.transactional_id"},
      {"commit interval too short", "[pipeline]\ncommit_interval_ms = 5\n",
       "t.toml:2: pipeline.commit_interval_ms: expected an integer 10..60000, got 5"},
      {"exactly_once not a boolean", "[pipeline]\nexactly_once = \"yes\"\n",
       "t.toml:2: pipeline.exactly_once: expected true or false, got \"yes\""},
      {"property with NUL", "[kafka.producer]\n\"client.id\" = \"a\\u0000b\"\n",
       "kafka.producer.\"client.id\": expected a string, integer, float or boolean without NUL "
       "characters"},
      {"property name empty", "[kafka.properties]\n\"\" = \"x\"\n",
       "kafka.properties.\"\": expected a librdkafka property name"},
      {"property not finite", "[kafka.properties]\n\"x.y\" = nan\n",
       "kafka.properties.\"x.y\": expected a finite number, got the float nan"},
      {"property a date", "[kafka.properties]\n\"x.y\" = 2026-01-01\n",
       "expected a string, integer, float or boolean, got a date"},
      {"log level unknown", "[log]\nlevel = \"verbose\"\n",
       "t.toml:2: log.level: expected one of \"debug\", \"info\", \"warn\", \"error\", got"},
      {"log level upper case", "[log]\nlevel = \"INFO\"\n", "t.toml:2: log.level: expected one of"},
      {"log format unknown", "[log]\nformat = \"xml\"\n",
       "t.toml:2: log.format: expected \"text\" or \"json\", got"},
      {"log format not a string", "[log]\nformat = 1\n", "t.toml:2: log.format: expected"},
      {"path with NUL", "[cameras]\nregistry = \"c\\u0000.csv\"\n",
       "cameras.registry: expected the path of the camera registry CSV without NUL characters",
       false},
  };
}

TEST(SettingsErrors, EachBadCaseNamesFileLineKeyAndReason) {
  const auto cases = bad_cases();
  EXPECT_GE(cases.size(), 30u);
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string text = c.toml + (c.add_registry ? std::string("\n") + kRegistry : "");
    const std::string msg = error_of(text);
    ASSERT_FALSE(msg.empty()) << "parsed without error";
    EXPECT_EQ(msg.rfind("t.toml:", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << "message: " << msg << "\nexpected to contain: " << c.expected;
  }
}

// The syntax guard never refuses valid TOML: every error here is about the schema.
TEST(SettingsErrors, ValidTomlIsNeverASyntaxError) {
  const std::string rich = R"(# café: comments may hold any text
title = "TOML \"Example\" é"
lit = 'C:\Users\é'
ml = """
Roses are red\
   Violets are blue é"""
ml2 = '''
raw ''text'' é'''
q4 = """a""""
dt1 = 1979-05-27T07:32:00Z
dt2 = 1979-05-27 07:32:00-08:00
ld = 1979-05-27
lt = 07:32:00.999
f = [1.5, -2e3, inf, nan, +0.1, 6.626e-34]
ints = [0x1F, 0o17, 0b11, 1_000, -5]
mixed = [ [1, 2], ["a", 'b'], [{x = 1}, {y.z = "w"}], {} ]
inl = { a = 1, "b c" = { d = [ "e", ] }, f.g = true }
[a . "b.c" . d]
k = 1
[[arr]]
x = 1
[[arr]]
x = [
  "one", # c
  'two',
  """three""",
]
"quoted key" = 'v'
site."google.com" = true
)";
  const std::string msg = error_of(rich);
  EXPECT_EQ(msg.find("invalid TOML"), std::string::npos) << msg;
  EXPECT_NE(msg.find("t.toml:2: title: unknown key"), std::string::npos) << msg;
}

TEST(SettingsErrors, AllErrorsAreReportedInLineOrder) {
  const std::string msg = error_of(R"([topics]
reads = ""
[pipeline]
threads = 1000
batch = 0
)");
  const std::string want =
      "t.toml:1: cameras.registry: expected the path of the camera registry CSV (the key is "
      "required), got nothing\n"
      "t.toml:2: topics.reads: expected a Kafka topic name (1..249 characters of A-Z a-z 0-9 . "
      "_ -), got \"\"\n"
      "t.toml:4: pipeline.threads: expected an integer 0..256, got 1000\n"
      "t.toml:5: pipeline.batch: expected an integer 1..65536, got 0";
  EXPECT_EQ(msg, want);
}

TEST(SettingsErrors, ManyErrorsAreCapped) {
  std::string text = kRegistry;
  for (int i = 0; i < 5000; ++i) text += "unknown_" + std::to_string(i) + " = 1\n";
  const std::string msg = error_of(text);
  EXPECT_NE(msg.find("t.toml: 4990 more error(s) not shown"), std::string::npos) << msg;
  EXPECT_EQ(std::count(msg.begin(), msg.end(), '\n'), 10);
}

TEST(SettingsErrors, EmptyFileNeedsTheRegistry) {
  EXPECT_EQ(error_of(""),
            "t.toml:1: cameras.registry: expected the path of the camera registry CSV (the key is "
            "required), got nothing");
  EXPECT_NE(error_of("# just a comment\n\n").find("cameras.registry"), std::string::npos);
}

TEST(SettingsErrors, HostileInputGivesAClearMessage) {
  std::mt19937_64 rng(42);
  std::string garbage(1'000'000, '\0');
  for (char& ch : garbage) ch = static_cast<char>(rng());
  std::string ascii_garbage(1'000'000, '\0');
  const std::string alphabet = "[]{}\"'.=#,\n \\abcXYZ019-_+";
  for (char& ch : ascii_garbage) ch = alphabet[rng() % alphabet.size()];
  std::string nested_tables;
  for (int i = 0; i < 20000; ++i) nested_tables += "[a" + std::to_string(i % 7) + "]\n";
  std::string keys;
  for (int i = 0; i < 50000; ++i)
    keys += "k" + std::to_string(i) + ".a.b.c = " + std::to_string(i) + "\n";
  const std::vector<std::string> inputs = {
      garbage,
      ascii_garbage,
      std::string(1'000'000, '\0'),
      std::string(1'000'000, '['),
      std::string(1'000'000, '.'),
      std::string(1'000'000, '"'),
      "x = " + std::string(1'000'000, '9'),
      "x = \"" + std::string(1'000'000 - 6, 'x') + "\"",
      nested_tables,
      keys,
      "[a]\n[a]\n",
      "\xFF\xFE[cameras]\n",
      "x = \"\"\"" + std::string(10000, '"'),
      "x = '''" + std::string(10000, '\''),
  };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE("input " + std::to_string(i));
    const std::string msg = error_of(inputs[i]);
    EXPECT_EQ(msg.rfind("t.toml:", 0), 0u) << msg.substr(0, 200);
  }
}

TEST(SettingsErrors, TextOverOneMebibyteIsRefused) {
  const std::string text = std::string(kRegistry) + "#" + std::string(1 << 20, 'x') + "\n";
  EXPECT_NE(error_of(text).find("t.toml: expected a config file of at most 1 MiB"),
            std::string::npos);
}

// Mutations of the sample file: each either loads or throws ConfigError, nothing else.
TEST(SettingsErrors, MutatedSampleNeverCrashes) {
  const std::string sample = slurp(ANPR_SOURCE_DIR "/samples/anpr.toml");
  ASSERT_FALSE(sample.empty());
  const std::string alphabet = "[]{}\"'.=#,\n\r\t \\aZ09-_+:\0\xFF\xC3"s;
  std::mt19937_64 rng(7);
  int parsed = 0, rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string t = sample;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !t.empty(); ++e) {
      const std::size_t at = rng() % t.size();
      switch (rng() % 4) {
        case 0:
          t[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          t.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          t.erase(at, 1 + rng() % 8);
          break;
        default: {
          const std::size_t len = std::min<std::size_t>(1 + rng() % 64, t.size() - at);
          t.insert(rng() % t.size(), t.substr(at, len));
        }
      }
    }
    try {
      parse_settings(t, kName, "/cfg");
      ++parsed;
    } catch (const ConfigError& ex) {
      ++rejected;
      ASSERT_EQ(std::string(ex.what()).rfind("t.toml:", 0), 0u) << ex.what();
    } catch (const std::exception& ex) {
      FAIL() << "round " << round << ": not a ConfigError: " << ex.what();
    }
  }
  EXPECT_GT(parsed, 0);
  EXPECT_GT(rejected, 0);
}

// Every integer key accepts its documented bounds and rejects one beyond each.
TEST(SettingsDocs, IntegerRangesAreTheDocumentedOnes) {
  int checked = 0;
  for (const KeyDoc& d : key_docs()) {
    const std::string type(d.type);
    if (type.rfind("integer ", 0) != 0) continue;
    const std::size_t dots = type.find("..");
    ASSERT_NE(dots, std::string::npos) << type;
    const long long lo = std::stoll(type.substr(8, dots - 8));
    const long long hi = std::stoll(type.substr(dots + 2));
    std::string key(d.key);
    if (key.back() == '*') key.back() = 'x';
    // A table named by a country ([retention.*]).
    if (const std::size_t star = key.find(".*."); star != std::string::npos)
      key.replace(star, 3, ".NL.");
    const std::size_t last = key.rfind('.');
    const auto with = [&](long long v) {
      return std::string(kRegistry) + "[" + key.substr(0, last) + "]\n" + key.substr(last + 1) +
             " = " + std::to_string(v) + "\n";
    };
    SCOPED_TRACE(key);
    EXPECT_EQ(error_of(with(lo)), "");
    EXPECT_EQ(error_of(with(hi)), "");
    EXPECT_NE(error_of(with(lo - 1)).find("expected an " + type), std::string::npos);
    EXPECT_NE(error_of(with(hi + 1)).find("expected an " + type), std::string::npos);
    ++checked;
  }
  EXPECT_GE(checked, 7);
}

// Writing every documented scalar default explicitly changes nothing.
TEST(SettingsDocs, DocumentedDefaultsAreTheBuiltInOnes) {
  std::map<std::string, std::string> tables;
  for (const KeyDoc& d : key_docs()) {
    const std::string key(d.key), def(d.default_value);
    if (key.find('*') != std::string::npos || def.empty() || def[0] == '(' || def[0] == '`')
      continue;  // wildcards, required keys and defaults described in words
    const std::size_t last = key.rfind('.');
    tables[key.substr(0, last)] += key.substr(last + 1) + " = " + def + "\n";
  }
  std::string text = kRegistry;
  for (const auto& [table, body] : tables) text += "[" + table + "]\n" + body;
  const Settings a = parse(kRegistry), b = parse(text);
  EXPECT_GE(tables.size(), 6u) << text;  // kafka, topics, lists, pipeline, suppression, http
  EXPECT_EQ(a.http.listen, b.http.listen);
  EXPECT_EQ(a.http.max_body_bytes, b.http.max_body_bytes);
  EXPECT_EQ(a.kafka.brokers, b.kafka.brokers);
  EXPECT_EQ(a.kafka.group_id, b.kafka.group_id);
  EXPECT_EQ(a.topics.reads, b.topics.reads);
  EXPECT_EQ(a.topics.hits, b.topics.hits);
  EXPECT_EQ(a.topics.deadletter, b.topics.deadletter);
  EXPECT_EQ(a.topics.route_prefix, b.topics.route_prefix);
  EXPECT_EQ(a.lists, b.lists);
  EXPECT_EQ(a.pipeline.threads, b.pipeline.threads);
  EXPECT_EQ(a.pipeline.batch, b.pipeline.batch);
  EXPECT_EQ(a.pipeline.max_message_bytes, b.pipeline.max_message_bytes);
  EXPECT_EQ(a.pipeline.deadletter_payload_bytes, b.pipeline.deadletter_payload_bytes);
  EXPECT_EQ(a.suppression.window_ms, b.suppression.window_ms);
  EXPECT_EQ(a.suppression.across_instances, b.suppression.across_instances);
  EXPECT_EQ(a.log.level, b.log.level);
  EXPECT_EQ(a.log.format, b.log.format);
}

TEST(SettingsDocs, KeyTableListsEveryKeyOnce) {
  std::set<std::string> seen;
  for (const KeyDoc& d : key_docs()) {
    EXPECT_TRUE(seen.insert(std::string(d.key)).second) << d.key;
    EXPECT_FALSE(d.type.empty()) << d.key;
    EXPECT_FALSE(d.meaning.empty()) << d.key;
  }
  const std::string md = keys_markdown();
  for (const KeyDoc& d : key_docs())
    EXPECT_NE(md.find("| `" + std::string(d.key) + "` |"), std::string::npos) << d.key;
}

// docs/configuration.md carries keys_markdown() between its markers.
TEST(SettingsDocs, ConfigurationGuideKeyTableIsInSync) {
  const fs::path doc = ANPR_SOURCE_DIR "/docs/configuration.md";
  const std::string text = slurp(doc);
  const std::string begin = "<!-- keys:begin -->\n", end = "<!-- keys:end -->";
  const std::size_t b = text.find(begin), e = text.find(end);
  ASSERT_NE(b, std::string::npos) << doc << " has no " << begin;
  ASSERT_NE(e, std::string::npos) << doc << " has no " << end;
  ASSERT_LT(b, e);
  const std::string current = text.substr(b + begin.size(), e - b - begin.size());
  const std::string wanted = keys_markdown();
  if (current == wanted) return;
  if (const char* u = std::getenv("ANPR_UPDATE_DOCS"); u && std::string(u) == "1") {
    std::ofstream(doc, std::ios::binary)
        << text.substr(0, b + begin.size()) << wanted << text.substr(e);
    GTEST_SKIP() << "rewrote the key reference in " << doc;
  }
  FAIL() << "The key reference in " << doc
         << " differs from keys_markdown() (config/settings_keys.cpp's declaration table).\n"
            "Regenerate it with:\n  ANPR_UPDATE_DOCS=1 <build>/tests/settings_test "
            "--gtest_filter=SettingsDocs.ConfigurationGuideKeyTableIsInSync\n"
            "Expected between the markers:\n"
         << wanted;
}

// Every ```toml example of docs/configuration.md loads (with a camera registry added to the
// fragments that have none).
TEST(SettingsDocs, ConfigurationGuideExamplesLoad) {
  const std::string text = slurp(ANPR_SOURCE_DIR "/docs/configuration.md");
  const std::string open = "```toml\n", close = "```\n";
  int examples = 0;
  for (std::size_t at = text.find(open); at != std::string::npos; at = text.find(open, at)) {
    at += open.size();
    // Examples may be indented in a list: strip the fence's indentation from each line.
    const std::size_t fence_line = text.rfind('\n', at - open.size() - 1) + 1;
    const std::size_t indent = at - open.size() - fence_line;
    const std::size_t end = text.find(std::string(indent, ' ') + close, at);
    ASSERT_NE(end, std::string::npos);
    std::string block;
    std::istringstream lines(text.substr(at, end - at));
    for (std::string line; std::getline(lines, line);)
      block += line.substr(std::min(indent, line.size())) + "\n";
    if (block.find("[cameras]") == std::string::npos) block += kRegistry;
    SCOPED_TRACE(block);
    EXPECT_EQ(error_of(block), "");
    ++examples;
  }
  EXPECT_GE(examples, 5);
}

// ---- files ----

TEST(LoadSettings, SampleConfigurationLoads) {
  const fs::path file = ANPR_SOURCE_DIR "/samples/anpr.toml";
  const Settings s = load_settings(file);
  const fs::path dir = fs::absolute(file).parent_path().lexically_normal();
  EXPECT_EQ(s.file, file);
  EXPECT_EQ(s.kafka.brokers, "localhost:9092");
  EXPECT_EQ(s.cameras, dir / "cameras.csv");
  EXPECT_TRUE(fs::exists(s.cameras)) << s.cameras;
  ASSERT_EQ(s.lists.size(), 6u);
  std::set<fs::path> on_disk;
  for (const auto& e : fs::directory_iterator(dir / "lists"))
    if (e.path().extension() == ".csv") on_disk.insert(e.path());
  EXPECT_EQ(std::set<fs::path>(s.lists.begin(), s.lists.end()), on_disk);
  EXPECT_EQ(s.topics.reads, "anpr.reads");
  EXPECT_EQ(s.topics.hits, "anpr.hits");
  EXPECT_EQ(s.topics.deadletter, "anpr.deadletter");
  EXPECT_EQ(s.suppression.window_ms, 300'000);
  // It spells out the built-in country defaults.
  const auto d = default_country_policies();
  ASSERT_EQ(s.countries.size(), d.size());
  for (std::size_t i = 0; i < d.size(); ++i) {
    EXPECT_EQ(s.countries[i].country, d[i].country);
    EXPECT_EQ(s.countries[i].accepts, d[i].accepts);
    EXPECT_EQ(s.countries[i].categories, d[i].categories);
  }
}

TEST(LoadSettings, RelativePathsFollowTheFilesFolder) {
  TempDir dir;
  fs::create_directories(dir.path() / "etc");
  const fs::path f = dir.write("etc/anpr.toml",
                               std::string(kRegistry) + "[lists]\nfiles = [\"../lists/x.csv\"]\n");
  const Settings s = load_settings(f);
  EXPECT_EQ(s.cameras, dir.path() / "etc/cameras.csv");
  EXPECT_EQ(s.lists, std::vector<fs::path>{dir.path() / "lists/x.csv"});
}

TEST(LoadSettings, ErrorsNameTheFile) {
  TempDir dir;
  const fs::path f = dir.write("bad.toml", "[pipeline]\nthreads = -5\n" + std::string(kRegistry));
  try {
    load_settings(f);
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              f.string() + ":2: pipeline.threads: expected an integer 0..256, got -5");
  }
}

TEST(LoadSettings, MissingUnreadableOrHugeFilesAreRefused) {
  TempDir dir;
  const auto message = [](const fs::path& p) -> std::string {
    try {
      load_settings(p);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  const fs::path missing = dir.path() / "nope.toml";
  EXPECT_EQ(message(missing), missing.string() + ": cannot read: No such file or directory");
  EXPECT_EQ(message(dir.path()), dir.path().string() + ": cannot read: Is a directory");
  const fs::path huge =
      dir.write("huge.toml", std::string(kRegistry) + "#" + std::string(1 << 20, 'x') + "\n");
  EXPECT_NE(message(huge).find(huge.string() + ": cannot read: larger than 1 MiB"),
            std::string::npos);
  // Exactly 1 MiB is fine.
  std::string exact = std::string(kRegistry) + "#";
  exact += std::string((1 << 20) - exact.size() - 1, 'x') + "\n";
  ASSERT_EQ(exact.size(), std::size_t{1} << 20);
  EXPECT_EQ(message(dir.write("exact.toml", exact)), "");
}

}  // namespace
}  // namespace anpr::config
