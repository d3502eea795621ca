// The control rooms' live feed (serve/hit_feed.h) and its HTTP API (serve/control_room.h): event
// order and resumption, deduplication, room visibility, acknowledgements (audited and published
// to Kafka), and every way a request can be wrong. The API's tests run against a broker of their
// own: the embedded one or Apache Kafka (tests/test_broker.h).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <httplib.h>
#include <simdjson.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "serve/control_room.h"
#include "serve/hit_feed.h"
#include "serve/http_service.h"
#include "http/auth.h"
#include "kafka/client.h"
#include "match/time.h"
#include "tests/hits.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr::app {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using testing::hit_json;
using testing::system_now;

// The API against a broker (one partition per topic: the hits keep their order).
class ControlRoomApi : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    broker_ = testing::TestBroker(dir_, testing::current_test_name(), 1);
    ASSERT_FALSE(broker_.bootstrap().empty());
    settings_.kafka.brokers = broker_.bootstrap();
    settings_.topics.hits = broker_.topic("anpr.hits");
    settings_.topics.hit_acks = broker_.topic("anpr.hit-acks");
    settings_.state_dir = dir_;
    settings_.http.listen = "127.0.0.1:0";
    settings_.retention.policies = config::default_retention_policies();  // LU hits: 28 days
    settings_.http.max_body_bytes = 4096;
    settings_.http.tokens = {
        {"carl", "controlroom", http::sha256_hex("cr-all"), "*"},
        {"rita", "controlroom", http::sha256_hex("cr-r1"), "R1"},
        {"rob", "controlroom", http::sha256_hex("cr-r2"), "R2"},
        {"rolf", "controlroom", http::sha256_hex("cr-r1b"), "R1"},
        {"olga", "operator", http::sha256_hex("op"), "*"},
    };
    service_ = std::make_unique<HttpService>(settings_);
    now_ = system_now();
    room_ = std::make_unique<ControlRoom>(settings_, *service_, [this] { return now_.load(); });
    service_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", service_->server().port());
    client_->set_read_timeout(15, 0);
  }
  void TearDown() override {
    if (room_) room_->stop();
    if (service_) service_->stop();
  }
  static httplib::Headers bearer(const std::string& t) { return {{"Authorization", "Bearer " + t}}; }

  std::vector<std::string> audit_lines() {
    std::ifstream in(dir_ / "audit.jsonl");
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  testing::TempDir tmp_{"cr"};  // first: removed last
  fs::path dir_;
  testing::TestBroker broker_;
  config::Settings settings_;
  std::unique_ptr<HttpService> service_;
  std::unique_ptr<ControlRoom> room_;
  std::unique_ptr<httplib::Client> client_;
  std::atomic<int64_t> now_{0};  // the feed's clock
};

TEST_F(ControlRoomApi, EveryEndpointRejectsMissingOrWrongTokensAndWrongRoles) {
  room_->feed().add_hit(hit_json("abc1", "R1"));
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"GET", "/api/v1/hits/stream"}, {"POST", "/api/v1/hits/abc1/ack"}, {"GET", "/api/v1/me"}};
  for (const auto& [method, path] : endpoints) {
    SCOPED_TRACE(method + " " + path);
    for (const httplib::Headers& h : {httplib::Headers{}, bearer("wrong"),
                                      httplib::Headers{{"Authorization", "Basic b3A6b3A="}}}) {
      auto r = method == "GET" ? client_->Get(path, h) : client_->Post(path, h, "", "text/plain");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401);
    }
    if (path == "/api/v1/me") continue;  // every role may ask who it is
    auto r = method == "GET" ? client_->Get(path, bearer("op"))
                             : client_->Post(path, bearer("op"), "", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
  }
  EXPECT_EQ(room_->feed().lookup("abc1", "*"), HitFeed::Lookup::open);  // nothing was acked
}

