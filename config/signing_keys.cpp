// The signing key file of kafka.signing_key_file (docs/kafka.md, "Signed records").
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "config/settings.h"

namespace anpr::config {

namespace {

constexpr std::size_t kMinKeyBytes = 32;
constexpr std::size_t kMaxKeyBytes = 1024;
constexpr std::size_t kMaxKeys = 16;
constexpr std::size_t kMaxFileBytes = 64 * 1024;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string mode_text(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

}  // namespace

std::optional<std::vector<std::string>> read_signing_keys(const std::filesystem::path& file,
                                                          std::string& why) {
  const std::string name = file.string();
  struct stat st {};
  if (::stat(name.c_str(), &st) != 0) {
    why = name + ": cannot read the signing key file: " + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    why = name + ": the signing key file is not a regular file";
    return std::nullopt;
  }
  if (st.st_mode & 077) {
    why = name + ": the signing key file may be read or written by others (mode " +
          mode_text(st.st_mode) + "): make it readable by the processor's user only (chmod 600)";
    return std::nullopt;
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxFileBytes) {
    why = name + ": the signing key file is larger than 64 KiB: expected a few lines of hex keys";
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    why = name + ": cannot read the signing key file: " + std::strerror(errno);
    return std::nullopt;
  }
  std::vector<std::string> keys;
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    const std::string_view hex = std::string_view(line).substr(start);
    const std::string where = name + ":" + std::to_string(n) + ": ";
    if (hex.size() % 2 != 0 || hex.size() / 2 < kMinKeyBytes || hex.size() / 2 > kMaxKeyBytes) {
      why = where + "expected a key of 64 to 2048 hex digits (32 to 1024 bytes), got " +
            std::to_string(hex.size()) + " characters";
      return std::nullopt;
    }
    std::string key;
    key.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      const int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
      if (hi < 0 || lo < 0) {
        why = where + "a key holds only hex digits 0-9 a-f (column " +
              std::to_string(start + i + (hi < 0 ? 1 : 2)) + " is not one)";
        return std::nullopt;
      }
      key.push_back(static_cast<char>(hi << 4 | lo));
    }
    if (keys.size() == kMaxKeys) {
      why = where + "more than 16 keys: remove the retired ones";
      return std::nullopt;
    }
    keys.push_back(std::move(key));
  }
  if (keys.empty()) {
    why = name + ": the signing key file holds no key: expected one line of 64 or more hex digits "
                 "(openssl rand -hex 32)";
    return std::nullopt;
  }
  return keys;
}

}  // namespace anpr::config
