#include "bench/e2e/e2e_bench.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include <simdjson.h>
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define ANPR_BENCH_CALLGRIND 1
#endif

#include "synth/feed.h"
#include "pipeline/kafka_props.h"
#include "pipeline/processor.h"
#include "synth/plates.h"
#include "config/settings.h"
#include "export/deadletter.h"
#include "base/child_process.h"
#include "base/json_writer.h"
#include "kafka/client.h"

namespace anpr::app {

namespace {

using Clock = std::chrono::steady_clock;
using Round = E2eBenchResult::Round;

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

double load_average() {
  std::ifstream f("/proc/loadavg");
  double l = -1;
  f >> l;
  return f ? l : -1;
}

std::string machine_text() {
  std::ifstream f("/proc/cpuinfo");
  std::string model;
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  return (model.empty() ? std::string("unknown CPU") : model) + ", " +
         std::to_string(std::thread::hardware_concurrency()) + " cores";
}

// The instruction profile of scripts/profile_e2e.sh (docs/benchmarks.md, "Where the CPU goes"):
// run under callgrind, each timed span (from the first read consumed to the last read done) has
// its counts zeroed at its start and written out at its end, named after it with the number of
// reads done within it ("processor reads=19873": scripts/profile_e2e.sh divides by that). Outside valgrind
// these are a few instructions each, twice per round.
void profile_start() {
#ifdef ANPR_BENCH_CALLGRIND
  CALLGRIND_ZERO_STATS;
#endif
}
void profile_dump([[maybe_unused]] const char* span) {
#ifdef ANPR_BENCH_CALLGRIND
  CALLGRIND_DUMP_STATS_AT(span);
#endif
}

class Progress {
 public:
  explicit Progress(bool on) : on_(on && isatty(2)) {}
  void show(const char* what, double done) const {
    if (!on_) return;
    const int width = 40;
    done = std::clamp(done, 0.0, 1.0);
    const int fill = static_cast<int>(done * width);
    std::fprintf(stderr, "\r[bench] %-28s [%.*s%*s] %3.0f%%", what, fill,
                 "########################################", width - fill, "", 100.0 * done);
    if (done >= 1.0) std::fprintf(stderr, "\n");
  }

