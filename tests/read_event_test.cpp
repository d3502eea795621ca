#include "ingest/read_event.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ingest/cameras.h"
#include "match/live_index.h"
#include "match/time.h"
#include "synth/feed.h"

namespace anpr {
namespace {

// The required fields, valid; cases add to or replace them.
const std::string kReq =
    R"("event_id":"e-1","camera_id":"cam-nl-0042","ts":"2026-11-23T19:31:49.123Z","plate":"AB-12-CD")";
const std::string kTs = R"("ts":"2026-11-23T19:31:49.123Z")";
std::string obj(const std::string& fields) { return "{" + fields + "}"; }
std::string with(const std::string& extra) { return obj(kReq + "," + extra); }

struct Bad {
  std::string name;
  std::string json;
  std::string_view reason;
};

// Messages every decoder must refuse, each with the reason it must give.
std::vector<Bad> hostile_cases() {
  const std::string nested = std::string(200, '[') + std::string(200, ']');
  std::string seventeen = "[";
  for (int i = 0; i < 17; ++i) seventeen += std::string(i ? "," : "") + R"({"plate":"X"})";
  seventeen += "]";

  return {
      {"empty", "", "not_json"},
      {"whitespace", " \n\t ", "not_json"},
      {"truncated", R"({"event_id":"e-1")", "not_json"},
      {"open brace", "{", "not_json"},
      {"bad atom", "nul", "not_json"},
      {"byte order mark", "\xEF\xBB\xBF" + obj(kReq), "not_json"},
      {"single quotes", "{'event_id':'e'}", "not_json"},
      {"trailing comma", with(R"("lane":1,)"), "not_json"},
      {"bad escape", with(R"("direction":"\x")"), "not_json"},
      {"lone surrogate", with(R"("direction":"\ud800")"), "not_json"},
      {"raw control char in string", with("\"direction\":\"a\x01\""), "not_json"},
      {"huge number", with(R"("lat":1e400)"), "not_json"},
      {"array", "[1,2]", "not_object"},
      {"string", R"("hello")", "not_object"},
      {"number", "42", "not_object"},
      {"null", "null", "not_object"},
      {"two objects", "{} {}", "trailing_content"},
      {"garbage after", with("\"lane\":1") + " x", "trailing_content"},
      {"nul after", with("\"lane\":1") + std::string(1, '\0'), "trailing_content"},
      {"second event", with("\"lane\":1") + "\n" + with("\"lane\":2"), "trailing_content"},
      {"invalid utf8 value", with("\"direction\":\"\xff\""), "invalid_utf8"},
      {"invalid utf8 key", obj(kReq + ",\"\xc3\x28\":1"), "invalid_utf8"},
      {"overlong utf8", with("\"direction\":\"\xc0\xaf\""), "invalid_utf8"},
      {"invalid utf8 outside strings", "{\xff}", "invalid_utf8"},
      {"deep nesting", with("\"x\":" + nested), "too_deep"},
      {"missing event_id", obj(R"("camera_id":"c",)" + kTs + R"(,"plate":"AB")"),
       "missing_event_id"},
      {"missing camera_id", obj(R"("event_id":"e",)" + kTs + R"(,"plate":"AB")"),
       "missing_camera_id"},
      {"missing ts", obj(R"("event_id":"e","camera_id":"c","plate":"AB")"), "missing_ts"},
      {"missing plate", obj(R"("event_id":"e","camera_id":"c",)" + kTs), "missing_plate"},
      {"empty object", "{}", "missing_event_id"},
      {"event_id number", obj(R"("event_id":5,"camera_id":"c",)" + kTs + R"(,"plate":"AB")"),
       "wrong_type_event_id"},
      {"camera_id null", obj(R"("event_id":"e","camera_id":null,)" + kTs + R"(,"plate":"AB")"),
       "wrong_type_camera_id"},
      {"ts number", obj(R"("event_id":"e","camera_id":"c","ts":1795462309123,"plate":"AB")"),
       "wrong_type_ts"},
      {"plate array", obj(R"("event_id":"e","camera_id":"c",)" + kTs + R"(,"plate":["AB"])"),
       "wrong_type_plate"},
      {"plate object", obj(R"("event_id":"e","camera_id":"c",)" + kTs + R"(,"plate":{})"),
       "wrong_type_plate"},
      {"ts with space",
       obj(R"("event_id":"e","camera_id":"c","ts":"2026-11-23 19:31:49Z","plate":"AB")"),
       "bad_timestamp"},
      {"ts no zone",
       obj(R"("event_id":"e","camera_id":"c","ts":"2026-11-23T19:31:49.123","plate":"AB")"),
       "bad_timestamp"},
      {"ts impossible day",
       obj(R"("event_id":"e","camera_id":"c","ts":"2026-02-30T00:00:00Z","plate":"AB")"),
       "bad_timestamp"},
      {"ts very long",
       obj(R"("event_id":"e","camera_id":"c","ts":")" + std::string(100, '1') +
           R"(","plate":"AB")"),
       "bad_timestamp"},
      {"empty event_id", obj(R"("event_id":"","camera_id":"c",)" + kTs + R"(,"plate":"AB")"),
       "empty_field"},
      {"empty plate", obj(R"("event_id":"e","camera_id":"c",)" + kTs + R"(,"plate":"")"),
       "empty_field"},
      {"event_id too long",
       obj(R"("event_id":")" + std::string(129, 'e') + R"(","camera_id":"c",)" + kTs +
           R"(,"plate":"AB")"),
       "field_too_long"},
      {"camera_id too long",
       obj(R"("event_id":"e","camera_id":")" + std::string(65, 'c') + "\"," + kTs +
           R"(,"plate":"AB")"),
       "field_too_long"},
      {"plate too long",
       obj(R"("event_id":"e","camera_id":"c",)" + kTs + R"(,"plate":")" + std::string(65, 'A') +
           "\""),
       "field_too_long"},
      {"direction too long", with("\"direction\":\"" + std::string(33, 'n') + "\""),
       "field_too_long"},
      {"control char in camera_id",
       obj(R"("event_id":"e","camera_id":"cam\u0001",)" + kTs + R"(,"plate":"AB")"), "bad_id"},
      {"newline in event_id",
       obj(R"("event_id":"e\n1","camera_id":"c",)" + kTs + R"(,"plate":"AB")"), "bad_id"},
      {"country alpha-3", with(R"("plate_country":"NLD")"), "bad_country"},
      {"country digits", with(R"("plate_country":"12")"), "bad_country"},
      {"country padded", with(R"("plate_country":" NL")"), "bad_country"},
      {"country number", with(R"("plate_country":31)"), "bad_country"},
      {"confidence above 1", with(R"("confidence":1.5)"), "bad_confidence"},
      {"confidence negative", with(R"("confidence":-0.1)"), "bad_confidence"},
      {"confidence string", with(R"("confidence":"0.9")"), "bad_confidence"},
      {"confidence bool", with(R"("confidence":true)"), "bad_confidence"},
      {"candidates object", with(R"("candidates":{"plate":"AB"})"), "bad_candidates"},
      {"candidates string", with(R"("candidates":"AB")"), "bad_candidates"},
      {"candidates of strings", with(R"("candidates":["AB"])"), "bad_candidates"},
      {"seventeen candidates", with("\"candidates\":" + seventeen), "bad_candidates"},
      {"candidate without plate", with(R"("candidates":[{"confidence":0.5}])"), "bad_candidates"},
      {"candidate plate number", with(R"("candidates":[{"plate":1}])"), "bad_candidates"},
      {"candidate plate empty", with(R"("candidates":[{"plate":""}])"), "bad_candidates"},
      {"candidate confidence 2", with(R"("candidates":[{"plate":"AB","confidence":2}])"),
       "bad_candidates"},
      {"lane float", with(R"("lane":1.5)"), "bad_lane"},
      {"lane string", with(R"("lane":"2")"), "bad_lane"},
      {"lane huge", with(R"("lane":1099511627776)"), "bad_lane"},
      {"lane uint64", with(R"("lane":18446744073709551615)"), "bad_lane"},
      {"direction number", with(R"("direction":5)"), "bad_direction"},
      {"lat out of range", with(R"("lat":91,"lon":5)"), "bad_location"},
      {"lon out of range", with(R"("lat":52,"lon":-180.5)"), "bad_location"},
      {"lat only", with(R"("lat":52.1)"), "bad_location"},
      {"lon string", with(R"("lat":52.1,"lon":"5.1")"), "bad_location"},
      {"image number", with(R"("plate_jpeg":5)"), "bad_image"},
      {"image object", with(R"("overview_jpeg":{"data":"x"})"), "bad_image"},
      {"duplicate event_id", with(R"("event_id":"e-2")"), "duplicate_key"},
      {"duplicate via escape", with(R"("event\u005fid":"e-2")"), "duplicate_key"},
      {"duplicate optional", with(R"("lane":1,"lane":1)"), "duplicate_key"},
      {"duplicate unknown key", with(R"("x":1,"y":2,"x":3)"), "duplicate_key"},
      {"duplicate in candidate", with(R"("candidates":[{"plate":"A","plate":"B"}])"),
       "duplicate_key"},
      {"duplicate unknown in candidate", with(R"("candidates":[{"plate":"A","q":1,"q":2}])"),
       "duplicate_key"},
  };
}

