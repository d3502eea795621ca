// POST /api/v1/search and /api/v1/authorisations (serve/search_api.h) over a retention store with
// a fake clock: the legal ground each country requires (403 without it), authorisations (the
// reference format, scope, expiry, four eyes, kept across a restart), the distinct-plates limit,
// the rate limit, the audit record of every search allowed or refused (canonical plates searched
// and disclosed), results only within their deadline, hostile request bodies.
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

#include "base/json_writer.h"
#include "config/settings.h"
#include "http/auth.h"
#include "tests/temp_dir.h"

namespace anpr::app {
namespace {

namespace fs = std::filesystem;
constexpr TimestampMs kT = 1'795'500'000'000;  // 2026-11-24T06:00:00Z

class SearchApi : public ::testing::Test {
 protected:
  // Configuration the fixture adds (a subclass changes the search limits).
  virtual std::string extra_toml() const { return "[search]\nburst = 1000\nmax_per_hour = 100000\n"; }
  void SetUp() override {
    dir_ = tmp_.path();
    settings_ = config::parse_settings(
        "[cameras]\nregistry = \"c.csv\"\n[state]\ndir = \"" + dir_.string() +
            "\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
            "[http.tokens.ivo]\nrole = \"investigator\"\nsha256 = \"" +
            http::sha256_hex("inv-token") +
            "\"\n[http.tokens.iris]\nrole = \"investigator\"\nsha256 = \"" +
            http::sha256_hex("iris-token") +
            "\"\n[http.tokens.eve]\nrole = \"engineer\"\nsha256 = \"" +
            http::sha256_hex("eng-token") +
            "\"\n[http.tokens.olga]\nrole = \"operator\"\nsha256 = \"" +
            http::sha256_hex("op-token") + "\"\n[retention]\nmax_results = 100\n" + extra_toml(),
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
    start_http();
  }
  // (Re)starts the HTTP service: a restart of the processor as far as search is concerned.
  void start_http() {
    client_.reset();
    http_.reset();
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
  // Enters an authorisation (a JSON body); returns its id, or "" (with a test failure) when it
  // is refused.
  std::string authorise(const std::string& body, const std::string& token = "inv-token") {
    auto r = client_->Post("/api/v1/authorisations", {{"Authorization", "Bearer " + token}}, body,
                           "application/json");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 201) << r->body;
    simdjson::dom::parser p;
    simdjson::dom::element d;
    std::string_view id;
    if (p.parse(r->body).get(d) || d["id"].get(id)) return "";
    return std::string(id);
  }
  // An NL authorisation (the default format: a parketnummer) for `plates`, valid for 30 days.
  std::string authorise_nl(const std::string& plates = R"(["AB-123-C"])",
                           const std::string& more = "") {
    return authorise(R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. A. de Vries",)"
                     R"("plates":)" + plates + R"(,"valid_until":")" +
                     format_rfc3339(kT + 30 * kMsPerDay) + "\"" + more + "}");
  }
  // The audit log's records, parsed; `action` keeps those of one action.
  std::vector<std::string> audit_lines(const std::string& action = "") {
    std::ifstream in(dir_ / "audit.jsonl");
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line))
      if (action.empty() || line.find("\"action\":\"" + action + "\"") != std::string::npos)
        out.push_back(line);
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

TEST_F(SearchApi, NetherlandsNeedsAnAuthorisationForEverySearchAndEachIsAudited) {
  auto r = post(R"({"plate":"AB-123-C","countries":["NL"],"justification":"a reason long enough to read"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("\"error\":\"authorisation_required\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("NL needs an authorisation (the prosecutor's order)"), std::string::npos)
      << r->body;
  auto lines = audit_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"who\":\"ivo\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"role\":\"investigator\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"action\":\"search\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"outcome\":\"refused\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"reason\":\"authorisation_required\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"plate\":\"AB-123-C\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"plates_searched\":[\"AB123C\"]"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"plates_disclosed\":[]"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"results\":0"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"ts\":"), std::string::npos) << lines[0];

  const std::string id = authorise_nl();
  ASSERT_FALSE(id.empty());
  r = post(R"({"plate":"AB-123-C","countries":["NL"],"authorisation":")" + id + "\"}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"nl-1"});
  lines = audit_lines("search");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("\"outcome\":\"allowed\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"authorisation\":\"" + id + "\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"reference\":\"13/654321-26\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"issued_by\":\"mr. A. de Vries\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"results\":1"), std::string::npos) << lines[1];
  // The entry itself is audited, with everything it holds.
  const auto added = audit_lines("authorisation.add");
  ASSERT_EQ(added.size(), 1u);
  EXPECT_NE(added[0].find("\"id\":\"" + id + "\""), std::string::npos) << added[0];
  EXPECT_NE(added[0].find("\"plates\":[\"AB123C\"]"), std::string::npos) << added[0];
  EXPECT_NE(added[0].find("\"entered_by\":\"ivo\""), std::string::npos) << added[0];
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
  // Older data: a justification is not enough...
  r = post(R"({"plate":"1-ABC-123","countries":["BE"],"justification":"stolen car seen near the border"})");
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("the prosecutor's written decision) for data older than 30 days"),
            std::string::npos)
      << r->body;
  // ...the prosecutor's decision is, in Belgium's format.
  const std::string id =
      authorise(R"({"country":"BE","reference":"BR.26.L1.012345/26","issued_by":"procureur des Konings Brussel",)"
                R"("plates":["1ABC123"],"valid_until":")" + format_rfc3339(kT + kMsPerDay) + "\"}");
  r = post(R"({"plate":"1-ABC-123","countries":["BE"],"authorisation":")" + id + "\"}");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), (std::vector<std::string>{"be-new", "be-old"}));
  // Every one of the four searches is in the audit log.
  const auto lines = audit_lines("search");
  ASSERT_EQ(lines.size(), 4u);
  int allowed = 0, refused = 0;
  for (const auto& l : lines) {
    allowed += l.find("\"outcome\":\"allowed\"") != std::string::npos;
    refused += l.find("\"outcome\":\"refused\"") != std::string::npos;
  }
  EXPECT_EQ(allowed, 2);
  EXPECT_EQ(refused, 2);
}

