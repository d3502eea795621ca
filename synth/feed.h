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
// With a fresh window (FeedOptions::fresh_window_ms, the suppression window), the listed plates
// rotate: the feed sends a listed plate it has not sent within the window when the index has one,
// so the hits it causes are not suppressed (docs/design.md §4) and a demo keeps producing fresh
// hits at its configured rate, as long as the lists hold enough plates (demo_fleet_size()).
//
// Deterministic for a seed and a sequence of index versions. Thread safety: one feed per thread.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "synth/plates.h"
#include "ingest/cameras.h"
#include "match/index.h"

namespace anpr::app {

struct FeedOptions {
  double listed_share = 0.01;    // reads whose plate is on a list
  double misread_share = 0.3;    // of those, read with one confusable character changed
  double candidate_share = 0.2;  // reads that carry one OCR candidate
  double broken_share = 0.0;     // reads sent as a broken message (for the dead-letter path)
  // > 0: prefer listed plates not sent within this many ms (by the reads' ts); 0: any listed
  // plate, at random.
  int64_t fresh_window_ms = 0;
  uint64_t seed = 42;
};

// How many listed plates a feed of `reads_per_s` reads, `listed_share` of them listed, needs so
// that no listed plate is due twice within `window_ms`: the listed reads of one window, and a
// quarter more; at most 1 000 000. 0 when there is no window.
std::size_t demo_fleet_size(double reads_per_s, double listed_share, int64_t window_ms);

// A reference list of `n` synthetic plates (NL 60 %, BE 30 %, LU 10 %, in their current series)
// as CSV rows (plate,plate_country,reference,note), every one a plate its registry issues
// (formats.h, registry_rules.h) and none twice; references "DEMO-FLEET-<i>".
std::string demo_fleet_csv(std::size_t n, uint64_t seed);

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
  // Listed plate ((plate key << country bits) | country) -> ts it was last sent.
  std::unordered_map<uint64_t, TimestampMs> sent_;
};

}  // namespace anpr::app
