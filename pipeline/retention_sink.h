// What the stream processor keeps of each read (docs/design.md §2, §6; docs/retention.md). Sink "store":
// no-hit passages and hits, by the policy of the camera's country, written to the retention
// store by a group-commit writer; the store is purged on schedule. Sink "kafka": passages only,
// which the processor produces to the camera country's passages topic (hits are on the hits
// topic already); the topics' own retention deletes them (`anpr topics plan`).
//
// The decode + match stage encodes a read's records (encode_passage / encode_hit: pure, any
// thread); the publish stage hands a batch's records over with submit() and holds each read's
// offset until the callback says they are durable.
//
// Thread safety: encode_* from any thread; submit() from one thread at a time (the publish
// stage); store() is thread-safe (store/store.h).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "config/settings.h"
#include "metrics/metrics.h"
#include "ingest/cameras.h"
#include "ingest/read_event.h"
#include "store/store.h"
#include "store/writer.h"

namespace anpr::app {

class RetentionSink {
 public:
  // The sink of `settings` (store: state.dir/retention), or null when retention.sink is "none" or
  // no policy keeps anything. Throws std::runtime_error when the store cannot be opened.
  static std::unique_ptr<RetentionSink> open(const config::Settings& settings);
  RetentionSink(const config::Settings& settings, store::Options options);
  explicit RetentionSink(const config::Settings& settings);  // sink "kafka"

  bool to_kafka() const { return !store_; }
  ~RetentionSink();

  // Appends the passage record of a read that produced no hit, if its camera country keeps them;
  // true if it did. `tag` is kept with the record (RecordBatch::Head::tag).
  bool encode_passage(const ReadEvent& ev, const Camera& cam, const Plate& plate,
                      store::RecordBatch& out, uint32_t tag = 0) const;
  // Appends the record of one hit (its JSON as published, without images unless the policy
  // keeps them), if the camera country keeps hits; true if it did.
  // `id` identifies the hit (the same read and list entry give the same id).
  bool encode_hit(const ReadEvent& ev, const Camera& cam, const Plate& plate, std::string_view id,
                  std::string_view hit_json, store::RecordBatch& out, uint32_t tag = 0) const;

  // An empty batch to fill (sink "store": with reused buffers).
  store::RecordBatch take() { return writer_ ? writer_->take() : store::RecordBatch{}; }
  void submit(store::RecordBatch records, std::function<void()> durable) {
    writer_->submit(std::move(records), std::move(durable));
  }

  store::Store* store() { return store_.get(); }
  // The writer's state (sink "store"); a healthy default for sink "kafka".
  store::Writer::Health health() const { return writer_ ? writer_->health() : store::Writer::Health{}; }

  // A found record as JSON: hits are stored as published; passages in the store have a compact
  // form (encoded by encode_passage), rendered here with the fields kept in the record.
  static std::string render(const store::Found& f);

 private:
  const config::Settings& settings_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::Writer> writer_;
  std::unique_ptr<store::Purger> purger_;
  metrics::Collector collector_;  // the store's figures on /metrics
};

}  // namespace anpr::app