TEST_F(SearchApi, AJustificationMustBeMeaningfulText) {
  const std::string recent = R"("countries":["BE"],"from":")" + format_rfc3339(kT - 29 * kMsPerDay) + R"(")";
  for (const std::string why :
       {"x", "aaaaaaaaaaaaaaaaaaaaaaaaa", "1234567890 1234567890 123", "ab cd ef gh",
        "stolen\u200bcar seen near the border", "stolen car seen\u202e near the border",
        "stolen car seen near\tthe border", "\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0"}) {
    SCOPED_TRACE(why);
    std::string body;
    JsonWriter w(body);
    w.begin_object();
    w.field("plate", "1ABC123");
    w.field("justification", why);
    w.end_object();
    body.pop_back();
    auto r = post(body + "," + recent + "}");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find("justification: expected"), std::string::npos) << r->body;
  }
  // Accented letters count as letters.
  auto r = post(R"({"plate":"1ABC123",)" + recent +
                R"(,"justification":"véhicule volé signalé à la frontière"})");
  EXPECT_EQ(r->status, 200) << r->body;
}

// A BE read stamped a year in the future, kept 40 days ago: past BE's first month, so a search
// with only a justification does not reach it; with the prosecutor's decision it is found, with
// the time its tier and deadline were decided on.
TEST_F(SearchApi, ACameraClockInTheFutureDoesNotMoveAReadIntoTheFirstMonth) {
  now_ = kT - 40 * kMsPerDay;
  store_->write(std::vector<store::Record>{
      rec(kBE, "1ABC123", "be-future", "be-cam-3", kT - 40 * kMsPerDay + 365 * kMsPerDay)});
  now_ = kT;
  const std::string recent = R"("from":")" + format_rfc3339(kT - 29 * kMsPerDay) + R"(")";
  auto r = post(R"({"plate":"1-ABC-123","countries":["BE"],)" + recent +
                R"(,"justification":"stolen car seen near the border crossing"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"be-new"});
  const std::string id =
      authorise(R"({"country":"BE","reference":"BR.26.L1.012345/26","issued_by":"procureur des Konings Brussel",)"
                R"("plates":["1ABC123"],"valid_until":")" + format_rfc3339(kT + kMsPerDay) + "\"}");
  r = post(R"({"plate":"1-ABC-123","countries":["BE"],"authorisation":")" + id + "\"}");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), (std::vector<std::string>{"be-future", "be-new", "be-old"}));
  EXPECT_NE(r->body.find(R"("trusted_time":")" + format_rfc3339(kT - 40 * kMsPerDay) + "\""),
            std::string::npos)
      << r->body;
}

