// `anpr run --config FILE`: the stream processor (pipeline/processor.h).
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>
#include <thread>

#include "base/private_files.h"
#include "cli/commands.h"
#include "cli/run_services.h"
#include "serve/lists_api.h"
#include "reflists/reflists.h"
#include "pipeline/kafka_props.h"
#include "pipeline/offline.h"
#include "pipeline/processor.h"
#include "cli/run_setup.h"
#include "serve/search_api.h"
#include "cli/signals.h"
#include "config/settings.h"
#include "image/image.h"
#include "ingest/cameras.h"
#include "logging/log.h"

#include <toml++/toml.h>

namespace anpr::app {

namespace {
struct RunArgs {
  std::string config;
  std::string brokers;
  std::string instance_id;  // overrides kafka.instance_id when not empty
  std::string log_level, log_format;  // override log.level / log.format when not empty
};

// The line of `table.key` in the configuration file, for messages in the "file:line: key: "
// form of config::ConfigError; 0 when it cannot be found. Only called on a file load_settings has
// accepted (so it has passed the TOML guard of base/toml_guard.h).
std::size_t config_line(const std::filesystem::path& file, std::string_view table,
                        std::string_view key) {
  try {
    const toml::table doc = toml::parse_file(file.string());
    if (const toml::node* n = doc[table][key].node()) return n->source().begin.line;
  } catch (const std::exception&) {
  }
  return 0;
}

// Applies log.level / log.format, the command line winning over the config file.
void configure_logging(const RunArgs& a, const config::Settings* s) {
  const std::string& level = !a.log_level.empty() ? a.log_level : s ? s->log.level : a.log_level;
  const std::string& format = !a.log_format.empty() ? a.log_format : s ? s->log.format : a.log_format;
  if (auto l = log::parse_level(level)) log::set_level(*l);
  if (auto f = log::parse_format(format)) log::set_format(*f);
}
}  // namespace

lists::Policy list_policy(const config::Settings& s) {
  lists::Policy p;
  p.max_rejected_percent = s.list_policy.max_rejected_percent;
  p.keep_versions = s.list_policy.keep_versions;
  p.countries = s.countries;
  return p;
}

RunSetup prepare_run(const std::string& config_file, const std::string& brokers_override,
                     std::ostream& err, bool keep_list_versions,
                     const std::function<void(config::Settings&)>& on_settings) {
  RunSetup s;
  s.settings = config::load_settings(config_file);
  if (!brokers_override.empty()) s.settings.kafka.brokers = brokers_override;
  if (on_settings) on_settings(s.settings);
  try {
    s.cameras = CameraRegistry::load(s.settings.cameras);
  } catch (const std::exception& e) {
    // Like every configuration problem: the file, line and key that named the registry.
    const std::size_t line = config_line(s.settings.file, "cameras", "registry");
    throw StartupError(s.settings.file.string() + ":" + std::to_string(line == 0 ? 1 : line) +
                       ": cameras.registry: " + e.what());
  }
  try {
    bool overviews = false;
    for (const auto& p : s.settings.retention.policies) overviews = overviews || p.keep_images;
    image::check_options(s.settings.images, overviews);
  } catch (const std::exception& e) {
    throw StartupError(s.settings.file.string() + ": images.face_cascade: " + e.what());
  }
  std::set<std::string> missing;
  for (const Camera& c : s.cameras.cameras())
    if (!s.settings.policy(c.country)) missing.insert(c.country.str());
  if (!missing.empty()) {
    std::string m;
    for (const auto& c : missing) m += (m.empty() ? "" : ", ") + c;
    throw StartupError(s.settings.file.string() +
                       ": the camera registry has cameras in countries without a policy (" + m +
                       "): add a [countries.XX] table with their allowed categories");
  }
  // Every list the configuration names is read and checked before the registry touches the
  // state folder: a start that fails on a list writes nothing into state.dir (README.md,
  // "Command-line conventions"). The registry reads them again to import them.
  {
    std::string unusable;
    const lists::Policy policy = list_policy(s.settings);
    for (const auto& f : s.settings.lists) {
      const lists::Report r = lists::validate_file(f, policy, lists::system_now());
      if (r.fatal) unusable += (unusable.empty() ? "" : "; ") + to_string(*r.fatal);
    }
    if (!unusable.empty()) {
      const std::size_t line = config_line(s.settings.file, "lists", "files");
      throw StartupError(s.settings.file.string() + ":" + std::to_string(line == 0 ? 1 : line) +
                         ": lists.files: a reference list could not be loaded, nothing was "
                         "started or stored: " + unusable);
    }
  }
  // Everything the processor writes from here on (list versions, the retention store, the audit
  // log) is its own: files 0600 and folders 0700 whatever the caller's umask; a state folder made
  // with a wider mode by an earlier version is closed too (docs/operations.md, "The state folder").
  ::umask(077);
  {
    std::error_code ec;
    if (std::filesystem::is_directory(s.settings.state_dir, ec))
      make_private_dir(s.settings.state_dir, ec);
  }
  s.index = std::make_unique<LiveIndex>();
  try {
    s.registry = std::make_unique<lists::Registry>(
        *s.index, list_policy(s.settings),
        keep_list_versions ? s.settings.state_dir / "lists" : std::filesystem::path{});
  } catch (const std::exception& e) {
    throw StartupError(e.what());
  }
  const std::size_t restored = s.registry->restore(err);
  if (restored > 0) err << "anpr: " << restored << " reference lists restored from " << (s.settings.state_dir / "lists").string() << "\n";
  bool fatal = false;
  for (const auto& f : s.settings.lists) fatal |= !s.registry->import_config_file(f, err);
  if (fatal) throw StartupError("a reference list could not be loaded (see above)");
  return s;
}

void add_run_command(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run the stream processor: consume camera reads from Kafka, publish hits, route "
             "copies and dead letters. Stops cleanly on SIGINT/SIGTERM.");
  cmd->add_option("--config", args->config, "configuration file (docs/configuration.md)")
      ->required();
  cmd->add_option("--brokers", args->brokers, "bootstrap servers, overriding kafka.brokers");
  cmd->add_option("--instance-id", args->instance_id,
                  "this instance's static member name in the consumer group, overriding "
                  "kafka.instance_id");
  cmd->add_option("--log-level", args->log_level, "debug, info, warn or error (overrides log.level)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  cmd->add_option("--log-format", args->log_format,
                  "text or json: JSON Lines on stderr (overrides log.format)")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->callback([args, &run] {
    run = [args] {
      RunSetup s;
      configure_logging(*args, nullptr);
      try {
        log::LineStream report(log::Level::warn, "run");  // rejected list rows
        s = prepare_run(args->config, args->brokers, report, true,
                        [&](config::Settings& st) {
                          if (!args->instance_id.empty()) st.kafka.instance_id = args->instance_id;
                          configure_logging(*args, &st);
                        });
      } catch (const config::ConfigError& e) {
        log::error("run", e.what());
        return kExitUsage;
      } catch (const StartupError& e) {
        log::error("run", e.what());
        return kExitUsage;
      }
      configure_logging(*args, &s.settings);
      {
        LiveIndex::Reader snap = s.index->read();
        log::info("run",
                  std::to_string(snap->entry_count()) + " reference entries in " +
                      std::to_string(snap->list_count()) + " lists, " +
                      std::to_string(s.cameras.size()) + " cameras; consuming " +
                      s.settings.topics.reads + " from " + s.settings.kafka.brokers,
                  {{"entries", snap->entry_count()},
                   {"lists", snap->list_count()},
                   {"cameras", s.cameras.size()},
                   {"topic", s.settings.topics.reads},
                   {"brokers", s.settings.kafka.brokers}});
      }
      if (s.settings.kafka.signing_keys.empty())
        log::warn("run",
                  "kafka.signing_key_file is not set: hits and acknowledgements are written "
                  "unsigned and the control rooms' feed cannot tell them from forged ones; a "
                  "deployment must set it (docs/kafka.md, \"Signed records\")",
                  {{"topic_hits", s.settings.topics.hits},
                   {"topic_hit_acks", s.settings.topics.hit_acks}});
      install_stop_signals();
      std::unique_ptr<Processor> owned;
      try {
        owned = std::make_unique<Processor>(s.settings, *s.index, s.cameras);
      } catch (const std::exception& e) {  // e.g. the retention store cannot be opened
        log::error("run", e.what());
        return kExitRuntime;
      }
      Processor& p = *owned;
      std::unique_ptr<RunServices> services;
      if (!s.settings.http.listen.empty()) {
        try {
          services = std::make_unique<RunServices>(s, p);
        } catch (const std::exception& e) {
          log::error("run", std::string("http: ") + e.what());
          return kExitRuntime;
        }
        HttpService* http = &services->http();
        const char* scheme = http->server().tls() ? "https" : "http";
        log::info("run",
                  std::string("serving ") + scheme + " on port " +
                      std::to_string(http->server().port()),
                  {{"scheme", scheme}, {"port", http->server().port()}});
      }
      log::LineStream reflists_log(log::Level::info, "run");  // outlives the follower
      std::unique_ptr<http::AuditLog> own_audit;  // without HTTP; outlives the follower
      std::unique_ptr<ReflistFollower> follower;
      if (s.settings.list_policy.follow_topic) {
        // read_topic (reflists/) adds the follower's own consumer properties after these.
        const kafka::Properties props =
            kafka_properties(s.settings.kafka, KafkaRole::consumer, "4");
        try {
          // Versions applied from the topic are audited in the same log as the API's changes.
          http::AuditLog* audit = nullptr;
          if (services) {
            audit = &services->http().audit();
          } else {
            own_audit = std::make_unique<http::AuditLog>(
                s.settings.state_dir / "audit.jsonl",
                s.settings.audit_key_file.empty()
                    ? std::string()
                    : http::read_audit_key(s.settings.audit_key_file));
            audit = own_audit.get();
          }
          follower = std::make_unique<ReflistFollower>(props, s.settings.topics.reflists,
                                                       *s.registry, reflists_log, audit);
          follower->start();
        } catch (const std::exception& e) {
          log::error("run", std::string("reflists: ") + e.what());
          return kExitRuntime;
        }
      }
      // Reads matched before the lists are complete would miss their hits for good (their offsets
      // are committed): consume only once the reflists topic has been read to its end.
      if (follower) {
        log::info("run", "waiting until the reflists topic has been read to its end");
        while (!follower->caught_up() && !stop_requested())
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (stop_requested()) return kExitOk;
        log::info("run", "reference lists complete from the reflists topic");
      }
      std::atomic<bool> done{false};
      std::thread watcher([&p, &done, &s] {
        auto next_maintenance = std::chrono::steady_clock::now() + std::chrono::minutes(1);
        while (!stop_requested() && !done.load()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          if (std::chrono::steady_clock::now() >= next_maintenance) {
            s.registry->maintain();  // drops entries that expired since the last build
            next_maintenance = std::chrono::steady_clock::now() + std::chrono::minutes(1);
          }
        }
        p.request_stop();
      });
      int rc;
      try {
        rc = p.run();
      } catch (const std::exception& e) {
        log::error("run", e.what());
        rc = kExitRuntime;
      }
      const ProcessorCounters c = p.counters();
      log::info("run", summary(c),
                {{"reads", c.reads},
                 {"hits", c.hits},
                 {"route_copies", c.route_copies},
                 {"suppressed", c.suppressed},
                 {"not_applicable", c.not_applicable},
                 {"deadletters", c.deadletters}});
      done = true;
      watcher.join();
      if (services) services->stop();
      return rc;
    };
  });
}

}  // namespace anpr::app
