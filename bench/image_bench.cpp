// Cost of the images of a hit (image/): base64, the header probe, decoding, the thumbnail and its
// encoding, and, for countries that keep images, an overview image searched for faces, blurred and
// re-encoded. Google Benchmark; each row's time is per image. The baseline row is a plain
// cv::imdecode of the same plate JPEG (no probe, no limits, no thumbnail), measured in the same run.
//
//   build/bench/image_bench                       # all rows, ~20 s
//   build/bench/image_bench --benchmark_filter=plate
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "image/image.h"
#include "image/jpeg.h"
#include "testing/image_samples.h"

namespace {

using namespace anpr;

struct Sample {
  std::vector<uint8_t> jpeg;
  std::string b64;
};

Sample make(const cv::Mat& img, int quality = 85) {
  Sample s;
  s.jpeg = testing::encode(img, ".jpg", {cv::IMWRITE_JPEG_QUALITY, quality});
  image::base64_append(s.jpeg, s.b64);
  return s;
}

// The plate patch of an infrared camera (grey, 240 x 54, as pipeline_bench --images sends), a
// colour one (320 x 72) and a high-resolution one (1280 x 288).
const Sample& grey_plate() {
  static const Sample s = [] {
    cv::Mat grey;
    cv::cvtColor(testing::plate_image(240, 54), grey, cv::COLOR_BGR2GRAY);
    cv::GaussianBlur(grey, grey, cv::Size(3, 3), 0);
    return make(grey, 80);
  }();
  return s;
}
const Sample& plate() {
  static const Sample s = make(testing::plate_image(320, 72));
  return s;
}
const Sample& big_plate() {
  static const Sample s = make(testing::plate_image(1280, 288));
  return s;
}
// An overview (1280 x 720) with a face, smoothed like a real photo.
const Sample& overview() {
  static const Sample s = [] {
    cv::Mat img = testing::face_scene(1280, 720, {600, 200}, 260);
    cv::GaussianBlur(img, img, cv::Size(0, 0), 2.0);
    return make(img);
  }();
  return s;
}

void set_bytes(benchmark::State& state, const Sample& s) {
  state.counters["jpeg_bytes"] = static_cast<double>(s.jpeg.size());
  state.SetItemsProcessed(state.iterations());
}

void BM_baseline_imdecode(benchmark::State& state) {
  const Sample& s = plate();
  for (auto _ : state) {
    cv::Mat m = cv::imdecode(s.jpeg, cv::IMREAD_COLOR);
    benchmark::DoNotOptimize(m.data);
  }
  set_bytes(state, s);
}
BENCHMARK(BM_baseline_imdecode)->Name("baseline_imdecode/plate_320x72");

void BM_base64(benchmark::State& state) {
  const Sample& s = plate();
  std::vector<uint8_t> out;
  for (auto _ : state) benchmark::DoNotOptimize(image::base64_decode(s.b64, out, 1 << 20).ok());
  set_bytes(state, s);
}
BENCHMARK(BM_base64)->Name("base64_decode/plate_320x72");

void BM_probe(benchmark::State& state) {
  const Sample& s = plate();
  for (auto _ : state) benchmark::DoNotOptimize(image::probe_jpeg(s.jpeg, image::Limits{}).ok());
  set_bytes(state, s);
}
BENCHMARK(BM_probe)->Name("probe/plate_320x72");

void BM_probe_bomb(benchmark::State& state) {
  // A file declaring 60000 x 60000 pixels: refused from the header.
  std::vector<uint8_t> bomb = plate().jpeg;
  const std::size_t sof = testing::sof_offset(bomb);
  bomb[sof + 5] = 0xEA, bomb[sof + 6] = 0x60, bomb[sof + 7] = 0xEA, bomb[sof + 8] = 0x60;
  for (auto _ : state) benchmark::DoNotOptimize(image::decode_jpeg(bomb, image::Limits{}).ok());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_probe_bomb)->Name("refuse_bomb/60000x60000");

void thumbnail_row(benchmark::State& state, const Sample& s) {
  image::Options opt;
  image::ImageWorker w(opt);
  std::string out;
  for (auto _ : state) {
    out.clear();
    if (w.plate_thumbnail(s.b64, out)) state.SkipWithError("refused");
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, s);
  state.counters["thumbnail_b64_bytes"] = static_cast<double>(out.size());
}
void BM_thumbnail_grey(benchmark::State& state) { thumbnail_row(state, grey_plate()); }
BENCHMARK(BM_thumbnail_grey)->Name("hit_thumbnail/grey_240x54");
void BM_imdecode_grey(benchmark::State& state) {
  const Sample& s = grey_plate();
  for (auto _ : state) {
    cv::Mat m = cv::imdecode(s.jpeg, cv::IMREAD_GRAYSCALE);
    benchmark::DoNotOptimize(m.data);
  }
  set_bytes(state, s);
}
BENCHMARK(BM_imdecode_grey)->Name("baseline_imdecode/grey_240x54");
void BM_thumbnail(benchmark::State& state) { thumbnail_row(state, plate()); }
BENCHMARK(BM_thumbnail)->Name("hit_thumbnail/plate_320x72");
void BM_thumbnail_big(benchmark::State& state) { thumbnail_row(state, big_plate()); }
BENCHMARK(BM_thumbnail_big)->Name("hit_thumbnail/plate_1280x288");

void BM_overview(benchmark::State& state) {
  image::Options opt;
  image::ImageWorker w(opt);
  std::string out;
  for (auto _ : state) {
    out.clear();
    if (w.overview_release(overview().b64, out)) state.SkipWithError("refused");
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, overview());
}
BENCHMARK(BM_overview)->Name("overview_blurred/1280x720")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
