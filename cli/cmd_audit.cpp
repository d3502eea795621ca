// `anpr audit verify [FILE...]`: checks the hash chain of the audit log (http/audit.h;
// docs/operators.md §11). Exit code 0 intact, 1 broken (the first broken record is named),
// 2 usage error or a file that cannot be read.
#include <filesystem>
#include <iostream>
#include <memory>

#include "base/json_writer.h"
#include "cli/commands.h"
#include "config/settings.h"
#include "http/audit.h"

namespace anpr::app {

namespace {
struct AuditArgs {
  std::vector<std::string> files;
  std::string config, key_file, head;
  bool no_head = false;
  bool json = false;
};
}  // namespace

void add_audit_command(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<AuditArgs>();
  CLI::App* cmd = app.add_subcommand("audit", "The audit log of list changes, searches and "
                                              "acknowledgements");
  cmd->require_subcommand(1);
  CLI::App* c = cmd->add_subcommand(
      "verify",
      "Check the audit log's hash chain: every record unchanged, none removed, inserted or "
      "reordered, and none missing at the end (against the head file). Give a rotated log's "
      "files oldest first to check the chain across them. Exit code: 0 intact, 1 broken (the "
      "first broken record is printed), 2 usage error or a file that cannot be read.");
  c->add_option("files", a->files, "audit log files, oldest first")
      ->default_str("audit.jsonl in the configuration's state.dir; without --config, "
                    "state/audit.jsonl here");
  c->add_option("--config", a->config, "processor configuration: state.dir and audit.key_file");
  c->add_option("--key-file", a->key_file, "the audit key the log was written with")
      ->default_str("audit.key_file of the configuration");
  c->add_option("--head", a->head, "head file holding the last record's seq and hash")
      ->default_str("audit.head beside the last file, when it exists");
  c->add_flag("--no-head", a->no_head, "do not check the end of the log against a head file");
  c->add_flag("--json", a->json, "print the result as JSON on stdout");
  c->callback([a, &run] {
    run = [a] {
      constexpr const char* kName = "anpr audit verify: ";
      config::Settings s;
      if (!a->config.empty()) {
        try {
          s = config::load_settings(a->config);
        } catch (const config::ConfigError& e) {
          std::cerr << kName << e.what() << "\n";
          return kExitUsage;
        }
      }
      std::vector<std::filesystem::path> files(a->files.begin(), a->files.end());
      if (files.empty())
        files.push_back((s.state_dir.empty() ? std::filesystem::path("state") : s.state_dir) /
                        "audit.jsonl");
      http::AuditVerifyOptions options;
      try {
        if (!a->key_file.empty())
          options.key = http::read_audit_key(a->key_file);
        else if (!s.audit_key_file.empty())
          options.key = http::read_audit_key(s.audit_key_file);
      } catch (const std::exception& e) {
        std::cerr << kName << e.what() << "\n";
        return kExitUsage;
      }
      if (!a->head.empty()) {
        options.head = a->head;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(*options.head, ec)) {
          std::cerr << kName << a->head << ": cannot read the head file\n";
          return kExitUsage;
        }
      } else if (!a->no_head) {
        const auto head = http::audit_head_path(files.back());
        std::error_code ec;
        if (std::filesystem::exists(head, ec)) options.head = head;
      }
      http::AuditVerifyResult r;
      try {
        r = http::verify_audit(files, options);
      } catch (const std::exception& e) {
        std::cerr << kName << e.what() << "\n";
        return kExitUsage;
      }
      if (a->json) {
        std::string out;
        JsonWriter w(out);
        w.begin_object();
        w.field("intact", r.intact);
        w.field("records", r.records);
        w.field("last_seq", r.last_seq);
        w.field("last_hash", r.last_hash);
        if (!r.intact) {
          w.key("broken");
          w.begin_object();
          w.field("file", r.file.string());
          w.field("line", r.line);
          w.field("problem", r.problem);
          w.end_object();
        }
        w.key("notes");
        w.begin_array();
        for (const std::string& n : r.notes) w.value(n);
        w.end_array();
        w.end_object();
        std::cout << out << "\n";
      } else {
        for (const std::string& n : r.notes) std::cout << "note: " << n << "\n";
        if (r.intact)
          std::cout << "intact: " << r.records << " records, last seq " << r.last_seq
                    << ", last hash " << r.last_hash
                    << (options.head ? ", matching " + options.head->string() : std::string())
                    << "\n";
        else
          std::cout << "broken: " << r.file.string() << ":" << r.line << ": " << r.problem
                    << "\n";
      }
      return r.intact ? kExitOk : kExitRejected;
    };
  });
}

}  // namespace anpr::app
