#include "store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "match/hash.h"

namespace anpr::store {

std::string_view to_string(Kind k) { return k == Kind::passage ? "passage" : "hit"; }

namespace {

constexpr std::size_t kKeyBytes = 24;
constexpr std::string_view kMetaPrefix = "m/";

void put_be64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}
uint64_t get_be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
// Capture times sort as unsigned big-endian numbers: shift the sign bit.
uint64_t ts_bits(TimestampMs t) { return static_cast<uint64_t>(t) ^ (uint64_t{1} << 63); }
TimestampMs ts_of(uint64_t b) { return static_cast<TimestampMs>(b ^ (uint64_t{1} << 63)); }

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return mix64(h);
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Value: base (8) | stored deadline (8) | plate key (8) | camera id length (1) | camera id | json
struct Value {
  TimestampMs base, deadline;
  uint64_t plate_key;
  std::string_view camera_id, json;
};
bool parse_value(std::string_view v, Value& out) {
  if (v.size() < 25) return false;
  out.base = static_cast<TimestampMs>(get_be64(v.data()));
  out.deadline = static_cast<TimestampMs>(get_be64(v.data() + 8));
  out.plate_key = get_be64(v.data() + 16);
  const std::size_t n = static_cast<unsigned char>(v[24]);
  if (v.size() < 25 + n) return false;
  out.camera_id = v.substr(25, n);
  out.json = v.substr(25 + n);
  return true;
}

std::string check(const rocksdb::Status& s, const std::string& what) {
  if (!s.ok()) throw std::runtime_error("retention store: " + what + ": " + s.ToString());
  return {};
}

}  // namespace

// A column family: one kind, one camera country, base days [start_day, end_day).
struct Store::Bucket {
  std::string name;
  Kind kind;
  CountryCode country;
  int64_t start_day, end_day;
  rocksdb::ColumnFamilyHandle* cf = nullptr;
  // Persisted under m/<name> in the default column family.
  TimestampMs min_base = INT64_MAX, min_deadline = INT64_MAX, max_deadline = INT64_MIN;
  uint64_t lowered = 0;  // times a write lowered min_base or min_deadline (a purge's check)
  // Writes between their two phases: a purge does not drop a pinned bucket (a record written
  // just before its deadline would otherwise lose its column family under the write).
  std::atomic<int> pins{0};

  TimestampMs start_ms() const { return start_day * kDayMs; }
  TimestampMs end_ms() const { return end_day * kDayMs; }
  std::string meta() const {
    std::string m(24, '\0');
    put_be64(m.data(), static_cast<uint64_t>(min_base));
    put_be64(m.data() + 8, static_cast<uint64_t>(min_deadline));
    put_be64(m.data() + 16, static_cast<uint64_t>(max_deadline));
    return m;
  }
  static std::string make_name(Kind k, CountryCode c, int64_t start, int64_t width) {
    return std::string(1, static_cast<char>(k)) + "." + c.str() + "." + std::to_string(start) +
           "." + std::to_string(width);
  }
  // Parses "p.NL.20412.1"; false for anything else (the default column family).
  static bool parse_name(const std::string& n, Bucket& b) {
    if (n.size() < 8 || (n[0] != 'p' && n[0] != 'h') || n[1] != '.' || n[4] != '.') return false;
    auto c = CountryCode::parse(n.substr(2, 2));
    if (!c || !c->known()) return false;
    const std::size_t dot = n.find('.', 5);
    if (dot == std::string::npos) return false;
    try {
      b.start_day = std::stoll(n.substr(5, dot - 5));
      b.end_day = b.start_day + std::stoll(n.substr(dot + 1));
    } catch (const std::exception&) {
      return false;
    }
    b.name = n;
    b.kind = static_cast<Kind>(n[0]);
    b.country = *c;
    return b.end_day > b.start_day;
  }
};

struct Store::Impl {
  Options options;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyOptions cf_options;
  mutable std::shared_mutex mu;  // buckets, policies, stats
  std::mutex purge_mu;
  std::vector<std::unique_ptr<Bucket>> buckets;
  std::vector<config::RetentionPolicy> policies;
  std::map<CountryCode, CountryStats> stats;
  rocksdb::ColumnFamilyHandle* default_cf = nullptr;

