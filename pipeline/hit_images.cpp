#include "pipeline/hit_images.h"

namespace anpr::app {

uint64_t ImageCounters::error_total() const {
  uint64_t n = 0;
  for (const auto& e : errors) n += e.load(std::memory_order_relaxed);
  return n;
}

std::map<std::string, uint64_t> ImageCounters::error_reasons() const {
  std::map<std::string, uint64_t> out;
  for (std::size_t i = 0; i < errors.size(); ++i)
    if (const uint64_t n = errors[i].load(std::memory_order_relaxed))
      out[std::string(image::kImageErrorReasons[i])] = n;
  return out;
}

HitImages::HitImages(const image::Options& options, ImageCounters& counters)
    : opt_(options), counters_(counters), worker_(options) {}

void HitImages::count(std::optional<image::ImageError> e) {
  // Relaxed: plain event counts, read for reporting only.
  counters_.decodes.fetch_add(1, std::memory_order_relaxed);
  if (e) counters_.errors[static_cast<std::size_t>(*e)].fetch_add(1, std::memory_order_relaxed);
}

void HitImages::attach(const ReadEvent& ev, bool keep_images, HitReadView& view) {
  view.thumbnail_jpeg = view.image_error = view.overview_jpeg = view.overview_error = {};
  if (!opt_.enabled) return;
  if (!ev.plate_jpeg.empty()) {
    thumbnail_.clear();
    const auto e = worker_.plate_thumbnail(ev.plate_jpeg, thumbnail_);
    count(e);
    if (e)
      view.image_error = image::to_string(*e);
    else
      view.thumbnail_jpeg = thumbnail_;
  }
  if (!ev.overview_jpeg.empty() && keep_images) {
    overview_.clear();
    const auto e = worker_.overview_release(ev.overview_jpeg, overview_);
    count(e);
    if (e)
      view.overview_error = image::to_string(*e);
    else
      view.overview_jpeg = overview_;
  }
}

void HitImages::sanitize(ReadEvent& ev) {
  if (!opt_.enabled) {
    ev.plate_jpeg.clear();
    ev.overview_jpeg.clear();
    return;
  }
  if (!ev.plate_jpeg.empty()) {
    thumbnail_.clear();
    const auto e = worker_.plate_release(ev.plate_jpeg, thumbnail_);
    count(e);
    ev.plate_jpeg.swap(thumbnail_);
    if (e) ev.plate_jpeg.clear();
  }
  if (!ev.overview_jpeg.empty()) {
    overview_.clear();
    const auto e = worker_.overview_release(ev.overview_jpeg, overview_);
    count(e);
    ev.overview_jpeg.swap(overview_);
    if (e) ev.overview_jpeg.clear();
  }
}

}  // namespace anpr::app
