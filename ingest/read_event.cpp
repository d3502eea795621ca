#include "ingest/read_event.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "ingest/read_event_detail.h"
#include "match/time.h"

namespace anpr {
namespace dom = simdjson::dom;
using namespace read_event_detail;

void ReadEvent::clear() {
  event_id.clear();
  camera_id.clear();
  ts = 0;
  plate.clear();
  plate_country = CountryCode{};
  confidence.reset();
  candidates.clear();
  lane.reset();
  direction.clear();
  lat.reset();
  lon.reset();
  plate_jpeg.clear();
  overview_jpeg.clear();
}

namespace {

// Interned reason strings (static storage, as DecodeError::reason requires).
std::string_view reason(std::string_view r) {
  for (std::string_view known : kDecodeReasons)
    if (known == r) return known;
  return "not_json";
}

std::string_view type_name(dom::element_type t) {
  switch (t) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return "an integer";
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "something else";
}

// Where the first JSON object or array of `s` ends (one past its closing bracket), by bracket
// matching outside strings; npos if it does not start with one or never closes. Only used to
// tell "trailing content" from other structural errors.
std::size_t end_of_first_container(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_json_whitespace(s[i])) ++i;
  if (i >= s.size() || (s[i] != '{' && s[i] != '[')) return std::string_view::npos;
  std::size_t depth = 0;
  bool in_string = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

struct ReadEventDecoder::Impl {
  dom::parser parser;
  std::vector<char> buf;                       // the message plus simdjson's padding
  std::vector<std::string_view> unknown;       // keys ignored in the event, for duplicates
  std::vector<std::string_view> cand_unknown;  // the same within one candidate
  std::size_t fast_decoded = 0;                // messages the scanner decoded

  bool fail(DecodeError& err, std::string_view r, std::string detail) {
    err.reason = reason(r);
    err.detail = std::move(detail);
    return false;
  }

  // A number in [lo, hi], or a failure.
  bool number(dom::element v, double lo, double hi, double& out) {
    if (v.get_double().get(out) != simdjson::SUCCESS) return false;
    return out >= lo && out <= hi;
  }

  bool decode_candidates(dom::element v, ReadEvent& out, DecodeError& err) {
    dom::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS)
      return fail(err, "bad_candidates",
                  "'candidates' must be an array of {plate, confidence} objects, got " +
                      std::string(type_name(v.type())));
    if (arr.size() > kMaxCandidates)
      return fail(err, "bad_candidates",
                  "'candidates' has " + std::to_string(arr.size()) + " entries: expected at most " +
                      std::to_string(kMaxCandidates));
    std::size_t i = 0;
    for (dom::element c : arr) {
      // The candidate's name for an error's detail, only built when there is one.
      const auto at = [&i] { return "candidates[" + std::to_string(i) + "]"; };
      dom::object obj;
      if (c.get_object().get(obj) != simdjson::SUCCESS)
        return fail(err, "bad_candidates",
                    "'" + at() + "' must be an object {plate, confidence}, got " +
                        std::string(type_name(c.type())));
      ReadCandidate& cand = out.candidates.emplace_back();
      bool have_plate = false, have_conf = false;
      cand_unknown.clear();
      for (dom::key_value_pair kv : obj) {
        if (kv.key == "plate") {
          if (have_plate) return fail(err, "duplicate_key", "'" + at() + ".plate' appears twice");
          have_plate = true;
          std::string_view s;
          if (kv.value.get_string().get(s) != simdjson::SUCCESS)
            return fail(err, "bad_candidates",
                        "'" + at() + ".plate' must be a string, got " +
                            std::string(type_name(kv.value.type())));
          if (s.empty() || s.size() > kMaxRawPlateBytes)
            return fail(err, "bad_candidates",
                        "'" + at() + ".plate' is " + std::to_string(s.size()) +
                            " bytes: expected 1.." + std::to_string(kMaxRawPlateBytes));
          set(cand.plate, s);
        } else if (kv.key == "confidence") {
          if (have_conf)
            return fail(err, "duplicate_key", "'" + at() + ".confidence' appears twice");
          have_conf = true;
          if (kv.value.is_null()) continue;
          double d = 0;
          if (!number(kv.value, 0.0, 1.0, d))
            return fail(err, "bad_candidates", "'" + at() + ".confidence' must be a number 0..1");
          cand.confidence = d;
        } else {
          cand_unknown.push_back(kv.key);  // ignored, but not twice
        }
      }
      if (cand_unknown.size() > 1 && has_duplicate(cand_unknown))
        return fail(err, "duplicate_key", "a key in '" + at() + "' appears twice");
      if (!have_plate)
        return fail(err, "bad_candidates", "'" + at() + "' has no 'plate': expected a string");
      ++i;
    }
    return true;
  }

