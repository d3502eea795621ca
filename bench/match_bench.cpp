// Benchmarks of the match core (docs/design.md §5): normalisation; exact, ocr and ocr+edit lookups at
// two list sizes with a 1 % hit rate; index build time and bytes per entry; lookup latency on
// reader threads while a writer swaps snapshots. Every throughput row has a baseline measured
// in the same run on the same queries (std::unordered_set<std::string> of the normalised plates,
// or a plain ASCII loop for normalisation), and a summary table at the end prints the ratios
// next to the targets. See bench/README.md.
//
// ANPR_BENCH_QUICK=1 shrinks the sizes (100 k / 1 M instead of 1 M / 10 M) for a CI smoke run.
// ANPR_BENCH_SWAP_READERS=N sets the number of reader threads of the swap benchmark (default 1).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define ANPR_BENCH_HAVE_TSC 1
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "synth/plates.h"
#include "match/confusion.h"
#include "match/index.h"
#include "match/plate.h"

namespace anpr::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------------------------------------
// Configuration

struct Config {
  bool quick = false;
  std::size_t small = 1'000'000;
  std::size_t large = 10'000'000;
  const char* min_time = nullptr;  // default --benchmark_min_time, unless given
  double swap_seconds = 2.0;       // swap-latency measuring time per condition (no writer, writer)
  int swap_readers = 1;
};
Config g_cfg;
double g_load_at_start = -1;

std::string size_label(std::size_t n) {
  if (n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "M";
  if (n % 1'000 == 0) return std::to_string(n / 1'000) + "k";
  return std::to_string(n);
}

constexpr TimestampMs kReadTs = 1'760'000'000'000;      // 2025-10-09, inside every validity window
constexpr std::size_t kQueries = std::size_t{1} << 20;  // per query set; a power of two
constexpr std::size_t kQueryMask = kQueries - 1;
constexpr std::size_t kHits = kQueries / 100;  // 1 % hit rate
constexpr std::size_t kBlock = 1024;           // lookups per benchmark iteration
constexpr std::size_t kBatch = 64;  // lookups per Reader in the batched variant

// ---------------------------------------------------------------------------------------------
// Memory accounting

// Bytes in use on the heap (glibc): exact sizes of what a fixture holds, unlike RSS, which
// depends on what the allocator kept from earlier fixtures.
double heap_mib() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd) / (1024.0 * 1024.0);
}

