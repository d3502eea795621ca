// The follow-up API (serve/control_room.h, docs/control-room.md) against a broker: dispositions
// and outcomes audited, published to the acknowledgements topic and idempotent; every malformed
// or hostile request refused without a trace in the feed, the audit log or Kafka; another room's
// hit, an outcome before an acceptance, conflicting and simultaneous requests, a broker that
// cannot take the record; and the records other instances write, signed or not, as the feed
// reads them from Kafka.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "http/auth.h"
#include "kafka/client.h"
#include "kafka/signing.h"
#include "serve/control_room.h"
#include "serve/hit_feed.h"
#include "serve/http_service.h"
#include "tests/hits.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr::app {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::hit_json;

const std::string kKey(32, '\x11');

class FollowupApi : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    broker_ = testing::TestBroker(dir_, testing::current_test_name(), 1);
    ASSERT_FALSE(broker_.bootstrap().empty());
    settings_.kafka.brokers = broker_.bootstrap();
    settings_.kafka.common = {{"log_level", "3"}};
    settings_.topics.hits = broker_.topic("anpr.hits");
    settings_.topics.hit_acks = broker_.topic("anpr.hit-acks");
    settings_.state_dir = dir_;
    settings_.http.listen = "127.0.0.1:0";
    settings_.retention.policies = config::default_retention_policies();
    settings_.http.max_body_bytes = 4096;
    settings_.http.tokens = {
        {"carl", "controlroom", http::sha256_hex("cr-all"), "*"},
        {"rita", "controlroom", http::sha256_hex("cr-r1"), "R1"},
        {"rob", "controlroom", http::sha256_hex("cr-r2"), "R2"},
        {"olga", "operator", http::sha256_hex("op"), "*"},
        {"ivan", "investigator", http::sha256_hex("inv"), "*"},
    };
  }
  void start(bool follow_kafka = false) {
    service_ = std::make_unique<HttpService>(settings_);
    room_ = std::make_unique<ControlRoom>(settings_, *service_);
    service_->start();
    if (follow_kafka) room_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", service_->server().port());
    client_->set_read_timeout(30, 0);
  }
  void TearDown() override {
    if (room_) room_->stop();
    if (service_) service_->stop();
  }
  static httplib::Headers bearer(const std::string& t) { return {{"Authorization", "Bearer " + t}}; }

  httplib::Result post(const std::string& path, const std::string& token, const std::string& body) {
    return client_->Post(path, bearer(token), body, "application/json");
  }
  std::vector<std::string> audit_actions() {
    std::ifstream in(dir_ / "audit.jsonl");
    std::vector<std::string> out;
    simdjson::dom::parser p;
    for (std::string l; std::getline(in, l);)
      out.emplace_back(std::string_view(p.parse(l)["action"]));
    return out;
  }
  // Every record on the acknowledgements topic (waits for `want` of them, generously).
  std::vector<std::string> records(std::size_t want) {
    kafka::Consumer c({{"bootstrap.servers", broker_.bootstrap()},
                       {"group.id", broker_.group("t")},
                       {"log_level", "3"}});
    kafka::PartitionList parts(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(parts.get(), settings_.topics.hit_acks.c_str(), 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    c.assign(parts.get());
    std::vector<std::string> out;
    for (int i = 0; i < 100 && out.size() < want; ++i) {
      const kafka::Message m = c.poll(100);
      if (m && !m->err) out.emplace_back(static_cast<const char*>(m->payload), m->len);
    }
    // Nothing more than wanted: a short look for extra records.
    for (int i = 0; i < 5; ++i) {
      const kafka::Message m = c.poll(100);
      if (m && !m->err) out.emplace_back(static_cast<const char*>(m->payload), m->len);
    }
    c.close();
    return out;
  }
  void produce(const std::string& value, std::vector<std::string> keys = {}) {
    kafka::Producer p({{"bootstrap.servers", broker_.bootstrap()}, {"log_level", "3"}}, nullptr,
                      kafka::Signer(std::move(keys)));
    ASSERT_EQ(p.produce(settings_.topics.hit_acks, "k", value), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(p.flush(10'000));
  }
  template <class Pred>
  static bool eventually(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return pred();
  }

  testing::TempDir tmp_{"followup"};  // first: removed last
  fs::path dir_;
  testing::TestBroker broker_;
  config::Settings settings_;
  std::unique_ptr<HttpService> service_;
  std::unique_ptr<ControlRoom> room_;
  std::unique_ptr<httplib::Client> client_;
};

std::string field(const std::string& json, const char* key) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(json).get(doc)) return "<not json>";
  std::string_view v;
  if (doc[key].get_string().get(v)) return "<absent>";
  return std::string(v);
}

TEST_F(FollowupApi, EveryEndpointRequiresAControlRoomToken) {
  start();
  room_->feed().add_hit(hit_json("abc1", "R1", 5));
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"GET", "/api/v1/followup/codes"},
      {"POST", "/api/v1/hits/abc1/disposition"},
      {"POST", "/api/v1/hits/abc1/outcome"}};
  for (const auto& [method, path] : endpoints) {
    SCOPED_TRACE(method + " " + path);
    for (const std::string& token : {std::string(""), std::string("wrong"), std::string("op"),
                                     std::string("inv")}) {
      httplib::Headers h = token.empty() ? httplib::Headers{} : bearer(token);
      auto r = method == "GET" ? client_->Get(path, h)
                               : client_->Post(path, h, R"({"disposition":"accepted"})",
                                               "application/json");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, token == "op" || token == "inv" ? 403 : 401);
    }
  }
  EXPECT_EQ(room_->feed().lookup("abc1", "*"), HitFeed::Lookup::open);
  EXPECT_TRUE(audit_actions().empty());
}

