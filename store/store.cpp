#include "store/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include "base/private_files.h"
#include "store/files.h"
#include "store/format.h"
#include "store/segments.h"

namespace anpr::store {

using namespace detail;

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
  make_private_dir(d.options.dir, ec);
  if (ec || !fs::is_directory(d.options.dir))
    throw std::runtime_error("retention store: cannot create " + d.options.dir.string() + ": " +
                             (ec ? ec.message() : std::string("not a folder")));
  // One process per store: a second one would delete the files the first is writing.
  const fs::path lock = d.options.dir / "LOCK";
  // Read-only: an flock needs no more, and an idle store then holds no file open for writing
  // (so the file system can be remounted read-only under it; the writes then fail with EROFS).
  d.lock_fd = ::open(lock.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, kPrivateFileMode);
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
  MutexLock writing(d.write_mu);
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
      // By capture time from `from` on (trusted <= captured); `to` is checked on the trusted time
      // below, as a capture time in the future may be later than `to`.
      d.candidates(s, ckey, from, INT64_MAX, offsets);
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
        // The range is of the trusted time: a capture time too far ahead of the writing counts
        // as the writing (r.base, then), so it cannot move a record into another legal tier.
        const TimestampMs trusted =
            r.captured - r.base > d.options.max_clock_skew_ms ? r.base : r.captured;
        if (trusted < q.from || trusted > q.to) continue;
        if (!q.cameras.empty() &&
            std::find(q.cameras.begin(), q.cameras.end(), r.camera_id) == q.cameras.end())
          continue;
        hits.push_back(Hit{Found{b->kind, b->country, r.captured, deadline,
                                 std::string(r.camera_id), Plate::from_key(r.plate_key),
                                 std::string(r.json)},
                           r.id_hash, (uint64_t{si} << 40) | off});
        hits.back().f.trusted = trusted;
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
    MutexLock writing(d.write_mu);
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
      Fd fd(::open(fresh->data.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode));
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