TEST(ReadEventDecoder, RejectsHostilePayloadsWithReasons) {
  const std::vector<Bad> cases = hostile_cases();
  ASSERT_GE(cases.size(), 25u);

  ReadEventDecoder dec;
  ReadEvent ev;
  DecodeError err;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(dec.decode(c.json, ev, err));
    EXPECT_EQ(err.reason, c.reason) << err.detail;
    EXPECT_FALSE(err.detail.empty());
    // Every reason is one of the documented ones.
    EXPECT_NE(std::find(kDecodeReasons.begin(), kDecodeReasons.end(), err.reason),
              kDecodeReasons.end());
    // Details never echo the plate.
    EXPECT_EQ(err.detail.find("AB-12-CD"), std::string::npos) << err.detail;
  }
  // The decoder still works after all that.
  ASSERT_TRUE(dec.decode(obj(kReq), ev, err)) << err.detail;
  EXPECT_EQ(ev.plate, "AB-12-CD");
}

TEST(ReadEventDecoder, TooLargeIsRejectedWithoutParsing) {
  DecoderOptions opt;
  opt.max_message_bytes = 100;
  ReadEventDecoder dec(opt);
  ReadEvent ev;
  DecodeError err;
  const std::string big = with("\"direction\":\"" + std::string(100, 'n') + "\"");
  EXPECT_FALSE(dec.decode(big, ev, err));
  EXPECT_EQ(err.reason, "too_large");
  EXPECT_EQ(err.detail,
            "message is " + std::to_string(big.size()) + " bytes: expected at most 100");
  // Even garbage: the size is checked first.
  EXPECT_FALSE(dec.decode(std::string(101, '\xff'), ev, err));
  EXPECT_EQ(err.reason, "too_large");

  ReadEventDecoder def;
  EXPECT_EQ(def.options().max_message_bytes, 1u << 20);
  const std::string over = with("\"plate_jpeg\":\"" + std::string(1 << 20, 'A') + "\"");
  EXPECT_FALSE(def.decode(over, ev, err));
  EXPECT_EQ(err.reason, "too_large");
  // A 10 MB message (the embedded broker cannot carry one, so the pipeline test uses 4 MiB).
  EXPECT_FALSE(def.decode(std::string(10'000'000, '{'), ev, err));
  EXPECT_EQ(err.reason, "too_large");
}

