// End-to-end benchmark of the stream processor through the embedded broker (DESIGN §5): the same
// harness as `anpr bench` (app/e2e_bench.h), kept under its old name and flags for scripts.
// Figures are printed, never asserted. `--quick` for CI.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "app/e2e_bench.h"

int main(int argc, char** argv) {
  anpr::app::E2eBenchOptions o;
  for (int i = 1; i < argc; ++i) {
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
                   "`anpr bench --help` has more options.\n");
      return 2;
    }
  }
  o.anpr_binary = std::string(ANPR_BINARY_DIR) + "/app/anpr";
  anpr::app::E2eBenchResult r;
  const int rc = anpr::app::run_e2e_bench(o, r);
  if (rc == 0) std::cout << r.table();
  return rc;
}