// The 1-minute load average: other work on this machine shows up in every figure.
double load_average() {
  double l = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// Gives freed fixtures back to the system, so RSS deltas mean something and sizes do not add up.
void release_memory() { malloc_trim(0); }

// ---------------------------------------------------------------------------------------------
// Data sets (one at a time: switching sizes frees the previous one)

struct Query {
  Plate plate;
  CountryCode country;
};

enum QueryKind : int { kExactQueries = 0, kOcrQueries = 1, kEditQueries = 2 };
constexpr std::array<const char*, 3> kQueryKindName = {"exact_queries", "ocr_queries",
                                                       "edit_queries"};

struct QuerySet {
  std::vector<Query> q;           // kQueries reads, 1 % of them hits
  std::vector<std::string> text;  // the same plates as strings, for the baseline
};

struct Dataset {
  std::size_t n = 0;
  std::vector<Query> listed;  // unique per country, in random order
  std::array<QuerySet, 3> queries;

  // The baseline: the listed plates' normalised text in a std::unordered_set (built on demand).
  std::unique_ptr<std::unordered_set<std::string>> set;
  double set_build_seconds = 0;
  double set_mib = 0;  // heap bytes it holds

  const std::unordered_set<std::string>& baseline() {
    if (!set) {
      const double heap0 = heap_mib();
      const auto t0 = Clock::now();
      set = std::make_unique<std::unordered_set<std::string>>();
      set->reserve(listed.size());
      for (const Query& e : listed) set->insert(e.plate.str());
      set_build_seconds = seconds_since(t0);
      set_mib = heap_mib() - heap0;
      std::fprintf(stderr, "[bench] baseline unordered_set of %s plates: %.2f s, ~%.0f MiB\n",
                   size_label(n).c_str(), set_build_seconds, set_mib);
    }
    return *set;
  }
};

std::unique_ptr<Dataset> generate(std::size_t n) {
  const auto t0 = Clock::now();
  auto ds = std::make_unique<Dataset>();
  ds->n = n;
  Rng rng(0xA17F'0000ULL + n);
  const ConfusionClasses conf;

  // Listed plates: draw with a little surplus, drop duplicates, shuffle, keep n.
  std::vector<uint64_t> keys;
  keys.reserve(n + n / 16 + 64);
  while (keys.size() < n) {
    const std::size_t more = (n - keys.size()) + (n - keys.size()) / 32 + 16;
    for (std::size_t i = 0; i < more; ++i) {
      const CountryCode c = random_country(rng);
      keys.push_back(combined(c, random_plate(rng, c).key()));
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  }
  for (std::size_t i = keys.size() - 1; i > 0; --i) std::swap(keys[i], keys[rng.below(i + 1)]);
  keys.resize(n);
  ds->listed.resize(n);
  std::vector<uint64_t> canon(n);  // (country, canonical plate) of every listed plate, sorted
  for (std::size_t i = 0; i < n; ++i) {
    const Plate p = Plate::from_key(keys[i] & Plate::kKeyMask);
    const CountryCode c = CountryCode::from_raw(static_cast<uint16_t>(keys[i] >> Plate::kKeyBits));
    ds->listed[i] = Query{p, c};
    canon[i] = combined(c, conf.canonical_key(p));
  }
  std::vector<uint64_t>().swap(keys);
  std::sort(canon.begin(), canon.end());

  // Misses shared by the three query sets: plates of the same shapes that match nothing, not
  // even OCR-tolerantly. (One character more or less changes the shape's length, and every
  // country here has plates of one length, so misses cannot be edit hits either.)
  std::vector<Query> misses;
  misses.reserve(kQueries - kHits);
  while (misses.size() < kQueries - kHits) {
    const CountryCode c = random_country(rng);
    const Plate p = random_plate(rng, c);
    if (std::binary_search(canon.begin(), canon.end(), combined(c, conf.canonical_key(p))))
      continue;
    misses.push_back(Query{p, c});
  }
  std::vector<uint64_t>().swap(canon);

  for (int k = 0; k < 3; ++k) {
    std::vector<Query> q;
    q.reserve(kQueries);
    while (q.size() < kHits) {
      const Query& e = ds->listed[rng.below(n)];
      Plate p = e.plate;
      if (k == kOcrQueries && !confusable_substitution(rng, e.plate, p)) continue;
      if (k == kEditQueries) p = single_edit(rng, e.plate);
      q.push_back(Query{p, e.country});
    }
    q.insert(q.end(), misses.begin(), misses.end());
    Rng shuffle(0x5107'F1E5ULL + n);  // the same hit positions in every set
    for (std::size_t i = q.size() - 1; i > 0; --i) std::swap(q[i], q[shuffle.below(i + 1)]);
    QuerySet& qs = ds->queries[k];
    qs.text.reserve(q.size());
    for (const Query& x : q) qs.text.push_back(x.plate.str());
    qs.q = std::move(q);
  }
  std::fprintf(stderr, "[bench] generated %s listed plates and 3 x %zu queries in %.2f s\n",
               size_label(n).c_str(), kQueries, seconds_since(t0));
  return ds;
}

// ---------------------------------------------------------------------------------------------
// Index fixtures (one at a time, reused by every row of the same size and mode)

struct IndexFixture {
  std::size_t n = 0;
  MatchMode mode = MatchMode::exact;
  std::shared_ptr<const Snapshot> snap;
  double add_seconds = 0;    // IndexBuilder::add() of every entry
  double build_seconds = 0;  // IndexBuilder::build()
  double snapshot_mib = 0;   // heap bytes the snapshot holds
};

std::unique_ptr<Dataset> g_data;
IndexFixture g_index;
std::shared_ptr<const Snapshot> g_swap_other;  // the second snapshot of the swap benchmark

void drop_index() {
  g_index = IndexFixture{};
  release_memory();
}

Dataset& data_for(std::size_t n) {
  if (!g_data || g_data->n != n) {
    drop_index();
    g_swap_other.reset();
    g_data.reset();
    release_memory();
    g_data = generate(n);
  }
  return *g_data;
}

std::shared_ptr<const Snapshot> build_snapshot(const Dataset& ds, MatchMode mode, double& add_s,
                                               double& build_s) {
  const auto t0 = Clock::now();
  IndexBuilder b;
  auto list_for = [&](CountryCode c) {
    ListMeta m;
    m.id = "bench-" + c.str();
    m.owner = c;
    m.mode = mode;
    m.max_substitutions = 1;
    m.default_category = Category::stolen_vehicle;
    m.version = "1";
    return b.add_list(std::move(m));
  };
  const uint16_t l_nl = list_for(kNL), l_be = list_for(kBE), l_lu = list_for(kLU);
  b.reserve(ds.listed.size());
  char ref[32] = "REF";
  for (std::size_t i = 0; i < ds.listed.size(); ++i) {
    const Query& e = ds.listed[i];
    const auto r = std::to_chars(ref + 3, ref + sizeof ref, 10'000'000 + i);
    const uint16_t l = e.country == kNL ? l_nl : e.country == kBE ? l_be : l_lu;
    b.add(l, e.plate, e.country, Category::stolen_vehicle, Action::intercept, kDefaultPriority,
          kNoExpiry, std::string_view(ref, static_cast<std::size_t>(r.ptr - ref)), {});
  }
  const auto t1 = Clock::now();
  std::shared_ptr<const Snapshot> s = b.build();
  const auto t2 = Clock::now();
  add_s = std::chrono::duration<double>(t1 - t0).count();
  build_s = std::chrono::duration<double>(t2 - t1).count();
  return s;
}

IndexFixture& index_for(std::size_t n, MatchMode mode) {
  Dataset& ds = data_for(n);
  if (g_index.snap && g_index.n == n && g_index.mode == mode) return g_index;
  drop_index();
  const double heap0 = heap_mib();
  IndexFixture fx;
  fx.n = n;
  fx.mode = mode;
  fx.snap = build_snapshot(ds, mode, fx.add_seconds, fx.build_seconds);
  fx.snapshot_mib = heap_mib() - heap0;
  g_index = std::move(fx);
  std::fprintf(stderr, "[bench] built %s %s index: add %.2f s + build %.2f s\n",
               size_label(n).c_str(), std::string(to_string(mode)).c_str(), g_index.add_seconds,
               g_index.build_seconds);
  return g_index;
}

QueryKind query_kind(MatchMode m) {
  return m == MatchMode::exact ? kExactQueries : m == MatchMode::ocr ? kOcrQueries : kEditQueries;
}

std::string mode_label(MatchMode m) {
  return m == MatchMode::ocr_edit ? "ocr_edit" : std::string(to_string(m));
}

void index_counters(benchmark::State& st, const IndexFixture& fx) {
  const IndexStats& s = fx.snap->stats();
  const double n = static_cast<double>(s.entries);
  st.counters["bytes_per_entry"] = static_cast<double>(s.index_bytes) / n;
  st.counters["string_bytes_per_entry"] = static_cast<double>(s.string_bytes) / n;
  st.counters["build_seconds"] = fx.add_seconds + fx.build_seconds;
}

// ---------------------------------------------------------------------------------------------
// Benchmarks

// Build of one index from the listed plates: IndexBuilder::add() of every entry plus build().
void BM_Build(benchmark::State& st, std::size_t n, MatchMode mode) {
  for (auto _ : st) {
    data_for(n);
    drop_index();
    IndexFixture& fx = index_for(n, mode);
    st.SetIterationTime(fx.add_seconds + fx.build_seconds);
  }
  const IndexFixture& fx = g_index;
  const IndexStats& s = fx.snap->stats();
  const double e = static_cast<double>(s.entries);
  index_counters(st, fx);
  st.counters["add_seconds"] = fx.add_seconds;
  st.counters["build_call_seconds"] = fx.build_seconds;
  st.counters["edit_bytes_per_entry"] = static_cast<double>(s.edit_bytes) / e;
  st.counters["edit_variants_per_entry"] = static_cast<double>(s.edit_variants) / e;
  st.counters["edit_keys_per_entry"] = static_cast<double>(s.edit_keys) / e;
  st.counters["edit_fpp"] = s.edit_fpp;
  st.counters["edit_class_fpp"] = s.edit_class_fpp;
  st.counters["groups"] = static_cast<double>(s.groups);
  st.counters["max_probe"] = static_cast<double>(s.max_probe);
  st.counters["snapshot_heap_MiB"] = fx.snapshot_mib;
  st.counters["peak_rss_MiB"] = peak_rss_mib();
  st.SetItemsProcessed(static_cast<int64_t>(s.entries));
}

// std::unordered_set<std::string>::find of the same normalised plates the index rows look up.
void BM_Baseline(benchmark::State& st, std::size_t n, QueryKind k) {
  Dataset& ds = data_for(n);
  const auto& set = ds.baseline();
  const std::vector<std::string>& text = ds.queries[k].text;
  std::size_t pos = 0, found = 0;
  for (auto _ : st) {
    for (std::size_t i = 0; i < kBlock; ++i) {
      found += set.find(text[pos]) != set.end();
      pos = (pos + 1) & kQueryMask;
    }
  }
  benchmark::DoNotOptimize(found);
  const double items = static_cast<double>(st.iterations()) * kBlock;
  st.SetItemsProcessed(static_cast<int64_t>(items));
  st.counters["hits_per_read"] = static_cast<double>(found) / items;
  st.counters["set_build_seconds"] = ds.set_build_seconds;
  st.counters["set_bytes_per_entry"] = ds.set_mib * 1024 * 1024 / static_cast<double>(ds.n);
}

enum class Variant { plain, reader, batched };

// Snapshot::match of one plate per read. plain: straight on the snapshot; reader: a
// LiveIndex::Reader per lookup (what the pipeline pays per read); batched: Snapshot::match_batch
// over 64 reads per Reader (what the pipeline does with a batch of consumed messages).
template <Variant V>
void BM_Match(benchmark::State& st, std::size_t n, MatchMode mode) {
  Dataset& ds = data_for(n);
  IndexFixture& fx = index_for(n, mode);
  const std::vector<Query>& qs = ds.queries[query_kind(mode)].q;
  const Snapshot& snap = *fx.snap;
  LiveIndex live(fx.snap);
  std::vector<IndexHit> hits;
  hits.reserve(16);
  std::vector<MatchQuery> batch(kBatch);
  std::vector<uint32_t> ends;
  std::size_t pos = 0, found = 0;
  for (auto _ : st) {
    if constexpr (V == Variant::plain) {
      for (std::size_t i = 0; i < kBlock; ++i) {
        const Query& q = qs[pos];
        hits.clear();
        snap.match(MatchQuery{q.country, kReadTs, std::span<const Plate>(&q.plate, 1)}, hits);
        found += hits.size();
        pos = (pos + 1) & kQueryMask;
      }
    } else if constexpr (V == Variant::reader) {
      for (std::size_t i = 0; i < kBlock; ++i) {
        const Query& q = qs[pos];
        hits.clear();
        LiveIndex::Reader r = live.read();
        r->match(MatchQuery{q.country, kReadTs, std::span<const Plate>(&q.plate, 1)}, hits);
        found += hits.size();
        pos = (pos + 1) & kQueryMask;
      }
    } else {
      for (std::size_t b = 0; b < kBlock; b += kBatch) {
        for (std::size_t i = 0; i < kBatch; ++i) {
          const Query& q = qs[(pos + i) & kQueryMask];
          batch[i] = MatchQuery{q.country, kReadTs, std::span<const Plate>(&q.plate, 1)};
        }
        hits.clear();
        LiveIndex::Reader r = live.read();
        r->match_batch(batch, hits, ends);
        found += hits.size();
        pos = (pos + kBatch) & kQueryMask;
      }
    }
  }
  benchmark::DoNotOptimize(found);
  const double items = static_cast<double>(st.iterations()) * kBlock;
  st.SetItemsProcessed(static_cast<int64_t>(items));
  st.counters["hits_per_read"] = static_cast<double>(found) / items;
  index_counters(st, fx);
}

// ---- normalisation ----

const std::vector<std::string>& raw_strings() {
  static const std::vector<std::string> raw = [] {
    std::vector<std::string> v;
    Rng rng(0x0C1AFULL);
    const std::size_t n = 1 << 16;
    v.reserve(n);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const CountryCode c = random_country(rng);
      v.push_back(raw_camera_string(rng, c, random_plate(rng, c)));
      bad += !normalize(v.back()).ok();
    }
    if (bad != 0) std::fprintf(stderr, "[bench] warning: %zu raw strings do not normalise\n", bad);
    return v;
  }();
  return raw;
}

void BM_Normalize(benchmark::State& st) {
  const auto& raw = raw_strings();
  const std::size_t mask = raw.size() - 1;
  std::size_t pos = 0, ok = 0;
  for (auto _ : st) {
    for (std::size_t i = 0; i < kBlock; ++i) {
      auto r = normalize(raw[pos]);
      ok += r.ok();
      benchmark::DoNotOptimize(r);
      pos = (pos + 1) & mask;
    }
  }
  benchmark::DoNotOptimize(ok);
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * kBlock));
}

// A plain ASCII upper-case and strip loop into a std::string: no UTF-8, no folding, no checks.
void BM_NormalizeBaseline(benchmark::State& st) {
  const auto& raw = raw_strings();
  const std::size_t mask = raw.size() - 1;
  std::size_t pos = 0;
  std::string out;
  for (auto _ : st) {
    for (std::size_t i = 0; i < kBlock; ++i) {
      out.clear();
      for (unsigned char c : raw[pos]) {
        if (c >= 'a' && c <= 'z') {
          out.push_back(static_cast<char>(c - 'a' + 'A'));
        } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
          out.push_back(static_cast<char>(c));
        }
      }
      benchmark::DoNotOptimize(out.data());
      benchmark::ClobberMemory();
      pos = (pos + 1) & mask;
    }
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * kBlock));
}