TEST(ReadEventDecoder, DecodesEveryField) {
  const std::string json = R"({
    "event_id": "nl-a2-km42-000123",
    "camera_id": "cam-nl-0042",
    "ts": "2026-11-23T20:31:49.123+01:00",
    "plate": "AB-12\u002dCD",
    "plate_country": "nl",
    "confidence": 0.93,
    "candidates": [
      {"plate": "AB-12-C0", "confidence": 0.4},
      {"plate": "A8-12-CD"},
      {"plate": "AB-I2-CD", "confidence": null, "vendor_score": 17}
    ],
    "lane": 2,
    "direction": "north",
    "lat": 52.0907,
    "lon": -5.1214,
    "plate_jpeg": "/9j/4AAQSkZJRg==",
    "overview_jpeg": "\/9j\/4AAQ",
    "vendor": {"model": "X", "nested": [1, {"a": null}]},
    "future_field": true
  })";
  ReadEventDecoder dec;
  ReadEvent ev;
  DecodeError err;
  ASSERT_TRUE(dec.decode(json, ev, err)) << err.reason << ": " << err.detail;
  EXPECT_EQ(ev.event_id, "nl-a2-km42-000123");
  EXPECT_EQ(ev.camera_id, "cam-nl-0042");
  EXPECT_EQ(ev.ts, *parse_rfc3339("2026-11-23T19:31:49.123Z"));
  EXPECT_EQ(ev.plate, "AB-12-CD");  // unescaped, not normalised
  EXPECT_EQ(ev.plate_country, kNL);
  ASSERT_TRUE(ev.confidence);
  EXPECT_DOUBLE_EQ(*ev.confidence, 0.93);
  ASSERT_EQ(ev.candidates.size(), 3u);
  EXPECT_EQ(ev.candidates[0].plate, "AB-12-C0");
  EXPECT_DOUBLE_EQ(*ev.candidates[0].confidence, 0.4);
  EXPECT_EQ(ev.candidates[1].plate, "A8-12-CD");
  EXPECT_FALSE(ev.candidates[1].confidence);
  EXPECT_FALSE(ev.candidates[2].confidence);
  EXPECT_EQ(ev.lane, 2);
  EXPECT_EQ(ev.direction, "north");
  EXPECT_DOUBLE_EQ(*ev.lat, 52.0907);
  EXPECT_DOUBLE_EQ(*ev.lon, -5.1214);
  EXPECT_EQ(ev.plate_jpeg, "/9j/4AAQSkZJRg==");
  EXPECT_EQ(ev.overview_jpeg, "/9j/4AAQ");
}

