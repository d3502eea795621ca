// The status page's history and map, and the control-room page's filter choices
// (serve/status_api.h): the history is bounded and empty before the first sample, its rates
// never go negative, every role may read it and nobody without a token; the map shows the
// registry's cameras and where recent hits happened but never a covert list's hit, and a control
// room only its own room's; the filters offer the loaded lists, a covert one only to the rooms it
// names.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <chrono>
#include <set>
#include <thread>

#include "http/auth.h"
#include "ingest/cameras.h"
#include "match/index.h"
#include "match/live_index.h"
#include "match/time.h"
#include "serve/hit_feed.h"
#include "serve/http_service.h"
#include "serve/status_api.h"
#include "tests/hits.h"
#include "tests/temp_dir.h"

namespace anpr::app {
namespace {

using namespace std::chrono_literals;

StatusSample sample(int64_t t_ms, uint64_t reads, uint64_t hits, uint64_t dl, int64_t lag) {
  return StatusSample{t_ms, reads, hits, dl, lag};
}

TEST(StatusHistory, KeepsOnlyTheNewestSamples) {
  StatusHistory h(5);
  EXPECT_TRUE(h.samples().empty());
  for (int i = 0; i < 12; ++i) h.add(sample(i * 1000, static_cast<uint64_t>(i), 0, 0, 0));
  const auto s = h.samples();
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s.front().reads, 7u);
  EXPECT_EQ(s.back().reads, 11u);

  StatusHistory hour;  // the default: an hour at 10 s
  for (int i = 0; i < 1000; ++i) hour.add(sample(i, 0, 0, 0, 0));
  EXPECT_EQ(hour.samples().size(), kStatusSamples);
  EXPECT_EQ(hour.samples().front().t_ms, 1000 - static_cast<int64_t>(kStatusSamples));
}

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& text) {
  simdjson::dom::element doc;
  EXPECT_EQ(p.parse(text).get(doc), simdjson::SUCCESS) << text;
  return doc;
}

