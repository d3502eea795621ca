// The control rooms' side of the HTTP server (docs/design.md §1, §6): the pages (built into the binary),
// the live hit stream and acknowledgements.
//
//   GET  /, /status, /lists, /<asset>  the pages (public: they hold no data; the API does)
//   GET  /api/v1/me                    any role: who the token is {name, role, control_room}
//   GET  /api/v1/hits/stream           controlroom: Server-Sent Events, `event: hit` with the
//                                      hit's JSON and `event: ack` with an acknowledgement;
//                                      `Last-Event-ID` (header or ?last_event_id=) resumes
//   POST /api/v1/hits/{hit_id}/ack     controlroom: acknowledge a hit, optional JSON body
//                                      {"note": "..."}; audited, published to topics.hit_acks
//   POST /api/v1/hits/{hit_id}/disposition  controlroom: accept, or reject with a reason
//                                      {"disposition":"rejected","reason":"misread","note":".."}
//   POST /api/v1/hits/{hit_id}/outcome controlroom: the outcome of an accepted hit
//                                      {"outcome":"intercepted","note":".."}
//   GET  /api/v1/followup/codes        controlroom: the configured reasons and outcomes
//
// Dispositions and outcomes (docs/control-room.md) are audited and published to
// topics.hit_acks like acknowledgements (kind "disposition" / "outcome"); a disposition on an
// unacknowledged hit publishes the acknowledgement first. The same request again answers 200
// with the stored record; another disposition or outcome than the stored one 409, and so does
// an outcome before the hit was accepted. The stream also carries `event: disposition`,
// `event: outcome` and `event: escalation` (serve/hit_feed.h).
//
// A control-room token sees only the hits of its own control room (camera registry) unless its
// control room is "*"; a hit on a covert list only the rooms its list names (serve/hit_feed.h).
// Acknowledgements are signed with kafka.signing_key_file's first key (docs/kafka.md). Nothing past its deadline is served, streamed or acknowledged: the feed
// holds each hit only until its capture time plus its camera country's `hit_days` (see
// serve/hit_feed.h for hits of a country that keeps none). Each open stream has a thread of its
// own (http/server.h), never one of the workers that answer the API; at most kMaxStreamsPerToken
// streams per token, `http.max_streams_per_room` per control room and `http.max_streams` in all
// are open at once (503 beyond, naming the limit), so one room cannot lock the others out.
//
// Thread safety: construct, then start() once; handlers run on the server's threads.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/json_writer.h"
#include "serve/hit_feed.h"
#include "serve/http_service.h"

namespace anpr::app {

inline constexpr int kMaxStreamsPerToken = 8;

class ControlRoom {
 public:
  // Adds the routes to `service` (before its start()). Throws on a Kafka configuration error.
  // `clock`: the feed's clock for hit deadlines (tests); the system clock by default.
  ControlRoom(const config::Settings& settings, HttpService& service, HitFeed::Clock clock = {});
  ~ControlRoom();

  // Starts following the hits and acknowledgements topics.
  void start();
  void stop();
  HitFeed& feed() { return feed_; }

 private:
  struct Acks;
  struct Streams;
  void publish_record(const http::Principal& who, const std::string& action,
                      const std::string& hit_id, const std::string& record,
                      const std::function<void(JsonWriter&)>& audit_fields);
  const config::Settings& settings_;
  HttpService& service_;
  HitFeed feed_;
  std::unique_ptr<Acks> acks_;
  std::unique_ptr<Streams> streams_;
};

// Adds the pages and their files (public routes) to `server`.
void add_page_routes(http::Server& server);

}  // namespace anpr::app
