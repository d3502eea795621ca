// POST /api/v1/search (serve/search_api.h) over a retention store with a fake clock: the legal
// reference each country requires (403 without it), the audit record of every search allowed
// or refused, results only within their deadline, hostile request bodies.
#include "serve/search_api.h"

#include "pipeline/retention_sink.h"
#include "pipeline/run_metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/settings.h"
#include "http/auth.h"
#include "tests/temp_dir.h"

namespace anpr::app {
namespace {

namespace fs = std::filesystem;
constexpr TimestampMs kT = 1'795'500'000'000;  // 2026-11-24T06:00:00Z

class SearchApi : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    settings_ = config::parse_settings(
        "[cameras]\nregistry = \"c.csv\"\n[state]\ndir = \"" + dir_.string() +
            "\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
            "[http.tokens.ivo]\nrole = \"investigator\"\nsha256 = \"" +
            http::sha256_hex("inv-token") +
            "\"\n[http.tokens.olga]\nrole = \"operator\"\nsha256 = \"" +
            http::sha256_hex("op-token") + "\"\n[retention]\nmax_results = 100\n",
        "t.toml", dir_);
    store::Options o;
    o.dir = dir_ / "retention";
    o.clock = [this] { return now_.load(); };
    store_ = std::make_unique<store::Store>(o, settings_.retention.policies);
    // Captured 40 days ago: an NL passage would be gone, so NL gets a recent one.
    now_ = kT - 40 * kMsPerDay;
    store_->write(std::vector<store::Record>{rec(kBE, "1ABC123", "be-old", "be-cam-1", now_)});
    now_ = kT - 2 * kMsPerDay;
    store_->write(std::vector<store::Record>{rec(kNL, "AB123C", "nl-1", "nl-cam-1", now_),
                                             rec(kBE, "1ABC123", "be-new", "be-cam-2", now_)});
    now_ = kT;
    http_ = std::make_unique<HttpService>(settings_);
    add_search_routes(*http_, *store_);
    http_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", http_->server().port());
  }
  void TearDown() override {
    client_.reset();
    http_.reset();
    store_.reset();
  }
  static store::Record rec(CountryCode c, const char* plate, std::string id, std::string cam,
                           TimestampMs ts) {
    store::Record r;
    r.kind = store::Kind::passage;
    r.camera_country = c;
    r.captured = ts;
    r.plate = *Plate::from_normalized(plate);
    r.camera_id = cam;
    r.id = id;
    r.json = "{\"event_id\":\"" + id + "\"}";
    return r;
  }
  httplib::Result post(const std::string& body, const std::string& token = "inv-token") {
    return client_->Post("/api/v1/search", {{"Authorization", "Bearer " + token}}, body,
                         "application/json");
  }
  // The audit log's records, parsed.
  std::vector<std::string> audit_lines() {
    std::ifstream in(dir_ / "audit.jsonl");
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
    return out;
  }
  std::vector<std::string> event_ids(const std::string& body) {
    simdjson::dom::parser p;
    simdjson::dom::element d;
    EXPECT_FALSE(p.parse(body).get(d)) << body;
    std::vector<std::string> out;
    for (auto r : d["records"].get_array())
      out.emplace_back(std::string_view(r["record"]["event_id"]));
    std::sort(out.begin(), out.end());
    return out;
  }

  testing::TempDir tmp_{"search"};  // first: removed last
  fs::path dir_;
  config::Settings settings_;
  std::atomic<TimestampMs> now_{kT};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<HttpService> http_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(SearchApi, NetherlandsNeedsTheProsecutorsOrderForEverySearchAndEachIsAudited) {
  auto r = post(R"({"plate":"AB-123-C","countries":["NL"],"justification":"a reason long enough"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("legal_reference_required"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("NL needs a prosecutor's order reference"), std::string::npos) << r->body;
  auto lines = audit_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"who\":\"ivo\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"role\":\"investigator\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"action\":\"search\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"outcome\":\"refused\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"plate\":\"AB-123-C\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"results\":0"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"ts\":"), std::string::npos) << lines[0];

  r = post(R"({"plate":"AB-123-C","countries":["NL"],"prosecutor_reference":"OvJ-2026-0042"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"nl-1"});
  lines = audit_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("\"outcome\":\"allowed\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"prosecutor_reference\":\"OvJ-2026-0042\""), std::string::npos);
  EXPECT_NE(lines[1].find("\"results\":1"), std::string::npos) << lines[1];
}

