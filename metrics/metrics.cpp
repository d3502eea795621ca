#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace anpr::metrics {

namespace {

struct State {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::mutex mu;  // guards collectors and next_id; held for a whole scrape
  std::map<uint64_t, CollectFn> collectors;
  uint64_t next_id = 1;
};

State& state() {
  static State* s = new State;  // never destroyed: collectors may outlive static destruction
  return *s;
}

// process_* metrics of the Prometheus client conventions, from /proc/self.
void collect_process(Families& out) {
  std::ifstream f("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream in(stat.substr(close + 2));
  std::vector<std::string> v;  // fields from the 3rd (state) on
  for (std::string s; in >> s;) v.push_back(s);
  if (v.size() < 22) return;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  // Field numbers of proc(5), minus 3: utime 14, stime 15, num_threads 20, starttime 22,
  // vsize 23, rss 24.
  const double cpu = (std::stod(v[11]) + std::stod(v[12])) / tick;
  out.counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds")
      .add({}, cpu);
  out.gauge("process_resident_memory_bytes", "Resident memory size in bytes")
      .add({}, std::stod(v[21]) * page);
  out.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes").add({}, std::stod(v[20]));
  out.gauge("process_threads", "Threads of the process").add({}, std::stod(v[17]));
  std::ifstream st("/proc/stat");
  for (std::string line; std::getline(st, line);) {
    if (line.rfind("btime ", 0) == 0) {
      out.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch")
          .add({}, std::stod(line.substr(6)) + std::stod(v[19]) / tick);
      break;
    }
  }
  std::error_code ec;
  std::size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++fds;
  if (!ec) out.gauge("process_open_fds", "Open file descriptors").add({}, static_cast<double>(fds));
  const long max_fds = sysconf(_SC_OPEN_MAX);
  if (max_fds > 0)
    out.gauge("process_max_fds", "Limit of open file descriptors")
        .add({}, static_cast<double>(max_fds));
}

}  // namespace

prometheus::Registry& registry() { return *state().registry; }

prometheus::Family<prometheus::Counter>& counter(const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry());
}

prometheus::Family<prometheus::Gauge>& gauge(const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry());
}

HistogramFamily histogram(const std::string& name, const std::string& help,
                          std::vector<double> buckets) {
  return {&prometheus::BuildHistogram().Name(name).Help(help).Register(registry()),
          std::move(buckets)};
}

// ---- Families ----

Families::Family Families::add(std::string name, std::string help, prometheus::MetricType type) {
  out_.push_back(prometheus::MetricFamily{std::move(name), std::move(help), type, {}});
  return Family(&out_, out_.size() - 1);
}
Families::Family Families::counter(std::string name, std::string help) {
  return add(std::move(name), std::move(help), prometheus::MetricType::Counter);
}
Families::Family Families::gauge(std::string name, std::string help) {
  return add(std::move(name), std::move(help), prometheus::MetricType::Gauge);
}
Families::Family Families::histogram(std::string name, std::string help) {
  return add(std::move(name), std::move(help), prometheus::MetricType::Histogram);
}

namespace {
std::vector<prometheus::ClientMetric::Label> to_labels(const Labels& labels) {
  std::vector<prometheus::ClientMetric::Label> l;
  l.reserve(labels.size());
  for (const auto& [k, v] : labels) l.push_back({k, v});
  return l;
}
}  // namespace

Families::Family& Families::Family::add(const Labels& labels, double value) {
  prometheus::ClientMetric m;
  m.label = to_labels(labels);
  if (f().type == prometheus::MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  f().metric.push_back(std::move(m));
  return *this;
}

Families::Family& Families::Family::add(const Labels& labels, const HistogramData& h) {
  prometheus::ClientMetric m;
  m.label = to_labels(labels);
  uint64_t cum = 0;
  for (std::size_t i = 0; i < h.counts.size(); ++i) {
    cum += h.counts[i];
    m.histogram.bucket.push_back(
        {cum, i < h.bounds.size() ? h.bounds[i] : std::numeric_limits<double>::infinity()});
  }
  m.histogram.sample_count = cum;
  m.histogram.sample_sum = h.sum;
  f().metric.push_back(std::move(m));
  return *this;
}

// ---- collectors ----

Collector add_collector(CollectFn fn) {
  State& s = state();
  std::lock_guard lock(s.mu);
  const uint64_t id = s.next_id++;
  s.collectors.emplace(id, std::move(fn));
  return Collector(id);
}

void Collector::reset() {
  if (!id_) return;
  State& s = state();
  std::lock_guard lock(s.mu);
  s.collectors.erase(id_);
  id_ = 0;
}

std::string scrape() {
  State& s = state();
  std::vector<prometheus::MetricFamily> families = s.registry->Collect();
  {
    Families out(families);
    std::lock_guard lock(s.mu);
    for (auto& [id, fn] : s.collectors) fn(out);
    collect_process(out);
  }
  // One family per name: a collector may report a family in several calls (e.g. two lists).
  std::stable_sort(families.begin(), families.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<prometheus::MetricFamily> merged;
  for (auto& f : families) {
    if (!merged.empty() && merged.back().name == f.name && merged.back().type == f.type) {
      for (auto& m : f.metric) merged.back().metric.push_back(std::move(m));
      continue;
    }
    merged.push_back(std::move(f));
  }
  // A family without samples is left out (promtool accepts it, but it says nothing).
  std::erase_if(merged, [](const auto& f) { return f.metric.empty(); });
  return prometheus::TextSerializer().Serialize(merged);
}

// ---- Histogram ----

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double seconds) {
  if (!(seconds > 0)) seconds = 0;  // also NaN
  const std::size_t i = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  const double ns = std::min(seconds * 1e9, 1e18);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

Families::Family::HistogramData Histogram::snapshot() const {
  Families::Family::HistogramData h;
  h.bounds = bounds_;
  h.counts.resize(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i)
    h.counts[i] = counts_[i].load(std::memory_order_relaxed);
  h.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return h;
}

uint64_t Histogram::count() const {
  uint64_t n = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) n += counts_[i].load(std::memory_order_relaxed);
  return n;
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}

std::vector<double> batch_time_buckets() {
  return {0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1, 0.25, 1};
}

}  // namespace anpr::metrics
