// What the image code may do, as plain values: limits checked from a JPEG's header before any
// decoding, the thumbnail's size and quality, face blurring. config/ fills these from the
// [images] table; image/ and app/ read them. Which images a camera country keeps is its
// retention policy's (config::RetentionPolicy::keep_images).
//
// No OpenCV here, so that config/ need not see it. Thread safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace anpr::image {

// Checked before a byte is decoded: a decompression bomb (small file, huge declared size, or
// thousands of progressive scans) is refused from its header.
struct Limits {
  std::size_t max_bytes = std::size_t{1} << 20;  // the JPEG itself (after base64)
  uint32_t max_width = 8192;
  uint32_t max_height = 8192;
  uint64_t max_pixels = 16'000'000;  // width x height
  uint32_t max_scans = 32;           // progressive JPEGs: scans (SOS segments)
};

struct Options {
  bool enabled = true;  // false: images are ignored (never decoded, never sent)
  Limits limits;
  int thumbnail_width = 240;   // px; the height keeps the aspect ratio
  int thumbnail_quality = 80;  // JPEG quality 1..100
  int overview_quality = 80;   // JPEG quality of an overview image that leaves
  bool blur_faces = true;      // blur faces in overview images before they leave
  std::string face_cascade =
      "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
};

}  // namespace anpr::image
