#include "ingest/cameras.h"

#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "ingest/csv.h"
#include "match/ids.h"
#include <simdjson.h>

namespace anpr {

namespace {

constexpr std::array<std::string_view, 6> kColumns = {"camera_id", "country", "site",
                                                      "lat",       "lon",     "control_room"};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

std::optional<double> parse_coord(std::string_view s, double limit, bool& bad) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v < -limit ||
      v > limit) {
    bad = true;
    return std::nullopt;
  }
  return v;
}

[[noreturn]] void fail(const std::string& name, std::size_t line, std::string_view column,
                       const std::string& what) {
  std::string m = name + ":" + std::to_string(line) + ": ";
  if (!column.empty()) m += std::string(column) + ": ";
  throw std::runtime_error(m + what);
}

}  // namespace

CameraRegistry CameraRegistry::parse(std::string_view text, const std::string& name,
                                     std::size_t max_cameras) {
  CameraRegistry reg;
  CsvReader reader(text);
  std::vector<std::string_view> f;
  CsvError err;
  std::array<int, kColumns.size()> col{};
  col.fill(-1);
  CsvStatus st = reader.next(f, err);
  if (st == CsvStatus::end) fail(name, 1, "", "empty file: expected the header " "camera_id,country,site,lat,lon,control_room");
  if (st == CsvStatus::error) fail(name, err.line, "", err.message());
  for (std::size_t i = 0; i < f.size(); ++i) {
    const std::string_view h = trim(f[i]);
    std::size_t k = 0;
    while (k < kColumns.size() && kColumns[k] != h) ++k;
    if (k == kColumns.size())
      fail(name, reader.line(), "", "unknown column in the header (expected camera_id, country, "
                                    "site, lat, lon, control_room)");
    if (col[k] != -1) fail(name, reader.line(), kColumns[k], "column appears twice in the header");
    col[k] = static_cast<int>(i);
  }
  for (std::size_t k = 0; k < kColumns.size(); ++k)
    if (col[k] == -1) fail(name, reader.line(), kColumns[k], "column missing from the header");

  while ((st = reader.next(f, err)) != CsvStatus::end) {
    if (st == CsvStatus::error) fail(name, err.line, "", err.message());
    const std::size_t line = reader.line();
    if (f.size() != kColumns.size())
      fail(name, line, "", "expected 6 fields, found " + std::to_string(f.size()));
    if (reg.cameras_.size() >= max_cameras)
      fail(name, line, "", "more than " + std::to_string(max_cameras) + " cameras");
    auto get = [&](std::size_t k) { return trim(f[static_cast<std::size_t>(col[k])]); };
    Camera c;
    const std::string_view id = get(0);
    if (!CameraId::valid(id)) fail(name, line, "camera_id", "expected " + std::string(CameraId::kRule));
    c.id = id;
    auto cc = CountryCode::parse(get(1));
    if (!cc)
      fail(name, line, "country",
           "expected " + std::string(CountryCode::kRule) + ", got " + CountryCode::why_not(get(1)));
    c.country = *cc;
    const std::string_view site = get(2);
    if (site.empty() || site.size() > 200 || has_control(site) || !simdjson::validate_utf8(site.data(), site.size()))
      fail(name, line, "site", "expected 1..200 bytes of UTF-8 text without control characters");
    c.site = site;
    bool bad_lat = false, bad_lon = false;
    c.lat = parse_coord(get(3), 90, bad_lat);
    c.lon = parse_coord(get(4), 180, bad_lon);
    if (bad_lat) fail(name, line, "lat", "expected a number -90..90 or nothing");
    if (bad_lon) fail(name, line, "lon", "expected a number -180..180 or nothing");
    if (c.lat.has_value() != c.lon.has_value())
      fail(name, line, c.lat ? "lon" : "lat", "lat and lon are given together or not at all");
    const std::string_view room = get(5);
    if (room.size() > 64 || has_control(room) || !simdjson::validate_utf8(room.data(), room.size()))
      fail(name, line, "control_room", "expected 0..64 bytes of UTF-8 text without control characters");
    c.control_room = room;
    if (!reg.by_id_.try_emplace(c.id, reg.cameras_.size()).second)
      fail(name, line, "camera_id", "camera registered twice");
    reg.cameras_.push_back(std::move(c));
  }
  return reg;
}

CameraRegistry CameraRegistry::load(const std::filesystem::path& csv, std::size_t max_cameras) {
  std::ifstream in(csv, std::ios::binary);
  if (!in) throw std::runtime_error(csv.string() + ": cannot open the camera registry");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), csv.string(), max_cameras);
}

}  // namespace anpr
