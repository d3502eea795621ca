// Sub-commands of the `anpr` executable. Each registers its options on the CLI11 app and returns
// the process exit code (docs/design.md §8): 0 success, 1 input (partly) rejected, 2 usage or
// configuration error, 3 runtime failure.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace anpr::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRejected = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRuntime = 3;

// Registers a sub-command; `run` is set to the function that executes it once parsed.
void add_match_command(CLI::App& app, std::function<int()>& run);
void add_demo_command(CLI::App& app, std::function<int()>& run);
void add_run_command(CLI::App& app, std::function<int()>& run);
void add_broker_command(CLI::App& app, std::function<int()>& run);
void add_replay_command(CLI::App& app, std::function<int()>& run);
void add_token_command(CLI::App& app, std::function<int()>& run);
void add_lists_command(CLI::App& app, std::function<int()>& run);
void add_search_command(CLI::App& app, std::function<int()>& run);
void add_authorisations_command(CLI::App& app, std::function<int()>& run);
void add_topics_command(CLI::App& app, std::function<int()>& run);
void add_bench_command(CLI::App& app, std::function<int()>& run);
void add_audit_command(CLI::App& app, std::function<int()>& run);
// `anpr lists publish`, registered under the `lists` command.
void add_lists_publish_command(CLI::App* lists_cmd, std::function<int()>& run);

}  // namespace anpr::app
