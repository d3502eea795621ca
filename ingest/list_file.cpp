#include "ingest/list_file.h"
#include "ingest/list_file_detail.h"

#include <bit>
#include <cstdio>
#include <cstring>

namespace anpr {
namespace detail {

// ---- small text helpers ----

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A value from the input, quoted for a message: printable ASCII as is, other bytes as \xNN,
// at most 40 bytes.
std::string show_value(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out += static_cast<char>(u);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", u);
      out += buf;
    }
  }
  if (s.size() > kMax) out += "...";
  out += '\'';
  return out;
}

std::string join_names(const std::string_view* names, std::size_t n, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += sep;
    out += names[i];
  }
  return out;
}

std::string all_actions() { return "intercept, observe or notify"; }

}  // namespace detail

// ---- public helpers ----

std::string to_string(const RowError& e) {
  std::string out = e.file + ":" + std::to_string(e.line) + ": ";
  if (!e.column.empty()) out += e.column + ": ";
  out += e.reason + ": " + e.detail;
  return out;
}

std::string to_string(const LoadError& e) {
  std::string out = e.file;
  if (e.line > 0) {
    out += ':' + std::to_string(e.line);
    if (e.column > 0) out += ':' + std::to_string(e.column);
  }
  out += ": " + e.message;
  return out;
}

std::filesystem::path sidecar_path(const std::filesystem::path& csv_path) {
  std::filesystem::path p = csv_path;
  p.replace_extension(".toml");
  return p;
}

uint64_t checksum64(std::string_view bytes) {
  // One lane of xxHash64's round function over little-endian 8-byte words, then its avalanche.
  constexpr uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full,
                     P3 = 0x165667B19E3779F9ull, P4 = 0x85EBCA77C2B2AE63ull;
  const auto rotl = [](uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  const auto load = [](const unsigned char* q, std::size_t len) {
    uint64_t w = 0;
    if constexpr (std::endian::native == std::endian::little) {
      if (len == 8) {
        std::memcpy(&w, q, 8);  // the same little-endian word, in one load
        return w;
      }
    }
    for (std::size_t i = 0; i < len; ++i) w |= uint64_t{q[i]} << (8 * i);
    return w;
  };
  uint64_t h = P4 ^ (uint64_t{n} * P1);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t k = rotl(load(p + i, 8) * P2, 31) * P1;
    h = rotl(h ^ k, 27) * P1 + P4;
  }
  if (i < n) {
    const uint64_t k = rotl(load(p + i, n - i) * P2, 31) * P1;
    h = rotl(h ^ k, 27) * P1 + P3;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

std::string checksum_hex(std::string_view bytes) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(checksum64(bytes)));
  return buf;
}

}  // namespace anpr