// ---- lookup latency while a writer swaps snapshots ----

inline uint64_t ticks() {
#ifdef ANPR_BENCH_HAVE_TSC
  _mm_lfence();
  const uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
#else
  return static_cast<uint64_t>(Clock::now().time_since_epoch().count());
#endif
}

// Latencies in ticks: exact below 4096, then 64 buckets per power of two (< 1.6 % error).
class Histogram {
 public:
  static constexpr uint64_t kLinear = 4096;
  void add(uint64_t v) {
    ++count_;
    max_ = std::max(max_, v);
    if (v < kLinear) {
      ++lin_[v];
    } else {
      const unsigned b = 63u - static_cast<unsigned>(std::countl_zero(v));
      ++log_[b][(v >> (b - 6)) & 63];
    }
  }
  void merge(const Histogram& o) {
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
    for (std::size_t i = 0; i < kLinear; ++i) lin_[i] += o.lin_[i];
    for (std::size_t b = 0; b < 64; ++b)
      for (std::size_t s = 0; s < 64; ++s) log_[b][s] += o.log_[b][s];
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // The smallest value v such that at least a fraction p of the samples are <= v (bucket-wise).
  double percentile(double p) const {
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(p * count_)));
    uint64_t seen = 0;
    for (uint64_t i = 0; i < kLinear; ++i)
      if ((seen += lin_[i]) >= rank) return static_cast<double>(i);
    for (unsigned b = 12; b < 64; ++b)
      for (uint64_t s = 0; s < 64; ++s)
        if ((seen += log_[b][s]) >= rank)
          return static_cast<double>((uint64_t{1} << b) + (s << (b - 6)) +
                                     (uint64_t{1} << (b - 7)));
    return static_cast<double>(max_);
  }

 private:
  uint64_t count_ = 0, max_ = 0;
  std::vector<uint64_t> lin_ = std::vector<uint64_t>(kLinear);
  std::array<std::array<uint64_t, 64>, 64> log_{};
};

