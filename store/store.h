// The retention store (docs/design.md §2, §6; docs/retention.md): kept passages and hits of camera reads,
// in files of our own format under one folder, deleted on time, searchable by plate only.
//
// Buckets. Records are grouped by (kind, camera country, time bucket): bucket `p.NL.20412.1`
// holds the NL passages whose retention base day (days since 1970-01-01, UTC) is in
// [20412, 20412 + 1). Buckets are 1/28 of the retention period wide (at least one day), so a
// country has about 30 live buckets per kind, and an expired bucket's files are deleted whole.
//
// Segments. A bucket's records are in segment files `<bucket>.<sequence>.seg`, appended to in
// frames (one per synced write: a header with the record count, length and CRC-32C, then the
// records). A bucket's active segment takes its writes until it holds `segment_bytes`; then it is
// sealed: its index, the (canonical plate key, capture time, offset) of every record sorted, is
// written beside it (`.idx`, to a temporary file, synced, then renamed). A plate search, exact or
// OCR-tolerant (canonical keys fold confusion classes, match/confusion.h), is a binary search in
// each sealed index and a look through the active segments' in-memory index. Writing is an append
// per touched bucket and an fdatasync: no per-record sorting or compaction, which an LSM tree
// (RocksDB, used before) pays on every record kept; docs/retention.md has the figures.
//
// Crashes. On opening, a segment without a whole index is read again frame by frame, a torn
// last frame (its CRC does not match) is cut off, and the segment is sealed. Only whole, synced
// frames were reported written, so nothing reported durable is lost. A record written twice (a
// read consumed again after a restart) is returned once. Files are in the machine's byte order.
//
// Deadlines. A record's retention base is its capture time, but never later than when it was
// written (a camera with a clock in the future gains nothing). Search ranges use the capture
// time unless it is later than the writing by more than Options::max_clock_skew_ms (Found::trusted). Its deadline is base + the days
// of the policy in force when it was written; a policy in force now that is shorter (or no longer
// keeps that kind) shortens it: effective deadline = min(stored deadline, base + days now).
// A record is readable only while now < effective deadline, whether or not a purge ran. purge()
// deletes every segment whose records are all past their effective deadline, and rewrites the
// others that hold any such record without them, so the data is gone from disk, not merely hidden.
//
// Durability: write() returns once its frames are written and fdatasync'ed (Options::sync).
//
// Thread safety: every method may be called from any thread. Writes run one at a time; searches
// run concurrently with each other and with writes (they wait only while a write publishes);
// a purge waits for the write in progress while it deletes whole segments, then rewrites partly
// expired ones beside writes and searches.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "store/policy.h"
#include "match/confusion.h"
#include "match/time.h"
#include "match/types.h"

namespace anpr::store {

enum class Kind : char { passage = 'p', hit = 'h' };
std::string_view to_string(Kind k);

// Deprecated spelling of kMsPerDay (match/time.h), the one day constant; kept only while
// tests/retention_store_test.cpp still says kDayMs.
inline constexpr TimestampMs kDayMs = kMsPerDay;

// One record to keep.
struct Record {
  Kind kind = Kind::passage;
  CountryCode camera_country;  // the country whose law applies
  TimestampMs captured = 0;    // the read's capture time
  Plate plate;                 // the read's normalised plate
  std::string camera_id;
  std::string id;              // unique per record: passages camera_id/event_id, hits hit_id
  uint64_t id_hash = 0;        // used instead of hashing `id` when non-zero
  std::string json;            // the record's payload, returned by searches as it is (the
                               // processor writes JSON objects or its compact passage form)
};

// out += bytes. Out of line on purpose: where the compiler can bound a copy's length (a field
// cut to 255 bytes) it inlines the copy as `rep movsq`, which costs ~30 ns for a dozen bytes;
// glibc's memcpy takes a few.
void append_bytes(std::string& out, std::string_view bytes);

// Hash of a record's id (Record::id_hash when it is 0), or of an id in two parts: never 0.
// The same id gives the same hash in every process, so a record written again is known.
uint64_t id_hash(std::string_view id, std::string_view more = {});

// Records to keep, packed one after the other: the pipeline fills one per batch of reads
// without an allocation per record, and the writer hands emptied ones back (their buffers keep
// their capacity).
class RecordBatch {
 public:
  struct Head {
    Kind kind;
    CountryCode camera_country;
    TimestampMs captured;
    Plate plate;
    uint64_t id_hash;      // non-zero
    uint32_t tag;          // the caller's (the processor: the read's place in its batch)
    uint32_t camera_bytes;
    std::size_t at;        // camera id, then payload, from here in bytes()
  };

  // Starts a record; its payload is what is appended to the returned string until the next
  // add() (the processor writes JSON objects or its compact passage form).
  std::string& add(Kind kind, CountryCode camera_country, TimestampMs captured, const Plate& plate,
                   uint64_t id_hash, std::string_view camera_id, uint32_t tag = 0);
  // Appends a Record as it is (its id hashed when id_hash is 0).
  void add(const Record& r);