  bool decode(std::string_view json, ReadEvent& out, DecodeError& err, const DecoderOptions& opt) {
    if (json.size() > opt.max_message_bytes)
      return fail(err, "too_large",
                  "message is " + std::to_string(json.size()) + " bytes: expected at most " +
                      std::to_string(opt.max_message_bytes));
    out.clear();

    buf.resize(json.size() + simdjson::SIMDJSON_PADDING);
    if (!json.empty()) std::memcpy(buf.data(), json.data(), json.size());
    std::memset(buf.data() + json.size(), 0, simdjson::SIMDJSON_PADDING);

    // The common shape first (read_event_fast.cpp); it needs three levels of nesting.
    if (opt.fast_path && opt.max_depth >= 4) {
      bool non_ascii = false;
      if (scan_read(buf.data(), json.size(), out, unknown, cand_unknown, non_ascii) &&
          (!non_ascii || simdjson::validate_utf8(json.data(), json.size()))) {
        ++fast_decoded;
        return true;
      }
      out.clear();
    }

    dom::element root;
    auto parse = [&](std::size_t len) { return parser.parse(buf.data(), len, false).get(root); };
    const simdjson::error_code e = parse(json.size());
    if (e != simdjson::SUCCESS) {
      switch (e) {
        case simdjson::EMPTY:
          return fail(err, "not_json", "empty message: expected a JSON object");
        case simdjson::UTF8_ERROR:
          return fail(err, "invalid_utf8", "the message is not valid UTF-8");
        case simdjson::DEPTH_ERROR:
          return fail(err, "too_deep",
                      "JSON nested deeper than " + std::to_string(opt.max_depth) + " levels");
        case simdjson::STRING_ERROR:
          return fail(err, "not_json",
                      "invalid JSON string (bad escape sequence or lone surrogate)");
        case simdjson::UNESCAPED_CHARS:
          return fail(err, "not_json", "invalid JSON: control character inside a string");
        default:
          break;
      }
      // One complete object followed by something else?
      const std::size_t end = end_of_first_container(json);
      if (end != std::string_view::npos && end < json.size()) {
        std::size_t rest = end;
        while (rest < json.size() && is_json_whitespace(json[rest])) ++rest;
        if (rest < json.size() && parse(end) == simdjson::SUCCESS)
          return fail(err, "trailing_content",
                      "content after the JSON value at byte " + std::to_string(rest) +
                          ": expected exactly one JSON object per message");
      }
      return fail(err, "not_json", std::string("invalid JSON: ") + simdjson::error_message(e));
    }

    dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS)
      return fail(
          err, "not_object",
          "the message is " + std::string(type_name(root.type())) + ": expected a JSON object");

