// The retention store (DESIGN §2, §6; docs/retention.md): kept passages and hits of camera reads,
// on RocksDB, deleted on time, searchable by plate only.
//
// Layout. One column family per (kind, camera country, time bucket): `p.NL.20412.1` holds the NL
// passages whose retention base day (days since 1970-01-01, UTC) is in [20412, 20412 + 1).
// Buckets are 1/28 of the retention period wide (at least one day), so a country has about 30
// live buckets per kind and an expired bucket is dropped whole (its files are deleted at once).
// Inside a bucket, a record's key is
//   canonical plate key (8 bytes, big-endian; confusion classes folded, match/confusion.h)
//   capture time (8, big-endian) | hash of the record id (8)
// so a plate search, exact or OCR-tolerant, is one prefix scan per bucket, in time order, and
// writing the same record again (a read consumed twice after a restart) overwrites it.
//
// Deadlines. A record's retention base is its capture time, but never later than when it was
// written (a camera with a clock in the future gains nothing). Its deadline is base + the days
// of the policy in force when it was written; a policy in force now that is shorter (or no longer
// keeps that kind) shortens it: effective deadline = min(stored deadline, base + days now).
// A record is readable only while now < effective deadline, whether or not a purge ran. purge()
// drops every bucket whose records are all past their effective deadline, deletes the expired
// records of the others, and compacts those so the data is gone from disk, not merely hidden.
//
// Durability: write() is one WriteBatch with the WAL synced (fdatasync) before it returns.
//
// Thread safety: every method may be called from any thread. write() and purge() exclude each
// other and searches for the short time they change buckets; searches run concurrently.
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

#include "config/settings.h"
#include "match/confusion.h"
#include "match/time.h"
#include "match/types.h"

namespace anpr::store {

enum class Kind : char { passage = 'p', hit = 'h' };
std::string_view to_string(Kind k);

constexpr TimestampMs kDayMs = 86'400'000;

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

struct Query {
  Plate plate;
  bool ocr_tolerant = false;  // also plates that differ only within confusion classes
  TimestampMs from = 0;       // capture time range, inclusive
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
};

struct SearchResult {
  std::vector<Found> records;  // in (bucket, capture time) order
  bool truncated = false;      // more matched than the limit
};

struct CountryStats {
  uint64_t stored = 0;           // records written since start
  uint64_t skipped = 0;          // records not written: the policy keeps nothing or they expired
  uint64_t purged = 0;           // records deleted by purges since start (dropped buckets by
                                 // RocksDB's estimate)
  TimestampMs oldest_base = 0;   // retention base of the oldest record held; 0 = none
  uint64_t buckets = 0;          // live column families
};

struct PurgeResult {
  uint64_t buckets_dropped = 0;
  uint64_t records_deleted = 0;  // records of partly expired buckets plus the estimate of dropped
};

struct Options {
  std::filesystem::path dir;                   // created if missing
  std::function<TimestampMs()> clock;          // default: the system clock
  ConfusionClasses confusion;                  // for OCR-tolerant search keys
  bool sync = true;                            // fdatasync the WAL on every write
};

class Store {
 public:
  // Opens or creates the store. Throws std::runtime_error naming the folder and RocksDB's reason.
  Store(Options options, std::vector<config::RetentionPolicy> policies);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Replaces the policies in force (a configuration change). Shorter periods apply at once on
  // read and to existing data at the next purge; longer ones never extend a stored deadline.
  void set_policies(std::vector<config::RetentionPolicy> policies);

  // Writes the records that their country's policy keeps and that are not already past their
  // deadline, durably (one synced batch). Returns how many were written. Throws
  // std::runtime_error when the write fails (nothing of the batch is then written).
  std::size_t write(std::span<const Record> records);

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
