// The retention store in memory: segments and buckets, and the store's state (Store::Impl)
// with what creates, appends to, seals and loads segment files and looks up their index entries
// (segments.cpp). Private to store/.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "store/files.h"
#include "store/format.h"
#include "store/store.h"

namespace anpr::store {

// ---- in memory ----

// Active segments are written with O_DIRECT where the file system allows it: the records skip
// the page cache (whose per-page work was about 60 % of the store thread's time: copying into
// fresh pages, then writing them back at the fdatasync). Direct writes are whole, aligned
// blocks: each rewrites the last partial block of the frames before it, zero-padded.
constexpr std::size_t kDirectBlock = 4096;

// A block-aligned buffer for direct writes.
struct AlignedBuffer {
  char* data = nullptr;
  std::size_t capacity = 0;
  void reserve(std::size_t n) {
    if (n <= capacity) return;
    std::free(data);
    capacity = (n + (1 << 20) - 1) / (1 << 20) * (1 << 20);
    void* p = nullptr;
    if (::posix_memalign(&p, kDirectBlock, capacity) != 0) {
      data = nullptr;
      capacity = 0;
      throw std::bad_alloc();
    }
    data = static_cast<char*>(p);
  }
  ~AlignedBuffer() { std::free(data); }
};

// Bounds of the retention bases and stored deadlines of some records.
struct Bounds {
  TimestampMs min_base = INT64_MAX, max_base = INT64_MIN;
  TimestampMs min_deadline = INT64_MAX, max_deadline = INT64_MIN;

  void add(TimestampMs base, TimestampMs deadline) {
    min_base = std::min(min_base, base);
    max_base = std::max(max_base, base);
    min_deadline = std::min(min_deadline, deadline);
    max_deadline = std::max(max_deadline, deadline);
  }
  void add(const Bounds& o) {
    add(o.min_base, o.min_deadline);
    add(o.max_base, o.max_deadline);
  }
};

// One file of records of a bucket. The active segment of a bucket takes its writes (appended
// frames) and keeps its index in memory; a sealed one has its sorted index file beside it.
struct Segment : Bounds {
  uint64_t seq = 0;
  fs::path data, index;
  bool sealed = false;
  int fd = -1;             // active: open for appending
  bool direct = false;     // fd bypasses the page cache (O_DIRECT): writes are whole blocks
  std::string tail;        // direct: the whole frames' bytes in their last, partial block
  uint64_t bytes = 0;      // length of the whole frames
  uint64_t count = 0;      // records
  std::vector<detail::IndexEntry> entries;  // active only
  std::chrono::steady_clock::time_point last_write{};

  // Closes an active segment, cut back to its whole frames (direct writes leave zeros after
  // them up to the end of their last block).
  void close() {
    if (fd < 0) return;
    if (!sealed && direct) (void)::ftruncate(fd, static_cast<off_t>(bytes));
    ::close(fd);
    fd = -1;
  }
  ~Segment() { close(); }
  // The frames' last partial block after `frame` is appended (direct writes rewrite it).
  void advance_tail(std::string_view frame) {
    if (!direct) return;
    const std::size_t keep = (bytes + frame.size()) % kDirectBlock;
    if (keep <= frame.size()) tail.assign(frame.substr(frame.size() - keep));
    else tail = tail.substr(tail.size() - (keep - frame.size())) + std::string(frame);
  }
};

// One kind, one camera country, base days [start_day, end_day).
struct Store::Bucket {
  std::string name;
  Kind kind;
  CountryCode country;
  int64_t start_day, end_day;
  std::vector<std::unique_ptr<Segment>> segments;
  Segment* active = nullptr;