TEST_F(SearchApi, AllCountriesNeedWhatEachRequires) {
  // No countries named: NL's rule applies, so a justification alone is refused.
  auto r = post(R"({"plate":"AB123C","justification":"a reason long enough to read"})");
  EXPECT_EQ(r->status, 403);
  // An authorisation narrows a search without countries to the countries it covers.
  const std::string id = authorise_nl();
  r = post(R"({"plate":"AB123C","authorisation":")" + id + "\"}");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(audit_lines("search").back().find("\"countries\":[\"NL\"]"), std::string::npos);
}

TEST_F(SearchApi, ResultsAreOnlyThoseWithinTheirDeadline) {
  const std::string ok = authorise(
      R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. A. de Vries","plates":["AB123C"],)"
      R"("valid_until":")" + format_rfc3339(kT + 60 * kMsPerDay) + "\"}");
  const std::string body = R"({"plate":"AB123C","authorisation":")" + ok + "\"}";
  now_ = kT - 2 * kMsPerDay + 28 * kMsPerDay;  // the NL passage's deadline
  auto r = post(body);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(event_ids(r->body).empty()) << r->body;
  now_ = kT - 2 * kMsPerDay + 28 * kMsPerDay - 1;
  r = post(body);
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"nl-1"});
  EXPECT_NE(r->body.find("\"deadline\":\"" + format_rfc3339(kT - 2 * kMsPerDay + 28 * kMsPerDay) + "\""),
            std::string::npos)
      << r->body;
}

TEST_F(SearchApi, OcrTolerantSearch) {
  // A8I23C is AB123C misread (B/8, 1/I).
  const std::string exact = authorise_nl(R"(["A8I23C"])");
  const std::string ocr = authorise_nl(R"(["A8I23C"])", R"(,"ocr_tolerant":true)");
  auto r = post(R"({"plate":"A8I23C","authorisation":")" + exact + "\"}");
  EXPECT_TRUE(event_ids(r->body).empty());
  // The exact authorisation does not cover an OCR-tolerant search.
  r = post(R"({"plate":"A8I23C","ocr_tolerant":true,"authorisation":")" + exact + "\"}");
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("outside_authorisation"), std::string::npos) << r->body;
  r = post(R"({"plate":"A8I23C","ocr_tolerant":true,"authorisation":")" + ocr + "\"}");
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"nl-1"});
  // The audit names the plate searched, the OCR key every plate found shares, and what was
  // disclosed.
  const std::string line = audit_lines("search").back();
  EXPECT_NE(line.find("\"plates_searched\":[\"A8I23C\"],\"ocr_key\":\"A8123C\""),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("\"plates_disclosed\":[\"AB123C\"]"), std::string::npos) << line;
}

TEST_F(SearchApi, OnlyInvestigatorsMaySearchOrEnterAuthorisations) {
  auto r = post(R"({"plate":"AB123C"})", "op-token");
  EXPECT_EQ(r->status, 403);
  r = post(R"({"plate":"AB123C"})", "nobody");
  EXPECT_EQ(r->status, 401);
  const std::string body = R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. A. de Vries",)"
                           R"("plates":["AB123C"],"valid_until":")" +
                           format_rfc3339(kT + kMsPerDay) + "\"}";
  for (const char* token : {"eng-token", "op-token"}) {
    auto a = client_->Post("/api/v1/authorisations", {{"Authorization", std::string("Bearer ") + token}},
                           body, "application/json");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 403) << a->body;
    auto l = client_->Get("/api/v1/authorisations", {{"Authorization", std::string("Bearer ") + token}});
    EXPECT_EQ(l->status, 403) << l->body;
  }
  EXPECT_FALSE(fs::exists(dir_ / "authorisations.json"));
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
      {R"({"plate":"AB123C","prosecutor_reference":"OvJ-2026-0042"})",
       "prosecutor_reference: no longer accepted"},
      {R"({"plate":"AB123C","authorisation":")" + std::string(300, 'x') + "\"}",
       "authorisation: expected at most 64"},
      {R"({"plate":"AB123C","authorisation":""})", "authorisation: expected an id"},
      {R"({"plate":"AB123C","authorisation":7})", "authorisation: expected a string"},
      {R"({"plate":"AB123C","justification":"a\u0000b"})", "justification: expected printable"},
      {R"({"plate":"AB123C","justification":")" + std::string(3000, 'x') + "\"}",
       "justification: expected at most 2000"},
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

