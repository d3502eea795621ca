// The bearer token of the commands that call a running processor (`anpr lists`, `anpr search`):
// from a file (its first line) or the ANPR_TOKEN environment variable, never from the command
// line, where `ps` and the shell history would show it.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace anpr::app {

// The token from `file` when given, else from ANPR_TOKEN. Empty, with `err` set, when there is
// none or the file cannot be read.
inline std::string read_token(const std::string& file, std::string& err) {
  std::string token;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      err = "cannot read the token file " + file;
      return {};
    }
    std::getline(in, token);
  } else if (const char* t = std::getenv("ANPR_TOKEN")) {
    token = t;
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) err = "no token: give --token-file FILE or set ANPR_TOKEN";
  return token;
}

}  // namespace anpr::app
