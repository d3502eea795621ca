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

#include <memory>

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
  const config::Settings& settings_;
  HttpService& service_;
  HitFeed feed_;
  std::unique_ptr<Acks> acks_;
  std::unique_ptr<Streams> streams_;
};

// Adds the pages and their files (public routes) to `server`.
void add_page_routes(http::Server& server);

}  // namespace anpr::app
