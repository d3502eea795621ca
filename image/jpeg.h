// Reading a JPEG's structure without decoding it, and base64 (the form images have in camera
// read events, docs/design.md §3).
//
// probe_jpeg() walks the marker segments and the entropy-coded data between them (a memchr for
// 0xFF per scan) and returns the declared size, the number of scans and how many bytes are
// metadata (APPn and COM segments). It refuses, before a pixel is decoded: anything that does
// not start with a JPEG SOI marker (PNG, GIF, random bytes, nothing), segments that run past the
// end, a missing SOF or SOS or EOI (truncated), a declared size over the limits, too many
// progressive scans, and JPEG kinds the decoder cannot read (lossless, hierarchical, 12-bit).
// Cost: one pass over the bytes, no allocation.
//
// base64_decode() refuses input whose decoded size would exceed a bound before decoding it.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "image/options.h"
#include "match/types.h"

namespace anpr::image {

// Why an image was not used. Every value has a name (to_string) used in hits and metrics.
enum class ImageError : uint8_t {
  bad_base64,       // not standard base64
  empty,            // zero bytes
  not_jpeg,         // no JPEG SOI marker (PNG, GIF, text, random bytes)
  truncated,        // a segment runs past the end, or no EOI
  corrupt,          // bad marker structure or segment contents
  unsupported,      // lossless, hierarchical, 12-bit or arithmetic-coded JPEG
  too_large,        // more bytes than Limits::max_bytes
  too_many_pixels,  // declared width/height/pixels over the limits, or zero
  too_many_scans,   // more progressive scans than Limits::max_scans
  decode_failed,    // the decoder gave up on the entropy-coded data
  blur_failed,      // faces could not be searched for (cascade missing): the image stays in
};
inline constexpr std::array<std::string_view, 11> kImageErrorReasons = {
    "bad_base64",     "empty",          "not_jpeg",      "truncated",
    "corrupt",        "unsupported",    "too_large",     "too_many_pixels",
    "too_many_scans", "decode_failed",  "blur_failed"};
inline std::string_view to_string(ImageError e) {
  return kImageErrorReasons[static_cast<std::size_t>(e)];
}

struct JpegInfo {
  uint32_t width = 0;
  uint32_t height = 0;
  uint8_t components = 0;       // 1 grey, 3 colour, 4 CMYK
  bool progressive = false;
  uint32_t scans = 0;           // SOS segments
  std::size_t metadata_bytes = 0;  // APP1..APP15 and COM segments (EXIF, XMP, ICC, comments)
  bool has_exif = false;        // an APP1 segment starting "Exif\0"
};

Expected<JpegInfo, ImageError> probe_jpeg(std::span<const uint8_t> bytes, const Limits& limits);

// Upper bound of the decoded size of `n` base64 characters.
inline std::size_t base64_decoded_max(std::size_t n) { return n / 4 * 3 + 3; }
// Standard alphabet (RFC 4648 §4), padding optional, no whitespace. `out` is replaced. Refuses
// (too_large) input that would decode to more than `max_bytes` before decoding any of it.
Expected<std::size_t, ImageError> base64_decode(std::string_view in, std::vector<uint8_t>& out,
                                                std::size_t max_bytes);
// Appends the standard base64 (with padding) of `bytes` to `out`.
void base64_append(std::span<const uint8_t> bytes, std::string& out);

}  // namespace anpr::image
