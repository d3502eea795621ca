#include "serve/control_room.h"

#include <simdjson.h>

#include <algorithm>
#include <functional>
#include <future>
#include <map>
#include <mutex>

#include "serve/web_assets.h"
#include "base/json_writer.h"
#include "base/mutex.h"
#include "kafka/client.h"
#include "pipeline/kafka_props.h"

namespace anpr::app {

namespace {

constexpr std::size_t kMaxNoteBytes = 500;
constexpr auto kKeepAlive = std::chrono::seconds(15);

// The page a path names: "/" is the control room.
const WebAsset* find_page(std::string_view path) {
  if (path == "/") path = "/index.html";
  else if (path == "/status") path = "/status.html";
  else if (path == "/lists") path = "/lists.html";
  for (const WebAsset& a : web_assets())
    if (a.path == path) return &a;
  return nullptr;
}

// A note as a person typed it: at most kMaxNoteBytes, no control characters (C0, DEL, C1) and no
// bidirectional overrides, which could make a note read otherwise than it is stored. "" when
// fine, else what is wrong.
std::string note_problem(std::string_view n) {
  if (n.size() > kMaxNoteBytes) return "expected at most 500 bytes";
  for (std::size_t i = 0; i < n.size(); ++i) {
    const auto c = static_cast<unsigned char>(n[i]);
    if (c < 0x20 || c == 0x7f) return "expected no control characters";
    const auto next = [&](std::size_t k) {
      return i + k < n.size() ? static_cast<unsigned char>(n[i + k]) : 0;
    };
    if (c == 0xc2 && next(1) >= 0x80 && next(1) <= 0x9f) return "expected no control characters";
    if (c == 0xe2 && ((next(1) == 0x80 && next(2) >= 0xaa && next(2) <= 0xae) ||
                      (next(1) == 0x81 && next(2) >= 0xa6 && next(2) <= 0xa9)))
      return "expected no bidirectional control characters";
  }
  return "";
}

std::string join_codes(const std::vector<std::string>& codes) {
  std::string out;
  for (const std::string& c : codes) out += (out.empty() ? "" : ", ") + c;
  return out;
}

bool has_code(const std::vector<std::string>& codes, std::string_view c) {
  return std::find(codes.begin(), codes.end(), c) != codes.end();
}

// What is recorded of a hit, for a 409: "accepted", "rejected (misread)".
std::string recorded_text(const FollowupState& s) {
  if (s.disposition.empty()) return "not accepted or rejected yet";
  return s.disposition + (s.reason.empty() ? "" : " (" + s.reason + ")");
}

// The body of a disposition or outcome request: a JSON object of `allowed` fields, each a string.
std::map<std::string, std::string> parse_followup_body(const std::string& body,
                                                       const std::vector<std::string>& allowed,
                                                       std::string_view example) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (body.empty() || parser.parse(body).get(doc) || !doc.is_object())
    throw http::BadRequest("expected a JSON object such as " + std::string(example));
  std::map<std::string, std::string> out;
  for (auto field : doc.get_object()) {
    const std::string key(field.key);
    if (!has_code(allowed, key))
      throw http::BadRequest("unknown field \"" + key.substr(0, 64) + "\"; expected " +
                             join_codes(allowed));
    std::string_view v;
    if (field.value.get_string().get(v))
      throw http::BadRequest("\"" + key + "\": expected a string");
    if (out.contains(key)) throw http::BadRequest("\"" + key + "\" given twice");
    out[key] = std::string(v);
  }
  if (auto n = out.find("note"); n != out.end())
    if (const std::string why = note_problem(n->second); !why.empty())
      throw http::BadRequest("\"note\": " + why);
  return out;
}

uint64_t parse_event_id(std::string_view s) {
  uint64_t v = 0;
  if (s.empty() || s.size() > 19) return 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

void add_page_routes(http::Server& server) {
  server.get_public(R"(/|/status|/lists|/[a-z0-9\-]+\.(js|css|html|svg|png))",
                    [](const http::Request& req, http::Response& res) {
                      const WebAsset* a = find_page(req.path);
                      if (!a) return http::send_error(res, 404, "not_found",
                                                      "no such page: " + req.path);
                      res.set_header("Content-Security-Policy",
                                     "default-src 'self'; img-src 'self' data:; "
                                     "style-src 'self'; script-src 'self'; "
                                     "frame-ancestors 'none'");
                      res.set_header("Cache-Control", "no-cache");
                      res.set_content(std::string(a->data, a->size),
                                      std::string(a->content_type));
                    });
}

// Publishes acknowledgements and waits for the broker's confirmation.
struct ControlRoom::Acks {
  std::unique_ptr<kafka::Producer> producer;
  std::string topic;

  explicit Acks(const config::Settings& s) : topic(s.topics.hit_acks) {
    // Defaults only: kafka.properties.* and kafka.producer.* may change each of them.
    producer = std::make_unique<kafka::Producer>(
        kafka_properties(s.kafka, KafkaRole::producer, "4",
                         {{"enable.idempotence", "true"},
                          {"acks", "all"},
                          {"linger.ms", "0"},
                          {"message.timeout.ms", "10000"}}),
        [](rd_kafka_resp_err_t err, void* opaque, const rd_kafka_message_t&) {
          static_cast<std::promise<rd_kafka_resp_err_t>*>(opaque)->set_value(err);
        },
        // Signed, so no one else can acknowledge a hit through the topic (docs/kafka.md).
        kafka::Signer(s.kafka.signing_keys));
  }

  // Returns "" when delivered, else the reason.
  std::string publish(const std::string& key, const std::string& value) {
    std::promise<rd_kafka_resp_err_t> done;
    auto result = done.get_future();
    const rd_kafka_resp_err_t err = producer->produce(topic, key, value, &done);
    if (err) return rd_kafka_err2str(err);
    while (result.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready)
      producer->poll(10);
    const rd_kafka_resp_err_t delivered = result.get();
    return delivered ? rd_kafka_err2str(delivered) : "";
  }
};

// Open event streams, per token, per control room and in all: one room's pages cannot take the
// slots of the others (http.max_streams_per_room), nor one token its room's.
struct ControlRoom::Streams {
  const int max_total, max_per_room;
  Mutex mu;
  std::map<std::string, int> per_token GUARDED_BY(mu);
  std::map<std::string, int> per_room GUARDED_BY(mu);
  int total GUARDED_BY(mu) = 0;

  Streams(int total_cap, int room_cap) : max_total(total_cap), max_per_room(room_cap) {}

  // "" when opened, else why not (for the 503).
  std::string open(const std::string& token, const std::string& room) {
    MutexLock lock(mu);
    int& t = per_token[token];
    int& r = per_room[room];
    std::string why;
    if (t >= kMaxStreamsPerToken)
      why = "at most " + std::to_string(kMaxStreamsPerToken) + " per token";
    else if (r >= max_per_room)
      why = "at most " + std::to_string(max_per_room) + " for control room " + room;
    else if (total >= max_total)
      why = "at most " + std::to_string(max_total) + " on this server";
    if (!why.empty()) {
      if (t == 0) per_token.erase(token);
      if (r == 0) per_room.erase(room);
      return why;
    }
    ++t;
    ++r;
    ++total;
    return "";
  }
  void close(const std::string& token, const std::string& room) {
    MutexLock lock(mu);
    if (--per_token[token] <= 0) per_token.erase(token);
    if (--per_room[room] <= 0) per_room.erase(room);
    --total;
  }
};

namespace {

// A follow-up record (docs/control-room.md, "Follow-up records on Kafka"): the fields every kind has, then
// `more` adds the kind's own.
std::string followup_record(std::string_view kind, const std::string& hit_id,
                            const http::Principal& who, const HitFacts& facts,
                            const Audience& audience, const std::string& note,
                            const std::function<void(JsonWriter&)>& more) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("kind", kind);
  w.field("hit_id", hit_id);
  if (kind == "ack") w.field("acknowledged_by", who.name);  // what older readers look for
  w.field("by", who.name);
  w.field("control_room", who.control_room);
  w.field("ts", http::utc_now_text());
  w.field("list_id", facts.list_id);
  w.field("camera_id", facts.camera_id);
  w.field("hit_ts", facts.hit_ts);
  w.field("covert", audience.covert);
  if (audience.covert) {
    w.key("covert_rooms");
    w.begin_array();
    for (const std::string& r : audience.rooms) w.value(r);
    w.end_array();
  }
  if (facts.priority >= 0) w.field("priority", facts.priority);
  if (more) more(w);
  if (!note.empty()) w.field("note", note);
  w.end_object();
  return out;
}

}  // namespace

// Audits and publishes one follow-up record; throws 503 (audited as `action`.failed) when it
// could not be published. The caller gives back its reservation.
void ControlRoom::publish_record(const http::Principal& who, const std::string& action,
                                 const std::string& hit_id, const std::string& record,
                                 const std::function<void(JsonWriter&)>& audit_fields) {
  service_.audit().record(who.name, http::role_name(who.role), action, [&](JsonWriter& a) {
    a.field("hit_id", hit_id);
    if (audit_fields) audit_fields(a);
  });
  const std::string err = acks_->publish(hit_id, record);
  if (err.empty()) return;
  service_.audit().record(who.name, http::role_name(who.role), action + ".failed",
                          [&](JsonWriter& a) {
                            a.field("hit_id", hit_id);
                            a.field("reason", err);
                          });
  throw http::HttpError(503, "unavailable", "the record could not be published: " + err);
}

ControlRoom::ControlRoom(const config::Settings& settings, HttpService& service,
                         HitFeed::Clock clock)
    : settings_(settings), service_(service),
      feed_(settings.http.feed_hits, settings.retention.policies, std::move(clock),
            Escalation{settings.followup.escalate_priority,
                       settings.followup.escalate_after_s * 1000}),
      acks_(std::make_unique<Acks>(settings)), streams_(std::make_unique<Streams>(settings.http.max_streams, settings.http.max_streams_per_room)) {
  http::Server& server = service.server();
  using http::Role;
  add_page_routes(server);

  server.get("/api/v1/me", Role::operator_ | Role::controlroom | Role::investigator | Role::engineer,
             [](const http::Request&, http::Response& res, const http::Principal& who) {
               std::string body;
               JsonWriter w(body);
               w.begin_object();
               w.field("name", who.name);
               w.field("role", http::role_name(who.role));
               w.field("control_room", who.control_room);
               w.end_object();
               http::send_json(res, 200, std::move(body));
             });

  server.get("/api/v1/hits/stream", http::roles(Role::controlroom),
             [this](const http::Request& req, http::Response& res,
                    const http::Principal& who) {
               uint64_t after = parse_event_id(req.get_header_value("Last-Event-ID"));
               if (req.has_param("last_event_id"))
                 after = parse_event_id(req.get_param_value("last_event_id"));
               // A page resuming from before a restart of this processor starts over.
               if (after > feed_.last_seq()) after = 0;
               if (const std::string why = streams_->open(who.name, who.control_room);
                   !why.empty())
                 throw http::HttpError(503, "unavailable",
                                       "too many open hit streams (" + why +
                                           "); close another page first");
               res.set_header("Cache-Control", "no-store");
               res.set_header("X-Accel-Buffering", "no");
               auto last = std::make_shared<uint64_t>(after);
               auto idle = std::make_shared<std::chrono::steady_clock::time_point>(
                   std::chrono::steady_clock::now());
               const std::string room = who.control_room;
               // The stream ends once its token is withdrawn (tokens file reloaded) or expires.
               const http::TokenStore* tokens = &service_.server().tokens();
               res.set_chunked_content_provider(
                   "text/event-stream",
                   [this, last, idle, room, tokens, who](std::size_t, http::DataSink& sink) {
                     if (feed_.stopping() || !tokens->still_valid(who)) {
                       sink.done();
                       return true;
                     }
                     if (*last == 0 && feed_.last_seq() == 0) {
                       // Tell the page the stream is open even before the first hit.
                       static const std::string hello = "retry: 2000\n: connected\n\n";
                       if (!sink.write(hello.data(), hello.size())) return false;
                     }
                     auto events =
                         feed_.events_after(*last, room, std::chrono::seconds(1), 200);
                     std::string out;
                     for (const FeedEvent& e : events) {
                       out += "id: " + std::to_string(e.seq) + "\n";
                       out += "event: " + std::string(event_name(e.kind)) + "\n";
                       out += "data: " + e.json + "\n\n";
                       *last = e.seq;
                     }
                     const auto now = std::chrono::steady_clock::now();
                     if (out.empty() && now - *idle < kKeepAlive) return sink.is_writable();
                     if (out.empty()) out = ": keep-alive\n\n";
                     *idle = now;
                     return sink.write(out.data(), out.size());
                   },
                   [streams = streams_.get(), name = who.name, room](bool) {
                     streams->close(name, room);
                   });
             });

  server.post(R"(/api/v1/hits/([0-9a-f]{1,64})/ack)", http::roles(Role::controlroom),
              [this](const http::Request& req, http::Response& res,
                     const http::Principal& who) {
                const std::string hit_id = req.matches[1];
                std::string note;
                if (!req.body.empty()) {
                  simdjson::dom::parser parser;
                  simdjson::dom::element doc;
                  if (parser.parse(req.body).get(doc) || !doc.is_object())
                    throw http::BadRequest("expected a JSON object such as {\"note\":\"...\"}");
                  for (auto field : doc.get_object()) {
                    if (field.key != "note")
                      throw http::BadRequest("unknown field \"" + std::string(field.key) +
                                             "\"; expected only \"note\"");
                    std::string_view n;
                    if (field.value.get_string().get(n))
                      throw http::BadRequest("\"note\": expected a string");
                    if (n.size() > kMaxNoteBytes)
                      throw http::BadRequest("\"note\": expected at most 500 bytes");
                    note = n;
                  }
                }
                HitFacts facts;
                Audience audience;
                switch (feed_.reserve_ack(hit_id, who.control_room, &facts, &audience)) {
                  case HitFeed::Lookup::unknown:
                  case HitFeed::Lookup::not_visible:
                    throw http::NotFound("no open hit " + hit_id + " for this control room");
                  case HitFeed::Lookup::acknowledged:
                    throw http::Conflict("hit " + hit_id + " is already acknowledged");
                  case HitFeed::Lookup::open:
                    break;
                }
                const std::string ack =
                    followup_record("ack", hit_id, who, facts, audience, note, nullptr);
                try {
                  publish_record(who, "hit.ack", hit_id, ack, [&](JsonWriter& a) {
                    if (!note.empty()) a.field("note", note);
                  });
                } catch (...) {
                  feed_.release(hit_id);
                  throw;
                }
                feed_.add_record(ack);
                http::send_json(res, 200, ack);
              });

  server.get("/api/v1/followup/codes", http::roles(Role::controlroom),
             [this](const http::Request&, http::Response& res, const http::Principal&) {
               const config::FollowupSettings& f = settings_.followup;
               std::string body;
               JsonWriter w(body);
               w.begin_object();
               w.key("reject_reasons");
               w.begin_array();
               for (const std::string& c : f.reject_reasons) w.value(c);
               w.end_array();
               w.key("note_required");
               w.begin_array();
               if (has_code(f.reject_reasons, "other")) w.value("other");
               w.end_array();
               w.key("outcomes");
               w.begin_array();
               for (const std::string& c : f.outcomes) w.value(c);
               w.end_array();
               w.field("escalate_priority", f.escalate_priority);
               w.field("escalate_after_s", f.escalate_after_s);
               w.field("escalation_sound", f.escalation_sound);
               w.end_object();
               http::send_json(res, 200, std::move(body));
             });

  server.post(R"(/api/v1/hits/([0-9a-f]{1,64})/disposition)", http::roles(Role::controlroom),
              [this](const http::Request& req, http::Response& res,
                     const http::Principal& who) {
                const std::string hit_id = req.matches[1];
                const config::FollowupSettings& f = settings_.followup;
                auto body = parse_followup_body(
                    req.body, {"disposition", "reason", "note"},
                    R"({"disposition":"rejected","reason":"misread","note":"..."})");
                const std::string disposition = body["disposition"];
                const std::string reason = body.contains("reason") ? body["reason"] : "";
                const std::string note = body.contains("note") ? body["note"] : "";
                if (disposition != "accepted" && disposition != "rejected")
                  throw http::BadRequest(
                      "\"disposition\": expected \"accepted\" or \"rejected\"");
                if (disposition == "accepted" && body.contains("reason"))
                  throw http::BadRequest("\"reason\": an accepted hit takes no reason");
                if (disposition == "rejected" && !has_code(f.reject_reasons, reason))
                  throw http::BadRequest("\"reason\": expected one of " +
                                         join_codes(f.reject_reasons));
                if (reason == "other" &&
                    note.find_first_not_of(' ') == std::string::npos)
                  throw http::BadRequest("\"note\": the reason \"other\" needs a note");
                const HitFeed::Reservation r = feed_.reserve_followup(hit_id, who.control_room);
                if (r.lookup == HitFeed::Lookup::unknown ||
                    r.lookup == HitFeed::Lookup::not_visible)
                  throw http::NotFound("no hit " + hit_id + " for this control room");
                if (r.busy)
                  throw http::Conflict("hit " + hit_id +
                                       " is being recorded by another request; try again");
                bool ack_published = false;
                try {
                  if (!r.state.disposition.empty()) {
                    if (r.state.disposition != disposition || r.state.reason != reason)
                      throw http::Conflict("hit " + hit_id + " is already " +
                                           recorded_text(r.state));
                    // The same request again: the record already stored.
                    feed_.finish_followup(hit_id, r.ack_reserved);
                    return http::send_json(res, 200, r.state.disposition_json);
                  }
                  // A disposition implies the acknowledgement: that record first.
                  if (r.ack_reserved) {
                    const std::string ack =
                        followup_record("ack", hit_id, who, r.facts, r.audience, "", nullptr);
                    publish_record(who, "hit.ack", hit_id, ack, nullptr);
                    ack_published = true;
                    feed_.add_record(ack);
                  }
                  const std::string record = followup_record(
                      "disposition", hit_id, who, r.facts, r.audience, note,
                      [&](JsonWriter& w) {
                        w.field("disposition", disposition);
                        if (!reason.empty()) w.field("reason", reason);
                      });
                  publish_record(who, "hit.disposition", hit_id, record, [&](JsonWriter& a) {
                    a.field("disposition", disposition);
                    if (!reason.empty()) a.field("reason", reason);
                    if (!note.empty()) a.field("note", note);
                  });
                  if (!feed_.add_record(record)) {
                    // Another instance's disposition reached the feed first: it stands.
                    const auto now = feed_.followup(hit_id);
                    if (now && (now->disposition != disposition || now->reason != reason))
                      throw http::Conflict("hit " + hit_id + " is already " +
                                           recorded_text(*now));
                  }
                  feed_.finish_followup(hit_id, r.ack_reserved && !ack_published);
                  http::send_json(res, 200, record);
                } catch (...) {
                  feed_.finish_followup(hit_id, r.ack_reserved && !ack_published);
                  throw;
                }
              });

  server.post(R"(/api/v1/hits/([0-9a-f]{1,64})/outcome)", http::roles(Role::controlroom),
              [this](const http::Request& req, http::Response& res,
                     const http::Principal& who) {
                const std::string hit_id = req.matches[1];
                const config::FollowupSettings& f = settings_.followup;
                auto body = parse_followup_body(req.body, {"outcome", "note"},
                                                R"({"outcome":"intercepted","note":"..."})");
                const std::string outcome = body["outcome"];
                const std::string note = body.contains("note") ? body["note"] : "";
                if (!has_code(f.outcomes, outcome))
                  throw http::BadRequest("\"outcome\": expected one of " +
                                         join_codes(f.outcomes));
                const HitFeed::Reservation r = feed_.reserve_followup(hit_id, who.control_room);
                if (r.lookup == HitFeed::Lookup::unknown ||
                    r.lookup == HitFeed::Lookup::not_visible)
                  throw http::NotFound("no hit " + hit_id + " for this control room");
                if (r.busy)
                  throw http::Conflict("hit " + hit_id +
                                       " is being recorded by another request; try again");
                // Nothing but the outcome is published here: the acknowledgement goes back.
                try {
                  if (r.state.disposition != "accepted")
                    throw http::Conflict("an outcome is recorded only for an accepted hit; hit " +
                                         hit_id + " is " + recorded_text(r.state));
                  if (!r.state.outcome.empty()) {
                    if (r.state.outcome != outcome)
                      throw http::Conflict("hit " + hit_id + " already has the outcome " +
                                           r.state.outcome);
                    feed_.finish_followup(hit_id, true);
                    return http::send_json(res, 200, r.state.outcome_json);
                  }
                  const std::string record = followup_record(
                      "outcome", hit_id, who, r.facts, r.audience, note,
                      [&](JsonWriter& w) { w.field("outcome", outcome); });
                  publish_record(who, "hit.outcome", hit_id, record, [&](JsonWriter& a) {
                    a.field("outcome", outcome);
                    if (!note.empty()) a.field("note", note);
                  });
                  if (!feed_.add_record(record)) {
                    const auto now = feed_.followup(hit_id);
                    if (now && now->outcome != outcome)
                      throw http::Conflict("hit " + hit_id + " already has the outcome " +
                                           now->outcome);
                  }
                  feed_.finish_followup(hit_id, true);
                  http::send_json(res, 200, record);
                } catch (...) {
                  feed_.finish_followup(hit_id, true);
                  throw;
                }
              });
}

ControlRoom::~ControlRoom() { stop(); }

void ControlRoom::start() { feed_.start(settings_); }

void ControlRoom::stop() { feed_.stop(); }

}  // namespace anpr::app