TEST_F(SearchApi, AReferenceMustHaveItsCountrysFormat) {
  const std::string until = format_rfc3339(kT + kMsPerDay);
  const auto body = [&](const std::string& country, const std::string& reference,
                        const std::string& issuer = "mr. A. de Vries") {
    std::string b;
    JsonWriter w(b);
    w.begin_object();
    w.field("country", country);
    w.field("reference", reference);
    w.field("issued_by", issuer);
    w.key("plates");
    w.begin_array();
    w.value("AB123C");
    w.end_array();
    w.field("valid_until", until);
    w.end_object();
    return b;
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {body("NL", "abc"), "reference: expected NL's prosecution reference format"},
      {body("NL", "\u200b"), "reference: expected 1..64 printable ASCII characters"},
      {body("NL", "\u200b\u200b\u200b"), "reference: expected 1..64 printable ASCII"},
      {body("NL", "13/654321\u200b-26"), "reference: expected 1..64 printable ASCII"},
      {body("NL", "13/654321-26 "), "reference: expected 1..64 printable ASCII"},
      {body("NL", "13/654321-26\n"), "reference: expected 1..64 printable ASCII"},
      {body("NL", "\uff11\uff13/654321-26"), "reference: expected 1..64 printable ASCII"},
      {body("NL", "13/654321-26x"), "reference: expected NL's prosecution reference format"},
      {body("NL", "BR.26.L1.012345/26"), "reference: expected NL's prosecution reference format"},
      {body("BE", "13/654321-26"), "reference: expected BE's prosecution reference format"},
      {body("NL", ""), "reference: expected 1..64"},
      {body("LU", "13/654321-26"), "country: LU has no authorisation_pattern"},
      {body("NL", "13/654321-26", "x"), "issued_by: expected the name"},
      {body("NL", "13/654321-26", "mr.\u200b de Vries"), "issued_by: expected printable text"},
      {body("NL", "13/654321-26", "\u2060\u2060\u2060"), "issued_by: expected printable text"},
      {"not json", "the body is not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"({"country":"NL"})", "reference: required"},
      {R"({"reference":"13/654321-26"})", "country: required"},
      {R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. X","plates":[],"valid_until":")" +
           until + "\"}",
       "plates: required"},
      {R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. X","plates":["AB123C"]})",
       "valid_until: required"},
      {R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. X","plates":["AB123C"],"valid_until":")" +
           format_rfc3339(kT) + "\"}",
       "valid_until: expected a time in the future"},
      {R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. X","plates":["--"],"valid_until":")" +
           until + "\"}",
       "plates[]: cannot be normalised"},
      {R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. X","plates":"AB123C","valid_until":")" +
           until + "\"}",
       "plates: expected an array"},
      {R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. X","plates":[)" + [] {
         std::string s;
         for (int i = 0; i < 101; ++i) s += (i ? ",\"P" : "\"P") + std::to_string(i) + "\"";
         return s;
       }() + R"(],"valid_until":")" + until + "\"}",
       "plates: at most 100"},
      {R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. X","plates":["AB123C"],"valid_until":")" +
           until + R"(","from":")" + until + R"(","to":")" + format_rfc3339(kT) + "\"}",
       "from: after to"},
      {R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. X","plates":["AB123C"],"valid_until":")" +
           until + R"(","countries":["XX"]})",
       "countries[]: expected an ISO 3166-1"},
      {R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. X","plates":["AB123C"],"valid_until":")" +
           until + R"(","scope":"everything"})",
       "scope: unknown key"},
      {R"({"country":"NL","country":"BE"})", "country: given twice"},
  };
  for (const auto& [b, want] : cases) {
    SCOPED_TRACE(b.substr(0, 120));
    auto r = client_->Post("/api/v1/authorisations", {{"Authorization", "Bearer inv-token"}}, b,
                           "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find(want), std::string::npos) << r->body;
  }
  // Each refusal is audited; none was kept.
  const auto refused = audit_lines("authorisation.add");
  ASSERT_EQ(refused.size(), cases.size());
  for (const auto& l : refused) EXPECT_NE(l.find("\"outcome\":\"refused\""), std::string::npos) << l;
  auto l = client_->Get("/api/v1/authorisations", {{"Authorization", "Bearer inv-token"}});
  EXPECT_EQ(l->body, R"({"authorisations":[]})");
  // The real formats pass.
  EXPECT_FALSE(authorise(body("NL", "13/654321-26")).empty());
  EXPECT_FALSE(authorise(body("BE", "BR.26.L1.012345/26")).empty());
}

