// `anpr lists publish FILE`: validates a list file and publishes it to the reflists topic
// (reflists/reflists.h).
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "base/json_writer.h"
#include "cli/commands.h"
#include "config/settings.h"
#include "http/audit.h"
#include "lists/registry.h"
#include "pipeline/kafka_props.h"
#include "pipeline/offline.h"
#include "reflists/reflists.h"

namespace anpr::app {

namespace {
struct PublishArgs {
  std::string file, config, brokers, topic, who, audit_log;
  bool json = false;
};
}  // namespace

void add_lists_publish_command(CLI::App* lists_cmd, std::function<int()>& run) {
  auto a = std::make_shared<PublishArgs>();
  CLI::App* c = lists_cmd->add_subcommand(
      "publish",
      "Validate a list file and publish it as the list's next version to the reflists topic, "
      "which every processor with lists.follow_topic reads. Exit code: 0 published, 1 the file "
      "was refused, 2 usage or configuration error, 3 the broker failed.");
  c->add_option("file", a->file, "list file (.csv or .jsonl) with its .toml sidecar")->required();
  c->add_option("--config", a->config,
                "processor configuration: brokers, Kafka properties, topics.reflists, threshold "
                "and country policies");
  c->add_option("--brokers", a->brokers, "bootstrap servers (overrides the configuration)");
  c->add_option("--topic", a->topic, "topic")
      ->default_str("topics.reflists of the configuration, else anpr.reflists");
  c->add_option("--by", a->who,
                "who publishes, recorded in the version and the audit log")
      ->default_str("$USER");
  c->add_option("--audit-log", a->audit_log, "audit log the publish is recorded in")
      ->default_str("audit.jsonl in the configuration's state.dir; without --config, "
                    "state/audit.jsonl here");
  c->add_flag("--json", a->json, "print the validation report as JSON on stdout");
  c->callback([a, &run] {
    run = [a] {
      config::Settings s;
      lists::Policy policy;
      policy.countries = config::default_country_policies();
      if (!a->config.empty()) {
        try {
          s = config::load_settings(a->config);
        } catch (const config::ConfigError& e) {
          std::cerr << "anpr lists publish: " << e.what() << "\n";
          return kExitUsage;
        }
        policy.countries = s.countries;
        policy.max_rejected_percent = s.list_policy.max_rejected_percent;
      }
      if (!a->brokers.empty()) s.kafka.brokers = a->brokers;
      if (a->config.empty() && a->brokers.empty()) {
        std::cerr << "anpr lists publish: give --config or --brokers\n";
        return kExitUsage;
      }
      // A file that cannot be read is a usage error (exit 2), as in every command.
      if (!list_files_readable(a->file, "anpr lists publish", std::cerr)) return kExitUsage;
      const std::string topic = a->topic.empty() ? s.topics.reflists : a->topic;
      // One set for the consumer that reads the topic and the producer that writes it.
      const kafka::Properties props = kafka_properties(s.kafka, KafkaRole::common, "3");
      const char* user = std::getenv("USER");
      const std::string who = !a->who.empty() ? a->who : (user ? user : "unknown");
      // No publish without its record: when the audit log cannot be opened, nothing is written.
      std::unique_ptr<http::AuditLog> audit;
      try {
        const std::filesystem::path state = s.state_dir.empty() ? "state" : s.state_dir;
        audit = std::make_unique<http::AuditLog>(
            a->audit_log.empty() ? state / "audit.jsonl" : std::filesystem::path(a->audit_log),
            s.audit_key_file.empty() ? std::string() : http::read_audit_key(s.audit_key_file));
      } catch (const std::exception& e) {
        std::cerr << "anpr lists publish: " << e.what() << "\n";
        return kExitRuntime;
      }
      PublishResult r;
      try {
        r = publish_list(props, topic, a->file, policy, who, audit.get());
      } catch (const std::exception& e) {
        std::cerr << "anpr lists publish: " << e.what() << "\n";
        return kExitRuntime;
      }
      if (a->json) {
        std::string out;
        JsonWriter w(out);
        lists::write_report_json(w, r.report);
        std::cout << out << "\n";
      } else {
        lists::write_report_text(std::cerr, r.report);
      }
      if (!r.published) {
        std::cerr << "anpr lists publish: " << r.error << "\n";
        return (r.report.fatal || r.report.over_threshold) ? kExitRejected : kExitRuntime;
      }
      std::cerr << "anpr lists publish: list " << r.report.list_id << " version " << r.checksum
                << " published to " << topic << ": " << r.entries << " entries, "
                << r.tombstones << " removed\n";
      return r.report.rejected > 0 ? kExitRejected : kExitOk;
    };
  });
}

}  // namespace anpr::app
