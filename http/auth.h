// Bearer tokens and roles of the HTTP API (docs/design.md §6).
//
// A token is a random secret handed to one person or system; the config keeps only its SHA-256
// (`http.tokens.NAME.sha256`), with the role it grants:
//   operator      reference lists
//   controlroom   hits and acknowledgements (of one control room, or every room with "*")
//   investigator  passage search, with the legal reference its country requires
//   engineer      status and administration
// Each route names the roles it admits; there is no role that may do everything.
//
// Thread safety: a TokenStore is immutable after construction; any thread may authenticate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/token.h"

namespace anpr::http {

enum class Role : uint8_t { operator_ = 1, controlroom = 2, investigator = 4, engineer = 8 };
using Roles = uint8_t;  // a set of Role bits
constexpr Roles operator|(Role a, Role b) {
  return static_cast<Roles>(static_cast<uint8_t>(a) | static_cast<uint8_t>(b));
}
constexpr Roles operator|(Roles a, Role b) { return static_cast<Roles>(a | static_cast<uint8_t>(b)); }
constexpr Roles roles(Role r) { return static_cast<Roles>(r); }
constexpr bool admits(Roles set, Role r) { return (set & static_cast<uint8_t>(r)) != 0; }

std::optional<Role> parse_role(std::string_view s);
std::string_view role_name(Role r);

// Who made a request.
struct Principal {
  std::string name;          // the token's name in the config
  Role role = Role::engineer;
  std::string control_room;  // "*" = every room
};

// Lower-case hex SHA-256.
std::string sha256_hex(std::string_view data);
// A new random token: 43 characters of base64url (256 bits from the kernel's generator).
std::string new_token();

class TokenStore {
 public:
  TokenStore() = default;
  explicit TokenStore(const std::vector<TokenSettings>& tokens);
  void add(Principal who, std::string sha256);
  bool empty() const { return by_hash_.empty(); }

  // The principal of an `Authorization` header value ("Bearer <token>"), or nullopt when the
  // header is missing, malformed or names no known token.
  std::optional<Principal> authenticate(std::string_view authorization) const;

 private:
  std::unordered_map<std::string, Principal> by_hash_;
};

}  // namespace anpr::http
