#include "serve/control_room.h"

#include <simdjson.h>

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

ControlRoom::ControlRoom(const config::Settings& settings, HttpService& service,
                         HitFeed::Clock clock)
    : settings_(settings), service_(service),
      feed_(settings.http.feed_hits, settings.retention.policies, std::move(clock)),
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
                       out += e.kind == FeedEvent::Kind::hit ? "event: hit\n" : "event: ack\n";
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
                switch (feed_.reserve_ack(hit_id, who.control_room)) {
                  case HitFeed::Lookup::unknown:
                  case HitFeed::Lookup::not_visible:
                    throw http::NotFound("no open hit " + hit_id + " for this control room");
                  case HitFeed::Lookup::acknowledged:
                    throw http::Conflict("hit " + hit_id + " is already acknowledged");
                  case HitFeed::Lookup::open:
                    break;
                }
                std::string ack;
                JsonWriter w(ack);
                w.begin_object();
                w.field("hit_id", hit_id);
                w.field("acknowledged_by", who.name);
                w.field("control_room", who.control_room);
                w.field("ts", http::utc_now_text());
                if (!note.empty()) w.field("note", note);
                w.end_object();
                std::string err;
                try {
                  service_.audit().record(who.name, http::role_name(who.role), "hit.ack",
                                          [&](JsonWriter& a) {
                                            a.field("hit_id", hit_id);
                                            if (!note.empty()) a.field("note", note);
                                          });
                  err = acks_->publish(hit_id, ack);
                } catch (...) {
                  feed_.release(hit_id);
                  throw;
                }
                if (!err.empty()) {
                  feed_.release(hit_id);
                  service_.audit().record(who.name, http::role_name(who.role), "hit.ack.failed",
                                          [&](JsonWriter& a) {
                                            a.field("hit_id", hit_id);
                                            a.field("reason", err);
                                          });
                  throw http::HttpError(503, "unavailable",
                                        "the acknowledgement could not be published: " + err);
                }
                feed_.add_ack(ack);
                http::send_json(res, 200, ack);
              });
}

ControlRoom::~ControlRoom() { stop(); }

void ControlRoom::start() { feed_.start(settings_); }

void ControlRoom::stop() { feed_.stop(); }

}  // namespace anpr::app
