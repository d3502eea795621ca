// The metrics module (metrics/metrics.h): registry families, scrape-time collectors, the hot-path
// histogram and the text exposition, which promtool (Prometheus' own checker) must accept.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <regex>
#include <set>
#include <simdjson.h>

#include "metrics/metrics.h"
#include "tests/process.h"

namespace anpr::metrics {
namespace {

// The sample line of `series` (name and labels as in the exposition), or "" when absent.
std::string sample(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const std::size_t end = text.find('\n', at);
      return text.substr(at + series.size() + 1, end - at - series.size() - 1);
    }
    ++at;
  }
  return "";
}

// promtool's verdict on an exposition: "" when it is valid, its complaints otherwise.
std::string promtool_check(const std::string& text) {
  const std::filesystem::path f = std::filesystem::temp_directory_path() /
                                  ("anpr-metrics-" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream o(f, std::ios::binary);
    o << text;
  }
  std::string out = anpr::testing::shell("promtool check metrics < " + f.string() + " 2>&1; echo rc=$?");
  std::filesystem::remove(f);
  return out == "rc=0\n" ? "" : out;
}

TEST(Metrics, RegistryFamiliesAreScrapedAndSharedByName) {
  prometheus::Counter& ok =
      counter("anpr_test_loads_total", "Test loads, by result").Add({{"result", "ok"}});
  ok.Increment();
  ok.Increment(2);
  // The same name gives the same family, so a second module adds to it.
  counter("anpr_test_loads_total", "Test loads, by result").Add({{"result", "failed"}}).Increment();
  gauge("anpr_test_items", "Test items").Add({}).Set(7);
  histogram("anpr_test_sweep_seconds", "Test sweeps", {0.1, 1}).Add({}).Observe(0.5);
  const std::string text = scrape();
  EXPECT_EQ(sample(text, "anpr_test_loads_total{result=\"ok\"}"), "3");
  EXPECT_EQ(sample(text, "anpr_test_loads_total{result=\"failed\"}"), "1");
  EXPECT_EQ(sample(text, "anpr_test_items"), "7");
  EXPECT_EQ(sample(text, "anpr_test_sweep_seconds_bucket{le=\"0.1\"}"), "0");
  EXPECT_EQ(sample(text, "anpr_test_sweep_seconds_bucket{le=\"1\"}"), "1");
  EXPECT_EQ(sample(text, "anpr_test_sweep_seconds_count"), "1");
  EXPECT_NE(text.find("# TYPE anpr_test_loads_total counter"), std::string::npos);
}

TEST(Metrics, CollectorsRunAtScrapeTimeUntilDestroyed) {
  int calls = 0;
  uint64_t value = 5;
  {
    Collector c = add_collector([&](Families& out) {
      ++calls;
      auto f = out.counter("anpr_test_collected_total", "Collected at scrape time");
      f.add({{"list", "a"}}, static_cast<double>(value));
      f.add({{"list", "b"}}, 1);
    });
    EXPECT_EQ(calls, 0);
    std::string text = scrape();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(sample(text, "anpr_test_collected_total{list=\"a\"}"), "5");
    value = 9;
    text = scrape();
    EXPECT_EQ(sample(text, "anpr_test_collected_total{list=\"a\"}"), "9");
    EXPECT_EQ(sample(text, "anpr_test_collected_total{list=\"b\"}"), "1");
    // Moving keeps it registered.
    Collector moved = std::move(c);
    scrape();
    EXPECT_EQ(calls, 3);
  }
  const std::string text = scrape();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(text.find("anpr_test_collected_total"), std::string::npos);
}

TEST(Metrics, TwoCollectorsOfOneFamilyAreMergedIntoOne) {
  Collector a = add_collector([](Families& out) {
    out.gauge("anpr_test_shared", "Shared").add({{"part", "1"}}, 1);
  });
  Collector b = add_collector([](Families& out) {
    out.gauge("anpr_test_shared", "Shared").add({{"part", "2"}}, 2);
  });
  const std::string text = scrape();
  std::size_t types = 0;
  for (std::size_t at = 0; (at = text.find("# TYPE anpr_test_shared ", at)) != std::string::npos; ++at)
    ++types;
  EXPECT_EQ(types, 1u);
  EXPECT_EQ(sample(text, "anpr_test_shared{part=\"2\"}"), "2");
  EXPECT_EQ(promtool_check(text), "");
}

