// Test images made with OpenCV: a plate patch, a scene with a face the frontal-face cascade of
// opencv-data finds (a drawn face: skin-coloured oval, brows, eyes, nose, mouth), JPEG surgery
// (metadata segments, patched headers) and a marker lister.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace anpr::testing {

inline std::vector<uint8_t> encode(const cv::Mat& img, const std::string& ext = ".jpg",
                                   std::vector<int> params = {}) {
  std::vector<uchar> buf;
  cv::imencode(ext, img, buf, params);
  return {buf.begin(), buf.end()};
}

// A yellow Dutch-style plate with black characters, with some noise.
inline cv::Mat plate_image(int width = 320, int height = 72, const std::string& text = "AB-123-C") {
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(20, 200, 240));
  cv::rectangle(img, cv::Rect(2, 2, width - 4, height - 4), cv::Scalar(0, 0, 0), 3);
  cv::rectangle(img, cv::Rect(4, 4, width / 12, height - 8), cv::Scalar(160, 60, 20), -1);
  cv::putText(img, text, cv::Point(width / 8, height * 3 / 4), cv::FONT_HERSHEY_SIMPLEX,
              height / 32.0, cv::Scalar(0, 0, 0), std::max(2, height / 16));
  cv::Mat noise(img.size(), img.type());
  cv::randn(noise, cv::Scalar::all(0), cv::Scalar::all(6));
  img += noise;
  return img;
}

// Draws a face the Haar frontal-face cascade detects, in the square of side `size` at `at`.
inline void draw_face(cv::Mat& img, cv::Point at, int size) {
  const double k = size / 240.0;
  auto P = [&](double x, double y) {
    return cv::Point(at.x + static_cast<int>(x * k), at.y + static_cast<int>(y * k));
  };
  auto S = [&](double w, double h) { return cv::Size(static_cast<int>(w * k), static_cast<int>(h * k)); };
  cv::rectangle(img, cv::Rect(at, cv::Size(size, size)), cv::Scalar(90, 110, 90), -1);
  cv::ellipse(img, P(120, 125), S(70, 92), 0, 0, 360, cv::Scalar(150, 175, 215), -1);
  cv::rectangle(img, cv::Rect(P(70, 78), S(36, 7)), cv::Scalar(40, 40, 60), -1);
  cv::rectangle(img, cv::Rect(P(134, 78), S(36, 7)), cv::Scalar(40, 40, 60), -1);
  cv::ellipse(img, P(88, 100), S(15, 7), 0, 0, 360, cv::Scalar(60, 50, 50), -1);
  cv::ellipse(img, P(152, 100), S(15, 7), 0, 0, 360, cv::Scalar(60, 50, 50), -1);
  cv::line(img, P(120, 110), P(120, 145), cv::Scalar(110, 130, 170), std::max(1, static_cast<int>(6 * k)));
  cv::ellipse(img, P(120, 148), S(14, 6), 0, 0, 360, cv::Scalar(100, 120, 160), -1);
  cv::ellipse(img, P(120, 175), S(28, 8), 0, 0, 360, cv::Scalar(70, 70, 140), -1);
}

// An overview: a textured scene (so that "unchanged" means something) with one face.
inline cv::Mat face_scene(int width = 960, int height = 540, cv::Point face = {380, 120},
                          int face_size = 240) {
  cv::Mat img(height, width, CV_8UC3);
  cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::GaussianBlur(img, img, cv::Size(5, 5), 0);
  draw_face(img, face, face_size);
  return img;
}

// `jpeg` with segments inserted right after SOI: an EXIF APP1 (with a GPS-looking payload) and
// then APP1 segments of up to 64 KiB until about `extra_bytes` of metadata, an XMP packet and a
// comment.
inline std::vector<uint8_t> with_metadata(const std::vector<uint8_t>& jpeg, std::size_t extra_bytes) {
  std::vector<uint8_t> segs;
  auto add = [&](uint8_t marker, const std::string& payload) {
    const std::size_t len = payload.size() + 2;
    segs.insert(segs.end(), {0xFF, marker, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)});
    segs.insert(segs.end(), payload.begin(), payload.end());
  };
  add(0xE1, std::string("Exif\0\0II*\0\x08\0\0\0", 14) + "GPS 52.0907N 5.1214E serial CAM-0042");
  std::size_t n = 0;
  int i = 0;
  while (n < extra_bytes) {
    std::string payload = std::string("Exif\0\0", 6) + std::string(65000, static_cast<char>('a' + i++ % 26));
    n += payload.size() + 4;
    add(0xE1, payload);
  }
  add(0xE1, "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>owner: J. Jansen</x:xmpmeta>");
  add(0xFE, "camera operator comment");
  std::vector<uint8_t> out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), segs.begin(), segs.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

// The markers of the segments before the first SOS (0xE1 = APP1, 0xFE = COM, ...).
inline std::vector<uint8_t> header_markers(const std::vector<uint8_t>& jpeg) {
  std::vector<uint8_t> out;
  std::size_t p = 2;
  while (p + 4 <= jpeg.size() && jpeg[p] == 0xFF) {
    const uint8_t m = jpeg[p + 1];
    out.push_back(m);
    if (m == 0xDA) break;
    p += 2 + (static_cast<std::size_t>(jpeg[p + 2]) << 8 | jpeg[p + 3]);
  }
  return out;
}

// Offset of the SOF0/1/2 segment's marker, or npos.
inline std::size_t sof_offset(const std::vector<uint8_t>& jpeg) {
  std::size_t p = 2;
  while (p + 4 <= jpeg.size() && jpeg[p] == 0xFF) {
    const uint8_t m = jpeg[p + 1];
    if (m == 0xC0 || m == 0xC1 || m == 0xC2) return p;
    if (m == 0xDA) break;
    p += 2 + (static_cast<std::size_t>(jpeg[p + 2]) << 8 | jpeg[p + 3]);
  }
  return std::string::npos;
}

}  // namespace anpr::testing
