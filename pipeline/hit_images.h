// The images of a read, for what leaves the processor (docs/design.md §2, §3): a hit's plate thumbnail
// and, where the camera country's retention policy keeps images (keep_images), its overview image
// with faces blurred; and the images of a kept passage, made safe to store. Called by the
// processor's parallel stage: attach() once per read that has a hit to publish, sanitize() only
// for a passage that is kept with its images. Other reads' images are never decoded.
//
// A bad image never blocks the hit or the passage: the hit then carries `image_error` (or
// `overview_error`) with the reason (image::kImageErrorReasons) instead of the image; a passage
// is kept without it.
//
// Thread safety: a HitImages is used by one thread at a time (one per worker); ImageCounters
// may be updated from any number of threads and read from any.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "export/hit_json.h"
#include "image/image.h"
#include "ingest/read_event.h"

namespace anpr::app {

struct ImageCounters {
  std::atomic<uint64_t> decodes{0};  // images decoded (or refused while trying)
  std::array<std::atomic<uint64_t>, image::kImageErrorReasons.size()> errors{};

  uint64_t error_total() const;
  std::map<std::string, uint64_t> error_reasons() const;  // reasons with a count > 0
};

class HitImages {
 public:
  // `options` and `counters` must outlive this.
  HitImages(const image::Options& options, ImageCounters& counters);

  // Fills view.thumbnail_jpeg / image_error and, when `keep_images`, view.overview_jpeg /
  // overview_error. The views point into this object and stay valid until the next call.
  void attach(const ReadEvent& ev, bool keep_images, HitReadView& view);

  // Replaces the read's plate_jpeg by the same image re-encoded without metadata and its
  // overview_jpeg by the blurred one (see image::ImageWorker), or by "" when an image cannot be
  // used.
  void sanitize(ReadEvent& ev);

 private:
  void count(std::optional<image::ImageError> e);

  const image::Options& opt_;
  ImageCounters& counters_;
  image::ImageWorker worker_;
  std::string thumbnail_, overview_;
};

}  // namespace anpr::app
