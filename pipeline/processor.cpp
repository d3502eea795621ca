#include "pipeline/processor.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "pipeline/group_hits.h"
#include "pipeline/hit_images.h"
#include "pipeline/kafka_props.h"
#include "pipeline/offline.h"
#include "pipeline/offset_tracker.h"
#include "pipeline/read_matcher.h"
#include "pipeline/retention_sink.h"
#include "export/deadletter.h"
#include "export/hit_json.h"
#include "ingest/read_event.h"
#include "kafka/client.h"
#include "logging/log.h"
#include "match/plate.h"
#include "match/suppression.h"
#include "match/time.h"

namespace anpr::app {

namespace {

using Clock = std::chrono::steady_clock;

TimestampMs wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using Output = ReadOutput;

// One consumed read: the per-read work's slot (pipeline/read_matcher.h) and the message it came from.
struct Item : ReadSlot {
  rd_kafka_message_t* msg = nullptr;
  OffsetTracker::Ticket ticket{};
  bool held_by_store = false;  // its processing hold is released once its records are durable
                               // in the retention store, not at publish
};

struct Batch {
  uint64_t epoch = 0;  // exactly once: the consumer's rewinds before it was consumed
  std::vector<rd_kafka_message_t*> raw;
  std::vector<Item> items;
  std::vector<ReadSlot*> slots;  // items[0 .. n), for the matcher
  std::size_t n = 0;
  store::RecordBatch keep;  // what the retention store keeps of the reads (tag: item index)
};

// What a produced message's delivery report needs: the read it belongs to and, for a hit, the
// read's capture time (for the read-to-hit latency; 0 for other messages).
struct Sent {
  OffsetTracker::Ticket ticket;
  TimestampMs capture_ts = 0;
};

// pipeline.exactly_once on a cluster that cannot keep transactions: a configuration error.
class UnusableCluster : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A message to send again after a failed delivery.
struct Retry {
  std::string topic, key, value;
  void* opaque;
};

}  // namespace

struct Processor::Impl {
  const config::Settings& settings;
  LiveIndex& index;
  const CameraRegistry& cameras;
  std::atomic<bool>& stop;

  OffsetTracker tracker;
  std::unique_ptr<RetentionSink> retention;  // null: nothing kept (destroyed before the tracker)
  kafka::Consumer consumer;
  struct QueueDeleter {
    void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  };
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> consumer_queue;
  // Replaced (under the writer lock) when librdkafka declares it failed for good; every other use
  // holds the reader lock.
  SharedMutex producer_mu;
  std::unique_ptr<kafka::Producer> producer GUARDED_BY(producer_mu);
  // Fault injection for the tests (ANPR_INJECT_PRODUCER_FATAL=N): after N messages sent, the
  // producer is made to fail for good once, as an idempotent producer does on an out-of-order
  // sequence after a broker failure.
  int64_t inject_fatal_after = -1;
  std::atomic<int64_t> sent_count{0};
  Suppressor suppressor;
  // One alert per plate across the consumer group (pipeline/group_hits.h): the hits every
  // instance published, read back from the hits topic, which the suppressor also consults.
  GroupHits group_hits{suppressor.max_window_ms()};
  GroupHitFollower group_follower;

  mutable Mutex counters_mu;
  ProcessorCounters counters GUARDED_BY(counters_mu);
  std::atomic<uint64_t> reads{0};
  std::atomic<int> assigned{0};  // partitions of the reads topic this instance owns
  ImageCounters image_counters;
  ReadMatcher matcher{settings, cameras, image_counters};

  // Metrics kept on the hot path (the rest are counters above, exported at scrape time).
  metrics::Histogram batch_seconds{metrics::batch_time_buckets()};
  metrics::Histogram read_to_hit_seconds{metrics::latency_buckets()};
  // For consumer_lag(): the consumer while it is open, and per assigned partition the offset the
  // instance would resume from (-1 until the first store since the assignment).
  mutable Mutex lag_mu;
  rd_kafka_t* lag_consumer GUARDED_BY(lag_mu) = nullptr;
  std::map<int32_t, int64_t> resume_at GUARDED_BY(lag_mu);

  Mutex retry_mu;
  std::deque<Retry> retries GUARDED_BY(retry_mu);
  std::atomic<bool> poll_stop{false};
  std::atomic<bool> failed{false};
  std::atomic<bool> giving_up{false};  // shutdown: undelivered messages are purged, not retried

  // Bound on unfinished reads (pipeline.max_unfinished_reads): the consume stage pauses the
  // assignment when it is reached. Only the consume stage's thread changes it.
  std::atomic<bool> paused{false};
  // Set once the drain at shutdown is over: a revoke during close does not wait again.
  std::atomic<bool> closing{false};

  // ---- exactly once (pipeline.exactly_once; see "transactions" below) ----
  const bool exactly_once;
  Mutex txn_mu;  // the transaction: the publish stage, the revoke callback and the drain
  bool txn_open GUARDED_BY(txn_mu) = false;
  Clock::time_point txn_started GUARDED_BY(txn_mu);
  // Per partition, in the open and earlier transactions: the offset after the last read
  // published, and the offset after the last read done (its messages delivered, its kept
  // records durable) that the tracker handed out and no transaction committed yet.
  std::map<int32_t, int64_t> published_next GUARDED_BY(txn_mu);
  std::map<int32_t, int64_t> done_next GUARDED_BY(txn_mu);
  std::map<int32_t, int64_t> offsets_to_commit GUARDED_BY(txn_mu);
  std::atomic<int64_t> txn_due_ns{0};       // when the open transaction is due (0: none open)
  std::atomic<uint64_t> txn_reads{0};       // reads published in the open transaction
  std::atomic<bool> txn_delivery_failed{false};
  std::atomic<bool> txn_fatal{false};       // the producer failed for good (fenced)
  // Rewinds after an abort: the consume stage seeks the assignment back to the last committed
  // offsets and counts `epoch` up; the publish stage drops every batch of an epoch before
  // `accept_epoch`, i.e. consumed before the rewind.
  std::atomic<uint64_t> epoch{0};
  std::atomic<uint64_t> accept_epoch{0};
  std::atomic<bool> rewind_requested{false};
  std::atomic<uint64_t> consumed_batches{0}, published_batches{0};
  // Consume stage's thread only (the rebalance callback runs on it): the assignment, and the
  // partitions revoked during the current consume() call.
  std::set<int32_t> owned;
  std::set<int32_t> revoked_now;
  // Where a rewind seeks each partition: the last committed offset, or the first read consumed
  // since the assignment.
  Mutex rewind_mu;
  std::map<int32_t, int64_t> rewind_to GUARDED_BY(rewind_mu);
  std::atomic<uint64_t> txn_commits{0}, txn_aborts{0};

  // The broker prober (probe_loop): when the cluster last answered, in steady-clock nanoseconds.
  std::atomic<int64_t> broker_answered_at{0};
  Mutex probe_mu;
  std::condition_variable probe_cv;
  bool probe_stop GUARDED_BY(probe_mu) = false;

  Impl(const config::Settings& s, LiveIndex& i, const CameraRegistry& c, std::atomic<bool>& st)
      : settings(s),
        index(i),
        cameras(c),
        stop(st),
        retention(RetentionSink::open(s)),
        suppressor(make_suppressor(s)),
        exactly_once(s.pipeline.exactly_once) {
    if (follows_group()) suppressor.follow(&group_hits);
  }

  bool follows_group() const {
    return settings.suppression.across_instances && suppressor.max_window_ms() > 0;
  }

  static Suppressor make_suppressor(const config::Settings& s) {
    std::vector<std::pair<std::string, int64_t>> per;
    for (const auto& [id, ms] : s.suppression.per_list_ms) per.emplace_back(id, ms);
    return Suppressor(s.suppression.window_ms, std::move(per));
  }

