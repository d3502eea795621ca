// The control rooms' live feed (docs/design.md §1, §6): the recent hits and acknowledgements, read from
// the hits topic and the acknowledgements topic, for the control-room page's event stream.
//
// The feed follows both topics without a consumer group (a TopicFollower,
// pipeline/topic_follower.h): every processor instance shows every hit, whichever instance
// matched it, and a restarted instance refills its buffer from the last `capacity` messages of
// each partition. Each event gets a sequence number (the event stream's id); a reconnecting page
// passes the last one it saw (`Last-Event-ID`) and receives every later event still in the
// buffer, so it misses no hit the buffer holds.
//
// Hits are deduplicated by hit_id (a hit sent twice after a restart shows once). An
// acknowledgement marks its hit acknowledged, here and, through the acknowledgements topic, on
// every other instance.
//
// Visibility: a control room sees the hits of the cameras whose `control_room` is its own; a
// token whose control room is "*" sees all.
//
// Deadlines (docs/design.md §2, §6; docs/retention.md): nothing is served past its deadline, also after
// a restart refills the buffer from the hits topic. A hit's deadline is its capture time (`ts`)
// plus the `hit_days` of its camera country's retention policy (`camera_country`); a capture
// time later than the hit's arrival (the hits topic's message time, or the clock) counts as the
// arrival, so a camera clock in the future gains nothing. A hit of a country that keeps no hits
// (no policy, or hit_days = 0) is still shown for alerting, but only while it is fresh: its
// deadline is capture + kUnkeptHitAlertMs. A hit at or past its deadline is not added (live or
// on a refill); one that reaches its deadline in the buffer is dropped, with its
// acknowledgement, before anything is served (events_after, lookup, reserve_ack), so it is
// gone from memory, not merely hidden. A hit without a readable `ts` is not added: its
// deadline is unknown.
//
// Signed records (docs/kafka.md, "Signed records"): with kafka.signing_key_file set, a hit or an
// acknowledgement read from Kafka is taken only when its `anpr-sig` header verifies under one of
// the keys for its topic, key and value; any other (unsigned, another key, signed for another
// topic, changed after signing) is ignored, counted in anpr_unsigned_records_total{topic} and
// logged without its content (at most one line a minute per topic). Without keys every record is
// taken.
//
// Covert lists (docs/operators.md, "Covert lists"): a hit whose record carries "covert": true is
// seen only by the control rooms its "covert_rooms" names, whatever its camera's room; a token
// whose control room is "*" sees it only when "*" is among them. A covert hit without a usable
// "covert_rooms" is seen by nobody.
//
// Follow-up (docs/design.md §10, docs/control-room.md): the acknowledgements topic carries every
// follow-up record (`kind` ack, disposition or outcome; a record without `kind` is an
// acknowledgement). A disposition (accepted, or rejected with a reason) is taken once per hit:
// the first the feed reads wins and a later one, the same or another, is ignored; it implies the
// acknowledgement. An outcome is taken once, and only for a hit accepted before it. A
// disposition or outcome is taken only from a record whose `control_room` may see the hit, with
// `by` and codes of the expected shape (a-z 0-9 _); any other is ignored, like a record of a hit
// the feed does not hold. Every record goes with its hit: it is served until the hit's deadline
// and dropped with it.
//
// Escalation: a hit of priority <= Escalation::max_priority still unacknowledged
// Escalation::after_ms after it arrived (was published) gets an `escalation` event, once. The
// feed checks at every serve and whenever its consumer thread polls (tick()); each instance
// counts the escalations of hits not on a covert list in anpr_hits_escalated_total, so the
// metric reveals no covert hit (docs/design.md §6). After a start, nothing is escalated until the feed has read
// both topics up to where they ended (at most 30 s): a hit read back is escalated only if no
// acknowledgement of it was read.
//
// Thread safety: every public member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "config/settings.h"
#include "pipeline/topic_follower.h"

namespace prometheus {
class Counter;
}

