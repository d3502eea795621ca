#include "store/segments.h"

#include "base/private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace anpr::store {

using namespace detail;

void Store::Impl::append(Segment& s, const std::string& frame) {
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

Store::Bucket* Store::Impl::bucket_for(Kind k, CountryCode c, int64_t day, int days_now) {
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

Segment* Store::Impl::active_segment(Bucket& b, std::size_t adding) {
  if (b.active && b.active->fd >= 0 && b.active->bytes + adding <= options.segment_bytes)
    return b.active;
  auto s = std::make_unique<Segment>();
  s->seq = next_seq++;
  s->data = path_of(b, s->seq, ".seg");
  s->index = path_of(b, s->seq, ".idx");
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  s->fd = options.direct_io ? ::open(s->data.c_str(), flags | O_DIRECT, kPrivateFileMode) : -1;
  s->direct = s->fd >= 0;
  if (!s->direct) {
    // Only a file system that refuses direct I/O (EINVAL) gets a second try through the page
    // cache; any other error (ENOSPC, EROFS, EACCES) is the answer.
    if (options.direct_io && errno != EINVAL) fail("cannot create " + s->data.string(), errno);
    std::error_code ec;  // the refusal may have created the file
    if (options.direct_io) std::filesystem::remove(s->data, ec);
    s->fd = ::open(s->data.c_str(), flags, kPrivateFileMode);
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

void Store::Impl::write_index(const Segment& s, std::vector<IndexEntry>& entries) const {
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
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kPrivateFileMode));
  if (fd.fd < 0) fail("cannot create " + tmp.string(), errno);
  pwrite_all(fd.fd, reinterpret_cast<const char*>(&h), sizeof h, 0, tmp);
  pwrite_all(fd.fd, reinterpret_cast<const char*>(entries.data()),
             entries.size() * sizeof(IndexEntry), sizeof h, tmp);
  if (::fdatasync(fd.fd) != 0) fail("cannot sync " + tmp.string(), errno);
  if (::rename(tmp.c_str(), s.index.c_str()) != 0) fail("cannot rename " + tmp.string(), errno);
  sync_dir(options.dir);
}

void Store::Impl::seal(Bucket& b, Segment& s) {
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

void Store::Impl::remove_files(const Segment& s) {
  std::error_code ec;
  fs::remove(s.index, ec);
  fs::remove(s.data, ec);
}

void Store::Impl::refresh_oldest() {
  for (auto& [c, st] : stats) st.oldest_base = 0;
  for (auto& b : buckets)
    for (auto& s : b->segments) {
      if (s->count == 0) continue;
      CountryStats& st = stats[b->country];
      if (st.oldest_base == 0 || s->min_base < st.oldest_base) st.oldest_base = s->min_base;
    }
}

void Store::Impl::load(const fs::path& dir) {
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

void Store::Impl::candidates(const Segment& s, uint64_t ckey, TimestampMs from, TimestampMs to,
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

}  // namespace anpr::store
