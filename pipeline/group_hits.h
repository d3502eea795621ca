// One alert per plate across the instances of a consumer group (ARCHITECTURE.md, "One alert per
// plate across instances"; docs/matching.md, "Repeated hits"): each processor follows the hits
// topic with a TopicFollower of its own (pipeline/topic_follower.h: no consumer group, nothing
// committed, like the control rooms' feed in serve/hit_feed.h) and records every hit published
// there, by any instance, in the GroupHits its Suppressor consults (match/suppression.h).
//
// What a hit record must hold to be recorded (anything else is ignored and counted, never
// recorded): a JSON object with "list_id" (a list id), "matched_plate" (a normalised plate),
// "matched_country" (an assigned ISO code, or "" for an entry of any country) and "ts" (RFC 3339)
// no later than the processor's clock plus pipeline.max_clock_skew_ms, at most kMaxHitRecordBytes
// long. With kafka.signing_key_file, only records whose `anpr-sig` header verifies for the hits
// topic (docs/kafka.md, "Signed records"): a forged hit cannot silence a real one.
//
// Where it starts: at the first hit published within the longest window plus a margin before the
// start (rd_kafka_offsets_for_times), so a restarted instance knows what the group alerted in the
// last window; at the end of a partition that has none, or when the broker cannot say. The
// embedded broker answers no lookup by time: there it starts at most 1000 records before the end
// of each partition. Records published before that time are skipped unread. It reads committed
// records only (a hit of an aborted transaction never reached a control room).
//
// Thread safety: start() and stop() from one thread; counters() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/settings.h"
#include "match/suppression.h"
#include "match/types.h"
#include "pipeline/topic_follower.h"

namespace anpr::app {

// A hit record larger than this is ignored (the processor writes hits with a thumbnail of a few
// tens of KiB; an overview image may add a few hundred).
inline constexpr std::size_t kMaxHitRecordBytes = 4 << 20;

// What suppression needs of a published hit.
struct GroupHit {
  std::string list_id;
  uint64_t entry_key = 0;  // as ReadOutput::entry_key: plate key << CountryCode::kBits | country
  TimestampMs ts = 0;
};

// The hit record's list, listed plate and capture time, or nullopt when it is not a usable hit
// record (see the header comment; the clock check is the follower's).
std::optional<GroupHit> parse_group_hit(std::string_view json);

struct GroupHitCounters {
  uint64_t recorded = 0;   // hits of the group recorded for suppression
  uint64_t unsigned_ = 0;  // ignored: no valid signature (kafka.signing_key_file set)
  uint64_t malformed = 0;  // ignored: not a usable hit record, or too large
  uint64_t future = 0;     // ignored: capture time beyond the clock + pipeline.max_clock_skew_ms
  uint64_t not_recorded = 0;  // usable, but older than the longest window or no room (GroupHits)
};

class GroupHitFollower {
 public:
  GroupHitFollower() = default;
  ~GroupHitFollower() { stop(); }
  GroupHitFollower(const GroupHitFollower&) = delete;
  GroupHitFollower& operator=(const GroupHitFollower&) = delete;

  // Follows settings.topics.hits on a thread of its own and records its hits in `hits` (which
  // must outlive stop()). Throws kafka::KafkaError when the consumer cannot be made.
  void start(const config::Settings& settings, GroupHits& hits, int64_t max_window_ms);
  void stop();

  GroupHitCounters counters() const;

  enum class Outcome { recorded, malformed, future, not_recorded };
  // Decides one record whose signature (if any is required) verified: the thread's work, public
  // for the tests. Records it in `hits` when it is usable and its capture time is not after
  // `now_ms` + `max_skew_ms`.
  static Outcome take(std::string_view json, int64_t now_ms, int64_t max_skew_ms,
                      GroupHits& hits);

 private:
  std::atomic<uint64_t> recorded_{0}, unsigned_{0}, malformed_{0}, future_{0}, not_recorded_{0};
  TopicFollower follower_;  // last: stopped before the counters its callbacks touch go
};

}  // namespace anpr::app
