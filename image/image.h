// Plate and overview images (docs/design.md §3, §6): decoding under limits, thumbnails, re-encoding
// without metadata, and blurring faces before an overview image leaves the processor.
//
// Every decode goes through probe_jpeg() first (image/jpeg.h), so a file is refused from its
// header before the decoder allocates anything. Images are decoded with OpenCV (libjpeg-turbo),
// ignoring EXIF orientation, and scaled down by the decoder itself (DCT scaling by 2, 4 or 8)
// when only a thumbnail is wanted. Whatever leaves is re-encoded by OpenCV, which writes a JFIF
// header and nothing else: EXIF (camera serials, GPS), XMP, ICC profiles and comments are gone.
//
// Thread safety: the free functions are safe from any thread. A FaceBlurrer or an ImageWorker is
// used by one thread at a time (OpenCV's cascade classifier is not documented as thread-safe);
// keep one per worker thread. The first ImageWorker turns OpenCV's own thread pool off
// (cv::setNumThreads(0)): the processor's workers are the parallelism.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>

#include "image/jpeg.h"
#include "image/options.h"

namespace anpr::image {

// Probes, then decodes. Greyscale JPEGs decode to 1 channel, others to BGR. With `min_width` > 0
// the decoder may scale down by 2, 4 or 8 as long as the result stays at least that wide.
Expected<cv::Mat, ImageError> decode_jpeg(std::span<const uint8_t> bytes, const Limits& limits,
                                          int min_width = 0);

// `img` resized to `width` px wide, keeping the aspect ratio (height at least 1).
cv::Mat thumbnail(const cv::Mat& img, int width);

// A baseline JPEG of `img` with a JFIF header and no other segment (no metadata). `out` is
// replaced.
void encode_jpeg(const cv::Mat& img, int quality, std::vector<uint8_t>& out);

// Makes a region unrecognisable: pixelates it to blocks of about a sixth of its shorter side
// and smooths the blocks. Pixels outside `r` are not touched.
void blur_region(cv::Mat& img, cv::Rect r);

class FaceBlurrer {
 public:
  // Throws std::runtime_error when the cascade file cannot be loaded.
  explicit FaceBlurrer(const std::string& cascade_file);
  // Faces found (in `img`'s coordinates). Large images are searched at about 800 px wide.
  std::vector<cv::Rect> detect(const cv::Mat& img);
  // Detects faces and blurs each, enlarged by a quarter of its size on every side (hair, ears,
  // the rest of the head), in place. Returns the regions blurred.
  std::vector<cv::Rect> blur(cv::Mat& img);

 private:
  cv::CascadeClassifier cascade_;
};

// Refuses options the image code cannot work with: a face cascade that does not load while
// blurring is on and some country keeps overview images (`overviews_kept`). Throws
// std::runtime_error with a message for the operator.
void check_options(const Options& options, bool overviews_kept);

// The processor's per-thread image work; it reuses its buffers between reads.
class ImageWorker {
 public:
  explicit ImageWorker(const Options& options);  // `options` must outlive the worker
  ~ImageWorker();
  ImageWorker(ImageWorker&&) noexcept;

  // A hit's plate image (base64 JPEG, as in the read) to a thumbnail: appends the thumbnail's
  // base64 JPEG to `out_b64` and returns nothing, or returns why it could not (and appends
  // nothing).
  std::optional<ImageError> plate_thumbnail(std::string_view b64, std::string& out_b64);
  // An overview image that may leave: decoded, faces blurred (when Options::blur_faces), re-encoded
  // at overview_quality without metadata, appended to `out_b64` as base64.
  std::optional<ImageError> overview_release(std::string_view b64, std::string& out_b64);
  // A plate image that is kept whole: decoded and re-encoded at overview_quality without
  // metadata, appended to `out_b64` as base64.
  std::optional<ImageError> plate_release(std::string_view b64, std::string& out_b64);

  // How many images this worker decoded (or tried to), and how many it refused.
  uint64_t decodes() const { return decodes_; }

 private:
  std::optional<ImageError> load(std::string_view b64, int min_width, cv::Mat& img);

  const Options& opt_;
  std::vector<uint8_t> bytes_, encoded_;
  std::unique_ptr<FaceBlurrer> blurrer_;  // loaded on first use
  uint64_t decodes_ = 0;
};

}  // namespace anpr::image
