// libFuzzer target: ReadEventDecoder over arbitrary bytes.
// Invariants: no crash or sanitizer report; a failure has a documented reason and a detail; a
// success has every required field within its limits (ids without control characters, checked
// here byte by byte), a timestamp that round-trips through RFC 3339, and optional fields within
// their documented ranges; decoding the same bytes twice into the same (reused) event gives the
// same answer, so nothing leaks from one message into the next; and the decoder with its fast path
// (ingest/read_event_fast.cpp) gives exactly the general parser's answer: accepted with the same
// fields (doubles bit for bit), or refused with the same reason and detail.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "ingest/read_event.h"
#include "match/time.h"

namespace {

void check(bool ok, const anpr::ReadEvent& e, const anpr::DecodeError& err) {
  if (!ok) {
    if (std::find(anpr::kDecodeReasons.begin(), anpr::kDecodeReasons.end(), err.reason) ==
            anpr::kDecodeReasons.end() ||
        err.detail.empty())
      std::abort();
    return;
  }
  if (e.event_id.empty() || e.event_id.size() > anpr::kMaxEventIdBytes) std::abort();
  if (e.camera_id.empty() || e.camera_id.size() > anpr::kMaxCameraIdBytes) std::abort();
  for (const std::string* id : {&e.event_id, &e.camera_id})  // no control character, byte by byte
    for (const char c : *id)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
  if (e.plate.empty() || e.plate.size() > anpr::kMaxRawPlateBytes) std::abort();
  if (anpr::parse_rfc3339(anpr::format_rfc3339(e.ts)) != e.ts) std::abort();
  if (e.confidence && !(*e.confidence >= 0 && *e.confidence <= 1)) std::abort();
  if (e.candidates.size() > anpr::kMaxCandidates) std::abort();
  for (const auto& c : e.candidates) {
    if (c.plate.empty() || c.plate.size() > anpr::kMaxRawPlateBytes) std::abort();
    if (c.confidence && !(*c.confidence >= 0 && *c.confidence <= 1)) std::abort();
  }
  if (e.lat.has_value() != e.lon.has_value()) std::abort();
  if (e.lat && !(*e.lat >= -90 && *e.lat <= 90 && *e.lon >= -180 && *e.lon <= 180)) std::abort();
  if (e.direction.size() > anpr::kMaxDirectionBytes) std::abort();
}

// Bit for bit: 0.0 and -0.0 differ.
bool same_bits(const std::optional<double>& a, const std::optional<double>& b) {
  return a.has_value() == b.has_value() && (!a || std::memcmp(&*a, &*b, sizeof(double)) == 0);
}

bool same(const anpr::ReadEvent& a, const anpr::ReadEvent& b) {
  if (a.candidates.size() != b.candidates.size()) return false;
  for (std::size_t i = 0; i < a.candidates.size(); ++i)
    if (a.candidates[i].plate != b.candidates[i].plate ||
        !same_bits(a.candidates[i].confidence, b.candidates[i].confidence))
      return false;
  return a.event_id == b.event_id && a.camera_id == b.camera_id && a.ts == b.ts &&
         a.plate == b.plate && a.plate_country == b.plate_country &&
         same_bits(a.confidence, b.confidence) && a.lane == b.lane &&
         a.direction == b.direction && same_bits(a.lat, b.lat) && same_bits(a.lon, b.lon) &&
         a.plate_jpeg == b.plate_jpeg && a.overview_jpeg == b.overview_jpeg;
}

anpr::DecoderOptions general_only() {
  anpr::DecoderOptions o;
  o.fast_path = false;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static anpr::ReadEventDecoder decoder;  // reused across inputs, as in the product
  static anpr::ReadEvent reused;
  const std::string_view json(reinterpret_cast<const char*>(data), size);

  anpr::DecodeError err1, err2;
  const bool ok1 = decoder.decode(json, reused, err1);
  check(ok1, reused, err1);
  anpr::ReadEvent first = reused;

  anpr::ReadEvent fresh;
  anpr::ReadEventDecoder other;
  const bool ok2 = other.decode(json, fresh, err2);
  if (ok1 != ok2) std::abort();
  if (!ok1 && (err1.reason != err2.reason || err1.detail != err2.detail)) std::abort();
  if (ok1 && !same(first, fresh)) std::abort();

  static anpr::ReadEventDecoder general(general_only());
  anpr::ReadEvent general_event;
  anpr::DecodeError err3;
  const bool ok3 = general.decode(json, general_event, err3);
  if (ok1 != ok3) std::abort();
  if (!ok1 && (err1.reason != err3.reason || err1.detail != err3.detail)) std::abort();
  if (ok1 && !same(first, general_event)) std::abort();
  return 0;
}