TEST_F(SearchApi, BelgiumNeedsAJustificationForTheFirstMonthAndTheProsecutorAfter) {
  const std::string recent = R"("from":")" + format_rfc3339(kT - 29 * kMsPerDay) + R"(")";
  // Recent data with a justification: allowed.
  auto r = post(R"({"plate":"1-ABC-123","countries":["BE"],)" + recent +
                R"(,"justification":"stolen car seen near the border crossing"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"be-new"});
  // Without a justification: refused.
  r = post(R"({"plate":"1-ABC-123","countries":["BE"],)" + recent + "}");
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("BE needs a justification"), std::string::npos) << r->body;
  // A too-short justification is none.
  r = post(R"({"plate":"1-ABC-123","countries":["BE"],)" + recent + R"(,"justification":"x"})");
  EXPECT_EQ(r->status, 403) << r->body;
  // Older data: a justification is not enough...
  r = post(R"({"plate":"1-ABC-123","countries":["BE"],"justification":"stolen car seen near the border"})");
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("prosecutor's decision reference"), std::string::npos) << r->body;
  // ...the prosecutor's decision is.
  r = post(R"({"plate":"1-ABC-123","countries":["BE"],"prosecutor_reference":"PK-BXL-77"})");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), (std::vector<std::string>{"be-new", "be-old"}));
  // Every one of the five searches is in the audit log.
  const auto lines = audit_lines();
  ASSERT_EQ(lines.size(), 5u);
  int allowed = 0, refused = 0;
  for (const auto& l : lines) {
    allowed += l.find("\"outcome\":\"allowed\"") != std::string::npos;
    refused += l.find("\"outcome\":\"refused\"") != std::string::npos;
  }
  EXPECT_EQ(allowed, 2);
  EXPECT_EQ(refused, 3);
}

TEST_F(SearchApi, AllCountriesNeedWhatEachRequires) {
  // No countries named: NL's rule applies, so a justification alone is refused.
  auto r = post(R"({"plate":"AB123C","justification":"a reason long enough"})");
  EXPECT_EQ(r->status, 403);
  r = post(R"({"plate":"AB123C","prosecutor_reference":"OvJ-1"})");
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(SearchApi, ResultsAreOnlyThoseWithinTheirDeadline) {
  now_ = kT - 2 * kMsPerDay + 28 * kMsPerDay;  // the NL passage's deadline
  auto r = post(R"({"plate":"AB123C","prosecutor_reference":"OvJ-1"})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(event_ids(r->body).empty()) << r->body;
  now_ = kT - 2 * kMsPerDay + 28 * kMsPerDay - 1;
  r = post(R"({"plate":"AB123C","prosecutor_reference":"OvJ-1"})");
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"nl-1"});
  EXPECT_NE(r->body.find("\"deadline\":\"" + format_rfc3339(kT - 2 * kMsPerDay + 28 * kMsPerDay) + "\""),
            std::string::npos)
      << r->body;
}

TEST_F(SearchApi, OcrTolerantSearch) {
  // A8I23C is AB123C misread (B/8, 1/I).
  auto r = post(R"({"plate":"A8I23C","prosecutor_reference":"OvJ-1"})");
  EXPECT_TRUE(event_ids(r->body).empty());
  r = post(R"({"plate":"A8I23C","ocr_tolerant":true,"prosecutor_reference":"OvJ-1"})");
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"nl-1"});
}

TEST_F(SearchApi, OnlyInvestigatorsMaySearch) {
  auto r = post(R"({"plate":"AB123C","prosecutor_reference":"OvJ-1"})", "op-token");
  EXPECT_EQ(r->status, 403);
  r = post(R"({"plate":"AB123C","prosecutor_reference":"OvJ-1"})", "nobody");
  EXPECT_EQ(r->status, 401);
}