    uint32_t seen = 0;
    unknown.clear();
    for (dom::key_value_pair kv : obj) {
      const int f = field_of(kv.key);
      if (f < 0) {
        unknown.push_back(kv.key);
        continue;
      }
      // The field's name, for an error's detail only.
      const auto name = [f] { return std::string(kFieldNames[static_cast<std::size_t>(f)]); };
      if (seen & (1u << f))
        return fail(err, "duplicate_key", "'" + name() + "' appears twice");
      seen |= 1u << f;
      const dom::element v = kv.value;
      const bool is_null = v.is_null();
      std::string_view s;
      const bool is_string = v.get_string().get(s) == simdjson::SUCCESS;

      switch (f) {
        case kEventId:
        case kCameraId:
        case kTs:
        case kPlate: {
          if (!is_string)
            return fail(err, std::string("wrong_type_") + name(),
                        "'" + name() + "' must be a string, got " +
                            std::string(type_name(v.type())));
          if (s.empty()) return fail(err, "empty_field", "'" + name() + "' is empty");
          const std::size_t limit = f == kEventId    ? kMaxEventIdBytes
                                    : f == kCameraId ? kMaxCameraIdBytes
                                    : f == kPlate    ? kMaxRawPlateBytes
                                                     : kMaxTimestampBytes;
          if (s.size() > limit)
            return fail(err, f == kTs ? "bad_timestamp" : "field_too_long",
                        "'" + name() + "' is " + std::to_string(s.size()) +
                            " bytes: expected at most " + std::to_string(limit));
          if (f == kEventId || f == kCameraId) {
            // Length and emptiness are checked above and simdjson has checked the UTF-8, so a
            // control character is all that is left for CameraId::valid to refuse: checking
            // the UTF-8 again cost every read about a hundred instructions.
            if (has_control(s))
              return fail(err, "bad_id",
                          "'" + name() + "' contains a control character");
            set(f == kEventId ? out.event_id : out.camera_id, s);
          } else if (f == kTs) {
            auto t = parse_rfc3339(s);
            if (!t)
              return fail(err, "bad_timestamp",
                          "'ts' is not an RFC 3339 timestamp: expected e.g. "
                          "2026-11-23T19:31:49.123Z");
            out.ts = *t;
          } else {
            set(out.plate, s);
          }
          break;
        }
        case kPlateCountry: {
          if (is_null) break;
          if (!is_string)
            return fail(
                err, "bad_country",
                "'plate_country' must be a string, got " + std::string(type_name(v.type())));
          auto c = CountryCode::parse_or_unknown(s);
          if (!c)
            return fail(err, "bad_country",
                        "'plate_country' is not an ISO 3166-1 alpha-2 code: expected " +
                            std::string(CountryCode::kRule) + ", or \"\" when unknown");
          out.plate_country = *c;
          break;
        }
        case kConfidence: {
          if (is_null) break;
          double d = 0;
          if (!number(v, 0.0, 1.0, d))
            return fail(err, "bad_confidence",
                        "'confidence' must be a number 0..1, got " +
                            (v.is_number() ? std::string("a number out of range")
                                           : std::string(type_name(v.type()))));
          out.confidence = d;
          break;
        }
        case kCandidates:
          if (is_null) break;
          if (!decode_candidates(v, out, err)) return false;
          break;
        case kLane: {
          if (is_null) break;
          int64_t i = 0;
          if (v.get_int64().get(i) != simdjson::SUCCESS || i < INT32_MIN || i > INT32_MAX)
            return fail(err, "bad_lane",
                        "'lane' must be an integer, got " + std::string(type_name(v.type())) +
                            (v.is_int64() ? " out of range" : ""));
          out.lane = static_cast<int32_t>(i);
          break;
        }
        case kDirection:
          if (is_null) break;
          if (!is_string)
            return fail(err, "bad_direction",
                        "'direction' must be a string, got " + std::string(type_name(v.type())));
          if (s.size() > kMaxDirectionBytes)
            return fail(err, "field_too_long",
                        "'direction' is " + std::to_string(s.size()) + " bytes: expected at most " +
                            std::to_string(kMaxDirectionBytes));
          set(out.direction, s);
          break;
        case kLat:
        case kLon: {
          if (is_null) break;
          const double lim = f == kLat ? 90.0 : 180.0;
          double d = 0;
          if (!number(v, -lim, lim, d))
            return fail(err, "bad_location",
                        "'" + name() + "' must be a number " +
                            (f == kLat ? "-90..90" : "-180..180"));
          (f == kLat ? out.lat : out.lon) = d;
          break;
        }
        case kPlateJpeg:
        case kOverviewJpeg:
          if (is_null) break;
          if (!is_string)
            return fail(err, "bad_image",
                        "'" + name() + "' must be a base64 string, got " +
                            std::string(type_name(v.type())));
          set(f == kPlateJpeg ? out.plate_jpeg : out.overview_jpeg, s);
          break;
        default:
          break;
      }
    }

    if (unknown.size() > 1 && has_duplicate(unknown))
      return fail(err, "duplicate_key", "a key appears twice in the event object");
    for (Field f : {kEventId, kCameraId, kTs, kPlate})
      if (!(seen & (1u << f)))
        return fail(err, std::string("missing_") + std::string(kFieldNames[f]),
                    "required field '" + std::string(kFieldNames[f]) + "' is missing");
    if (out.lat.has_value() != out.lon.has_value())
      return fail(err, "bad_location", "'lat' and 'lon' must be given together");
    return true;
  }
};

ReadEventDecoder::ReadEventDecoder(DecoderOptions options)
    : options_(options), impl_(std::make_unique<Impl>()) {
  impl_->parser = dom::parser(options_.max_message_bytes);
  // Start small; simdjson grows the buffers (keeping max_depth) up to max_message_bytes.
  if (impl_->parser.allocate(std::min<std::size_t>(options_.max_message_bytes, 64 * 1024),
                             options_.max_depth) != simdjson::SUCCESS)
    throw std::bad_alloc();
}

ReadEventDecoder::~ReadEventDecoder() = default;
std::size_t ReadEventDecoder::fast_decoded() const { return impl_->fast_decoded; }
ReadEventDecoder::ReadEventDecoder(ReadEventDecoder&&) noexcept = default;
ReadEventDecoder& ReadEventDecoder::operator=(ReadEventDecoder&&) noexcept = default;

bool ReadEventDecoder::decode(std::string_view json, ReadEvent& out, DecodeError& err) {
  return impl_->decode(json, out, err, options_);
}

Expected<std::size_t, NormalizeError> normalized_plates(const ReadEvent& ev,
                                                        std::vector<Plate>& plates,
                                                        std::vector<std::string_view>& raw) {
  plates.clear();
  raw.clear();
  auto p = normalize(ev.plate);
  if (!p) return p.error();
  plates.push_back(*p);
  raw.push_back(ev.plate);
  std::size_t skipped = 0;
  for (const ReadCandidate& c : ev.candidates) {
    auto cp = normalize(c.plate);
    if (!cp) {
      ++skipped;
      continue;
    }
    plates.push_back(*cp);
    raw.push_back(c.plate);
  }
  return skipped;
}

}  // namespace anpr