// Lookups with a Reader each, timed one by one, until `stop` (or, when `deadline` is set, until
// the deadline, which then sets `stop`).
void timed_reader(const LiveIndex& live, const std::vector<Query>& qs, std::size_t pos,
                  std::atomic<bool>& stop, const Clock::time_point* deadline, Histogram& h) {
  std::vector<IndexHit> hits;
  hits.reserve(16);
  std::size_t found = 0;
  for (;;) {
    if (deadline != nullptr) {
      if (Clock::now() >= *deadline) {
        stop.store(true, std::memory_order_relaxed);
        break;
      }
    } else if (stop.load(std::memory_order_relaxed)) {
      break;
    }
    for (int i = 0; i < 256; ++i) {
      const Query& q = qs[pos];
      const uint64_t t0 = ticks();
      {
        hits.clear();
        LiveIndex::Reader r = live.read();
        r->match(MatchQuery{q.country, kReadTs, std::span<const Plate>(&q.plate, 1)}, hits);
      }
      const uint64_t t1 = ticks();
      h.add(t1 - t0);
      found += hits.size();
      pos = (pos + 1) & kQueryMask;
    }
  }
  benchmark::DoNotOptimize(found);
}

struct SwapRound {
  Histogram hist;
  uint64_t swaps = 0;
  double seconds = 0;
  uint64_t tick_span = 0;
};