  ~Impl() {
    if (!db) return;
    for (auto& b : buckets)
      if (b->cf) db->DestroyColumnFamilyHandle(b->cf);
    db->Close();
  }

  const config::RetentionPolicy* policy(CountryCode c) const {
    for (const auto& p : policies)
      if (p.country == c) return &p;
    return nullptr;
  }
  int days(Kind k, CountryCode c) const {
    const config::RetentionPolicy* p = policy(c);
    if (!p) return 0;
    if (k == Kind::passage) return p->keep_passages ? p->passage_days : 0;
    return p->hit_days;
  }
  // Effective deadline of a record with this base and stored deadline under today's policy.
  TimestampMs effective(const Bucket& b, TimestampMs base, TimestampMs stored) const {
    return std::min(stored, base + days(b.kind, b.country) * kDayMs);
  }

  Bucket* bucket_for(Kind k, CountryCode c, int64_t day, int days_now) {
    Bucket* below = nullptr;
    Bucket* above = nullptr;
    for (auto& b : buckets) {
      if (b->kind != k || b->country != c || b->cf == nullptr) continue;
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
    check(db->CreateColumnFamily(cf_options, b->name, &b->cf), "cannot create " + b->name);
    buckets.push_back(std::move(b));
    ++stats[c].buckets;
    return buckets.back().get();
  }

  void drop(Bucket& b, rocksdb::WriteBatch& meta_deletes) {
    uint64_t n = 0;
    db->GetIntProperty(b.cf, "rocksdb.estimate-num-keys", &n);
    check(db->DropColumnFamily(b.cf), "cannot drop " + b.name);
    db->DestroyColumnFamilyHandle(b.cf);
    b.cf = nullptr;
    meta_deletes.Delete(default_cf, std::string(kMetaPrefix) + b.name);
    CountryStats& s = stats[b.country];
    s.purged += n;
    if (s.buckets) --s.buckets;
  }

  void refresh_oldest() {
    for (auto& [c, s] : stats) s.oldest_base = 0;
    for (auto& b : buckets) {
      if (b->min_base == INT64_MAX) continue;
      CountryStats& s = stats[b->country];
      if (s.oldest_base == 0 || b->min_base < s.oldest_base) s.oldest_base = b->min_base;
    }
  }
};

Store::Store(Options options, std::vector<config::RetentionPolicy> policies)
    : impl_(std::make_unique<Impl>()) {
  clock_ = options.clock ? options.clock : [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  Impl& d = *impl_;
  d.options = std::move(options);
  d.policies = std::move(policies);
  std::error_code ec;
  std::filesystem::create_directories(d.options.dir, ec);
  if (ec)
    throw std::runtime_error("retention store: cannot create " + d.options.dir.string() + ": " +
                             ec.message());

  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = false;  // searches are prefix scans
  d.cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  d.cf_options.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));
  d.cf_options.write_buffer_size = 32 << 20;
  d.cf_options.max_write_buffer_number = 3;
  d.cf_options.compression = rocksdb::kLZ4Compression;  // cheap on the write path
  // Records arrive in no key order (keys start with the plate): a vector memtable appends each
  // in O(1) and sorts once when it is flushed, where a skip list pays a search per insert. A
  // search (rare) sorts a copy of the active memtable.
  d.cf_options.memtable_factory.reset(new rocksdb::VectorRepFactory());
  // A bucket is written for a day or two, then only read and finally dropped whole: universal
  // compaction rewrites its data far less often than levelled compaction would.
  d.cf_options.compaction_style = rocksdb::kCompactionStyleUniversal;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.db_write_buffer_size = 256 << 20;  // all buckets' memtables together
  db_options.allow_concurrent_memtable_write = false;  // not with vector memtables
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 3;

