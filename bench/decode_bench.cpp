// Cost of decoding a camera read (ingest/read_event.h): the fast path (the strict one-pass
// scanner) against the general parser alone (simdjson's DOM), on the same reads in the same run,
// with the ratio printed at the end (bench/README.md). The reads are the synthetic camera feed's
// (synth/feed.h): NL, BE and LU plates, a fifth with an OCR candidate, camera positions.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "ingest/cameras.h"
#include "ingest/read_event.h"
#include "match/live_index.h"
#include "synth/feed.h"

namespace {

using namespace anpr;

const std::vector<std::string>& reads() {
  static const std::vector<std::string> r = [] {
    static const CameraRegistry cameras = CameraRegistry::parse(
        "camera_id,country,site,lat,lon,control_room\n"
        "cam-nl-a2-0042,NL,A2 Vinkeveen,52.2166,4.9273,NL-MIDDEN\n"
        "cam-be-e19-0007,BE,E19 Mechelen,51.0259,4.4776,BE-ANTWERPEN\n"
        "cam-lu-a1-0003,LU,A1 Kirchberg,49.6333,6.1667,LU-CGDIS\n",
        "bench cameras");
    static const LiveIndex empty;
    app::SyntheticFeed feed(cameras, empty);
    std::vector<std::string> out(4096);
    std::string key;
    for (std::size_t i = 0; i < out.size(); ++i) feed.next(1'795'000'000'000 + 40 * i, out[i], key);
    return out;
  }();
  return r;
}

void BM_Decode(benchmark::State& state) {
  DecoderOptions o;
  o.fast_path = state.range(0) != 0;
  ReadEventDecoder dec(o);
  ReadEvent ev;
  DecodeError err;
  const auto& r = reads();
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& m = r[i++ & (r.size() - 1)];
    bytes += m.size();
    if (!dec.decode(m, ev, err)) state.SkipWithError(err.detail.c_str());
    benchmark::DoNotOptimize(ev.ts);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetLabel(o.fast_path ? "fast path" : "general parser (baseline)");
}
BENCHMARK(BM_Decode)->Arg(0)->Arg(1)->ArgName("fast");

// The console's rows, then the ratio of the fast path's rate to the general parser's.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (!r.error_occurred && r.run_type == Run::RT_Iteration)
        if (auto it = r.counters.find("items_per_second"); it != r.counters.end())
          rate_[r.benchmark_name()] = it->second.value;
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const double general = rate_["BM_Decode/fast:0"], fast = rate_["BM_Decode/fast:1"];
    if (general > 0 && fast > 0)
      std::printf("\nreads decoded per second: general parser %.0f, fast path %.0f: ratio %.2f\n",
                  general, fast, fast / general);
  }

 private:
  std::map<std::string, double> rate_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  reads();  // built before any timing (and outside a profiler's span of BM_Decode)
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
