// The control rooms' live feed (DESIGN §1, §6): the recent hits and acknowledgements, read from
// the hits topic and the acknowledgements topic, for the control-room page's event stream.
//
// The feed is a plain Kafka consumer of both topics without a consumer group: every processor
// instance shows every hit, whichever instance matched it, and a restarted instance refills its
// buffer from the last `capacity` messages of each partition. Each event gets a sequence number
// (the event stream's id); a reconnecting page passes the last one it saw (`Last-Event-ID`) and
// receives every later event still in the buffer, so it misses no hit the buffer holds.
//
// Hits are deduplicated by hit_id (a hit sent twice after a restart shows once). An
// acknowledgement marks its hit acknowledged, here and, through the acknowledgements topic, on
// every other instance.
//
// Visibility: a control room sees the hits of the cameras whose `control_room` is its own; a
// token whose control room is "*" sees all.
//
// Thread safety: every public member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/settings.h"

namespace anpr::app {

struct FeedEvent {
  enum class Kind { hit, ack };
  uint64_t seq = 0;
  Kind kind = Kind::hit;
  std::string hit_id;
  std::string control_room;  // of the hit's camera ("" when the registry named none)
  std::string json;          // the hit as published, or the acknowledgement record
};

class HitFeed {
 public:
  // `capacity`: events kept (older ones are forgotten, oldest first).
  explicit HitFeed(std::size_t capacity);
  ~HitFeed();
  HitFeed(const HitFeed&) = delete;
  HitFeed& operator=(const HitFeed&) = delete;

  // Starts following the hits and acknowledgements topics of `settings` on a thread of its own.
  void start(const config::Settings& settings);
  void stop();

  // Adds a hit (its JSON as published) or an acknowledgement record; malformed JSON and
  // duplicates are ignored. Returns whether an event was added. Called by the consumer thread,
  // and by tests.
  bool add_hit(std::string_view json);
  bool add_ack(std::string_view json);

  // The events after `after` that `room` may see ("*" = all), at most `max`; waits up to
  // `timeout` for one when there are none yet. An empty result means none arrived in time (or
  // the feed is stopping).
  std::vector<FeedEvent> events_after(uint64_t after, std::string_view room,
                                      std::chrono::milliseconds timeout, std::size_t max);

  enum class Lookup { unknown, not_visible, open, acknowledged };
  // Whether `room` may see hit `hit_id`, and whether it is acknowledged.
  Lookup lookup(std::string_view hit_id, std::string_view room) const;

  // Reserves hit `hit_id` for an acknowledgement by `room`: answers `open` and marks it (a second
  // reservation then answers `acknowledged`) until add_ack() records it or release() gives it
  // back (the acknowledgement could not be published).
  Lookup reserve_ack(std::string_view hit_id, std::string_view room);
  void release(std::string_view hit_id);

  uint64_t last_seq() const;
  std::size_t size() const;
  bool stopping() const { return stop_.load(); }
  // Wakes every waiting reader (server shutdown).
  void wake_all();

 private:
  bool add(FeedEvent ev);  // requires mu_

  struct HitState {
    std::string control_room;
    bool acked = false;
    bool reserved = false;  // an acknowledgement is being published
  };
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<FeedEvent> events_;                       // guarded by mu_
  std::unordered_map<std::string, HitState> hits_;     // guarded by mu_; hits in events_
  uint64_t seq_ = 0;                                   // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Whether a token's control room may see a hit of `hit_room`.
inline bool room_sees(std::string_view token_room, std::string_view hit_room) {
  return token_room == "*" || token_room == hit_room;
}

}  // namespace anpr::app
