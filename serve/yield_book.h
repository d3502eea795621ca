// Yield per list and per camera (docs/design.md §6 "Scarce follow-up capacity", §10): what came
// of the hits. Fed from the hits topic (the hits as published, export/hit_json.h) and from the
// follow-up records of the acknowledgements topic (acknowledgements, dispositions, outcomes;
// docs/control-room.md), it answers per list: hits, acknowledged, accepted, rejected per reason
// (misreads apart), outcomes per code, the median time to acknowledge and how many hits nobody
// followed up; per camera: hits, acknowledged, dispositions and misreads (docs/operators.md,
// "Yield of a list"; docs/operations.md, "Misreads per camera").
//
// Same figures on every instance: like the control rooms' feed, the book follows both topics
// without a consumer group (a TopicFollower, pipeline/topic_follower.h), read from their start,
// so every instance reads the same records. Its figures do not depend on the order in which the
// two topics interleave: a record that arrives before its hit waits (bounded, below) and is
// applied when the hit comes, and the records of one hit are all in one partition (key =
// hit_id), so they arrive in the same order everywhere.
//
// What counts:
//  - A hit counts once (by hit_id), whatever the number of times it was delivered. Its list,
//    camera and covert mark are the hit's own, never what a follow-up record claims.
//  - The first acknowledgement or disposition of a hit makes it acknowledged; its time minus the
//    hit's capture time (`ts`; 0 when negative) is the hit's time to acknowledge.
//  - The first disposition of a hit counts (`accepted`, or `rejected` with its reason); a later
//    different one is ignored (the API refuses it; a record written around the API gains
//    nothing). The first outcome of an accepted hit counts; an outcome of a hit not accepted is
//    ignored. A record delivered twice is the same record: it changes nothing.
//  - Codes: reasons and outcomes outside the configured ones (docs/design.md §10 by default) are
//    counted as `unknown`, so a record cannot add a label of its own choosing.
//  - Not followed up: hits without any acknowledgement or disposition.
//
// Bounded memory. The book holds one small row per hit (its id, list, camera, times and what was
// recorded, about 300 bytes), for the hits of the last `window_ms` (30 days) and at most
// `max_hits` (200 000, about 60 MiB) of them: past that the hit closest to leaving goes first. A hit also leaves at its deadline (its camera country's `hit_days`, as the feed, see
// serve/hit_feed.h), since the row says that its camera saw a listed plate then. Figures are of
// the hits held: a hit that leaves takes what was recorded about it along. Records waiting for
// their hit: at most `max_pending`, the oldest dropped first, and none older than the window.
//
// Covert lists (docs/operators.md, "Covert lists"): the figures of a covert list are given only
// to those who may manage it (role operator: lists(true)); for everyone else the list does not
// exist (no row, not even with zero hits). Per-camera figures and the metrics leave covert hits
// out entirely, so watching a camera's figures tells nothing of a covert list. A hit whose
// covert mark cannot be read counts as covert.
//
// Thread safety: every public member may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "config/settings.h"
#include "metrics/metrics.h"
#include "pipeline/topic_follower.h"

namespace anpr::app {

// The reason that is counted apart from the others (docs/design.md §10).
inline constexpr std::string_view kMisread = "misread";
// A reason or outcome outside the configured codes.
inline constexpr std::string_view kUnknownCode = "unknown";

struct YieldCodes {
  std::vector<std::string> reject_reasons;
  std::vector<std::string> outcomes;
};
// docs/design.md §10.
YieldCodes default_yield_codes();

struct ListYield {
  std::string list_id;
  bool covert = false;
  uint64_t hits = 0;
  uint64_t acknowledged = 0;     // by an acknowledgement or a disposition
  uint64_t accepted = 0;
  uint64_t rejected = 0;         // every reason, misreads included
  uint64_t misreads = 0;         // rejected as misread
  std::map<std::string, uint64_t> rejected_by_reason;  // misread included; only reasons seen
  std::map<std::string, uint64_t> outcomes;            // only outcomes seen
  std::optional<int64_t> median_ack_ms;                // none when nothing was acknowledged
  uint64_t not_followed_up = 0;  // hits - acknowledged
};

struct CameraYield {
  std::string camera_id;
  uint64_t hits = 0;
  uint64_t acknowledged = 0;
  uint64_t dispositions = 0;  // accepted + rejected
  uint64_t misreads = 0;
};

// The median of `v` (reordered): the middle value, or for an even count the mean of the two
// middle values rounded down. None for an empty `v`.
std::optional<int64_t> median_ms(std::vector<int64_t>& v);

class YieldBook {
 public:
  using Clock = std::function<int64_t()>;  // ms since the epoch (UTC)

