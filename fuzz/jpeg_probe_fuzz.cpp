// libFuzzer target: the JPEG header probe, base64, and decoding under limits, over arbitrary bytes.
// Invariants: no crash or sanitizer report; an accepted file's declared size is within the
// limits; decode_jpeg() never succeeds on a file the probe refuses and refuses it with the probe's reason, and never returns an image
// larger than the declared size; base64 that decodes re-encodes to the same characters up to
// padding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "image/image.h"
#include "image/jpeg.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace anpr::image;
  Limits limits;
  limits.max_bytes = 1 << 20;
  limits.max_width = limits.max_height = 512;
  limits.max_pixels = 128 * 128;  // small: keeps the decoder's work per input bounded
  limits.max_scans = 8;
  const std::span<const uint8_t> bytes(data, size);
  const auto info = probe_jpeg(bytes, limits);
  if (info) {
    if (info->width == 0 || info->height == 0 || info->width > limits.max_width ||
        info->height > limits.max_height ||
        uint64_t{info->width} * info->height > limits.max_pixels || info->scans == 0 ||
        info->scans > limits.max_scans)
      std::abort();
  }
  const auto img = decode_jpeg(bytes, limits);
  if (img && !info) std::abort();
  if (img && (img->cols > static_cast<int>(info->width) || img->rows > static_cast<int>(info->height)))
    std::abort();
  // A refusal is the probe's reason, or the decoder's after the probe accepted the file.
  if (!img && info && img.error() != ImageError::decode_failed) std::abort();
  if (!img && !info && img.error() != info.error()) std::abort();

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<uint8_t> out;
  if (auto n = base64_decode(text, out, 1 << 20)) {
    if (*n != out.size()) std::abort();
    std::string again;
    base64_append(out, again);
    std::string_view a = again, t = text;
    while (!a.empty() && a.back() == '=') a.remove_suffix(1);
    while (!t.empty() && t.back() == '=') t.remove_suffix(1);
    // The last character may carry unused low bits: compare all but it.
    if (a.size() != t.size() || a.substr(0, a.empty() ? 0 : a.size() - 1) !=
                                    t.substr(0, t.empty() ? 0 : t.size() - 1))
      std::abort();
  }
  return 0;
}
