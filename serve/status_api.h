// What the status page and the control-room page's filters read beside /metrics
// (docs/operations.md, "The status page"; docs/control-room.md, "Filters"):
//
//   GET /api/v1/status/history  any role: the processor's figures over the last hour, one
//                               sample every http.status_sample_ms (at most kStatusSamples):
//                               {"interval_ms":N,"capacity":N,"samples":[{"t":RFC3339,
//                               "reads_per_s":X,"hits_per_s":X,"deadletters_per_s":X,
//                               "consumer_lag":N},...]} oldest first; the rates are over the
//                               interval that ends at "t" (none for the first sample)
//   GET /api/v1/status/map      any role: {"cameras":[{"camera_id","country","site","lat",
//                               "lon"}...],"hits":[{"camera_id","lat","lon","ts"}...]}: the
//                               registry's cameras that have a position, and where the newest
//                               hits of the live feed (at most kMapHits) happened, without
//                               plate, list or reference. A hit on a covert list is never on it,
//                               whoever asks; a controlroom token sees its own room's hits only
//   GET /api/v1/hits/filters    controlroom: what the page's filters offer before any hit
//                               arrived: {"lists":[{"list_id","owner"}...],"countries":[...],
//                               "categories":[...],"actions":[...]}: the loaded lists but a
//                               covert list only to the rooms it names (docs/operators.md,
//                               "Covert lists"), the camera registry's countries
//
// The hits/s figure counts what anpr_hits_total counts: hits on covert lists are left out, so the
// chart tells no one when a covert list hit (docs/operators.md, "Covert lists").
//
// Thread safety: StatusHistory is safe from any thread; StatusSampler samples on a thread of its
// own between start() and stop(); the handlers run on the server's threads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "serve/hit_feed.h"
#include "serve/http_service.h"

namespace anpr::app {

// An hour at the default interval (10 s); whatever the interval, never more samples than this.
inline constexpr std::size_t kStatusSamples = 360;
// Hits the map shows at most (the newest).
inline constexpr std::size_t kMapHits = 500;

// The processor's running totals at one moment.
struct StatusSample {
  int64_t t_ms = 0;          // when (ms since the epoch, UTC)
  uint64_t reads = 0;        // reads processed since the start
  uint64_t hits = 0;         // hits published, not counting covert lists
  uint64_t deadletters = 0;  // reads sent to the dead-letter topic
  int64_t consumer_lag = 0;  // messages behind, summed over the assigned partitions
};

// The newest `capacity` samples; older ones are dropped as new ones come.
class StatusHistory {
 public:
  explicit StatusHistory(std::size_t capacity = kStatusSamples);
  void add(const StatusSample& s);
  std::vector<StatusSample> samples() const;
  std::size_t capacity() const { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable Mutex mu_;
  std::deque<StatusSample> samples_ GUARDED_BY(mu_);
};

// The history's JSON answer (see the header comment). A counter lower than in the sample
// before it (the processor restarted) gives a rate of 0, never a negative one.
std::string history_json(const std::vector<StatusSample>& samples, int64_t interval_ms,
                         std::size_t capacity);

// The totals of the processor as the history records them.
StatusSample sample_processor(const Processor& p, int64_t now_ms);

// Takes a sample from `source` every `interval_ms` into `history`, the first at start().
class StatusSampler {
 public:
  StatusSampler(StatusHistory& history, std::function<StatusSample()> source, int64_t interval_ms);
  ~StatusSampler();
  void start();
  void stop();  // idempotent

 private:
  StatusHistory& history_;
  std::function<StatusSample()> source_;
  const int64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Adds /api/v1/status/history and /api/v1/status/map. `history`, `feed` (may be null: no hits on
// the map) and the context's cameras must outlive the server.
void add_status_routes(HttpService& service, const StatusHistory& history, int64_t interval_ms,
                       HitFeed* feed);

// Adds /api/v1/hits/filters (reads the context's index and cameras at each request).
void add_hit_filter_routes(HttpService& service);

}  // namespace anpr::app
