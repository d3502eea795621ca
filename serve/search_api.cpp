#include "serve/search_api.h"

#include <simdjson.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "pipeline/retention_sink.h"
#include "base/json_writer.h"
#include "match/confusion.h"
#include "match/plate.h"
#include "match/time.h"
#include "serve/authorisations.h"

namespace anpr::app {

namespace {

constexpr std::size_t kMaxCameras = 100;
constexpr std::size_t kMaxIdBytes = 64;
constexpr std::size_t kMaxJustificationBytes = 2000;

struct Request {
  std::string plate_text;
  store::Query q;
  bool has_from = false, has_to = false;
  std::string authorisation;  // its id
  std::string justification;
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

// Searches per investigator: a token bucket of `burst` refilled at `per_hour` an hour, in
// memory (a restart refills it). Bounded: one entry per token name in the configuration. Exact
// integer arithmetic: one search is kHour units, and every millisecond adds `per_hour` units.
class RateLimiter {
 public:
  RateLimiter(int per_hour, int burst) : per_hour_(per_hour), capacity_(int64_t{burst} * kHour) {}
  // Takes one search for `who` at `now`; when none is left returns false and sets the seconds
  // until one is.
  bool take(const std::string& who, TimestampMs now, int64_t& retry_after_s) {
    std::lock_guard lock(mu_);
    auto [it, fresh] = buckets_.try_emplace(who, Bucket{capacity_, now});
    Bucket& b = it->second;
    if (!fresh && now > b.at) {
      // Past the time a bucket takes to fill, more time adds nothing (and cannot overflow).
      const int64_t elapsed = std::min<int64_t>(now - b.at, capacity_ / per_hour_ + 1);
      b.units = std::min(capacity_, b.units + elapsed * per_hour_);
    }
    b.at = std::max(b.at, now);
    if (b.units >= kHour) {
      b.units -= kHour;
      return true;
    }
    const int64_t wait_ms = (kHour - b.units + per_hour_ - 1) / per_hour_;
    retry_after_s = std::max<int64_t>(1, (wait_ms + 999) / 1000);
    return false;
  }

