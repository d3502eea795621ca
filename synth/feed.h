// A synthetic but realistic camera feed, for the demo and the end-to-end benchmark: registered
// cameras in every country of the registry, plates in their country's real shapes (NL sidecodes,
// BE 1-ABC-123, LU AB 1234) written as cameras send them, OCR candidates, OCR noise, and a chosen
// share of listed plates (taken from the index, sometimes misread by one confusable character).
//
// Listed plates come from the index's current version: each read event opens a reader section
// of the LiveIndex for as long as it takes to pick its plate, so a list change (which publishes a
// new snapshot and frees the old one once no reader section can see it) is followed from the
// next read event on, and the feed never holds a snapshot past its lifetime.
//
// Deterministic for a seed and a sequence of index versions. Thread safety: one feed per thread.
#pragma once

#include <cstdint>
#include <string>

#include "synth/plates.h"
#include "ingest/cameras.h"
#include "match/index.h"

namespace anpr::app {

struct FeedOptions {
  double listed_share = 0.01;    // reads whose plate is on a list
  double misread_share = 0.3;    // of those, read with one confusable character changed
  double candidate_share = 0.2;  // reads that carry one OCR candidate
  double broken_share = 0.0;     // reads sent as a broken message (for the dead-letter path)
  uint64_t seed = 42;
};

class SyntheticFeed {
 public:
  // `cameras` and `index` must outlive the feed; `index` may be empty (no listed plates then).
  SyntheticFeed(const CameraRegistry& cameras, const LiveIndex& index, FeedOptions options = {});

  // Writes the next read event's JSON into `json` (cleared first) and its camera id into `key`.
  void next(TimestampMs ts, std::string& json, std::string& key);
  uint64_t produced() const { return seq_; }

 private:
  const CameraRegistry& cameras_;
  const LiveIndex& index_;
  FeedOptions opt_;
  bench::Rng rng_;
  uint64_t seq_ = 0;
};

}  // namespace anpr::app
