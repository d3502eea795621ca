#include "http/auth.h"

#include <openssl/evp.h>
#include <sys/random.h>

#include <array>
#include <chrono>
#include <stdexcept>

#include "logging/log.h"

namespace anpr::http {

std::optional<Role> parse_role(std::string_view s) {
  if (s == "operator") return Role::operator_;
  if (s == "controlroom") return Role::controlroom;
  if (s == "investigator") return Role::investigator;
  if (s == "engineer") return Role::engineer;
  return std::nullopt;
}

std::string_view role_name(Role r) {
  switch (r) {
    case Role::operator_: return "operator";
    case Role::controlroom: return "controlroom";
    case Role::investigator: return "investigator";
    case Role::engineer: return "engineer";
  }
  return "?";
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::string new_token() {
  std::array<unsigned char, 32> raw{};
  std::size_t got = 0;
  while (got < raw.size()) {
    const ssize_t n = getrandom(raw.data() + got, raw.size() - got, 0);
    if (n < 0) throw std::runtime_error("cannot read random bytes for a token");
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kB64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kB64[(acc << (6 - bits)) & 63]);
  return out;
}

std::string_view refusal_text(Refusal r) {
  switch (r) {
    case Refusal::none: return "";
    case Refusal::missing: return "this resource needs an Authorization: Bearer <token> header";
    case Refusal::malformed:
    case Refusal::unknown: return "the bearer token is not valid";
    case Refusal::expired: return "the bearer token has expired";
  }
  return "the bearer token is not valid";
}

namespace {
int64_t system_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
constexpr int64_t kExpiredToldEveryMs = 60'000;
}  // namespace

std::shared_ptr<const TokenStore::Map> TokenStore::build(const std::vector<TokenSettings>& tokens) {
  auto map = std::make_shared<Map>();
  for (const auto& t : tokens) {
    const auto role = parse_role(t.role);
    if (!role) throw std::invalid_argument("unknown role " + t.role);
    // The configuration refuses a controlroom token without a room (config/settings_checks.cpp);
    // a store built by hand gets no room at all rather than every room.
    Principal who{t.name, *role, t.control_room, t.sha256};
    if (*role != Role::controlroom && who.control_room.empty()) who.control_room = "*";
    (*map)[t.sha256] = Entry{std::move(who), t.expires_ms};
  }
  return map;
}

TokenStore::TokenStore(const std::vector<TokenSettings>& tokens, Clock clock)
    : shared_(std::make_shared<Shared>()) {
  shared_->clock = clock ? std::move(clock) : Clock(system_ms);
  auto map = build(tokens);
  MutexLock lock(shared_->mu);
  shared_->map = std::move(map);
}

std::shared_ptr<const TokenStore::Map> TokenStore::current() const {
  MutexLock lock(shared_->mu);
  return shared_->map;
}

void TokenStore::add(Principal who, std::string sha256, int64_t expires_ms) {
  MutexLock lock(shared_->mu);
  auto map = std::make_shared<Map>(*shared_->map);
  who.sha256 = sha256;
  (*map)[std::move(sha256)] = Entry{std::move(who), expires_ms};
  shared_->map = std::move(map);
  ++shared_->generation;
}

void TokenStore::replace(const std::vector<TokenSettings>& tokens) {
  auto map = build(tokens);  // throws before anything changes
  MutexLock lock(shared_->mu);
  shared_->map = std::move(map);
  ++shared_->generation;
}

bool TokenStore::empty() const { return current()->empty(); }
std::size_t TokenStore::size() const { return current()->size(); }

uint64_t TokenStore::generation() const {
  MutexLock lock(shared_->mu);
  return shared_->generation;
}

void TokenStore::on_expired(std::function<void(const Principal&)> f) {
  shared_->on_expired = std::move(f);
}

std::optional<Principal> TokenStore::authenticate(std::string_view authorization) const {
  return check(authorization).who;
}

TokenStore::Result TokenStore::check(std::string_view authorization) const {
  Result r;
  if (authorization.empty()) {
    r.refusal = Refusal::missing;
    return r;
  }
  r.refusal = Refusal::malformed;
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() || authorization.size() > 1024) return r;
  for (std::size_t i = 0; i < kScheme.size() - 1; ++i)  // the scheme is case-insensitive
    if ((authorization[i] | 0x20) != (kScheme[i] | 0x20)) return r;
  if (authorization[kScheme.size() - 1] != ' ') return r;
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return r;
  r.refusal = Refusal::unknown;
  const auto map = current();
  const auto it = map->find(sha256_hex(token));
  if (it == map->end()) return r;
  const Entry& e = it->second;
  if (e.expires_ms != 0) {
    const int64_t now = shared_->clock();
    if (now >= e.expires_ms) {
      r.refusal = Refusal::expired;
      r.expired_name = e.who.name;
      bool tell = false;
      {
        MutexLock lock(shared_->mu);
        if (shared_->expired_told.size() > 4096) shared_->expired_told.clear();
        auto [at, fresh] = shared_->expired_told.try_emplace(e.who.name, now);
        tell = fresh || now - at->second >= kExpiredToldEveryMs;
        if (tell) at->second = now;
      }
      if (tell) {
        log::warn("http", "an expired bearer token was refused (its name is in the audit log)");
        if (shared_->on_expired) {
          try {
            shared_->on_expired(e.who);
          } catch (const std::exception& ex) {
            log::warn("http", std::string("cannot record the expired token: ") + ex.what());
          }
        }
      }
      return r;
    }
  }
  r.refusal = Refusal::none;
  r.who = e.who;
  return r;
}

bool TokenStore::still_valid(const Principal& who) const {
  const auto map = current();
  const auto it = map->find(who.sha256);
  if (it == map->end()) return false;
  const Entry& e = it->second;
  if (e.who.name != who.name || e.who.role != who.role || e.who.control_room != who.control_room)
    return false;
  return e.expires_ms == 0 || shared_->clock() < e.expires_ms;
}

}  // namespace anpr::http
