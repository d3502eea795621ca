// One bearer token of the HTTP API as the server checks it (http/auth.h). The configuration
// builds them from its [http.tokens.NAME] tables and from the tokens file (config/settings.h).
//
// Thread safety: a plain value.
#pragma once

#include <cstdint>
#include <string>

namespace anpr::http {

// One bearer token of the HTTP API (docs/design.md §6). Only its SHA-256 is kept in the config.
struct TokenSettings {
  std::string name;          // who: the table name, written to the audit log
  std::string role;          // operator | controlroom | investigator | engineer
  std::string sha256;        // lower-case hex SHA-256 of the token
  std::string control_room;  // controlroom tokens: the room whose hits it sees ("*" = all)
  int64_t expires_ms = 0;    // Unix milliseconds from which it is refused; 0 = never
};

}  // namespace anpr::http
