// Reference lists as operators manage them (docs/design.md §3, docs/operators.md): validation reports,
// atomic versioned loads (full replace and deltas), delete, rollback and expiry, all compiled into
// the LiveIndex the processor reads.
//
// Contract
// --------
// - Every change (load, delta, delete, rollback, a version from the reflists topic) validates its
//   input first and produces a Report. A change whose rejected rows exceed
//   Policy::max_rejected_percent of its rows is refused: nothing changes, the active version stays.
// - An accepted change becomes a new version of the list (id `seq`, counting up per list) with its
//   checksum, row counts, who made it and when. The metadata of the last Policy::keep_versions
//   versions are kept; with a state folder, so are their entries (for rollback), and everything
//   survives a restart.
// - After a change the registry compiles every active list into one new Snapshot and publishes
//   it with one LiveIndex::publish: a lookup sees either the old or the new version of every list,
//   never a mix. Entries whose valid_until has passed (by the injected clock) are dropped at each
//   build; maintain() rebuilds when some have expired since.
// - Row data never reaches ordinary logs; reports quote files, lines, columns and reasons only.
//
// Persistence (state folder, usually settings.state_dir / "lists"): one folder per list holding
// versions.json (history, written atomically by rename) and, per kept version, vSEQ.csv plus its
// sidecar vSEQ.toml (the version's accepted entries, canonical form).
//
// Thread safety: every public method may be called from any thread. Changes are serialised by a
// mutex (one at a time, in arrival order); views (lists(), show()) do not wait for a change in
// progress and show the state before it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/list_file.h"
#include "match/index.h"
#include "match/rules.h"
#include "match/time.h"

namespace anpr {
class JsonWriter;
}

namespace anpr::lists {

using Clock = std::function<TimestampMs()>;
TimestampMs system_now();

struct Policy {
  double max_rejected_percent = 1.0;  // a change rejecting more of its rows is refused
  std::size_t keep_versions = 5;      // versions whose metadata (and stored entries) are kept
  std::size_t max_reported_rows = 1000;  // rejected rows listed in a report (all are counted)
  // Country policies: a row whose category the owner country does not allow is rejected
  // (category_not_allowed). Owners without a policy (foreign lists) are not checked.
  std::vector<CountryRule> countries;
};

enum class Format { csv, jsonl };
// From a file name's extension (.csv, .jsonl) or a media type (text/csv, application/x-ndjson,
// application/jsonl); nullopt when neither.
std::optional<Format> format_of_name(std::string_view name);
std::string_view to_string(Format f);

// What validating one change found.
struct Report {
  std::string file;      // the name the input was given (file or upload name)
  std::string list_id;   // empty when the metadata could not be read
  std::size_t rows = 0;  // data rows read
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  std::map<std::string, std::size_t> rejected_by_reason;
  std::vector<RowError> rejected_rows;  // the first Policy::max_reported_rows, in line order
  std::optional<LoadError> fatal;       // the metadata or header is unusable: nothing was read
  double threshold_percent = 1.0;
  bool over_threshold = false;
  std::size_t expiring_24h = 0;  // accepted entries whose valid_until falls in the next 24 h
  // Rows accepted only by their registry_exception (docs/operators.md): reason = the issuing
  // rule overridden; the first Policy::max_reported_rows, all counted.
  std::size_t registry_exceptions = 0;
  std::vector<RowError> registry_exception_rows;