// One measuring round: `readers` threads (this one included) time Reader-per-lookup lookups for
// `seconds`, while (if `writer`) another thread publishes continuously, alternating between two
// pre-built snapshots.
void swap_round(const std::shared_ptr<const Snapshot>& a, const std::shared_ptr<const Snapshot>& b,
                const std::vector<Query>& qs, bool writer, int readers, double seconds,
                SwapRound& out) {
  LiveIndex live(a);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> published{0};
  std::vector<Histogram> hist(static_cast<std::size_t>(readers));
  std::thread w;
  if (writer) {
    w = std::thread([&] {
      const std::shared_ptr<const Snapshot> s[2] = {b, a};
      uint64_t k = 0;
      while (!stop.load(std::memory_order_relaxed)) live.publish(s[k++ & 1]);
      published.store(k);
    });
  }
  const auto t0 = Clock::now();
  const uint64_t tick0 = ticks();
  const Clock::time_point deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> others;
  const std::size_t stride = kQueries / static_cast<std::size_t>(readers);
  for (int r = 1; r < readers; ++r)
    others.emplace_back(timed_reader, std::cref(live), std::cref(qs),
                        static_cast<std::size_t>(r) * stride, std::ref(stop), nullptr,
                        std::ref(hist[static_cast<std::size_t>(r)]));
  timed_reader(live, qs, 0, stop, &deadline, hist[0]);
  for (auto& t : others) t.join();
  if (w.joinable()) w.join();
  out.tick_span += ticks() - tick0;
  out.seconds += seconds_since(t0);
  out.swaps += published.load();
  for (const Histogram& h : hist) out.hist.merge(h);
}

// Reader-per-lookup latency on `small`-entry ocr snapshots, without and with a writer that swaps
// versions continuously. The two conditions alternate in short rounds, so whatever else the
// machine does at the time falls on both alike.
void BM_SwapLatency(benchmark::State& st, std::size_t n, int readers) {
  Dataset& ds = data_for(n);
  IndexFixture& fx = index_for(n, MatchMode::ocr);
  if (!g_swap_other) {
    double a = 0, b = 0;
    g_swap_other = build_snapshot(ds, MatchMode::ocr, a, b);
  }
  const std::vector<Query>& qs = ds.queries[kOcrQueries].q;
  constexpr int kRounds = 8;
  SwapRound cond[2];  // [0] no writer, [1] writer
  for (auto _ : st) {
    {  // warm both snapshots
      std::vector<IndexHit> hits;
      for (std::size_t i = 0; i < 200'000; ++i) {
        const Query& q = qs[i & kQueryMask];
        const MatchQuery mq{q.country, kReadTs, std::span<const Plate>(&q.plate, 1)};
        hits.clear();
        fx.snap->match(mq, hits);
        g_swap_other->match(mq, hits);
      }
    }
    for (int r = 0; r < 2 * kRounds; ++r) {
      const bool writer = (r & 1) != 0;
      swap_round(fx.snap, g_swap_other, qs, writer, readers, g_cfg.swap_seconds / kRounds,
                 cond[writer]);
    }
    st.SetIterationTime(cond[0].seconds + cond[1].seconds);
  }
  const char* prefix[2] = {"no_writer_", "writer_"};
  for (int c = 0; c < 2; ++c) {
    const SwapRound& x = cond[c];
    const double ns_per_tick = x.seconds * 1e9 / static_cast<double>(x.tick_span);
    const std::string p = prefix[c];
    st.counters[p + "p50_ns"] = x.hist.percentile(0.50) * ns_per_tick;
    st.counters[p + "p99_ns"] = x.hist.percentile(0.99) * ns_per_tick;
    st.counters[p + "p999_ns"] = x.hist.percentile(0.999) * ns_per_tick;
    st.counters[p + "max_ns"] = static_cast<double>(x.hist.max()) * ns_per_tick;
    st.counters[p + "lookups_per_second"] = static_cast<double>(x.hist.count()) / x.seconds;
  }
  st.counters["swaps_per_second"] = static_cast<double>(cond[1].swaps) / cond[1].seconds;
  st.counters["p999_ratio"] = st.counters["writer_p999_ns"] / st.counters["no_writer_p999_ns"];
  st.counters["readers"] = readers;
  st.SetItemsProcessed(static_cast<int64_t>(cond[0].hist.count() + cond[1].hist.count()));
}

