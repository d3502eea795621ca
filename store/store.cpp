#include "store/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include "base/hash.h"
#include "store/crc32c.h"

namespace anpr::store {

std::string_view to_string(Kind k) { return k == Kind::passage ? "passage" : "hit"; }

void append_bytes(std::string& out, std::string_view bytes) { out.append(bytes.data(), bytes.size()); }

std::string errno_text(int err) {
  const char* name = ::strerrordesc_np(err) ? ::strerrorname_np(err) : nullptr;
  std::string t = std::strerror(err);
  if (name) t += std::string(" (") + name + ")";
  return t;
}

namespace {
// 8 bytes at a time (ids are 20-60 bytes; a byte-wise hash would cost a multiply per byte).
uint64_t hash_bytes(std::string_view s, uint64_t h) {
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix64(h ^ v) + 0x9e3779b97f4a7c15ULL;
  }
  uint64_t v = n;  // the length of the tail tells "ab" from "ab\0"
  std::memcpy(reinterpret_cast<char*>(&v) + 1, p, n);
  return mix64(h ^ v);
}
}  // namespace

uint64_t id_hash(std::string_view id, std::string_view more) {
  uint64_t h = hash_bytes(id, 0x243f6a8885a308d3ULL);
  if (!more.empty()) h = hash_bytes(more, h ^ 0x2f);
  return h | 1;
}

std::string& RecordBatch::add(Kind kind, CountryCode camera_country, TimestampMs captured,
                              const Plate& plate, uint64_t hash, std::string_view camera_id,
                              uint32_t tag) {
  const std::size_t cam = std::min<std::size_t>(camera_id.size(), 255);
  heads_.push_back(Head{kind, camera_country, captured, plate, hash ? hash : 1, tag,
                        static_cast<uint32_t>(cam), bytes_.size()});
  append_bytes(bytes_, camera_id.substr(0, cam));
  return bytes_;
}

void RecordBatch::add(const Record& r) {
  add(r.kind, r.camera_country, r.captured, r.plate, r.id_hash ? r.id_hash : id_hash(r.id),
      r.camera_id)
      .append(r.json);
}

namespace fs = std::filesystem;

namespace {

// ---- file format (store.h) ----
constexpr uint32_t kFrameMagic = 0x46504e41;  // "ANPF"
constexpr uint32_t kIndexMagic = 0x49504e41;  // "ANPI"
constexpr uint32_t kIndexVersion = 2;  // 2: sorted by canonical key only, stable

// Frame header: magic u32 | records u32 | payload bytes u64 | crc32c of the payload u32 | 0 u32
constexpr std::size_t kFrameHead = 24;
// Record header: canonical plate key u64 | plate key u64 | captured i64 | base i64 |
// deadline i64 | id hash u64 | camera id bytes u8 | payload bytes u32; then camera id, payload
constexpr std::size_t kRecordHead = 53;

struct IndexEntry {
  uint64_t ckey;
  int64_t captured;
  uint64_t offset;  // of the record in the segment file
};
static_assert(sizeof(IndexEntry) == 24);
// Sorts entries by canonical key, keeping the order of equal keys (the order they were written
// in): a least-significant-digit radix sort, 16 bits at a time, skipping digits all entries
// share. Sealing a 64 MiB segment sorts ~500 k entries; std::sort on (key, time, offset) cost
// ~100 ns per record there, this ~10.
void sort_by_key(std::vector<IndexEntry>& v) {
  if (v.size() < 2) return;
  std::vector<IndexEntry> tmp(v.size());
  std::vector<uint32_t> count(1 << 16);
  for (int shift = 0; shift < 64; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    for (const IndexEntry& e : v) ++count[(e.ckey >> shift) & 0xffff];
    if (count[(v[0].ckey >> shift) & 0xffff] == v.size()) continue;  // one digit: nothing to do
    uint32_t sum = 0;
    for (uint32_t& c : count) {
      const uint32_t n = c;
      c = sum;
      sum += n;
    }
    for (const IndexEntry& e : v) tmp[count[(e.ckey >> shift) & 0xffff]++] = e;
    v.swap(tmp);
  }
}

struct IndexHeader {
  uint32_t magic = kIndexMagic, version = kIndexVersion;
  uint64_t count = 0;
  int64_t min_base = 0, max_base = 0, min_deadline = 0, max_deadline = 0;
  uint64_t segment_bytes = 0;  // the segment file's length when it was sealed
};
static_assert(sizeof(IndexHeader) == 56);

template <class T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

[[noreturn]] void fail(const std::string& what, int err) {
  throw IoError("retention store: " + what + ": " + errno_text(err), err);
}

void pwrite_all(int fd, const char* p, std::size_t n, uint64_t off, const fs::path& file) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("cannot write " + file.string(), errno);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<uint64_t>(w);
  }
}

