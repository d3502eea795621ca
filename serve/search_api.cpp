#include "serve/search_api.h"

#include <httplib.h>
#include <simdjson.h>

#include <algorithm>
#include <set>

#include "pipeline/retention_sink.h"
#include "base/json_writer.h"
#include "match/plate.h"
#include "match/time.h"

namespace anpr::app {

namespace {

constexpr std::size_t kMaxCameras = 100;
constexpr std::size_t kMaxReferenceBytes = 200;
constexpr std::size_t kMaxJustificationBytes = 2000;
constexpr std::size_t kMinJustificationBytes = 10;

struct Request {
  std::string plate_text;
  store::Query q;
  std::string from_text, to_text;
  std::vector<std::string> country_text;
  std::string reference, justification;
  bool has_limit = false;
};

bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

std::string text_field(simdjson::dom::element v, std::string_view key, std::size_t max) {
  std::string_view s;
  if (v.get(s))
    throw http::BadRequest(std::string(key) + ": expected a string");
  if (s.size() > max || !printable(s))
    throw http::BadRequest(std::string(key) + ": expected at most " + std::to_string(max) +
                           " printable characters");
  return std::string(s);
}

Request parse_request(const std::string& body, const config::Settings& settings) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc)) throw http::BadRequest("the body is not valid JSON");
  simdjson::dom::object obj;
  if (doc.get(obj)) throw http::BadRequest("the body must be a JSON object");
  Request r;
  r.q.limit = settings.retention.max_results;
  std::set<std::string_view> seen;
  bool have_plate = false;
  for (auto [key, v] : obj) {
    if (!seen.insert(key).second) throw http::BadRequest(std::string(key) + ": given twice");
    if (key == "plate") {
      r.plate_text = text_field(v, key, 64);
      auto p = normalize(r.plate_text);
      if (!p)
        throw http::BadRequest(std::string("plate: cannot be normalised to 1..10 characters "
                                           "A-Z 0-9 (") +
                               std::string(to_string(p.error())) + ")");
      r.q.plate = *p;
      have_plate = true;
    } else if (key == "ocr_tolerant") {
      bool b;
      if (v.get(b)) throw http::BadRequest("ocr_tolerant: expected true or false");
      r.q.ocr_tolerant = b;
    } else if (key == "from" || key == "to") {
      const std::string t = text_field(v, key, 64);
      auto ts = parse_rfc3339(t);
      if (!ts) throw http::BadRequest(std::string(key) + ": expected an RFC 3339 time");
      (key == "from" ? r.q.from : r.q.to) = *ts;
      (key == "from" ? r.from_text : r.to_text) = t;
    } else if (key == "cameras") {
      simdjson::dom::array a;
      if (v.get(a)) throw http::BadRequest("cameras: expected an array of camera ids");
      for (auto c : a) {
        r.q.cameras.push_back(text_field(c, "cameras[]", 64));
        if (r.q.cameras.size() > kMaxCameras)
          throw http::BadRequest("cameras: at most " + std::to_string(kMaxCameras));
      }
    } else if (key == "countries") {
      simdjson::dom::array a;
      if (v.get(a)) throw http::BadRequest("countries: expected an array of country codes");
      for (auto c : a) {
        const std::string t = text_field(c, "countries[]", 2);
        auto code = CountryCode::parse(t);
        if (!code)
          throw http::BadRequest("countries: expected " + std::string(CountryCode::kRule) +
                                 ", got " + CountryCode::why_not(t));
        if (std::find(r.q.countries.begin(), r.q.countries.end(), *code) == r.q.countries.end())
          r.q.countries.push_back(*code);
      }
    } else if (key == "kinds") {
      simdjson::dom::array a;
      if (v.get(a)) throw http::BadRequest("kinds: expected an array of \"passage\", \"hit\"");
      r.q.passages = r.q.hits = false;
      for (auto k : a) {
        const std::string t = text_field(k, "kinds[]", 16);
        if (t == "passage") r.q.passages = true;
        else if (t == "hit") r.q.hits = true;
        else throw http::BadRequest("kinds: expected \"passage\" or \"hit\"");
      }
    } else if (key == "prosecutor_reference") {
      r.reference = text_field(v, key, kMaxReferenceBytes);
    } else if (key == "justification") {
      r.justification = text_field(v, key, kMaxJustificationBytes);
    } else if (key == "limit") {
      int64_t n;
      if (v.get(n) || n < 1 || static_cast<uint64_t>(n) > settings.retention.max_results)
        throw http::BadRequest("limit: expected an integer 1.." +
                               std::to_string(settings.retention.max_results));
      r.q.limit = static_cast<std::size_t>(n);
    } else {
      throw http::BadRequest(std::string(key) + ": unknown key");
    }
  }
  if (!have_plate) throw http::BadRequest("plate: required (a search names a plate)");
  if (r.q.from > r.q.to) throw http::BadRequest("from: after to");
  return r;
}

