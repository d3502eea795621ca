// `anpr token new`: makes an access token for the HTTP API and pages, and prints the config
// lines that grant it (only its SHA-256 goes into the config).
#include <iostream>

#include "cli/commands.h"
#include "http/auth.h"

namespace anpr::app {

namespace {
struct TokenArgs {
  std::string name;
  std::string role;
  std::string room = "*";
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
                   "controlroom tokens: the control room whose hits it sees (* = all)");
  make->callback([args, &run] {
    run = [args] {
      const std::string token = http::new_token();
      std::cout << token << "\n";
      std::cerr << "# Add to the processor's config file:\n[http.tokens." << args->name
                << "]\nrole = \"" << args->role << "\"\nsha256 = \"" << http::sha256_hex(token)
                << "\"\n";
      if (args->role == "controlroom") std::cerr << "control_room = \"" << args->room << "\"\n";
      return kExitOk;
    };
  });
}

}  // namespace anpr::app
