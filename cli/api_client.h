// What the commands that call a running processor's API (`anpr lists load|delta|show|rollback|
// delete`, `anpr search`) share: the server option, the words for a failed connection, and one
// rule for the exit code of a refusal (README.md, "Command-line conventions"):
//   401, or 403 "forbidden" or without a JSON answer (a token the server does not know, or of the wrong role) -> 2, the
//   caller used a wrong token (usage or configuration);
//   other 4xx (the request's content refused: rows over the threshold, a missing legal
//   reference, an unknown list) -> 1;
//   5xx -> 3; no answer at all -> 3.
#pragma once

#include <httplib.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "cli/commands.h"

namespace anpr::app {

inline constexpr const char* kDefaultServer = "http://127.0.0.1:8080";

// Adds --url (and its hidden older spelling --server) to `cmd`: the processor's HTTP address,
// default $ANPR_SERVER, else http://127.0.0.1:8080.
inline void add_url_option(CLI::App* cmd, std::string& url) {
  if (const char* env = std::getenv("ANPR_SERVER"); env && *env) url = env;
  else if (url.empty()) url = kDefaultServer;
  cmd->add_option("--url", url,
                  "the processor's HTTP address, http(s)://host:port ($ANPR_SERVER when set)");
  cmd->add_option("--server", url, "old name of --url")->group("");  // hidden; scripts use it
}

// Why no answer came, for a person: httplib's own names ("Connection") say too little.
inline std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect (nothing listens there, or the host cannot be reached)";
    case httplib::Error::ConnectionTimeout:
      return "no connection within the timeout";
    case httplib::Error::Read:
      return "the connection broke while reading the answer";
    case httplib::Error::Write:
      return "the connection broke while sending the request";
    case httplib::Error::SSLConnection:
      return "the TLS handshake failed";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate was not accepted (--insecure skips the check)";
    default:
      return httplib::to_string(e);
  }
}

// The exit code of a request the server answered with `status` (not 2xx) and error code `error`
// (the "error" field of its JSON answer, "" when none).
inline int refusal_exit_code(int status, std::string_view error) {
  if (status == 401 || (status == 403 && (error.empty() || error == "forbidden"))) return kExitUsage;
  if (status >= 500) return kExitRuntime;
  return kExitRejected;
}

}  // namespace anpr::app
