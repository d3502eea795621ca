// The operators' list load (docs/design.md §5: a 10 M-row list parsed, validated, built and swapped in
// ≤ 10 s): generates a realistic CSV (NL/BE/LU plates as printed, in their real formats; some
// rows with their own category, validity or note), then times, in one process,
//   baseline   tokenising the CSV (CsvReader over every field, nothing else)
//   validate   parse + validate every row (Registry::validate: the dry run)
//   load       parse + validate + build the index + swap it in (Registry::load), first version
//   reload     the same file again as the next version (the old snapshot still held meanwhile)
//   stored     optionally (--store DIR) a load that also writes the version to a state folder
// and prints each as seconds and as a ratio to the baseline, with the peak RSS after each.
//
//   lists_bench [--rows N] [--store DIR]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "synth/plates.h"
#include "ingest/csv.h"
#include "config/settings.h"
#include "lists/registry.h"
#include "match/formats.h"
#include "match/registry_rules.h"

namespace {

using namespace anpr;
using Clock = std::chrono::steady_clock;

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// CPU seconds of this process so far (every thread, user + system): unlike wall time, barely
// affected by other work on a shared machine.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

constexpr std::string_view kLetters = "ABCDEFGHJKLMNPQRSTUVWXYZ";

// The i-th plate of a shape: a mixed-radix numbering, so plates of one shape never repeat (and
// shapes differ in where letters and digits go, so plates of different shapes differ too).
Plate nth_plate(std::string_view shape, uint64_t i) {
  PlateBuilder b;
  // Digits of i from the right end of the shape.
  std::string out(shape.size(), '?');
  for (std::size_t k = shape.size(); k-- > 0;) {
    switch (shape[k]) {
      case 'L':
        out[k] = bench::kNlLetters[i % bench::kNlLetters.size()];
        i /= bench::kNlLetters.size();
        break;
      case 'A':  // BE and LU series use every letter but I and O
        out[k] = kLetters[i % kLetters.size()];
        i /= kLetters.size();
        break;
      case 'D':
        out[k] = static_cast<char>('0' + i % 10);
        i /= 10;
        break;
      case 'N':
        out[k] = static_cast<char>('1' + i % 9);
        i /= 9;
        break;
    }
  }
  for (char c : out) b.push(c);
  return b.plate();
}

std::string make_csv(std::size_t rows) {
  std::string csv = "plate,plate_country,category,reference,valid_until,priority,action,note\n";
  csv.reserve(rows * 48);
  bench::Rng rng(20261124);
  std::vector<uint64_t> next_nl(bench::kNlShapes.size(), 0);
  uint64_t next_be = 0, next_lu = 0;
  char ref[32];
  for (std::size_t i = 0; i < rows; ++i) {
    const unsigned r = static_cast<unsigned>(rng.below(10));
    CountryCode c;
    Plate p;
    if (r < 6) {
      c = kNL;
      const std::size_t s = i % bench::kNlShapes.size();
      do {  // plates the RDW issues only (match/registry_rules.h)
        p = nth_plate(bench::kNlShapes[s], next_nl[s]++ * 7919 % 6'000'000);
      } while (registry_rules::not_issued(c, p));
    } else if (r < 9) {
      c = kBE;
      p = nth_plate(bench::kBeShape, next_be++ * 104'729 % 120'000'000);
    } else {
      c = kLU;
      p = nth_plate(bench::kLuShape, next_lu++ * 7919 % 5'700'000);
    }
    csv += formats::display(c, p);
    csv += ',';
    csv += c.str();
    csv += ',';
    if (i % 20 == 0) csv += "wanted_person";
    csv += ',';
    std::snprintf(ref, sizeof ref, "REF-2026-%09zu", i);
    csv += ref;
    csv += ',';
    if (i % 10 == 0) csv += "2027-06-30";
    csv += ',';
    if (i % 50 == 0) csv += "10";
    csv += ',';
    if (i % 30 == 0) csv += "observe";
    csv += ',';
    if (i % 25 == 0) csv += "\"grey estate car, tow bar\"";
    csv += '\n';
  }
  return csv;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t rows = 10'000'000;
  std::string store;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rows") && i + 1 < argc) rows = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--store") && i + 1 < argc) store = argv[++i];
    else {
      std::fprintf(stderr, "usage: lists_bench [--rows N] [--store DIR]\n");
      return 2;
    }
  }
  std::fprintf(stderr, "generating %zu rows...\n", rows);
  const std::string csv = make_csv(rows);
  const std::string sidecar =
      "id = \"bench\"\nowner_country = \"NL\"\nmatch_mode = \"ocr\"\ncategory = \"stolen_vehicle\"\n";
  std::printf("list: %zu rows, %.0f MiB of CSV; peak RSS after generating %.0f MiB\n", rows,
              static_cast<double>(csv.size()) / (1 << 20), peak_rss_mib());

  // Baseline: tokenising only.
  auto t = Clock::now();
  double cpu0 = cpu_seconds();
  {
    CsvReader reader(csv);
    std::vector<std::string_view> f;
    CsvError err;
    std::size_t fields = 0;
    while (reader.next(f, err) != CsvStatus::end) fields += f.size();
    if (fields == 0) return 3;
  }
  const double base = seconds_since(t);
  const double base_cpu = cpu_seconds() - cpu0;
  std::printf("%-9s %7.2f s  %5.2fx baseline  cpu %6.2f s  peak RSS %6.0f MiB\n", "baseline",
              base, 1.0, base_cpu, peak_rss_mib());

  lists::Policy policy;
  policy.countries = config::default_country_policies();
  const auto row = [&](const char* name, double s, const lists::Report& r) {
    const double cpu = cpu_seconds() - cpu0;
    std::printf(
        "%-9s %7.2f s  %5.2fx baseline  cpu %6.2f s (%5.2fx)  peak RSS %6.0f MiB  (%zu accepted, "
        "%zu rejected)\n",
        name, s, s / base, cpu, cpu / base_cpu, peak_rss_mib(), r.accepted, r.rejected);
    for (const auto& [reason, n] : r.rejected_by_reason) std::printf("          %s: %zu\n", reason.c_str(), n);
    if (!r.rejected_rows.empty()) std::printf("          first: %s\n", to_string(r.rejected_rows[0]).c_str());
  };
  const lists::ListInput in{sidecar, csv, lists::Format::csv, "bench.csv"};
  {
    LiveIndex live;
    lists::Registry reg(live, policy, {});
    t = Clock::now();
    cpu0 = cpu_seconds();
    lists::Report v = reg.validate(in);
    row("validate", seconds_since(t), v);

    t = Clock::now();
    cpu0 = cpu_seconds();
    lists::ChangeResult r = reg.load(in, lists::Actor{"bench", "operator"});
    const double load = seconds_since(t);
    if (!r.applied()) {
      std::fprintf(stderr, "load refused: %s\n", r.detail.c_str());
      return 1;
    }
    row("load", load, r.report);
    std::printf("          index: %zu entries, %.1f bytes per entry (+ %.1f of text)\n",
                live.read()->entry_count(),
                static_cast<double>(live.read()->stats().index_bytes) /
                    static_cast<double>(live.read()->entry_count()),
                static_cast<double>(live.read()->stats().string_bytes) /
                    static_cast<double>(live.read()->entry_count()));
    t = Clock::now();
    cpu0 = cpu_seconds();
    r = reg.load(in, lists::Actor{"bench", "operator"});
    row("reload", seconds_since(t), r.report);
    std::printf("target: load <= 10 s for 10 M rows: %s (%.2f s)\n",
                load <= 10.0 ? "met" : "NOT met", load);
  }
  if (!store.empty()) {
    std::filesystem::remove_all(store);
    LiveIndex live;
    lists::Registry reg(live, policy, store);
    t = Clock::now();
    cpu0 = cpu_seconds();
    lists::ChangeResult r = reg.load(in, lists::Actor{"bench", "operator"});
    row("stored", seconds_since(t), r.report);
    std::filesystem::remove_all(store);
  }
  return 0;
}
