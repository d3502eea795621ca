// Decoding one camera read event (docs/design.md §3) from its JSON message.
//
//   {"event_id": "...", "camera_id": "...", "ts": "2026-11-23T19:31:49.123Z", "plate": "AB-12-CD",
//    "plate_country": "NL", "confidence": 0.93, "candidates": [{"plate": "AB-12-C0",
//    "confidence": 0.4}], "lane": 2, "direction": "north", "lat": 52.1, "lon": 5.1,
//    "plate_jpeg": "<base64>", "overview_jpeg": "<base64>"}
//
// Rules (each failure has a machine-readable reason, listed in kDecodeReasons):
// - the message is at most DecoderOptions::max_message_bytes (checked before parsing), valid
//   UTF-8, exactly one JSON object with nothing after it but whitespace, nested at most
//   DecoderOptions::max_depth deep;
// - required: event_id (string, 1..128 bytes), camera_id (string, 1..64 bytes), ts (RFC 3339
//   string, see match/time.h), plate (string, 1..64 bytes; raw OCR text, NOT normalised here);
//   ids must not contain control characters;
// - optional (absent or null = not given): plate_country ("" = unknown, else two ASCII letters),
//   confidence (number 0..1), candidates (array of at most 16 objects {plate: string 1..64 bytes,
//   confidence: optional number 0..1}), lane (integer in int32 range), direction (string, at
//   most 32 bytes), lat (-90..90) and lon (-180..180) (both or neither), plate_jpeg and
//   overview_jpeg (strings, kept as received: base64 is not decoded here);
// - a key may appear once in the event object and once in each candidate (compared after JSON
//   unescaping); other keys are ignored, so cameras may add fields.
// Details name the field and what was expected; they never quote the plate.
//
// Two paths give the same answer: a strict one-pass scanner takes the common shape of a read
// (no escapes, scalar unknown fields, numbers without exponents) and gives up on anything else;
// simdjson's DOM parser then decides and gives every error its reason.
//
// Allocation: decode() reuses one simdjson parser and one padded buffer per decoder, and writes
// into a caller-owned ReadEvent whose strings keep their capacity between messages.
//
// Thread safety: a ReadEventDecoder is used by one thread at a time; use one per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "match/ids.h"
#include "match/plate.h"
#include "match/types.h"

namespace anpr {

inline constexpr std::size_t kMaxEventIdBytes = 128;
inline constexpr std::size_t kMaxCameraIdBytes = CameraId::kMaxBytes;
inline constexpr std::size_t kMaxRawPlateBytes = 64;
inline constexpr std::size_t kMaxCandidates = 16;
inline constexpr std::size_t kMaxDirectionBytes = 32;

struct ReadCandidate {
  std::string plate;  // raw OCR text
  std::optional<double> confidence;
};

struct ReadEvent {
  std::string event_id;
  std::string camera_id;
  TimestampMs ts = 0;
  std::string plate;          // raw OCR text as the camera read it
  CountryCode plate_country;  // unknown when absent or ""
  std::optional<double> confidence;
  std::vector<ReadCandidate> candidates;
  std::optional<int32_t> lane;
  std::string direction;      // "" when absent
  std::optional<double> lat;  // set together with lon
  std::optional<double> lon;
  std::string plate_jpeg;     // base64 as received; "" when absent
  std::string overview_jpeg;  // base64 as received; "" when absent

  // Back to the empty state, keeping string capacity.
  void clear();
};

// Every reason decode() can give.
inline constexpr std::array<std::string_view, 26> kDecodeReasons = {
    "too_large",
    "not_json",
    "invalid_utf8",
    "too_deep",
    "trailing_content",
    "not_object",
    "duplicate_key",
    "missing_event_id",
    "missing_camera_id",
    "missing_ts",
    "missing_plate",
    "wrong_type_event_id",
    "wrong_type_camera_id",
    "wrong_type_ts",
    "wrong_type_plate",
    "empty_field",
    "field_too_long",
    "bad_id",
    "bad_timestamp",
    "bad_country",
    "bad_confidence",
    "bad_candidates",
    "bad_lane",
    "bad_direction",
    "bad_location",
    "bad_image",
};

struct DecodeError {
  std::string_view reason;  // one of kDecodeReasons (static storage)
  std::string detail;       // human-readable: the field and what was expected
};

struct DecoderOptions {
  std::size_t max_message_bytes = 1 << 20;
  std::size_t max_depth = 64;
  // Try the strict one-pass scanner first (ingest/read_event_fast.cpp); it decodes the common
  // shape of a read in about a third of the general parser's instructions and leaves anything
  // else to it. The answer is the same either way; tests turn it off to compare.
  bool fast_path = true;
};

class ReadEventDecoder {
 public:
  explicit ReadEventDecoder(DecoderOptions options = {});
  ~ReadEventDecoder();
  ReadEventDecoder(ReadEventDecoder&&) noexcept;
  ReadEventDecoder& operator=(ReadEventDecoder&&) noexcept;

  // Decodes `json` into `out`. On failure returns false, sets `err`, and leaves `out` valid but
  // unspecified (partly filled). Never throws on bad input.
  [[nodiscard]] bool decode(std::string_view json, ReadEvent& out, DecodeError& err);

  const DecoderOptions& options() const { return options_; }
  // How many messages the fast path decoded (the rest went to the general parser).
  std::size_t fast_decoded() const;

 private:
  struct Impl;
  DecoderOptions options_;
  std::unique_ptr<Impl> impl_;
};

// The plates of a decoded read, normalised for matching: its plate, then each candidate that
// normalises (a bad candidate is skipped, it does not spoil the read). `plates` and `raw` are
// cleared first; `raw` gets the raw text of each (views into `ev`). Returns how many candidates
// were skipped, or why the read's own plate cannot be normalised.
Expected<std::size_t, NormalizeError> normalized_plates(const ReadEvent& ev,
                                                        std::vector<Plate>& plates,
                                                        std::vector<std::string_view>& raw);

}  // namespace anpr
