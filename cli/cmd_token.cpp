// `anpr token new`: makes an access token for the HTTP API and pages, and prints the config
// lines that grant it (only its SHA-256 goes into the config). A controlroom token needs
// --control-room (a room, or "*" written out for every room); --expires or --valid-days give it
// an end (docs/control-room.md, "Tokens").
#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "http/auth.h"
#include "match/time.h"

namespace anpr::app {

namespace {
struct TokenArgs {
  std::string name;
  std::string role;
  std::string room;  // "" = not given
  std::string expires;
  int valid_days = 0;
};
}  // namespace

void add_token_command(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<TokenArgs>();
  CLI::App* cmd = app.add_subcommand("token", "Access tokens for the HTTP API and pages");
  cmd->require_subcommand(1);
  CLI::App* make = cmd->add_subcommand(
      "new", "Make a random token: prints the token on stdout (hand it to its holder) and the "
             "[http.tokens.NAME] table for the config file on stderr");
  make->add_option("--name", args->name, "who holds it (written to the audit log)")
      ->required()
      ->check([](const std::string& s) {
        if (s.empty() || s.size() > 64) return std::string("expected 1..64 characters");
        for (char c : s)
          if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
              c != '@')
            return std::string("expected characters A-Z a-z 0-9 . _ - @");
        return std::string();
      });
  make->add_option("--role", args->role, "operator, controlroom, investigator or engineer")
      ->required()
      ->check(CLI::IsMember({"operator", "controlroom", "investigator", "engineer"}));
  make->add_option("--control-room", args->room,
                   "controlroom tokens (required for them): the control room whose hits it sees, "
                   "or * for every room")
      ->check([](const std::string& s) {
        if (s.empty() || s.size() > 128) return std::string("expected 1..128 characters");
        for (char c : s)
          if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\')
            return std::string("expected no control characters, quotes or backslashes");
        return std::string();
      });
  auto* expires =
      make->add_option("--expires", args->expires,
                       "the instant from which the token is refused, e.g. 2027-03-01T00:00:00Z")
          ->check([](const std::string& s) {
            const auto t = parse_rfc3339(s);
            return t && *t > 0 ? std::string()
                               : std::string("expected an RFC 3339 timestamp such as "
                                             "2027-03-01T00:00:00Z");
          });
  make->add_option("--valid-days", args->valid_days,
                   "the token is refused this many days from now (without it or --expires, "
                   "never)")
      ->default_str("")
      ->check(CLI::Range(1, 3660))
      ->excludes(expires);
  make->callback([args, &run] {
    if (args->role == "controlroom" && args->room.empty())
      throw CLI::ValidationError(
          "--control-room",
          "a controlroom token needs --control-room ROOM (the room whose hits it sees), or "
          "--control-room '*' for every room");
    if (args->role != "controlroom" && !args->room.empty())
      throw CLI::ValidationError("--control-room", "only controlroom tokens have a control room");
    run = [args] {
      int64_t expires_ms = 0;
      if (!args->expires.empty()) {
        expires_ms = *parse_rfc3339(args->expires);
      } else if (args->valid_days > 0) {
        const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        expires_ms = (now / 1000) * 1000 + int64_t{args->valid_days} * 86'400'000;
      }
      const std::string token = http::new_token();
      std::cout << token << "\n";
      std::cerr << "# Add to the processor's config file (in a tokens file, http.tokens_file, "
                   "the table is [" << args->name << "]):\n[http.tokens." << args->name
                << "]\nrole = \"" << args->role << "\"\nsha256 = \"" << http::sha256_hex(token)
                << "\"\n";
      if (args->role == "controlroom") std::cerr << "control_room = \"" << args->room << "\"\n";
      if (expires_ms > 0) std::cerr << "expires = " << format_rfc3339(expires_ms) << "\n";
      return kExitOk;
    };
  });
}

}  // namespace anpr::app
