// The per-read work of the stream processor as a pure function over bytes (docs/design.md §3, §4): decode
// the camera read event, look its camera up, normalise the plate and its candidates, match them
// against an index snapshot, apply the camera country's rules (match/rules.h), attach the hit's
// images, and encode the hits (with their partner route) and the dead-letter records. No Kafka
// call, no clock but the one passed in, no state between batches: `anpr run` calls it from its
// parallel pipeline stage, `anpr match --cameras` on a file, and tests without a broker, so the
// offline and the streaming answers cannot drift apart.
//
// What stays with the caller: consuming and producing, suppression of repeats (it depends on what
// was published before), delivery reports, offsets and what the retention store keeps.
//
// Thread safety: match() may run on any number of threads at once, each with its own Scratch.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/hit_images.h"
#include "config/settings.h"
#include "ingest/cameras.h"
#include "ingest/read_event.h"
#include "match/index.h"
#include "match/rules.h"

namespace anpr::app {

// One message the per-read work produced: a hit (to the hits topic, and to `route_topic` when
// not empty) or a dead letter.
struct ReadOutput {
  bool deadletter = false;
  std::string payload;      // the hit or dead letter as JSON; "" once suppressed by the caller
  std::string list_id;      // hits: for suppression and counters
  bool covert = false;      // hits: on a covert list, left out of the metrics
  uint64_t entry_key = 0;   // hits: the listed plate and its country, for suppression
  TimestampMs ts = 0;       // hits: capture time, for suppression
  std::string route_topic;  // hits: also publish here ("" = no route copy)
  std::string reason;       // dead letters: for counters
  Category category{};      // hits: for counters
  MatchKind kind{};         // hits: for counters
};

// One consumed read: its bytes and where they came from, then what the work made of it. Reused
// from batch to batch (its vectors keep their capacity).
struct ReadSlot {
  // In.
  std::string_view payload;
  std::string_view key;  // the message key (the camera id, by convention)
  int32_t partition = 0;
  int64_t offset = 0;
  // Out.
  std::vector<ReadOutput> outs;
  std::size_t used = 0;  // outs[0 .. used) are this read's outputs (the rest keep capacity)
  uint32_t dropped_by_rules = 0;  // index matches the camera country's rules did not apply
  ReadEvent ev;
  std::vector<Plate> plates;          // the plate, then the usable candidates
  std::vector<std::string_view> raw;  // their raw text (views into ev)
  const Camera* cam = nullptr;        // null: the read was dead-lettered
  CountryCode country;                // the camera's country, when the camera is known

  ReadOutput& next_out();
  std::span<const ReadOutput> outputs() const { return {outs.data(), used}; }
};

class ReadMatcher {
 public:
  // `settings` (topics, pipeline limits, country rules and retention policies, images) and
  // `cameras` must outlive the matcher.
  ReadMatcher(const config::Settings& settings, const CameraRegistry& cameras,
              ImageCounters& image_counters);

  // Per-thread scratch: the decoder and the buffers of one batch.
  class Scratch {
   public:
    explicit Scratch(const ReadMatcher& m);
    HitImages& images() { return images_; }
    std::string& text() { return detail_; }  // a buffer the caller may use between calls

   private:
    friend class ReadMatcher;
    ReadEventDecoder decoder_;
    DecodeError err_;
    std::vector<MatchQuery> queries_;
    std::vector<ReadSlot*> slots_;    // the batch's slots
    std::vector<ReadSlot*> matched_;  // the slot of each query
    std::vector<IndexHit> hits_;
    std::vector<uint32_t> ends_;
    std::string ts_text_;
    std::string detail_;
    HitImages images_;
  };

  // Fills every slot's outputs from its payload, matching the batch at once (match_batch overlaps
  // the index's memory accesses across reads). `now` stamps dead letters.
  void match(std::span<ReadSlot> reads, Scratch& scratch, const Snapshot& snap,
             TimestampMs now) const;
  // The same for slots that live in the caller's own records.
  void match(std::span<ReadSlot* const> reads, Scratch& scratch, const Snapshot& snap,
             TimestampMs now) const;

  // Whether the retention policy of `camera_country` keeps images.
  bool keeps_images(CountryCode camera_country) const;

 private:
  void deadletter(ReadSlot& r, std::string_view reason, std::string_view detail,
                  TimestampMs now) const;
  void decode(ReadSlot& r, Scratch& s, TimestampMs now) const;
  void encode_hits(ReadSlot& r, Scratch& s, const Snapshot& snap,
                   std::span<const IndexHit> hits) const;

  const config::Settings& settings_;
  const CameraRegistry& cameras_;
  ImageCounters& image_counters_;
  MatchRules rules_;
};

}  // namespace anpr::app