TEST_F(SearchApi, MalformedAndHostileRequestsAre400AndAudited) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "the body is not valid JSON"},
      {"[1,2]", "must be a JSON object"},
      {"{}", "plate: required"},
      {R"({"plate":""})", "plate: cannot be normalised"},
      {R"({"plate":"-- --"})", "plate: cannot be normalised"},
      {R"({"plate":"ABCDEFGHIJKLMNOP"})", "plate: cannot be normalised"},
      {R"({"plate":42})", "plate: expected a string"},
      {R"({"plate":"AB123C","plate":"XX11YY"})", "plate: given twice"},
      {R"({"plate":"AB123C","bulk":true})", "bulk: unknown key"},
      {R"({"plate":"AB123C","from":"yesterday"})", "from: expected an RFC 3339 time"},
      {R"({"plate":"AB123C","from":"2026-11-24T00:00:00Z","to":"2026-11-01T00:00:00Z"})",
       "from: after to"},
      {R"({"plate":"AB123C","countries":["XX"]})",
       "countries: expected an ISO 3166-1 alpha-2 code such as NL, BE or LU, got"},
      {R"({"plate":"AB123C","countries":"NL"})", "countries: expected an array"},
      {R"({"plate":"AB123C","kinds":["everything"]})", "kinds: expected"},
      {R"({"plate":"AB123C","limit":100000})", "limit: expected an integer 1..100"},
      {R"({"plate":"AB123C","limit":-1})", "limit: expected an integer 1..100"},
      {R"({"plate":"AB123C","ocr_tolerant":"yes"})", "ocr_tolerant: expected true or false"},
      {R"({"plate":"AB123C","prosecutor_reference":")" + std::string(300, 'x') + "\"}",
       "prosecutor_reference: expected at most 200"},
      {R"({"plate":"AB123C","justification":"a\u0000b"})", "justification: expected at most"},
      {R"({"plate":"AB123C","cameras":[)" + [] {
         std::string s;
         for (int i = 0; i < 101; ++i) s += (i ? ",\"c" : "\"c") + std::to_string(i) + "\"";
         return s;
       }() + "]}",
       "cameras: at most 100"},
      {std::string(64, '{'), "the body is not valid JSON"},
  };
  for (const auto& [body, want] : cases) {
    SCOPED_TRACE(body.substr(0, 80));
    auto r = post(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find(want), std::string::npos) << r->body;
  }
  const auto lines = audit_lines();
  ASSERT_EQ(lines.size(), cases.size());
  for (const auto& l : lines) EXPECT_NE(l.find("\"reason\":\"bad_request\""), std::string::npos) << l;
}

}  // namespace
}  // namespace anpr::app