 private:
  static constexpr int64_t kHour = 3'600'000;  // ms
  struct Bucket {
    int64_t units;
    TimestampMs at;
  };
  const int64_t per_hour_;
  const int64_t capacity_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

// The plate with every character replaced by its OCR confusion class's representative: the key
// every plate an OCR-tolerant search of it finds shares (match/confusion.h).
std::string ocr_key(const Plate& p) {
  static const ConfusionClasses classes;
  std::string out;
  for (std::size_t i = 0; i < p.size(); ++i)
    out += Plate::symbol(classes.canonical_code(Plate::code(p[i])));
  return out;
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
      (key == "from" ? r.has_from : r.has_to) = true;
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
    } else if (key == "authorisation") {
      r.authorisation = text_field(v, key, kMaxIdBytes);
      if (r.authorisation.empty()) throw http::BadRequest("authorisation: expected an id");
    } else if (key == "prosecutor_reference") {
      throw http::BadRequest(
          "prosecutor_reference: no longer accepted; enter the order or decision as an "
          "authorisation (POST /api/v1/authorisations) and name its id in \"authorisation\"");
    } else if (key == "justification") {
      std::string_view t;
      if (v.get(t)) throw http::BadRequest("justification: expected a string");
      if (t.size() > kMaxJustificationBytes)
        throw http::BadRequest("justification: expected at most " +
                               std::to_string(kMaxJustificationBytes) + " bytes");
      if (const std::string why = justification_problem(t); !why.empty())
        throw http::BadRequest("justification: " + why);
      r.justification = std::string(t);
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

// A search refused for its scope or legal ground: answered with status/code/detail and audited.
struct Refusal {
  int status;
  std::string code;
  std::string detail;
};

// Checks the search against its authorisation and narrows it to the authorisation's countries
// and time window where the search leaves them open. nullopt: inside it.
std::optional<Refusal> check_authorisation(Request& r, const Authorisation& a,
                                           const http::Principal& who,
                                           const config::Settings& settings, TimestampMs now) {
  if (now >= a.valid_until)
    return Refusal{403, "authorisation_expired",
                   "authorisation " + a.id + " expired at " + format_rfc3339(a.valid_until)};
  if (settings.search.four_eyes && a.entered_by == who.name)
    return Refusal{403, "same_person",
                   "search.four_eyes: authorisation " + a.id +
                       " was entered by you; another investigator must search with it"};
  const auto outside = [&](const std::string& what) {
    return Refusal{403, "outside_authorisation", "authorisation " + a.id + " " + what};
  };
  if (!a.covers_plate(r.q.plate)) return outside("does not cover this plate");
  if (r.q.ocr_tolerant && !a.ocr_tolerant)
    return outside("does not cover OCR-tolerant searches (ocr_tolerant)");
  if (r.q.countries.empty()) {
    r.q.countries = a.countries;
  } else {
    for (CountryCode c : r.q.countries)
      if (!a.covers_country(c)) return outside("does not cover camera country " + c.str());
  }
  if (a.from && r.has_from && r.q.from < *a.from)
    return outside("covers captures from " + format_rfc3339(*a.from) + " only");
  if (a.to && r.has_to && r.q.to > *a.to)
    return outside("covers captures until " + format_rfc3339(*a.to) + " only");
  if (a.from && !r.has_from) {
    r.q.from = *a.from;
    r.has_from = true;
  }
  if (a.to && !r.has_to) {
    r.q.to = *a.to;
    r.has_to = true;
  }
  if (r.q.from > r.q.to) return outside("covers none of the requested time window");
  return std::nullopt;
}

// What the law of each country in scope requires and this request lacks; "" when allowed. A
// search with an authorisation has been checked against it already.
std::string missing_ground(const Request& r, const config::Settings& settings, TimestampMs now) {
  if (!r.authorisation.empty()) return "";
  const bool has_why = !r.justification.empty();  // meaningful: checked when parsed
  std::string missing;
  for (const config::RetentionPolicy& p : settings.retention.policies) {
    if (!r.q.countries.empty() &&
        std::find(r.q.countries.begin(), r.q.countries.end(), p.country) == r.q.countries.end())
      continue;
    const TimestampMs boundary = now - p.order_after_days * kMsPerDay;
    const bool needs_order = p.order_after_days == 0 || r.q.from < boundary;
    std::string need;
    if (needs_order)
      need = p.order_after_days == 0
                 ? "an authorisation (the prosecutor's order) for every search"
                 : "an authorisation (the prosecutor's written decision) for data older than " +
                       std::to_string(p.order_after_days) +
                       " days (set `from` within them to search with a justification)";
    else if (!has_why)
      need = "a justification or an authorisation";
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
  if (r.has_from) w.field("from", format_rfc3339(r.q.from));
  if (r.has_to) w.field("to", format_rfc3339(r.q.to));
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

// The audit's answer to "who searched plate X": the canonical plate searched and, for an
// OCR-tolerant search, the key every plate it could find shares.
void searched_fields(JsonWriter& w, const Request& r) {
  w.key("plates_searched");
  w.begin_array();
  w.value(r.q.plate.view());
  w.end_array();
  if (r.q.ocr_tolerant) w.field("ocr_key", ocr_key(r.q.plate));
}

void disclosed_fields(JsonWriter& w, const std::set<std::string>& plates) {
  w.key("plates_disclosed");
  w.begin_array();
  for (const std::string& p : plates) w.value(p);
  w.end_array();
}

void ground_fields(JsonWriter& w, const Request& r, const std::optional<Authorisation>& a) {
  w.field("authorisation", r.authorisation);
  if (a) {
    w.field("reference", a->reference);
    w.field("reference_country", a->country.str());
    w.field("issued_by", a->issued_by);
    w.field("entered_by", a->entered_by);
  }
  w.field("justification", r.justification);
}

std::string authorisation_json(const Authorisation& a) {
  std::string body;
  JsonWriter w(body);
  a.write(w);
  return body;
}

}  // namespace

void add_search_routes(HttpService& http, store::Store& st) {
  const config::Settings& settings = *http.context().settings;
  http::AuditLog& audit = http.audit();
  const auto clock = [&st] { return st.now(); };
  auto auths = std::make_shared<Authorisations>(settings.state_dir / "authorisations.json", clock);
  auto limiter =
      std::make_shared<RateLimiter>(settings.search.max_per_hour, settings.search.burst);

  http.server().post(
      "/api/v1/search", http::roles(http::Role::investigator),
      [&settings, &audit, &st, auths, limiter](const http::Request& req,
                                                http::Response& res,
                                                const http::Principal& who) {
        const std::string role(http::role_name(who.role));
        const TimestampMs now = st.now();
        const auto refuse = [&](const Refusal& why,
                                const std::function<void(JsonWriter&)>& more) {
          audit.record(who.name, role, "search", [&](JsonWriter& w) {
            w.field("outcome", "refused");
            w.field("reason", why.code);
            w.field("detail", why.detail);
            if (more) more(w);
            w.field("results", 0);
          });
        };
        // Paced before anything else, so that refused attempts count too.
        if (int64_t retry = 0; !limiter->take(who.name, now, retry)) {
          const Refusal why{429, "rate_limited",
                            "more than search.burst searches in a row or search.max_per_hour "
                            "an hour; try again in " + std::to_string(retry) + " s"};
          refuse(why, {});
          res.set_header("Retry-After", std::to_string(retry));
          http::send_error(res, why.status, why.code, why.detail);
          return;
        }
        Request r;
        try {
          r = parse_request(req.body, settings);
        } catch (const http::HttpError& e) {
          // Refused before it ran: the audit keeps who tried and why, not the unparsed body.
          refuse(Refusal{400, "bad_request", e.what()}, {});
          throw;
        }
        std::optional<Authorisation> a;
        std::optional<Refusal> why;
        if (!r.authorisation.empty()) {
          a = auths->find(r.authorisation);
          if (!a)
            why = Refusal{403, "unknown_authorisation",
                          "no authorisation " + r.authorisation +
                              " (withdrawn, expired long ago, or never entered)"};
          else
            why = check_authorisation(r, *a, who, settings, now);
        }
        if (!why) {
          if (std::string missing = missing_ground(r, settings, now); !missing.empty())
            why = Refusal{403, "authorisation_required", std::move(missing)};
        }
        const auto scope = [&](JsonWriter& w) {
          ground_fields(w, r, a);
          searched_fields(w, r);
          query_fields(w, r);
        };
        if (why) {
          refuse(*why, [&](JsonWriter& w) {
            scope(w);
            disclosed_fields(w, {});
          });
          throw http::HttpError(why->status, why->code, why->detail);
        }
        const store::SearchResult found = st.search(r.q);
        std::set<std::string> plates;
        for (const store::Found& f : found.records) plates.insert(f.plate.str());
        if (plates.size() > settings.search.max_plates) {
          // Decided before anything is answered: a search this wide discloses nothing.
          const Refusal wide{422, "narrow_the_search",
                             "the search matches " + std::to_string(plates.size()) +
                                 " different plates, more than search.max_plates (" +
                                 std::to_string(settings.search.max_plates) +
                                 "); narrow it (an exact plate, a shorter time window, fewer "
                                 "cameras)"};
          refuse(wide, [&](JsonWriter& w) {
            scope(w);
            disclosed_fields(w, {});
            w.field("plates_matched", static_cast<uint64_t>(plates.size()));
          });
          throw http::HttpError(wide.status, wide.code, wide.detail);
        }
        // Recorded before anything is answered: an unrecorded search returns nothing.
        audit.record(who.name, role, "search", [&](JsonWriter& w) {
          w.field("outcome", "allowed");
          scope(w);
          disclosed_fields(w, plates);
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
          // A camera clock ahead of the processor: the time the deadline and the search's range
          // used instead (docs/retention.md, "Deadline").
          if (f.trusted != f.captured) w.field("trusted_time", format_rfc3339(f.trusted));
          w.field("deadline", format_rfc3339(f.deadline));
          w.key("record");
          body += RetentionSink::render(f);  // a JSON object
          w.end_object();
        }
        w.end_array();
        w.end_object();
        http::send_json(res, 200, std::move(body));
      });

  http.server().post(
      "/api/v1/authorisations", http::roles(http::Role::investigator),
      [&settings, &audit, auths](const http::Request& req, http::Response& res,
                                 const http::Principal& who) {
        const std::string role(http::role_name(who.role));
        Authorisation a;
        try {
          a = parse_authorisation(req.body, settings, auths->now());
          a.entered_by = who.name;
          a.entered_at = auths->now();
        } catch (const http::HttpError& e) {
          audit.record(who.name, role, "authorisation.add", [&](JsonWriter& w) {
            w.field("outcome", "refused");
            w.field("reason", e.code());
            w.field("detail", e.what());
          });
          throw;
        }
        // Entered, then audited with its id; if the audit cannot be written, withdrawn again
        // so that no authorisation exists unrecorded.
        const Authorisation added = auths->add(std::move(a));
        try {
          audit.record(who.name, role, "authorisation.add", [&](JsonWriter& w) {
            w.field("outcome", "allowed");
            w.key("authorisation");
            added.write(w);
          });
        } catch (...) {
          auths->withdraw(added.id, added.entered_by);
          throw;
        }
        http::send_json(res, 201, authorisation_json(added));
      });

  http.server().get(
      "/api/v1/authorisations", http::roles(http::Role::investigator),
      [auths](const http::Request&, http::Response& res, const http::Principal& who) {
        const TimestampMs now = auths->now();
        std::string body;
        JsonWriter w(body);
        w.begin_object();
        w.key("authorisations");
        w.begin_array();
        for (const Authorisation& a : auths->entered_by(who.name)) a.write(w, now);
        w.end_array();
        w.end_object();
        http::send_json(res, 200, std::move(body));
      });

  http.server().get(
      R"(/api/v1/authorisations/(az-[0-9a-f]{16}))", http::roles(http::Role::investigator),
      [auths](const http::Request& req, http::Response& res, const http::Principal&) {
        auto a = auths->find(req.matches[1]);
        if (!a) throw http::NotFound("no authorisation " + std::string(req.matches[1]));
        http::send_json(res, 200, authorisation_json(*a));
      });

  http.server().del(
      R"(/api/v1/authorisations/(az-[0-9a-f]{16}))", http::roles(http::Role::investigator),
      [&audit, auths](const http::Request& req, http::Response& res,
                      const http::Principal& who) {
        const std::string role(http::role_name(who.role));
        const std::string id = req.matches[1];
        std::optional<Authorisation> a = auths->find(id);
        const auto record = [&](std::string_view outcome, std::string_view reason) {
          audit.record(who.name, role, "authorisation.withdraw", [&](JsonWriter& w) {
            w.field("outcome", outcome);
            if (!reason.empty()) w.field("reason", reason);
            w.field("id", id);
            if (a) w.field("reference", a->reference);
          });
        };
        if (!a || a->entered_by != who.name) {
          record("refused", a ? "not_yours" : "not_found");
          if (!a) throw http::NotFound("no authorisation " + id);
          throw http::HttpError(403, "not_yours",
                                "only the investigator who entered an authorisation may "
                                "withdraw it");
        }
        // Audited first: a withdrawal that cannot be recorded does not happen.
        record("allowed", "");
        if (!auths->withdraw(id, who.name)) throw http::NotFound("no authorisation " + id);
        std::string body;
        JsonWriter w(body);
        w.begin_object();
        w.field("withdrawn", id);
        w.end_object();
        http::send_json(res, 200, std::move(body));
      });
}

}  // namespace anpr::app
