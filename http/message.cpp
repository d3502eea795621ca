#include "http/message.h"

#include <cctype>

namespace anpr::http {

bool header_name_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

namespace {

template <class Pairs>
const std::string* find_header(const Pairs& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (header_name_equal(k, name)) return &v;
  return nullptr;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool Request::has_header(std::string_view name) const {
  return find_header(headers, name) != nullptr;
}
std::string Request::get_header_value(std::string_view name) const {
  const std::string* v = find_header(headers, name);
  return v ? *v : std::string();
}
bool Request::has_param(std::string_view name) const {
  for (const auto& p : params)
    if (p.first == name) return true;
  return false;
}
std::string Request::get_param_value(std::string_view name) const {
  for (const auto& p : params)
    if (p.first == name) return p.second;
  return {};
}
bool Request::has_file(std::string_view name) const {
  for (const FormPart& p : parts)
    if (p.name == name) return true;
  return false;
}
FormPart Request::get_file_value(std::string_view name) const {
  for (const FormPart& p : parts)
    if (p.name == name) return p;
  return {};
}

void Response::set_header(std::string_view name, std::string_view value) {
  for (auto& [k, v] : headers)
    if (header_name_equal(k, name)) {
      v = value;
      return;
    }
  headers.emplace_back(name, value);
}
std::string Response::get_header_value(std::string_view name) const {
  const std::string* v = find_header(headers, name);
  return v ? *v : std::string();
}
bool Response::has_header(std::string_view name) const {
  return find_header(headers, name) != nullptr;
}
void Response::set_content(std::string content, std::string_view content_type) {
  body = std::move(content);
  set_header("Content-Type", content_type);
}
void Response::set_chunked_content_provider(std::string_view content_type, ContentProvider p,
                                            ContentProviderDone done) {
  set_header("Content-Type", content_type);
  provider = std::move(p);
  provider_done = std::move(done);
}

std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      out.emplace_back(url_decode(item, true), std::string());
    else
      out.emplace_back(url_decode(item.substr(0, eq), true), url_decode(item.substr(eq + 1), true));
  }
  return out;
}

}  // namespace anpr::http