  struct Limits {
    std::size_t max_hits = 200000;
    std::size_t max_pending = 20000;
    int64_t window_ms = int64_t{30} * 86'400'000;
  };

  YieldBook(Limits limits, YieldCodes codes, std::vector<config::RetentionPolicy> policies = {},
            Clock clock = {});
  ~YieldBook();
  YieldBook(const YieldBook&) = delete;
  YieldBook& operator=(const YieldBook&) = delete;

  // Follows topics.hits and topics.hit_acks of `settings` on a thread of its own (records whose
  // signature does not verify, with kafka.signing_key_file set, are ignored). stop() ends it.
  void start(const config::Settings& settings);
  void stop();

  // A hit as published. Returns whether it was taken (false: malformed, already held, outside
  // the window or past its deadline). `arrival_ms`: the hits topic's message time, else the clock.
  bool add_hit(std::string_view json, std::optional<int64_t> arrival_ms = std::nullopt);

  enum class Taken { applied, waiting, unchanged, malformed };
  // A follow-up record. `applied`: it changed the figures; `waiting`: its hit is not held (yet);
  // `unchanged`: a repeat, a second different disposition, an outcome of a hit not accepted;
  // `malformed`: not a record (ignored).
  Taken add_record(std::string_view json);

  // Per list, by list id; covert lists only when `with_covert`.
  std::vector<ListYield> lists(bool with_covert) const;
  // Per camera, by camera id; covert hits never count.
  std::vector<CameraYield> cameras() const;

  struct Stats {
    std::size_t hits_held = 0;
    std::size_t records_waiting = 0;
    int64_t oldest_hit_ms = 0;  // capture time of the oldest hit held; 0 when none
    uint64_t ignored_malformed = 0;
    uint64_t ignored_unsigned = 0;
    uint64_t dropped_waiting = 0;  // records whose hit never came
  };
  Stats stats() const;
  const Limits& limits() const { return limits_; }

 private:
  struct Row {
    std::string list_id, camera_id;
    int64_t hit_ms = 0;
    int64_t leave_ms = 0;  // leaves the book then (window end or deadline)
    bool covert = false;
    int64_t ack_ms = -1;   // when first acknowledged; -1: not
    enum class Disposition : uint8_t { none, accepted, rejected } disposition = Disposition::none;
    std::string reason;   // of a rejection
    std::string outcome;  // "" none
  };
  struct Record {
    enum class Kind : uint8_t { ack, disposition, outcome } kind = Kind::ack;
    std::string hit_id;
    int64_t ts_ms = 0;
    bool accepted = false;
    std::string code;  // reason or outcome, already mapped to a known code or "unknown"
  };
  static Taken apply(Row& row, const Record& r);
  void expire(int64_t now) const REQUIRES(mu_);
  void evict(const std::string& hit_id) const REQUIRES(mu_);
  std::string known_code(std::string_view code, const std::vector<std::string>& known) const;

  const Limits limits_;
  const YieldCodes codes_;
  const std::vector<config::RetentionPolicy> policies_;
  const Clock clock_;
  mutable Mutex mu_;
  mutable std::unordered_map<std::string, Row> rows_ GUARDED_BY(mu_);
  mutable std::set<std::pair<int64_t, std::string>> by_leave_ GUARDED_BY(mu_);  // (leave_ms, id)
  // Records waiting for their hit, in arrival order; the map counts them per hit.
  mutable std::deque<Record> waiting_ GUARDED_BY(mu_);
  mutable std::unordered_map<std::string, std::size_t> waiting_per_hit_ GUARDED_BY(mu_);
  mutable uint64_t dropped_waiting_ GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> ignored_malformed_{0};
  std::atomic<uint64_t> ignored_unsigned_{0};
  TopicFollower follower_;  // last: stopped before what its callbacks touch goes
};

// The book's metrics (docs/operations.md, "Follow-up yield"), never of a covert hit; registered
// while the returned collector lives.
[[nodiscard]] metrics::Collector collect_yield(const YieldBook& book);

}  // namespace anpr::app