class PermissivePattern : public SearchApi {
 protected:
  std::string extra_toml() const override {
    return "[search]\nburst = 1000\nmax_per_hour = 100000\n"
           "[retention.NL]\nauthorisation_pattern = '.*'\n";
  }
};

TEST_F(PermissivePattern, InvisibleAndControlCharactersAreRefusedWhateverThePattern) {
  const std::string until = format_rfc3339(kT + kMsPerDay);
  for (const std::string reference : {"\u200b", "OvJ\u200b1", "\u2060", "OvJ\u00a01", "OvJ 1",
                                      "OvJ\t1", "\u202eOvJ1", "\ufeffOvJ1"}) {
    SCOPED_TRACE(reference);
    std::string b;
    JsonWriter w(b);
    w.begin_object();
    w.field("country", "NL");
    w.field("reference", reference);
    w.field("issued_by", "mr. A. de Vries");
    w.key("plates");
    w.begin_array();
    w.value("AB123C");
    w.end_array();
    w.field("valid_until", until);
    w.end_object();
    auto r = client_->Post("/api/v1/authorisations", {{"Authorization", "Bearer inv-token"}}, b,
                           "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find("printable ASCII characters without spaces"), std::string::npos)
        << r->body;
  }
  // What the deployment's pattern allows is entered.
  EXPECT_FALSE(authorise(R"({"country":"NL","reference":"OvJ-1","issued_by":"mr. A. de Vries",)"
                         R"("plates":["AB123C"],"valid_until":")" + until + "\"}")
                   .empty());
}

TEST(SearchSettings, AuthorisationPatternsAndLimitsAreConfigurable) {
  const auto parse = [](const std::string& extra) {
    return config::parse_settings("[cameras]\nregistry = \"c.csv\"\n" + extra, "t.toml", "/tmp");
  };
  const config::Settings d = parse("");
  EXPECT_EQ(d.retention.policy(kNL)->authorisation_pattern, config::kNlAuthorisationPattern);
  EXPECT_EQ(d.retention.policy(kBE)->authorisation_pattern, config::kBeAuthorisationPattern);
  EXPECT_EQ(d.retention.policy(kLU)->authorisation_pattern, "");
  EXPECT_EQ(d.search.max_plates, 20u);
  EXPECT_EQ(d.search.max_per_hour, 60);
  EXPECT_EQ(d.search.burst, 10);
  EXPECT_FALSE(d.search.four_eyes);
  const config::Settings s = parse(
      "[retention.NL]\nauthorisation_pattern = '^[A-Z]{2}-OvJ-[0-9]{4}-[0-9]{4,8}$'\n"
      "[search]\nmax_plates = 5\nmax_per_hour = 10\nburst = 2\nfour_eyes = true\n");
  EXPECT_EQ(s.retention.policy(kNL)->authorisation_pattern, "^[A-Z]{2}-OvJ-[0-9]{4}-[0-9]{4,8}$");
  EXPECT_EQ(s.retention.policy(kNL)->passage_days, 28);  // the rest of NL's policy stays
  EXPECT_EQ(s.search.max_plates, 5u);
  EXPECT_TRUE(s.search.four_eyes);
  for (const auto& [bad, want] : std::vector<std::pair<std::string, std::string>>{
           {"[retention.NL]\nauthorisation_pattern = '[0-9'\n",
            "retention.NL.authorisation_pattern: expected a regular expression"},
           {"[retention.NL]\nauthorisation_pattern = 7\n", "expected a regular expression"},
           {"[retention.NL]\nauthorisation_pattern = 'a\u200bb'\n", "expected a regular expression"},
           {"[search]\nmax_plates = 0\n", "search.max_plates: expected an integer 1..1000"},
           {"[search]\nburst = 0\n", "search.burst: expected an integer 1..1000"},
           {"[search]\nmax_per_hour = -1\n", "search.max_per_hour: expected an integer"},
           {"[search]\nfour_eyes = \"yes\"\n", "search.four_eyes: expected true or false"},
       }) {
    SCOPED_TRACE(bad);
    try {
      parse(bad);
      ADD_FAILURE() << "accepted";
    } catch (const config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
}

TEST_F(SearchApi, ASearchMustStayInsideItsAuthorisation) {
  // NL, AB123C, captures of the last 10 days, valid one more day.
  const std::string id = authorise(
      R"({"country":"NL","reference":"13/654321-26","issued_by":"mr. A. de Vries","plates":["AB123C"],)"
      R"("from":")" + format_rfc3339(kT - 10 * kMsPerDay) + R"(","to":")" + format_rfc3339(kT) +
      R"(","valid_until":")" + format_rfc3339(kT + kMsPerDay) + "\"}");
  ASSERT_FALSE(id.empty());
  const auto search = [&](const std::string& more) {
    return post(R"({"plate":"AB-123-C","authorisation":")" + id + "\"" + more + "}");
  };
  // Inside: the window the search leaves open is the authorisation's.
  auto r = search("");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"nl-1"});
  EXPECT_NE(audit_lines("search").back().find("\"from\":\"" + format_rfc3339(kT - 10 * kMsPerDay) + "\""),
            std::string::npos);
  r = search(R"(,"from":")" + format_rfc3339(kT - 3 * kMsPerDay) + R"(","countries":["NL"])");
  EXPECT_EQ(r->status, 200) << r->body;
  // Outside, each way.
  for (const std::string& body :
       {R"({"plate":"XX-11-YY","authorisation":")" + id + "\"}",
        R"({"plate":"AB123C","authorisation":")" + id + R"(","from":")" +
            format_rfc3339(kT - 20 * kMsPerDay) + "\"}",
        R"({"plate":"AB123C","authorisation":")" + id + R"(","to":")" +
            format_rfc3339(kT + kMsPerDay) + "\"}",
        R"({"plate":"AB123C","authorisation":")" + id + R"(","countries":["BE"]})",
        R"({"plate":"AB123C","authorisation":")" + id + R"(","countries":["NL","BE"]})",
        R"({"plate":"AB123C","authorisation":")" + id + R"(","ocr_tolerant":true})"}) {
    SCOPED_TRACE(body);
    r = post(body);
    EXPECT_EQ(r->status, 403) << r->body;
    EXPECT_NE(r->body.find("\"error\":\"outside_authorisation\""), std::string::npos) << r->body;
    EXPECT_EQ(r->body.find("records"), std::string::npos) << r->body;
    const std::string line = audit_lines("search").back();
    EXPECT_NE(line.find("\"reason\":\"outside_authorisation\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"plates_disclosed\":[]"), std::string::npos) << line;
  }
  // An id nobody entered.
  r = post(R"({"plate":"AB123C","authorisation":"az-0000000000000000"})");
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("unknown_authorisation"), std::string::npos) << r->body;
  // Until its last millisecond, then expired.
  now_ = kT + kMsPerDay - 1;
  EXPECT_EQ(search("")->status, 200);
  now_ = kT + kMsPerDay;
  r = search("");
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("\"error\":\"authorisation_expired\""), std::string::npos) << r->body;
  auto l = client_->Get("/api/v1/authorisations", {{"Authorization", "Bearer inv-token"}});
  EXPECT_NE(l->body.find("\"expired\":true"), std::string::npos) << l->body;
}

