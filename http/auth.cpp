#include "http/auth.h"

#include <openssl/evp.h>
#include <sys/random.h>

#include <array>
#include <stdexcept>

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

TokenStore::TokenStore(const std::vector<TokenSettings>& tokens) {
  for (const auto& t : tokens) {
    const auto role = parse_role(t.role);
    if (!role) throw std::invalid_argument("unknown role " + t.role);
    add(Principal{t.name, *role, t.control_room.empty() ? "*" : t.control_room}, t.sha256);
  }
}

void TokenStore::add(Principal who, std::string sha256) {
  by_hash_[std::move(sha256)] = std::move(who);
}

std::optional<Principal> TokenStore::authenticate(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() || authorization.size() > 1024) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size() - 1; ++i)  // the scheme is case-insensitive
    if ((authorization[i] | 0x20) != (kScheme[i] | 0x20)) return std::nullopt;
  if (authorization[kScheme.size() - 1] != ' ') return std::nullopt;
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  const auto it = by_hash_.find(sha256_hex(token));
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

}  // namespace anpr::http