TEST_F(FollowupApi, CodesAreTheConfiguredOnes) {
  settings_.followup.reject_reasons = {"misread", "plate_swap"};
  settings_.followup.escalation_sound = true;
  start();
  auto r = client_->Get("/api/v1/followup/codes", bearer("cr-r1"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->body,
            R"({"reject_reasons":["misread","plate_swap"],"note_required":[],)"
            R"("outcomes":["intercepted","observed","not_found","owner_notified","no_action"],)"
            R"("escalate_priority":20,"escalate_after_s":60,"escalation_sound":true})");
}

TEST_F(FollowupApi, AcceptThenOutcomeAreAuditedPublishedAndIdempotent) {
  start();
  ASSERT_TRUE(room_->feed().add_hit(hit_json("abc1", "R1", 5)));
  auto r = post("/api/v1/hits/abc1/disposition", "cr-r1", R"({"disposition":"accepted"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string accepted = r->body;
  EXPECT_EQ(field(accepted, "kind"), "disposition");
  EXPECT_EQ(field(accepted, "disposition"), "accepted");
  EXPECT_EQ(field(accepted, "by"), "rita");
  EXPECT_EQ(field(accepted, "control_room"), "R1");
  EXPECT_EQ(field(accepted, "camera_id"), "c1");
  EXPECT_EQ(field(accepted, "reason"), "<absent>");
  EXPECT_NE(accepted.find("\"covert\":false"), std::string::npos);
  EXPECT_NE(accepted.find("\"priority\":5"), std::string::npos);
  EXPECT_NE(field(accepted, "hit_ts"), "<absent>");
  EXPECT_NE(field(accepted, "ts"), "<absent>");
  // The same again (a double click, a retried request): the stored record, nothing new.
  r = post("/api/v1/hits/abc1/disposition", "cr-all", R"({"disposition":"accepted"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, accepted);
  // Another disposition: 409 naming what is recorded.
  r = post("/api/v1/hits/abc1/disposition", "cr-r1",
           R"({"disposition":"rejected","reason":"misread"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("already accepted"), std::string::npos) << r->body;
  // The outcome, then the same again, then another.
  r = post("/api/v1/hits/abc1/outcome", "cr-r1", R"({"outcome":"intercepted","note":"A2 exit 5"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string outcome = r->body;
  EXPECT_EQ(field(outcome, "kind"), "outcome");
  EXPECT_EQ(field(outcome, "outcome"), "intercepted");
  EXPECT_EQ(field(outcome, "note"), "A2 exit 5");
  r = post("/api/v1/hits/abc1/outcome", "cr-r1", R"({"outcome":"intercepted","note":"A2 exit 5"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, outcome);
  r = post("/api/v1/hits/abc1/outcome", "cr-r1", R"({"outcome":"not_found"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("intercepted"), std::string::npos) << r->body;
  // Audited once each: the acknowledgement the disposition implies, the disposition, the outcome.
  EXPECT_EQ(audit_actions(), (std::vector<std::string>{"hit.ack", "hit.disposition", "hit.outcome"}));
  // Published in that order, and nothing else.
  const auto recs = records(3);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(field(recs[0], "kind"), "ack");
  EXPECT_EQ(field(recs[0], "acknowledged_by"), "rita");
  EXPECT_EQ(recs[1], accepted);
  EXPECT_EQ(recs[2], outcome);
  const auto s = room_->feed().followup("abc1");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->acked);
  EXPECT_EQ(s->disposition, "accepted");
  EXPECT_EQ(s->outcome, "intercepted");
}

TEST_F(FollowupApi, RejectionNeedsAConfiguredReasonAndOtherNeedsANote) {
  start();
  ASSERT_TRUE(room_->feed().add_hit(hit_json("aa01", "R1", 50)));
  ASSERT_TRUE(room_->feed().add_hit(hit_json("aa02", "R1", 50)));
  auto r = post("/api/v1/hits/aa01/disposition", "cr-r1", R"({"disposition":"rejected"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("misread, wrong_vehicle, duplicate, out_of_area, no_capacity, other"),
            std::string::npos)
      << r->body;
  r = post("/api/v1/hits/aa01/disposition", "cr-r1",
           R"({"disposition":"rejected","reason":"other"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("needs a note"), std::string::npos) << r->body;
  r = post("/api/v1/hits/aa01/disposition", "cr-r1",
           R"({"disposition":"rejected","reason":"other","note":"   "})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(audit_actions().empty());
  r = post("/api/v1/hits/aa01/disposition", "cr-r1",
           R"({"disposition":"rejected","reason":"other","note":"trailer of the listed car"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(field(r->body, "reason"), "other");
  // A rejected hit takes no outcome.
  r = post("/api/v1/hits/aa01/outcome", "cr-r1", R"({"outcome":"observed"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("only for an accepted hit"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("rejected (other)"), std::string::npos) << r->body;
  r = post("/api/v1/hits/aa02/disposition", "cr-r1",
           R"({"disposition":"rejected","reason":"misread"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(room_->feed().followup("aa02")->reason, "misread");
}

TEST_F(FollowupApi, AnOutcomeBeforeAnAcceptanceIsAConflictAndLeavesTheHitOpen) {
  start();
  ASSERT_TRUE(room_->feed().add_hit(hit_json("bb01", "R1", 50)));
  auto r = post("/api/v1/hits/bb01/outcome", "cr-r1", R"({"outcome":"intercepted"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("not accepted or rejected yet"), std::string::npos) << r->body;
  EXPECT_EQ(room_->feed().lookup("bb01", "R1"), HitFeed::Lookup::open);
  EXPECT_TRUE(audit_actions().empty());
  // Nothing stays reserved: the hit can still be acknowledged and accepted.
  r = post("/api/v1/hits/bb01/ack", "cr-r1", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // Already acknowledged: the disposition publishes no second acknowledgement.
  r = post("/api/v1/hits/bb01/disposition", "cr-r1", R"({"disposition":"accepted"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(audit_actions(), (std::vector<std::string>{"hit.ack", "hit.disposition"}));
  EXPECT_EQ(records(2).size(), 2u);
}

TEST_F(FollowupApi, AnotherRoomsOrAnUnknownHitIs404) {
  start();
  ASSERT_TRUE(room_->feed().add_hit(hit_json("cc02", "R2", 5)));
  ASSERT_TRUE(room_->feed().add_hit(hit_json("cc03", "R2", 5)));
  ASSERT_TRUE(room_->feed().add_record(
      R"({"kind":"disposition","hit_id":"cc03","control_room":"R2","by":"rob","disposition":"accepted"})"));
  for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/api/v1/hits/cc02/disposition", R"({"disposition":"accepted"})"},
           {"/api/v1/hits/cc03/outcome", R"({"outcome":"observed"})"},
           {"/api/v1/hits/ffff/disposition", R"({"disposition":"accepted"})"},
           {"/api/v1/hits/ffff/outcome", R"({"outcome":"observed"})"},
           {"/api/v1/hits/NOT-HEX/disposition", R"({"disposition":"accepted"})"}}) {
    SCOPED_TRACE(path);
    auto r = post(path, "cr-r1", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
  }
  EXPECT_EQ(room_->feed().lookup("cc02", "R2"), HitFeed::Lookup::open);
  EXPECT_EQ(room_->feed().followup("cc03")->outcome, "");
  EXPECT_TRUE(audit_actions().empty());
  // Its own room may.
  auto r = post("/api/v1/hits/cc02/disposition", "cr-r2", R"({"disposition":"accepted"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(FollowupApi, MalformedAndHostileBodiesAreRefusedAndLeaveNoTrace) {
  start();
  ASSERT_TRUE(room_->feed().add_hit(hit_json("dd01", "R1", 5)));
  ASSERT_TRUE(room_->feed().add_hit(hit_json("dd02", "R1", 5)));
  ASSERT_TRUE(room_->feed().add_record(
      R"({"kind":"disposition","hit_id":"dd02","control_room":"R1","by":"rita","disposition":"accepted"})"));
  const std::vector<std::string> dispositions = {
      "", "not json", "[1]", "null", "\"accepted\"", R"({"disposition":"accepted")",
      R"({})", R"({"disposition":5})", R"({"disposition":null})", R"({"disposition":["accepted"]})",
      R"({"disposition":"ACCEPTED"})", R"({"disposition":"maybe"})",
      R"({"disposition":"accepted","extra":1})", R"({"disposition":"accepted","Disposition":"x"})",
      R"({"disposition":"accepted","reason":"misread"})",
      R"({"disposition":"rejected","reason":"misreads"})",
      R"({"disposition":"rejected","reason":""})",
      R"({"disposition":"rejected","reason":5})",
      R"({"disposition":"rejected","reason":"misread","note":7})",
      R"({"disposition":"accepted","note":")" + std::string(501, 'x') + "\"}",
      R"({"disposition":"accepted","note":"a\u0000b"})",
      R"({"disposition":"accepted","note":"line\nbreak"})",
      R"({"disposition":"accepted","note":"bell\u0007"})",
      R"({"disposition":"accepted","note":"c1\u0085"})",
      R"({"disposition":"accepted","note":"\u202eevil"})",
      R"({"disposition":"accepted","disposition":"rejected"})",
      "{\"disposition\":\"accepted\",\"note\":\"\xff\xfe\"}",
  };
  for (const std::string& body : dispositions) {
    SCOPED_TRACE(body.substr(0, 100));
    auto r = post("/api/v1/hits/dd01/disposition", "cr-r1", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find("\"detail\""), std::string::npos) << r->body;
  }
  const std::vector<std::string> outcomes = {
      "", "{}", R"({"outcome":5})", R"({"outcome":"arrested"})", R"({"outcome":"Intercepted"})",
      R"({"outcome":"observed","disposition":"accepted"})", R"({"outcome":"observed","note":[]})",
      R"({"outcome":"observed","note":")" + std::string(501, 'y') + "\"}",
      R"({"outcome":"observed","note":"\u001b[31m"})",
  };
  for (const std::string& body : outcomes) {
    SCOPED_TRACE(body.substr(0, 100));
    auto r = post("/api/v1/hits/dd02/outcome", "cr-r1", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
  }
  auto r = post("/api/v1/hits/dd02/outcome", "cr-r1", R"({"outcome":"arrested"})");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("intercepted, observed, not_found, owner_notified, no_action"),
            std::string::npos)
      << r->body;
  // Larger than http.max_body_bytes.
  r = post("/api/v1/hits/dd01/disposition", "cr-r1", std::string(5000, ' '));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(room_->feed().lookup("dd01", "R1"), HitFeed::Lookup::open);
  EXPECT_EQ(room_->feed().followup("dd02")->outcome, "");
  EXPECT_TRUE(audit_actions().empty());
  EXPECT_TRUE(records(0).empty());
  // A note of exactly 500 bytes, in several scripts, is fine.
  std::string note = "été ";
  while (note.size() < 500) note += "x";
  r = post("/api/v1/hits/dd01/disposition", "cr-r1",
           R"({"disposition":"accepted","note":")" + note + "\"}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(FollowupApi, SimultaneousDispositionsOfOneHitAreRecordedOnce) {
  start();
  ASSERT_TRUE(room_->feed().add_hit(hit_json("ee01", "R1", 5)));
  std::vector<int> status(6, 0);
  std::vector<std::string> bodies(6);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", service_->server().port());
      c.set_read_timeout(30, 0);
      auto r = c.Post("/api/v1/hits/ee01/disposition", bearer(i % 2 ? "cr-all" : "cr-r1"),
                      i < 3 ? R"({"disposition":"accepted"})"
                            : R"({"disposition":"rejected","reason":"duplicate"})",
                      "application/json");
      status[i] = r ? r->status : -1;
      if (r) bodies[i] = r->body;
    });
  for (auto& t : threads) t.join();
  int ok = 0;
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(status[i] == 200 || status[i] == 409) << status[i] << " " << bodies[i];
    ok += status[i] == 200;
  }
  EXPECT_GE(ok, 1);
  const auto actions = audit_actions();
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "hit.disposition"), 1);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "hit.ack"), 1);
  // Every 200 answers the one stored record.
  const std::string stored = room_->feed().followup("ee01")->disposition_json;
  for (int i = 0; i < 6; ++i) {
    if (status[i] != 200) continue;
    EXPECT_EQ(bodies[i], stored);
  }
  EXPECT_EQ(records(2).size(), 2u);
}

TEST_F(FollowupApi, ARecordTheBrokerDoesNotTakeIs503AndLeavesTheHitOpen) {
  settings_.kafka.brokers = "127.0.0.1:1";  // nobody listens
  settings_.kafka.producer = {{"message.timeout.ms", "1500"}};
  start();
  ASSERT_TRUE(room_->feed().add_hit(hit_json("ff01", "R1", 5)));
  for (int attempt = 0; attempt < 2; ++attempt) {
    SCOPED_TRACE(attempt);
    auto r = post("/api/v1/hits/ff01/disposition", "cr-r1", R"({"disposition":"accepted"})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(room_->feed().lookup("ff01", "R1"), HitFeed::Lookup::open);
  }
  EXPECT_EQ(audit_actions(), (std::vector<std::string>{"hit.ack", "hit.ack.failed", "hit.ack",
                                                       "hit.ack.failed"}));
  // An acknowledged, accepted hit whose outcome cannot be published: 503, no outcome recorded.
  ASSERT_TRUE(room_->feed().add_record(R"({"kind":"ack","hit_id":"ff01","by":"rita"})"));
  ASSERT_TRUE(room_->feed().add_record(
      R"({"kind":"disposition","hit_id":"ff01","control_room":"R1","by":"rita","disposition":"accepted"})"));
  auto r = post("/api/v1/hits/ff01/outcome", "cr-r1", R"({"outcome":"observed"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(room_->feed().followup("ff01")->outcome, "");
  EXPECT_EQ(audit_actions().back(), "hit.outcome.failed");
  // Not stuck: the next attempt is tried again (and fails again), not refused as busy.
  r = post("/api/v1/hits/ff01/outcome", "cr-r1", R"({"outcome":"observed"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
}

// Records another instance wrote reach this instance's feed through Kafka; with signing keys,
// only signed ones, and malformed or hostile ones never.
TEST_F(FollowupApi, RecordsOfOtherInstancesUpdateTheFeedOnlyWhenSigned) {
  settings_.kafka.signing_keys = {kKey};
  start(true);
  // The hit, published signed, as the processor would.
  {
    kafka::Producer p({{"bootstrap.servers", broker_.bootstrap()}, {"log_level", "3"}}, nullptr,
                      kafka::Signer({kKey}));
    ASSERT_EQ(p.produce(settings_.topics.hits, "c1", hit_json("aa11", "R1", 50)),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(p.flush(10'000));
  }
  ASSERT_TRUE(eventually([&] { return room_->feed().lookup("aa11", "R1") == HitFeed::Lookup::open; }));
  const std::string rejected =
      R"({"kind":"disposition","hit_id":"aa11","control_room":"R1","by":"mallory","disposition":"rejected","reason":"misread"})";
  produce(rejected);                       // unsigned
  produce(rejected, {std::string(32, 'x')});  // another key
  produce(R"({"kind":"disposition","hit_id":"aa11","control_room":"R9","by":"x","disposition":"rejected","reason":"misread"})",
          {kKey});                         // signed, but a room that cannot see the hit
  produce(R"({"kind":"disposition","hit_id":"aa11"})", {kKey});          // malformed
  produce(R"({"kind":"disposition","hit_id":"zz99","control_room":"R1","by":"x","disposition":"accepted"})",
          {kKey});                         // a hit this feed does not hold
  produce("\x01\x02 not json", {kKey});
  const std::string accepted =
      R"({"kind":"disposition","hit_id":"aa11","control_room":"R1","by":"rita","disposition":"accepted"})";
  produce(accepted, {kKey});
  ASSERT_TRUE(eventually([&] { return room_->feed().followup("aa11")->disposition == "accepted"; }));
  EXPECT_EQ(room_->feed().unsigned_records(), 2u);
  produce(R"({"kind":"outcome","hit_id":"aa11","control_room":"R1","by":"rita","outcome":"owner_notified"})",
          {kKey});
  ASSERT_TRUE(eventually([&] { return room_->feed().followup("aa11")->outcome == "owner_notified"; }));
  // The stream shows them to the room, with their event names.
  std::string got;
  httplib::Client c("127.0.0.1", service_->server().port());
  c.set_read_timeout(10, 0);
  c.Get("/api/v1/hits/stream", bearer("cr-r1"), [&](const char* d, std::size_t n) {
    got.append(d, n);
    return got.find("event: outcome") == std::string::npos;
  });
  EXPECT_NE(got.find("event: hit\n"), std::string::npos) << got;
  EXPECT_NE(got.find("event: disposition\ndata: " + accepted), std::string::npos) << got;
  EXPECT_NE(got.find("event: outcome\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("mallory"), std::string::npos) << got;
  // This instance's API agrees: the same acceptance is idempotent, a rejection a conflict.
  auto r = post("/api/v1/hits/aa11/disposition", "cr-r1", R"({"disposition":"accepted"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, accepted);
}

}  // namespace
}  // namespace anpr::app
