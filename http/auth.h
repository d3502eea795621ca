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
// A token may carry an expiry (`expires`); from then on it is refused like an unknown one, with
// the reason "expired" (check()). The set of tokens can be replaced while the server runs
// (replace(): the tokens file is reread on SIGHUP and when it changes, docs/control-room.md):
// a withdrawn token is refused from its next request on, and a long-lived response (the hit
// stream) asks still_valid() to end when its token is withdrawn or expires.
//
// Thread safety: every member may be called from any thread. Copies of a TokenStore share one
// set of tokens (a copy handed to the server sees what replace() on the original installs); the
// set itself is immutable and swapped whole under a mutex, so a request sees either the old or
// the new set, never a mixture.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
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
  std::string sha256;        // of the token presented (still_valid() looks it up again)
};

// Why a request is refused (TokenStore::check); `none` when it is admitted.
enum class Refusal : uint8_t { none, missing, malformed, unknown, expired };
// The message of a 401 for `r`: tells a stranger no more than that the token does not work.
std::string_view refusal_text(Refusal r);

// Lower-case hex SHA-256.
std::string sha256_hex(std::string_view data);
// A new random token: 43 characters of base64url (256 bits from the kernel's generator).
std::string new_token();

class TokenStore {
 public:
  using Clock = std::function<int64_t()>;  // Unix milliseconds now

  // `clock` decides expiry (default: the system clock). Throws std::invalid_argument on an
  // unknown role.
  explicit TokenStore(const std::vector<TokenSettings>& tokens = {}, Clock clock = {});
  // Adds one token to the current set (tests and `anpr demo`); `expires_ms` 0 = never.
  void add(Principal who, std::string sha256, int64_t expires_ms = 0);
  bool empty() const;
  std::size_t size() const;

  // Installs `tokens` in place of the current set, at once for every copy of this store.
  // Throws std::invalid_argument (and keeps the current set) on an unknown role.
  void replace(const std::vector<TokenSettings>& tokens);
  // Counts replace() and add() calls: a long-lived response may compare it cheaply.
  uint64_t generation() const;

  // The principal of an `Authorization` header value ("Bearer <token>"), or nullopt when the
  // header is missing, malformed, names no known token or an expired one.
  std::optional<Principal> authenticate(std::string_view authorization) const;

  struct Result {
    std::optional<Principal> who;
    Refusal refusal = Refusal::none;
    std::string expired_name;  // Refusal::expired: the token's name, for the engineer's log
  };
  // authenticate() with the reason of a refusal.
  Result check(std::string_view authorization) const;

  // Called (outside any lock, at most once a minute per token) when an expired token is
  // presented, with the token's holder: the processor writes it to the audit log for the
  // engineer. Set it before the server starts.
  void on_expired(std::function<void(const Principal& who)> f);

  // Whether the token `who` authenticated with is still in the set, unchanged (same name, role
  // and room) and not expired.
  bool still_valid(const Principal& who) const;

 private:
  struct Entry {
    Principal who;
    int64_t expires_ms = 0;
  };
  using Map = std::unordered_map<std::string, Entry>;  // by SHA-256
  struct Shared {
    Clock clock;
    Mutex mu;
    std::shared_ptr<const Map> map GUARDED_BY(mu);
    uint64_t generation GUARDED_BY(mu) = 0;
    std::function<void(const Principal&)> on_expired;  // set before use
    std::unordered_map<std::string, int64_t> expired_told GUARDED_BY(mu);  // name -> when
  };
  std::shared_ptr<const Map> current() const;
  static std::shared_ptr<const Map> build(const std::vector<TokenSettings>& tokens);

  std::shared_ptr<Shared> shared_;
};

}  // namespace anpr::http