namespace anpr::app {
namespace {

// Record i of a batch, as a store::Record.
store::Record record(const store::RecordBatch& b, std::size_t i) {
  const store::RecordBatch::Head& h = b.head(i);
  store::Record r;
  r.kind = h.kind;
  r.camera_country = h.camera_country;
  r.captured = h.captured;
  r.plate = h.plate;
  r.camera_id = b.camera_id(i);
  r.id_hash = h.id_hash;
  r.json = b.payload(i);
  return r;
}

// The compact form passages are kept in renders back to every field the read had.
TEST(RetentionSinkRender, CompactPassagesRenderEveryKeptField) {
  const fs::path dir = fs::temp_directory_path() / ("anpr-render-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  config::Settings s = config::parse_settings("[cameras]\nregistry = \"c.csv\"\n[retention.NL]\n"
                                              "keep_images = true\n",
                                              "t.toml", dir);
  store::Options o;
  o.dir = dir / "retention";
  RetentionSink sink(s, o);
  ReadEvent ev;
  ev.event_id = "ev-\"1\"";
  ev.camera_id = "nl-cam-1";
  ev.ts = kT;
  ev.plate = "ab-123-c";
  ev.plate_country = kNL;
  ev.confidence = 0.75;
  ev.lane = -2;
  ev.direction = "north";
  ev.lat = 52.5;
  ev.lon = 5.25;
  ev.plate_jpeg = "AAAA";
  const Camera cam{"nl-cam-1", kNL, "A2 \"Utrecht\"", std::nullopt, std::nullopt, "NL-1"};
  store::RecordBatch out;
  EXPECT_TRUE(sink.encode_passage(ev, cam, *Plate::from_normalized("AB123C"), out));
  ASSERT_EQ(out.size(), 1u);
  const store::Record r = record(out, 0);
  store::Found f{r.kind, r.camera_country, r.captured, kT + kMsPerDay, r.camera_id, r.plate, r.json};
  const std::string json = RetentionSink::render(f);
  simdjson::dom::parser p;
  simdjson::dom::element d;
  ASSERT_FALSE(p.parse(json).get(d)) << json;
  EXPECT_EQ(std::string_view(d["event_id"]), "ev-\"1\"");
  EXPECT_EQ(std::string_view(d["camera_id"]), "nl-cam-1");
  EXPECT_EQ(std::string_view(d["site"]), "A2 \"Utrecht\"");
  EXPECT_EQ(std::string_view(d["camera_country"]), "NL");
  EXPECT_EQ(std::string_view(d["ts"]), format_rfc3339(kT));
  EXPECT_EQ(std::string_view(d["plate"]), "ab-123-c");
  EXPECT_EQ(std::string_view(d["plate_normalized"]), "AB123C");
  EXPECT_EQ(std::string_view(d["plate_country"]), "NL");
  EXPECT_EQ(double(d["confidence"]), 0.75);
  EXPECT_EQ(int64_t(d["lane"]), -2);
  EXPECT_EQ(std::string_view(d["direction"]), "north");
  EXPECT_EQ(double(d["lat"]), 52.5);
  EXPECT_EQ(double(d["lon"]), 5.25);
  EXPECT_EQ(std::string_view(d["plate_jpeg"]), "AAAA");
  // Without keep_images, no image is kept.
  out.clear();
  config::Settings no_images = config::parse_settings("[cameras]\nregistry = \"c.csv\"\n", "t.toml", dir);
  RetentionSink plain(no_images, store::Options{dir / "retention2"});
  plain.encode_passage(ev, cam, *Plate::from_normalized("AB123C"), out);
  ASSERT_EQ(out.size(), 1u);
  f.json = out.payload(0);
  EXPECT_EQ(RetentionSink::render(f).find("jpeg"), std::string::npos);
  // A damaged record renders as an error, never as garbage; JSON records pass through.
  for (std::size_t cut = 1; cut < 12; ++cut) {
    f.json = out.payload(0).substr(0, cut);
    ASSERT_FALSE(p.parse(RetentionSink::render(f)).get(d));
  }
  f.json = "{\"hit_id\":\"x\"}";
  EXPECT_EQ(RetentionSink::render(f), f.json);
  // Hits are kept as published, without images unless the policy keeps them.
  out.clear();
  const std::string hit = R"({"hit_id":"h1","thumbnail_jpeg":"QUJD","plate":"AB-123-C","n":[1,{"a":2}]})";
  plain.encode_hit(ev, cam, *Plate::from_normalized("AB123C"), "h1", hit, out);
  sink.encode_hit(ev, cam, *Plate::from_normalized("AB123C"), "h1", hit, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out.payload(0), R"({"hit_id":"h1","plate":"AB-123-C","n":[1,{"a":2}]})");
  EXPECT_EQ(out.payload(1), hit);
  EXPECT_EQ(out.head(0).id_hash, store::id_hash("h1"));
  // The store's figures are on /metrics.
  out.clear();
  sink.encode_passage(ev, cam, *Plate::from_normalized("AB123C"), out);
  ev.ts = kT - 40 * kMsPerDay;  // past NL's deadline on arrival: skipped
  sink.encode_passage(ev, cam, *Plate::from_normalized("AB123C"), out);
  std::vector<store::Record> records = {record(out, 0), record(out, 1)};
  records[0].captured = sink.store()->now();  // the system clock: captured just now
  sink.store()->write(records);
  metrics::Collector figures = collect_retention(*sink.store(), s);
  const std::string scraped = metrics::scrape();
  EXPECT_NE(scraped.find("anpr_retention_records_stored_total{country=\"NL\"} 1"), std::string::npos)
      << scraped;
  EXPECT_NE(scraped.find("anpr_retention_records_skipped_total{country=\"NL\"} 1"),
            std::string::npos);
  EXPECT_NE(scraped.find("anpr_retention_oldest_record_age_seconds{country=\"NL\"}"),
            std::string::npos);
  EXPECT_NE(scraped.find("anpr_retention_write_batches_total"), std::string::npos);
  EXPECT_NE(scraped.find("anpr_retention_pending_handovers"), std::string::npos);
  figures.reset();
  // LU keeps no passages.
  out.clear();
  const Camera lu{"lu-cam-1", kLU, "A1", std::nullopt, std::nullopt, "LU-1"};
  EXPECT_FALSE(sink.encode_passage(ev, lu, *Plate::from_normalized("AB123C"), out));
  EXPECT_TRUE(out.empty());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace anpr::app