bool pread_all(int fd, char* p, std::size_t n, uint64_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

void sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open " + dir.string(), errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail("cannot sync " + dir.string(), err);
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// One record as read back from a segment.
struct Parsed {
  uint64_t ckey, plate_key, id_hash;
  TimestampMs captured, base, deadline;
  std::string_view camera_id, json;
  std::size_t size;  // bytes of the record
};
bool parse_record(const char* p, std::size_t avail, Parsed& r) {
  if (avail < kRecordHead) return false;
  r.ckey = get<uint64_t>(p);
  r.plate_key = get<uint64_t>(p + 8);
  r.captured = get<int64_t>(p + 16);
  r.base = get<int64_t>(p + 24);
  r.deadline = get<int64_t>(p + 32);
  r.id_hash = get<uint64_t>(p + 40);
  const std::size_t cam = static_cast<unsigned char>(p[48]);
  const std::size_t json = get<uint32_t>(p + 49);
  if (avail - kRecordHead < cam || avail - kRecordHead - cam < json) return false;
  r.camera_id = std::string_view(p + kRecordHead, cam);
  r.json = std::string_view(p + kRecordHead + cam, json);
  r.size = kRecordHead + cam + json;
  return true;
}

// Appends one record (the layout above parse_record).
void put_record(std::string& out, uint64_t ckey, uint64_t plate_key, TimestampMs captured,
                TimestampMs base, TimestampMs deadline, uint64_t id_hash, std::string_view cam,
                std::string_view payload) {
  char head[kRecordHead];
  const int64_t c = captured, b = base, dl = deadline;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  std::memcpy(head, &ckey, 8);
  std::memcpy(head + 8, &plate_key, 8);
  std::memcpy(head + 16, &c, 8);
  std::memcpy(head + 24, &b, 8);
  std::memcpy(head + 32, &dl, 8);
  std::memcpy(head + 40, &id_hash, 8);
  head[48] = static_cast<char>(cam.size());
  std::memcpy(head + 49, &n, 4);
  out.append(head, kRecordHead);
  append_bytes(out, cam);
  append_bytes(out, payload);
}

// Fills in the header of a frame whose payload follows its first kFrameHead bytes.
void finish_frame(std::string& frame, uint32_t records) {
  const uint64_t bytes = frame.size() - kFrameHead;
  const uint32_t crc = crc32c(frame.data() + kFrameHead, bytes);
  char* h = frame.data();
  std::memcpy(h, &kFrameMagic, 4);
  std::memcpy(h + 4, &records, 4);
  std::memcpy(h + 8, &bytes, 8);
  std::memcpy(h + 16, &crc, 4);
  std::memset(h + 20, 0, 4);
}

// Calls f(parsed, offset) for every record of the whole frames in `data` (a segment file read
// from offset 0); returns the length of the valid prefix.
template <class F>
uint64_t scan_frames(std::string_view data, F&& f) {
  uint64_t pos = 0;
  while (data.size() - pos >= kFrameHead) {
    const char* h = data.data() + pos;
    if (get<uint32_t>(h) != kFrameMagic) break;
    const uint32_t records = get<uint32_t>(h + 4);
    const uint64_t bytes = get<uint64_t>(h + 8);
    if (bytes > data.size() - pos - kFrameHead) break;
    if (crc32c(h + kFrameHead, bytes) != get<uint32_t>(h + 16)) break;
    // Check the whole frame before handing out any of it.
    uint64_t at = 0;
    uint32_t n = 0;
    Parsed r;
    while (at < bytes && parse_record(h + kFrameHead + at, bytes - at, r)) {
      at += r.size;
      ++n;
    }
    if (at != bytes || n != records) break;
    for (at = 0; at < bytes; at += r.size) {
      parse_record(h + kFrameHead + at, bytes - at, r);
      f(r, pos + kFrameHead + at);
    }
    pos += kFrameHead + bytes;
  }
  return pos;
}

std::string read_file(const fs::path& p, uint64_t limit) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) fail("cannot open " + p.string(), errno);
  struct stat st{};
  if (::fstat(fd.fd, &st) != 0) fail("cannot read " + p.string(), errno);
  std::string data(std::min<uint64_t>(limit, static_cast<uint64_t>(st.st_size)), '\0');
  if (!pread_all(fd.fd, data.data(), data.size(), 0)) fail("cannot read " + p.string(), EIO);
  return data;
}

}  // namespace

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
  std::vector<IndexEntry> entries;  // active only
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
  std::mutex write_mu;              // one writer at a time; purges take it to close segments
  mutable std::shared_mutex mu;     // buckets, segments, policies, stats
  std::vector<std::unique_ptr<Bucket>> buckets;
  std::vector<RetentionPolicy> policies;
  std::map<CountryCode, CountryStats> stats;
  uint64_t next_seq = 1;
  // Buffers of earlier writes (guarded by write_mu): a group commit's frames are megabytes, and
  // allocating them anew each time costs page faults on every write.
  std::vector<std::string> spare_frames;
  std::vector<std::vector<IndexEntry>> spare_entries;
  int lock_fd = -1;  // holds an flock on <dir>/LOCK while the store is open
  AlignedBuffer direct_buffer;  // guarded by write_mu

  // Appends a frame at the end of the segment's whole frames (not O_APPEND: a write that failed
  // half-way is overwritten by the next one). The caller holds write_mu.
  void append(Segment& s, const std::string& frame) {
    if (options.fault)
      if (const int e = options.fault("write")) fail("cannot write " + s.data.string(), e);
    if (s.direct) {
      const uint64_t start = s.bytes - s.tail.size();
      const std::size_t len = s.tail.size() + frame.size();
      const std::size_t padded = (len + kDirectBlock - 1) / kDirectBlock * kDirectBlock;
      direct_buffer.reserve(padded);
      char* b = direct_buffer.data;
      std::memcpy(b, s.tail.data(), s.tail.size());
      std::memcpy(b + s.tail.size(), frame.data(), frame.size());
      std::memset(b + len, 0, padded - len);
      const ssize_t w = ::pwrite(s.fd, b, padded, static_cast<off_t>(start));
      if (w == static_cast<ssize_t>(padded)) return;
      if (w >= 0) {
        // A short write: the file system took part of it (a full disk does that). Writing the
        // rest names the real cause; a frame written in part is cut off by the caller.
        const ssize_t r = ::pwrite(s.fd, b + w, padded - static_cast<std::size_t>(w),
                                   static_cast<off_t>(start) + w);
        fail("cannot write " + s.data.string(), r < 0 && errno != EINVAL ? errno : ENOSPC);
      }
      if (errno != EINVAL) fail("cannot write " + s.data.string(), errno);
      // The file system refuses direct writes after all: on through the page cache.
      const int fd = ::open(s.data.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) fail("cannot open " + s.data.string(), errno);
      ::close(s.fd);
      s.fd = fd;
      s.direct = false;
      s.tail.clear();
    }
    pwrite_all(s.fd, frame.data(), frame.size(), s.bytes, s.data);
  }

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

  Bucket* bucket_for(Kind k, CountryCode c, int64_t day, int days_now) {
    Bucket* below = nullptr;
    Bucket* above = nullptr;
    for (auto& b : buckets) {
      if (b->kind != k || b->country != c) continue;
      if (b->start_day <= day && day < b->end_day) return b.get();
      if (b->end_day <= day && (!below || b->end_day > below->end_day)) below = b.get();
      if (b->start_day > day && (!above || b->start_day < above->start_day)) above = b.get();
    }
    const int64_t width = std::max<int64_t>(1, days_now / 28);
    int64_t start = day - ((day % width) + width) % width;
    int64_t end = start + width;
    if (below) start = std::max(start, below->end_day);
    if (above) end = std::min(end, above->start_day);
    auto b = std::make_unique<Bucket>();
    b->kind = k;
    b->country = c;
    b->start_day = start;
    b->end_day = end;
    b->name = Bucket::make_name(k, c, start, end - start);
    buckets.push_back(std::move(b));
    ++stats[c].buckets;
    return buckets.back().get();
  }

  // The bucket's active segment, a new one when it has none or it is full.
  Segment* active_segment(Bucket& b, std::size_t adding) {
    if (b.active && b.active->fd >= 0 && b.active->bytes + adding <= options.segment_bytes)
      return b.active;
    auto s = std::make_unique<Segment>();
    s->seq = next_seq++;
    s->data = path_of(b, s->seq, ".seg");
    s->index = path_of(b, s->seq, ".idx");
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    s->fd = options.direct_io ? ::open(s->data.c_str(), flags | O_DIRECT, 0640) : -1;
    s->direct = s->fd >= 0;
    if (!s->direct) {
      // Only a file system that refuses direct I/O (EINVAL) gets a second try through the page
      // cache; any other error (ENOSPC, EROFS, EACCES) is the answer.
      if (options.direct_io && errno != EINVAL) fail("cannot create " + s->data.string(), errno);
      std::error_code ec;  // the refusal may have created the file
      if (options.direct_io) std::filesystem::remove(s->data, ec);
      s->fd = ::open(s->data.c_str(), flags, 0640);
    }
    if (s->fd < 0) fail("cannot create " + s->data.string(), errno);
    // Room for the index of a full segment of small records, reserved (not touched) at once:
    // growing it by copying costs more than the records' own encoding.
    s->entries.reserve(static_cast<std::size_t>(options.segment_bytes / 96));
    sync_dir(options.dir);
    b.active = s.get();
    b.segments.push_back(std::move(s));
    return b.active;
  }

  // Writes the sorted index of a segment whose records are all in `entries` and makes it sealed.
  // The index goes to a temporary file, synced, then renamed: a crash leaves either no index
  // (the segment is read again at the next start) or a whole one.
  void write_index(const Segment& s, std::vector<IndexEntry>& entries) const {
    sort_by_key(entries);
    IndexHeader h;
    h.count = entries.size();
    h.min_base = s.min_base;
    h.max_base = s.max_base;
    h.min_deadline = s.min_deadline;
    h.max_deadline = s.max_deadline;
    h.segment_bytes = s.bytes;
    fs::path tmp = s.index;
    tmp += ".tmp";
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (fd.fd < 0) fail("cannot create " + tmp.string(), errno);
    pwrite_all(fd.fd, reinterpret_cast<const char*>(&h), sizeof h, 0, tmp);
    pwrite_all(fd.fd, reinterpret_cast<const char*>(entries.data()),
               entries.size() * sizeof(IndexEntry), sizeof h, tmp);
    if (::fdatasync(fd.fd) != 0) fail("cannot sync " + tmp.string(), errno);
    if (::rename(tmp.c_str(), s.index.c_str()) != 0) fail("cannot rename " + tmp.string(), errno);
    sync_dir(options.dir);
  }

  // Seals the active segment of `b` (the caller holds write_mu; mu is taken here to publish).
  void seal(Bucket& b, Segment& s) {
    if (s.sealed) return;
    if (s.fd >= 0 && s.direct && ::ftruncate(s.fd, static_cast<off_t>(s.bytes)) != 0)
      fail("cannot cut " + s.data.string(), errno);
    if (s.fd >= 0 && options.sync && ::fdatasync(s.fd) != 0)
      fail("cannot sync " + s.data.string(), errno);
    std::vector<IndexEntry> entries = s.entries;  // searches go on reading the unsorted ones
    write_index(s, entries);
    std::unique_lock lock(mu);
    s.sealed = true;
    s.close();
    s.entries.clear();
    s.entries.shrink_to_fit();
    if (b.active == &s) b.active = nullptr;
  }

  void remove_files(const Segment& s) {
    std::error_code ec;
    fs::remove(s.index, ec);
    fs::remove(s.data, ec);
  }

  void refresh_oldest() {
    for (auto& [c, st] : stats) st.oldest_base = 0;
    for (auto& b : buckets)
      for (auto& s : b->segments) {
        if (s->count == 0) continue;
        CountryStats& st = stats[b->country];
        if (st.oldest_base == 0 || s->min_base < st.oldest_base) st.oldest_base = s->min_base;
      }
  }

  // Opening: every segment file found, with its index, or read again and sealed when it has none
  // (the store stopped or crashed while it was active). A torn last frame is cut off.
  void load(const fs::path& dir) {
    std::map<std::string, Bucket*> by_name;
    std::vector<std::pair<Bucket*, fs::path>> files;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string n = e.path().filename().string();
      if (n.ends_with(".idx.tmp")) {
        std::error_code ec;
        fs::remove(e.path(), ec);
        continue;
      }
      if (n == "CURRENT" || n.starts_with("MANIFEST-"))
        throw std::runtime_error("retention store: " + dir.string() +
                                 " holds a store of an earlier format; move it away (its records "
                                 "are not read) and start again");
      if (!n.ends_with(".seg")) continue;
      const std::string stem = n.substr(0, n.size() - 4);
      const std::size_t dot = stem.rfind('.');
      if (dot == std::string::npos) continue;
      auto probe = std::make_unique<Bucket>();
      if (!Bucket::parse_name(stem.substr(0, dot), *probe)) continue;
      auto& slot = by_name[probe->name];
      if (!slot) {
        ++stats[probe->country].buckets;
        buckets.push_back(std::move(probe));
        slot = buckets.back().get();
      }
      files.emplace_back(slot, e.path());
    }
    for (auto& [b, file] : files) {
      auto s = std::make_unique<Segment>();
      const std::string stem = file.stem().string();
      try {
        s->seq = std::stoull(stem.substr(stem.rfind('.') + 1));
      } catch (const std::exception&) {
        continue;
      }
      next_seq = std::max(next_seq, s->seq + 1);
      s->data = file;
      s->index = file;
      s->index.replace_extension(".idx");
      std::error_code ec;
      const uint64_t size = fs::file_size(file, ec);
      IndexHeader h;
      bool indexed = false;
      if (fs::exists(s->index, ec)) {
        Fd fd(::open(s->index.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st{};
        indexed = fd.fd >= 0 && ::fstat(fd.fd, &st) == 0 &&
                  pread_all(fd.fd, reinterpret_cast<char*>(&h), sizeof h, 0) &&
                  h.magic == kIndexMagic && h.version == kIndexVersion &&
                  static_cast<uint64_t>(st.st_size) >= sizeof h &&
                  (static_cast<uint64_t>(st.st_size) - sizeof h) % sizeof(IndexEntry) == 0 &&
                  h.count == (static_cast<uint64_t>(st.st_size) - sizeof h) / sizeof(IndexEntry) &&
                  h.segment_bytes <= size;
      }
      if (indexed) {
        s->sealed = true;
        s->bytes = h.segment_bytes;
        s->count = h.count;
        if (h.count) {
          s->min_base = h.min_base;
          s->max_base = h.max_base;
          s->min_deadline = h.min_deadline;
          s->max_deadline = h.max_deadline;
        }
      } else {
        const std::string data = read_file(file, UINT64_MAX);
        std::vector<IndexEntry> entries;
        s->bytes = scan_frames(data, [&](const Parsed& r, uint64_t off) {
          entries.push_back({r.ckey, r.captured, off});
          s->add(r.base, r.deadline);
        });
        s->count = entries.size();
        if (s->bytes < data.size()) {  // a torn frame at the end: cut it off
          if (::truncate(file.c_str(), static_cast<off_t>(s->bytes)) != 0)
            fail("cannot repair " + file.string(), errno);
        }
        write_index(*s, entries);
        s->sealed = true;
      }
      b->segments.push_back(std::move(s));
    }
    for (auto& b : buckets)
      std::sort(b->segments.begin(), b->segments.end(),
                [](const auto& x, const auto& y) { return x->seq < y->seq; });
  }

  // Index entries of `s` for canonical key `ckey` captured in [from, to].
  void candidates(const Segment& s, uint64_t ckey, TimestampMs from, TimestampMs to,
                  std::vector<uint64_t>& out) const {
    if (!s.sealed) {
      for (const IndexEntry& e : s.entries)
        if (e.ckey == ckey && e.captured >= from && e.captured <= to) out.push_back(e.offset);
      return;
    }
    Fd fd(::open(s.index.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.fd < 0) fail("cannot open " + s.index.string(), errno);
    uint64_t lo = 0, hi = s.count;  // the first entry of the key
    IndexEntry e;
    const auto at = [&](uint64_t i) {
      if (!pread_all(fd.fd, reinterpret_cast<char*>(&e), sizeof e,
                     sizeof(IndexHeader) + i * sizeof(IndexEntry)))
        fail("cannot read " + s.index.string(), EIO);
      return e;
    };
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo) / 2;
      if (at(mid).ckey < ckey) lo = mid + 1;
      else hi = mid;
    }
    // A plate's entries in one segment: a handful, in the order written.
    for (uint64_t i = lo; i < s.count; ++i) {
      at(i);
      if (e.ckey != ckey) break;
      if (e.captured < from || e.captured > to) continue;
      out.push_back(e.offset);
    }
  }
};

