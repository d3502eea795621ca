// End-to-end benchmark of the stream processor through the embedded broker (DESIGN §5):
//
//   1. throughput: N synthetic camera reads are produced into a topic first; then a plain
//      librdkafka consumer (the baseline: it only consumes) and the processor (decode, match,
//      publish hits, store offsets) each read all of them in a consumer group of their own,
//      alternately, R rounds. Reported: reads/s and CPU time per read of each, and the ratios.
//   2. latency: reads are produced at half the processor's measured rate into a fresh topic; a
//      control-room consumer of the hits topic measures read-to-hit latency (from the moment the
//      read was produced to the moment its hit is received), p50/p90/p99/p99.9.
//
// The broker runs as a separate process (`anpr broker`), so the CPU figures are the consumer's
// and the processor's alone. Figures are printed, never asserted. `--quick` for CI.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "app/feed.h"
#include "app/processor.h"
#include "bench/bench_data.h"
#include "config/settings.h"
#include "kafka/client.h"
#include "match/formats.h"
#include "tests/process.h"

namespace {

using namespace anpr;
using Clock = std::chrono::steady_clock;

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}
int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Options {
  std::size_t reads = 400'000;
  int partitions = 32;
  int rounds = 3;
  std::size_t entries = 1'000'000;
  double latency_seconds = 20;
  double hit_share = 0.01;
  int threads = 2;
  std::size_t batch = 256;
  int linger_ms = 20;  // batching of the producer that fills the topic before the rounds
};

struct Run {
  double seconds = 0;
  double cpu_seconds = 0;
  uint64_t reads = 0;
  double rate() const { return static_cast<double>(reads) / seconds; }
  double cpu_us_per_read() const { return cpu_seconds * 1e6 / static_cast<double>(reads); }
};

kafka::Properties consumer_props(const std::string& bootstrap, const std::string& group) {
  return {{"bootstrap.servers", bootstrap},       {"group.id", group},
          {"auto.offset.reset", "earliest"},      {"enable.partition.eof", "false"},
          {"queued.min.messages", "1000000"}, {"queued.max.messages.kbytes", "131072"},
          {"log_level", "3"}};
}