TEST(ReadEventDecoder, OptionalFieldsMayBeAbsentNullOrEmpty) {
  ReadEventDecoder dec;
  ReadEvent ev;
  DecodeError err;
  ASSERT_TRUE(dec.decode(obj(kReq), ev, err)) << err.detail;
  EXPECT_FALSE(ev.plate_country.known());
  EXPECT_FALSE(ev.confidence);
  EXPECT_TRUE(ev.candidates.empty());
  EXPECT_FALSE(ev.lane);
  EXPECT_TRUE(ev.direction.empty());
  EXPECT_FALSE(ev.lat);
  EXPECT_TRUE(ev.plate_jpeg.empty());

  ASSERT_TRUE(dec.decode(with(R"("plate_country":null,"confidence":null,"candidates":null,)"
                              R"("lane":null,"direction":null,"lat":null,"lon":null,)"
                              R"("plate_jpeg":null,"overview_jpeg":null)"),
                         ev, err))
      << err.detail;
  EXPECT_FALSE(ev.plate_country.known());
  EXPECT_FALSE(ev.lat);

  ASSERT_TRUE(
      dec.decode(with(R"("plate_country":"","candidates":[],"confidence":1,"lane":-1)"), ev, err))
      << err.detail;
  EXPECT_FALSE(ev.plate_country.known());
  EXPECT_DOUBLE_EQ(*ev.confidence, 1.0);  // an integer is a number
  EXPECT_EQ(ev.lane, -1);

  ASSERT_TRUE(dec.decode(with(R"("confidence":0,"lat":-90,"lon":180)"), ev, err)) << err.detail;
  EXPECT_DOUBLE_EQ(*ev.confidence, 0.0);
  EXPECT_DOUBLE_EQ(*ev.lat, -90.0);

  // Limits are inclusive.
  ASSERT_TRUE(dec.decode(
      obj(R"("event_id":")" + std::string(128, 'e') + R"(","camera_id":")" + std::string(64, 'c') +
          "\"," + kTs + R"(,"plate":")" + std::string(64, 'A') + "\""),
      ev, err))
      << err.detail;
  EXPECT_EQ(ev.event_id.size(), 128u);
  // Whitespace around the object is fine.
  ASSERT_TRUE(dec.decode(" \r\n" + obj(kReq) + "\n\t ", ev, err)) << err.detail;
}

TEST(ReadEventDecoder, ReusingTheEventLeavesNothingStale) {
  ReadEventDecoder dec;
  ReadEvent ev;
  DecodeError err;
  ASSERT_TRUE(dec.decode(with(R"("plate_country":"BE","confidence":0.5,"lane":3,)"
                              R"("direction":"south","lat":50.8,"lon":4.3,"plate_jpeg":"AAAA",)"
                              R"("candidates":[{"plate":"1-ABC-123"},{"plate":"1-A8C-123"}])"),
                         ev, err))
      << err.detail;
  ASSERT_EQ(ev.candidates.size(), 2u);
  const std::size_t jpeg_capacity = ev.plate_jpeg.capacity();

  ASSERT_TRUE(dec.decode(obj(R"("event_id":"e-2","camera_id":"c2","ts":"2026-11-23T19:31:50Z",)"
                             R"("plate":"XY-99-ZZ","candidates":[{"plate":"XY-99-22"}])"),
                         ev, err))
      << err.detail;
  EXPECT_EQ(ev.event_id, "e-2");
  EXPECT_EQ(ev.camera_id, "c2");
  EXPECT_EQ(ev.ts, *parse_rfc3339("2026-11-23T19:31:50Z"));
  EXPECT_EQ(ev.plate, "XY-99-ZZ");
  EXPECT_FALSE(ev.plate_country.known());
  EXPECT_FALSE(ev.confidence);
  ASSERT_EQ(ev.candidates.size(), 1u);
  EXPECT_EQ(ev.candidates[0].plate, "XY-99-22");
  EXPECT_FALSE(ev.lane);
  EXPECT_TRUE(ev.direction.empty());
  EXPECT_FALSE(ev.lat);
  EXPECT_FALSE(ev.lon);
  EXPECT_TRUE(ev.plate_jpeg.empty());
  EXPECT_EQ(ev.plate_jpeg.capacity(), jpeg_capacity);  // capacity kept for the next message

  // A failed decode followed by a good one.
  EXPECT_FALSE(dec.decode(with(R"("candidates":[{"plate":"A"},{"plate":5}])"), ev, err));
  ASSERT_TRUE(dec.decode(obj(kReq), ev, err)) << err.detail;
  EXPECT_TRUE(ev.candidates.empty());
}