  std::vector<std::string> names;
  const std::string path = d.options.dir.string();
  if (!rocksdb::DB::ListColumnFamilies(db_options, path, &names).ok())
    names = {rocksdb::kDefaultColumnFamilyName};
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (const auto& n : names) descs.emplace_back(n, d.cf_options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  check(rocksdb::DB::Open(db_options, path, descs, &handles, &raw), "cannot open " + path);
  d.db.reset(raw);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == rocksdb::kDefaultColumnFamilyName) {
      d.default_cf = handles[i];
      continue;
    }
    auto b = std::make_unique<Bucket>();
    if (!Bucket::parse_name(names[i], *b)) {
      d.db->DestroyColumnFamilyHandle(handles[i]);
      continue;
    }
    b->cf = handles[i];
    std::string meta;
    if (d.db->Get({}, d.default_cf, std::string(kMetaPrefix) + b->name, &meta).ok() &&
        meta.size() == 24) {
      b->min_base = static_cast<TimestampMs>(get_be64(meta.data()));
      b->min_deadline = static_cast<TimestampMs>(get_be64(meta.data() + 8));
      b->max_deadline = static_cast<TimestampMs>(get_be64(meta.data() + 16));
    } else {
      // No meta (should not happen: it is written with the records): assume the longest.
      b->min_base = b->start_ms();
      b->min_deadline = b->start_ms();
      b->max_deadline = INT64_MAX;
    }
    ++d.stats[b->country].buckets;
    d.buckets.push_back(std::move(b));
  }
  d.refresh_oldest();
}

Store::~Store() {
  if (impl_ && impl_->db && impl_->default_cf) impl_->db->DestroyColumnFamilyHandle(impl_->default_cf);
}

void Store::set_policies(std::vector<config::RetentionPolicy> policies) {
  std::unique_lock lock(impl_->mu);
  impl_->policies = std::move(policies);
}

int Store::days_for(Kind k, CountryCode c) const { return impl_->days(k, c); }