TEST_F(SearchApi, AuthorisationsAreKeptAcrossARestartAndWithdrawnByWhoEnteredThem) {
  const std::string id = authorise_nl();
  ASSERT_FALSE(id.empty());
  const fs::path file = dir_ / "authorisations.json";
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  start_http();
  const std::string search = R"({"plate":"AB123C","authorisation":")" + id + "\"}";
  EXPECT_EQ(post(search)->status, 200);
  // Listed to who entered it, shown by id to a colleague, withdrawn only by who entered it.
  auto l = client_->Get("/api/v1/authorisations", {{"Authorization", "Bearer inv-token"}});
  EXPECT_NE(l->body.find("\"id\":\"" + id + "\""), std::string::npos) << l->body;
  EXPECT_NE(l->body.find("\"expired\":false"), std::string::npos) << l->body;
  l = client_->Get("/api/v1/authorisations", {{"Authorization", "Bearer iris-token"}});
  EXPECT_EQ(l->body, R"({"authorisations":[]})");
  l = client_->Get("/api/v1/authorisations/" + id, {{"Authorization", "Bearer iris-token"}});
  EXPECT_EQ(l->status, 200);
  EXPECT_NE(l->body.find("\"reference\":\"13/654321-26\""), std::string::npos) << l->body;
  auto d = client_->Delete("/api/v1/authorisations/" + id, {{"Authorization", "Bearer iris-token"}});
  EXPECT_EQ(d->status, 403) << d->body;
  EXPECT_NE(d->body.find("not_yours"), std::string::npos) << d->body;
  d = client_->Delete("/api/v1/authorisations/" + id, {{"Authorization", "Bearer inv-token"}});
  EXPECT_EQ(d->status, 200) << d->body;
  d = client_->Delete("/api/v1/authorisations/" + id, {{"Authorization", "Bearer inv-token"}});
  EXPECT_EQ(d->status, 404) << d->body;
  auto r = post(search);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("unknown_authorisation"), std::string::npos) << r->body;
  // Withdrawn for good: a restart does not bring it back.
  start_http();
  EXPECT_EQ(post(search)->status, 403);
  const auto withdrawn = audit_lines("authorisation.withdraw");
  ASSERT_EQ(withdrawn.size(), 3u);
  EXPECT_NE(withdrawn[0].find("\"outcome\":\"refused\""), std::string::npos) << withdrawn[0];
  EXPECT_NE(withdrawn[1].find("\"outcome\":\"allowed\""), std::string::npos) << withdrawn[1];
  // A damaged file stops the start rather than forgetting what it held.
  std::ofstream(file) << "{\"authorisations\":[{\"id\":";
  client_.reset();
  http_.reset();
  http_ = std::make_unique<HttpService>(settings_);
  EXPECT_THROW(add_search_routes(*http_, *store_), std::runtime_error);
}