  TimestampMs start_ms() const { return start_day * kMsPerDay; }
  static std::string make_name(Kind k, CountryCode c, int64_t start, int64_t width) {
    return std::string(1, static_cast<char>(k)) + "." + c.str() + "." + std::to_string(start) +
           "." + std::to_string(width);
  }
  // Parses "p.NL.20412.1".
  static bool parse_name(const std::string& n, Bucket& b) {
    if (n.size() < 8 || (n[0] != 'p' && n[0] != 'h') || n[1] != '.' || n[4] != '.') return false;
    // The store's own names: any two upper-case letters, so that a segment is found (and
    // purged) whatever code it was written under.
    if (n[2] < 'A' || n[2] > 'Z' || n[3] < 'A' || n[3] > 'Z') return false;
    const CountryCode c = CountryCode::from_letters(n[2], n[3]);
    const std::size_t dot = n.find('.', 5);
    if (dot == std::string::npos) return false;
    try {
      std::size_t used = 0;
      b.start_day = std::stoll(n.substr(5, dot - 5), &used);
      if (used != dot - 5) return false;
      const std::string w = n.substr(dot + 1);
      b.end_day = b.start_day + std::stoll(w, &used);
      if (used != w.size()) return false;
    } catch (const std::exception&) {
      return false;
    }
    b.name = n;
    b.kind = static_cast<Kind>(n[0]);
    b.country = c;
    return b.end_day > b.start_day;
  }
};

struct Store::Impl {
  Options options;
  // Lock order: purge_mu, write_mu, mu.
  std::mutex purge_mu;              // one purge at a time
  Mutex write_mu;                   // one writer at a time; purges take it to close segments
  mutable std::shared_mutex mu;     // buckets, segments, policies, stats
  std::vector<std::unique_ptr<Bucket>> buckets;
  std::vector<RetentionPolicy> policies;
  std::map<CountryCode, CountryStats> stats;
  uint64_t next_seq = 1;
  // Buffers of earlier writes: a group commit's frames are megabytes, and allocating them anew
  // each time costs page faults on every write.
  std::vector<std::string> spare_frames GUARDED_BY(write_mu);
  std::vector<std::vector<detail::IndexEntry>> spare_entries GUARDED_BY(write_mu);
  int lock_fd = -1;  // holds an flock on <dir>/LOCK while the store is open
  AlignedBuffer direct_buffer GUARDED_BY(write_mu);

  // Appends a frame at the end of the segment's whole frames (not O_APPEND: a write that failed
  // half-way is overwritten by the next one).
  void append(Segment& s, const std::string& frame) REQUIRES(write_mu);

  ~Impl() {
    buckets.clear();  // closes the segments first
    if (lock_fd >= 0) ::close(lock_fd);
  }

  const RetentionPolicy* policy(CountryCode c) const {
    for (const auto& p : policies)
      if (p.country == c) return &p;
    return nullptr;
  }
  int days(Kind k, CountryCode c) const {
    const RetentionPolicy* p = policy(c);
    if (!p) return 0;
    if (k == Kind::passage) return p->keep_passages ? p->passage_days : 0;
    return p->hit_days;
  }
  TimestampMs effective(const Bucket& b, TimestampMs base, TimestampMs stored) const {
    return std::min(stored, base + days(b.kind, b.country) * kMsPerDay);
  }
  // Every record of the segment is past its effective deadline from then on.
  TimestampMs latest(const Bucket& b, const Segment& s) const {
    if (s.count == 0) return INT64_MIN;
    return std::min(s.max_deadline, s.max_base + days(b.kind, b.country) * kMsPerDay);
  }
  TimestampMs earliest(const Bucket& b, const Segment& s) const {
    if (s.count == 0) return INT64_MAX;
    return std::min(s.min_deadline, s.min_base + days(b.kind, b.country) * kMsPerDay);
  }

  fs::path path_of(const Bucket& b, uint64_t seq, const char* ext) const {
    char num[24];
    std::snprintf(num, sizeof num, "%016llu", static_cast<unsigned long long>(seq));
    return options.dir / (b.name + "." + num + ext);
  }

  Bucket* bucket_for(Kind k, CountryCode c, int64_t day, int days_now);

  // The bucket's active segment, a new one when it has none or it is full.
  Segment* active_segment(Bucket& b, std::size_t adding);

  // Writes the sorted index of a segment whose records are all in `entries` and makes it sealed.
  // The index goes to a temporary file, synced, then renamed: a crash leaves either no index
  // (the segment is read again at the next start) or a whole one.
  void write_index(const Segment& s, std::vector<detail::IndexEntry>& entries) const;

  // Seals the active segment of `b` (mu is taken here to publish).
  void seal(Bucket& b, Segment& s) REQUIRES(write_mu);

  void remove_files(const Segment& s);

  void refresh_oldest();

  // Opening: every segment file found, with its index, or read again and sealed when it has none
  // (the store stopped or crashed while it was active). A torn last frame is cut off.
  void load(const fs::path& dir);

  // Index entries of `s` for canonical key `ckey` captured in [from, to].
  void candidates(const Segment& s, uint64_t ckey, TimestampMs from, TimestampMs to,
                  std::vector<uint64_t>& out) const;
};

}  // namespace anpr::store