std::size_t Store::write(std::span<const Record> records) {
  Impl& d = *impl_;
  const TimestampMs now = clock_();
  // Phase 1, exclusive and short: pick (or create) each record's bucket and raise the buckets'
  // deadlines in memory, so a purge running before the batch lands cannot drop them.
  thread_local std::vector<std::pair<Bucket*, int>> target;  // bucket, days in force
  target.assign(records.size(), {nullptr, 0});
  std::vector<std::pair<Bucket*, std::string>> metas;
  std::vector<Bucket*> pinned;
  std::size_t written = 0;
  {
    std::unique_lock lock(d.mu);
    std::vector<Bucket*> touched;
    CountryCode last_country;
    CountryStats* st = nullptr;
    for (std::size_t i = 0; i < records.size(); ++i) {
      const Record& r = records[i];
      if (!st || r.camera_country != last_country) {
        st = &d.stats[r.camera_country];
        last_country = r.camera_country;
      }
      const int days = d.days(r.kind, r.camera_country);
      const TimestampMs base = std::min(r.captured, now);
      const TimestampMs deadline = base + days * kDayMs;
      if (days <= 0 || deadline <= now || !r.plate.size()) {
        ++st->skipped;
        continue;
      }
      Bucket* b = d.bucket_for(r.kind, r.camera_country, floor_div(base, kDayMs), days);
      target[i] = {b, days};
      if (base < b->min_base || deadline < b->min_deadline || deadline > b->max_deadline) {
        if (base < b->min_base || deadline < b->min_deadline) ++b->lowered;
        b->min_base = std::min(b->min_base, base);
        b->min_deadline = std::min(b->min_deadline, deadline);
        b->max_deadline = std::max(b->max_deadline, deadline);
        if (std::find(touched.begin(), touched.end(), b) == touched.end()) touched.push_back(b);
        CountryStats& cs = d.stats[b->country];
        if (cs.oldest_base == 0 || base < cs.oldest_base) cs.oldest_base = base;
      }
      ++st->stored;
      ++written;
    }
    for (Bucket* b : touched) metas.emplace_back(b, b->meta());
    for (const auto& [b, days] : target)
      if (b && std::find(pinned.begin(), pinned.end(), b) == pinned.end()) {
        b->pins.fetch_add(1);
        pinned.push_back(b);
      }
  }
  struct Unpin {
    std::vector<Bucket*>& buckets;
    ~Unpin() {
      for (Bucket* b : buckets) b->pins.fetch_sub(1);
    }
  } unpin{pinned};
  if (written == 0) return 0;
  // Phase 2, shared: encode and write. Writers run concurrently (RocksDB groups their WAL
  // writes and inserts into the memtables in parallel); purges wait.
  rocksdb::WriteBatch batch;
  char key[kKeyBytes];
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto [b, days] = target[i];
    if (!b) continue;
    const Record& r = records[i];
    const TimestampMs base = std::min(r.captured, now);
    const TimestampMs deadline = base + days * kDayMs;
    put_be64(key, d.options.confusion.canonical_key(r.plate));
    put_be64(key + 8, ts_bits(r.captured));
    put_be64(key + 16, r.id_hash ? r.id_hash : fnv1a(r.id));
    char head[25];
    put_be64(head, static_cast<uint64_t>(base));
    put_be64(head + 8, static_cast<uint64_t>(deadline));
    put_be64(head + 16, r.plate.key());
    const std::size_t cam = std::min<std::size_t>(r.camera_id.size(), 255);
    head[24] = static_cast<char>(cam);
    const rocksdb::Slice k(key, kKeyBytes);
    const rocksdb::Slice parts[3] = {rocksdb::Slice(head, 25), rocksdb::Slice(r.camera_id.data(), cam),
                                     rocksdb::Slice(r.json)};
    batch.Put(b->cf, rocksdb::SliceParts(&k, 1), rocksdb::SliceParts(parts, 3));
  }
  for (const auto& [b, m] : metas) batch.Put(d.default_cf, std::string(kMetaPrefix) + b->name, m);
  std::shared_lock lock(d.mu);
  rocksdb::WriteOptions wo;
  wo.sync = d.options.sync;
  check(d.db->Write(wo, &batch), "write failed");
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
    if (!b->cf) continue;
    if (b->kind == Kind::passage ? !q.passages : !q.hits) continue;
    if (!q.countries.empty() &&
        std::find(q.countries.begin(), q.countries.end(), b->country) == q.countries.end())
      continue;
    if (q.to < b->start_ms()) continue;  // captured >= base >= start
    // Nothing in it can be readable any more.
    if (std::min(b->max_deadline, b->end_ms() + d.days(b->kind, b->country) * kDayMs) <= now)
      continue;
    order.push_back(b.get());
  }
  std::sort(order.begin(), order.end(), [](const Bucket* a, const Bucket* b) {
    return a->start_day != b->start_day ? a->start_day < b->start_day : a->name < b->name;
  });
  char prefix[16];
  put_be64(prefix, d.options.confusion.canonical_key(q.plate));
  put_be64(prefix + 8, ts_bits(std::max<TimestampMs>(q.from, INT64_MIN + 1)));
  const uint64_t want = q.plate.key();
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;
  for (const Bucket* b : order) {
    std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(ro, b->cf));
    for (it->Seek(rocksdb::Slice(prefix, 16)); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (k.size() != kKeyBytes || std::memcmp(k.data(), prefix, 8) != 0) break;
      const TimestampMs captured = ts_of(get_be64(k.data() + 8));
      if (captured > q.to) break;
      Value v;
      if (!parse_value(std::string_view(it->value().data(), it->value().size()), v)) continue;
      if (!q.ocr_tolerant && v.plate_key != want) continue;
      const TimestampMs deadline = d.effective(*b, v.base, v.deadline);
      if (now >= deadline) continue;
      if (!q.cameras.empty() &&
          std::find(q.cameras.begin(), q.cameras.end(), v.camera_id) == q.cameras.end())
        continue;
      if (out.records.size() >= q.limit) {
        out.truncated = true;
        return out;
      }
      out.records.push_back(Found{b->kind, b->country, captured, deadline,
                                  std::string(v.camera_id), Plate::from_key(v.plate_key),
                                  std::string(v.json)});
    }
    check(it->status(), "search failed in " + b->name);
  }
  return out;
}

