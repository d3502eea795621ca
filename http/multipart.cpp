#include "http/multipart.h"

#include <cctype>
#include <optional>

namespace anpr::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequal(std::string_view a, std::string_view b) { return header_name_equal(a, b); }

// Header parameters `; key=value; key="quoted"` after the first item. nullopt when malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> parameters(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i == s.size()) break;
    if (s[i] != ';') return std::nullopt;
    ++i;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const std::size_t k = i;
    while (i < s.size() && s[i] != '=' && s[i] != ';' && s[i] != ' ' && s[i] != '\t') ++i;
    const std::string key(s.substr(k, i - k));
    if (key.empty() || i == s.size() || s[i] != '=') return std::nullopt;
    ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          value += s[i + 1];
          i += 2;
        } else if (s[i] == '"') {
          ++i;
          closed = true;
          break;
        } else {
          value += s[i++];
        }
      }
      if (!closed) return std::nullopt;
    } else {
      const std::size_t v = i;
      while (i < s.size() && s[i] != ';' && s[i] != ' ' && s[i] != '\t') ++i;
      value = s.substr(v, i - v);
    }
    out.emplace_back(key, std::move(value));
  }
  return out;
}

// RFC 2046 bchars (a space only inside).
bool valid_boundary(std::string_view b) {
  if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
  for (char c : b) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("'()+_,-./:=? ").find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

bool is_multipart_form_data(std::string_view content_type) {
  const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  return iequal(type, "multipart/form-data");
}

std::variant<std::vector<FormPart>, std::string> parse_multipart(std::string_view content_type,
                                                                std::string_view body) {
  if (!is_multipart_form_data(content_type)) return std::string("the body is not multipart/form-data");
  const std::size_t semi = content_type.find(';');
  const auto params =
      parameters(semi == std::string_view::npos ? std::string_view() : content_type.substr(semi));
  if (!params) return std::string("the Content-Type's parameters are malformed");
  std::string boundary;
  for (const auto& [k, v] : *params)
    if (iequal(k, "boundary")) boundary = v;
  if (!valid_boundary(boundary))
    return std::string("the Content-Type needs a boundary of 1 to 70 characters (RFC 2046)");
  const std::string delimiter = "--" + boundary;
  const std::string next = "\r\n" + delimiter;

  std::size_t pos;
  if (body.substr(0, delimiter.size()) == delimiter) {
    pos = 0;
  } else {
    pos = body.find(next);
    if (pos == std::string_view::npos) return std::string("the body has no multipart boundary");
    pos += 2;
  }
  std::vector<FormPart> parts;
  for (;;) {
    // At a delimiter.
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return parts;  // the close delimiter; the epilogue is ignored
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n")
      return std::string("a multipart delimiter is not followed by a line end");
    pos += 2;
    if (parts.size() == kMaxParts)
      return "more than " + std::to_string(kMaxParts) + " parts in the multipart body";
    const std::size_t head_end = body.find("\r\n\r\n", pos);
    const bool no_headers = body.substr(pos, 2) == "\r\n";
    if (!no_headers && (head_end == std::string_view::npos || head_end - pos > kMaxPartHeaderBytes))
      return "a part's headers are not ended by an empty line within " +
             std::to_string(kMaxPartHeaderBytes) + " bytes";
    FormPart part;
    bool disposition = false;
    if (!no_headers) {
      std::string_view head = body.substr(pos, head_end - pos);
      std::size_t lines = 0;
      while (!head.empty()) {
        const std::size_t eol = head.find("\r\n");
        const std::string_view line = head.substr(0, eol);
        head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
        if (++lines > kMaxPartHeaders)
          return "more than " + std::to_string(kMaxPartHeaders) + " header lines in a part";
        if (line.empty() || line.front() == ' ' || line.front() == '\t')
          return std::string("a part's header line is empty or folded");
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
          return std::string("a part's header line has no name and colon");
        const std::string_view name = line.substr(0, colon);
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequal(name, "Content-Disposition")) {
          if (disposition) return std::string("a part has two Content-Disposition headers");
          disposition = true;
          const std::size_t s = value.find(';');
          if (!iequal(trim(value.substr(0, s)), "form-data"))
            return std::string("a part's Content-Disposition is not form-data");
          const auto p = parameters(s == std::string_view::npos ? std::string_view()
                                                                 : value.substr(s));
          if (!p) return std::string("a part's Content-Disposition parameters are malformed");
          for (const auto& [k, v] : *p) {
            if (iequal(k, "name")) part.name = v;
            else if (iequal(k, "filename")) part.filename = v;
          }
        } else if (iequal(name, "Content-Type")) {
          part.content_type = value;
        }
      }
    }
    if (!disposition || part.name.empty())
      return std::string("a part has no Content-Disposition: form-data with a name");
    const std::size_t content = no_headers ? pos + 2 : head_end + 4;
    const std::size_t end = body.find(next, content);
    if (end == std::string_view::npos)
      return std::string("the multipart body ends without its close delimiter");
    part.content = body.substr(content, end - content);
    parts.push_back(std::move(part));
    pos = end + 2;
  }
}

}  // namespace anpr::http
