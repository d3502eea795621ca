// Cost of keeping passages in the retention store (store/store.h): CPU per record of
// Store::write for the pipeline's group-commit sizes, synced and not (bench/README.md).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "pipeline/retention_sink.h"
#include "config/settings.h"
#include "store/store.h"
#include "store/writer.h"

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

// The pipeline's side of keeping a read: its compact passage record appended to the batch's
// RecordBatch (what the decode + match stage does per read that produced no hit).
void BM_EncodePassage(benchmark::State& state) {
  const auto dir = fresh_dir();
  config::Settings s = config::parse_settings("[cameras]\nregistry = \"c.csv\"\n", "t.toml", dir);
  store::Options o;
  o.dir = dir / "retention";
  {
    app::RetentionSink sink(s, o);
    ReadEvent ev;
    ev.event_id = "0b5c6a1e-7d7e-4bd4-9a51-3f7f0f7d2c11";
    ev.camera_id = "NL-A12-HM-0042";
    ev.ts = 1'795'500'000'000;
    ev.plate = "AB-123-C";
    ev.plate_country = kNL;
    ev.confidence = 0.93;
    ev.lane = 2;
    ev.direction = "north";
    const Camera cam{"NL-A12-HM-0042", kNL, "A12 Utrecht", 52.1, 5.1, "NL-1"};
    const Plate plate = *Plate::from_normalized("AB123C");
    store::RecordBatch rb;
    std::size_t n = 0;
    for (auto _ : state) {
      if (rb.size() == 256) rb.clear();
      sink.encode_passage(ev, cam, plate, rb, 0);
      ++n;
    }
    state.SetItemsProcessed(static_cast<int64_t>(n));
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EncodePassage);

// Store::write of pipeline-sized hand-overs (256 records each) grouped as the writer groups them,
// synced: the store thread's CPU per kept read.
void BM_StoreWriteBatches(benchmark::State& state) {
  const auto groups = static_cast<std::size_t>(state.range(0));
  store::Options o;
  o.dir = fresh_dir();
  std::size_t written = 0;
  {
    store::Store s(o, config::default_retention_policies());
    std::vector<store::RecordBatch> batches(groups);
    uint64_t seed = 1;
    for (auto& b : batches)
      for (const store::Record& r : make_records(256, ++seed))
        b.add(r.kind, r.camera_country, r.captured, r.plate, r.id_hash, r.camera_id).append(r.json);
    std::vector<const store::RecordBatch*> ptrs;
    for (auto& b : batches) ptrs.push_back(&b);
    for (auto _ : state) written += s.write(std::span<const store::RecordBatch* const>(ptrs));
  }
  std::filesystem::remove_all(o.dir);
  state.SetItemsProcessed(static_cast<int64_t>(written));
}
BENCHMARK(BM_StoreWriteBatches)->Arg(1)->Arg(8)->Arg(32)->UseRealTime();

// A plate search over a store of 1 M passages of 100 k plates in 4 MiB segments (about 40 of
// them, nearly all sealed): the cost of one investigator's query (a binary search per segment's
// index, then the records read back).
void BM_SearchPlate(benchmark::State& state) {
  const bool ocr = state.range(0) != 0;
  store::Options o;
  o.dir = fresh_dir();
  o.sync = false;
  o.segment_bytes = 4 << 20;
  {
    store::Store s(o, config::default_retention_policies());
    std::vector<store::Record> recs = make_records(1'000'000, 7);
    std::vector<Plate> plates;
    for (std::size_t i = 0; i < 100'000; ++i) plates.push_back(recs[i].plate);
    for (std::size_t i = 0; i < recs.size(); ++i) {
      recs[i].camera_country = kNL;
      recs[i].plate = plates[i % plates.size()];  // each plate 10 times
    }
    for (std::size_t at = 0; at < recs.size(); at += 8192)
      s.write(std::span<const store::Record>(recs).subspan(at, std::min<std::size_t>(8192, recs.size() - at)));
    std::size_t found = 0, i = 0;
    for (auto _ : state) {
      store::Query q;
      q.plate = plates[(i++ * 7919) % plates.size()];
      q.ocr_tolerant = ocr;
      found += s.search(q).records.size();
    }
    state.counters["records_per_search"] =
        static_cast<double>(found) / static_cast<double>(std::max<std::size_t>(1, i));
  }
  std::filesystem::remove_all(o.dir);
}
BENCHMARK(BM_SearchPlate)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
