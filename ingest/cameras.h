// The camera registry (docs/design.md §3): which cameras may send reads, and where they stand. A CSV
// file with the header `camera_id,country,site,lat,lon,control_room` (any column order; every
// column required in the header; lat/lon may be empty).
//
// Rules: camera_id a CameraId (match/ids.h), unique; country as CountryCode::parse (match/types.h);
// site 1..200 bytes; lat -90..90 and lon -180..180, both or neither; control_room 0..64 bytes.
// Any bad row makes the whole registry fatal: running with a half-read registry would send the
// reads of the missing cameras to the dead-letter topic, which is worse than not starting.
//
// Thread safety: immutable after load; lookups from any number of threads.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "match/types.h"

namespace anpr {

struct Camera {
  std::string id;
  CountryCode country;
  std::string site;
  std::optional<double> lat, lon;
  std::string control_room;
};

class CameraRegistry {
 public:
  // Throws std::runtime_error with "file:line: column: problem" on the first bad row, or when the
  // file cannot be read, has no header, a wrong header, or more than `max_cameras` rows.
  static CameraRegistry load(const std::filesystem::path& csv, std::size_t max_cameras = 1'000'000);
  static CameraRegistry parse(std::string_view csv_text, const std::string& name,
                              std::size_t max_cameras = 1'000'000);

  const Camera* find(std::string_view camera_id) const {
    auto it = by_id_.find(camera_id);
    return it == by_id_.end() ? nullptr : &cameras_[it->second];
  }
  const std::vector<Camera>& cameras() const { return cameras_; }
  std::size_t size() const { return cameras_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<Camera> cameras_;
  std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>> by_id_;
};

}  // namespace anpr
