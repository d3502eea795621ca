// `anpr demo`: the product on its embedded defaults. Starts the embedded Kafka-protocol broker,
// creates the topics, loads the sample NL, BE and LU reference lists and camera registry, runs the
// stream processor, streams a synthetic camera feed into it, and prints every hit from the hits
// topic as a control room would read it, until Ctrl-C (or --duration).
//
// The demo stays alive: with a suppression window, the sample lists alone (a few dozen plates)
// would all be suppressed within a minute, so the demo adds a synthetic list, demo-fleet, of as
// many plates as the feed's listed reads need for one window (synth/feed.h, demo_fleet_size), and
// the feed rotates through plates it has not sent within the window. Suppression itself works as
// configured.
//
// `anpr demo --offline` matches samples/reads.jsonl against the sample lists without Kafka.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/run_services.h"
#include "http/auth.h"
#include "synth/feed.h"
#include "cli/hit_text.h"
#include "pipeline/offline.h"
#include "pipeline/processor.h"
#include "cli/run_setup.h"
#include "cli/signals.h"
#include "kafka/client.h"

namespace anpr::app {

namespace {

struct DemoArgs {
  std::string samples = "samples";
  double rate = 200;
  double duration = 0;
  double listed = 0.01;
  bool offline = false;
  std::string http = "127.0.0.1:8080";
};

// The samples folder has what the demo reads; else says which is missing and how to point at
// them (the default "samples" is relative to the working directory: the repository's root).
bool samples_present(const DemoArgs& args) {
  const std::filesystem::path dir(args.samples);
  const std::vector<std::filesystem::path> needed =
      args.offline ? std::vector<std::filesystem::path>{dir / "lists", dir / "reads.jsonl"}
                   : std::vector<std::filesystem::path>{dir / "anpr.toml"};
  std::error_code ec;
  for (const auto& p : needed) {
    if (std::filesystem::exists(p, ec)) continue;
    std::cerr << "anpr demo: " << (std::filesystem::exists(dir, ec) ? p : dir).string()
              << ": not found: the demo needs the sample folder of the repository (anpr.toml, "
                 "cameras.csv, lists/, reads.jsonl); run it from the repository's root or give "
                 "--samples DIR\n";
    return false;
  }
  return true;
}

int run_offline(const DemoArgs& args) {
  const std::filesystem::path dir(args.samples);
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(dir / "lists"))
    if (f.path().extension() == ".csv") files.push_back(f.path());
  std::sort(files.begin(), files.end());
  ListSetLoad lists = load_lists(files, offline_list_policy("", -1), "anpr demo", std::cerr);
  if (lists.unreadable) return kExitUsage;
  if (lists.refused) return kExitRejected;
  const std::filesystem::path reads = dir / "reads.jsonl";
  std::ifstream in(reads, std::ios::binary);
  if (!in) {
    std::cerr << "anpr demo: " << reads.string() << ": cannot open\n";
    return kExitUsage;
  }
  std::string out;
  auto sink = [&](const HitReadView& r, const Snapshot& s, const IndexHit& h) {
    out.clear();
    append_hit_text(out, r, s, h);
    std::cout << out << "\n\n";
  };
  MatchCounts c = match_stream(*lists.snapshot, in, reads.string(), sink, "anpr demo", std::cerr);
  std::cout << c.reads << " reads, " << c.hits << " hits, " << c.rejected << " reads rejected.\n";
  return kExitOk;
}

TimestampMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int run_live(const DemoArgs& args) {
  install_stop_signals();
  const std::filesystem::path config = std::filesystem::path(args.samples) / "anpr.toml";

  kafka::EmbeddedBroker broker;
  RunSetup s = prepare_run(config.string(), broker.bootstrap(), std::cerr,
                           /*keep_list_versions=*/false);
  s.settings.kafka.embedded_broker = true;  // pipeline/kafka_props.h
  broker.create_topic(s.settings.topics.reads, 4);
  broker.create_topic(s.settings.topics.hits, 4);
  broker.create_topic(s.settings.topics.deadletter, 1);
  for (const auto& p : s.settings.countries) broker.create_topic(s.settings.route_topic(p.country), 1);

  // Enough listed plates for the suppression window (see the top of this file).
  int64_t window_ms = s.settings.suppression.window_ms;
  for (const auto& [id, ms] : s.settings.suppression.per_list_ms)
    window_ms = std::max(window_ms, ms);
  if (const std::size_t fleet = demo_fleet_size(args.rate, args.listed, window_ms); fleet > 0) {
    const std::string sidecar =
        "# Synthetic plates, so the demo's hits are not all suppressed (cli/cmd_demo.cpp).\n"
        "id = \"demo-fleet\"\nowner_country = \"NL\"\nmatch_mode = \"ocr\"\n"
        "category = \"stolen_vehicle\"\naction = \"observe\"\npriority = 60\n";
    const std::string rows = demo_fleet_csv(fleet, static_cast<uint64_t>(now_ms()));
    const lists::ChangeResult r = s.registry->load(
        lists::ListInput{sidecar, rows, lists::Format::csv, "demo-fleet.csv"},
        lists::Actor{"anpr demo", "operator"});
    if (!r.applied())
      std::cerr << "anpr demo: the demo-fleet list was not loaded: " << r.detail << "\n";
  }

  {
    // The start version, held only for this summary: a list change replaces it while the demo
    // runs, and whatever reads the index later reads its current version (the feed included).
    const std::shared_ptr<const Snapshot> snap = s.index->current();
    std::cout << "Embedded Kafka-protocol broker on " << broker.bootstrap() << "\n";
    std::cout << "Loaded " << snap->entry_count() << " reference entries from "
              << snap->list_count() << " lists, " << s.cameras.size() << " cameras in "
              << s.settings.countries.size() << " countries:\n";
    for (std::size_t l = 0; l < snap->list_count(); ++l) {
      const ListMeta& m = snap->list(static_cast<uint16_t>(l));
      std::cout << "  " << m.id << " (owner " << m.owner.str() << ", " << to_string(m.mode)
                << ")\n";
    }
  }
  std::cout << "Streaming " << args.rate << " camera reads/s into " << s.settings.topics.reads
            << " (about " << args.listed * 100 << " % listed plates, with OCR noise); hits from "
            << s.settings.topics.hits << " follow. Ctrl-C to stop.\n\n"
            << std::flush;

  // The pages: one token per role, made for this run and printed, so the demo needs no setup.
  std::vector<std::pair<std::string, std::string>> demo_tokens;  // role, token
  for (const char* role : {"controlroom", "operator", "engineer", "investigator"}) {
    const std::string token = http::new_token();
    s.settings.http.tokens.push_back({std::string("demo-") + role, role, http::sha256_hex(token), "*"});
    demo_tokens.emplace_back(role, token);
  }
  s.settings.http.listen = args.http;
  // The demo's own files (the audit log) go to a temporary folder, not into the samples.
  s.settings.state_dir = std::filesystem::temp_directory_path() /
                         ("anpr-demo-" + std::to_string(::getpid()));
  broker.create_topic(s.settings.topics.hit_acks, 1);

  Processor proc(s.settings, *s.index, s.cameras);
  std::unique_ptr<RunServices> services;
  if (!args.http.empty()) {
    try {
      services = std::make_unique<RunServices>(s, proc);
    } catch (const std::exception& e) {
      std::cerr << "anpr demo: " << e.what() << " (choose another with --http host:port, or "
                << "--http '' for none)\n";
      return kExitRuntime;
    }
    HttpService& service = services->http();
    const std::string base = std::string(service.server().tls() ? "https" : "http") + "://" +
                             args.http.substr(0, args.http.rfind(':')) + ":" +
                             std::to_string(service.server().port());
    std::cout << "Control-room page: " << base << "/   (status: " << base
              << "/status)\nAccess tokens for this run (paste one into the page's login):\n";
    for (const auto& [role, token] : demo_tokens)
      std::cout << "  " << role << std::string(14 - role.size(), ' ') << token << "\n";
    std::cout << "\n" << std::flush;
  }
  int proc_rc = 0;
  std::thread proc_thread([&] {
    try {
      proc_rc = proc.run();
    } catch (const std::exception& e) {
      std::cerr << "anpr demo: processor: " << e.what() << "\n";
      proc_rc = kExitRuntime;
    }
  });

  std::atomic<bool> feed_stop{false};
  std::atomic<uint64_t> fed{0};
  std::thread feeder([&] {
    kafka::Producer prod({{"bootstrap.servers", broker.bootstrap()}, {"linger.ms", "5"}},
                         nullptr);
    FeedOptions fo;
    fo.listed_share = args.listed;
    fo.broken_share = 0.002;
    fo.fresh_window_ms = window_ms;
    fo.seed = static_cast<uint64_t>(now_ms());
    SyntheticFeed feed(s.cameras, *s.index, fo);  // follows list changes
    std::string json, key;
    const auto start = std::chrono::steady_clock::now();
    while (!feed_stop.load()) {
      feed.next(now_ms(), json, key);
      prod.produce(s.settings.topics.reads, key, json);
      prod.poll(0);
      const uint64_t n = ++fed;
      std::this_thread::sleep_until(
          start + std::chrono::microseconds(static_cast<int64_t>(1e6 * n / args.rate)));
    }
  });

  // The control room's view: a plain consumer of the hits topic.
  kafka::Consumer viewer({{"bootstrap.servers", broker.bootstrap()},
                          {"group.id", "anpr-demo-viewer"},
                          {"auto.offset.reset", "earliest"},
                          {"log_level", "3"}});
  viewer.subscribe({s.settings.topics.hits});

  const auto start = std::chrono::steady_clock::now();
  auto last_status = start;
  uint64_t shown = 0;
  std::string text;
  while (!stop_requested()) {
    const auto now = std::chrono::steady_clock::now();
    if (args.duration > 0 &&
        now - start > std::chrono::milliseconds(static_cast<int64_t>(args.duration * 1000)))
      break;
    if (now - last_status > std::chrono::seconds(10)) {
      last_status = now;
      std::cerr << "[demo] " << summary(proc.counters()) << "\n";
    }
    const kafka::Message m = viewer.poll(200);
    if (!m || m->err) continue;
    text.clear();
    if (append_hit_text_from_json(
            text, std::string_view(static_cast<const char*>(m->payload), m->len))) {
      std::cout << text << "\n\n" << std::flush;
      ++shown;
    }
  }
  viewer.close();  // leaves its group before the feed and the processor stop
  feed_stop = true;
  feeder.join();
  proc.request_stop();
  proc_thread.join();
  if (services) services->stop();
  std::cout << "Demo stopped: " << fed.load() << " reads streamed; " << summary(proc.counters())
            << "; " << shown << " hits shown.\n";
  return proc_rc;
}

}  // namespace