TEST(Metrics, SeveralFamiliesCanBeFilledAtOnce) {
  Collector c = add_collector([](Families& out) {
    // Families made first and filled later: making more must not invalidate the earlier ones.
    std::vector<Families::Family> fs;
    for (int i = 0; i < 50; ++i)
      fs.push_back(out.counter("anpr_test_many_" + std::to_string(i) + "_total", "Many"));
    for (int i = 0; i < 50; ++i) fs[static_cast<std::size_t>(i)].add({}, i);
  });
  const std::string text = scrape();
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(sample(text, "anpr_test_many_" + std::to_string(i) + "_total"), std::to_string(i));
}

TEST(Metrics, HostileLabelValuesAreEscaped) {
  Collector c = add_collector([](Families& out) {
    out.counter("anpr_test_hostile_total", "Hostile labels")
        .add({{"list", "a\"b\\c\nd"}}, 1)
        .add({{"list", "\xc3\xa9t\xc3\xa9"}}, 2);
  });
  const std::string text = scrape();
  EXPECT_EQ(sample(text, "anpr_test_hostile_total{list=\"a\\\"b\\\\c\\nd\"}"), "1");
  EXPECT_EQ(promtool_check(text), "");
}

TEST(Metrics, ProcessMetricsArePresent) {
  const std::string text = scrape();
  EXPECT_NE(sample(text, "process_resident_memory_bytes"), "");
  EXPECT_NE(sample(text, "process_cpu_seconds_total"), "");
  EXPECT_NE(sample(text, "process_start_time_seconds"), "");
  EXPECT_NE(sample(text, "process_open_fds"), "");
}

TEST(Histogram, CountsEachObservationInItsBucketAndSums) {
  Histogram h({0.001, 0.01, 0.1});
  h.observe(0.0005);
  h.observe(0.001);  // on a bound: that bucket (le)
  h.observe(0.05);
  h.observe(7);      // +Inf
  h.observe(-3);     // clamped to 0
  h.observe(std::nan(""));
  const auto s = h.snapshot();
  ASSERT_EQ(s.counts.size(), 4u);
  EXPECT_EQ(s.counts[0], 4u);
  EXPECT_EQ(s.counts[1], 0u);
  EXPECT_EQ(s.counts[2], 1u);
  EXPECT_EQ(s.counts[3], 1u);
  EXPECT_EQ(h.count(), 6u);
  EXPECT_NEAR(s.sum, 0.0005 + 0.001 + 0.05 + 7, 1e-9);

  Collector c = add_collector([&](Families& out) {
    out.histogram("anpr_test_latency_seconds", "Test latency").add({}, h.snapshot());
  });
  const std::string text = scrape();
  EXPECT_EQ(sample(text, "anpr_test_latency_seconds_bucket{le=\"0.001\"}"), "4");
  EXPECT_EQ(sample(text, "anpr_test_latency_seconds_bucket{le=\"0.1\"}"), "5");
  EXPECT_EQ(sample(text, "anpr_test_latency_seconds_bucket{le=\"+Inf\"}"), "6");
  EXPECT_EQ(sample(text, "anpr_test_latency_seconds_count"), "6");
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
  Histogram h(latency_buckets());
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&h, t] {
      for (int i = 0; i < 100'000; ++i) h.observe(0.001 * (i % 50) + t);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(h.count(), 400'000u);
}