Store::Store(Options options, std::vector<RetentionPolicy> policies)
    : impl_(std::make_unique<Impl>()) {
  clock_ = options.clock ? options.clock : [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  Impl& d = *impl_;
  d.options = std::move(options);
  d.options.segment_bytes = std::max<uint64_t>(d.options.segment_bytes, 4096);
  d.policies = std::move(policies);
  std::error_code ec;
  fs::create_directories(d.options.dir, ec);
  if (ec || !fs::is_directory(d.options.dir))
    throw std::runtime_error("retention store: cannot create " + d.options.dir.string() + ": " +
                             (ec ? ec.message() : std::string("not a folder")));
  // One process per store: a second one would delete the files the first is writing.
  const fs::path lock = d.options.dir / "LOCK";
  // Read-only: an flock needs no more, and an idle store then holds no file open for writing
  // (so the file system can be remounted read-only under it; the writes then fail with EROFS).
  d.lock_fd = ::open(lock.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0640);
  if (d.lock_fd < 0) fail("cannot open " + lock.string(), errno);
  if (::flock(d.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      throw std::runtime_error("retention store: " + d.options.dir.string() +
                               " is in use by another process (each instance needs a state.dir "
                               "of its own)");
    fail("cannot lock " + lock.string(), errno);
  }
  try {
    d.load(d.options.dir);
  } catch (const fs::filesystem_error& e) {
    throw std::runtime_error("retention store: cannot open " + d.options.dir.string() + ": " +
                             e.what());
  }
  d.refresh_oldest();
}

Store::~Store() = default;

void Store::set_policies(std::vector<RetentionPolicy> policies) {
  std::unique_lock lock(impl_->mu);
  impl_->policies = std::move(policies);
}

int Store::days_for(Kind k, CountryCode c) const { return impl_->days(k, c); }

std::size_t Store::write(std::span<const Record> records) {
  RecordBatch rb;
  for (const Record& r : records) rb.add(r);
  const RecordBatch* one[1] = {&rb};
  return write(std::span<const RecordBatch* const>(one));
}

std::size_t Store::write(std::span<const RecordBatch* const> batches) {
  Impl& d = *impl_;
  const TimestampMs now = clock_();
  std::lock_guard writing(d.write_mu);
  // What goes to each segment: one frame.
  struct Pending {
    Bucket* bucket;
    Segment* segment;
    std::string frame;
    std::vector<IndexEntry> entries;
    Bounds bounds;  // of the frame's records
  };
  std::vector<Pending> pending;
  struct Count {
    CountryCode country;
    uint64_t stored = 0, skipped = 0;
  };
  std::vector<Count> counts;
  const auto count_for = [&](CountryCode c) -> Count& {
    for (Count& x : counts)
      if (x.country == c) return x;
    return counts.emplace_back(Count{c});
  };
  std::size_t written = 0;
  {
    // Picks (or creates) buckets and segments; the encoding needs no lock but is short.
    std::unique_lock lock(d.mu);
    std::size_t last = SIZE_MAX;  // index in `pending`
    for (const RecordBatch* rb : batches)
      for (std::size_t i = 0; i < rb->size(); ++i) {
        const RecordBatch::Head& r = rb->head(i);
        const int days = d.days(r.kind, r.camera_country);
        const TimestampMs base = std::min(r.captured, now);
        const TimestampMs deadline = base + days * kMsPerDay;
        if (days <= 0 || deadline <= now || !r.plate.size()) {
          ++count_for(r.camera_country).skipped;
          continue;
        }
        const int64_t day = floor_div(base, kMsPerDay);
        const auto holds = [&](const Bucket* b) {
          return b->kind == r.kind && b->country == r.camera_country && b->start_day <= day &&
                 day < b->end_day;
        };
        // Most records go where the one before went, or to a bucket this write already uses.
        if (last == SIZE_MAX || !holds(pending[last].bucket)) {
          last = SIZE_MAX;
          for (std::size_t j = 0; last == SIZE_MAX && j < pending.size(); ++j)
            if (holds(pending[j].bucket)) last = j;
          if (last == SIZE_MAX) {
            Bucket* b = d.bucket_for(r.kind, r.camera_country, day, days);
            Pending& n = pending.emplace_back();
            n.bucket = b;
            n.segment = d.active_segment(*b, 0);
            if (!d.spare_frames.empty()) {
              n.frame = std::move(d.spare_frames.back());
              d.spare_frames.pop_back();
            }
            if (!d.spare_entries.empty()) {
              n.entries = std::move(d.spare_entries.back());
              d.spare_entries.pop_back();
            }
            n.frame.assign(kFrameHead, '\0');
            n.entries.clear();
            last = pending.size() - 1;
          }
        }
        Pending* p = &pending[last];
        const uint64_t ckey = d.options.confusion.canonical_key(r.plate);
        p->entries.push_back({ckey, r.captured, p->segment->bytes + p->frame.size()});
        put_record(p->frame, ckey, r.plate.key(), r.captured, base, deadline, r.id_hash,
                   rb->camera_id(i), rb->payload(i));
        p->bounds.add(base, deadline);
        ++count_for(r.camera_country).stored;
        ++written;
      }
  }
  if (written == 0) {
    std::unique_lock lock(d.mu);
    for (const Count& c : counts) d.stats[c.country].skipped += c.skipped;
    return 0;
  }
  // Appends and syncs outside the lock: searches go on meanwhile. Only writers append, one at a
  // time, and a purge takes write_mu before it closes or removes an active segment.
  try {
    for (Pending& p : pending) {
      finish_frame(p.frame, static_cast<uint32_t>(p.entries.size()));
      d.append(*p.segment, p.frame);
    }
    for (Pending& p : pending) {
      if (d.options.fault)
        if (const int e = d.options.fault("sync")) fail("cannot sync " + p.segment->data.string(), e);
      if (d.options.sync && ::fdatasync(p.segment->fd) != 0)
        fail("cannot sync " + p.segment->data.string(), errno);
    }
  } catch (...) {
    // Nothing of the call is kept: every segment is cut back to its whole frames (the next
    // write would overwrite the rest anyway). If even that fails, the segment takes no more
    // writes, and its end is checked frame by frame when the store is next opened.
    std::unique_lock lock(d.mu);
    for (Pending& p : pending)
      if (::ftruncate(p.segment->fd, static_cast<off_t>(p.segment->bytes)) != 0 &&
          p.bucket->active == p.segment)
        p.bucket->active = nullptr;
    throw;
  }
  std::vector<std::pair<Bucket*, Segment*>> full;
  {
    std::unique_lock lock(d.mu);
    const auto t = std::chrono::steady_clock::now();
    for (Pending& p : pending) {
      Segment& s = *p.segment;
      s.advance_tail(p.frame);
      s.bytes += p.frame.size();
      s.count += p.entries.size();
      s.add(p.bounds);
      s.entries.insert(s.entries.end(), p.entries.begin(), p.entries.end());
      s.last_write = t;
      CountryStats& cs = d.stats[p.bucket->country];
      if (cs.oldest_base == 0 || p.bounds.min_base < cs.oldest_base)
        cs.oldest_base = p.bounds.min_base;
      if (s.bytes >= d.options.segment_bytes) full.emplace_back(p.bucket, &s);
    }
    for (const Count& c : counts) {
      d.stats[c.country].stored += c.stored;
      d.stats[c.country].skipped += c.skipped;
    }
  }
  for (Pending& p : pending) {
    if (p.frame.capacity() <= (64u << 20)) d.spare_frames.push_back(std::move(p.frame));
    if (p.entries.capacity() <= (1u << 20)) d.spare_entries.push_back(std::move(p.entries));
  }
  // Full segments are sealed now: the next write to their bucket opens a new one.
  for (auto [b, s] : full) d.seal(*b, *s);
  return written;
}

SearchResult Store::search(const Query& q) const {
  const Impl& d = *impl_;
  const TimestampMs now = clock_();
  SearchResult out;
  if (!q.plate.size() || q.limit == 0) return out;
  std::shared_lock lock(d.mu);
  std::vector<const Bucket*> order;
  for (const auto& b : d.buckets) {
    if (b->kind == Kind::passage ? !q.passages : !q.hits) continue;
    if (!q.countries.empty() &&
        std::find(q.countries.begin(), q.countries.end(), b->country) == q.countries.end())
      continue;
    if (q.to < b->start_ms()) continue;  // captured >= base >= start
    order.push_back(b.get());
  }
  std::sort(order.begin(), order.end(), [](const Bucket* a, const Bucket* b) {
    return a->start_day != b->start_day ? a->start_day < b->start_day : a->name < b->name;
  });
  const uint64_t ckey = d.options.confusion.canonical_key(q.plate);
  const uint64_t want = q.plate.key();
  const TimestampMs from = std::max<TimestampMs>(q.from, INT64_MIN + 1);
  struct Hit {
    Found f;
    uint64_t id_hash;
    uint64_t order;  // later writes first among copies of one record
  };
  std::vector<uint64_t> offsets;
  std::string buf;
  for (const Bucket* b : order) {
    std::vector<Hit> hits;
    for (std::size_t si = 0; si < b->segments.size(); ++si) {
      const Segment& s = *b->segments[si];
      if (d.latest(*b, s) <= now) continue;  // nothing in it is readable any more
      offsets.clear();
      d.candidates(s, ckey, from, q.to, offsets);
      if (offsets.empty()) continue;
      Fd fd(::open(s.data.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.fd < 0) fail("cannot open " + s.data.string(), errno);
      for (uint64_t off : offsets) {
        buf.resize(kRecordHead);
        if (!pread_all(fd.fd, buf.data(), kRecordHead, off)) continue;
        const std::size_t rest =
            static_cast<unsigned char>(buf[48]) + std::size_t{get<uint32_t>(buf.data() + 49)};
        if (off > s.bytes || s.bytes - off < kRecordHead || rest > s.bytes - off - kRecordHead)
          continue;  // a damaged index
        buf.resize(kRecordHead + rest);
        if (!pread_all(fd.fd, buf.data() + kRecordHead, rest, off + kRecordHead)) continue;
        Parsed r;
        if (!parse_record(buf.data(), buf.size(), r)) continue;
        if (!q.ocr_tolerant && r.plate_key != want) continue;
        const TimestampMs deadline = d.effective(*b, r.base, r.deadline);
        if (now >= deadline) continue;
        if (!q.cameras.empty() &&
            std::find(q.cameras.begin(), q.cameras.end(), r.camera_id) == q.cameras.end())
          continue;
        hits.push_back(Hit{Found{b->kind, b->country, r.captured, deadline,
                                 std::string(r.camera_id), Plate::from_key(r.plate_key),
                                 std::string(r.json)},
                           r.id_hash, (uint64_t{si} << 40) | off});
      }
    }
    // In capture time order; a record written twice (a read consumed again after a restart) once.
    std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
      if (a.f.captured != b.f.captured) return a.f.captured < b.f.captured;
      if (a.id_hash != b.id_hash) return a.id_hash < b.id_hash;
      return a.order > b.order;
    });
    for (std::size_t i = 0; i < hits.size(); ++i) {
      if (i > 0 && hits[i].f.captured == hits[i - 1].f.captured &&
          hits[i].id_hash == hits[i - 1].id_hash)
        continue;
      if (out.records.size() >= q.limit) {
        out.truncated = true;
        return out;
      }
      out.records.push_back(std::move(hits[i].f));
    }
  }
  return out;
}

PurgeResult Store::purge() {
  Impl& d = *impl_;
  std::lock_guard purging(d.purge_mu);
  const TimestampMs now = clock_();
  PurgeResult r;
  std::vector<std::pair<Bucket*, Segment*>> partial;
  {
    std::lock_guard writing(d.write_mu);
    std::vector<std::pair<Bucket*, Segment*>> to_seal;
    {
      std::unique_lock lock(d.mu);
      const auto idle = std::chrono::steady_clock::now() - std::chrono::minutes(10);
      for (auto& bp : d.buckets) {
        Bucket& b = *bp;
        std::erase_if(b.segments, [&](std::unique_ptr<Segment>& s) {
          if (d.latest(b, *s) > now) return false;
          // Every record is past its deadline (or there are none): the files go.
          if (b.active == s.get()) b.active = nullptr;
          s->close();
          d.remove_files(*s);
          d.stats[b.country].purged += s->count;
          r.records_deleted += s->count;
          return true;
        });
        for (auto& s : b.segments) {
          if (d.earliest(b, *s) <= now) partial.emplace_back(&b, s.get());
          // An active segment nobody wrote to for a while: sealed, so it holds no memory.
          if (!s->sealed && (d.earliest(b, *s) <= now || s->last_write < idle))
            to_seal.emplace_back(&b, s.get());
        }
      }
      for (auto& bp : d.buckets)
        if (bp->segments.empty()) {
          ++r.buckets_dropped;
          if (d.stats[bp->country].buckets) --d.stats[bp->country].buckets;
        }
      std::erase_if(d.buckets, [](const std::unique_ptr<Bucket>& b) { return b->segments.empty(); });
      d.refresh_oldest();
    }
    if (r.records_deleted) sync_dir(d.options.dir);
    for (auto [b, s] : to_seal) d.seal(*b, *s);
  }
  // Partly expired segments: their records within the deadline are copied to a new sealed
  // segment, which replaces them; then the old files go. Writers and searches go on meanwhile
  // (only purges remove segments, and this is the only purge).
  for (const auto& [bucket, segment] : partial) {
    Bucket* const b = bucket;  // (lambdas cannot capture structured bindings in clang 14)
    Segment* const s = segment;
    const std::string data = read_file(s->data, s->bytes);
    auto fresh = std::make_unique<Segment>();
    {
      std::unique_lock lock(d.mu);
      fresh->seq = d.next_seq++;
    }
    fresh->data = d.path_of(*b, fresh->seq, ".seg");
    fresh->index = d.path_of(*b, fresh->seq, ".idx");
    std::string frame(kFrameHead, '\0');
    std::vector<IndexEntry> entries;
    uint64_t dropped = 0;
    {
      std::shared_lock lock(d.mu);  // the policies
      scan_frames(data, [&](const Parsed& rec, uint64_t) {
        if (d.effective(*b, rec.base, rec.deadline) <= now) {
          ++dropped;
          return;
        }
        entries.push_back({rec.ckey, rec.captured, frame.size()});
        put_record(frame, rec.ckey, rec.plate_key, rec.captured, rec.base, rec.deadline,
                   rec.id_hash, rec.camera_id, rec.json);
        fresh->add(rec.base, rec.deadline);
      });
    }
    fresh->count = entries.size();
    if (!entries.empty()) {
      finish_frame(frame, static_cast<uint32_t>(entries.size()));
      Fd fd(::open(fresh->data.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
      if (fd.fd < 0) fail("cannot create " + fresh->data.string(), errno);
      pwrite_all(fd.fd, frame.data(), frame.size(), 0, fresh->data);
      if (::fdatasync(fd.fd) != 0) fail("cannot sync " + fresh->data.string(), errno);
      fresh->bytes = frame.size();
      d.write_index(*fresh, entries);
      fresh->sealed = true;
    }
    {
      std::unique_lock lock(d.mu);
      auto it = std::find_if(b->segments.begin(), b->segments.end(),
                             [&](const auto& x) { return x.get() == s; });
      d.remove_files(*s);
      if (fresh->count) *it = std::move(fresh);
      else b->segments.erase(it);
      d.stats[b->country].purged += dropped;
      r.records_deleted += dropped;
      if (b->segments.empty() && b->active == nullptr) {
        // Dropped below together with the others at the next purge, or now:
        for (auto bi = d.buckets.begin(); bi != d.buckets.end(); ++bi)
          if (bi->get() == b) {
            if (d.stats[b->country].buckets) --d.stats[b->country].buckets;
            ++r.buckets_dropped;
            d.buckets.erase(bi);
            break;
          }
      }
      d.refresh_oldest();
    }
    sync_dir(d.options.dir);
  }
  return r;
}

std::map<CountryCode, CountryStats> Store::stats() const {
  std::shared_lock lock(impl_->mu);
  return impl_->stats;
}

}  // namespace anpr::store
