// Cost of keeping passages in the retention store (store/store.h): CPU per record of
// Store::write for the pipeline's group-commit sizes, synced and not (bench/README.md).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "config/settings.h"
#include "store/store.h"

namespace {

using namespace anpr;

std::filesystem::path fresh_dir() {
  static int n = 0;
  auto d = std::filesystem::temp_directory_path() / ("anpr-store-bench-" + std::to_string(::getpid()) +
                                                     "-" + std::to_string(n++));
  std::filesystem::remove_all(d);
  return d;
}

std::vector<store::Record> make_records(std::size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const TimestampMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  std::vector<store::Record> v(n);
  const char* letters = "BDFGHJKLMNPRSTVXZ0123456789";
  for (std::size_t i = 0; i < n; ++i) {
    store::Record& r = v[i];
    r.kind = store::Kind::passage;
    r.camera_country = i % 3 ? kNL : kBE;
    r.captured = now - static_cast<TimestampMs>(rng() % 1000);
    std::string p;
    for (int k = 0; k < 6; ++k) p.push_back(letters[rng() % 27]);
    r.plate = *Plate::from_normalized(p);
    r.camera_id = "NL-A12-HM" + std::to_string(rng() % 100);
    r.id_hash = rng() | 1;
    r.json.assign(60, 'x');  // the compact passage form is about this size
  }
  return v;
}

void BM_StoreWrite(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const bool sync = state.range(1) != 0;
  store::Options o;
  o.dir = fresh_dir();
  o.sync = sync;
  auto policies = config::default_retention_policies();
  std::size_t written = 0;
  {
    store::Store s(o, policies);
    uint64_t seed = 1;
    std::vector<store::Record> recs = make_records(batch, seed);
    for (auto _ : state) {
      state.PauseTiming();
      recs = make_records(batch, ++seed);
      state.ResumeTiming();
      written += s.write(recs);
    }
  }
  std::filesystem::remove_all(o.dir);
  state.SetItemsProcessed(static_cast<int64_t>(written));
  state.counters["sync"] = sync;
}
BENCHMARK(BM_StoreWrite)->Args({256, 0})->Args({4096, 0})->Args({4096, 1})->Args({16384, 1})->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
