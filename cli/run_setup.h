// What the processor needs before it touches Kafka: settings, camera registry (checked against
// the country policies) and the reference lists compiled into a live index.
#pragma once

#include <functional>

#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>

#include "config/settings.h"
#include "ingest/cameras.h"
#include "lists/registry.h"
#include "match/index.h"

namespace anpr::app {

// Something needed at start is missing or wrong (exit code 2).
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunSetup {
  config::Settings settings;
  CameraRegistry cameras;
  std::unique_ptr<LiveIndex> index;
  // Owns the lists in `index`: versions restored from state.dir/lists, then the configured files.
  std::unique_ptr<lists::Registry> registry;
  std::size_t rejected_rows = 0;
};

// Loads the config file (`brokers_override` replaces kafka.brokers when not empty), the camera
// registry and the lists; rejected list rows are reported on `err`. With `keep_list_versions`
// the list versions live in state.dir/lists (restored at start, kept across restarts); without,
// in memory only. Throws config::ConfigError or StartupError.
// `on_settings` runs once the configuration is read, before anything is loaded: command-line
// overrides go there, and the log's level and format then apply to the load reports too.
RunSetup prepare_run(const std::string& config_file, const std::string& brokers_override,
                     std::ostream& err, bool keep_list_versions = true,
                     const std::function<void(config::Settings&)>& on_settings = {});

// The list policy of a configuration (threshold, versions kept, country rules).
lists::Policy list_policy(const config::Settings& s);

}  // namespace anpr::app