TEST(ReadEventDecoder, LargeMessagesAndImagesGrowTheParser) {
  ReadEventDecoder dec;
  ReadEvent ev;
  DecodeError err;
  const std::string image(600 * 1024, 'Q');
  ASSERT_TRUE(dec.decode(with("\"overview_jpeg\":\"" + image + "\""), ev, err)) << err.detail;
  EXPECT_EQ(ev.overview_jpeg.size(), image.size());
  // max_depth still applies after the parser grew.
  const std::string nested = std::string(200, '[') + std::string(200, ']');
  EXPECT_FALSE(dec.decode(with("\"overview_jpeg\":\"" + image + "\",\"x\":" + nested), ev, err));
  EXPECT_EQ(err.reason, "too_deep");
  // Many unknown keys are fine (and checked for duplicates without quadratic cost).
  std::string many = "{" + kReq;
  for (int i = 0; i < 20000; ++i) many += ",\"k" + std::to_string(i) + "\":0";
  many += "}";
  ASSERT_TRUE(dec.decode(many, ev, err)) << err.detail;
  EXPECT_FALSE(dec.decode(many.substr(0, many.size() - 1) + ",\"k7\":1}", ev, err));
  EXPECT_EQ(err.reason, "duplicate_key");
}

// The ids are checked for control characters eight bytes at a time: a control character or
// DEL anywhere in an id, in a whole word or in the bytes after the last one, is refused, and
// every other character (non-ASCII UTF-8 included) is accepted.
TEST(ReadEventDecoder, ControlCharactersAreRefusedAtEveryPositionOfAnId) {
  ReadEventDecoder dec;
  ReadEvent ev;
  DecodeError err;
  const auto event = [](const std::string& event_id, const std::string& camera_id) {
    return obj(R"("event_id":")" + event_id + R"(","camera_id":")" + camera_id + "\"," + kTs +
               R"(,"plate":"AB-12-CD")");
  };
  for (std::size_t len : {1u, 7u, 8u, 9u, 16u, 23u, 64u}) {
    const std::string plain(len, 'x');
    ASSERT_TRUE(dec.decode(event(plain, plain), ev, err)) << len << ": " << err.detail;
    for (std::size_t at = 0; at < len; ++at) {
      for (const char* bad : {"\\u0000", "\\u0001", "\\n", "\\u001f", "\\u007f"}) {
        std::string id = plain;
        id.replace(at, 1, bad);
        SCOPED_TRACE(std::to_string(len) + " bytes, " + bad + " at " + std::to_string(at));
        EXPECT_FALSE(dec.decode(event(id, "c"), ev, err));
        EXPECT_EQ(err.reason, "bad_id");
        EXPECT_FALSE(dec.decode(event("e", id), ev, err));
        EXPECT_EQ(err.reason, "bad_id");
      }
      for (const char* fine : {" ", "~", "\\u0080", "\\u00ff", "\\u20ac", "\xf0\x9f\x9a\x97"}) {
        std::string id = plain;
        id.replace(at, 1, fine);
        SCOPED_TRACE(std::to_string(len) + " bytes, " + fine + " at " + std::to_string(at));
        ASSERT_TRUE(dec.decode(event(id, "c"), ev, err)) << err.detail;
        EXPECT_TRUE(dec.decode(event("e", id), ev, err) || err.reason == "field_too_long")
            << err.detail;
      }
    }
  }
}

TEST(ReadEventDecoder, DetailsNameTheFieldAndTheExpectation) {
  ReadEventDecoder dec;
  ReadEvent ev;
  DecodeError err;
  EXPECT_FALSE(dec.decode(with(R"("lat":100,"lon":5)"), ev, err));
  EXPECT_EQ(err.detail, "'lat' must be a number -90..90");
  EXPECT_FALSE(dec.decode(obj(R"("event_id":"e","camera_id":"c",)" + kTs), ev, err));
  EXPECT_EQ(err.detail, "required field 'plate' is missing");
  EXPECT_FALSE(dec.decode(with(R"("candidates":[{"plate":"A"},{"plate":7}])"), ev, err));
  EXPECT_EQ(err.detail, "'candidates[1].plate' must be a string, got an integer");
  EXPECT_FALSE(dec.decode("[]", ev, err));
  EXPECT_EQ(err.detail, "the message is an array: expected a JSON object");
}

// ---- The fast path (ingest/read_event_fast.cpp) against the general parser ----