  double rejected_percent() const {
    return rows == 0 ? 0.0 : 100.0 * static_cast<double>(rejected) / static_cast<double>(rows);
  }
  // Loadable: no fatal problem and not over the threshold.
  bool ok() const { return !fatal && !over_threshold; }
};
// {"file":..., "list_id":..., "rows":..., "accepted":..., "rejected":..., "rejected_percent":...,
//  "threshold_percent":..., "over_threshold":..., "ok":..., "expiring_24h":...,
//  "rejected_by_reason":{...}, "rejected_rows":[{"line","column","reason","detail"}],
//  "rejected_rows_truncated":bool, "registry_exceptions":N,
//  "registry_exception_rows":[{"file","line","reason","detail"}],
//  "fatal":null|{"file","line","column","message"}}
void write_report_json(JsonWriter& w, const Report& r);
// For a person: one line per rejected row ("file:line: column: reason: detail"), one per row
// accepted by its registry_exception ("file:line: registry_exception: accepted although
// reason: detail"), then a summary.
void write_report_text(std::ostream& out, const Report& r);

// Validates list files offline (`anpr lists validate`): the sidecar, header and every row, with
// the expiry check at `now` and the category check of `policy.countries`.
Report validate_file(const std::filesystem::path& file, const Policy& policy, TimestampMs now);

// The same, keeping what was read: the accepted entries (unless fatal), the sidecar's text and
// the checksum a load of these files would give (`anpr lists publish`).
struct FileLoad {
  Report report;
  std::optional<ReferenceList> list;
  std::string sidecar;
  std::string checksum;
};
FileLoad load_file(const std::filesystem::path& file, const Policy& policy, TimestampMs now);

// One version of a list.
struct VersionInfo {
  uint64_t seq = 0;      // 1, 2, ... per list
  std::string kind;      // load | delta | rollback | delete | config | topic
  std::string version;   // shown on hits (the sidecar's `version`, else the checksum)
  std::string checksum;  // 16 hex digits over the version's content
  std::size_t rows = 0, accepted = 0, rejected = 0;  // of the input of this change
  std::size_t entries = 0;                           // entries of the list after the change
  std::size_t added = 0, updated = 0, removed = 0;   // deltas
  std::string who, role;
  TimestampMs at = 0;
  std::string source;        // file or upload name
  uint64_t restored_seq = 0; // rollback: the version restored
  bool stored = false;       // its entries are stored (rollback can return to it)
};
void write_version_json(JsonWriter& w, const VersionInfo& v);

// What the list view shows of one list.
struct ListView {
  std::string id;
  bool active = false;        // has an active version (false after delete)
  std::optional<ListMeta> meta;
  VersionInfo current;        // the latest version (the active one unless deleted)
  std::size_t entries = 0;
  std::size_t expiring_24h = 0;
  std::string window;         // "open", "not_yet" or "ended" (the list's own validity window)
  std::vector<VersionInfo> history;  // newest first, at most keep_versions
};
// The list as JSON; `with_history` adds "versions".
void write_list_json(JsonWriter& w, const ListView& v, bool with_history);

struct Actor {
  std::string who;
  std::string role;
};

// One full list: the sidecar's TOML text and the rows.
struct ListInput {
  std::string_view sidecar;
  std::string_view rows;
  Format format = Format::csv;
  std::string name;  // for messages: the rows' file or upload name
};

// A delta: rows to add (or replace, when the same plate_country and plate is listed) in the list's
// own format, and rows to remove (only plate and plate_country are read; other columns may be
// present and are ignored).
struct DeltaInput {
  std::string_view add;
  Format add_format = Format::csv;
  std::string add_name = "add";
  std::string_view remove;
  Format remove_format = Format::csv;
  std::string remove_name = "remove";
};

// Why a change was not applied.
enum class ChangeError : uint8_t {
  none,       // applied
  refused,    // over the rejected-rows threshold
  invalid,    // a fatal problem in the input
  not_found,  // no such list
  conflict,   // e.g. no version to roll back to
  mismatch,   // the sidecar's id is not the list addressed
};
// "refused", "invalid", "not_found", "conflict", "mismatch" ("" for none): the words of the audit
// log and of the reflists topic's outcomes.
std::string_view to_string(ChangeError e);

struct ChangeResult {
  ChangeError error = ChangeError::none;
  std::string detail;
  Report report;
  std::optional<VersionInfo> version;  // the new version when applied
  bool applied() const { return error == ChangeError::none; }
};

class Registry {
 public:
  // `state_dir` empty: nothing is stored (no rollback beyond what is in memory, nothing survives
  // a restart). Creates the folder. Throws std::runtime_error when it cannot.
  Registry(LiveIndex& index, Policy policy, std::filesystem::path state_dir,
           Clock clock = system_now);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Restores the active versions stored in the state folder and publishes them. Problems (a
  // damaged file) are reported on `log` and that list is skipped. Returns the lists restored.
  std::size_t restore(std::ostream& log);

  // Adds a list file named in the configuration (lists.files) at start: loaded as a new version
  // (kind "config", no threshold) unless the stored history already holds this file with the
  // same checksum (a restart), in which case the stored active version stays. Rejected rows and
  // fatal problems are reported on `log`; returns false on a fatal problem.
  bool import_config_file(const std::filesystem::path& file, std::ostream& log);

  // Dry run: the report a load of `in` would give. Nothing changes.
  Report validate(const ListInput& in) const;
  // Full replace (or first load) of the list the sidecar names. `expect_id`, when not empty, must
  // be that id (mismatch otherwise).
  ChangeResult load(const ListInput& in, const Actor& who, std::string_view expect_id = {});
  ChangeResult delta(std::string_view id, const DeltaInput& in, const Actor& who);
  ChangeResult remove(std::string_view id, const Actor& who);
  // Back to version `to_seq` (0: the version before the active one); it must still be stored.
  ChangeResult rollback(std::string_view id, uint64_t to_seq, const Actor& who);
  // A version that arrived on the reflists topic (already validated by its publisher): replaces
  // the list without a threshold. `list` empty (nullopt) deletes it.
  ChangeResult apply_published(std::string_view id, std::optional<ReferenceList> list,
                               std::string_view checksum, const Actor& who);

  // Rebuilds when some entry has expired since the last build (expired entries are dropped).
  // Returns whether it rebuilt; never waits for a change in progress (it returns false then).
  bool maintain();

  std::vector<ListView> lists() const;
  std::optional<ListView> show(std::string_view id) const;

  const Policy& policy() const { return policy_; }
  TimestampMs now() const { return clock_(); }

 private:
  struct ListState;
  struct Pending;  // a change being applied: the new list contents and history entry

  Report make_report(const ListLoad& load, std::string_view name) const;
  LoadOptions load_options(CountryCode owner) const;
  // Installs `p` (under change_mu_): stores it, rebuilds and publishes the index, updates the
  // history. Throws std::runtime_error when storing fails (nothing changes then).
  void commit(Pending& p);
  // Builds a snapshot from the active lists, with `replace` (id -> contents, nullptr = deleted)
  // taking the place of the current snapshot's entries of those lists.
  std::unique_ptr<Snapshot> build(
      const std::map<std::string, const ReferenceList*, std::less<>>& replace);
  ReferenceList entries_of(const Snapshot& s, std::string_view id) const;
  void persist_history(const ListState& st) const;
  std::filesystem::path list_dir(std::string_view id) const;
  ListView view_of(const ListState& st, const Snapshot& s, TimestampMs now) const;

  LiveIndex& index_;
  Policy policy_;
  std::filesystem::path dir_;
  Clock clock_;
  std::mutex change_mu_;  // one change at a time
  mutable std::mutex view_mu_;  // guards lists_
  std::map<std::string, std::unique_ptr<ListState>, std::less<>> lists_;
  TimestampMs next_expiry_ = kNoExpiry;  // earliest valid_until in the published snapshot
};

// Writes a list in the canonical form the state folder keeps (CSV with every column; its sidecar
// with the list's metadata and version), both atomically (temporary file, fsync, rename).
void write_list_files(const ReferenceList& list, const std::filesystem::path& csv_path);

}  // namespace anpr::lists