// ---- what the memory system allows: a plain open-addressing probe of 64-bit keys ----

// (country, plate) keys of the listed plates in a power-of-two linear-probing table at load
// <= 0.5, probed with the exact queries' keys: the "plain probe" of docs/design.md §5.
void BM_PlainProbe(benchmark::State& st, std::size_t n) {
  Dataset& ds = data_for(n);
  std::vector<uint64_t> table(std::bit_ceil(2 * n), 0);
  const uint64_t mask = table.size() - 1;
  auto mix = [](uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
  };
  for (const Query& e : ds.listed) {
    const uint64_t k = combined(e.country, e.plate.key());
    uint64_t h = mix(k) & mask;
    while (table[h] != 0) h = (h + 1) & mask;
    table[h] = k;
  }
  std::vector<uint64_t> keys;
  keys.reserve(kQueries);
  for (const Query& q : ds.queries[kExactQueries].q)
    keys.push_back(combined(q.country, q.plate.key()));
  std::size_t pos = 0, found = 0;
  for (auto _ : st) {
    for (std::size_t i = 0; i < kBlock; ++i) {
      const uint64_t k = keys[pos];
      uint64_t h = mix(k) & mask;
      while (table[h] != 0 && table[h] != k) h = (h + 1) & mask;
      found += table[h] == k;
      pos = (pos + 1) & kQueryMask;
    }
  }
  benchmark::DoNotOptimize(found);
  const double items = static_cast<double>(st.iterations()) * kBlock;
  st.SetItemsProcessed(static_cast<int64_t>(items));
  st.counters["hits_per_read"] = static_cast<double>(found) / items;
  st.counters["bytes_per_entry"] = static_cast<double>(table.size() * 8) / static_cast<double>(n);
}

// ---------------------------------------------------------------------------------------------
// Registration, result collection and the summary table

enum class RowKind { lookup, normalize, build, swap };

struct RowInfo {
  RowKind kind = RowKind::lookup;
  std::string baseline;  // name of the baseline row ("" if none)
  double target = 0;     // lookups: items/s per core; 0 = none
  std::string target_text;
};

struct Result {
  double items_per_second = 0;
  std::map<std::string, double> counters;
};

std::vector<std::string> g_order;  // summary order
std::map<std::string, RowInfo> g_info;
std::map<std::string, Result> g_results;

template <class Fn, class... Args>
benchmark::internal::Benchmark* add(const std::string& name, RowInfo info, Fn fn, Args... args) {
  g_order.push_back(name);
  g_info[name] = std::move(info);
  return benchmark::RegisterBenchmark(name.c_str(), fn, args...);
}

void register_all() {
  add("normalize/baseline_ascii_loop", {RowKind::normalize, "", 0, ""}, BM_NormalizeBaseline);
  add("normalize", {RowKind::normalize, "normalize/baseline_ascii_loop", 0, "-"}, BM_Normalize);

  for (const std::size_t n : {g_cfg.small, g_cfg.large}) {
    const std::string sz = size_label(n);
    const bool at_target = n == g_cfg.large;
    for (const MatchMode mode : {MatchMode::exact, MatchMode::ocr, MatchMode::ocr_edit}) {
      const std::string m = mode_label(mode);
      const QueryKind k = query_kind(mode);
      const double target = !at_target ? 0 : mode == MatchMode::exact ? 20e6 : 5e6;
      const std::string target_text = !at_target                 ? "-"
                                      : mode == MatchMode::exact ? ">= 20 M/s"
                                                                 : ">= 5 M/s";
      const std::string base =
          "baseline_unordered_set/" + std::string(kQueryKindName[k]) + "/" + sz;
      add("build/" + m + "/" + sz, {RowKind::build, "", 0, ""}, BM_Build, n, mode)
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
      add(base, {RowKind::lookup, "", 0, ""}, BM_Baseline, n, k);
      add("match/" + m + "/" + sz, {RowKind::lookup, base, target, target_text},
          BM_Match<Variant::plain>, n, mode);
      add("match_reader/" + m + "/" + sz, {RowKind::lookup, base, target, target_text},
          BM_Match<Variant::reader>, n, mode);
      add("match_batched/" + m + "/" + sz, {RowKind::lookup, base, target, target_text},
          BM_Match<Variant::batched>, n, mode);
      if (mode == MatchMode::exact) {
        add("plain_u64_probe/" + sz, {RowKind::lookup, base, 0, "(reference)"}, BM_PlainProbe, n);
      }
      if (n == g_cfg.small && mode == MatchMode::ocr) {
        // Swap latency at the small size (two snapshots of the large size would need twice the
        // memory), while the ocr index of that size is the current fixture.
        add("swap_latency/ocr/" + sz + "/readers:" + std::to_string(g_cfg.swap_readers),
            {RowKind::swap, "", 2.0, "<= 2 x"}, BM_SwapLatency, n, g_cfg.swap_readers)
            ->Iterations(1)
            ->UseManualTime();
      }
    }
  }
}