 private:
  bool on_;
};

kafka::Properties consumer_props(const std::string& bootstrap, const std::string& group) {
  return {{"bootstrap.servers", bootstrap},  {"group.id", group},
          {"auto.offset.reset", "earliest"}, {"enable.partition.eof", "false"},
          {"queued.min.messages", "1000000"}, {"queued.max.messages.kbytes", "131072"},
          {"log_level", "3"}};
}

// The baseline: consume n messages and do nothing with them.
Round raw_consume(const std::string& bootstrap, const std::string& topic, uint64_t n,
                  const std::string& group) {
  kafka::Consumer c(consumer_props(bootstrap, group));
  c.subscribe({topic});
  Round r;  // CPU and time count from the first message, so joining the group is not timed
  Clock::time_point start;
  double cpu0 = 0;
  const auto give_up = Clock::now() + std::chrono::minutes(10);
  while (r.reads < n && Clock::now() < give_up) {
    const kafka::Message m = c.poll(100);
    if (!m) continue;
    if (!m->err && r.reads++ == 0) {
      profile_start();
      start = Clock::now();
      cpu0 = process_cpu_seconds();
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.cpu_seconds = process_cpu_seconds() - cpu0;
  profile_dump(("raw consume reads=" + std::to_string(r.reads > 0 ? r.reads - 1 : 0)).c_str());
  return r;  // c is closed here
}

config::Settings settings_for(const E2eBenchOptions& o, const std::string& bootstrap,
                              const std::string& group, const std::string& reads,
                              const std::string& hits) {
  config::Settings s;
  s.pipeline.batch = o.batch;
  s.pipeline.threads = o.threads;
  s.kafka.brokers = bootstrap;
  s.kafka.group_id = group;
  s.kafka.common = {{"log_level", "3"}};
  // ANPR_BENCH_CONSUMER="name=value,..." adds librdkafka properties to the processor's consumer;
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
  // The processor as `anpr demo` runs it on the embedded broker (pipeline/kafka_props.h).
  s.kafka.embedded_broker = o.brokers.empty();
  s.topics.reads = reads;
  s.topics.hits = hits;
  // The rest of the processor's output (dead letters, route copies to the list owners) goes to
  // the benchmark's topics too, never to the product's on the same cluster.
  s.topics.deadletter = o.topic_prefix + "deadletter";
  s.topics.route_prefix = o.topic_prefix + "route.";
  s.topics.hit_acks = o.topic_prefix + "hit-acks";
  s.topics.reflists = o.topic_prefix + "reflists";
  s.countries = config::default_country_policies();
  return s;
}

Round processor_consume(const config::Settings& s, LiveIndex& index, const CameraRegistry& cams,
                        uint64_t n, uint64_t* image_decodes = nullptr) {
  Processor p(s, index, cams);
  std::thread t([&] { p.run(); });
  Round r;
  const auto give_up = Clock::now() + std::chrono::minutes(10);
  // Polled every 200 us: reads_consumed() and reads_unfinished() cost a few loads and the
  // tracker's lock, where counters() would copy every per-label map under the lock the publish
  // stage takes (about 50 instructions per read of the processor's, scripts/profile_e2e.sh).
  while (p.reads_consumed() == 0 && Clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  profile_start();
  const auto start = Clock::now();
  const double cpu0 = process_cpu_seconds();
  // The reads consumed before the span began (the poll above is late by up to its period, and
  // by far more under valgrind, whose threads take turns) are not counted in it.
  const uint64_t before = p.reads_consumed();
  for (;;) {
    if ((p.reads_consumed() >= n && p.reads_unfinished() == 0) || Clock::now() > give_up) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.cpu_seconds = process_cpu_seconds() - cpu0;
  r.reads = p.counters().reads;
  // A run so small that every read was through before the poll saw the first: the span holds
  // them all (its rate is then overstated by the poll's lateness, a few hundred microseconds).
  if (before < r.reads) r.timed_reads = r.reads - before;
  profile_dump(("processor reads=" + std::to_string(r.timed())).c_str());
  if (image_decodes) *image_decodes = p.counters().image_decodes;
  p.request_stop();
  t.join();
  return r;
}

CountryCode pick_country(bench::Rng& rng, const std::vector<std::pair<CountryCode, int>>& mix,
                         int total) {
  int r = static_cast<int>(rng.below(static_cast<uint64_t>(total)));
  for (const auto& [c, w] : mix) {
    if (r < w) return c;
    r -= w;
  }
  return mix.back().first;
}

double pct(std::vector<double>& v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

// Inserts "plate_jpeg":"<base64>" before the closing brace of a read event.
void add_image(std::string& json, const std::string& b64) {
  if (b64.empty() || json.empty() || json.back() != '}') return;
  json.pop_back();
  json += ",\"plate_jpeg\":\"";
  json += b64;
  json += "\"}";
}

}  // namespace

void E2eBenchOptions::quick() {
  reads = 100'000;
  rounds = 2;
  entries = 100'000;
  latency_seconds = 8;
}

namespace {
// The median of `f(a[i], b[i])` over the rounds where both ran and `f` is defined (> 0).
template <class F>
double median_of_rounds(const std::vector<E2eBenchResult::Round>& a,
                        const std::vector<E2eBenchResult::Round>& b, F f) {
  std::vector<double> r;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (const double v = f(a[i], b[i]); v > 0) r.push_back(v);
  if (r.empty()) return 0;
  std::sort(r.begin(), r.end());
  return r.size() % 2 ? r[r.size() / 2] : (r[r.size() / 2 - 1] + r[r.size() / 2]) / 2;
}
}  // namespace

double E2eBenchResult::kept_ratio_median() const {
  return median_of_rounds(kept, processor, [](const Round& k, const Round& p) {
    return p.rate() > 0 ? k.rate() / p.rate() : 0;
  });
}

double E2eBenchResult::rate_ratio_median() const {
  return median_of_rounds(processor, raw, [](const Round& p, const Round& r) {
    return r.rate() > 0 ? p.rate() / r.rate() : 0;
  });
}

double E2eBenchResult::cpu_ratio_median() const {
  return median_of_rounds(processor, raw, [](const Round& p, const Round& r) {
    return r.cpu_us_per_read() > 0 ? p.cpu_us_per_read() / r.cpu_us_per_read() : 0;
  });
}

double E2eBenchResult::kept_ratio() const {
  return best_processor.rate() > 0 ? best_kept.rate() / best_processor.rate() : 0;
}

double E2eBenchResult::eos_ratio() const {
  return best_processor.rate() > 0 ? best_eos.rate() / best_processor.rate() : 0;
}

double E2eBenchResult::rate_ratio() const {
  return best_raw.rate() > 0 ? best_processor.rate() / best_raw.rate() : 0;
}
double E2eBenchResult::image_ratio() const {
  return best_processor_images_off.rate() > 0
             ? best_processor.rate() / best_processor_images_off.rate()
             : 0;
}

double E2eBenchResult::cpu_ratio() const {
  return best_raw.cpu_us_per_read() > 0
             ? best_processor.cpu_us_per_read() / best_raw.cpu_us_per_read()
             : 0;
}

int run_e2e_bench(const E2eBenchOptions& o, E2eBenchResult& res) {
  res = E2eBenchResult{};
  res.options = o;
  res.machine = machine_text();
  res.load_start = load_average();
  const Progress progress(o.progress);
  const std::string t_reads = o.topic_prefix + "reads", t_hits = o.topic_prefix + "hits",
                    t_lat_reads = o.topic_prefix + "lat.reads",
                    t_lat_hits = o.topic_prefix + "lat.hits";
  const std::string run_id = std::to_string(::getpid()) + "-" + std::to_string(wall_us());

  if (o.exactly_once && o.brokers.empty()) {
    std::fprintf(stderr,
                 "anpr bench: --exactly-once needs --brokers (Apache Kafka): the embedded broker "
                 "accepts transactions without keeping them\n");
    return 2;
  }

  // `anpr broker` as a child process: its first line on stdout is the bootstrap servers.
  std::unique_ptr<ChildProcess> broker;
  std::string bootstrap = o.brokers;
  if (bootstrap.empty()) {
    std::vector<std::string> args = {o.anpr_binary, "broker", "--partitions",
                                     std::to_string(o.partitions)};
    for (const std::string& t : {t_reads, t_hits, t_lat_reads, t_lat_hits,
                                 o.topic_prefix + "deadletter", o.topic_prefix + "route.nl",
                                 o.topic_prefix + "route.be", o.topic_prefix + "route.lu"})
      args.insert(args.end(), {"--topic", t});
    try {
      broker = std::make_unique<ChildProcess>(args, true, "/dev/null", SIGTERM);
      bootstrap = broker->read_line(20'000);
    } catch (const std::exception&) {
      bootstrap.clear();
    }
    if (bootstrap.empty()) {
      std::fprintf(stderr, "anpr bench: the embedded broker (%s broker) did not start\n",
                   o.anpr_binary.c_str());
      return 3;
    }
  }

  std::string image_b64;
  if (!o.image_file.empty()) {
    std::ifstream f(o.image_file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (!f && bytes.empty()) {
      std::fprintf(stderr, "anpr bench: cannot read %s\n", o.image_file.c_str());
      return 3;
    }
    append_base64(image_b64, bytes);
  }

  // Reference entries and 120 cameras, both in the country mix.
  int mix_total = 0;
  for (const auto& [c, w] : o.mix) mix_total += w;
  bench::Rng rng(7);
  const auto build_start = Clock::now();
  IndexBuilder builder;
  ListMeta meta;
  meta.id = "bench-stolen";
  meta.owner = kNL;
  meta.mode = MatchMode::ocr;
  meta.default_category = Category::stolen_vehicle;
  const uint16_t list = builder.add_list(meta);
  builder.reserve(o.entries, o.entries * 12);
  for (std::size_t i = 0; i < o.entries; ++i) {
    const CountryCode c = pick_country(rng, o.mix, mix_total);
    builder.add(list, bench::random_plate(rng, c), c, Category::stolen_vehicle, Action::intercept,
                20, kNoExpiry, "REF" + std::to_string(i), "");
    if (i % 65536 == 0) progress.show("building the index", 0.9 * static_cast<double>(i) / static_cast<double>(o.entries));
  }
  LiveIndex index(std::shared_ptr<const Snapshot>(builder.build()));
  progress.show("building the index", 1.0);
  res.index_build_seconds = std::chrono::duration<double>(Clock::now() - build_start).count();
  res.index_bytes = index.read()->stats().index_bytes;
  std::string cams = "camera_id,country,site,lat,lon,control_room\n";
  {
    bench::Rng crng(11);
    for (int i = 0; i < 120; ++i) {
      const std::string cc = pick_country(crng, o.mix, mix_total).str();
      cams += "cam-" + std::to_string(i) + "," + cc + ",Site " + std::to_string(i) +
              ",50.5,5.5,R-" + cc + "\n";
    }
  }
  const CameraRegistry registry = CameraRegistry::parse(cams, "bench cameras");
  FeedOptions fo;
  fo.listed_share = o.hit_rate;
  fo.misread_share = o.ocr_noise;
  fo.candidate_share = o.candidates;
  fo.broken_share = o.broken;

  // The embedded broker keeps at most 5 MiB per partition and silently drops older data: a run
  // that would overflow it could never consume every read. Refuse it up front.
  if (o.brokers.empty()) {
    SyntheticFeed sample(registry, index, fo);
    std::string json, key;
    std::size_t bytes = 0;
    for (int i = 0; i < 64; ++i) {
      sample.next(0, json, key);
      add_image(json, image_b64);
      bytes += json.size() + key.size() + 70;  // record overhead in the broker's log
    }
    const double per_partition = static_cast<double>(bytes) / 64.0 * static_cast<double>(o.reads) /
                                 static_cast<double>(o.partitions);
    if (per_partition > 4.5 * 1024 * 1024) {
      std::fprintf(stderr,
                   "anpr bench: %zu reads of about %zu bytes over %d partitions is %.1f MiB per "
                   "partition; the embedded broker keeps at most 5 MiB per partition: lower "
                   "--reads or raise --partitions\n",
                   o.reads, bytes / 64, o.partitions, per_partition / (1024 * 1024));
      return 2;
    }
  }

  // Phase 1: produce the reads.
  {
    kafka::Producer prod({{"bootstrap.servers", bootstrap},
                          {"linger.ms", std::to_string(o.linger_ms)},
                          {"batch.num.messages", "10000"},
                          {"log_level", "3"}},
                         nullptr);
    SyntheticFeed feed(registry, index, fo);
    std::string json, key;
    const int64_t t0 = wall_us() / 1000;
    for (std::size_t i = 0; i < o.reads; ++i) {
      feed.next(t0 + static_cast<int64_t>(i), json, key);
      add_image(json, image_b64);
      while (prod.produce(t_reads, key, json) == RD_KAFKA_RESP_ERR__QUEUE_FULL) prod.poll(10);
      if (i % 4096 == 0) {
        prod.poll(0);
        progress.show("producing reads", static_cast<double>(i) / static_cast<double>(o.reads));
      }
    }
    prod.flush(120'000);
    progress.show("producing reads", 1.0);
  }

  // Phase 2: raw consumer, then the processor, each round in consumer groups of their own.
  for (int r = 0; r < o.rounds; ++r) {
    progress.show("throughput rounds", (2.0 * r) / (2.0 * o.rounds));
    res.raw.push_back(raw_consume(bootstrap, t_reads, o.reads,
                                  "bench-raw-" + run_id + "-" + std::to_string(r)));
    progress.show("throughput rounds", (2.0 * r + 1) / (2.0 * o.rounds));
    if (o.compare_images && !o.image_file.empty()) {
      config::Settings off = settings_for(
          o, bootstrap, "bench-proc-off-" + run_id + "-" + std::to_string(r), t_reads, t_hits);
      off.images.enabled = false;
      res.processor_images_off.push_back(processor_consume(off, index, registry, o.reads));
    }
    config::Settings s =
        settings_for(o, bootstrap, "bench-proc-" + run_id + "-" + std::to_string(r), t_reads, t_hits);
    uint64_t decodes = 0;
    res.processor.push_back(processor_consume(s, index, registry, o.reads, &decodes));
    res.image_decodes.push_back(decodes);
    if (o.exactly_once) {
      // The same with pipeline.exactly_once (a transactional.id of the round's own).
      config::Settings e = settings_for(o, bootstrap, "bench-eos-" + run_id + "-" + std::to_string(r),
                                        t_reads, t_hits);
      e.pipeline.exactly_once = true;
      e.kafka.transactional_id = "bench-eos-" + run_id + "-" + std::to_string(r);
      res.eos.push_back(processor_consume(e, index, registry, o.reads));
    }
    if (o.retention) {
      // The same, keeping passages and hits (a fresh store each round).
      config::Settings k = settings_for(o, bootstrap, "bench-kept-" + run_id + "-" + std::to_string(r),
                                        t_reads, t_hits);
      k.retention.policies = config::default_retention_policies();
      k.state_dir = (o.state_dir.empty() ? std::filesystem::current_path() / "anpr-bench-state"
                                         : std::filesystem::path(o.state_dir)) /
                    ("round-" + std::to_string(r));
      std::error_code ec;
      std::filesystem::remove_all(k.state_dir, ec);
      res.kept.push_back(processor_consume(k, index, registry, o.reads));
      std::filesystem::remove_all(k.state_dir, ec);
    }
  }
  progress.show("throughput rounds", 1.0);
  auto best = [](const std::vector<Round>& v) {
    return *std::max_element(v.begin(), v.end(),
                             [](const Round& a, const Round& b) { return a.rate() < b.rate(); });
  };
  res.best_raw = best(res.raw);
  res.best_processor = best(res.processor);
  if (!res.kept.empty()) res.best_kept = best(res.kept);
  if (!res.eos.empty()) res.best_eos = best(res.eos);
  if (!res.processor_images_off.empty()) res.best_processor_images_off = best(res.processor_images_off);

  // Phase 3: latency at several steady rates, up to half the processor's measured rate. The
  // reads are generated and produced by this process, on the same cores as the processor (and
  // the embedded broker), so at high rates the producer's own cost counts against the processor.
  // With `exactly_once`, a second run measures the processor with pipeline.exactly_once: it
  // starts at the end of the latency topics (the first run's reads and hits are there), and its
  // event ids start with 'E' instead of 'L'; the viewer reads with isolation.level
  // read_committed (librdkafka's default), so a hit counts once its transaction is committed.
  auto latency_run = [&](config::Settings s, char tag,
                         std::vector<E2eBenchResult::Latency>& results) {
    // 20 000 reads/s: twice the peak of a 10 000-camera network, the first latency target of
    // docs/design.md §5; half the maximum rate, the second.
    std::vector<double> rates = {1000, 10'000, 20'000, 50'000, res.best_processor.rate() / 2};
    if (!o.latency) rates.clear();
    rates.erase(std::remove_if(rates.begin(), rates.end() - 1,
                               [&](double r) { return r >= rates.back(); }),
                rates.end() - 1);
    std::vector<std::vector<double>> lat_ms(rates.size()), lat_ack_ms(rates.size());
    std::vector<std::vector<double>> fetch_ms(rates.size()), proc_ms(rates.size()),
        out_ms(rates.size());
    std::vector<std::unique_ptr<std::atomic<int64_t>[]>> acked(rates.size()), fetched(rates.size());
    std::vector<std::size_t> step_total(rates.size());
    const double step_seconds = o.latency_seconds / static_cast<double>(rates.size());
    for (std::size_t i = 0; i < rates.size(); ++i) {
      step_total[i] = static_cast<std::size_t>(rates[i] * step_seconds);
      acked[i].reset(new std::atomic<int64_t>[step_total[i] + 1]());
      fetched[i].reset(new std::atomic<int64_t>[step_total[i] + 1]());
    }
    // event ids are "<tag><step>-<produced at, us>-<n>": (step, n), or false for anything else,
    // reads of an earlier run on the same topics included.
    const int64_t run_start_us = wall_us();
    auto parse_id = [&](std::string_view id, std::size_t& step, int64_t& sent, std::size_t& n) {
      if (id.size() < 2 || id[0] != tag) return false;
      const std::size_t a = id.find('-'), b = id.find('-', a + 1);
      if (a == std::string_view::npos || b == std::string_view::npos) return false;
      auto num = [](std::string_view t, auto& out) {
        return !t.empty() &&
               std::from_chars(t.data(), t.data() + t.size(), out).ptr == t.data() + t.size();
      };
      return num(id.substr(1, a - 1), step) && num(id.substr(a + 1, b - a - 1), sent) &&
             num(id.substr(b + 1), n) && step < rates.size() && sent >= run_start_us;
    };
    if (!rates.empty()) {
      Processor p(s, index, registry);
      std::thread pt([&] { p.run(); });
      std::atomic<bool> stop{false};
      // The observer: a plain consumer of the reads with the processor's fetch settings, in a
      // group of its own, marks when each read could be fetched from the broker.
      std::thread observer([&] {
        auto props = consumer_props(bootstrap, "bench-lat-observer-" + std::string(1, tag) + run_id);
        for (const auto& [k, v] : processor_consumer_properties(s.kafka))
          if (k == "fetch.wait.max.ms") props.emplace_back(k, v);
        if (tag != 'L') props.emplace_back("auto.offset.reset", "latest");
        kafka::Consumer c(props);
        c.subscribe({t_lat_reads});
        constexpr std::string_view kId = "\"event_id\":\"";
        while (!stop.load()) {
          const kafka::Message m = c.poll(50);
          if (!m || m->err) continue;
          const int64_t now = wall_us();
          const std::string_view v(static_cast<const char*>(m->payload), m->len);
          const std::size_t pos = v.find(kId);
          if (pos == std::string_view::npos) continue;
          const std::size_t end = v.find('"', pos + kId.size());
          std::size_t step = 0, n = 0;
          int64_t sent = 0;
          if (end == std::string_view::npos ||
              !parse_id(v.substr(pos + kId.size(), end - pos - kId.size()), step, sent, n))
            continue;
          if (n < step_total[step]) fetched[step][n] = now;
        }
      });
      std::thread viewer([&] {
        auto props = consumer_props(bootstrap, "bench-lat-viewer-" + std::string(1, tag) + run_id);
        props.emplace_back("fetch.wait.max.ms", "1");
        if (tag != 'L') props.emplace_back("auto.offset.reset", "latest");
        kafka::Consumer c(props);  // closed as the thread ends
        c.subscribe({t_lat_hits});
        simdjson::dom::parser parser;
        while (!stop.load()) {
          const kafka::Message m = c.poll(50);
          if (!m || m->err) continue;
          const int64_t now = wall_us();
          simdjson::dom::element d;
          std::string_view id;
          std::size_t step = 0, n = 0;
          int64_t sent = 0;
          if (parser.parse(static_cast<const char*>(m->payload), m->len).get(d) ||
              d["event_id"].get(id) || !parse_id(id, step, sent, n))
            continue;
          lat_ms[step].push_back(static_cast<double>(now - sent) / 1000.0);
          const int64_t ack = n < step_total[step] ? acked[step][n].load() : 0;
          if (ack <= 0) continue;
          lat_ack_ms[step].push_back(static_cast<double>(now - ack) / 1000.0);
          // The hit's Kafka timestamp: when the processor produced it (CreateTime, ms).
          rd_kafka_timestamp_type_t type;
          const int64_t produced_ms = rd_kafka_message_timestamp(m.get(), &type);
          const int64_t got = fetched[step][n].load();
          if (type != RD_KAFKA_TIMESTAMP_CREATE_TIME || produced_ms <= 0 || got <= 0) continue;
          const double produced_us = static_cast<double>(produced_ms) * 1000.0 + 500.0;
          fetch_ms[step].push_back(static_cast<double>(got - ack) / 1000.0);
          proc_ms[step].push_back(std::max(0.0, (produced_us - static_cast<double>(got)) / 1000.0));
          out_ms[step].push_back(std::max(0.0, (static_cast<double>(now) - produced_us) / 1000.0));
        }
      });
      // Wait for both consumers to join their groups before the clock starts.
      std::this_thread::sleep_for(std::chrono::seconds(4));
      // The cameras' side: a producer that batches for up to 5 ms, as a camera gateway would. Its
      // acknowledgements mark when each read was in Kafka.
      kafka::Producer prod(
          {{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}, {"log_level", "3"}},
          [&](rd_kafka_resp_err_t e, void* opaque, const rd_kafka_message_t&) {
            if (e) return;
            const auto tag = reinterpret_cast<uintptr_t>(opaque);
            const std::size_t step = tag >> 40, i = (tag & ((uintptr_t{1} << 40) - 1)) - 1;
            if (step < acked.size() && i < step_total[step]) acked[step][i] = wall_us();
          });
      prod.prepare_topics({t_lat_reads}, 10'000);
      std::atomic<bool> acks_stop{false};
      std::thread acker([&] {
        while (!acks_stop.load()) prod.poll(100);
      });
      FeedOptions lfo = fo;
      lfo.seed = 99;
      SyntheticFeed feed(registry, index, lfo);
      std::string json, key;
      for (std::size_t step = 0; step < rates.size(); ++step) {
        const double rate = rates[step];
        const auto start = Clock::now();
        const std::size_t total = step_total[step];
        for (std::size_t i = 0; i < total; ++i) {
          std::this_thread::sleep_until(start + std::chrono::nanoseconds(static_cast<int64_t>(
                                                    1e9 * static_cast<double>(i) / rate)));
          const int64_t now = wall_us();
          feed.next(now / 1000, json, key);
          const auto pos = json.find("\"event_id\":\"") + 12;
          const auto end = json.find('"', pos);
          json.replace(pos, end - pos,
                       std::string(1, tag) + std::to_string(step) + "-" + std::to_string(now) + "-" +
                           std::to_string(i));
          add_image(json, image_b64);
          prod.produce(t_lat_reads, key, json,
                       reinterpret_cast<void*>((uintptr_t{step} << 40) | (i + 1)));
          if (i % 1024 == 0)
            progress.show(tag == 'L' ? "latency steps" : "latency steps, exactly once", (static_cast<double>(step) +
                                            static_cast<double>(i) / static_cast<double>(total)) /
                                               static_cast<double>(rates.size()));
        }
        // Let the step's hits arrive before the next step starts.
        prod.flush(30'000);
        for (int w = 0; w < 100 && p.reads_unfinished() > 0; ++w)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      progress.show(tag == 'L' ? "latency steps" : "latency steps, exactly once", 1.0);
      acks_stop = true;
      acker.join();
      stop = true;
      viewer.join();
      observer.join();
      p.request_stop();
      pt.join();
    }
    for (std::size_t i = 0; i < rates.size(); ++i) {
      E2eBenchResult::Latency l;
      l.rate = rates[i];
      l.half_max = i + 1 == rates.size();
      auto& v = lat_ack_ms[i];
      l.hits = v.size();
      l.p50 = pct(v, 0.5);
      l.p90 = pct(v, 0.9);
      l.p99 = pct(v, 0.99);
      l.p999 = pct(v, 0.999);
      l.max = v.empty() ? 0.0 : v.back();
      l.produce_p50 = pct(lat_ms[i], 0.5);
      l.produce_p99 = pct(lat_ms[i], 0.99);
      l.split = fetch_ms[i].size();
      l.fetch_p50 = pct(fetch_ms[i], 0.5);
      l.fetch_p99 = pct(fetch_ms[i], 0.99);
      l.processor_p50 = pct(proc_ms[i], 0.5);
      l.processor_p99 = pct(proc_ms[i], 0.99);
      l.out_p50 = pct(out_ms[i], 0.5);
      l.out_p99 = pct(out_ms[i], 0.99);
      results.push_back(l);
    }
  };
  latency_run(settings_for(o, bootstrap, "bench-lat-" + run_id, t_lat_reads, t_lat_hits), 'L',
              res.latency);
  if (o.exactly_once && o.latency) {
    config::Settings s =
        settings_for(o, bootstrap, "bench-lat-eos-" + run_id, t_lat_reads, t_lat_hits);
    s.pipeline.exactly_once = true;
    s.kafka.transactional_id = "bench-lat-eos-" + run_id;
    s.kafka.consumer["auto.offset.reset"] = "latest";
    latency_run(std::move(s), 'E', res.eos_latency);
  }
  res.peak_rss_mib = peak_rss_mib();
  res.load_end = load_average();
  return 0;
}

std::string E2eBenchResult::table() const {
  const E2eBenchOptions& o = options;
  std::string out;
  char line[512];
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof line, fmt, args...);
    out += line;
  };
  std::string mix;
  for (const auto& [c, w] : o.mix) mix += (mix.empty() ? "" : " ") + c.str() + " " + std::to_string(w) + "%";
  add("\nEND-TO-END THROUGH %s  (%zu reads, %zu reference entries, %.1f %% listed, OCR noise "
      "%.0f %%, mix %s%s, %d processor threads, batch %zu, best of %d rounds)\n",
      o.brokers.empty() ? "THE EMBEDDED BROKER" : "THE KAFKA CLUSTER", o.reads, o.entries,
      o.hit_rate * 100, o.ocr_noise * 100, mix.c_str(), o.image_file.empty() ? "" : ", with images",
      o.threads, o.batch, o.rounds);
  add("machine: %s; load average %.2f at start, %.2f at end\n", machine.c_str(), load_start,
      load_end);
  out += "---------------------------------------------------------------------------------------\n";
  add("%-34s | %12s | %12s | %8s | %s\n", "", "reads/s", "CPU us/read", "ratio", "target");
  add("%-34s | %12.0f | %12.2f | %8s | %s\n", "raw consume (baseline)", best_raw.rate(),
      best_raw.cpu_us_per_read(), "1.00", "");
  const double ratio = rate_ratio(), cratio = cpu_ratio();
  add("%-34s | %12.0f | %12.2f | %8.2f | >= 0.90 x raw rate: %s\n",
      "processor (decode+match+publish)", best_processor.rate(), best_processor.cpu_us_per_read(),
      ratio, ratio >= 0.9 ? "ok" : "MISSED");
  add("%-34s | %12s | %12s | %8.2f | <= 1.25 x raw CPU/read: %s\n", "CPU per read, processor / raw",
      "", "", cratio, cratio <= 1.25 ? "ok" : "MISSED");
  for (std::size_t r = 0; r < raw.size() && r < processor.size(); ++r)
    add("  round %zu: raw %.0f reads/s (%.2f us CPU/read), processor %.0f reads/s (%.2f us "
        "CPU/read)\n",
        r + 1, raw[r].rate(), raw[r].cpu_us_per_read(), processor[r].rate(),
        processor[r].cpu_us_per_read());
  if (raw.size() > 1 && processor.size() > 1)
    add("  median of the rounds' own ratios (raw and processor back to back in each round, so a\n"
        "  busy moment of the machine weighs on both): rate %.2f, CPU per read %.2f\n",
        rate_ratio_median(), cpu_ratio_median());
  if (!processor_images_off.empty()) {
    const double ir = image_ratio();
    add("\nIMAGES: a plate JPEG on 100 %% of reads, %.1f %% of reads hit; the same reads with "
        "images.enabled = false:\n", o.hit_rate * 100);
    add("%-34s | %12.0f | %12.2f | %8s | %s\n", "processor, images off", best_processor_images_off.rate(),
        best_processor_images_off.cpu_us_per_read(), "1.00", "");
    add("%-34s | %12.0f | %12.2f | %8.2f | >= 0.90 x images off: %s\n",
        "processor, images on (thumbnails)", best_processor.rate(), best_processor.cpu_us_per_read(),
        ir, ir >= 0.9 ? "ok" : "MISSED");
    for (std::size_t r = 0; r < processor_images_off.size() && r < processor.size(); ++r)
      add("  round %zu: images off %.0f reads/s (%.2f us CPU/read), on %.0f reads/s (%.2f us "
          "CPU/read, %llu images decoded)\n",
          r + 1, processor_images_off[r].rate(), processor_images_off[r].cpu_us_per_read(),
          processor[r].rate(), processor[r].cpu_us_per_read(),
          static_cast<unsigned long long>(r < image_decodes.size() ? image_decodes[r] : 0));
  }
  out += "\nread-to-hit latency: from the broker's acknowledgement of the read (it is in Kafka) to\n"
         "the hit's arrival at a control-room consumer; in brackets p50/p99 from the camera side's\n"
         "produce() call, which adds the camera producer's batching (linger 5 ms):\n";
  auto latency_rows = [&](const std::vector<Latency>& rows) {
    add("%-26s | %6s | %7s | %7s | %7s | %8s | %7s | %-15s | %s\n", "steady rate", "hits",
        "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "from produce()", "target");
    for (const Latency& l : rows) {
      char label[64], from[32];
      std::snprintf(label, sizeof label, "%.0f reads/s%s", l.rate, l.half_max ? " (half max)" : "");
      std::snprintf(from, sizeof from, "%.1f / %.1f", l.produce_p50, l.produce_p99);
      add("%-26s | %6zu | %7.2f | %7.2f | %7.2f | %8.2f | %7.2f | %-15s | %s\n", label, l.hits,
          l.p50, l.p90, l.p99, l.p999, l.max, from,
          l.half_max       ? (l.hits > 0 && l.p99 <= 50 ? "p99 <= 50 ms: ok" : "p99 <= 50 ms: MISSED")
          : l.rate == 20'000 ? (l.hits > 0 && l.p99 <= 10 ? "p99 <= 10 ms: ok" : "p99 <= 10 ms: MISSED")
                             : "");
    }
  };
  auto parts_rows = [&](const std::vector<Latency>& rows) {
    out += "where the time goes, p50 / p99 ms: the broker hands the read to a consumer (an observer\n"
           "with the processor's fetch settings), the processor (fetched -> hit produced: its queues,\n"
           "decode, match, publish), the hit's way out (producer linger, broker, control-room fetch);\n"
           "the hit's produce time is its Kafka timestamp, in whole ms:\n";
    add("%-26s | %-15s | %-15s | %-15s\n", "steady rate", "broker to read", "processor",
        "hit's way out");
    for (const Latency& l : rows) {
      char label[64], a[32], b[32], c[32];
      std::snprintf(label, sizeof label, "%.0f reads/s%s", l.rate, l.half_max ? " (half max)" : "");
      std::snprintf(a, sizeof a, "%.1f / %.1f", l.fetch_p50, l.fetch_p99);
      std::snprintf(b, sizeof b, "%.1f / %.1f", l.processor_p50, l.processor_p99);
      std::snprintf(c, sizeof c, "%.1f / %.1f", l.out_p50, l.out_p99);
      add("%-26s | %-15s | %-15s | %-15s\n", label, a, b, c);
    }
  };
  latency_rows(latency);
  parts_rows(latency);
  if (!kept.empty()) {
    const double kr = kept_ratio();
    out += "\npassages kept: the processor keeping NL and BE passages and every country's hits in the\n"
           "retention store (on disk, one synced write per group of batches) against keeping nothing:\n";
    add("%-34s | %12.0f | %12.2f | %8s |\n", "processor, nothing kept", best_processor.rate(),
        best_processor.cpu_us_per_read(), "1.00");
    add("%-34s | %12.0f | %12.2f | %8.2f | >= 0.85 x nothing kept: %s\n", "processor, passages kept",
        best_kept.rate(), best_kept.cpu_us_per_read(), kr, kr >= 0.85 ? "ok" : "MISSED");
    for (std::size_t r = 0; r < kept.size() && r < processor.size(); ++r)
      add("  round %zu: nothing kept %.0f reads/s, passages kept %.0f reads/s (%.2f us CPU/read), "
          "ratio %.2f\n",
          r + 1, processor[r].rate(), kept[r].rate(), kept[r].cpu_us_per_read(),
          processor[r].rate() > 0 ? kept[r].rate() / processor[r].rate() : 0.0);
    if (kept.size() > 1)
      add("  median of the rounds' ratios %.2f (each round's two runs are back to back; the figure\n"
          "  above is best against best, as for every target here)\n",
          kept_ratio_median());
  }
  if (!eos.empty()) {
    const double er = eos_ratio();
    out += "\nexactly once: the processor with pipeline.exactly_once (a transaction committed every\n"
           "pipeline.commit_interval_ms with the reads' offsets) against the same processor at least once:\n";
    add("%-34s | %12.0f | %12.2f | %8s |\n", "processor, at least once", best_processor.rate(),
        best_processor.cpu_us_per_read(), "1.00");
    add("%-34s | %12.0f | %12.2f | %8.2f |\n", "processor, exactly once", best_eos.rate(),
        best_eos.cpu_us_per_read(), er);
    for (std::size_t r = 0; r < eos.size() && r < processor.size(); ++r)
      add("  round %zu: at least once %.0f reads/s (%.2f us CPU/read), exactly once %.0f reads/s "
          "(%.2f us CPU/read), ratio %.2f\n",
          r + 1, processor[r].rate(), processor[r].cpu_us_per_read(), eos[r].rate(),
          eos[r].cpu_us_per_read(), processor[r].rate() > 0 ? eos[r].rate() / processor[r].rate() : 0.0);
    if (!eos_latency.empty()) {
      out += "read-to-hit latency, exactly once: the hit counts when its transaction is committed\n"
             "(the control-room consumer reads read_committed):\n";
      latency_rows(eos_latency);
    }
  }
  add("index: %zu entries built in %.1f s, %.1f bytes/entry; peak RSS of the benchmark process "
      "(index, processor, consumers): %.0f MiB\n",
      o.entries, index_build_seconds,
      o.entries ? static_cast<double>(index_bytes) / static_cast<double>(o.entries) : 0.0,
      peak_rss_mib);
  return out;
}

std::string E2eBenchResult::json() const {
  std::string s;
  JsonWriter w(s);
  const E2eBenchOptions& o = options;
  w.begin_object();
  w.field("machine", machine);
  w.field("load_average_start", load_start);
  w.field("load_average_end", load_end);
  w.key("options");
  w.begin_object();
  w.field("reads", static_cast<uint64_t>(o.reads));
  w.field("entries", static_cast<uint64_t>(o.entries));
  w.field("rounds", static_cast<int64_t>(o.rounds));
  w.field("partitions", static_cast<int64_t>(o.partitions));
  w.field("hit_rate", o.hit_rate);
  w.field("ocr_noise", o.ocr_noise);
  w.field("candidates", o.candidates);
  w.field("broken", o.broken);
  w.key("mix");
  w.begin_object();
  for (const auto& [c, wt] : o.mix) w.field(c.str(), static_cast<int64_t>(wt));
  w.end_object();
  w.field("images", !o.image_file.empty());
  w.field("threads", static_cast<int64_t>(o.threads));
  w.field("batch", static_cast<uint64_t>(o.batch));
  w.field("broker", o.brokers.empty() ? std::string("embedded") : o.brokers);
  w.end_object();
  auto round = [&](const char* k, const Round& r) {
    w.key(k);
    w.begin_object();
    w.field("reads", r.reads);
    w.field("timed_reads", r.timed());
    w.field("seconds", r.seconds);
    w.field("reads_per_s", r.rate());
    w.field("cpu_us_per_read", r.cpu_us_per_read());
    w.end_object();
  };
  round("raw", best_raw);
  round("processor", best_processor);
  w.field("rate_ratio", rate_ratio());
  w.field("cpu_ratio", cpu_ratio());
  w.field("rate_ratio_median", rate_ratio_median());
  w.field("cpu_ratio_median", cpu_ratio_median());
  if (!kept.empty()) {
    round("passages_kept", best_kept);
    w.field("kept_ratio", kept_ratio());
    w.field("kept_ratio_median", kept_ratio_median());
  }
  if (!eos.empty()) {
    round("exactly_once", best_eos);
    w.field("exactly_once_ratio", eos_ratio());
  }
  w.key("rounds");
  w.begin_array();
  for (std::size_t r = 0; r < raw.size() && r < processor.size(); ++r) {
    w.begin_object();
    round("raw", raw[r]);
    round("processor", processor[r]);
    if (r < eos.size()) round("exactly_once", eos[r]);
    w.end_object();
  }
  w.end_array();
  auto latency_array = [&](const char* key, const std::vector<Latency>& rows) {
    w.key(key);
    w.begin_array();
    for (const Latency& l : rows) {
      w.begin_object();
      w.field("rate", l.rate);
      w.field("half_max", l.half_max);
      w.field("hits", static_cast<uint64_t>(l.hits));
      w.field("p50", l.p50);
      w.field("p90", l.p90);
      w.field("p99", l.p99);
      w.field("p99_9", l.p999);
      w.field("max", l.max);
      w.field("from_produce_p50", l.produce_p50);
      w.field("from_produce_p99", l.produce_p99);
      w.field("hits_split", static_cast<uint64_t>(l.split));
      w.field("broker_to_read_p50", l.fetch_p50);
      w.field("broker_to_read_p99", l.fetch_p99);
      w.field("processor_p50", l.processor_p50);
      w.field("processor_p99", l.processor_p99);
      w.field("hit_way_out_p50", l.out_p50);
      w.field("hit_way_out_p99", l.out_p99);
      w.end_object();
    }
    w.end_array();
  };
  latency_array("latency_ms", latency);
  if (!eos_latency.empty()) latency_array("exactly_once_latency_ms", eos_latency);
  w.field("index_build_seconds", index_build_seconds);
  w.field("index_bytes", static_cast<uint64_t>(index_bytes));
  w.field("peak_rss_mib", peak_rss_mib);
  w.end_object();
  return s;
}

}  // namespace anpr::app
