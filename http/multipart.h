// A strict, bounded multipart/form-data parser (RFC 7578 over RFC 2046), for the list uploads.
//
// It takes the whole body (already limited by the route) and the Content-Type header, and either
// returns the parts or a message saying what is wrong. Refused: a missing, over-long (more than
// 70 characters, RFC 2046) or malformed boundary; a body that does not start with the first
// delimiter or has no close delimiter; a part without a `Content-Disposition: form-data` with a
// name; a header line without a colon, over kMaxPartHeaderBytes of headers in one part, more than
// kMaxPartHeaders header lines; more than kMaxParts parts. Bytes before the first delimiter
// (the preamble) and after the close delimiter (the epilogue) are ignored, as RFC 2046 says.
// Memory: the parts are copies of slices of the body, so at most twice the body.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "http/message.h"

namespace anpr::http {

inline constexpr std::size_t kMaxParts = 16;
inline constexpr std::size_t kMaxPartHeaders = 8;
inline constexpr std::size_t kMaxPartHeaderBytes = 4096;

// True when the Content-Type names multipart/form-data (whatever its parameters).
bool is_multipart_form_data(std::string_view content_type);

// The parts, or the reason the body is refused (a sentence for a 400 answer).
std::variant<std::vector<FormPart>, std::string> parse_multipart(std::string_view content_type,
                                                                std::string_view body);

}  // namespace anpr::http
