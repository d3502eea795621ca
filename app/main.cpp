// The `anpr` command: one executable, one sub-command per job (DESIGN §8).
#include <cstdio>
#include <exception>

#include "app/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"anpr: ANPR hit matching for Benelux police back offices"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "anpr 0.1.0");
  std::function<int()> run;
  anpr::app::add_match_command(app, run);
  anpr::app::add_run_command(app, run);
  anpr::app::add_demo_command(app, run);
  anpr::app::add_broker_command(app, run);
  anpr::app::add_replay_command(app, run);
  anpr::app::add_token_command(app, run);
  anpr::app::add_lists_command(app, run);
  anpr::app::add_search_command(app, run);
  anpr::app::add_topics_command(app, run);
  anpr::app::add_bench_command(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : anpr::app::kExitUsage;
  }
  try {
    return run ? run() : anpr::app::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "anpr: %s\n", e.what());
    return anpr::app::kExitRuntime;
  }
}
