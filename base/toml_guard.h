// A guard for TOML text before it reaches toml++ 3.3 (Debian 12's libtomlplusplus-dev), which has
// undefined behaviour, failed preconditions or unbounded recursion on some malformed input
// (base/toml_guard.cpp lists them; marzer/tomlplusplus#294). Every TOML file the product reads
// from outside (the configuration file, list sidecars) passes through it first. Also the words
// the product's messages use for TOML values and input text.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

namespace anpr {

// Limits of the guard: far above anything the product's TOML files need.
constexpr int kTomlMaxKeyParts = 16;
constexpr std::size_t kTomlMaxNesting = 32;

struct TomlHazard {
  std::size_t line = 0;    // 1-based
  std::size_t offset = 0;  // where the statement (key = value, [table]) holding it starts
  std::string what;        // what was found and what was expected
};

// The first construct in `text` that toml++ 3.3 cannot be trusted with, or nullopt. Everything it
// reports but one rare case (a non-ASCII character right after a line-ending backslash in a
// multi-line string) is invalid TOML anyway.
std::optional<TomlHazard> find_toml_hazard(std::string_view text);

// "a string", "an integer", "a float", "a boolean", "a date", "a time", "a date-time",
// "an array", "a table" or "nothing": for "expected ..., got ..." in messages.
std::string_view toml_type_name(toml::node_type t);

// Whether `c` may appear in a bare TOML key.
bool is_bare_key_char(char c);

// A string from the input for a message: double-quoted, printable ASCII as is, `"` and `\`
// escaped, other bytes as \xNN, at most 60 bytes.
std::string quote(std::string_view s);

}  // namespace anpr
