// The stream processor behind `anpr run` (docs/design.md §1, §3, §6): consumes camera reads from Kafka in
// a consumer group, decodes and matches them in parallel, and publishes hits, route copies and
// dead letters, storing each read's offset only once everything it produced is delivered.
//
// Pipeline (tbb::parallel_pipeline, one token = one batch of consumed messages):
//   1. consume (serial, in order): poll up to `batch` messages; register each with the
//      OffsetTracker, which keeps one "processing" hold on it.
//   2. decode + match (parallel): the per-read work of pipeline/read_matcher.h (decode the event,
//      look the camera up, normalise the plate and its candidates, match them against the
//      current index snapshot, apply the camera country's rules, encode hits and dead letters,
//      attach a hit's images), then encode what the retention store keeps. Pure work: no Kafka
//      calls; `anpr match --cameras` runs the same ReadMatcher offline.
//   3. publish (serial, in order): suppress repeats (match/suppression.h), produce every message
//      with a ticket naming its read, then release the processing hold. A read whose messages are
//      all delivered (delivery reports arrive on the producer's poll thread) lets its partition's
//      offset advance (OffsetTracker); advanced offsets are stored with rd_kafka_offsets_store and
//      committed by librdkafka's auto-commit, on partition revoke and at shutdown.
// Stages 1 and 3 are serial and in order, so each partition's outputs and offset stores keep the
// order of its reads; stage 2 scales over the cores.
//
// Shutdown: request_stop() (e.g. from SIGTERM) ends consumption; every batch in flight is finished
// and delivered (for at most pipeline.shutdown_timeout_ms), offsets are stored and committed,
// then the consumer leaves its group.
//
// Exactly once (pipeline.exactly_once, docs/kafka.md "Exactly-once hits"): the producer is
// transactional and the consumer commits nothing itself. The publish stage produces into an open
// transaction and commits it every pipeline.commit_interval_ms with the offsets of the reads
// that are done (rd_kafka_send_offsets_to_transaction), so read_committed consumers see each
// read's hits, route copies, dead letters and passages once, together with its offset. An abort
// drops every batch in flight and seeks the consumer back to the last committed offsets; a
// revoke and a stop commit the open transaction first; a fenced producer stops the processor.
//
// When the retention store cannot write (disk full, read-only), hits are still published: only
// the kept reads' offsets wait. Consumption pauses (rd_kafka_pause_partitions, so the consumer
// stays in its group) while pipeline.max_unfinished_reads reads are unfinished, and resumes below
// nine tenths of it. A prober thread asks the cluster for metadata every second, so readiness
// can say when the brokers stop answering.
//
// Thread safety: construct and run() on one thread; request_stop(), counters(), consumer_lag() and
// the histograms from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "config/settings.h"
#include "pipeline/group_hits.h"
#include "ingest/cameras.h"
#include "match/index.h"
#include "match/rules.h"
#include "metrics/metrics.h"

namespace anpr::store {
class Store;
}

namespace anpr::app {

struct ProcessorCounters {
  uint64_t reads = 0;             // messages consumed
  uint64_t hits = 0;              // hits published (not counting route copies)
  uint64_t route_copies = 0;      // hits also published to a partner's route topic
  uint64_t suppressed = 0;        // hits not published because of suppression
  uint64_t suppressed_by_group = 0;  // of those, because another instance (or this one before
                                     // a restart) published the hit (suppression.across_instances)
  uint64_t not_applicable = 0;    // index matches dropped by the camera country's rules
  uint64_t deadletters = 0;
  uint64_t delivery_retries = 0;  // messages re-sent after a failed delivery
  uint64_t producers_replaced = 0;  // producers that failed for good and were replaced
  uint64_t unfinished = 0;        // consumed reads whose messages are not all delivered yet
                                  // (exactly once: or whose transaction is not committed yet)
  uint64_t transactions_committed = 0;  // pipeline.exactly_once
  uint64_t transactions_aborted = 0;
  std::map<std::string, uint64_t> deadletter_reasons;
  // Reads whose processing finished, by the country of their camera ("unknown" when the read
  // could not be decoded or its camera is not registered).
  std::map<std::string, uint64_t> reads_by_country;
  // Hits published, by (list id, category, match kind).
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> hits_by_list;
  std::map<std::string, uint64_t> suppressed_by_list;
  // The hits topic as suppression follows it (pipeline/group_hits.h).
  GroupHitCounters group_hits;
  // Reads whose capture time is later than the processor's clock by more than
  // pipeline.max_clock_skew_ms (they are processed; their kept records use the processor's time).
  uint64_t future_stamped = 0;
  uint64_t image_decodes = 0;  // images of hits decoded (or refused while trying)
  uint64_t image_errors = 0;   // of those, refused: the hit went out with image_error
  std::map<std::string, uint64_t> image_error_reasons;
};

// What readiness and the metrics say about the processor's dependencies (docs/design.md §6: alerting
// comes first, and readiness says within a minute when the store or the brokers fail).
struct ProcessorHealth {
  // The Kafka cluster: seconds since it last answered the processor's probe (a metadata request
  // every second), and whether that is within kafka.unanswered_after_ms.
  double broker_unanswered_seconds = 0;
  bool broker_answering = true;
  // The retention store (sink "store"): whether its last write failed, why (naming the errno),
  // for how long, and how many records wait for it.
  bool store_failing = false;
  std::string store_error;
  int store_errno = 0;
  double store_failing_seconds = 0;
  uint64_t store_failed_writes = 0;
  uint64_t store_pending_records = 0;
  // Consumption is paused: pipeline.max_unfinished_reads reads are unfinished.
  bool consumption_paused = false;
};

// A partition of the reads topic and how many reads wait in it: the broker's high watermark
// minus the offset this instance would resume from (every read before it is finished).
struct PartitionLag {
  int32_t partition = 0;
  int64_t lag = 0;
};

class Processor {
 public:
  // `index`, `cameras` must outlive the processor. Throws on a configuration librdkafka rejects.
  Processor(const config::Settings& settings, LiveIndex& index, const CameraRegistry& cameras);
  ~Processor();

  // Consumes until request_stop(); drains, commits and leaves the group. Returns an exit code
  // (0 clean stop, 2 pipeline.exactly_once on a cluster without transactions, 3 runtime
  // failure, e.g. fenced by another instance with the same transactional.id).
  int run();
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }
  ProcessorCounters counters() const;
  // counters().reads and counters().unfinished alone, without copying the per-label counters
  // or taking their lock: for a caller polling for the end of a run (the benchmark).
  uint64_t reads_consumed() const;
  uint64_t reads_unfinished() const;
  // Partitions of the reads topic currently assigned to this instance.
  int assigned_partitions() const;
  ProcessorHealth health() const;
  // The retention store the processor writes (retention.sink "store"), or null.
  store::Store* retention_store() const;
  // Consumer lag of each assigned partition whose high watermark is known (no broker round trip).
  std::vector<PartitionLag> consumer_lag() const;
  // Time of the decode + match stage per batch, and read-to-hit latency: from the read's camera
  // timestamp to the hit's delivery report, in seconds.
  const metrics::Histogram& batch_seconds() const;
  const metrics::Histogram& read_to_hit_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false};
};

// Human-readable one-line summary of counters, for stderr at exit.
std::string summary(const ProcessorCounters& c);

}  // namespace anpr::app