std::string human(double v) {
  char buf[32];
  if (v >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f G", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2f M", v / 1e6);
  else if (v >= 1e3)
    std::snprintf(buf, sizeof buf, "%.2f k", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Forwards to the console (or JSON) reporter, adding ratio counters to each row whose baseline
// has already run, and prints the summary table at the end.
class SummaryReporter : public benchmark::BenchmarkReporter {
 public:
  SummaryReporter(std::unique_ptr<benchmark::BenchmarkReporter> inner, bool json)
      : inner_(std::move(inner)), json_(json) {}

  bool ReportContext(const Context& c) override { return inner_->ReportContext(c); }

  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> out = runs;
    for (Run& r : out) {
      if (r.error_occurred) continue;
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "mean") continue;
      const std::string name = r.run_name.function_name;
      Result res;
      for (const auto& [k, c] : r.counters) res.counters[k] = c.value;
      if (auto it = r.counters.find("items_per_second"); it != r.counters.end())
        res.items_per_second = it->second.value;
      const auto info = g_info.find(name);
      if (info != g_info.end() && !info->second.baseline.empty()) {
        const auto base = g_results.find(info->second.baseline);
        if (base != g_results.end()) {
          if (base->second.items_per_second > 0) {
            r.counters["ratio_vs_baseline"] = res.items_per_second / base->second.items_per_second;
          }
        }
      }
      g_results[name] = std::move(res);
    }
    inner_->ReportRuns(out);
  }

  void Finalize() override {
    inner_->Finalize();
    print_summary(json_ ? stderr : stdout);
  }

 private:
  static void print_summary(FILE* f) {
    const std::string rule(100, '-');
    std::fprintf(f,
                 "\n%s\nSUMMARY  (one thread = one core; 1 %% of reads are hits; baseline = "
                 "std::unordered_set<std::string> of the\n"
                 "normalised plates, looked up with the same query strings in this run)%s\n%s\n",
                 rule.c_str(), g_cfg.quick ? "  [ANPR_BENCH_QUICK: reduced sizes]" : "",
                 rule.c_str());
    std::fprintf(f, "%-36s | %12s | %16s | %7s | %-11s | %s\n", "benchmark", "items/s",
                 "baseline items/s", "ratio", "target", "");
    for (const std::string& name : g_order) {
      const RowInfo& info = g_info[name];
      if (info.kind != RowKind::lookup && info.kind != RowKind::normalize) continue;
      if (info.baseline.empty()) continue;
      const auto r = g_results.find(name);
      const auto b = g_results.find(info.baseline);
      if (r == g_results.end()) continue;
      const double ips = r->second.items_per_second;
      const double bips = b != g_results.end() ? b->second.items_per_second : 0;
      std::string verdict;
      if (info.target > 0) verdict = ips >= info.target ? "ok" : "MISSED";
      char ratio[16] = "-";
      if (bips > 0) std::snprintf(ratio, sizeof ratio, "%.2f", ips / bips);
      std::fprintf(f, "%-36s | %12s | %16s | %7s | %-11s | %s\n", name.c_str(), human(ips).c_str(),
                   bips > 0 ? human(bips).c_str() : "-", ratio, info.target_text.c_str(),
                   verdict.c_str());
    }

    std::fprintf(f, "\n%-22s | %9s | %8s | %11s | %8s | %9s | %8s | %9s | %9s | %s\n", "build",
                 "seconds", "target", "index B/ent", "target", "edit B/ent", "edit FP", "str B/ent",
                 "snap MiB", "");
    for (const std::string& name : g_order) {
      if (g_info[name].kind != RowKind::build) continue;
      const auto r = g_results.find(name);
      if (r == g_results.end()) continue;
      auto& c = r->second.counters;
      const bool at_target = name.ends_with("/" + size_label(g_cfg.large));
      std::string verdict;
      if (at_target) {
        verdict = c["build_seconds"] <= 10.0 ? "time ok" : "time MISSED";
        verdict += c["bytes_per_entry"] <= 48.0 ? ", bytes ok" : ", bytes MISSED";
      }
      char edit_fp[16] = "-";
      if (c["edit_bytes_per_entry"] > 0)
        std::snprintf(edit_fp, sizeof edit_fp, "%.2f %%", 100 * c["edit_fpp"]);
      std::fprintf(f, "%-22s | %9.2f | %8s | %11.1f | %8s | %9.1f | %8s | %9.1f | %9.0f | %s\n",
                   name.c_str(), c["build_seconds"], at_target ? "<= 10 s" : "-",
                   c["bytes_per_entry"], at_target ? "<= 48" : "-", c["edit_bytes_per_entry"],
                   edit_fp, c["string_bytes_per_entry"], c["snapshot_heap_MiB"], verdict.c_str());
    }

    std::fprintf(f, "\n%-44s | %8s | %8s | %9s | %9s | %11s | %s\n",
                 "lookup latency, Reader per lookup", "p50 ns", "p99 ns", "p99.9 ns", "max ns",
                 "swaps/s", "p99.9 ratio (target <= 2 x)");
    for (const std::string& name : g_order) {
      const RowInfo& info = g_info[name];
      if (info.kind != RowKind::swap) continue;
      const auto r = g_results.find(name);
      if (r == g_results.end()) continue;
      auto& c = r->second.counters;
      for (const char* cond : {"no_writer", "writer"}) {
        const std::string p = std::string(cond) + "_";
        const bool w = p == "writer_";
        char ratio[48] = "";
        if (w)
          std::snprintf(ratio, sizeof ratio, "%.2f  %s", c["p999_ratio"],
                        c["p999_ratio"] <= info.target ? "ok" : "MISSED");
        std::fprintf(f, "%-44s | %8.0f | %8.0f | %9.0f | %9.0f | %11s | %s\n",
                     (name + " " + cond).c_str(), c[p + "p50_ns"], c[p + "p99_ns"],
                     c[p + "p999_ns"], c[p + "max_ns"],
                     w ? human(c["swaps_per_second"]).c_str() : "-", ratio);
      }
    }
    std::fprintf(f,
                 "\npeak RSS of this process: %.0f MiB; load average at start %.2f, at end %.2f on "
                 "%u CPUs\n%s\n",
                 peak_rss_mib(), g_load_at_start, load_average(),
                 std::thread::hardware_concurrency(), rule.c_str());
    std::fflush(f);
  }

  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  bool json_;
};

