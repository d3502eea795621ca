// The engineers' end-to-end benchmark (`anpr bench`, docs/benchmarks.md): the processor through a
// Kafka broker, against a baseline measured on the same broker in the same run.
//
//   1. data: a reference index of `entries` plates in the country mix, cameras in the same mix,
//      and `reads` synthetic camera reads (synth/feed.h: hit rate, OCR noise, OCR candidates, broken
//      messages, optionally a plate image on every read) produced into a topic;
//   2. throughput, `rounds` times: a plain librdkafka consumer (the raw rate: it only consumes)
//      and then the processor (decode, match, publish hits, store offsets) each read every message
//      in a consumer group of their own. Reported: reads/s and CPU time per read of each, and the
//      ratios, best round;
//      With `retention`, each round also runs the processor keeping passages and hits in the
//      retention store (the default NL/BE/LU policies; the store on disk in `state_dir`, synced
//      per write): the kept/not-kept rate ratio is reported against its target (>= 0.85);
//      With `exactly_once` (a cluster with transactions: `brokers`), each round also runs the
//      processor with pipeline.exactly_once; the ratio to the at-least-once processor is reported;
//   3. latency: reads at steady rates up to half the processor's measured rate; a control-room
//      consumer of the hits topic measures read-to-hit latency p50/p90/p99/p99.9 from the broker's
//      acknowledgement of each read, and an observer consumer of the reads splits it into the
//      broker's part, the processor's and the hit's way out. With `exactly_once`, again with the processor in that mode
//      (the hit counts once its transaction is committed: the viewer reads read_committed).
//
// The embedded broker runs as a child process (`anpr broker`), so CPU figures are the consumer's
// and the processor's alone; with `brokers` set, a real cluster is used instead (its topics
// `<topic_prefix>reads|hits|lat.reads|lat.hits` must exist or be auto-created). The processor's
// dead letters and route copies go to `<topic_prefix>deadletter` and `<topic_prefix>route.nl|be|lu`
// (created on first use), never to the product's topics. Progress goes to stderr on a terminal.
// Figures are measurements, never assertions.
//
// Thread safety: run one benchmark at a time per process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "match/types.h"

namespace anpr::app {

struct E2eBenchOptions {
  std::size_t reads = 400'000;     // produced once, consumed by every round
  std::size_t entries = 1'000'000; // reference entries
  int rounds = 3;
  int partitions = 32;             // of the embedded broker's topics (reads * ~250 B / partitions < 5 MiB)
  double latency_seconds = 20;     // in all, over the steady-rate steps
  double hit_rate = 0.01;          // share of reads whose plate is listed
  double ocr_noise = 0.3;          // share of those read with one confusable character changed
  double candidates = 0.2;         // share of reads carrying an OCR candidate
  double broken = 0.0;             // share of reads sent broken (dead letters)
  std::vector<std::pair<CountryCode, int>> mix = {{kNL, 60}, {kBE, 30}, {kLU, 10}};
  std::string image_file;          // a JPEG sent as every read's plate_jpeg ("" = no images)
  bool compare_images = false;     // with image_file: each round also runs the processor with
                                   // images.enabled = false on the same reads (what images cost)
  int threads = 2;                 // processor threads (pipeline.threads)
  std::size_t batch = 256;         // pipeline.batch
  int linger_ms = 20;              // batching of the producer that fills the reads topic
  std::string brokers;             // "" = start the embedded broker
  std::string anpr_binary;         // the `anpr` executable that runs `anpr broker`
  std::string topic_prefix = "bench.";
  bool progress = true;            // a progress bar on stderr when it is a terminal
  bool retention = false;          // also rounds keeping passages and hits in the store
  std::string state_dir;           // where those rounds keep it ("" = ./anpr-bench-state)
  bool latency = true;             // phase 3
  bool exactly_once = false;       // also the processor with pipeline.exactly_once, in each round
                                   // and in a latency run of its own (needs `brokers`)

  // The CI settings: 100 k reads, 100 k entries, 2 rounds, 8 s of latency steps.
  void quick();
};

struct E2eBenchResult {
  struct Round {
    double seconds = 0, cpu_seconds = 0;
    uint64_t reads = 0;  // every read the consumer or processor went through
    std::optional<uint64_t> timed_reads;  // those done within the timed span (none: all)
    uint64_t timed() const { return timed_reads.value_or(reads); }
    double rate() const { return seconds > 0 ? static_cast<double>(timed()) / seconds : 0; }
    double cpu_us_per_read() const {
      return timed() ? cpu_seconds * 1e6 / static_cast<double>(timed()) : 0;
    }
  };
  struct Latency {
    double rate = 0;  // reads/s offered
    bool half_max = false;
    std::size_t hits = 0;
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // ms from the broker's ack of the read
    double produce_p50 = 0, produce_p99 = 0;              // ms from the camera's produce() call
    // Where the time goes, p50 and p99 of each part, in ms (each hit's parts add up to its
    // read-to-hit time; the hit's produce time is the Kafka timestamp of the hit, in whole ms):
    // the broker handing the read to a consumer (acknowledged -> fetched by an observer consumer
    // with the processor's fetch settings), the processor (fetched -> the hit produced: waiting
    // in its queues, decode, match, publish), and the hit's way out (produced -> at the
    // control-room consumer: the producer's linger, the broker's acknowledgement, the fetch).
    std::size_t split = 0;  // hits whose three parts were measured
    double fetch_p50 = 0, fetch_p99 = 0;
    double processor_p50 = 0, processor_p99 = 0;
    double out_p50 = 0, out_p99 = 0;
  };
  E2eBenchOptions options;
  std::vector<Round> raw, processor, kept;  // kept: with the retention store (option retention)
  Round best_raw, best_processor, best_kept;
  std::vector<Round> processor_images_off;  // compare_images only
  Round best_processor_images_off;
  std::vector<uint64_t> image_decodes;      // per processor round
  std::vector<Latency> latency;
  std::vector<Round> eos;            // exactly_once: the processor with pipeline.exactly_once
  Round best_eos;
  std::vector<Latency> eos_latency;
  double peak_rss_mib = 0;
  double index_build_seconds = 0;
  std::size_t index_bytes = 0;
  std::string machine;  // CPU model and core count
  // /proc/loadavg's 1-minute load average when the run started and when it ended: wall-clock
  // figures of a run on a busy machine say little without it.
  double load_start = -1, load_end = -1;

  double rate_ratio() const;  // processor reads/s over raw reads/s
  double cpu_ratio() const;   // processor CPU per read over raw CPU per read
  double kept_ratio_median() const;  // the median of the rounds' own ratios
  double rate_ratio_median() const;  // the same for processor / raw rate
  double cpu_ratio_median() const;   // and for processor / raw CPU per read
  double kept_ratio() const;  // reads/s keeping passages over reads/s keeping nothing
  double image_ratio() const; // compare_images: processor reads/s over the same with images off
  double eos_ratio() const;   // exactly_once: its reads/s over the at-least-once processor's
  std::string table() const;  // the human-readable report
  std::string json() const;
};

// Runs the benchmark. Returns 0; 2 when the load would overflow the embedded broker (5 MiB per
// partition) or `exactly_once` is asked of the embedded broker; 3 when the broker cannot be started or the image file read (the reason on stderr).
int run_e2e_bench(const E2eBenchOptions& options, E2eBenchResult& result);

}  // namespace anpr::app
