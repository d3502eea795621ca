// Offline matching, shared by `anpr match` and the offline demo: load list files into a
// snapshot, then match a JSON Lines stream of camera reads against it.
#pragma once

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "export/hit_json.h"
#include "lists/registry.h"
#include "ingest/read_event.h"
#include "match/index.h"

namespace anpr::app {

struct ListSetLoad {
  std::unique_ptr<Snapshot> snapshot;
  std::size_t rows = 0;
  std::size_t rejected_rows = 0;
  bool unreadable = false;  // some list file or sidecar could not be read (exit 2)
  bool refused = false;     // some list was refused as a whole, as `anpr lists validate` would
                            // refuse it: unusable sidecar or header, or over the threshold (exit 1)
  bool ok() const { return !unreadable && !refused; }
};

// What a hit carries of a decoded read: its fields, with `ts_text` as its timestamp and its
// normalised plates and their raw text. Camera registry fields are left empty.
HitReadView hit_view(const ReadEvent& ev, std::string_view ts_text, std::span<const Plate> plates,
                     std::span<const std::string_view> raw);

// The list policy of the offline commands (`anpr lists validate`, `anpr match`): the country
// policies and lists.max_rejected_percent of `config_file` when given (else the defaults), the
// threshold overridden by `max_rejected_percent` when >= 0. Throws config::ConfigError.
lists::Policy offline_list_policy(const std::string& config_file, double max_rejected_percent);

// Whether a list file named on the command line and its sidecar can be read; when not, prints
// "<cmd>: FILE: cannot read ...: reason" to `err` (exit 2 by the conventions). `cmd` is e.g.
// "anpr match".
bool list_files_readable(const std::filesystem::path& file, std::string_view cmd,
                         std::ostream& err);

// Loads every list with the checks and threshold of `anpr lists validate` (lists::load_file with
// `policy`), except that entries are not judged expired by today's date: the index compares
// valid_until with each read's capture time. A list with rejected rows gets its validation report
// on `err`, and a file that cannot be read its message; with either, or with a list refused as a
// whole, the result is not ok() and its snapshot must not be used. `cmd` prefixes messages.
ListSetLoad load_lists(const std::vector<std::filesystem::path>& files, const lists::Policy& policy,
                       std::string_view cmd, std::ostream& err);

struct MatchCounts {
  std::size_t reads = 0;
  std::size_t rejected = 0;
  std::size_t hits = 0;
  std::size_t skipped_candidates = 0;
};

// Called for each hit: the read's view, the snapshot and the hit.
using HitSink = std::function<void(const HitReadView&, const Snapshot&, const IndexHit&)>;

// Reads JSON Lines from `in` (`source` names it in messages), matches each read, calls `sink`
// for every hit and prints each rejected read to `err` as "<cmd>: source:line: reason: detail"
// (`cmd` is e.g. "anpr match").
MatchCounts match_stream(const Snapshot& s, std::istream& in, const std::string& source,
                         const HitSink& sink, std::string_view cmd, std::ostream& err);

}  // namespace anpr::app