// The first field in which `a` and `b` differ, or "" (doubles compared bit for bit: 0.0 and
// -0.0 differ).
std::string difference(const ReadEvent& a, const ReadEvent& b) {
  const auto same = [](const std::optional<double>& x, const std::optional<double>& y) {
    return x.has_value() == y.has_value() && (!x || std::memcmp(&*x, &*y, sizeof(double)) == 0);
  };
  if (a.event_id != b.event_id) return "event_id";
  if (a.camera_id != b.camera_id) return "camera_id";
  if (a.ts != b.ts) return "ts";
  if (a.plate != b.plate) return "plate";
  if (a.plate_country != b.plate_country) return "plate_country";
  if (!same(a.confidence, b.confidence)) return "confidence";
  if (a.candidates.size() != b.candidates.size()) return "candidates";
  for (std::size_t i = 0; i < a.candidates.size(); ++i)
    if (a.candidates[i].plate != b.candidates[i].plate ||
        !same(a.candidates[i].confidence, b.candidates[i].confidence))
      return "candidates[" + std::to_string(i) + "]";
  if (a.lane != b.lane) return "lane";
  if (a.direction != b.direction) return "direction";
  if (!same(a.lat, b.lat)) return "lat";
  if (!same(a.lon, b.lon)) return "lon";
  if (a.plate_jpeg != b.plate_jpeg) return "plate_jpeg";
  if (a.overview_jpeg != b.overview_jpeg) return "overview_jpeg";
  return "";
}

DecoderOptions general_only() {
  DecoderOptions o;
  o.fast_path = false;
  return o;
}

// Decodes messages with the fast path and with the general parser alone; both must give the
// same answer: accepted with the same fields, or refused with the same reason and detail.
struct BothWays {
  ReadEventDecoder fast;
  ReadEventDecoder general{general_only()};
  ReadEvent fast_event, general_event;  // reused, as in the product
  std::size_t messages = 0, accepted = 0;

  void check(const std::string& json) {
    DecodeError fast_err, general_err;
    const bool fast_ok = fast.decode(json, fast_event, fast_err);
    const bool general_ok = general.decode(json, general_event, general_err);
    ++messages;
    accepted += general_ok ? 1 : 0;
    ASSERT_EQ(fast_ok, general_ok) << "message: " << json << "\nrefused: " << fast_err.reason
                                   << general_err.reason;
    if (fast_ok) {
      ASSERT_EQ(difference(fast_event, general_event), "") << "message: " << json;
    } else {
      ASSERT_EQ(fast_err.reason, general_err.reason) << json;
      ASSERT_EQ(fast_err.detail, general_err.detail) << json;
    }
  }
};

const CameraRegistry& feed_cameras() {
  static const CameraRegistry r = CameraRegistry::parse(
      "camera_id,country,site,lat,lon,control_room\n"
      "cam-nl-1,NL,A2,52.1,5.0,R1\ncam-be-1,BE,E19,51.0,4.4,R2\ncam-lu-1,LU,A1,49.6,6.1,R3\n"
      "cam-nl-2,NL,A12,,,R1\n",
      "test cameras");
  return r;
}

// Reads as the synthetic camera feed writes them: most with candidates, some lower-case.
std::vector<std::string> feed_reads(std::size_t n) {
  static const LiveIndex empty;
  app::FeedOptions o;
  o.candidate_share = 0.5;
  app::SyntheticFeed feed(feed_cameras(), empty, o);
  std::vector<std::string> out(n);
  std::string key;
  for (std::size_t i = 0; i < n; ++i) feed.next(1'795'000'000'000 + 37 * i, out[i], key);
  return out;
}

TEST(ReadEventDecoderPaths, TheFastPathTakesTheReadsCamerasSend) {
  ReadEventDecoder fast;
  ReadEvent ev;
  DecodeError err;
  const std::vector<std::string> reads = feed_reads(2000);
  std::size_t with_candidates = 0;
  for (const std::string& r : reads) {
    ASSERT_TRUE(fast.decode(r, ev, err)) << r << ": " << err.detail;
    with_candidates += ev.candidates.empty() ? 0 : 1;
  }
  EXPECT_EQ(fast.fast_decoded(), reads.size());
  EXPECT_GT(with_candidates, 200u);

  // Every field, nulls and unknown scalars, whitespace as a pretty-printer writes it.
  const std::string full = R"({
    "event_id": "nl-a2-km42-000123", "camera_id": "cam-nl-0042",
    "ts": "2026-11-23T20:31:49.123+01:00", "plate": "AB-12-CD", "plate_country": "nl",
    "confidence": 0.93, "candidates": [{"plate": "AB-12-C0", "confidence": 0.4},
      {"plate": "A8-12-CD"}, {"plate": "AB-I2-CD", "confidence": null, "vendor_score": 17}],
    "lane": 2, "direction": "north", "lat": 52.0907, "lon": -5.1214,
    "plate_jpeg": "/9j/4AAQSkZJRg==", "overview_jpeg": null, "future_field": true,
    "firmware": "4.2.1", "exposure": -0.25, "night": false, "operator": null
  })";
  ASSERT_TRUE(fast.decode(full, ev, err)) << err.detail;
  EXPECT_EQ(fast.fast_decoded(), reads.size() + 1);
  EXPECT_EQ(ev.candidates.size(), 3u);
  EXPECT_EQ(ev.plate_jpeg, "/9j/4AAQSkZJRg==");

  // What it leaves to the general parser still decodes, and the same way.
  for (const std::string& other :
       {with(R"("overview_jpeg":"\/9j\/4AAQ")"), with(R"("vendor":{"model":"X"})"),
        with(R"("confidence":9.3e-1)"), with(R"("tags":["a","b"])")}) {
    ASSERT_TRUE(fast.decode(other, ev, err)) << other << ": " << err.detail;
  }
  EXPECT_EQ(fast.fast_decoded(), reads.size() + 1);
  EXPECT_EQ(ev.candidates.size(), 0u);

  ReadEventDecoder general(general_only());
  ASSERT_TRUE(general.decode(reads[0], ev, err));
  EXPECT_EQ(general.fast_decoded(), 0u);
}

