// A guard for TOML text before it reaches toml++ 3.3 (Debian 12's libtomlplusplus-dev), which has
// undefined behaviour, failed preconditions or unbounded recursion on some malformed input
// (config/toml_guard.cpp lists them; marzer/tomlplusplus#294). Every TOML file the product reads
// from outside (the configuration file, list sidecars) passes through it first.
//
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace anpr::config {

struct TomlHazard {
  std::size_t line = 0;  // 1-based
  std::string what;      // what was found and what was expected
};

// The first construct in `text` that toml++ 3.3 cannot be trusted with, or nullopt. Everything it
// reports but one rare case (a non-ASCII character right after a line-ending backslash in a
// multi-line string) is invalid TOML anyway.
std::optional<TomlHazard> find_toml_hazard_in(std::string_view text);

}  // namespace anpr::config
