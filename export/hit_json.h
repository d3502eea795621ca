// Hit records (docs/design.md §3): the JSON a control room receives for each match, and its
// deterministic id.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "match/index.h"

namespace anpr {

// What a hit carries of the read it came from. Views into the caller's decoded event.
struct HitReadView {
  std::string_view event_id;
  std::string_view camera_id;
  std::string_view ts;             // as the camera sent it (RFC 3339)
  std::string_view plate;          // raw OCR text
  CountryCode plate_country;       // unknown when the camera did not say
  std::optional<double> confidence;
  std::optional<int32_t> lane;     // the read's optional fields, passed through
  std::string_view direction;      // "" when absent
  std::optional<double> lat, lon;  // where the read was taken, when the camera said
  std::span<const Plate> plates;   // normalised: the plate, then the candidates
  std::span<const std::string_view> raw_plates;  // raw text of the same, same order
  std::string_view site;           // camera registry fields, empty when unknown
  CountryCode camera_country;
  std::string_view control_room;
  // Images (image/image.h), each "" when absent: the plate thumbnail as base64 JPEG, or why the
  // read's plate image could not be used; the overview image where the camera country keeps it
  // (faces blurred), or why it could not be used. Written as thumbnail_jpeg, image_error,
  // overview_jpeg and overview_error.
  std::string_view thumbnail_jpeg;
  std::string_view image_error;
  std::string_view overview_jpeg;
  std::string_view overview_error;
};

// 32 hex digits, the same for the same read (camera id + event id) and the same list entry
// (list id, issuing country, plate, reference), whatever the list version.
std::string hit_id(const HitReadView& read, const Snapshot& s, uint32_t entry);

// Appends one hit as a single-line JSON object (no newline).
void append_hit_json(std::string& out, const HitReadView& read, const Snapshot& s,
                     const IndexHit& hit, std::span<const std::string_view> routes = {});

}  // namespace anpr