// A configured nesting limit is the general parser's to apply: the fast path runs only when the
// limit leaves room for its deepest value (a candidate, three levels down), and below that both
// decoders give the general parser's answer (too_deep where it refuses).
TEST(ReadEventDecoderPaths, ASmallDepthLimitGivesTheSameAnswerBothWays) {
  const std::vector<std::string> messages = {
      obj(kReq), with(R"("lane":2)"), with(R"("candidates":[])"),
      with(R"("candidates":[{"plate":"AB-12-C0","confidence":0.4}])")};
  std::size_t refused = 0, fast_taken = 0;
  for (const std::size_t depth : {1, 2, 3, 4, 5, 64}) {
    DecoderOptions with_fast;
    with_fast.max_depth = depth;
    DecoderOptions general_alone = with_fast;
    general_alone.fast_path = false;
    ReadEventDecoder fast(with_fast), general(general_alone);
    for (const std::string& m : messages) {
      SCOPED_TRACE("max_depth " + std::to_string(depth) + ": " + m);
      ReadEvent a, b;
      DecodeError ea, eb;
      const bool ok_a = fast.decode(m, a, ea), ok_b = general.decode(m, b, eb);
      ASSERT_EQ(ok_a, ok_b) << ea.reason << " / " << eb.reason;
      if (ok_a) {
        EXPECT_EQ(difference(a, b), "");
      } else {
        EXPECT_EQ(ea.reason, eb.reason);
        EXPECT_EQ(ea.detail, eb.detail);
        refused += eb.reason == "too_deep" ? 1 : 0;
      }
    }
    fast_taken += fast.fast_decoded();
  }
  EXPECT_GT(refused, 0u) << "no limit was small enough to refuse anything";
  EXPECT_GT(fast_taken, 0u);
}

