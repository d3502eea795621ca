#include "pipeline/processor.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <thread>
#include <vector>

#include "base/mutex.h"
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
        suppressor(make_suppressor(s)) {}

  static Suppressor make_suppressor(const config::Settings& s) {
    std::vector<std::pair<std::string, int64_t>> per;
    for (const auto& [id, ms] : s.suppression.per_list_ms) per.emplace_back(id, ms);
    return Suppressor(s.suppression.window_ms, std::move(per));
  }

  std::unique_ptr<kafka::Producer> make_producer() {
    return std::make_unique<kafka::Producer>(
        processor_producer_properties(settings.kafka),
        [this](rd_kafka_resp_err_t err, void* opaque, const rd_kafka_message_t& m) {
          on_delivery(err, opaque, m);
        });
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
  void replace_producer_if_failed() {
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
    rd_kafka_conf_t* conf = kafka::make_conf(processor_consumer_properties(settings.kafka));
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
    log::warn("run",
              std::string(what) + " " + topic + " (" + rd_kafka_err2str(err) +
                  "); sending again (" + std::to_string(trouble_since_log) +
                  " such messages since the last report); the reads' offsets wait until they are "
                  "delivered",
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

  // Stores the offsets the tracker says are safe.
  void store_ready() {
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
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!self->closing.load()) {
      std::size_t busy = 0;
      for (int i = 0; i < parts->cnt; ++i) busy += self->tracker.in_flight(parts->elems[i].partition);
      if (busy == 0 || Clock::now() > deadline) break;
      if (self->store_failing() && self->producer_outstanding() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    self->store_ready();
    // A commit refused here (a broker that refuses commits during a rebalance, as the embedded
    // one does) only means the next owner reads some finished reads again: say so.
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
    // Wait for the first message (this also serves rebalance callbacks), then take what else is
    // already fetched in one call.
    while (got == 0 && !stop.load(std::memory_order_relaxed)) {
      regulate();
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 100);
      if (!m) continue;
      b.raw[got++] = m;
      const ssize_t more =
          rd_kafka_consume_batch_queue(consumer_queue.get(), 0, b.raw.data() + 1, max - 1);
      if (more > 0) got += static_cast<std::size_t>(more);
    }
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
    return b.n > 0;
  }

  // ---- stage 2: decode and match ----

  // Stage 2 for a whole batch: the per-read work (pipeline/read_matcher.h), then the records the
  // retention store keeps of each read.
  void process(Batch& b, ReadMatcher::Scratch& w, const Snapshot& snap) {
    b.keep.clear();
    matcher.match(std::span<ReadSlot* const>(b.slots), w, snap, wall_now_ms());
    if (retention)
      for (std::size_t i = 0; i < b.n; ++i)
        if (b.items[i].cam) encode_keep(b.items[i], w, b.keep, static_cast<uint32_t>(i));
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
        send(settings.topics.hits, key, o.payload, it.ticket, o.ts);
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
    counters.deadletters += dls;
    counters.not_applicable += dropped;
    for (std::string_view r : dl_reasons) ++counters.deadletter_reasons[std::string(r)];
    count_outputs(b, by_country, n_countries, other_countries, hit_outs, suppressed_outs);
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
    for (const Output* o : hit_outs)
      ++counters.hits_by_list[{o->list_id, std::string(to_string(o->category)),
                               std::string(to_string(o->kind))}];
    for (const Output* o : suppressed_outs) ++counters.suppressed_by_list[o->list_id];
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
    start_clients();
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
                publish(*b);
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

ProcessorCounters Processor::counters() const {
  MutexLock lock(impl_->counters_mu);
  ProcessorCounters c = impl_->counters;
  c.reads = impl_->reads.load(std::memory_order_relaxed);
  c.unfinished = impl_->tracker.in_flight();
  c.image_decodes = impl_->image_counters.decodes.load(std::memory_order_relaxed);
  c.image_errors = impl_->image_counters.error_total();
  c.image_error_reasons = impl_->image_counters.error_reasons();
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
