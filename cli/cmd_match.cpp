// `anpr match`: check a batch of camera reads against reference list files, offline.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/hit_text.h"
#include "pipeline/offline.h"
#include "pipeline/read_matcher.h"
#include "config/settings.h"
#include "ingest/cameras.h"
#include "match/time.h"

#include <simdjson.h>

#include <chrono>

namespace anpr::app {

namespace {
struct MatchArgs {
  std::vector<std::string> lists;
  std::string reads;
  std::string format = "json";
  std::string config;
  std::string cameras;
  double max_rejected_percent = -1;
};

// With a camera registry: the processor's per-read work (pipeline/read_matcher.h) on each line, so
// the hits are those `anpr run` would publish for the same reads (camera, country rules, routes,
// images), but for suppression, which depends on what was published before. Dead letters are
// reported on stderr. Returns (reads, hits, rejected).
struct StreamCounts {
  std::size_t reads = 0, hits = 0, rejected = 0;
};
StreamCounts match_with_cameras(const config::Settings& settings, const CameraRegistry& cameras,
                                const Snapshot& snap, std::istream& in, const std::string& source,
                                bool text) {
  ImageCounters images;
  ReadMatcher matcher(settings, cameras, images);
  ReadMatcher::Scratch scratch(matcher);
  constexpr std::size_t kBatch = 256;
  std::vector<std::string> lines(kBatch);
  std::vector<ReadSlot> slots(kBatch);
  std::vector<std::size_t> linenos(kBatch);
  StreamCounts c;
  std::size_t lineno = 0;
  std::string out;
  simdjson::dom::parser parser;
  auto flush = [&](std::size_t n) {
    const TimestampMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    matcher.match(std::span<ReadSlot>(slots.data(), n), scratch, snap, now);
    for (std::size_t i = 0; i < n; ++i)
      for (const ReadOutput& o : slots[i].outputs()) {
        if (o.deadletter) {
          ++c.rejected;
          simdjson::dom::element d;
          std::string_view detail;
          if (parser.parse(o.payload).get(d) || d["detail"].get(detail)) detail = "";
          std::cerr << "anpr match: " << source << ":" << linenos[i] << ": " << o.reason << ": "
                    << detail << "\n";
          continue;
        }
        ++c.hits;
        out.clear();
        if (!text || !append_hit_text_from_json(out, o.payload)) out.assign(o.payload);
        out.push_back('\n');
        std::cout << out;
      }
  };
  std::size_t n = 0;
  while (std::getline(in, lines[n])) {
    ++lineno;
    if (lines[n].find_first_not_of(" \t\r") == std::string::npos) continue;
    ++c.reads;
    ReadSlot& r = slots[n];
    r.payload = lines[n];
    r.key = {};
    r.partition = 0;
    r.offset = static_cast<int64_t>(lineno);
    linenos[n] = lineno;
    if (++n == kBatch) {
      flush(n);
      n = 0;
    }
  }
  flush(n);
  return c;
}
}  // namespace

void add_match_command(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<MatchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "match",
      "Match camera reads (JSON Lines) against reference lists (CSV + TOML sidecar).\n"
      "Writes one hit per line to stdout; rejected reads and list rows go to stderr.\n"
      "Lists are validated as `anpr lists validate` does (same checks, same threshold, same\n"
      "report), except that expiry is judged by each read's capture time; a list refused as a\n"
      "whole stops the command before anything is matched.\n"
      "Exit code: 0 all input accepted, 1 some input rejected or a list refused, 2 usage error\n"
      "or a file that cannot be read, 3 runtime failure.");
  cmd->add_option("--list", args->lists, "reference list CSV file (its .toml sidecar beside it)")
      ->required()
      ->allow_extra_args(false);
  cmd->add_option("--reads", args->reads, "camera reads, one JSON object per line ('-' = stdin)")
      ->required();
  cmd->add_option("--format", args->format, "hit output: json (one object per line) or text")
      ->check(CLI::IsMember({"json", "text"}));
  cmd->add_option("--config", args->config,
                  "processor configuration: its country policies and lists.max_rejected_percent");
  cmd->add_option("--cameras", args->cameras,
                  "camera registry CSV: match as `anpr run` does (unknown cameras rejected, the "
                  "camera country's rules applied, hits as published on the hits topic; no "
                  "suppression of repeats)");
  cmd->add_option("--max-rejected-percent", args->max_rejected_percent,
                  "refuse a list whose rejected rows exceed this percentage of its rows")
      ->default_str("1, or the configuration's")
      ->check(CLI::Range(0.0, 100.0));
  cmd->callback([args, &run] {
    run = [args] {
      lists::Policy policy;
      try {
        policy = offline_list_policy(args->config, args->max_rejected_percent);
      } catch (const config::ConfigError& e) {
        std::cerr << "anpr match: " << e.what() << "\n";
        return kExitUsage;
      }
      std::ifstream file;
      std::istream* in = &std::cin;
      std::string source = "stdin";
      if (args->reads != "-") {
        file.open(args->reads, std::ios::binary);
        if (!file) {
          std::cerr << "anpr match: " << args->reads << ": cannot open the reads file: "
                    << std::strerror(errno) << "\n";
          return kExitUsage;
        }
        in = &file;
        source = args->reads;
      }
      std::vector<std::filesystem::path> files(args->lists.begin(), args->lists.end());
      ListSetLoad lists = load_lists(files, policy, "anpr match", std::cerr);
      if (lists.unreadable) {
        std::cerr << "anpr match: a list file could not be read; nothing was matched\n";
        return kExitUsage;
      }
      if (lists.refused) {
        std::cerr << "anpr match: a reference list was refused (see its report above); nothing "
                     "was matched\n";
        return kExitRejected;
      }
      const bool text = args->format == "text";
      if (!args->cameras.empty()) {
        config::Settings settings;
        try {
          if (!args->config.empty()) settings = config::load_settings(args->config);
          else {
            settings.countries = config::default_country_policies();
            settings.retention.policies = config::default_retention_policies();
          }
        } catch (const config::ConfigError& e) {
          std::cerr << "anpr match: " << e.what() << "\n";
          return kExitUsage;
        }
        CameraRegistry cameras;
        try {
          cameras = CameraRegistry::load(args->cameras);
        } catch (const std::exception& e) {
          std::cerr << "anpr match: " << args->cameras << ": " << e.what() << "\n";
          return kExitUsage;
        }
        const StreamCounts c =
            match_with_cameras(settings, cameras, *lists.snapshot, *in, source, text);
        std::cout.flush();
        std::cerr << "anpr match: " << c.reads << " reads, " << c.hits << " hits, " << c.rejected
                  << " reads rejected; " << lists.snapshot->entry_count() << " entries in "
                  << lists.snapshot->list_count() << " lists, " << lists.rejected_rows
                  << " list rows rejected; " << cameras.size() << " cameras\n";
        return (c.rejected > 0 || lists.rejected_rows > 0) ? kExitRejected : kExitOk;
      }
      std::string out;
      auto sink = [&](const HitReadView& r, const Snapshot& s, const IndexHit& h) {
        out.clear();
        if (text) {
          append_hit_text(out, r, s, h);
        } else {
          append_hit_json(out, r, s, h);
        }
        out.push_back('\n');
        std::cout << out;
      };
      MatchCounts c = match_stream(*lists.snapshot, *in, source, sink, "anpr match", std::cerr);
      std::cout.flush();
      std::cerr << "anpr match: " << c.reads << " reads, " << c.hits << " hits, " << c.rejected
                << " reads rejected; " << lists.snapshot->entry_count() << " entries in "
                << lists.snapshot->list_count() << " lists, " << lists.rejected_rows
                << " list rows rejected\n";
      return (c.rejected > 0 || lists.rejected_rows > 0) ? kExitRejected : kExitOk;
    };
  });
}

}  // namespace anpr::app
