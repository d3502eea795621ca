// The product's Prometheus metrics (prometheus-cpp), served as text on GET /metrics by the HTTP
// service of `anpr run` (docs/operations.md lists every metric and what to alert on).
//
// A module publishes its figures in one of two ways:
//
//  1. Live families in the process-wide registry, for events off the per-read hot path (a list
//     load, a retention sweep, an image written). Create the family once and keep the metric:
//
//        #include "metrics/metrics.h"
//        prometheus::Counter& loads_ok =
//            metrics::counter("anpr_list_loads_total", "Reference-list loads, by result")
//                .Add({{"result", "ok"}});
//        loads_ok.Increment();                        // cheap: an atomic add
//        metrics::histogram("anpr_retention_sweep_seconds", "Duration of one retention sweep",
//                           {0.01, 0.1, 1, 10}).Add({}).Observe(seconds);
//
//     Family::Add() takes a lock and looks the labels up: keep the returned reference (it lives as
//     long as the process) instead of calling Add() per event. Calling counter()/gauge()/
//     histogram() again with the same name returns the same family.
//
//  2. Collectors, called at scrape time, for figures a module keeps anyway (counts per batch,
//     sizes, the state of a store). Nothing is paid between scrapes:
//
//        metrics::Collector c = metrics::add_collector([this](metrics::Families& out) {
//          auto f = out.gauge("anpr_retention_rows", "Rows in the retention store, by country");
//          for (const auto& [country, n] : rows_by_country()) f.add({{"country", country}}, n);
//        });
//
//     The collector runs until `c` is destroyed (or reset()); destruction waits for a scrape in
//     progress, so the objects the callback uses may be freed right after. Collectors run on the
//     HTTP server's threads, one scrape at a time.
//
// For per-read events use `metrics::Histogram` below (lock-free) or the owner's own counters,
// exported by a collector: a prometheus-cpp call per read costs measurable throughput.
//
// Naming: `anpr_` prefix, snake_case, base units (seconds, bytes), counters end in `_total`.
// A family name must be registered once (a registry family and a collector family of the same
// name produce an invalid exposition). Label values must never be plates or other personal data.
//
// Thread safety: every function and type here may be used from any thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace anpr::metrics {

using Labels = std::map<std::string, std::string>;

// The process-wide registry (method 1). Families are never removed.
prometheus::Registry& registry();
prometheus::Family<prometheus::Counter>& counter(const std::string& name, const std::string& help);
prometheus::Family<prometheus::Gauge>& gauge(const std::string& name, const std::string& help);
// Every metric of a histogram family gets `buckets` (upper bounds, increasing; +Inf is implied).
// Use it as family.Add(labels, buckets()) or through the helper that remembers them:
struct HistogramFamily {
  prometheus::Family<prometheus::Histogram>* family;
  prometheus::Histogram::BucketBoundaries buckets;
  prometheus::Histogram& Add(const Labels& labels) { return family->Add(labels, buckets); }
};
HistogramFamily histogram(const std::string& name, const std::string& help,
                          std::vector<double> buckets);

// Builds metric families inside a collector (method 2).
class Families {
 public:
  explicit Families(std::vector<prometheus::MetricFamily>& out) : out_(out) {}

  class Family {
   public:
    // A counter or gauge sample.
    Family& add(const Labels& labels, double value);
    // A histogram sample (buckets as kept by metrics::Histogram::snapshot()).
    struct HistogramData {
      std::vector<double> bounds;     // upper bounds, without +Inf
      std::vector<uint64_t> counts;   // per bucket, not cumulative; bounds.size() + 1 (+Inf last)
      double sum = 0;
    };
    Family& add(const Labels& labels, const HistogramData& h);

   private:
    friend class Families;
    // By position: the vector may grow while several families are being filled.
    Family(std::vector<prometheus::MetricFamily>* out, std::size_t i) : out_(out), i_(i) {}
    prometheus::MetricFamily& f() { return (*out_)[i_]; }
    std::vector<prometheus::MetricFamily>* out_;
    std::size_t i_;
  };

  Family counter(std::string name, std::string help);
  Family gauge(std::string name, std::string help);
  Family histogram(std::string name, std::string help);

 private:
  Family add(std::string name, std::string help, prometheus::MetricType type);
  std::vector<prometheus::MetricFamily>& out_;
};

using CollectFn = std::function<void(Families&)>;

// Keeps a collector registered while it lives. Movable.
class Collector {
 public:
  Collector() = default;
  Collector(Collector&& o) noexcept : id_(std::exchange(o.id_, 0)) {}
  Collector& operator=(Collector&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, 0);
    }
    return *this;
  }
  ~Collector() { reset(); }
  // Unregisters; waits for a scrape in progress. Idempotent.
  void reset();

 private:
  friend Collector add_collector(CollectFn fn);
  explicit Collector(uint64_t id) : id_(id) {}
  uint64_t id_ = 0;
};

[[nodiscard]] Collector add_collector(CollectFn fn);

// Every metric in the Prometheus text format 0.0.4: the registry, the collectors and the
// process_* metrics (CPU, memory, file descriptors, start time), sorted by family name.
std::string scrape();
// The Content-Type of scrape()'s output.
inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// A histogram for hot paths: fixed buckets, one relaxed atomic add per bucket and for the sum.
// Exported by a collector through snapshot(). Values are in seconds; the sum is kept in
// nanoseconds (so it is exact and lock-free). Negative values count as 0.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double seconds);
  Families::Family::HistogramData snapshot() const;
  uint64_t count() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<uint64_t> sum_ns_{0};
};

// Bucket bounds used by the product's latency histograms, in seconds.
std::vector<double> latency_buckets();      // 1 ms .. 5 min: read-to-hit latency
std::vector<double> batch_time_buckets();   // 25 us .. 1 s: one pipeline step

}  // namespace anpr::metrics
