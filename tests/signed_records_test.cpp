// Signed records on the topics the control rooms' feed follows (docs/kafka.md, "Signed records";
// serve/hit_feed.h): with kafka.signing_key_file set, forged hits and acknowledgements written
// straight to Kafka (unsigned, another key, signed for another topic, a signed record changed)
// are ignored and counted, while what the processor's and the server's producers sign is taken;
// the server's own acknowledgements carry a valid signature; a key being rotated in still
// verifies. Runs against a broker of its own: the embedded one or Apache Kafka.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "http/auth.h"
#include "kafka/client.h"
#include "kafka/signing.h"
#include "metrics/metrics.h"
#include "serve/control_room.h"
#include "serve/http_service.h"
#include "tests/hits.h"
#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr::app {
namespace {

using testing::hit_json;
using Clock = std::chrono::steady_clock;

const std::string kKey(32, '\x11');
const std::string kOldKey(32, '\x22');
const std::string kForgerKey(32, '\x33');

class SignedRecords : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::TestBroker(tmp_.path(), testing::current_test_name(), 1);
    ASSERT_FALSE(broker_.bootstrap().empty());
    settings_.kafka.brokers = broker_.bootstrap();
    settings_.kafka.common = {{"log_level", "3"}};
    settings_.topics.hits = broker_.topic("anpr.hits");
    settings_.topics.hit_acks = broker_.topic("anpr.hit-acks");
    settings_.state_dir = tmp_.path();
    settings_.http.listen = "127.0.0.1:0";
    settings_.retention.policies = config::default_retention_policies();
    settings_.http.tokens = {{"rita", "controlroom", http::sha256_hex("cr-r1"), "R1"}};
    // The new key signs; the old one, still in some instances' files, verifies.
    settings_.kafka.signing_keys = {kKey, kOldKey};
  }
  void TearDown() override {
    if (room_) room_->stop();
    if (service_) service_->stop();
  }

  void start_room() {
    service_ = std::make_unique<HttpService>(settings_);
    room_ = std::make_unique<ControlRoom>(settings_, *service_);
    service_->start();
    room_->start();
  }

  // Writes `value` to `topic` with `key`, signed with `keys` (none: unsigned), as kcat or any
  // client with write access could.
  void produce(const std::string& topic, const std::string& key, const std::string& value,
               std::vector<std::string> keys = {}) {
    kafka::Producer p({{"bootstrap.servers", broker_.bootstrap()}, {"log_level", "3"}}, nullptr,
                      kafka::Signer(std::move(keys)));
    ASSERT_EQ(p.produce(topic, key, value), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(p.flush(10'000));
  }
  // The same with a signature header of our own making.
  void produce_with_header(const std::string& topic, const std::string& key,
                           const std::string& value, const std::string& sig) {
    kafka::Producer p({{"bootstrap.servers", broker_.bootstrap()}, {"log_level", "3"}}, nullptr);
    rd_kafka_t* rk = p.get();
    ASSERT_EQ(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(key.data(), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_HEADER("anpr-sig", sig.data(),
                                                  static_cast<ssize_t>(sig.size())),
                                RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(p.flush(10'000));
  }

  // Waits (generously) until `pred` holds.
  template <class Pred>
  bool eventually(Pred pred) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
  }

  // The value of anpr_unsigned_records_total for `topic` in the /metrics text ("" if absent).
  static std::string metric(const std::string& topic) {
    const std::string text = metrics::scrape();
    const std::string head = "anpr_unsigned_records_total{topic=\"" + topic + "\"} ";
    const auto at = text.find(head);
    if (at == std::string::npos) return "";
    return text.substr(at + head.size(), text.find('\n', at) - at - head.size());
  }

  testing::TempDir tmp_{"signed"};
  testing::TestBroker broker_;
  config::Settings settings_;
  std::unique_ptr<HttpService> service_;
  std::unique_ptr<ControlRoom> room_;
};

TEST_F(SignedRecords, ForgedHitsAreIgnoredAndCountedSignedOnesAreShown) {
  start_room();
  const std::string& hits = settings_.topics.hits;
  const std::string& acks = settings_.topics.hit_acks;
  const std::string genuine = hit_json("good1", "R1");
  std::string changed = genuine;
  changed.replace(changed.find("\"priority\":20"), 13, "\"priority\":99");
  const kafka::Signer ours({kKey});
  produce(hits, "c1", hit_json("unsigned1", "R1"));                        // unsigned
  produce(hits, "c1", hit_json("forged1", "R1"), {kForgerKey});            // another key
  produce_with_header(hits, "c1", hit_json("acktopic2", "R1"),
                      ours.sign(acks, "c1", hit_json("acktopic2", "R1")));  // signed for acks
  produce_with_header(hits, "c1", changed, ours.sign(hits, "c1", genuine));  // changed after signing
  produce_with_header(hits, "c1", hit_json("badhdr", "R1"), "v1=not-hex");
  produce(hits, "c1", genuine, {kKey});                                      // the processor's
  produce(hits, "c1", hit_json("oldkey1", "R1"), {kOldKey});                 // rotation: old key
  ASSERT_TRUE(eventually([&] { return room_->feed().lookup("oldkey1", "R1") == HitFeed::Lookup::open; }));
  EXPECT_EQ(room_->feed().lookup("good1", "R1"), HitFeed::Lookup::open);
  for (const char* id : {"unsigned1", "forged1", "acktopic2", "badhdr"})
    EXPECT_EQ(room_->feed().lookup(id, "R1"), HitFeed::Lookup::unknown) << id;
  EXPECT_EQ(room_->feed().size(), 2u) << "the changed copy of good1 was not taken either";
  EXPECT_EQ(room_->feed().unsigned_records(), 5u);
  EXPECT_EQ(metric(hits), "5");
  // The record's text never reaches the metric or its labels.
  EXPECT_EQ(metrics::scrape().find("forged1"), std::string::npos);
}

TEST_F(SignedRecords, ForgedAcknowledgementsAreIgnoredTheServersAreHonoured) {
  start_room();
  const std::string& hits = settings_.topics.hits;
  const std::string& acks = settings_.topics.hit_acks;
  produce(hits, "c1", hit_json("a1", "R1"), {kKey});
  produce(hits, "c1", hit_json("a2", "R1"), {kKey});
  ASSERT_TRUE(eventually([&] { return room_->feed().lookup("a2", "R1") == HitFeed::Lookup::open; }));
  const auto ack = [](const std::string& id, const std::string& who) {
    return R"({"hit_id":")" + id + R"(","acknowledged_by":")" + who +
           R"(","control_room":"R1","ts":"2026-12-06T10:00:00.000Z"})";
  };
  const kafka::Signer ours({kKey});
  produce(acks, "a1", ack("a1", "mallory"));                                  // unsigned
  produce(acks, "a1", ack("a1", "mallory"), {kForgerKey});                    // another key
  produce_with_header(acks, "a1", ack("a1", "mallory"),
                      ours.sign(hits, "a1", ack("a1", "mallory")));           // signed for hits
  produce_with_header(acks, "a1", ack("a1", "mallory"),
                      ours.sign(acks, "a1", ack("a1", "rita")));              // changed field
  produce_with_header(acks, "a2", ack("a2", "rita"),
                      ours.sign(acks, "a1", ack("a2", "rita")));              // another key field
  ASSERT_TRUE(eventually([&] { return room_->feed().unsigned_records() == 5; }))
      << room_->feed().unsigned_records();
  EXPECT_EQ(metric(acks), "5");
  EXPECT_EQ(room_->feed().lookup("a1", "R1"), HitFeed::Lookup::open);
  EXPECT_EQ(room_->feed().lookup("a2", "R1"), HitFeed::Lookup::open);

  // The server's acknowledgement is signed and honoured.
  httplib::Client client("127.0.0.1", service_->server().port());
  client.set_read_timeout(15, 0);
  auto r = client.Post("/api/v1/hits/a1/ack", {{"Authorization", "Bearer cr-r1"}}, "",
                       "text/plain");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(room_->feed().lookup("a1", "R1"), HitFeed::Lookup::acknowledged);
  kafka::Consumer c({{"bootstrap.servers", broker_.bootstrap()},
                     {"group.id", broker_.group("sig")},
                     {"log_level", "3"}});
  kafka::PartitionList parts(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(parts.get(), acks.c_str(), 0)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  c.assign(parts.get());
  int seen = 0, verified = 0;
  const kafka::Signer verifier({kKey});
  for (int i = 0; i < 300 && seen < 6; ++i) {
    const kafka::Message m = c.poll(100);
    if (!m || m->err) continue;
    ++seen;
    if (verifier.verify(*m)) {
      ++verified;
      EXPECT_EQ(std::string_view(static_cast<const char*>(m->payload), m->len), r->body);
    }
  }
  c.close();
  EXPECT_EQ(seen, 6);
  EXPECT_EQ(verified, 1) << "only the server's acknowledgement verifies";

  // A signed acknowledgement another instance's server wrote (same key, same producer code) is
  // honoured by this feed.
  produce(acks, "a2", ack("a2", "rita"), {kKey});
  EXPECT_TRUE(eventually(
      [&] { return room_->feed().lookup("a2", "R1") == HitFeed::Lookup::acknowledged; }));
  EXPECT_EQ(room_->feed().unsigned_records(), 5u);
}

TEST_F(SignedRecords, WithoutAKeyEveryRecordIsTakenAsBefore) {
  settings_.kafka.signing_keys.clear();
  start_room();
  produce(settings_.topics.hits, "c1", hit_json("plain1", "R1"));
  produce(settings_.topics.hits, "c1", hit_json("signed1", "R1"), {kForgerKey});
  EXPECT_TRUE(eventually(
      [&] { return room_->feed().lookup("signed1", "R1") == HitFeed::Lookup::open; }));
  EXPECT_EQ(room_->feed().lookup("plain1", "R1"), HitFeed::Lookup::open);
  EXPECT_EQ(room_->feed().unsigned_records(), 0u);
}

// `anpr run`: a key file others may read stops the start (exit code 2, the file and the key
// named, the key never printed); without a key the run warns at start that records are unsigned,
// and with one it does not.
TEST_F(SignedRecords, AnprRunRefusesAnOpenKeyFileAndWarnsWithoutAKey) {
  namespace fs = std::filesystem;
  const fs::path dir = tmp_.path();
  const std::string hex(64, 'a');
  testing::write_file(dir / "cameras.csv",
                      "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,A2,52.1,5.0,R1\n");
  testing::write_file(dir / "signing.key", hex + "\n");
  ::chmod((dir / "signing.key").c_str(), 0644);
  const auto config = [&](const std::string& kafka_extra) {
    testing::write_file(dir / "anpr.toml",
                        "[kafka]\nbrokers = \"" + broker_.bootstrap() + "\"\ngroup_id = \"" +
                            broker_.group("run") + "\"\n" + kafka_extra +
                            "[topics]\nreads = \"" + broker_.topic("anpr.reads") +
                            "\"\nhits = \"" + settings_.topics.hits +
                            "\"\n[cameras]\nregistry = \"cameras.csv\"\n"
                            "[retention]\nsink = \"none\"\n[http]\nlisten = \"127.0.0.1:0\"\n");
  };
  config("signing_key_file = \"signing.key\"\n");
  const testing::CmdRun r = testing::run_anpr("run --config " + (dir / "anpr.toml").string(), dir);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("anpr.toml:4: kafka.signing_key_file: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("chmod 600"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(hex.substr(0, 16)), std::string::npos) << "the key is never printed";

  const auto started = [&](const std::string& err_name) {
    testing::Child c({testing::kAnpr, "run", "--config", (dir / "anpr.toml").string()}, false,
            (dir / err_name).string(), SIGTERM);
    EXPECT_TRUE(testing::eventually([&] {
      // Logged once the signals are handled, after the start's warnings.
      return testing::slurp(dir / err_name).find("serving http on port") != std::string::npos;
    })) << testing::slurp(dir / err_name);
    c.signal(SIGTERM);
    EXPECT_EQ(c.wait(60'000), 0) << testing::slurp(dir / err_name);
    return testing::slurp(dir / err_name);
  };
  config("");
  std::string err = started("unsigned.err");
  EXPECT_NE(err.find("kafka.signing_key_file is not set: hits and acknowledgements are written "
                     "unsigned"),
            std::string::npos)
      << err;
  ::chmod((dir / "signing.key").c_str(), 0600);
  config("signing_key_file = \"signing.key\"\n");
  err = started("signed.err");
  EXPECT_EQ(err.find("signing_key_file is not set"), std::string::npos) << err;
}

}  // namespace
}  // namespace anpr::app