// Checks that the generator's idea of the confusion classes is the index's default.
bool check_confusion_classes() {
  const ConfusionClasses conf;
  for (std::string_view k : kConfusable)
    for (char a : k)
      for (char b : k)
        if (!conf.same_class(a, b)) return false;
  return true;
}

}  // namespace
}  // namespace anpr::bench

int main(int argc, char** argv) {
  using namespace anpr::bench;
  if (const char* q = std::getenv("ANPR_BENCH_QUICK");
      q != nullptr && std::strcmp(q, "0") != 0 && *q) {
    g_cfg.quick = true;
    g_cfg.small = 100'000;
    g_cfg.large = 1'000'000;
    g_cfg.min_time = "--benchmark_min_time=0.1";
    g_cfg.swap_seconds = 0.5;
  }
  if (const char* r = std::getenv("ANPR_BENCH_SWAP_READERS"))
    g_cfg.swap_readers = std::max(1, std::atoi(r));

  // The display reporter is ours (it adds ratios and the summary); honour the usual flags.
  bool json = false, tabular = false, color = isatty(STDOUT_FILENO) != 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--benchmark_format=json") json = true;
    if (a == "--benchmark_counters_tabular=true" || a == "--benchmark_counters_tabular")
      tabular = true;
    if (a == "--benchmark_color=false" || a == "--benchmark_color=no") color = false;
  }
  std::vector<char*> args(argv, argv + argc);
  const bool has_min_time = std::any_of(args.begin(), args.end(), [](const char* a) {
    return std::string_view(a).starts_with("--benchmark_min_time");
  });
  if (g_cfg.min_time != nullptr && !has_min_time) args.push_back(const_cast<char*>(g_cfg.min_time));
  args.push_back(nullptr);
  argc = static_cast<int>(args.size() - 1);
  argv = args.data();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!check_confusion_classes()) {
    std::fprintf(stderr,
                 "match_bench: the default confusion classes changed; update bench_data.h\n");
    return 1;
  }
  register_all();
  g_load_at_start = load_average();

  std::unique_ptr<benchmark::BenchmarkReporter> inner;
  if (json) {
    inner = std::make_unique<benchmark::JSONReporter>();
  } else {
    int opts = benchmark::ConsoleReporter::OO_None;
    if (color) opts |= benchmark::ConsoleReporter::OO_Color;
    if (tabular) opts |= benchmark::ConsoleReporter::OO_Tabular;
    inner = std::make_unique<benchmark::ConsoleReporter>(
        static_cast<benchmark::ConsoleReporter::OutputOptions>(opts));
  }
  SummaryReporter reporter(std::move(inner), json);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