TEST(StatusHistory, RatesAreOverEachIntervalAndNeverNegative) {
  EXPECT_EQ(history_json({}, 10000, 360), R"({"interval_ms":10000,"capacity":360,"samples":[]})");
  const int64_t t = 1'800'000'000'000;
  const std::string text = history_json({sample(t, 100, 10, 1, 5), sample(t + 10'000, 600, 30, 1, 7),
                                         // the processor restarted: its counters start over
                                         sample(t + 20'000, 50, 0, 0, 0)},
                                        10000, 360);
  simdjson::dom::parser p;
  auto doc = parse(p, text);
  simdjson::dom::array samples;
  ASSERT_EQ(doc["samples"].get(samples), simdjson::SUCCESS);
  ASSERT_EQ(samples.size(), 3u);
  double v = -1;
  std::string_view ts;
  EXPECT_EQ(samples.at(0)["t"].get(ts), simdjson::SUCCESS);
  EXPECT_EQ(ts, format_rfc3339(t));
  EXPECT_NE(samples.at(0)["reads_per_s"].get(v), simdjson::SUCCESS) << "no rate before a second sample";
  ASSERT_EQ(samples.at(1)["reads_per_s"].get(v), simdjson::SUCCESS);
  EXPECT_DOUBLE_EQ(v, 50.0);
  ASSERT_EQ(samples.at(1)["hits_per_s"].get(v), simdjson::SUCCESS);
  EXPECT_DOUBLE_EQ(v, 2.0);
  ASSERT_EQ(samples.at(1)["deadletters_per_s"].get(v), simdjson::SUCCESS);
  EXPECT_DOUBLE_EQ(v, 0.0);
  int64_t lag = -1;
  ASSERT_EQ(samples.at(1)["consumer_lag"].get(lag), simdjson::SUCCESS);
  EXPECT_EQ(lag, 7);
  for (const char* k : {"reads_per_s", "hits_per_s", "deadletters_per_s"}) {
    ASSERT_EQ(samples.at(2)[k].get(v), simdjson::SUCCESS) << k;
    EXPECT_EQ(v, 0.0) << k << ": a counter that went back is no negative rate";
  }
}

TEST(StatusSampler, SamplesUntilStopped) {
  StatusHistory h(4);
  std::atomic<uint64_t> n{0};
  StatusSampler s(h, [&] { return sample(static_cast<int64_t>(n.load()), n++, 0, 0, 0); }, 1);
  s.start();
  for (int i = 0; i < 5000 && n.load() < 10; ++i) std::this_thread::sleep_for(1ms);
  s.stop();
  const uint64_t taken = n.load();
  EXPECT_GE(taken, 10u);
  EXPECT_EQ(h.samples().size(), 4u) << "bounded while sampling";
  EXPECT_EQ(h.samples().back().reads, taken - 1);
  s.stop();  // idempotent
  EXPECT_EQ(n.load(), taken) << "no sample after stop()";
}

// Two lists, one of them covert (room R-SECRET).
std::shared_ptr<const Snapshot> lists() {
  IndexBuilder b;
  ListMeta open;
  open.id = "nl-stolen";
  open.owner = kNL;
  ListMeta be;
  be.id = "be-wanted";
  be.owner = kBE;
  ListMeta secret;
  secret.id = "nl-secret-ops";
  secret.owner = kNL;
  secret.covert = true;
  secret.rooms = {"R-SECRET"};
  const uint16_t a = b.add_list(open), c = b.add_list(be), s = b.add_list(secret);
  b.add(a, *Plate::from_normalized("GB123X"), kNL, Category::stolen_vehicle, Action::intercept, 20,
        kNoExpiry, "REF-1", "");
  b.add(c, *Plate::from_normalized("1ABC234"), kBE, Category::wanted_person, Action::intercept, 20,
        kNoExpiry, "REF-3", "");
  b.add(s, *Plate::from_normalized("XX999X"), kNL, Category::suspect, Action::observe, 20,
        kNoExpiry, "REF-2", "");
  return b.build();
}

// A hit of camera `camera` (room `room`), with extra fields before its closing brace.
std::string hit(const std::string& id, const std::string& room, const std::string& camera,
                const std::string& extra = "") {
  std::string h = testing::hit_json(id, room);
  const std::string from = R"("camera_id":"c1")";
  h.replace(h.find(from), from.size(), R"("camera_id":")" + camera + "\"");
  h.insert(h.size() - 1, extra);
  return h;
}

class StatusApi : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.state_dir = tmp_.path();
    settings_.http.listen = "127.0.0.1:0";
    settings_.http.tokens = {
        {"carl", "controlroom", http::sha256_hex("cr-all"), "*"},
        {"rita", "controlroom", http::sha256_hex("cr-r1"), "R1"},
        {"sam", "controlroom", http::sha256_hex("cr-secret"), "R-SECRET"},
        {"olga", "operator", http::sha256_hex("op"), "*"},
        {"ivo", "investigator", http::sha256_hex("inv"), "*"},
        {"emma", "engineer", http::sha256_hex("eng"), "*"},
    };
    cameras_ = CameraRegistry::parse(
        "camera_id,country,site,lat,lon,control_room\n"
        "c1,NL,A2 Maarssen,52.1352,5.0301,R1\n"
        "c2,BE,E19 Antwerpen,51.2602,4.4525,R2\n"
        "c3,LU,no position,,,R1\n"
        "c4,BE,E40 Brussel,50.8620,4.4302,R2\n",
        "cameras.csv");
    service_ = std::make_unique<HttpService>(settings_);
    service_->context().index = &index_;
    service_->context().cameras = &cameras_;
    add_status_routes(*service_, history_, 10000, &feed_);
    add_hit_filter_routes(*service_);
    service_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", service_->server().port());
  }
  void TearDown() override { service_->stop(); }

  httplib::Result get(const std::string& path, const std::string& token) {
    return client_->Get(path, httplib::Headers{{"Authorization", "Bearer " + token}});
  }
  // The map's hits as "camera_id@lat,lon" as seen by `token`.
  std::multiset<std::string> map_hits(const std::string& token) {
    auto r = get("/api/v1/status/map", token);
    EXPECT_TRUE(r && r->status == 200);
    std::multiset<std::string> out;
    if (!r) return out;
    simdjson::dom::parser p;
    auto doc = parse(p, r->body);
    for (auto h : doc["hits"].get_array()) {
      std::string_view cam;
      double lat = 0, lon = 0;
      EXPECT_EQ(h["camera_id"].get(cam), simdjson::SUCCESS);
      EXPECT_EQ(h["lat"].get(lat), simdjson::SUCCESS);
      EXPECT_EQ(h["lon"].get(lon), simdjson::SUCCESS);
      char pos[64];
      std::snprintf(pos, sizeof pos, "@%.4f,%.4f", lat, lon);
      out.insert(std::string(cam) + pos);
    }
    return out;
  }

  testing::TempDir tmp_{"status"};
  config::Settings settings_;
  CameraRegistry cameras_;
  LiveIndex index_{lists()};
  HitFeed feed_{1000};
  StatusHistory history_;
  std::unique_ptr<HttpService> service_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(StatusApi, EveryRoleReadsTheHistoryNobodyWithoutAToken) {
  for (const std::string path : {"/api/v1/status/history", "/api/v1/status/map"}) {
    SCOPED_TRACE(path);
    auto r = client_->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    r = get(path, "wrong");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    for (const char* t : {"cr-all", "cr-r1", "op", "inv", "eng"}) {
      r = get(path, t);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200) << t;
    }
  }
}