namespace anpr::app {

// How long a hit of a camera country that keeps no hits (no retention policy, or hit_days = 0)
// stays on the live feed after its capture: long enough for a control room to act on it and for
// a page to resume after a reconnection or a restart, short enough not to amount to keeping it.
inline constexpr int64_t kUnkeptHitAlertMs = 60 * 60 * 1000;

// Who may see a hit: the camera's control room, or for a hit on a covert list the rooms the list
// names (and only those).
struct Audience {
  std::string control_room;          // of the hit's camera ("" when the registry named none)
  bool covert = false;
  std::vector<std::string> rooms;    // covert: the rooms that may see it
  bool sees(std::string_view token_room) const;
};

struct FeedEvent {
  enum class Kind { hit, ack, disposition, outcome, escalation };
  uint64_t seq = 0;
  Kind kind = Kind::hit;
  std::string hit_id;
  Audience audience;
  std::string json;          // the hit as published, or the acknowledgement record
  int64_t deadline_ms = 0;   // the hit's (an acknowledgement's is its hit's): not served from then
};

// What the feed knows of a hit that its follow-up records copy (so a reader of the records can
// aggregate without the hits topic).
struct HitFacts {
  std::string list_id, camera_id, hit_ts;
  int priority = -1;  // -1: the hit named none
};

// When unacknowledged hits are escalated (config followup.escalate_*).
struct Escalation {
  int max_priority = -1;  // hits of priority <= this; -1: none
  int64_t after_ms = 0;   // unacknowledged this long after they arrived
};

// A hit's follow-up as the feed holds it.
struct FollowupState {
  bool acked = false;
  std::string disposition, reason;  // "" none yet
  std::string disposition_json;     // the record
  std::string outcome, outcome_json;
  bool escalated = false;
};

// The event name of an event stream's event of `kind` ("hit", "ack", ...).
std::string_view event_name(FeedEvent::Kind kind);

class HitFeed {
 public:
  // Milliseconds since the epoch (UTC); the system clock unless a test injects one.
  using Clock = std::function<int64_t()>;

  // `capacity`: events kept (older ones are forgotten, oldest first). `policies`: the camera
  // countries' retention (config `[retention.XX]`), which sets each hit's deadline.
  // `escalation`: when unacknowledged hits are escalated (none by default).
  explicit HitFeed(std::size_t capacity, std::vector<config::RetentionPolicy> policies = {},
                   Clock clock = {}, Escalation escalation = {});
  ~HitFeed();
  HitFeed(const HitFeed&) = delete;
  HitFeed& operator=(const HitFeed&) = delete;

  // Starts following the hits and acknowledgements topics of `settings` on a thread of its own.
  void start(const config::Settings& settings);
  void stop();

  // Adds a hit (its JSON as published) or an acknowledgement record; malformed JSON, duplicates,
  // hits past their deadline and acknowledgements of hits not (or no longer) held are ignored.
  // Returns whether an event was added. `arrival_ms`: when the hit was published (the hits
  // topic's message time), else the clock. Called by the consumer thread, and by tests.
  bool add_hit(std::string_view json, std::optional<int64_t> arrival_ms = std::nullopt);
  // Adds a follow-up record of the acknowledgements topic (ack, disposition or outcome; see the
  // header comment); returns whether it was taken. add_ack() is the same.
  bool add_record(std::string_view json);
  bool add_ack(std::string_view json) { return add_record(json); }

  // The deadline of a hit of `camera_country` captured at `capture_ms` that arrived at
  // `arrival_ms` (see the header comment).
  int64_t deadline(std::string_view camera_country, int64_t capture_ms, int64_t arrival_ms) const;

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
  // `facts`, when given, receives the hit's facts for the record.
  Lookup reserve_ack(std::string_view hit_id, std::string_view room, HitFacts* facts = nullptr,
                     Audience* audience = nullptr);
  void release(std::string_view hit_id);

