#include "export/hit_json.h"

#include "base/json_writer.h"
#include "match/formats.h"
#include "base/hash.h"
#include "match/time.h"

namespace anpr {

namespace {

// FNV-1a over a field followed by a separator byte, so ("ab","c") and ("a","bc") differ.
struct Hasher {
  uint64_t h;
  void add(std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    h ^= 0x1f;
    h *= 0x100000001b3ULL;
  }
  uint64_t finish() const { return mix64(h); }
};

void append_hex(std::string& out, uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 60; i >= 0; i -= 4) out.push_back(kHex[(v >> i) & 15]);
}

}  // namespace

std::string hit_id(const HitReadView& read, const Snapshot& s, uint32_t entry) {
  const std::string country = s.entry_country(entry).str();
  const Plate plate = s.entry_plate(entry);
  std::string out;
  out.reserve(32);
  for (uint64_t seed : {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL}) {
    Hasher h{seed};
    h.add(read.camera_id);
    h.add(read.event_id);
    h.add(s.list(s.entry_list(entry)).id);
    h.add(country);
    h.add(plate.view());
    h.add(s.entry_reference(entry));
    append_hex(out, h.finish());
  }
  return out;
}

void append_hit_json(std::string& out, const HitReadView& read, const Snapshot& s,
                     const IndexHit& hit, std::span<const std::string_view> routes) {
  const uint32_t e = hit.entry;
  const ListMeta& list = s.list(s.entry_list(e));
  const Plate matched = s.entry_plate(e);
  const CountryCode matched_country = s.entry_country(e);
  const CountryCode display_country = matched_country.known() ? matched_country : read.plate_country;

  JsonWriter w(out);
  w.begin_object();
  w.field("hit_id", hit_id(read, s, e));
  w.field("event_id", read.event_id);
  w.field("camera_id", read.camera_id);
  if (!read.site.empty()) w.field("site", read.site);
  if (read.camera_country.known()) w.field("camera_country", read.camera_country.str());
  if (!read.control_room.empty()) w.field("control_room", read.control_room);
  w.field("ts", read.ts);
  w.field("plate", read.plate);
  w.field("plate_country", read.plate_country.str());
  if (read.confidence) w.field("confidence", *read.confidence);
  if (read.lane) w.field("lane", static_cast<int64_t>(*read.lane));
  if (!read.direction.empty()) w.field("direction", read.direction);
  if (read.lat && read.lon) {
    w.field("lat", *read.lat);
    w.field("lon", *read.lon);
  }
  w.field("plate_normalized", read.plates.empty() ? std::string_view{} : read.plates[0].view());
  if (hit.plate_index < read.plates.size()) {
    w.field("read_plate", read.plates[hit.plate_index].view());
    // As a person reads it, in the same country's form as the listed plate (the terminal view's
    // and the control-room page's display form, docs/control-room.md).
    w.field("read_plate_display", formats::display(display_country, read.plates[hit.plate_index]));
    w.field("read_plate_source", hit.plate_index == 0 ? "plate" : "candidate");
  }
  w.field("matched_plate", matched.view());
  w.field("matched_plate_display", formats::display(display_country, matched));
  w.field("matched_country", matched_country.str());
  w.field("country_assumed", !read.plate_country.known() && matched_country.known());
  w.field("match_kind", to_string(hit.kind));
  w.field("differences", static_cast<unsigned>(hit.differences));
  w.field("list_id", list.id);
  w.field("list_version", list.version);
  w.field("list_owner", list.owner.str());
  w.field("category", to_string(s.entry_category(e)));
  w.field("action", to_string(s.entry_action(e)));
  w.field("priority", static_cast<unsigned>(s.entry_priority(e)));
  w.field("reference", s.entry_reference(e));
  const TimestampMs until = s.entry_valid_until(e);
  if (until != kNoExpiry) {
    w.field("valid_until", format_rfc3339(until));
  } else {
    w.key("valid_until");
    w.null();
  }
  if (!s.entry_note(e).empty()) w.field("note", s.entry_note(e));
  if (!read.thumbnail_jpeg.empty()) w.field("thumbnail_jpeg", read.thumbnail_jpeg);
  if (!read.image_error.empty()) w.field("image_error", read.image_error);
  if (!read.overview_jpeg.empty()) w.field("overview_jpeg", read.overview_jpeg);
  if (!read.overview_error.empty()) w.field("overview_error", read.overview_error);
  w.key("routes");
  w.begin_array();
  for (std::string_view r : routes) w.value(r);
  w.end_array();
  if (list.covert) {  // only the rooms the list names see it (docs/operators.md, "Covert lists")
    w.field("covert", true);
    w.key("covert_rooms");
    w.begin_array();
    for (const std::string& r : list.rooms) w.value(r);
    w.end_array();
  }
  w.end_object();
}

}  // namespace anpr