class FourEyes : public SearchApi {
 protected:
  std::string extra_toml() const override {
    return "[search]\nfour_eyes = true\nburst = 1000\nmax_per_hour = 100000\n";
  }
};

TEST_F(FourEyes, WhoEntersAnAuthorisationDoesNotSearchWithIt) {
  const std::string id = authorise_nl();
  const std::string search = R"({"plate":"AB123C","authorisation":")" + id + "\"}";
  auto r = post(search);
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("\"error\":\"same_person\""), std::string::npos) << r->body;
  r = post(search, "iris-token");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"nl-1"});
  const std::string line = audit_lines("search").back();
  EXPECT_NE(line.find("\"who\":\"iris\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"entered_by\":\"ivo\""), std::string::npos) << line;
}

class ManyPlates : public SearchApi {
 protected:
  void SetUp() override {
    SearchApi::SetUp();
    // 30 plates that all read as 000000 within the OCR confusion class {0,O,D,Q}, and one more.
    std::vector<store::Record> batch;
    const char cls[] = "0ODQ";
    for (int i = 0; i < 30; ++i) {
      std::string p = "000000";
      for (int k = 0, n = i; k < 6; ++k, n /= 4) p[5 - k] = cls[n % 4];
      batch.push_back(rec(kNL, p.c_str(), "m" + std::to_string(i), "nl-cam-1", kT - kMsPerDay));
    }
    now_ = kT - kMsPerDay;
    store_->write(batch);
    now_ = kT;
  }
};

TEST_F(ManyPlates, AnOcrTolerantSearchOfManyPlatesIsRefusedAndDisclosesNothing) {
  const std::string id = authorise_nl(R"(["000000"])", R"(,"ocr_tolerant":true)");
  auto r = post(R"({"plate":"000000","ocr_tolerant":true,"authorisation":")" + id + "\"}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_NE(r->body.find("\"error\":\"narrow_the_search\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("30 different plates, more than search.max_plates (20)"), std::string::npos)
      << r->body;
  EXPECT_EQ(r->body.find("event_id"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("0O"), std::string::npos) << r->body;
  const std::string line = audit_lines("search").back();
  EXPECT_NE(line.find("\"reason\":\"narrow_the_search\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"plates_disclosed\":[]"), std::string::npos) << line;
  EXPECT_NE(line.find("\"plates_matched\":30"), std::string::npos) << line;
  EXPECT_NE(line.find("\"ocr_key\":\"000000\""), std::string::npos) << line;
  // Fewer plates than the limit (a narrower window holds none of them): answered.
  r = post(R"({"plate":"000000","ocr_tolerant":true,"to":")" + format_rfc3339(kT - 2 * kMsPerDay) +
           R"(","authorisation":")" + id + "\"}");
  EXPECT_EQ(r->status, 200) << r->body;
  // The exact plate alone: answered.
  r = post(R"({"plate":"000000","authorisation":")" + id + "\"}");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"m0"});
  EXPECT_NE(audit_lines("search").back().find("\"plates_disclosed\":[\"000000\"]"), std::string::npos);
}

class Paced : public SearchApi {
 protected:
  std::string extra_toml() const override { return "[search]\nburst = 3\nmax_per_hour = 60\n"; }
};