// What the law of each country in scope requires and this request lacks; "" when allowed.
std::string missing_reference(const Request& r, const config::Settings& settings,
                              TimestampMs now) {
  auto trim_size = [](const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += c != ' ';
    return n;
  };
  const bool has_ref = trim_size(r.reference) >= 3;
  const bool has_why = trim_size(r.justification) >= kMinJustificationBytes;
  std::string missing;
  for (const config::RetentionPolicy& p : settings.retention.policies) {
    if (!r.q.countries.empty() &&
        std::find(r.q.countries.begin(), r.q.countries.end(), p.country) == r.q.countries.end())
      continue;
    const TimestampMs boundary = now - p.order_after_days * kMsPerDay;
    const bool needs_order = p.order_after_days == 0 || r.q.from < boundary;
    std::string need;
    if (needs_order && !has_ref)
      need = p.order_after_days == 0
                 ? "a prosecutor's order reference (prosecutor_reference) for every search"
                 : "a prosecutor's decision reference (prosecutor_reference) for data older "
                   "than " + std::to_string(p.order_after_days) +
                       " days (set `from` within them to search with a justification)";
    else if (!needs_order && !has_ref && !has_why)
      need = "a justification of at least " + std::to_string(kMinJustificationBytes) +
             " characters, or a prosecutor's reference";
    if (need.empty()) continue;
    if (!missing.empty()) missing += "; ";
    missing += p.country.str() + " needs " + need;
  }
  return missing;
}

void query_fields(JsonWriter& w, const Request& r) {
  w.key("query");
  w.begin_object();
  w.field("plate", r.plate_text);
  w.field("ocr_tolerant", r.q.ocr_tolerant);
  if (!r.from_text.empty()) w.field("from", r.from_text);
  if (!r.to_text.empty()) w.field("to", r.to_text);
  w.key("cameras");
  w.begin_array();
  for (const auto& c : r.q.cameras) w.value(c);
  w.end_array();
  w.key("countries");
  w.begin_array();
  for (CountryCode c : r.q.countries) w.value(c.str());
  w.end_array();
  w.key("kinds");
  w.begin_array();
  if (r.q.passages) w.value("passage");
  if (r.q.hits) w.value("hit");
  w.end_array();
  w.end_object();
}

}  // namespace

void add_search_routes(HttpService& http, store::Store& st) {
  const config::Settings& settings = *http.context().settings;
  http::AuditLog& audit = http.audit();
  http.server().post(
      "/api/v1/search", http::roles(http::Role::investigator),
      [&settings, &audit, &st](const httplib::Request& req, httplib::Response& res,
                               const http::Principal& who) {
        const std::string role(http::role_name(who.role));
        Request r;
        try {
          r = parse_request(req.body, settings);
        } catch (const http::HttpError& e) {
          // Refused before it ran: the audit keeps who tried and why, not the unparsed body.
          audit.record(who.name, role, "search", [&](JsonWriter& w) {
            w.field("outcome", "refused");
            w.field("reason", "bad_request");
            w.field("detail", e.what());
            w.field("results", 0);
          });
          throw;
        }
        const std::string missing = missing_reference(r, settings, st.now());
        const auto legal = [&](JsonWriter& w) {
          w.field("prosecutor_reference", r.reference);
          w.field("justification", r.justification);
          query_fields(w, r);
        };
        if (!missing.empty()) {
          audit.record(who.name, role, "search", [&](JsonWriter& w) {
            w.field("outcome", "refused");
            w.field("reason", "legal_reference_required");
            w.field("detail", missing);
            legal(w);
            w.field("results", 0);
          });
          throw http::HttpError(403, "legal_reference_required", missing);
        }
        const store::SearchResult found = st.search(r.q);
        // Recorded before anything is answered: an unrecorded search returns nothing.
        audit.record(who.name, role, "search", [&](JsonWriter& w) {
          w.field("outcome", "allowed");
          legal(w);
          w.field("results", static_cast<uint64_t>(found.records.size()));
          w.field("truncated", found.truncated);
        });
        std::string body;
        JsonWriter w(body);
        w.begin_object();
        w.field("count", static_cast<uint64_t>(found.records.size()));
        w.field("truncated", found.truncated);
        w.key("records");
        w.begin_array();
        for (const store::Found& f : found.records) {
          w.begin_object();
          w.field("kind", store::to_string(f.kind));
          w.field("camera_country", f.camera_country.str());
          w.field("captured", format_rfc3339(f.captured));
          w.field("deadline", format_rfc3339(f.deadline));
          w.key("record");
          body += RetentionSink::render(f);  // a JSON object
          w.end_object();
        }
        w.end_array();
        w.end_object();
        http::send_json(res, 200, std::move(body));
      });
}

}  // namespace anpr::app
