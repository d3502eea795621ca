// End-to-end benchmark of the stream processor through the embedded broker (docs/design.md §5): the same
// harness as `anpr bench` (bench/e2e/e2e_bench.h), kept under its old name and flags for scripts.
// Figures are printed, never asserted. `--quick` for CI.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "bench/e2e/e2e_bench.h"
#include "testing/image_samples.h"

int main(int argc, char** argv) {
  anpr::app::E2eBenchOptions o;
  bool images = false, reads_given = false, partitions_given = false;
  for (int i = 1; i < argc; ++i) {
    reads_given = reads_given || !std::strcmp(argv[i], "--reads");
    partitions_given = partitions_given || !std::strcmp(argv[i], "--partitions");
    if (!std::strcmp(argv[i], "--quick")) {
      o.quick();
    } else if (!std::strcmp(argv[i], "--reads") && i + 1 < argc) {
      o.reads = std::stoul(argv[++i]);
    } else if (!std::strcmp(argv[i], "--entries") && i + 1 < argc) {
      o.entries = std::stoul(argv[++i]);
    } else if (!std::strcmp(argv[i], "--partitions") && i + 1 < argc) {
      o.partitions = std::stoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--linger") && i + 1 < argc) {
      o.linger_ms = std::stoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) {
      o.batch = std::stoul(argv[++i]);
    } else if (!std::strcmp(argv[i], "--images")) {
      images = true;
    } else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      o.threads = std::stoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--retention")) {
      o.retention = true;
    } else if (!std::strcmp(argv[i], "--state-dir") && i + 1 < argc) {
      o.state_dir = argv[++i];
    } else if (!std::strcmp(argv[i], "--no-latency")) {
      o.latency = false;
    } else {
      std::fprintf(stderr,
                   "usage: pipeline_bench [--quick] [--reads N] [--entries N] [--threads N] [--batch N]\n"
                   "                      [--partitions N]   (reads * ~250 B / N must stay < 5 MiB)\n"
                   "                      [--linger MS]      (batching of the reads' producer, default 20)\n"
                   "                      [--retention] [--state-dir DIR] [--no-latency]\n"
                   "                      [--images]         (a ~2 KB plate JPEG on every read; the processor\n"
                   "                                          also runs with images off, for the ratio)\n"
                   "`anpr bench --help` has more options.\n");
      return 2;
    }
  }
  o.anpr_binary = std::string(ANPR_BINARY_DIR) + "/anpr";
  std::filesystem::path image_file;
  if (images) {
    // The plate patch of an infrared ANPR camera: grey, 240 x 54, JPEG quality 80 (about 2 KB).
    // Reads grow to about 3 KB: fewer of them over more partitions stay within the embedded
    // broker's 5 MiB per partition.
    cv::Mat grey;
    cv::cvtColor(anpr::testing::plate_image(240, 54), grey, cv::COLOR_BGR2GRAY);
    cv::GaussianBlur(grey, grey, cv::Size(3, 3), 0);  // a camera's optics, not pixel noise
    const auto jpeg = anpr::testing::encode(grey, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 80});
    image_file = std::filesystem::temp_directory_path() /
                 ("pipeline-bench-plate-" + std::to_string(::getpid()) + ".jpg");
    std::ofstream(image_file, std::ios::binary)
        .write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
    std::fprintf(stderr, "[bench] every read carries a %zu-byte plate JPEG\n", jpeg.size());
    o.image_file = image_file.string();
    o.compare_images = true;
    if (!partitions_given) o.partitions = 128;
    if (!reads_given) o.reads = std::min<std::size_t>(o.reads, 150'000);
  }
  anpr::app::E2eBenchResult r;
  const int rc = anpr::app::run_e2e_bench(o, r);
  if (!image_file.empty()) std::filesystem::remove(image_file);
  if (rc == 0) std::cout << r.table();
  return rc;
}