  // Reserves hit `hit_id` for a disposition or an outcome by `room`, one at a time per hit, and
  // the acknowledgement with it when the hit is not acknowledged yet (`ack_reserved`). The
  // caller decides from `state` what to record, publishes, add_record()s what it published and
  // then calls finish_followup() (also when it published nothing). `busy`: another disposition,
  // outcome or acknowledgement of the hit is being published; nothing was reserved.
  struct Reservation {
    Lookup lookup = Lookup::unknown;  // unknown / not_visible: nothing reserved
    bool busy = false;
    bool ack_reserved = false;
    FollowupState state;
    HitFacts facts;
    Audience audience;
  };
  Reservation reserve_followup(std::string_view hit_id, std::string_view room);
  void finish_followup(std::string_view hit_id, bool release_ack);

  // The follow-up of hit `hit_id` (nullopt when not held).
  std::optional<FollowupState> followup(std::string_view hit_id) const;

  // Drops what reached its deadline and escalates what is due; called by the consumer thread
  // and at every serve, and by tests after moving the clock.
  void tick();

  // Escalations this feed made of hits not on a covert list (what it adds to
  // anpr_hits_escalated_total).
  uint64_t escalations() const { return escalations_.load(); }

  // Records read from Kafka and ignored because their signature was missing or wrong.
  uint64_t unsigned_records() const { return unsigned_records_.load(); }

  uint64_t last_seq() const;
  std::size_t size() const;  // events held, none past its deadline

  // The newest hits held (not acknowledgements), newest first, at most `max`, of those `keep`
  // accepts by their audience; none past its deadline (the status page's map).
  std::vector<FeedEvent> recent_hits(std::size_t max,
                                     const std::function<bool(const Audience&)>& keep) const;
  bool stopping() const { return stop_.load(); }
  // Wakes every waiting reader (server shutdown).
  void wake_all();

 private:
  bool add(FeedEvent ev) REQUIRES(mu_);
  // Drops every event at or past its deadline at `now`. Cheap when none is due.
  void expire(int64_t now) const REQUIRES(mu_);
  // Adds an escalation event for every hit due at `now`; returns whether it added one.
  bool escalate(int64_t now) REQUIRES(mu_);

  struct HitState {
    Audience audience;
    int64_t deadline_ms = 0;
    bool acked = false;
    bool reserved = false;  // an acknowledgement is being published
    bool followup_busy = false;  // a disposition or outcome is being published
    HitFacts facts;
    FollowupState followup;  // its `acked` is unused: see above
    int64_t escalate_at = std::numeric_limits<int64_t>::max();
  };
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  const std::size_t capacity_;
  const std::vector<config::RetentionPolicy> policies_;
  const Clock clock_;
  const Escalation escalation_;
  prometheus::Counter* escalated_metric_;
  mutable Mutex mu_;
  std::condition_variable cv_;
  // Expiry happens on reads too, hence mutable.
  mutable std::deque<FeedEvent> events_ GUARDED_BY(mu_);  // in seq order
  mutable std::unordered_map<std::string, HitState> hits_ GUARDED_BY(mu_);  // hits in events_
  mutable int64_t next_deadline_ GUARDED_BY(mu_) = kNever;  // <= every deadline in events_
  int64_t next_escalation_ GUARDED_BY(mu_) = kNever;  // <= every escalation still due
  uint64_t seq_ GUARDED_BY(mu_) = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> unsigned_records_{0};
  std::atomic<uint64_t> escalations_{0};
  // False while start()'s refill reads what the topics held (no escalation meanwhile).
  std::atomic<bool> escalate_ready_{true};
  TopicFollower follower_;  // last: stopped before what its callbacks touch goes
};

// Whether a token's control room may see a hit of `hit_room` (not on a covert list).
inline bool room_sees(std::string_view token_room, std::string_view hit_room) {
  return token_room == "*" || token_room == hit_room;
}

inline bool Audience::sees(std::string_view token_room) const {
  if (!covert) return room_sees(token_room, control_room);
  for (const std::string& r : rooms)
    if (r == token_room) return true;
  return false;
}

}  // namespace anpr::app