PurgeResult Store::purge() {
  Impl& d = *impl_;
  // One purge at a time: only purges remove buckets, so the partly expired ones stay valid for
  // the compaction after the lock is released.
  std::lock_guard purging(d.purge_mu);
  const TimestampMs now = clock_();
  PurgeResult r;
  std::unique_lock lock(d.mu);
  rocksdb::WriteBatch meta;
  std::vector<Bucket*> partial;
  // Dropped buckets leave the list even when a later drop fails, so no null handle stays.
  struct ForgetDropped {
    Impl& d;
    ~ForgetDropped() {
      std::erase_if(d.buckets, [](const std::unique_ptr<Bucket>& b) { return b->cf == nullptr; });
    }
  } forget{d};
  for (auto& bp : d.buckets) {
    Bucket& b = *bp;
    const int days = d.days(b.kind, b.country);
    // Every record's effective deadline is at most this.
    const TimestampMs latest = std::min(b.max_deadline, b.end_ms() + days * kDayMs);
    if ((latest <= now || b.min_base == INT64_MAX) && b.pins.load() == 0) {
      uint64_t n = 0;
      d.db->GetIntProperty(b.cf, "rocksdb.estimate-num-keys", &n);
      d.drop(b, meta);
      ++r.buckets_dropped;
      r.records_deleted += n;
      continue;
    }
    const TimestampMs earliest = std::min(b.min_deadline, b.min_base + days * kDayMs);
    if (earliest <= now) partial.push_back(&b);
  }
  std::erase_if(d.buckets, [](const std::unique_ptr<Bucket>& b) { return b->cf == nullptr; });
  if (meta.Count()) {
    rocksdb::WriteOptions wo;
    wo.sync = d.options.sync;
    check(d.db->Write(wo, &meta), "purge failed");
  }
  std::vector<uint64_t> lowered;
  for (Bucket* b : partial) lowered.push_back(b->lowered);
  d.refresh_oldest();
  lock.unlock();
  // Partly expired buckets: delete the expired records one by one, then compact them away. The
  // scan runs beside writes and searches (a day of passages takes a while to read); only the
  // buckets' bookkeeping is updated exclusively.
  std::vector<Bucket*> compact;
  for (std::size_t i = 0; i < partial.size(); ++i) {
    Bucket* b = partial[i];
    rocksdb::WriteBatch deletes;
    uint64_t n = 0;
    TimestampMs min_base = INT64_MAX, min_deadline = INT64_MAX;
    {
      std::shared_lock reading(d.mu);
      rocksdb::ReadOptions ro;
      ro.total_order_seek = true;
      std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(ro, b->cf));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        Value v;
        const bool ok = parse_value(std::string_view(it->value().data(), it->value().size()), v);
        if (!ok || d.effective(*b, v.base, v.deadline) <= now) {
          deletes.Delete(b->cf, it->key());
          ++n;
          continue;
        }
        min_base = std::min(min_base, v.base);
        min_deadline = std::min(min_deadline, d.effective(*b, v.base, v.deadline));
      }
      check(it->status(), "purge failed in " + b->name);
      it.reset();
      rocksdb::WriteOptions wo;
      wo.sync = d.options.sync;
      if (n) check(d.db->Write(wo, &deletes), "purge failed in " + b->name);
    }
    std::unique_lock update(d.mu);
    if (b->lowered == lowered[i]) {  // else a write added older records meanwhile: keep its
      b->min_base = min_base;       // (lower) figures
      b->min_deadline = min_deadline;
    } else {
      b->min_base = std::min(b->min_base, min_base);
      b->min_deadline = std::min(b->min_deadline, min_deadline);
    }
    rocksdb::WriteBatch m;
    m.Put(d.default_cf, std::string(kMetaPrefix) + b->name, b->meta());
    rocksdb::WriteOptions wo;
    wo.sync = d.options.sync;
    check(d.db->Write(wo, &m), "purge failed in " + b->name);
    if (n) compact.push_back(b);
    d.stats[b->country].purged += n;
    r.records_deleted += n;
    d.refresh_oldest();
  }
  // Deleted records are gone from disk only once compaction has rewritten their files.
  for (Bucket* b : compact) {
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    check(d.db->CompactRange(co, b->cf, nullptr, nullptr), "compaction failed in " + b->name);
  }
  return r;
}

std::map<CountryCode, CountryStats> Store::stats() const {
  std::shared_lock lock(impl_->mu);
  return impl_->stats;
}

}  // namespace anpr::store
