// A synthetic but realistic camera feed, for the demo and the end-to-end benchmark: registered
// cameras in every country of the registry, plates in their country's real shapes (NL sidecodes,
// BE 1-ABC-123, LU AB 1234) written as cameras send them, OCR candidates, OCR noise, and a chosen
// share of listed plates (taken from the index, sometimes misread by one confusable character).
//
// Deterministic for a seed. Thread safety: one feed per thread.
#pragma once

#include <cstdint>
#include <string>

#include "bench/bench_data.h"
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
  // `cameras` and `index` must outlive the feed; `index` may be empty.
  SyntheticFeed(const CameraRegistry& cameras, const Snapshot& index, FeedOptions options = {});

  // Writes the next read event's JSON into `json` (cleared first) and its camera id into `key`.
  void next(TimestampMs ts, std::string& json, std::string& key);
  uint64_t produced() const { return seq_; }

 private:
  const CameraRegistry& cameras_;
  const Snapshot& index_;
  FeedOptions opt_;
  bench::Rng rng_;
  uint64_t seq_ = 0;
};

}  // namespace anpr::app