  std::size_t size() const { return heads_.size(); }
  bool empty() const { return heads_.empty(); }
  const Head& head(std::size_t i) const { return heads_[i]; }
  std::string_view camera_id(std::size_t i) const {
    return std::string_view(bytes_).substr(heads_[i].at, heads_[i].camera_bytes);
  }
  std::string_view payload(std::size_t i) const {
    const std::size_t from = heads_[i].at + heads_[i].camera_bytes;
    const std::size_t to = i + 1 < heads_.size() ? heads_[i + 1].at : bytes_.size();
    return std::string_view(bytes_).substr(from, to - from);
  }
  void clear() {
    heads_.clear();
    bytes_.clear();
  }

 private:
  std::vector<Head> heads_;
  std::string bytes_;
};

struct Query {
  Plate plate;
  bool ocr_tolerant = false;  // also plates that differ only within confusion classes
  // Time range, inclusive, of the trusted capture time (Found::trusted): a camera clock in the
  // future cannot move a record into a range (a legal tier) its real age is not in.
  TimestampMs from = 0;
  TimestampMs to = INT64_MAX;
  std::vector<std::string> cameras;      // empty: every camera
  std::vector<CountryCode> countries;    // camera countries; empty: every country
  bool passages = true, hits = true;
  std::size_t limit = 1000;
};

struct Found {
  Kind kind;
  CountryCode camera_country;
  TimestampMs captured;
  TimestampMs deadline;  // effective deadline: not served from then on
  std::string camera_id;
  Plate plate;
  std::string json;
  // The capture time the store trusts (docs/retention.md, "Trusted time"): `captured`, unless it
  // is later than when the record was written by more than Options::max_clock_skew_ms; then
  // that moment. A search's time range uses it; the deadline counts from the earlier of
  // `captured` and the moment of writing.
  TimestampMs trusted = 0;
};

struct SearchResult {
  std::vector<Found> records;  // in (bucket, capture time) order
  bool truncated = false;      // more matched than the limit
};

struct CountryStats {
  uint64_t stored = 0;           // records written since start
  uint64_t skipped = 0;          // records not written: the policy keeps nothing or they expired
  uint64_t purged = 0;           // records deleted by purges since start
  TimestampMs oldest_base = 0;   // retention base of the oldest record held; 0 = none
  uint64_t buckets = 0;          // live time buckets
};

struct PurgeResult {
  uint64_t buckets_dropped = 0;
  uint64_t records_deleted = 0;
};

// A system call of the store failed; what() names the file, the cause and the errno's name
// ("No space left on device (ENOSPC)"), and code() is the errno, so callers can tell a full disk
// (ENOSPC, EDQUOT) or a read-only one (EROFS) from a failing one (EIO).
class IoError : public std::runtime_error {
 public:
  IoError(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// "No space left on device (ENOSPC)": the errno's text and its name.
std::string errno_text(int err);

struct Options {
  std::filesystem::path dir;                   // created if missing
  std::function<TimestampMs()> clock;          // default: the system clock
  ConfusionClasses confusion;                  // for OCR-tolerant search keys
  bool sync = true;                            // fdatasync every write
  // A capture time later than when its record was written by more than this is not trusted:
  // search ranges use the time of writing instead (Found::trusted; pipeline.max_clock_skew_ms).
  TimestampMs max_clock_skew_ms = 300'000;
  uint64_t segment_bytes = 64 << 20;           // a segment is sealed once it holds this much
  bool direct_io = true;                       // write active segments with O_DIRECT where the
                                               // file system allows it (else through the cache)
  // Tests: called before each segment write ("write") and sync ("sync"); a non-zero errno makes
  // it fail as the system call would (a full or failing disk).
  std::function<int(std::string_view)> fault;
};

class Store {
 public:
  // Opens or creates the store. Throws std::runtime_error naming the folder and the reason.
  Store(Options options, std::vector<RetentionPolicy> policies);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Replaces the policies in force (a configuration change). Shorter periods apply at once on
  // read and to existing data at the next purge; longer ones never extend a stored deadline.
  void set_policies(std::vector<RetentionPolicy> policies);

  // Writes the records that their country's policy keeps and that are not already past their
  // deadline, durably (one synced batch). Returns how many were written. Throws
  // std::runtime_error when the write fails (nothing of the batch is then written).
  std::size_t write(std::span<const Record> records);
  // The same for several batches at once (the group-commit writer's hand-overs).
  std::size_t write(std::span<const RecordBatch* const> batches);

  // Records matching the query that are within their effective deadline now.
  SearchResult search(const Query& q) const;

  PurgeResult purge();

  std::map<CountryCode, CountryStats> stats() const;
  TimestampMs now() const { return clock_(); }

 private:
  struct Bucket;
  struct Impl;
  int days_for(Kind k, CountryCode c) const;  // days in force now; 0 = not kept
  std::unique_ptr<Impl> impl_;
  std::function<TimestampMs()> clock_;
};

}  // namespace anpr::store