TEST_F(Paced, SearchesBeyondTheBurstAre429UntilTheBucketRefills) {
  const std::string body = R"({"plate":"AB123C","justification":"a reason long enough to read"})";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post(body)->status, 403);  // counted, refused or not
  auto r = post(body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_NE(r->body.find("\"error\":\"rate_limited\""), std::string::npos) << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "60");  // one search a minute
  EXPECT_NE(audit_lines("search").back().find("\"reason\":\"rate_limited\""), std::string::npos);
  // Another investigator has a bucket of their own.
  EXPECT_EQ(post(body, "iris-token")->status, 403);
  // 30 s later: half a search; a minute later: one.
  now_ = kT + 30'000;
  r = post(body);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "30");
  now_ = kT + 60'000;
  EXPECT_EQ(post(body)->status, 403);
  EXPECT_EQ(post(body)->status, 429);
}

TEST_F(SearchApi, TheAuditNamesTheCanonicalPlateHoweverItWasTyped) {
  const std::string id = authorise_nl(R"(["AB123C"])");
  for (const std::string typed :
       {"\uff21\uff22\uff0d\uff11\uff12\uff13\uff0d\uff23",  // fullwidth ＡＢ－１２３－Ｃ
        "\u0391\u0392-123-C",                                 // Greek capital Alpha, Beta
        "AB\u2010123\u2014C", "ab 123 c"}) {
    SCOPED_TRACE(typed);
    std::string body;
    JsonWriter w(body);
    w.begin_object();
    w.field("plate", typed);
    w.field("authorisation", id);
    w.end_object();
    auto r = post(body);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(event_ids(r->body), std::vector<std::string>{"nl-1"});
    const std::string line = audit_lines("search").back();
    EXPECT_NE(line.find("\"plates_searched\":[\"AB123C\"]"), std::string::npos) << line;
    EXPECT_NE(line.find("\"plates_disclosed\":[\"AB123C\"]"), std::string::npos) << line;
    EXPECT_EQ(line.find("ocr_key"), std::string::npos) << line;
  }
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

// Text fields of the compact passage form hold at most 255 bytes: longer ones are cut there, and
// what follows them in the record still reads back (the record's size is computed before it is
// written, docs/retention.md).
TEST(RetentionSinkRender, LongFieldsAreCutAndTheRestStaysReadable) {
  const fs::path dir = fs::temp_directory_path() / ("anpr-render-long-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  config::Settings s = config::parse_settings("[cameras]\nregistry = \"c.csv\"\n", "t.toml", dir);
  RetentionSink sink(s, store::Options{dir / "retention"});
  ReadEvent ev;
  ev.event_id = std::string(300, 'e');
  ev.camera_id = "nl-cam-1";
  ev.ts = kT;
  ev.plate = std::string(256, 'p');
  ev.plate_country = kBE;
  ev.lane = 7;
  ev.direction = std::string(400, 'd');
  const Camera cam{"nl-cam-1", kNL, std::string(255, 's'), std::nullopt, std::nullopt, "NL-1"};
  store::RecordBatch out;
  ASSERT_TRUE(sink.encode_passage(ev, cam, *Plate::from_normalized("AB123C"), out));
  ev.event_id = "second";
  ev.direction.clear();
  ASSERT_TRUE(sink.encode_passage(ev, cam, *Plate::from_normalized("AB123D"), out));
  ASSERT_EQ(out.size(), 2u);
  simdjson::dom::parser p;
  for (std::size_t i = 0; i < 2; ++i) {
    const store::Record r = record(out, i);
    const store::Found f{r.kind, r.camera_country, r.captured, kT + kMsPerDay, r.camera_id, r.plate,
                         r.json};
    const std::string json = RetentionSink::render(f);
    simdjson::dom::element d;
    ASSERT_FALSE(p.parse(json).get(d)) << json;
    EXPECT_EQ(std::string_view(d["event_id"]), i == 0 ? std::string(255, 'e') : "second");
    EXPECT_EQ(std::string_view(d["plate"]), std::string(255, 'p'));
    EXPECT_EQ(std::string_view(d["plate_country"]), "BE");
    EXPECT_EQ(int64_t(d["lane"]), 7);
    EXPECT_TRUE(d["confidence"].error());
    EXPECT_TRUE(d["lat"].error());
    if (i == 0) EXPECT_EQ(std::string_view(d["direction"]), std::string(255, 'd'));
    else EXPECT_TRUE(d["direction"].error());
    EXPECT_EQ(std::string_view(d["site"]), std::string(255, 's'));
    EXPECT_TRUE(d["error"].error());
  }
  fs::remove_all(dir);
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
