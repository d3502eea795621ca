// `anpr bench`: the engineers' end-to-end benchmark (bench/e2e/e2e_bench.h, docs/benchmarks.md).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "bench/e2e/e2e_bench.h"
#include "logging/log.h"

namespace anpr::app {

namespace {

struct BenchArgs {
  E2eBenchOptions o;
  bool quick = false;
  std::string mix = "NL:60,BE:30,LU:10";
  std::string json_file;
};

// "NL:60,BE:30,LU:10" -> weights; throws CLI::ValidationError.
std::vector<std::pair<CountryCode, int>> parse_mix(const std::string& text) {
  std::vector<std::pair<CountryCode, int>> mix;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    const std::size_t colon = item.find(':');
    std::optional<CountryCode> c;
    if (colon != std::string::npos) c = CountryCode::parse(item.substr(0, colon));
    int w = -1;
    try {
      std::size_t used = 0;
      if (colon != std::string::npos) w = std::stoi(item.substr(colon + 1), &used);
      if (used != item.size() - colon - 1) w = -1;
    } catch (const std::exception&) {
      w = -1;
    }
    if (!c || (*c != kNL && *c != kBE && *c != kLU) || w < 0 || w > 100)
      throw CLI::ValidationError("--mix", "expected COUNTRY:PERCENT,... with NL, BE or LU and "
                                          "0..100, got \"" + item + "\"");
    if (w > 0) mix.emplace_back(*c, w);
    pos = end + 1;
  }
  if (mix.empty()) throw CLI::ValidationError("--mix", "expected at least one country with a share above 0");
  return mix;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("anpr");
}

}  // namespace

void add_bench_command(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "End-to-end benchmark: the raw consume rate of the broker, then the processor's throughput, "
      "CPU per read, read-to-hit latency percentiles and peak memory, as a table with the ratios "
      "(docs/benchmarks.md). Starts the embedded broker unless --brokers is given.");
  cmd->add_flag("--quick", a->quick, "CI size: 100 k reads, 100 k entries, 2 rounds, 8 s of latency");
  cmd->add_option("--reads", a->o.reads, "reads produced and consumed per round")
      ->check(CLI::Range(std::size_t{1000}, std::size_t{100'000'000}));
  cmd->add_option("--entries", a->o.entries, "reference entries")
      ->check(CLI::Range(std::size_t{1}, std::size_t{200'000'000}));
  cmd->add_option("--rounds", a->o.rounds, "throughput rounds; the best is reported")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--hit-rate", a->o.hit_rate, "share of reads whose plate is listed")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--ocr-noise", a->o.ocr_noise,
                  "share of listed reads read with one confusable character changed")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--candidates", a->o.candidates,
                  "share of reads that carry an OCR candidate")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--broken", a->o.broken, "share of reads sent broken: dead letters")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--mix", a->mix, "country mix of cameras and list entries");
  cmd->add_option("--image", a->o.image_file, "a JPEG file sent as every read's plate_jpeg")
      ->check(CLI::ExistingFile);
  cmd->add_option("--threads", a->o.threads, "processor threads")->check(CLI::Range(1, 256));
  cmd->add_option("--batch", a->o.batch, "reads per pipeline step")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}));
  cmd->add_option("--partitions", a->o.partitions,
                  "partitions of the embedded broker's topics (reads x ~250 B / partitions must "
                  "stay under 5 MiB)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--latency-seconds", a->o.latency_seconds, "duration of the latency steps")
      ->check(CLI::Range(1.0, 3600.0));
  cmd->add_flag("--retention", a->o.retention,
                "also rounds keeping passages and hits in the retention store, with the ratio to "
                "keeping nothing (target >= 0.80)");
  cmd->add_option("--state-dir", a->o.state_dir,
                  "where --retention keeps its store, on the disk to measure")
      ->default_str("./anpr-bench-state");
  cmd->add_flag("--exactly-once", a->o.exactly_once,
                "also rounds and latency steps with the processor in pipeline.exactly_once "
                "(transactions), with the ratio to at least once; needs --brokers (Apache Kafka)");
  cmd->add_flag("--no-latency", [a](int64_t) { a->o.latency = false; }, "skip the latency steps");
  cmd->add_option("--brokers", a->o.brokers,
                  "a Kafka cluster instead of the embedded broker (topics <prefix>reads, hits, "
                  "lat.reads, lat.hits)");
  cmd->add_option("--topic-prefix", a->o.topic_prefix, "prefix of the benchmark's topics");
  cmd->add_option("--json", a->json_file, "also write the results as JSON to this file (- = stdout, "
                                          "instead of the table)");
  cmd->callback([a, &run] {
    run = [a] {
      E2eBenchOptions o = a->o;
      if (a->quick) {
        const E2eBenchOptions defaults;
        E2eBenchOptions q;
        q.quick();
        // --quick sets the sizes an explicit option did not.
        if (o.reads == defaults.reads) o.reads = q.reads;
        if (o.entries == defaults.entries) o.entries = q.entries;
        if (o.rounds == defaults.rounds) o.rounds = q.rounds;
        if (o.latency_seconds == defaults.latency_seconds) o.latency_seconds = q.latency_seconds;
      }
      try {
        o.mix = parse_mix(a->mix);
      } catch (const CLI::ValidationError& e) {
        std::cerr << "anpr bench: " << e.what() << "\n";
        return kExitUsage;
      }
      o.anpr_binary = self_exe();
      // The processors' partition assignments are not news here; their warnings are.
      if (log::level() < log::Level::warn) log::set_level(log::Level::warn);
      E2eBenchResult r;
      const int rc = run_e2e_bench(o, r);
      if (rc != 0) return rc;
      if (a->json_file == "-") {
        std::cout << r.json() << "\n";
        return kExitOk;
      }
      std::cout << r.table() << std::flush;
      if (!a->json_file.empty()) {
        std::ofstream f(a->json_file, std::ios::binary);
        f << r.json() << "\n";
        if (!f) {
          std::cerr << "anpr bench: cannot write " << a->json_file << "\n";
          return kExitRuntime;
        }
      }
      return kExitOk;
    };
  });
}

}  // namespace anpr::app