// The baseline: consume N messages and do nothing with them.
Run raw_consume(const std::string& bootstrap, const std::string& topic, uint64_t n, int round) {
  kafka::Handle c = kafka::make_client(
      RD_KAFKA_CONSUMER,
      kafka::make_conf(consumer_props(bootstrap, "bench-raw-" + std::to_string(round))));
  rd_kafka_poll_set_consumer(c.get());
  kafka::PartitionList t(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(t.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(c.get(), t.get());
  Run r;
  Clock::time_point start;
  double cpu0 = 0;
  uint64_t bytes = 0;
  while (r.reads < n) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(c.get(), 100);
    if (!m) continue;
    if (!m->err) {
      if (r.reads++ == 0) {
        start = Clock::now();
        cpu0 = process_cpu_seconds();
      }
      bytes += m->len;
    }
    rd_kafka_message_destroy(m);
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.cpu_seconds = process_cpu_seconds() - cpu0;
  rd_kafka_consumer_close(c.get());
  if (bytes == 0) std::fprintf(stderr, "no bytes?\n");
  return r;
}

std::size_t g_batch = 256;

config::Settings settings_for(const std::string& bootstrap, const std::string& group,
                              const std::string& reads, const std::string& hits, int threads) {
  config::Settings s;
  s.pipeline.batch = g_batch;
  s.kafka.brokers = bootstrap;
  s.kafka.group_id = group;
  s.kafka.common = {{"log_level", "3"}};
  // ANPR_BENCH_CONSUMER="name=value,..." adds librdkafka properties to the processor's consumer.
  // ANPR_BENCH_PRODUCER likewise for its producer.
  auto add = [](const char* env, std::map<std::string, std::string>& to) {
    const char* e = std::getenv(env);
    if (!e) return;
    const std::string all(e);
    for (std::size_t pos = 0; pos < all.size();) {
      std::size_t end = all.find(',', pos);
      if (end == std::string::npos) end = all.size();
      const std::string kv = all.substr(pos, end - pos);
      const std::size_t eq = kv.find('=');
      if (eq != std::string::npos) to[kv.substr(0, eq)] = kv.substr(eq + 1);
      pos = end + 1;
    }
  };
  add("ANPR_BENCH_CONSUMER", s.kafka.consumer);
  add("ANPR_BENCH_PRODUCER", s.kafka.producer);
  s.topics.reads = reads;
  s.topics.hits = hits;
  s.pipeline.threads = threads;
  s.countries = config::default_country_policies();
  return s;
}

Run processor_consume(const config::Settings& s, LiveIndex& index, const CameraRegistry& cams,
                      uint64_t n) {
  app::Processor p(s, index, cams);
  std::thread t([&] { p.run(); });
  Run r;
  while (p.counters().reads == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const auto start = Clock::now();
  const double cpu0 = process_cpu_seconds();
  static const bool trace = std::getenv("ANPR_BENCH_TRACE") != nullptr;
  auto last = Clock::now();
  for (;;) {
    const app::ProcessorCounters c = p.counters();
    if (c.reads >= n && c.unfinished == 0) break;
    if (trace && Clock::now() - last > std::chrono::milliseconds(100)) {
      last = Clock::now();
      std::fprintf(stderr, "[trace] %.2f s: %llu reads, %llu unfinished, %llu hits\n",
                   std::chrono::duration<double>(last - start).count(),
                   static_cast<unsigned long long>(c.reads),
                   static_cast<unsigned long long>(c.unfinished),
                   static_cast<unsigned long long>(c.hits));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.cpu_seconds = process_cpu_seconds() - cpu0;
  r.reads = p.counters().reads;
  p.request_stop();
  t.join();
  return r;
}

void progress(const char* what, std::size_t done, std::size_t total) {
  if (!isatty(2)) return;
  const int width = 40;
  const int fill = static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width);
  std::fprintf(stderr, "\r[bench] %-28s [%.*s%*s] %3.0f%%", what, fill,
               "########################################", width - fill, "",
               100.0 * static_cast<double>(done) / static_cast<double>(total));
  if (done >= total) std::fprintf(stderr, "\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      o.reads = 100'000;
      o.rounds = 2;
      o.entries = 100'000;
      o.latency_seconds = 8;
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
    } else {
      std::fprintf(stderr,
                   "usage: pipeline_bench [--quick] [--reads N] [--entries N] [--threads N] [--batch N]\n"
                   "                      [--partitions N]   (reads * ~250 B / N must stay < 5 MiB)\n"
                   "                      [--linger MS]      (batching of the reads' producer, default 20)\n");
      return 2;
    }
  }

  g_batch = o.batch;
  // The broker, in a process of its own.
  anpr::testing::Child broker({std::string(ANPR_BINARY_DIR) + "/app/anpr", "broker",
                               "--partitions", std::to_string(o.partitions), "--topic",
                               "bench.reads", "--topic", "bench.hits", "--topic", "bench.lat.reads",
                               "--topic", "bench.lat.hits"},
                              true, "/dev/null");
  const std::string bootstrap = broker.read_line(20'000);
  if (bootstrap.empty()) {
    std::fprintf(stderr, "pipeline_bench: the embedded broker did not start\n");
    return 3;
  }

  // Reference entries (60 % NL, 30 % BE, 10 % LU) and 120 cameras.
  bench::Rng rng(7);
  IndexBuilder builder;
  ListMeta meta;
  meta.id = "bench-stolen";
  meta.owner = kNL;
  meta.mode = MatchMode::ocr;
  meta.default_category = Category::stolen_vehicle;
  const uint16_t list = builder.add_list(meta);
  builder.reserve(o.entries, o.entries * 12);
  for (std::size_t i = 0; i < o.entries; ++i) {
    const CountryCode c = bench::random_country(rng);
    builder.add(list, bench::random_plate(rng, c), c, Category::stolen_vehicle, Action::intercept,
                20, kNoExpiry, "REF" + std::to_string(i), "");
  }
  LiveIndex index(std::shared_ptr<const Snapshot>(builder.build()));
  std::string cams = "camera_id,country,site,lat,lon,control_room\n";
  for (int i = 0; i < 120; ++i) {
    const char* cc = i % 10 < 6 ? "NL" : i % 10 < 9 ? "BE" : "LU";
    cams += "cam-" + std::to_string(i) + "," + cc + ",Site " + std::to_string(i) + ",50.5,5.5,R-" +
            cc + "\n";
  }
  const CameraRegistry registry = CameraRegistry::parse(cams, "bench cameras");

  // Phase 1: produce N reads.
  {
    kafka::Producer prod({{"bootstrap.servers", bootstrap}, {"linger.ms", std::to_string(o.linger_ms)},
                          {"batch.num.messages", "10000"}, {"log_level", "3"}},
                         nullptr);
    app::FeedOptions fo;
    fo.listed_share = o.hit_share;
    app::SyntheticFeed feed(registry, *index.read(), fo);
    std::string json, key;
    const int64_t t0 = wall_us() / 1000;
    for (std::size_t i = 0; i < o.reads; ++i) {
      feed.next(t0 + static_cast<int64_t>(i), json, key);
      prod.produce("bench.reads", key, json);
      if (i % 4096 == 0) {
        prod.poll(0);
        progress("producing reads", i, o.reads);
      }
    }
    prod.flush(120'000);
    progress("producing reads", o.reads, o.reads);
  }

  // Phase 2: alternate baseline and processor rounds.
  std::vector<Run> raw, proc;
  for (int r = 0; r < o.rounds; ++r) {
    progress("throughput rounds", static_cast<std::size_t>(2 * r), static_cast<std::size_t>(2 * o.rounds));
    raw.push_back(raw_consume(bootstrap, "bench.reads", o.reads, r));
    progress("throughput rounds", static_cast<std::size_t>(2 * r + 1), static_cast<std::size_t>(2 * o.rounds));
    config::Settings s = settings_for(bootstrap, "bench-proc-" + std::to_string(r), "bench.reads",
                                      "bench.hits", o.threads);
    proc.push_back(processor_consume(s, index, registry, o.reads));
  }
  progress("throughput rounds", 1, 1);
  auto best = [](const std::vector<Run>& v) {
    return *std::max_element(v.begin(), v.end(),
                             [](const Run& a, const Run& b) { return a.rate() < b.rate(); });
  };
  const Run rb = best(raw), pb = best(proc);

  // Phase 3: latency at several steady rates, up to half the processor's measured rate. The
  // reads are generated and produced by this process, on the same cores as the processor and the
  // broker, so at high rates the producer's own cost counts against the processor.
  std::vector<double> rates = {1000, 10'000, 50'000, pb.rate() / 2};
  std::vector<std::vector<double>> lat_ms(rates.size());      // from the produce() call
  std::vector<std::vector<double>> lat_ack_ms(rates.size());  // from the broker's ack of the read
  // When the broker acknowledged each read: acked[step][i], in microseconds (0 = not yet).
  std::vector<std::unique_ptr<std::atomic<int64_t>[]>> acked(rates.size());
  std::vector<std::size_t> step_total(rates.size());
  const double step_seconds = o.latency_seconds / static_cast<double>(rates.size());
  for (std::size_t i = 0; i < rates.size(); ++i) {
    step_total[i] = static_cast<std::size_t>(rates[i] * step_seconds);
    acked[i].reset(new std::atomic<int64_t>[step_total[i] + 1]());
  }
  {
    config::Settings s =
        settings_for(bootstrap, "bench-lat", "bench.lat.reads", "bench.lat.hits", o.threads);
    app::Processor p(s, index, registry);
    std::thread pt([&] { p.run(); });
    std::atomic<bool> stop{false};
    std::thread viewer([&] {
      auto props = consumer_props(bootstrap, "bench-lat-viewer");
      props.emplace_back("fetch.wait.max.ms", "1");
      kafka::Handle c = kafka::make_client(RD_KAFKA_CONSUMER, kafka::make_conf(props));
      rd_kafka_poll_set_consumer(c.get());
      kafka::PartitionList t(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(t.get(), "bench.lat.hits", RD_KAFKA_PARTITION_UA);
      rd_kafka_subscribe(c.get(), t.get());
      simdjson::dom::parser parser;
      while (!stop.load()) {
        kafka::Message m(rd_kafka_consumer_poll(c.get(), 50));
        if (!m || m->err) continue;
        const int64_t now = wall_us();
        simdjson::dom::element d;
        std::string_view id;
        // event ids are "L<step>-<produced at, us>-<n>"
        if (parser.parse(static_cast<const char*>(m->payload), m->len).get(d) ||
            d["event_id"].get(id) || id.size() < 2 || id[0] != 'L')
          continue;
        const std::size_t a = id.find('-'), b = id.find('-', a + 1);
        const std::size_t step = std::stoul(std::string(id.substr(1, a - 1)));
        const int64_t sent = std::stoll(std::string(id.substr(a + 1, b - a - 1)));
        if (step >= lat_ms.size()) continue;
        lat_ms[step].push_back(static_cast<double>(now - sent) / 1000.0);
        const std::size_t n = std::stoul(std::string(id.substr(b + 1)));
        const int64_t ack = n < step_total[step] ? acked[step][n].load() : 0;
        if (ack > 0) lat_ack_ms[step].push_back(static_cast<double>(now - ack) / 1000.0);
      }
      rd_kafka_consumer_close(c.get());
    });
    // Wait for both consumers to join their groups before the clock starts.
    std::this_thread::sleep_for(std::chrono::seconds(4));
    // The cameras' side: a producer that batches for up to 5 ms, as a camera gateway would (the
    // embedded broker returns one batch per partition per fetch, so tiny batches would cap the
    // rate it can serve). Its acknowledgements mark when each read was in Kafka.
    kafka::Producer prod({{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}, {"log_level", "3"}},
                         [&](rd_kafka_resp_err_t e, void* opaque, const rd_kafka_message_t&) {
                           if (e) return;
                           const auto tag = reinterpret_cast<uintptr_t>(opaque);
                           const std::size_t step = tag >> 40, i = (tag & ((uintptr_t{1} << 40) - 1)) - 1;
                           if (step < acked.size() && i < step_total[step]) acked[step][i] = wall_us();
                         });
    prod.prepare_topics({"bench.lat.reads"}, 10'000);
    // Serve acknowledgements as they arrive, so an ack's time is when the broker answered.
    std::atomic<bool> acks_stop{false};
    std::thread acker([&] {
      while (!acks_stop.load()) prod.poll(100);
    });
    app::FeedOptions fo;
    fo.listed_share = o.hit_share;
    fo.seed = 99;
    app::SyntheticFeed feed(registry, *index.read(), fo);
    std::string json, key;
    for (std::size_t step = 0; step < rates.size(); ++step) {
      const double rate = rates[step];
      const auto start = Clock::now();
      const std::size_t total = step_total[step];
      for (std::size_t i = 0; i < total; ++i) {
        std::this_thread::sleep_until(
            start + std::chrono::nanoseconds(static_cast<int64_t>(1e9 * static_cast<double>(i) / rate)));
        const int64_t now = wall_us();
        feed.next(now / 1000, json, key);
        const auto pos = json.find("\"event_id\":\"") + 12;
        const auto end = json.find('"', pos);
        json.replace(pos, end - pos,
                     "L" + std::to_string(step) + "-" + std::to_string(now) + "-" + std::to_string(i));
        prod.produce("bench.lat.reads", key, json,
                     reinterpret_cast<void*>((uintptr_t{step} << 40) | (i + 1)));
        if (i % 1024 == 0) progress("latency steps", step * 1000 + i * 1000 / total, rates.size() * 1000);
      }
      // Let the step's hits arrive before the next step starts.
      prod.flush(30'000);
      for (int w = 0; w < 100 && p.counters().unfinished > 0; ++w)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    progress("latency steps", 1, 1);
    acks_stop = true;
    acker.join();
    stop = true;
    viewer.join();
    p.request_stop();
    pt.join();
  }
  auto pct = [](std::vector<double>& v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
  };

  const double ratio = pb.rate() / rb.rate();
  const double cpu_ratio = pb.cpu_us_per_read() / rb.cpu_us_per_read();
  std::printf("\nEND-TO-END THROUGH THE EMBEDDED BROKER  (%zu reads, %d partitions, %zu reference "
              "entries, %.0f %% listed, %d processor threads, reads produced with linger %d ms, "
              "best of %d rounds)\n",
              o.reads, o.partitions, o.entries, o.hit_share * 100, o.threads, o.linger_ms, o.rounds);
  std::printf("---------------------------------------------------------------------------------------\n");
  std::printf("%-34s | %12s | %12s | %8s | %s\n", "", "reads/s", "CPU us/read", "ratio", "target");
  std::printf("%-34s | %12.0f | %12.2f | %8s | %s\n", "raw consume (baseline)", rb.rate(),
              rb.cpu_us_per_read(), "1.00", "");
  std::printf("%-34s | %12.0f | %12.2f | %8.2f | >= 0.90 x raw rate: %s\n", "processor (decode+match+publish)",
              pb.rate(), pb.cpu_us_per_read(), ratio, ratio >= 0.9 ? "ok" : "MISSED");
  std::printf("%-34s | %12s | %12s | %8.2f | <= 1.5 x raw CPU/read: %s\n", "CPU per read, processor / raw", "",
              "", cpu_ratio, cpu_ratio <= 1.5 ? "ok" : "MISSED");
  for (int r = 0; r < o.rounds; ++r)
    std::printf("  round %d: raw %.0f reads/s (%.2f us CPU/read), processor %.0f reads/s (%.2f us CPU/read)\n",
                r + 1, raw[r].rate(), raw[r].cpu_us_per_read(), proc[r].rate(), proc[r].cpu_us_per_read());
  std::printf("\nread-to-hit latency: from the broker's acknowledgement of the read (it is in Kafka) to\n"
              "the hit's arrival at a control-room consumer; in brackets p50/p99 from the camera side's\n"
              "produce() call, which adds the camera producer's batching (linger 5 ms):\n");
  std::printf("%-26s | %6s | %7s | %7s | %7s | %8s | %7s | %-15s | %s\n", "steady rate", "hits",
              "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "from produce()", "target");
  for (std::size_t i = 0; i < rates.size(); ++i) {
    auto& v = lat_ack_ms[i];
    const double from_p50 = pct(lat_ms[i], 0.5), from_p99 = pct(lat_ms[i], 0.99);
    const bool half = i + 1 == rates.size();
    char label[64];
    std::snprintf(label, sizeof label, "%.0f reads/s%s", rates[i], half ? " (half max)" : "");
    const double p99 = pct(v, 0.99);
    char from[32];
    std::snprintf(from, sizeof from, "%.1f / %.1f", from_p50, from_p99);
    std::printf("%-26s | %6zu | %7.2f | %7.2f | %7.2f | %8.2f | %7.2f | %-15s | %s\n", label,
                v.size(), pct(v, 0.5), pct(v, 0.9), p99, pct(v, 0.999), v.empty() ? 0.0 : v.back(),
                from, half ? (!v.empty() && p99 <= 10 ? "p99 <= 10 ms: ok" : "p99 <= 10 ms: MISSED") : "");
  }
  std::printf("peak RSS of this process: %.0f MiB\n", peak_rss_mib());
  return 0;
}