void add_demo_command(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Run the product on its embedded defaults: embedded Kafka-protocol broker, sample "
              "NL/BE/LU reference lists and cameras, a synthetic camera feed, the stream "
              "processor, and the hits as a control room sees them. Ctrl-C to stop.");
  cmd->add_option("--samples", args->samples,
                  "folder with anpr.toml, cameras.csv, lists/ and reads.jsonl")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--rate", args->rate, "camera reads per second")->check(CLI::Range(1.0, 1e6));
  cmd->add_option("--listed", args->listed, "share of reads whose plate is listed (0..1)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--duration", args->duration, "stop after this many seconds (0 = at Ctrl-C)")
      ->check(CLI::Range(0.0, 1e7));
  cmd->add_option("--http", args->http,
                  "address of the control-room page and API (host:port; '' for none)");
  cmd->add_flag("--offline", args->offline,
                "no Kafka: match <samples>/reads.jsonl against the sample lists and exit");
  cmd->callback([args, &run] {
    run = [args] {
      if (!samples_present(*args)) return kExitUsage;
      if (args->offline) return run_offline(*args);
      try {
        return run_live(*args);
      } catch (const config::ConfigError& e) {
        std::cerr << "anpr demo: " << e.what() << "\n";
        return kExitUsage;
      } catch (const StartupError& e) {
        std::cerr << "anpr demo: " << e.what() << "\n";
        return kExitUsage;
      }
    };
  });
}

}  // namespace anpr::app