TEST(ReadEventDecoderPaths, BothPathsGiveTheSameAnswer) {
  BothWays both;
  // The hostile messages, and reads as cameras send them.
  for (const Bad& b : hostile_cases()) both.check(b.json);
  const std::vector<std::string> reads = feed_reads(300);
  for (const std::string& r : reads) both.check(r);

  // Numbers in every numeric field (and where a string belongs): integers, fractions, signs,
  // exponents, leading zeros, the int32 and int64 limits, more digits than a double holds.
  const std::vector<std::string> numbers = {
      "0", "-0", "-0.0", "0.0", "1", "-1", "1.0", "0.5", "0.93", "00", "01", "-01", "1.", ".5",
      "+1", "1e0", "1E-1", "0.1e1", "-", "0.30000000000000004", "0.1234567890123456789",
      "0.12345678901234567890", "0.9999999999999999999", "0.99999999999999999999",
      "52.0907", "-5.1214", "89.99999999999999999", "90", "90.0000000000000001", "-180",
      "180.00000000000000001", "2147483647", "2147483648", "-2147483648", "-2147483649",
      "123456789012345678", "1234567890123456789", "12345678901234567890",
      "-9223372036854775808", "9223372036854775807", "18446744073709551616", "4.9e-324",
      "0.000000000000000001", "1.5", "1-", "1.2.3", "0x10", "NaN", "Infinity", "true", "null",
      "\"0.5\""};
  for (const std::string& n : numbers) {
    for (std::string_view f : {"confidence", "lane", "x", "plate"})
      both.check(with("\"" + std::string(f) + "\":" + n));
    both.check(with("\"lat\":" + n + ",\"lon\":" + n));
    both.check(with("\"candidates\":[{\"plate\":\"AB\",\"confidence\":" + n + "}]"));
  }
  // Random decimals of up to 21 digits: the fast path's exact division and its fallback against
  // the general parser's rounding, bit for bit (lat and a candidate's confidence are kept).
  std::mt19937_64 rng(20);
  const auto digit = [&rng] { return static_cast<char>('0' + rng() % 10); };
  for (int i = 0; i < 20'000; ++i) {
    const int before = static_cast<int>(rng() % 3);  // digits before the point; 0: "0."
    const int after = 1 + static_cast<int>(rng() % static_cast<uint64_t>(20 - before));
    std::string fraction;
    for (int d = 0; d < after; ++d) fraction += digit();
    std::string lat = i % 2 ? "-" : "";
    if (before == 0) lat += '0';
    for (int d = 0; d < before; ++d) lat += d == 0 ? static_cast<char>('1' + rng() % 9) : digit();
    lat += "." + fraction;
    both.check(with("\"lat\":" + lat + ",\"lon\":4.5,\"candidates\":[{\"plate\":\"AB\","
                    "\"confidence\":0." + fraction + "}]"));
    if (HasFatalFailure()) return;
  }
  // Strings in every string field: escapes, control characters, DEL, multi-byte and broken
  // UTF-8, empty, at and past the length limits.
  const std::vector<std::string> strings = {
      "", "a", "NL", "nl", "XX", "north", "\\u0041", "\\/", "\\\"", "\\\\", "a\\nb",
      std::string("a\x01b"), "a\x7f", "\xc3\xa9", "\xf0\x9f\x9a\x97", "\xff", "\xc3",
      std::string(32, 'd'), std::string(33, 'd'), std::string(64, 'p'), std::string(65, 'p'),
      std::string(128, 'e'), std::string(129, 'e'), "2026-11-23T19:31:49Z",
      "2026-11-23T19:31:49.123456789+14:00", "2026-02-30T00:00:00Z"};
  for (const std::string& v : strings) {
    const std::string q = "\"" + v + "\"";
    both.check(obj("\"event_id\":" + q + ",\"camera_id\":\"c\"," + kTs + ",\"plate\":\"AB\""));
    both.check(obj("\"event_id\":\"e\",\"camera_id\":" + q + "," + kTs + ",\"plate\":\"AB\""));
    both.check(obj("\"event_id\":\"e\",\"camera_id\":\"c\",\"ts\":" + q + ",\"plate\":\"AB\""));
    both.check(obj(R"("event_id":"e","camera_id":"c",)" + kTs + ",\"plate\":" + q));
    for (std::string_view f :
         {"plate_country", "direction", "plate_jpeg", "overview_jpeg", "unknown"})
      both.check(with("\"" + std::string(f) + "\":" + q));
    both.check(with("\"candidates\":[{\"plate\":" + q + "}]"));
    both.check(with("\"candidates\":[{\"plate\":\"A\"," + q + ":1}]"));
    both.check(obj(kReq + "," + q + ":1"));
  }

  // Every one-byte change of typical reads: each byte deleted, replaced and preceded by bytes
  // that matter to JSON (structure, quotes, escapes, digits, letters of literals, whitespace,
  // control characters, broken UTF-8, NUL).
  const std::string bytes = std::string("\"\\,:{}[]09-.eEnt \t\x01\x7f\xc3\xff") + '\0';
  const std::vector<std::string> bases = {
      reads[0], reads[1], reads[2],
      with(R"("candidates":[{"plate":"AB-12-C0","confidence":0.4},{"plate":"A8"}],"lane":2)"),
      with(R"("lat":52.1,"lon":5.1,"direction":"north","x":null,"y":true,"z":[])"),
      R"( { "event_id" : "e" , "camera_id" : "c" , "ts" : "2026-11-23T19:31:49Z" , "plate" : "AB" } )"};
  for (const std::string& base : bases) {
    for (std::size_t i = 0; i <= base.size(); ++i) {
      if (i < base.size()) both.check(std::string(base).erase(i, 1));
      for (const char b : bytes) {
        if (i < base.size()) both.check(std::string(base).replace(i, 1, 1, b));
        both.check(std::string(base).insert(i, 1, b));
      }
      if (HasFatalFailure()) return;
    }
  }
  // Both kinds of answer were seen many times, and the fast path took most accepted messages.
  EXPECT_GT(both.messages, 40'000u);
  EXPECT_GT(both.accepted, 5'000u);
  EXPECT_GT(both.messages - both.accepted, 5'000u);
  EXPECT_GT(both.fast.fast_decoded() * 2, both.accepted);
  EXPECT_EQ(both.general.fast_decoded(), 0u);
}

}  // namespace
}  // namespace anpr
