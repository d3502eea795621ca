// Offline matching, shared by `anpr match` and the offline demo: load list files into a
// snapshot, then match a JSON Lines stream of camera reads against it.
#pragma once

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "export/hit_json.h"
#include "ingest/read_event.h"
#include "match/index.h"

namespace anpr::app {

struct ListSetLoad {
  std::unique_ptr<Snapshot> snapshot;
  std::size_t rows = 0;
  std::size_t rejected_rows = 0;
  bool fatal = false;  // some list could not be loaded at all
};

// What a hit carries of a decoded read: its fields, with `ts_text` as its timestamp and its
// normalised plates and their raw text. Camera registry fields are left empty.
HitReadView hit_view(const ReadEvent& ev, std::string_view ts_text, std::span<const Plate> plates,
                     std::span<const std::string_view> raw);

// Loads every list; prints each rejected row and each fatal problem to `err` with file and line.
ListSetLoad load_lists(const std::vector<std::filesystem::path>& files, std::ostream& err);

struct MatchCounts {
  std::size_t reads = 0;
  std::size_t rejected = 0;
  std::size_t hits = 0;
  std::size_t skipped_candidates = 0;
};

// Called for each hit: the read's view, the snapshot and the hit.
using HitSink = std::function<void(const HitReadView&, const Snapshot&, const IndexHit&)>;

// Reads JSON Lines from `in` (`source` names it in messages), matches each read, calls `sink`
// for every hit and prints each rejected read to `err` as "source:line: reason: detail".
MatchCounts match_stream(const Snapshot& s, std::istream& in, const std::string& source,
                         const HitSink& sink, std::ostream& err);

}  // namespace anpr::app