// Scrapes on several threads while collectors come and go and a histogram is observed: every
// scrape sees a collector whole or not at all (run under TSan by scripts/test.sh).
TEST(Metrics, ConcurrentScrapesWhileCollectorsComeAndGo) {
  Histogram h(latency_buckets());
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t)
    ts.emplace_back([&] {
      while (!stop) {
        const std::string text = scrape();
        const std::string a = sample(text, "anpr_test_coming_total{part=\"a\"}");
        const std::string b = sample(text, "anpr_test_coming_total{part=\"b\"}");
        EXPECT_EQ(a.empty(), b.empty()) << text;
      }
    });
  ts.emplace_back([&] {
    while (!stop) h.observe(0.002);
  });
  // 200 collectors at least, and on until the observing thread has run (on a loaded machine it
  // may not have been scheduled before the 200th).
  for (int i = 0; i < 200 || h.count() == 0; ++i) {
    auto value = std::make_shared<int>(i);
    Collector c = add_collector([value, &h](Families& out) {
      out.counter("anpr_test_coming_total", "Coming and going")
          .add({{"part", "a"}}, *value)
          .add({{"part", "b"}}, *value);
      out.histogram("anpr_test_coming_seconds", "Observed meanwhile").add({}, h.snapshot());
    });
    std::this_thread::yield();
  }
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_GT(h.count(), 0u);
}

TEST(Metrics, ScrapeIsValidForPromtool) {
  Histogram h(batch_time_buckets());
  h.observe(0.0003);
  Collector c = add_collector([&](Families& out) {
    out.histogram("anpr_test_batch_seconds", "Test batches").add({}, h.snapshot());
    out.gauge("anpr_test_empty", "A family without samples is left out");
  });
  const std::string text = scrape();
  EXPECT_EQ(text.find("anpr_test_empty"), std::string::npos);
  EXPECT_EQ(promtool_check(text), "") << text;
}

TEST(Metrics, TheDocumentedAlertRulesPassPromtool) {
  const std::string out = anpr::testing::shell("promtool check rules " ANPR_SOURCE_DIR
                                               "/docs/prometheus/anpr-alerts.yml 2>&1; echo rc=$?");
  EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out;
  EXPECT_NE(out.find("rc=0"), std::string::npos) << out;
}

// The Grafana dashboard: valid JSON; each query is valid PromQL (promtool checks it as a recording
// rule, with Grafana's variables filled in) and uses only metrics documented in operations.md.
TEST(Metrics, TheDashboardQueriesAreValidAndDocumented) {
  simdjson::dom::parser parser;
  simdjson::dom::element dash;
  ASSERT_FALSE(parser.load(ANPR_SOURCE_DIR "/docs/grafana/anpr.json").get(dash));
  std::ifstream d(ANPR_SOURCE_DIR "/docs/operations.md");
  const std::string doc((std::istreambuf_iterator<char>(d)), std::istreambuf_iterator<char>());
  std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
  std::size_t n = 0;
  const std::regex metric(R"(\b((anpr|process)_[a-z_]+)\b)");
  for (simdjson::dom::element panel : dash["panels"].get_array()) {
    simdjson::dom::array targets;
    if (panel["targets"].get(targets)) continue;
    for (simdjson::dom::element t : targets) {
      std::string expr{std::string_view(t["expr"])};
      for (auto [from, to] : {std::pair<std::string, std::string>{"$__rate_interval", "5m"},
                              {"$instance", ".*"}})
        for (std::size_t at; (at = expr.find(from)) != std::string::npos;) expr.replace(at, from.size(), to);
      rules += "      - record: dashboard_query_" + std::to_string(n++) + "\n        expr: '" + expr + "'\n";
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
        std::string family = (*it)[1];
        for (const char* suffix : {"_bucket", "_sum", "_count"})
          if (family.ends_with(suffix) && family.find("_seconds") != std::string::npos)
            family.resize(family.size() - std::strlen(suffix));
        EXPECT_NE(doc.find("`" + family + "`"), std::string::npos) << family;
      }
    }
  }
  EXPECT_GE(n, 15u);
  const std::filesystem::path f = std::filesystem::temp_directory_path() /
                                  ("anpr-dashboard-" + std::to_string(::getpid()) + ".yml");
  {
    std::ofstream o(f);
    o << rules;
  }
  const std::string out = anpr::testing::shell("promtool check rules " + f.string() + " 2>&1");
  std::filesystem::remove(f);
  EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out << rules;
}

}  // namespace
}  // namespace anpr::metrics