  std::unique_ptr<kafka::Producer> make_producer() {
    return std::make_unique<kafka::Producer>(
        processor_producer_properties(settings.kafka, exactly_once
                                                          ? processor_transactional_id(settings.kafka)
                                                          : std::string()),
        [this](rd_kafka_resp_err_t err, void* opaque, const rd_kafka_message_t& m) {
          on_delivery(err, opaque, m);
        },
        // Hits, route copies, dead letters and passages carry the signature of
        // kafka.signing_key_file (docs/kafka.md, "Signed records").
        kafka::Signer(settings.kafka.signing_keys));
  }

  std::vector<std::string> output_topics() const {
    std::vector<std::string> outputs{settings.topics.hits, settings.topics.deadletter};
    for (const auto& p : settings.countries) outputs.push_back(settings.route_topic(p.country));
    return outputs;
  }

  // An idempotent producer can fail for good (librdkafka's fatal error: an out-of-order sequence
  // or an unknown producer id after brokers failed). It then refuses every message, so it is
  // replaced: what it had not delivered comes back through the delivery reports of the purge and
  // is sent again by the new one (at least once: a hit may reach the control rooms twice, with
  // the same hit_id).
  // Not with pipeline.exactly_once: a transactional producer that fails for good (fenced) stops
  // the processor instead (transactions_failed()).
  void replace_producer_if_failed() {
    if (exactly_once) return;
    char reason[512] = "";
    {
      ReaderLock lock(producer_mu);
      if (rd_kafka_fatal_error(producer->get(), reason, sizeof reason) ==
          RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    }
    WriterLock lock(producer_mu);
    const int undelivered = producer->outstanding();
    log::error("run",
               std::string("the Kafka producer failed for good (") + reason +
                   "); a new one takes over and sends its " + std::to_string(undelivered) +
                   " undelivered messages again",
               {{"error", reason}, {"messages", undelivered}});
    rd_kafka_purge(producer->get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (producer->outstanding() > 0 && Clock::now() < deadline) producer->poll(10);
    producer->poll(0);
    producer = make_producer();
    producer->prepare_topics(output_topics(), 2'000);
    MutexLock counters_lock(counters_mu);
    ++counters.producers_replaced;
  }

  void start_clients() {
    rd_kafka_conf_t* conf =
        kafka::make_conf(processor_consumer_properties(settings.kafka, exactly_once));
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_rebalance_cb(conf, &Impl::on_rebalance);
    consumer = kafka::Consumer(conf);  // its poll serves the rebalance callback
    {
      MutexLock lock(lag_mu);
      lag_consumer = consumer.get();
    }
    consumer_queue.reset(rd_kafka_queue_get_consumer(consumer.get()));

    if (const char* n = std::getenv("ANPR_INJECT_PRODUCER_FATAL")) inject_fatal_after = std::atoll(n);
    WriterLock lock(producer_mu);
    producer = make_producer();
    if (exactly_once) init_transactions();

    // Outputs: fetch their metadata now, so the first hit is not held back; a topic that cannot
    // be found is reported (on a cluster without auto-creation it must be created first).
    const std::vector<std::string> outputs = output_topics();
    const std::vector<std::string> missing = producer->prepare_topics(outputs, 10'000);
    if (missing.size() == outputs.size()) {
      log::warn("run",
                "the Kafka cluster at " + settings.kafka.brokers +
                    " did not answer within 10 s; still trying (nothing is lost meanwhile)",
                {{"brokers", settings.kafka.brokers}});
    } else {
      for (const std::string& t : missing)
        log::warn("run",
                  "topic " + t + ": not found on the cluster; what goes to it waits until it exists",
                  {{"topic", t}});
    }

    if (rd_kafka_resp_err_t e = consumer.subscribe({settings.topics.reads}))
      throw kafka::KafkaError("cannot subscribe to " + settings.topics.reads + ": " +
                              kafka::error_text(e));
  }

  // Delivery trouble is logged at most once per 10 s, with how many messages it concerned, so a
  // missing topic or an unreachable cluster does not flood the log.
  Mutex log_mu;
  Clock::time_point next_trouble_log GUARDED_BY(log_mu) = {};
  uint64_t trouble_since_log GUARDED_BY(log_mu) = 0;

  void log_trouble(const char* what, const std::string& topic, rd_kafka_resp_err_t err) {
    MutexLock lock(log_mu);
    ++trouble_since_log;
    const auto now = Clock::now();
    if (now < next_trouble_log) return;
    // In a transaction nothing is sent again: the transaction is aborted and its reads redone.
    log::warn("run",
              std::string(what) + " " + topic + " (" + rd_kafka_err2str(err) + "); " +
                  (exactly_once ? "the transaction is aborted and its reads processed again ("
                                : "sending again (") +
                  std::to_string(trouble_since_log) + " such messages since the last report)" +
                  (exactly_once ? "" : "; the reads' offsets wait until they are delivered"),
              {{"topic", topic}, {"error", rd_kafka_err2str(err)}, {"messages", trouble_since_log}});
    trouble_since_log = 0;
    next_trouble_log = now + std::chrono::seconds(10);
  }

  // ---- delivery reports (producer poll thread) ----

  void on_delivery(rd_kafka_resp_err_t err, void* opaque, const rd_kafka_message_t& m) {
    auto* t = static_cast<Sent*>(opaque);
    if (!t) return;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && giving_up.load()) {  // purged at shutdown
      delete t;
      return;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (t->capture_ts)
        read_to_hit_seconds.observe(static_cast<double>(wall_now_ms() - t->capture_ts) / 1000.0);
      tracker.delivered(t->ticket);
      delete t;
      return;
    }
    if (exactly_once) {
      // The transaction cannot commit now: it is aborted and its reads processed again. Messages
      // purged by an abort are reported too, and expected.
      if (err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        txn_delivery_failed = true;
        log_trouble("delivery failed to", rd_kafka_topic_name(m.rkt), err);
      }
      delete t;
      return;
    }
    // Not delivered: send it again; the read's offset is not stored until it is.
    log_trouble("delivery failed to", rd_kafka_topic_name(m.rkt), err);
    Retry r{rd_kafka_topic_name(m.rkt),
            std::string(static_cast<const char*>(m.key), m.key_len),
            std::string(static_cast<const char*>(m.payload), m.len), opaque};
    MutexLock lock(retry_mu);
    retries.push_back(std::move(r));
  }

  void send_retries() {
    std::deque<Retry> todo;
    {
      MutexLock lock(retry_mu);
      todo.swap(retries);
    }
    for (Retry& r : todo) {
      {
        MutexLock lock(counters_mu);
        ++counters.delivery_retries;
      }
      rd_kafka_resp_err_t e;
      {
        ReaderLock lock(producer_mu);
        e = producer->produce(r.topic, r.key, r.value, r.opaque);
      }
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_trouble("cannot enqueue a message for", r.topic, e);
        MutexLock lock(retry_mu);
        retries.push_back(std::move(r));
      }
    }
  }

  void poll_loop() {
    while (!poll_stop.load(std::memory_order_relaxed)) {
      replace_producer_if_failed();
      {
        ReaderLock lock(producer_mu);
        producer->poll(20);
      }
      send_retries();
      store_ready();
    }
  }

  // Stores the offsets the tracker says are safe. Exactly once: the transactions take them.
  void store_ready() {
    if (exactly_once) return;
    std::vector<std::pair<int32_t, int64_t>> ready;
    tracker.take_ready(ready);
    if (ready.empty()) return;
    kafka::PartitionList l(rd_kafka_topic_partition_list_new(static_cast<int>(ready.size())));
    for (auto [part, off] : ready)
      rd_kafka_topic_partition_list_add(l.get(), settings.topics.reads.c_str(), part)->offset = off;
    // Fails harmlessly for a partition revoked meanwhile: its reads will be re-read elsewhere.
    rd_kafka_offsets_store(consumer.get(), l.get());
    MutexLock lock(lag_mu);
    for (auto [part, off] : ready)
      if (auto it = resume_at.find(part); it != resume_at.end()) it->second = off;
  }

  std::vector<PartitionLag> consumer_lag() const {
    MutexLock lock(lag_mu);
    std::vector<PartitionLag> out;
    if (!lag_consumer) return out;
    kafka::PartitionList unknown(rd_kafka_topic_partition_list_new(1));
    for (const auto& [part, off] : resume_at)
      if (off < 0)
        rd_kafka_topic_partition_list_add(unknown.get(), settings.topics.reads.c_str(), part);
    if (unknown->cnt > 0) rd_kafka_position(lag_consumer, unknown.get());
    for (const auto& [part, off] : resume_at) {
      int64_t lo = -1, hi = -1;
      if (rd_kafka_get_watermark_offsets(lag_consumer, settings.topics.reads.c_str(), part, &lo,
                                         &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
          hi < 0)
        continue;
      int64_t from = off;
      if (from < 0)
        for (int i = 0; i < unknown->cnt; ++i)
          if (unknown->elems[i].partition == part) from = unknown->elems[i].offset;
      if (from < 0) continue;  // nothing consumed since the assignment: not known yet
      out.push_back({part, std::max<int64_t>(0, hi - from)});
    }
    return out;
  }

  void track_assignment(const rd_kafka_topic_partition_list_t* parts, bool assign) {
    MutexLock lock(lag_mu);
    for (int i = 0; i < parts->cnt; ++i) {
      if (assign) resume_at[parts->elems[i].partition] = -1;
      else resume_at.erase(parts->elems[i].partition);
    }
  }

  // ---- rebalancing (called inside rd_kafka_consumer_poll, on the consume stage's thread) ----

  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    std::string list;
    for (int i = 0; i < parts->cnt; ++i)
      list += (i ? "," : "") + std::to_string(parts->elems[i].partition);
    const char* what = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assigned" : "revoked";
    log::info("run", std::string(what) + " " + self->settings.topics.reads + " partitions [" + list + "]",
              {{"event", what}, {"topic", self->settings.topics.reads}, {"partitions", list}});
    const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int i = 0; i < parts->cnt; ++i) self->tracker.reset(parts->elems[i].partition);
      self->track_assignment(parts, true);
      if (self->exactly_once) self->track_owned(parts, true);
      if (cooperative) {
        rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        self->assigned.fetch_add(parts->cnt);
      } else {
        rd_kafka_assign(rk, parts);
        self->assigned.store(parts->cnt);
      }
      // Consumption is paused by the bound on unfinished reads: new partitions wait too.
      if (self->paused.load()) rd_kafka_pause_partitions(rk, parts);
      return;
    }
    // Revoked: let what was consumed from these partitions finish and be delivered (bounded),
    // then commit, so the next owner starts after it.
    // Not during close: run() has drained already, within the shutdown timeout. While the
    // retention store cannot write, only the hits in flight are waited for: the reads whose
    // records wait for the store are consumed again by the next owner.
    // Exactly once: the open transaction is committed instead (or aborted).
    if (self->exactly_once) {
      if (!self->closing.load()) self->commit_before_revoke(parts);
      self->track_owned(parts, false);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!self->exactly_once && !self->closing.load()) {
      std::size_t busy = 0;
      for (int i = 0; i < parts->cnt; ++i) busy += self->tracker.in_flight(parts->elems[i].partition);
      if (busy == 0 || Clock::now() > deadline) break;
      if (self->store_failing() && self->producer_outstanding() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    self->store_ready();
    // A commit refused here (a broker that refuses commits during a rebalance, as the embedded
    // one does) only means the next owner reads some finished reads again: say so.
    if (!self->exactly_once)
      if (const rd_kafka_resp_err_t e = rd_kafka_commit(rk, nullptr, 0);
          e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log::warn("run",
                  std::string("commit on revoke failed: ") + rd_kafka_err2str(e) +
                      "; the next owner of these partitions reads their last reads again",
                  {{"error", rd_kafka_err2str(e)}});
    for (int i = 0; i < parts->cnt; ++i) self->tracker.reset(parts->elems[i].partition);
    self->track_assignment(parts, false);
    if (cooperative) {
      rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
      self->assigned.fetch_sub(parts->cnt);
    } else {
      rd_kafka_assign(rk, nullptr);
      self->assigned.store(0);
    }
  }

  // ---- transactions (pipeline.exactly_once) ----
  //
  // One transaction spans the batches published within pipeline.commit_interval_ms: the publish
  // stage begins it with the first batch and commits it once it is due (a batch, or the consume
  // stage's empty batch when no read came). A commit waits until every read published so far is
  // done (OffsetTracker: its messages delivered, its kept records durable), adds the offsets of
  // the done reads (rd_kafka_send_offsets_to_transaction with the consumer's group metadata, so
  // a member fenced by a rebalance cannot commit) and commits; hits, route copies, dead letters,
  // passages and offsets become visible to read_committed consumers together. While the
  // retention store cannot write, the commit does not wait for it (alerting comes first): the
  // reads whose records wait are committed by a later transaction, and only a crash or an abort
  // meanwhile publishes their hits again (same hit_id).
  //
  // An abortable error aborts: what the transaction produced is never visible to read_committed
  // consumers, suppression forgets its decisions (Suppressor::rollback), every batch consumed so
  // far is dropped and the consume stage seeks the assignment back to the last committed
  // offsets, so the reads are processed again. A fatal error (another instance with the same
  // transactional.id fenced this one) stops the processor with exit code 3.

  // Refuses a cluster that would take transactions without keeping them (the embedded broker,
  // docs/design.md §7), then registers the transactional.id: the coordinator aborts what a
  // previous incarnation left open and fences it. Waits while the coordinator is not available.
  void init_transactions() REQUIRES(producer_mu) {
    const std::string id = processor_transactional_id(settings.kafka);
    if (char* cluster = rd_kafka_clusterid(producer->get(), 10'000)) {
      const bool mock = std::string_view(cluster).starts_with("mockCluster");
      rd_kafka_mem_free(producer->get(), cluster);
      if (mock)
        throw UnusableCluster(
            "pipeline.exactly_once: the cluster at " + settings.kafka.brokers +
            " is the embedded broker (librdkafka's test broker), which accepts transactions "
            "without keeping them: read_committed consumers would see aborted hits and no "
            "offset would be committed. Exactly-once hits need Apache Kafka (docs/kafka.md); "
            "set pipeline.exactly_once = false for the embedded broker");
    }
    const auto started = Clock::now();
    auto next_report = started + std::chrono::seconds(10);
    for (;;) {
      rd_kafka_error_t* e = rd_kafka_init_transactions(producer->get(), 5000);
      if (!e) break;
      const std::string why = rd_kafka_error_string(e);
      const bool retry = rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e);
      rd_kafka_error_destroy(e);
      if (!retry)
        throw kafka::KafkaError("pipeline.exactly_once: cannot start transactions as " + id +
                                " (kafka.transactional_id): " + why);
      if (stop.load()) return;  // run() sees the stop
      if (Clock::now() >= next_report) {
        log::warn("run",
                  "pipeline.exactly_once: the cluster at " + settings.kafka.brokers +
                      " has not let transactional.id " + id + " start for " +
                      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                         Clock::now() - started)
                                         .count()) +
                      " s (" + why + "); still trying",
                  {{"transactional_id", id}, {"error", why}});
        next_report = Clock::now() + std::chrono::seconds(30);
      }
    }
    log::info("run", "transactions started as " + id + " (kafka.transactional_id)",
              {{"transactional_id", id}});
  }

  // The transactional producer's handle. With pipeline.exactly_once the producer is never
  // replaced (replace_producer_if_failed), so the handle stays valid until close_producer(),
  // after the last transaction.
  rd_kafka_t* txn_producer() {
    ReaderLock lock(producer_mu);
    return producer->get();
  }

  // The producer failed for good: stop, exit code 3.
  void transactions_failed(const std::string& why) {
    if (txn_fatal.exchange(true)) return;
    const std::string id = processor_transactional_id(settings.kafka);
    char text[512] = {};
    const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(txn_producer(), text, sizeof text);
    const bool fenced = fatal == RD_KAFKA_RESP_ERR__FENCED ||
                        fatal == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                        fatal == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
    log::error("run",
               std::string(fenced ? "fenced: another instance started with this instance's "
                                    "transactional.id "
                                  : "pipeline.exactly_once: the transactional producer ") +
                   id + (fenced ? " (kafka.transactional_id)" : " failed for good") + " (" +
                   why +
                   "). Stopping: what the open transaction produced is never visible to "
                   "read_committed consumers, and its reads are processed again by the group" +
                   (fenced ? "" : "; another instance with the same kafka.transactional_id may "
                                  "have fenced this one"),
               {{"transactional_id", id}, {"error", why}, {"fenced", fenced}});
    failed = true;
    stop = true;
  }

  void begin_transaction() REQUIRES(txn_mu) {
    if (rd_kafka_error_t* e = rd_kafka_begin_transaction(txn_producer())) {
      const std::string why = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      transactions_failed(why);
      return;
    }
    txn_open = true;
    txn_started = Clock::now();
    txn_due_ns = steady_ns() + settings.pipeline.commit_interval_ms * 1'000'000;
    txn_delivery_failed = false;
    suppressor.checkpoint();
  }

  // Runs a transactional call until it succeeds, fails for good, needs an abort, or `deadline`
  // passes (retriable errors are tried again). Returns the error to act on (null: done).
  template <class Call>
  rd_kafka_error_t* txn_call(Call call, Clock::time_point deadline) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      rd_kafka_error_t* e = call(static_cast<int>(std::clamp<int64_t>(left, 100, 30'000)));
      if (!e || !rd_kafka_error_is_retriable(e) || rd_kafka_error_is_fatal(e) ||
          rd_kafka_error_txn_requires_abort(e) || Clock::now() >= deadline)
        return e;
      rd_kafka_error_destroy(e);
    }
  }

  // Commits the open transaction, or aborts it when it cannot commit. False when it was aborted
  // or the producer failed.
  bool commit_transaction(Clock::time_point deadline) REQUIRES(txn_mu) {
    if (!txn_open) return true;
    // Every read published so far done, but those whose records wait for a failing store.
    const auto wait_until = std::min(deadline, Clock::now() + std::chrono::seconds(10));
    std::vector<std::pair<int32_t, int64_t>> ready;
    for (;;) {
      ready.clear();
      tracker.take_ready(ready);
      for (auto [part, next] : ready) {
        done_next[part] = next;
        offsets_to_commit[part] = next;
      }
      bool all_done = true;
      for (const auto& [part, next] : published_next) {
        const auto d = done_next.find(part);
        all_done = all_done && d != done_next.end() && d->second >= next;
      }
      if (all_done || txn_delivery_failed.load() || store_failing() || Clock::now() >= wait_until)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (txn_delivery_failed.load())
      return abort_transaction("a message of the transaction was not delivered", deadline);
    rd_kafka_error_t* e = nullptr;
    if (!offsets_to_commit.empty()) {
      kafka::PartitionList l(
          rd_kafka_topic_partition_list_new(static_cast<int>(offsets_to_commit.size())));
      for (auto [part, off] : offsets_to_commit)
        rd_kafka_topic_partition_list_add(l.get(), settings.topics.reads.c_str(), part)->offset =
            off;
      rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata(consumer.get());
      e = txn_call(
          [&](int ms) {
            return rd_kafka_send_offsets_to_transaction(txn_producer(), l.get(), group, ms);
          },
          deadline);
      rd_kafka_consumer_group_metadata_destroy(group);
    }
    if (!e)
      e = txn_call([&](int ms) { return rd_kafka_commit_transaction(txn_producer(), ms); },
                   deadline);
    if (e) {
      const std::string why = rd_kafka_error_string(e);
      const bool fatal = rd_kafka_error_is_fatal(e);
      rd_kafka_error_destroy(e);
      if (fatal) {
        transactions_failed(why);
        return false;
      }
      return abort_transaction("the commit failed: " + why, deadline);
    }
    txn_open = false;
    txn_due_ns = 0;
    txn_reads = 0;
    ++txn_commits;
    {
      MutexLock lock(rewind_mu);
      for (auto [part, off] : offsets_to_commit) rewind_to[part] = off;
    }
    {
      MutexLock lock(lag_mu);
      for (auto [part, off] : offsets_to_commit)
        if (auto it = resume_at.find(part); it != resume_at.end()) it->second = off;
    }
    offsets_to_commit.clear();
    return true;
  }

  // Aborts the open transaction and has the consume stage rewind. False (it was aborted).
  bool abort_transaction(const std::string& why, Clock::time_point deadline) REQUIRES(txn_mu) {
    const uint64_t reads_in_it = txn_reads.load();
    rd_kafka_error_t* e = txn_call(
        [&](int ms) { return rd_kafka_abort_transaction(txn_producer(), ms); }, deadline);
    if (e) {
      const std::string err = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      transactions_failed(why + "; the abort failed: " + err);
      txn_open = false;
      txn_due_ns = 0;
      return false;
    }
    suppressor.rollback();
    txn_open = false;
    txn_due_ns = 0;
    txn_reads = 0;
    txn_delivery_failed = false;
    published_next.clear();
    done_next.clear();
    offsets_to_commit.clear();
    ++txn_aborts;
    // Every batch consumed until the consume stage's next rewind is dropped at publish.
    accept_epoch = epoch.load() + 1;
    rewind_requested = true;
    log::warn("run",
              "transaction aborted (" + why + "): nothing of it is visible to read_committed "
                  "consumers; its " + std::to_string(reads_in_it) +
                  " reads and those consumed since are processed again from the last committed "
                  "offsets",
              {{"reason", why}, {"reads", reads_in_it}});
    return false;
  }

  // Revoke (the consume stage's thread, inside its poll): once every batch consumed so far is
  // published (bounded), commits the open transaction, so the next owner starts after it.
  void commit_before_revoke(const rd_kafka_topic_partition_list_t* parts) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (published_batches.load() < consumed_batches.load() && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    MutexLock lock(txn_mu);
    if (!txn_fatal.load()) commit_transaction(deadline + std::chrono::seconds(30));
    for (int i = 0; i < parts->cnt; ++i) {
      published_next.erase(parts->elems[i].partition);
      done_next.erase(parts->elems[i].partition);
      offsets_to_commit.erase(parts->elems[i].partition);
    }
  }

  // The consume stage's view of the assignment (rebalance callback).
  void track_owned(const rd_kafka_topic_partition_list_t* parts, bool assign) {
    MutexLock lock(rewind_mu);
    for (int i = 0; i < parts->cnt; ++i) {
      const int32_t part = parts->elems[i].partition;
      rewind_to.erase(part);
      if (assign) {
        owned.insert(part);
      } else {
        owned.erase(part);
        revoked_now.insert(part);
      }
    }
  }

  // After an abort (consume stage): forget the reads in flight and seek every partition with
  // reads consumed since its assignment back to its last committed offset, or to its first read
  // when no transaction committed any of it yet.
  void rewind() {
    std::vector<std::pair<int32_t, int64_t>> targets;
    {
      MutexLock lock(rewind_mu);
      for (int32_t part : owned) {
        tracker.reset(part);
        if (auto it = rewind_to.find(part); it != rewind_to.end())
          targets.emplace_back(part, it->second);
      }
    }
    if (!targets.empty()) seek(targets);
    {
      MutexLock lock(lag_mu);
      for (auto [part, off] : targets)
        if (auto it = resume_at.find(part); it != resume_at.end()) it->second = off;
    }
    epoch.fetch_add(1);
  }

  void seek(const std::vector<std::pair<int32_t, int64_t>>& targets) {
    kafka::PartitionList l(rd_kafka_topic_partition_list_new(static_cast<int>(targets.size())));
    for (auto [part, off] : targets)
      rd_kafka_topic_partition_list_add(l.get(), settings.topics.reads.c_str(), part)->offset = off;
    if (rd_kafka_error_t* e = rd_kafka_seek_partitions(consumer.get(), l.get(), 30'000)) {
      const std::string why = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      transactions_failed("cannot seek the reads back after an abort: " + why);
      return;
    }
    for (int i = 0; i < l->cnt; ++i)
      if (l->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
        transactions_failed("cannot seek partition " + std::to_string(l->elems[i].partition) +
                            " back after an abort: " + rd_kafka_err2str(l->elems[i].err));
  }

  // Messages of a partition revoked during this consume() call, or not assigned: dropped (the
  // next owner reads them). A partition revoked and assigned again within the call would have
  // both kinds mixed: it is sought to its committed offset.
  void drop_unowned(Batch& b, std::size_t& got) {
    std::size_t kept = 0;
    std::vector<int32_t> again;
    for (std::size_t i = 0; i < got; ++i) {
      rd_kafka_message_t* m = b.raw[i];
      const bool stale = !m->err && (revoked_now.count(m->partition) || !owned.count(m->partition));
      if (!stale) {
        b.raw[kept++] = m;
        continue;
      }
      if (owned.count(m->partition) &&
          std::find(again.begin(), again.end(), m->partition) == again.end())
        again.push_back(m->partition);
      rd_kafka_message_destroy(m);
    }
    got = kept;
    if (again.empty()) return;
    kafka::PartitionList l(rd_kafka_topic_partition_list_new(static_cast<int>(again.size())));
    for (int32_t part : again)
      rd_kafka_topic_partition_list_add(l.get(), settings.topics.reads.c_str(), part);
    std::vector<std::pair<int32_t, int64_t>> targets;
    if (rd_kafka_committed(consumer.get(), l.get(), 30'000) == RD_KAFKA_RESP_ERR_NO_ERROR)
      for (int i = 0; i < l->cnt; ++i)
        targets.emplace_back(l->elems[i].partition, l->elems[i].offset >= 0
                                                        ? l->elems[i].offset
                                                        : RD_KAFKA_OFFSET_BEGINNING);
    if (targets.size() != again.size()) {
      transactions_failed("cannot read the committed offsets of partitions assigned again");
      return;
    }
    seek(targets);
  }

  // ---- stage 1: consume ----

  bool store_failing() const { return retention && retention->health().failing; }

  int producer_outstanding() {
    ReaderLock lock(producer_mu);
    return producer->outstanding();
  }

  // Pauses the assignment while pipeline.max_unfinished_reads reads are unfinished, resumes it
  // below nine tenths of that. The consumer keeps polling meanwhile, so it stays in its group
  // and serves rebalances; paused partitions hand out nothing.
  void regulate() {
    const std::size_t max = settings.pipeline.max_unfinished_reads;
    const std::size_t unfinished = tracker.in_flight();
    const bool pause = !paused && unfinished >= max;
    const bool resume = paused && unfinished < max - max / 10;
    if (!pause && !resume) return;
    rd_kafka_topic_partition_list_t* parts = nullptr;
    if (rd_kafka_assignment(consumer.get(), &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    kafka::PartitionList own(parts);
    if (pause) {
      rd_kafka_pause_partitions(consumer.get(), parts);
      paused = true;
      const store::Writer::Health h = retention ? retention->health() : store::Writer::Health{};
      log::warn("run",
                "consumption paused: " + std::to_string(unfinished) +
                    " reads are unfinished (pipeline.max_unfinished_reads = " +
                    std::to_string(max) + ")" +
                    "; it resumes once their messages are delivered and their records "
                    "stored" +
                    (h.failing ? "; the retention store cannot write: " + h.error : std::string()),
                {{"unfinished", unfinished}, {"max", max}});
    } else {
      rd_kafka_resume_partitions(consumer.get(), parts);
      paused = false;
      log::info("run",
                "consumption resumed: " + std::to_string(unfinished) + " reads are unfinished",
                {{"unfinished", unfinished}});
    }
  }

  bool consume(Batch& b) {
    b.n = 0;
    const std::size_t max = settings.pipeline.batch;
    if (b.items.size() < max) b.items.resize(max);
    if (b.raw.size() < max) b.raw.resize(max);
    std::size_t got = 0;
    // Exactly once: the rewind an abort asked for, before anything is consumed; the transaction
    // due with no read coming is committed on an empty batch.
    bool due = false;
    if (exactly_once) {
      if (rewind_requested.exchange(false)) rewind();
      revoked_now.clear();
      b.epoch = epoch.load();
    }
    const int poll_ms =
        exactly_once ? static_cast<int>(std::min<int64_t>(100, settings.pipeline.commit_interval_ms))
                     : 100;
    // Wait for the first message (this also serves rebalance callbacks), then take what else is
    // already fetched in one call.
    while (got == 0 && !stop.load(std::memory_order_relaxed)) {
      regulate();
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), poll_ms);
      if (!m) {
        const int64_t at = txn_due_ns.load();
        if (exactly_once && at != 0 && steady_ns() >= at) {
          due = true;
          break;
        }
        continue;
      }
      b.raw[got++] = m;
      const ssize_t more =
          rd_kafka_consume_batch_queue(consumer_queue.get(), 0, b.raw.data() + 1, max - 1);
      if (more > 0) got += static_cast<std::size_t>(more);
    }
    if (exactly_once) drop_unowned(b, got);
    for (std::size_t i = 0; i < got; ++i) {
      rd_kafka_message_t* m = b.raw[i];
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
          log::warn("run", std::string("consumer: ") + rd_kafka_message_errstr(m),
                    {{"error", rd_kafka_err2name(m->err)}});
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
          failed = true;
          stop = true;
        }
        rd_kafka_message_destroy(m);
        continue;
      }
      Item& it = b.items[b.n++];
      it.msg = m;
      it.payload = std::string_view(static_cast<const char*>(m->payload), m->len);
      it.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
      it.partition = m->partition;
      it.offset = m->offset;
      it.used = 0;
      it.dropped_by_rules = 0;
      it.held_by_store = false;
    }
    b.slots.clear();
    for (std::size_t i = 0; i < b.n; ++i) b.slots.push_back(&b.items[i]);
    // Register the reads, each with the processing hold, under one lock.
    tracker.add_batch(
        b.n, [&](std::size_t i) { return b.items[i].msg->partition; },
        [&](std::size_t i) { return b.items[i].msg->offset; }, 1,
        [&](std::size_t i, const OffsetTracker::Ticket& t) { b.items[i].ticket = t; });
    reads.fetch_add(b.n, std::memory_order_relaxed);
    // A batch of consumer errors only (a topic that does not exist, ...) is an empty batch, not
    // the end: only the stop ends the stream.
    if (!exactly_once) return b.n > 0 || !stop.load();
    note_first_reads(b);
    // An empty batch too (a due commit, or only messages dropped), until the stop.
    if (b.n == 0 && !due && stop.load()) return false;
    consumed_batches.fetch_add(1);
    return true;
  }

  // Where a rewind seeks a partition none of whose reads a transaction committed yet: its first
  // read consumed since the assignment.
  void note_first_reads(const Batch& b) {
    if (b.n == 0) return;
    MutexLock lock(rewind_mu);
    for (std::size_t i = 0; i < b.n; ++i) rewind_to.try_emplace(b.items[i].partition, b.items[i].offset);
  }

  // ---- stage 2: decode and match ----

  // Stage 2 for a whole batch: the per-read work (pipeline/read_matcher.h), then the records the
  // retention store keeps of each read.
  void process(Batch& b, ReadMatcher::Scratch& w, const Snapshot& snap) {
    b.keep.clear();
    const TimestampMs now = wall_now_ms();
    matcher.match(std::span<ReadSlot* const>(b.slots), w, snap, now);
    count_future_stamped(b, now);
    if (retention)
      for (std::size_t i = 0; i < b.n; ++i)
        if (b.items[i].cam) encode_keep(b.items[i], w, b.keep, static_cast<uint32_t>(i));
  }

  // Reads of registered cameras stamped later than now + pipeline.max_clock_skew_ms: counted.
  // They alert as any read does; the store keeps them by its own time (store/store.h, Deadlines).
  void count_future_stamped(const Batch& b, TimestampMs now) {
    uint64_t n = 0;
    const TimestampMs limit = now + settings.pipeline.max_clock_skew_ms;
    for (std::size_t i = 0; i < b.n; ++i)
      if (b.items[i].cam && b.items[i].ev.ts > limit) ++n;
    if (n == 0) return;
    MutexLock lock(counters_mu);
    counters.future_stamped += n;
  }

  // The records the retention store keeps of a decoded read: its hits, or its passage.
  void encode_keep(Item& it, ReadMatcher::Scratch& w, store::RecordBatch& keep, uint32_t tag) {
    bool hit = false;
    for (std::size_t k = 0; k < it.used; ++k) {
      const Output& o = it.outs[k];
      hit = true;
      std::string& id = w.text();
      id.assign(it.ev.camera_id);
      id += '/';
      id += it.ev.event_id;
      id += '/';
      id += o.list_id;
      id += '/';
      id += std::to_string(o.entry_key);
      retention->encode_hit(it.ev, *it.cam, it.plates[0], id, o.payload, keep, tag);
    }
    if (hit) return;
    // A kept passage keeps its images only made safe (pipeline/hit_images.h); never decoded otherwise.
    if (matcher.keeps_images(it.cam->country) &&
        (!it.ev.plate_jpeg.empty() || !it.ev.overview_jpeg.empty())) {
      const config::RetentionPolicy* p = settings.retention.policy(it.cam->country);
      if (p && p->keep_passages) w.images().sanitize(it.ev);
    }
    retention->encode_passage(it.ev, *it.cam, it.plates[0], keep, tag);
  }

  // Hands the batch's records to the store's writer; each read keeps a hold until they are
  // durable, so its offset is not stored before.
  void hand_over_records(Batch& b) {
    store::RecordBatch& keep = b.keep;
    if (keep.empty()) return;
    if (retention->to_kafka()) {
      // One message per passage on its country's topic, timed by the capture (never later than
      // now) so the topic's retention counts from it; the offset waits for its delivery.
      const TimestampMs now = wall_now_ms();
      for (std::size_t i = 0; i < keep.size(); ++i) {
        const store::RecordBatch::Head& h = keep.head(i);
        Item& it = b.items[h.tag];
        const rd_kafka_message_t* m = it.msg;
        const std::string_view key(static_cast<const char*>(m->key), m->key_len);
        send(settings.retention.passages_topic(h.camera_country), key, keep.payload(i), it.ticket,
             0, std::max<TimestampMs>(1, std::min(h.captured, now)));
      }
      keep.clear();
      return;
    }
    // A read with records keeps its processing hold until they are durable: publish() does not
    // release it (a read's records are next to each other).
    std::vector<OffsetTracker::Ticket> held;
    for (std::size_t i = 0; i < keep.size(); ++i)
      if (i == 0 || keep.head(i).tag != keep.head(i - 1).tag) {
        Item& it = b.items[keep.head(i).tag];
        it.held_by_store = true;
        held.push_back(it.ticket);
      }
    retention->submit(std::move(keep), [this, held = std::move(held)] {
      tracker.delivered_batch(held.size(),
                              [&](std::size_t i) -> const OffsetTracker::Ticket& { return held[i]; });
    });
    keep = retention->take();
  }

  // ---- stage 3: publish ----

  void publish(Batch& b) {
    uint64_t hits = 0, routes = 0, suppressed = 0, dls = 0, dropped = 0;
    std::vector<std::string_view> dl_reasons;
    std::vector<const Output*> hit_outs, suppressed_outs;  // for the per-list counters
    // Reads per camera country: few countries, so a short list beats a map per read.
    std::pair<CountryCode, uint64_t> by_country[8];
    std::size_t n_countries = 0;
    uint64_t other_countries = 0;  // more than 8 countries in one batch: counted at the end
    for (std::size_t i = 0; i < b.n; ++i) {
      Item& it = b.items[i];
      const rd_kafka_message_t* m = it.msg;
      const std::string_view key(static_cast<const char*>(m->key), m->key_len);
      dropped += it.dropped_by_rules;
      {
        std::size_t c = 0;
        while (c < n_countries && by_country[c].first != it.country) ++c;
        if (c < n_countries) ++by_country[c].second;
        else if (n_countries < std::size(by_country)) by_country[n_countries++] = {it.country, 1};
        else ++other_countries;
      }
      // Decide first (suppression), count the messages, then produce them.
      uint32_t n = 0;
      for (std::size_t k = 0; k < it.used; ++k) {
        Output& o = it.outs[k];
        if (o.deadletter) {
          ++n;
          continue;
        }
        if (!suppressor.admit(o.list_id, o.entry_key, o.ts)) {
          o.payload.clear();  // marks it suppressed
          ++suppressed;
          suppressed_outs.push_back(&o);
          continue;
        }
        n += o.route_topic.empty() ? 1 : 2;
      }
      if (n) tracker.add_pending(it.ticket, n);
      for (std::size_t k = 0; k < it.used; ++k) {
        const Output& o = it.outs[k];
        if (o.payload.empty()) continue;
        if (o.deadletter) {
          send(settings.topics.deadletter, key, o.payload, it.ticket);
          ++dls;
          dl_reasons.push_back(o.reason);
          continue;
        }
        // Keyed by camera, like the read, so one camera's hits stay in order on one partition.
        // A covert hit's capture time stays out of anpr_read_to_hit_seconds (its count would
        // tell when a covert list hit).
        send(settings.topics.hits, key, o.payload, it.ticket, o.covert ? 0 : o.ts);
        ++hits;
        hit_outs.push_back(&o);
        if (!o.route_topic.empty()) {
          send(o.route_topic, key, o.payload, it.ticket);
          ++routes;
        }
      }
    }
    if (retention) hand_over_records(b);
    // Release the processing holds (but those handed to the store), then the messages.
    tracker.delivered_batch(
        b.n, [&](std::size_t i) -> const OffsetTracker::Ticket& { return b.items[i].ticket; },
        [&](std::size_t i) { return b.items[i].held_by_store; });
    for (std::size_t i = 0; i < b.n; ++i) {
      rd_kafka_message_destroy(b.items[i].msg);
      b.items[i].msg = nullptr;
    }
    store_ready();
    MutexLock lock(counters_mu);
    counters.hits += hits;
    counters.route_copies += routes;
    counters.suppressed += suppressed;
    counters.suppressed_by_group = suppressor.suppressed_by_group();
    counters.deadletters += dls;
    counters.not_applicable += dropped;
    for (std::string_view r : dl_reasons) ++counters.deadletter_reasons[std::string(r)];
    count_outputs(b, by_country, n_countries, other_countries, hit_outs, suppressed_outs);
  }

  // Stage 3 with pipeline.exactly_once: the batch's messages go into the open transaction (begun
  // here), which is committed once due. A batch consumed before a rewind is dropped.
  void publish_in_transaction(Batch& b) {
    {
      MutexLock lock(txn_mu);
      if (txn_fatal.load() || b.epoch < accept_epoch.load()) {
        drop(b);
      } else {
        if (b.n > 0 && !txn_open) begin_transaction();
        if (b.n > 0 && txn_open) {
          for (std::size_t i = 0; i < b.n; ++i) {
            int64_t& next = published_next[b.items[i].partition];
            next = std::max(next, b.items[i].offset + 1);
          }
          txn_reads += b.n;
          publish(b);
        } else if (b.n > 0) {
          drop(b);
        }
        if (txn_open && Clock::now() - txn_started >=
                            std::chrono::milliseconds(settings.pipeline.commit_interval_ms))
          commit_transaction(Clock::now() + std::chrono::seconds(60));
      }
    }
    published_batches.fetch_add(1);
  }

  // A batch that is not published: its reads are consumed again.
  void drop(Batch& b) {
    // Their processing holds: stale once the rewind reset the partitions, and then ignored.
    tracker.delivered_batch(
        b.n, [&](std::size_t i) -> const OffsetTracker::Ticket& { return b.items[i].ticket; });
    for (std::size_t i = 0; i < b.n; ++i) {
      rd_kafka_message_destroy(b.items[i].msg);
      b.items[i].msg = nullptr;
    }
  }

  // The per-label counters of one published batch (under counters_mu). The outputs are still
  // those of the batch: `hit_outs` and `suppressed_outs` point into its items.
  void count_outputs(const Batch& b, const std::pair<CountryCode, uint64_t>* by_country,
                     std::size_t n_countries, uint64_t other_countries,
                     const std::vector<const Output*>& hit_outs,
                     const std::vector<const Output*>& suppressed_outs) REQUIRES(counters_mu) {
    auto country_label = [](CountryCode c) { return c.known() ? c.str() : std::string("unknown"); };
    for (std::size_t c = 0; c < n_countries; ++c)
      counters.reads_by_country[country_label(by_country[c].first)] += by_country[c].second;
    if (other_countries) {  // rare: recount the batch's tail past the 8 countries seen first
      for (std::size_t i = 0; i < b.n; ++i) {
        const CountryCode c = b.items[i].country;
        bool seen = false;
        for (std::size_t k = 0; k < n_countries; ++k) seen = seen || by_country[k].first == c;
        if (!seen) ++counters.reads_by_country[country_label(c)];
      }
    }
    // Hits on covert lists are left out: no public figure may reveal them (docs/operators.md,
    // "Covert lists").
    for (const Output* o : hit_outs)
      if (!o->covert)
        ++counters.hits_by_list[{o->list_id, std::string(to_string(o->category)),
                                 std::string(to_string(o->kind))}];
    for (const Output* o : suppressed_outs)
      if (!o->covert) ++counters.suppressed_by_list[o->list_id];
  }

  void send(const std::string& topic, std::string_view key, std::string_view value,
            const OffsetTracker::Ticket& t, TimestampMs capture_ts = 0,
            TimestampMs message_ts = 0) {
    auto* ticket = new Sent{t, capture_ts};
    if (message_ts) tracker.add_pending(t, 1);  // passages: counted here, not by the caller
    rd_kafka_resp_err_t e;
    {
      ReaderLock lock(producer_mu);
      e = producer->produce(topic, key, value, ticket, RD_KAFKA_PARTITION_UA, message_ts);
      if (inject_fatal_after >= 0 && sent_count.fetch_add(1) == inject_fatal_after)
        rd_kafka_test_fatal_error(producer->get(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                  "injected by ANPR_INJECT_PRODUCER_FATAL");
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log_trouble("cannot enqueue a message for", topic, e);
      if (exactly_once) {
        txn_delivery_failed = true;
        delete ticket;
        return;
      }
      MutexLock lock(retry_mu);
      retries.push_back(Retry{topic, std::string(key), std::string(value), ticket});
    }
  }

  // ---- the broker prober ----

  static int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  }

  double broker_unanswered_seconds() const {
    return static_cast<double>(steady_ns() - broker_answered_at.load()) / 1e9;
  }

  // Asks the cluster for metadata every second. A broker that is stopped, unreachable or frozen
  // (its connections open but nothing answered) stops the answers; readiness and the log say so
  // once kafka.unanswered_after_ms passed.
  void probe_loop() {
    bool warned = false;
    std::string last_error;
    const double limit = static_cast<double>(settings.kafka.unanswered_after_ms) / 1000.0;
    for (;;) {
      const rd_kafka_metadata_t* md = nullptr;
      rd_kafka_resp_err_t e;
      {
        ReaderLock lock(producer_mu);
        e = rd_kafka_metadata(producer->get(), 0, nullptr, &md, 2000);
      }
      if (md) rd_kafka_metadata_destroy(md);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (warned)
          log::info("run",
                    "the Kafka cluster at " + settings.kafka.brokers + " answers again after " +
                        std::to_string(static_cast<int64_t>(broker_unanswered_seconds())) + " s",
                    {{"brokers", settings.kafka.brokers}});
        warned = false;
        broker_answered_at = steady_ns();
      } else {
        last_error = rd_kafka_err2str(e);
        const double silent = broker_unanswered_seconds();
        if (!warned && silent >= limit) {
          warned = true;
          log::warn("run",
                    "the Kafka cluster at " + settings.kafka.brokers + " has not answered for " +
                        std::to_string(static_cast<int64_t>(silent)) + " s (" + last_error +
                        "); reads and hits wait, nothing is lost; /readyz answers 503 until it "
                        "answers",
                    {{"brokers", settings.kafka.brokers}, {"error", last_error}});
        }
      }
      MutexLock lock(probe_mu);
      if (probe_cv.wait_for(lock.native(), std::chrono::seconds(1),
                            [&]() REQUIRES(probe_mu) { return probe_stop; }))
        return;
    }
  }

  // Waits until everything consumed is delivered and stored, at most the shutdown timeout. While
  // the retention store cannot write, only for the messages in flight: the reads whose records
  // wait for the store are processed again at the next start.
  void drain() {
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(settings.pipeline.shutdown_timeout_ms);
    if (exactly_once) {  // every batch is published: commit what is open
      MutexLock lock(txn_mu);
      if (txn_open && !txn_fatal.load()) commit_transaction(deadline);
      return;
    }
    auto retries_left = [this] {
      MutexLock lock(retry_mu);
      return !retries.empty();
    };
    while (Clock::now() < deadline) {
      const bool sending = producer_outstanding() > 0 || retries_left();
      if (!sending && (tracker.in_flight() == 0 || store_failing())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // What is still undelivered after the drain is given up: those reads' offsets were never
  // stored, so they are consumed again at the next start. The producer is closed here, while
  // everything its delivery callback touches is alive (a report served by its destructor would
  // find the histograms and the retry queue gone).
  void close_producer() {
    giving_up = true;
    WriterLock lock(producer_mu);
    rd_kafka_purge(producer->get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (producer->outstanding() > 0 && Clock::now() < deadline) producer->poll(10);
    producer->poll(0);
    producer.reset();
    MutexLock retry_lock(retry_mu);
    for (Retry& r : retries) delete static_cast<Sent*>(r.opaque);
    retries.clear();
  }

  int run() {
    try {
      start_clients();
    } catch (const UnusableCluster& e) {
      log::error("run", e.what());
      return 2;
    }
    if (exactly_once && stop.load()) return failed ? 3 : 0;  // stopped while starting them
    if (follows_group()) group_follower.start(settings, group_hits, suppressor.max_window_ms());
    broker_answered_at = steady_ns();
    std::thread poller([this] { poll_loop(); });
    std::thread prober([this] { probe_loop(); });

    const int threads = settings.pipeline.threads > 0
                            ? settings.pipeline.threads
                            : static_cast<int>(std::thread::hardware_concurrency());
    // At least two: the consume stage waits for other stages during a partition revoke.
    tbb::task_arena arena(std::max(2, threads));
    const std::size_t tokens = static_cast<std::size_t>(std::max(2, threads)) * 2;
    std::vector<std::unique_ptr<Batch>> pool;
    std::mutex pool_mu;
    tbb::enumerable_thread_specific<ReadMatcher::Scratch> workers(
        [this] { return ReadMatcher::Scratch(matcher); });

    arena.execute([&] {
      tbb::parallel_pipeline(
          tokens,
          tbb::make_filter<void, Batch*>(
              tbb::filter_mode::serial_in_order,
              [&](tbb::flow_control& fc) -> Batch* {
                std::unique_ptr<Batch> b;
                {
                  std::lock_guard lock(pool_mu);
                  if (!pool.empty()) {
                    b = std::move(pool.back());
                    pool.pop_back();
                  }
                }
                if (!b) b = std::make_unique<Batch>();
                if (!consume(*b)) {
                  fc.stop();
                  return nullptr;
                }
                return b.release();
              }) &
              tbb::make_filter<Batch*, Batch*>(
                  tbb::filter_mode::parallel,
                  [&](Batch* b) {
                    ReadMatcher::Scratch& w = workers.local();
                    const auto t0 = Clock::now();
                    {
                      LiveIndex::Reader r = index.read();
                      process(*b, w, *r);
                    }
                    batch_seconds.observe(
                        std::chrono::duration<double>(Clock::now() - t0).count());
                    return b;
                  }) &
              tbb::make_filter<Batch*, void>(tbb::filter_mode::serial_in_order, [&](Batch* b) {
                if (exactly_once) publish_in_transaction(*b);
                else publish(*b);
                std::lock_guard lock(pool_mu);
                pool.emplace_back(b);
              }));
    });

    // Drain: every produced message delivered and every kept record stored (or given up after
    // the shutdown timeout), offsets stored.
    drain();
    const std::size_t unfinished = tracker.in_flight();  // before the revoke at close resets it
    const bool drained = unfinished == 0;
    closing = true;
    poll_stop = true;
    poller.join();
    {
      MutexLock lock(probe_mu);
      probe_stop = true;
    }
    probe_cv.notify_all();
    prober.join();
    store_ready();
    if (!exactly_once)  // exactly once: the drain committed the last transaction
      if (rd_kafka_resp_err_t e = rd_kafka_commit(consumer.get(), nullptr, 0);
          e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log::warn("run", std::string("final commit failed: ") + rd_kafka_err2str(e),
                  {{"error", rd_kafka_err2str(e)}});
    {
      MutexLock lock(lag_mu);
      lag_consumer = nullptr;
      resume_at.clear();
    }
    consumer_queue.reset();
    // Leaves the group here, before the producer closes: the revoke commits the stored offsets.
    // (The destructor would close it too, later; this is the point of the shutdown it belongs.)
    consumer.close();
    close_producer();
    group_follower.stop();
    if (!drained)
      log::warn("run",
                std::to_string(unfinished) +
                    " reads were not fully delivered or stored before shutdown; they will be "
                    "consumed again at the next start",
                {{"reads", unfinished}});
    return failed ? 3 : 0;
  }
};

Processor::Processor(const config::Settings& settings, LiveIndex& index,
                     const CameraRegistry& cameras)
    : impl_(std::make_unique<Impl>(settings, index, cameras, stop_)) {}

Processor::~Processor() = default;

int Processor::run() { return impl_->run(); }

int Processor::assigned_partitions() const { return impl_->assigned.load(); }

ProcessorHealth Processor::health() const {
  ProcessorHealth h;
  if (impl_->broker_answered_at.load() != 0) {
    h.broker_unanswered_seconds = impl_->broker_unanswered_seconds();
    h.broker_answering = h.broker_unanswered_seconds * 1000.0 <
                         static_cast<double>(impl_->settings.kafka.unanswered_after_ms);
  }
  if (impl_->retention) {
    const store::Writer::Health w = impl_->retention->health();
    h.store_failing = w.failing;
    h.store_error = w.error;
    h.store_errno = w.error_code;
    if (w.failing)
      h.store_failing_seconds =
          std::chrono::duration<double>(Clock::now() - w.failing_since).count();
    h.store_failed_writes = w.failed_writes;
    h.store_pending_records = w.pending_records;
  }
  h.consumption_paused = impl_->paused.load();
  return h;
}

store::Store* Processor::retention_store() const {
  return impl_->retention ? impl_->retention->store() : nullptr;
}

std::vector<PartitionLag> Processor::consumer_lag() const { return impl_->consumer_lag(); }

const metrics::Histogram& Processor::batch_seconds() const { return impl_->batch_seconds; }

const metrics::Histogram& Processor::read_to_hit_seconds() const {
  return impl_->read_to_hit_seconds;
}

uint64_t Processor::reads_consumed() const {
  return impl_->reads.load(std::memory_order_relaxed);
}

uint64_t Processor::reads_unfinished() const {
  return impl_->tracker.in_flight() + impl_->txn_reads.load();
}

ProcessorCounters Processor::counters() const {
  MutexLock lock(impl_->counters_mu);
  ProcessorCounters c = impl_->counters;
  c.reads = impl_->reads.load(std::memory_order_relaxed);
  c.unfinished = impl_->tracker.in_flight() + impl_->txn_reads.load();
  c.transactions_committed = impl_->txn_commits.load();
  c.transactions_aborted = impl_->txn_aborts.load();
  c.image_decodes = impl_->image_counters.decodes.load(std::memory_order_relaxed);
  c.image_errors = impl_->image_counters.error_total();
  c.image_error_reasons = impl_->image_counters.error_reasons();
  c.group_hits = impl_->group_follower.counters();
  return c;
}

std::string summary(const ProcessorCounters& c) {
  std::string s = std::to_string(c.reads) + " reads, " + std::to_string(c.hits) + " hits (" +
                  std::to_string(c.route_copies) + " also routed to a partner), " +
                  std::to_string(c.suppressed) + " suppressed, " +
                  std::to_string(c.not_applicable) + " not applicable by country rules, " +
                  std::to_string(c.deadletters) + " dead letters";
  if (!c.deadletter_reasons.empty()) {
    s += " (";
    bool first = true;
    for (const auto& [r, n] : c.deadletter_reasons) {
      if (!first) s += ", ";
      first = false;
      s += r + " " + std::to_string(n);
    }
    s += ")";
  }
  if (c.image_decodes) {
    s += "; " + std::to_string(c.image_decodes) + " images decoded, " +
         std::to_string(c.image_errors) + " refused";
    for (const auto& [r, n] : c.image_error_reasons) s += " " + r + "=" + std::to_string(n);
  }
  return s;
}

}  // namespace anpr::app