TEST_F(ControlRoomApi, MeNamesTheTokensHolder) {
  auto r = client_->Get("/api/v1/me", bearer("cr-r1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"name":"rita","role":"controlroom","control_room":"R1"})");
}

TEST_F(ControlRoomApi, AckIsAuditedPublishedAndShownOnce) {
  room_->feed().add_hit(hit_json("abc1", "R1"));
  auto r = client_->Post("/api/v1/hits/abc1/ack", bearer("cr-r1"), R"({"note":"unit 12 sent"})",
                         "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  simdjson::dom::parser p;
  auto doc = p.parse(r->body);
  EXPECT_EQ(std::string_view(doc["acknowledged_by"]), "rita");
  EXPECT_EQ(std::string_view(doc["note"]), "unit 12 sent");
  EXPECT_EQ(room_->feed().lookup("abc1", "R1"), HitFeed::Lookup::acknowledged);
  // Audited.
  const auto audit = audit_lines();
  ASSERT_EQ(audit.size(), 1u);
  auto a = p.parse(audit[0]);
  EXPECT_EQ(std::string_view(a["who"]), "rita");
  EXPECT_EQ(std::string_view(a["action"]), "hit.ack");
  EXPECT_EQ(std::string_view(a["hit_id"]), "abc1");
  // Published: read the acknowledgements topic with a consumer of our own.
  kafka::Consumer c({{"bootstrap.servers", broker_.bootstrap()},
                     {"group.id", broker_.group("t")},
                     {"auto.offset.reset", "earliest"}});
  kafka::PartitionList parts(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(parts.get(), settings_.topics.hit_acks.c_str(), 0)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  c.assign(parts.get());
  std::string got;
  for (int i = 0; i < 100 && got.empty(); ++i) {
    const kafka::Message m = c.poll(100);
    if (m && !m->err) got.assign(static_cast<const char*>(m->payload), m->len);
  }
  c.close();
  ASSERT_FALSE(got.empty()) << "no acknowledgement on " << settings_.topics.hit_acks;
  EXPECT_EQ(got, r->body);
  // A second acknowledgement is a conflict.
  r = client_->Post("/api/v1/hits/abc1/ack", bearer("cr-all"), "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
}

TEST_F(ControlRoomApi, SimultaneousAcknowledgementsOfOneHitSucceedOnce) {
  room_->feed().add_hit(hit_json("dd44", "R1"));
  std::vector<int> status(4, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", service_->server().port());
      c.set_read_timeout(15, 0);
      auto r = c.Post("/api/v1/hits/dd44/ack", bearer(i % 2 ? "cr-all" : "cr-r1"), "",
                      "text/plain");
      status[i] = r ? r->status : -1;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count(status.begin(), status.end(), 200), 1);
  EXPECT_EQ(std::count(status.begin(), status.end(), 409), 3);
  EXPECT_EQ(audit_lines().size(), 1u);
}

TEST_F(ControlRoomApi, AckOfUnknownOrOtherRoomsHitIs404) {
  room_->feed().add_hit(hit_json("bbb2", "R2"));
  auto r = client_->Post("/api/v1/hits/ffff/ack", bearer("cr-all"), "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Post("/api/v1/hits/bbb2/ack", bearer("cr-r1"), "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Post("/api/v1/hits/not-hex!/ack", bearer("cr-all"), "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(room_->feed().lookup("bbb2", "*"), HitFeed::Lookup::open);
  EXPECT_TRUE(audit_lines().empty());
}

TEST_F(ControlRoomApi, MalformedAndOversizedAckBodiesAreRejected) {
  room_->feed().add_hit(hit_json("abc1", "R1"));
  for (const std::string& body : std::vector<std::string>{"not json", "[1]", R"({"note":5})", R"({"other":"x"})",
                                 R"({"note":")" + std::string(600, 'x') + "\"}", "{\"note\":"}) {
    SCOPED_TRACE(body);
    auto r = client_->Post("/api/v1/hits/abc1/ack", bearer("cr-all"), body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("\"detail\""), std::string::npos);
  }
  auto r = client_->Post("/api/v1/hits/abc1/ack", bearer("cr-all"), std::string(5000, ' '),
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(room_->feed().lookup("abc1", "*"), HitFeed::Lookup::open);
}

// Reads the event stream until `want` events arrived; returns their "id: N" lines and types.
std::vector<std::pair<uint64_t, std::string>> read_stream(int port, const std::string& token,
                                                          const std::string& last_id,
                                                          std::size_t want,
                                                          std::vector<std::string>* bodies = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  httplib::Headers h{{"Authorization", "Bearer " + token}};
  if (!last_id.empty()) h.emplace("Last-Event-ID", last_id);
  std::vector<std::pair<uint64_t, std::string>> out;
  std::string buf;
  c.Get("/api/v1/hits/stream", h, [&](const char* data, std::size_t n) {
    buf.append(data, n);
    std::size_t cut;
    while ((cut = buf.find("\n\n")) != std::string::npos) {
      const std::string block = buf.substr(0, cut);
      buf.erase(0, cut + 2);
      const auto id = block.find("id: ");
      const auto ev = block.find("event: ");
      if (id == std::string::npos || ev == std::string::npos) continue;
      out.emplace_back(std::stoull(block.substr(id + 4)),
                       block.substr(ev + 7, block.find('\n', ev) - ev - 7));
      if (const auto d = block.find("data: "); bodies && d != std::string::npos)
        bodies->push_back(block.substr(d + 6, block.find('\n', d) - d - 6));
    }
    return out.size() < want;
  });
  return out;
}

TEST_F(ControlRoomApi, StreamResumesAfterLastEventIdAndFiltersRooms) {
  room_->feed().add_hit(hit_json("a1", "R1"));
  room_->feed().add_hit(hit_json("b1", "R2"));
  room_->feed().add_hit(hit_json("a2", "R1"));
  const int port = service_->server().port();
  auto all = read_stream(port, "cr-all", "", 3);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].second, "hit");
  auto r1 = read_stream(port, "cr-r1", "", 2);
  ASSERT_EQ(r1.size(), 2u);
  EXPECT_EQ(r1[0].first, all[0].first);
  EXPECT_EQ(r1[1].first, all[2].first);  // b1 is not R1's
  // Resume after the first: the rest, plus what arrived meanwhile.
  room_->feed().add_hit(hit_json("a3", "R1"));
  auto resumed = read_stream(port, "cr-r1", std::to_string(r1[0].first), 2);
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].first, all[2].first);
  // A hostile or stale Last-Event-ID starts from the beginning of the buffer.
  EXPECT_EQ(read_stream(port, "cr-all", "99999999999999", 4).size(), 4u);
  EXPECT_EQ(read_stream(port, "cr-all", "-1; drop", 4).size(), 4u);
}

// A hit on a covert list (docs/operators.md, "Covert lists") from a camera of room R2, its list
// naming R1 only: R1's stream carries it, R2's and the all-rooms token's do not, and only R1
// may acknowledge it.
TEST_F(ControlRoomApi, ACovertHitReachesTheStreamOfTheListsRoomsOnly) {
  std::string covert = hit_json("c0c0", "R2");
  covert.insert(covert.size() - 1, R"(,"list_id":"nl-secret","covert":true,"covert_rooms":["R1"])");
  room_->feed().add_hit(covert);
  room_->feed().add_hit(hit_json("b2", "R2"));
  const int port = service_->server().port();
  std::vector<std::string> data;
  auto r1 = read_stream(port, "cr-r1", "", 1, &data);
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_NE(data[0].find("\"c0c0\""), std::string::npos);
  data.clear();
  // R2 and "*" get b2 and nothing else: the stream is read until b2, which came after.
  for (const char* token : {"cr-r2", "cr-all"}) {
    SCOPED_TRACE(token);
    data.clear();
    auto ev = read_stream(port, token, "", 1, &data);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_NE(data[0].find("\"b2\""), std::string::npos) << data[0];
    EXPECT_EQ(data[0].find("nl-secret"), std::string::npos);
  }
  for (const char* token : {"cr-r2", "cr-all"}) {
    auto r = client_->Post("/api/v1/hits/c0c0/ack", bearer(token), "", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << token;
  }
  auto r = client_->Post("/api/v1/hits/c0c0/ack", bearer("cr-r1"), "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(ControlRoomApi, HitsProducedIntoKafkaReachTheStream) {
  room_->start();
  kafka::Producer prod({{"bootstrap.servers", broker_.bootstrap()}}, nullptr);
  prod.produce(settings_.topics.hits, "k", hit_json("fromkafka", "R1"));
  prod.flush(10000);
  auto ev = read_stream(service_->server().port(), "cr-all", "", 1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(room_->feed().lookup("fromkafka", "R1"), HitFeed::Lookup::open);
}

// The hit_id of each event's data.
std::vector<std::string> hit_ids(const std::vector<std::string>& data) {
  std::vector<std::string> ids;
  simdjson::dom::parser p;
  for (const std::string& d : data) ids.emplace_back(std::string_view(p.parse(d)["hit_id"]));
  return ids;
}

// A restart refills the feed from the hits topic: hits past their camera country's retention
// (an LU hit captured 40 days ago; LU keeps hits 28 days) are not among them.
TEST_F(ControlRoomApi, ARefillFromTheHitsTopicSkipsHitsPastTheirDeadline) {
  kafka::Producer prod({{"bootstrap.servers", broker_.bootstrap()}}, nullptr);
  const int64_t now = system_now();
  const std::string& hits = settings_.topics.hits;
  prod.produce(hits, "k", hit_json("lu40", "R1", 20, "LU", now - 40 * kMsPerDay));
  prod.produce(hits, "k", hit_json("nl40", "R1", 20, "NL", now - 40 * kMsPerDay));
  prod.produce(hits, "k", hit_json("lu27", "R1", 20, "LU", now - 27 * kMsPerDay));
  prod.flush(10000);
  room_->start();  // as after a restart: the topic already holds them
  std::vector<std::string> data;
  auto ev = read_stream(service_->server().port(), "cr-all", "", 2, &data);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(hit_ids(data), (std::vector<std::string>{"nl40", "lu27"}));
  EXPECT_EQ(room_->feed().lookup("lu40", "*"), HitFeed::Lookup::unknown);
  auto r = client_->Post("/api/v1/hits/lu40/ack", bearer("cr-all"), "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

// A hit held since before its deadline: from the deadline on it is neither streamed (also not to
// a page resuming with Last-Event-ID) nor acknowledged.
TEST_F(ControlRoomApi, AHitPastItsDeadlineIsNeitherStreamedNorAcknowledged) {
  const int64_t t0 = now_.load();
  ASSERT_TRUE(room_->feed().add_hit(hit_json("a1", "R1", 20, "LU", t0 - 28 * kMsPerDay + 60'000)));
  const int port = service_->server().port();
  std::vector<std::string> data;
  auto ev = read_stream(port, "cr-r1", "", 1, &data);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(hit_ids(data), (std::vector<std::string>{"a1"}));
  now_ = t0 + 60'000;  // a1's deadline
  ASSERT_TRUE(room_->feed().add_hit(hit_json("b1", "R1", 20, "LU", t0)));
  data.clear();
  ev = read_stream(port, "cr-r1", "", 1, &data);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(hit_ids(data), (std::vector<std::string>{"b1"}));
  data.clear();
  ev = read_stream(port, "cr-r1", "1", 1, &data);  // resuming after a1's id
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(hit_ids(data), (std::vector<std::string>{"b1"}));
  auto r = client_->Post("/api/v1/hits/a1/ack", bearer("cr-r1"), "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(audit_lines().empty());
}

// Opens an event stream on a raw connection (kept open in `fds`) and returns its status line, or
// for an error answer the whole answer.
std::string stream_answer(int port, const std::string& token, std::vector<int>& fds) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "";
  fds.push_back(fd);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string req = "GET /api/v1/hits/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                          token + "\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string got;
  char c;
  while (got.find("\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) got += c;
  if (got != "HTTP/1.1 503 Service Unavailable\r\n") return got.substr(0, got.find("\r\n"));
  while (got.find("\"}") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) got += c;
  return got;
}

// The status line alone of stream_answer().
std::string open_stream(int port, const std::string& token, std::vector<int>& fds) {
  const std::string answer = stream_answer(port, token, fds);
  return answer.substr(0, answer.find("\r\n"));
}

TEST_F(ControlRoomApi, OpenStreamsAreLimitedPerToken) {
  std::vector<int> fds;
  for (int i = 0; i < kMaxStreamsPerToken; ++i)
    EXPECT_EQ(open_stream(service_->server().port(), "cr-r1", fds), "HTTP/1.1 200 OK") << i;
  EXPECT_EQ(open_stream(service_->server().port(), "cr-r1", fds),
            "HTTP/1.1 503 Service Unavailable");
  // Another token still gets its stream, and the API still answers.
  EXPECT_EQ(open_stream(service_->server().port(), "cr-all", fds), "HTTP/1.1 200 OK");
  auto r = client_->Get("/api/v1/me", bearer("cr-r1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  for (int fd : fds) ::close(fd);
}

TEST_F(ControlRoomApi, OneRoomsStreamsCannotLockTheOtherRoomsOut) {
  room_->stop();
  service_->stop();
  room_.reset();
  service_.reset();
  settings_.http.max_streams_per_room = 3;
  service_ = std::make_unique<HttpService>(settings_);
  room_ = std::make_unique<ControlRoom>(settings_, *service_, [this] { return now_.load(); });
  service_->start();
  const int port = service_->server().port();
  std::vector<int> fds;
  // Two tokens of room R1 take its three slots.
  EXPECT_EQ(stream_answer(port, "cr-r1", fds), "HTTP/1.1 200 OK");
  EXPECT_EQ(stream_answer(port, "cr-r1b", fds), "HTTP/1.1 200 OK");
  EXPECT_EQ(stream_answer(port, "cr-r1", fds), "HTTP/1.1 200 OK");
  // The fourth of R1 is refused, whichever token, and the answer says why.
  for (const char* token : {"cr-r1", "cr-r1b"}) {
    const std::string refused = stream_answer(port, token, fds);
    EXPECT_EQ(refused.rfind("HTTP/1.1 503 Service Unavailable", 0), 0u) << refused;
    EXPECT_NE(refused.find("at most 3 for control room R1"), std::string::npos) << refused;
  }
  // Room R2 still gets its streams, and so does a token of every room.
  EXPECT_EQ(stream_answer(port, "cr-r2", fds), "HTTP/1.1 200 OK");
  EXPECT_EQ(stream_answer(port, "cr-r2", fds), "HTTP/1.1 200 OK");
  EXPECT_EQ(stream_answer(port, "cr-all", fds), "HTTP/1.1 200 OK");
  // A closed stream gives its room's slot back.
  ::close(fds[0]);
  fds.erase(fds.begin());
  std::string again;
  for (int i = 0; i < 100 && again != "HTTP/1.1 200 OK"; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::vector<int> one;
    again = open_stream(port, "cr-r1", one);
    if (again == "HTTP/1.1 200 OK") fds.insert(fds.end(), one.begin(), one.end());
    else for (int fd : one) ::close(fd);
  }
  EXPECT_EQ(again, "HTTP/1.1 200 OK");
  for (int fd : fds) ::close(fd);
}

TEST_F(ControlRoomApi, PagesAreServedWithoutTokenButHoldNoData) {
  for (const std::string& path : std::vector<std::string>{"/", "/status", "/control-room.js", "/auth.js", "/style.css"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_FALSE(r->get_header_value("Content-Security-Policy").empty());
  }
  auto r = client_->Get("/nope.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Get("/../etc/passwd");
  ASSERT_TRUE(r);
  EXPECT_NE(r->status, 200);
}

}  // namespace
}  // namespace anpr::app
