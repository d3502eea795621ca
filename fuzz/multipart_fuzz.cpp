// libFuzzer target: the multipart/form-data parser of the list uploads (parse_multipart). The
// input's first line is the Content-Type, the rest the body.
// Invariants: no crash, no sanitizer report; either parts or a non-empty reason; at most
// kMaxParts parts, each with a name, and each part's content a slice of the body (so the parts
// hold at most the body's size).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "http/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t eol = input.find('\n');
  const std::string_view type =
      eol == std::string_view::npos ? std::string_view("multipart/form-data; boundary=b")
                                    : input.substr(0, eol);
  const std::string_view body = eol == std::string_view::npos ? input : input.substr(eol + 1);
  const auto r = anpr::http::parse_multipart(type, body);
  if (const auto* why = std::get_if<std::string>(&r)) {
    if (why->empty()) std::abort();
    return 0;
  }
  const auto& parts = std::get<std::vector<anpr::http::FormPart>>(r);
  if (parts.size() > anpr::http::kMaxParts) std::abort();
  std::size_t total = 0;
  for (const auto& p : parts) {
    if (p.name.empty()) std::abort();
    if (body.find(p.content) == std::string_view::npos) std::abort();
    total += p.content.size();
  }
  if (total > body.size()) std::abort();
  return 0;
}
