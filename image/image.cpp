#include "image/image.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace anpr::image {

Expected<cv::Mat, ImageError> decode_jpeg(std::span<const uint8_t> bytes, const Limits& limits,
                                          int min_width) {
  auto info = probe_jpeg(bytes, limits);
  if (!info) return info.error();
  const bool grey = info->components == 1;
  int scale = 1;
  if (min_width > 0)
    for (int s : {8, 4, 2})
      if ((info->width + static_cast<uint32_t>(s) - 1) / static_cast<uint32_t>(s) >=
          static_cast<uint32_t>(min_width)) {
        scale = s;
        break;
      }
  int flags = 0;
  switch (scale) {
    case 8: flags = grey ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8; break;
    case 4: flags = grey ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4; break;
    case 2: flags = grey ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2; break;
    default: flags = grey ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR; break;
  }
  flags |= cv::IMREAD_IGNORE_ORIENTATION;
  cv::Mat img;
  try {
    // A header over the bytes, no copy.
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8U,
                      const_cast<uint8_t*>(bytes.data()));
    img = cv::imdecode(buf, flags);
  } catch (const cv::Exception&) {
    return ImageError::decode_failed;
  }
  if (img.empty() || img.cols > static_cast<int>(info->width) ||
      img.rows > static_cast<int>(info->height))
    return ImageError::decode_failed;
  return img;
}

cv::Mat thumbnail(const cv::Mat& img, int width) {
  width = std::max(1, width);
  const int height = std::max(
      1, static_cast<int>(std::lround(static_cast<double>(img.rows) * width / img.cols)));
  cv::Mat out;
  cv::resize(img, out, cv::Size(width, height), 0, 0,
             width < img.cols ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

void encode_jpeg(const cv::Mat& img, int quality, std::vector<uint8_t>& out) {
  out.clear();
  const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, std::clamp(quality, 1, 100),
                                   cv::IMWRITE_JPEG_OPTIMIZE, 0, cv::IMWRITE_JPEG_PROGRESSIVE, 0};
  std::vector<uchar> buf;
  cv::imencode(".jpg", img, buf, params);
  out.assign(buf.begin(), buf.end());
}

void blur_region(cv::Mat& img, cv::Rect r) {
  r &= cv::Rect(0, 0, img.cols, img.rows);
  if (r.width < 2 || r.height < 2) return;
  cv::Mat roi = img(r);
  // About 6 blocks across the shorter side: a face (about 2/3 of the region) keeps 4 or so,
  // too few for the eyes, nose and mouth to stay apart.
  const int cell = std::max(1, std::min(r.width, r.height) / 6);
  cv::Mat small;
  cv::resize(roi, small, cv::Size(std::max(1, r.width / cell), std::max(1, r.height / cell)), 0, 0,
             cv::INTER_AREA);
  cv::Mat blocks;
  cv::resize(small, blocks, roi.size(), 0, 0, cv::INTER_NEAREST);
  const int k = std::max(3, cell | 1);
  cv::GaussianBlur(blocks, roi, cv::Size(k, k), 0, 0, cv::BORDER_REPLICATE);
}

FaceBlurrer::FaceBlurrer(const std::string& cascade_file) {
  bool ok = false;
  try {
    ok = cascade_.load(cascade_file);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok || cascade_.empty())
    throw std::runtime_error("cannot load the face cascade " + cascade_file +
                             " (Debian package opencv-data)");
}

std::vector<cv::Rect> FaceBlurrer::detect(const cv::Mat& img) {
  cv::Mat grey;
  if (img.channels() == 1)
    grey = img;
  else
    cv::cvtColor(img, grey, img.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
  double f = 1.0;
  constexpr int kSearchWidth = 800;
  if (grey.cols > kSearchWidth) {
    f = static_cast<double>(grey.cols) / kSearchWidth;
    cv::Mat small;
    cv::resize(grey, small, cv::Size(kSearchWidth, std::max(1, static_cast<int>(grey.rows / f))), 0,
               0, cv::INTER_AREA);
    grey = small;
  }
  cv::Mat eq;
  cv::equalizeHist(grey, eq);
  std::vector<cv::Rect> found;
  cascade_.detectMultiScale(eq, found, 1.1, 3, 0, cv::Size(20, 20));
  for (cv::Rect& r : found)
    r = cv::Rect(static_cast<int>(r.x * f), static_cast<int>(r.y * f),
                 static_cast<int>(std::ceil(r.width * f)), static_cast<int>(std::ceil(r.height * f)));
  return found;
}

std::vector<cv::Rect> FaceBlurrer::blur(cv::Mat& img) {
  std::vector<cv::Rect> faces = detect(img);
  for (cv::Rect& r : faces) {
    const int mx = r.width / 4, my = r.height / 4;
    r = cv::Rect(r.x - mx, r.y - my, r.width + 2 * mx, r.height + 2 * my) &
        cv::Rect(0, 0, img.cols, img.rows);
    blur_region(img, r);
  }
  return faces;
}

void check_options(const Options& options, bool overviews_kept) {
  if (options.enabled && options.blur_faces && overviews_kept) FaceBlurrer probe(options.face_cascade);
}

ImageWorker::ImageWorker(const Options& options) : opt_(options) {
  static std::once_flag once;
  std::call_once(once, [] { cv::setNumThreads(0); });
}
ImageWorker::~ImageWorker() = default;
ImageWorker::ImageWorker(ImageWorker&&) noexcept = default;

std::optional<ImageError> ImageWorker::load(std::string_view b64, int min_width, cv::Mat& img) {
  ++decodes_;
  if (b64.empty()) return ImageError::empty;
  if (auto n = base64_decode(b64, bytes_, opt_.limits.max_bytes); !n) return n.error();
  auto m = decode_jpeg(bytes_, opt_.limits, min_width);
  if (!m) return m.error();
  img = std::move(m).value();
  return std::nullopt;
}

std::optional<ImageError> ImageWorker::plate_thumbnail(std::string_view b64,
                                                       std::string& out_b64) {
  cv::Mat img;
  if (auto e = load(b64, opt_.thumbnail_width, img)) return e;
  encode_jpeg(thumbnail(img, opt_.thumbnail_width), opt_.thumbnail_quality, encoded_);
  base64_append(encoded_, out_b64);
  return std::nullopt;
}

std::optional<ImageError> ImageWorker::plate_release(std::string_view b64, std::string& out_b64) {
  cv::Mat img;
  if (auto e = load(b64, 0, img)) return e;
  encode_jpeg(img, opt_.overview_quality, encoded_);
  base64_append(encoded_, out_b64);
  return std::nullopt;
}

std::optional<ImageError> ImageWorker::overview_release(std::string_view b64,
                                                        std::string& out_b64) {
  cv::Mat img;
  if (auto e = load(b64, 0, img)) return e;
  if (opt_.blur_faces) {
    try {
      if (!blurrer_) blurrer_ = std::make_unique<FaceBlurrer>(opt_.face_cascade);
      blurrer_->blur(img);
    } catch (const std::exception&) {
      return ImageError::blur_failed;  // an unblurred image never leaves
    }
  }
  encode_jpeg(img, opt_.overview_quality, encoded_);
  base64_append(encoded_, out_b64);
  return std::nullopt;
}

}  // namespace anpr::image
