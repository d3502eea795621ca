// The `anpr` command: one executable, one sub-command per job (docs/design.md §8). The conventions every
// sub-command follows (README.md, "Command-line conventions"; tests/cli_conventions_test.cpp):
// exit codes 0/1/2/3 (cli/commands.h), data on stdout, diagnostics on stderr starting with
// "anpr <sub-command>: ", defaults shown the same way in every --help.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"

namespace {

// "anpr lists show": the sub-commands CLI11 had entered when it stopped.
std::string command_path(const CLI::App& app) {
  std::string name = "anpr";
  const CLI::App* a = &app;
  for (;;) {
    const auto subs = a->get_subcommands();
    if (subs.empty()) break;
    a = subs.front();
    name += " " + a->get_name();
  }
  return name;
}

// A word where a sub-command is expected that names none (`anpr frobnicate`, `anpr lists frob`):
// reported as such, instead of CLI11's "A subcommand is required" or "not expected". Returns the
// exit code, or -1 when the command line is fine in this respect.
int unknown_command(const CLI::App& app, int argc, char** argv) {
  const CLI::App* level = &app;
  std::string name = "anpr";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.empty() || arg[0] == '-') return -1;  // options: CLI11 checks them
    if (level->get_subcommands({}).empty()) return -1;  // a leaf: its positionals
    const CLI::App* sub = nullptr;
    for (const CLI::App* s : level->get_subcommands({}))
      if (s->check_name(arg)) sub = s;
    if (!sub) {
      std::fprintf(stderr, "%s: unknown command '%s'; see %s --help\n", name.c_str(), arg.c_str(),
                   name.c_str());
      return anpr::app::kExitUsage;
    }
    level = sub;
    name += " " + sub->get_name();
  }
  return -1;
}

// Empty containers would show as "=[]" in --help: no default is shown for them.
void hide_empty_defaults(CLI::App& app) {
  for (CLI::Option* o : app.get_options())
    if (o->get_default_str() == "[]") o->default_str("");
  for (CLI::App* sub : app.get_subcommands({})) hide_empty_defaults(*sub);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"anpr: ANPR hit matching for Benelux police back offices"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "anpr 0.1.0");
  // Inherited by every sub-command created below: each option's default is shown in --help as
  // "TYPE=default", the same way everywhere.
  app.option_defaults()->always_capture_default();
  // Every diagnostic names the sub-command and where to read its usage.
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    const std::string name = command_path(*a);
    // CLI11 checks required options before unknown ones; the unknown word is the news (`anpr
    // match --bogus` is not about the missing --list).
    std::string what = e.what();
    if (const auto extra = a->remaining(true); !extra.empty() && e.get_name() == "RequiredError")
      what = "The following argument was not expected: " + extra.front();
    return name + ": " + what + "; see " + name + " --help\n";
  });
  std::function<int()> run;
  anpr::app::add_match_command(app, run);
  anpr::app::add_run_command(app, run);
  anpr::app::add_demo_command(app, run);
  anpr::app::add_broker_command(app, run);
  anpr::app::add_replay_command(app, run);
  anpr::app::add_token_command(app, run);
  anpr::app::add_lists_command(app, run);
  anpr::app::add_search_command(app, run);
  anpr::app::add_authorisations_command(app, run);
  anpr::app::add_topics_command(app, run);
  anpr::app::add_bench_command(app, run);
  anpr::app::add_audit_command(app, run);
  hide_empty_defaults(app);
  if (const int rc = unknown_command(app, argc, argv); rc >= 0) return rc;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : anpr::app::kExitUsage;
  }
  try {
    return run ? run() : anpr::app::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", command_path(app).c_str(), e.what());
    return anpr::app::kExitRuntime;
  }
}
