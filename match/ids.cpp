#include "match/ids.h"

#include "base/utf8.h"

namespace anpr {

namespace {
constexpr bool lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
}  // namespace

bool ListId::valid(std::string_view s) {
  if (s.empty() || s.size() > kMaxBytes || !lower_or_digit(s[0])) return false;
  for (char c : s)
    if (!lower_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

std::optional<ListId> ListId::parse(std::string_view s) {
  if (!valid(s)) return std::nullopt;
  return ListId(std::string(s));
}

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    int len = 0;
    if (decode_utf8(p, end, len) < 0) return false;
    p += len;
  }
  return true;
}

bool CameraId::valid(std::string_view s) {
  if (s.empty() || s.size() > kMaxBytes) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return valid_utf8(s);
}

std::optional<CameraId> CameraId::parse(std::string_view s) {
  if (!valid(s)) return std::nullopt;
  return CameraId(std::string(s));
}

}  // namespace anpr