TEST_F(StatusApi, TheHistoryIsEmptyBeforeTheFirstSampleAndBoundedAfter) {
  auto r = get("/api/v1/status/history", "eng");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, R"({"interval_ms":10000,"capacity":360,"samples":[]})");
  for (int i = 0; i < 1000; ++i)
    history_.add(sample(1'800'000'000'000 + i * 10'000, static_cast<uint64_t>(i) * 5, 0, 0, i));
  r = get("/api/v1/status/history?samples=100000", "cr-r1");
  ASSERT_TRUE(r);
  simdjson::dom::parser p;
  auto doc = parse(p, r->body);
  simdjson::dom::array samples;
  ASSERT_EQ(doc["samples"].get(samples), simdjson::SUCCESS);
  EXPECT_EQ(samples.size(), kStatusSamples);
  int64_t lag = -1;
  ASSERT_EQ(samples.at(samples.size() - 1)["consumer_lag"].get(lag), simdjson::SUCCESS);
  EXPECT_EQ(lag, 999) << "the newest kept";
  double rate = 0;
  EXPECT_NE(samples.at(0)["reads_per_s"].get(rate), simdjson::SUCCESS)
      << "the sample before the oldest kept is gone";
  ASSERT_EQ(samples.at(1)["reads_per_s"].get(rate), simdjson::SUCCESS);
  EXPECT_DOUBLE_EQ(rate, 0.5);
}

TEST_F(StatusApi, TheMapShowsCamerasWithAPositionAndWhereHitsHappened) {
  auto r = get("/api/v1/status/map", "eng");
  ASSERT_TRUE(r);
  simdjson::dom::parser p;
  auto doc = parse(p, r->body);
  std::set<std::string> ids;
  for (auto c : doc["cameras"].get_array()) ids.insert(std::string(c["camera_id"].get_string().value()));
  EXPECT_EQ(ids, (std::set<std::string>{"c1", "c2", "c4"})) << "c3 has no position";
  EXPECT_TRUE(map_hits("eng").empty());

  ASSERT_TRUE(feed_.add_hit(hit("h1", "R1", "c1")));                          // the camera's place
  ASSERT_TRUE(feed_.add_hit(hit("h2", "R2", "c2", R"(,"lat":51.3,"lon":4.5)")));  // its own
  ASSERT_TRUE(feed_.add_hit(hit("h3", "R1", "c3")));                 // nowhere known: left out
  ASSERT_TRUE(feed_.add_hit(hit("h4", "R2", "c4", R"(,"lat":"x","lon":999)")));  // camera's place
  ASSERT_TRUE(feed_.add_hit(hit("h5", "R2", "unknown-cam")));        // nowhere known: left out
  const std::multiset<std::string> all = {"c1@52.1352,5.0301", "c2@51.3000,4.5000",
                                          "c4@50.8620,4.4302"};
  EXPECT_EQ(map_hits("eng"), all);
  EXPECT_EQ(map_hits("op"), all);
  EXPECT_EQ(map_hits("cr-all"), all);
  EXPECT_EQ(map_hits("cr-r1"), (std::multiset<std::string>{"c1@52.1352,5.0301"}))
      << "a control room sees where its own room's hits happened";
  // No plate, list or reference on the map.
  r = get("/api/v1/status/map", "eng");
  ASSERT_TRUE(r);
  for (const char* field : {"plate", "list_id", "reference", "hit_id", "AB12CD"})
    EXPECT_EQ(r->body.find(field), std::string::npos) << field << " in " << r->body;
}

TEST_F(StatusApi, ACovertHitIsNeverOnTheMapWhoeverAsks) {
  ASSERT_TRUE(feed_.add_hit(hit("open1", "R1", "c1")));
  for (const std::string rooms : {R"(["R-SECRET"])", R"(["*","R1","R-SECRET"])"})
    ASSERT_TRUE(feed_.add_hit(hit("sec" + std::to_string(rooms.size()), "R1", "c2",
                                  R"(,"covert":true,"covert_rooms":)" + rooms)));
  // A malformed covert mark: covert all the same (serve/hit_feed.h).
  ASSERT_TRUE(feed_.add_hit(hit("sec-bad", "R1", "c4", R"(,"covert":"yes")")));
  ASSERT_EQ(feed_.size(), 4u);
  for (const char* t : {"cr-all", "cr-r1", "op", "inv", "eng"})
    EXPECT_EQ(map_hits(t), (std::multiset<std::string>{"c1@52.1352,5.0301"})) << t;
  EXPECT_TRUE(map_hits("cr-secret").empty())
      << "not even to a room the covert list names (it sees the hit on its live page)";
}

TEST_F(StatusApi, TheMapHoldsAtMostTheNewestHits) {
  for (std::size_t i = 0; i < kMapHits + 100; ++i)
    ASSERT_TRUE(feed_.add_hit(hit("n" + std::to_string(i), "R1", "c1")));
  EXPECT_EQ(map_hits("eng").size(), kMapHits);
}

std::vector<std::string> filter_lists(const httplib::Result& r) {
  std::vector<std::string> out;
  if (!r) return out;
  simdjson::dom::parser p;
  auto doc = parse(p, r->body);
  for (auto l : doc["lists"].get_array()) out.emplace_back(l["list_id"].get_string().value());
  return out;
}

TEST_F(StatusApi, FiltersOfferTheLoadedListsACovertOneOnlyToItsRooms) {
  for (const char* t : {"op", "inv", "eng"}) {
    auto r = get("/api/v1/hits/filters", t);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << t;
  }
  auto r = client_->Get("/api/v1/hits/filters");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);

  const std::vector<std::string> open = {"be-wanted", "nl-stolen"};
  EXPECT_EQ(filter_lists(get("/api/v1/hits/filters", "cr-all")), open)
      << "a \"*\" room sees a covert list only when the list names \"*\"";
  EXPECT_EQ(filter_lists(get("/api/v1/hits/filters", "cr-r1")), open);
  EXPECT_EQ(filter_lists(get("/api/v1/hits/filters", "cr-secret")),
            (std::vector<std::string>{"be-wanted", "nl-secret-ops", "nl-stolen"}));
  r = get("/api/v1/hits/filters", "cr-all");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.find("secret"), std::string::npos) << r->body;

  simdjson::dom::parser p;
  auto doc = parse(p, r->body);
  std::vector<std::string> countries;
  for (auto c : doc["countries"].get_array()) countries.emplace_back(c.get_string().value());
  EXPECT_EQ(countries, (std::vector<std::string>{"BE", "LU", "NL"})) << "the registry's, once each";
  EXPECT_EQ(doc["categories"].get_array().size(), static_cast<std::size_t>(kCategoryCount));
  EXPECT_EQ(doc["actions"].get_array().size(), static_cast<std::size_t>(kActionCount));
  std::string_view owner;
  ASSERT_EQ(doc["lists"].at(0)["owner"].get(owner), simdjson::SUCCESS);
  EXPECT_EQ(owner, "BE");
}

TEST_F(StatusApi, FiltersWithoutListsOrCamerasAreEmptyNotAnError) {
  service_->context().cameras = nullptr;
  index_.publish(IndexBuilder().build());
  auto r = get("/api/v1/hits/filters", "cr-r1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(filter_lists(r).empty());
  EXPECT_NE(r->body.find(R"("countries":[])"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace anpr::app
