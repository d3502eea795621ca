// Hit records and the JSON writer: always valid JSON whatever the text inside, and hit ids that
// identify (read, list entry) regardless of the list version.
#include "export/hit_json.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <limits>
#include <string>

#include "base/json_writer.h"

namespace anpr {
namespace {

std::string json_quote(std::string_view s) {
  std::string out;
  JsonWriter::append_string(out, s);
  return out;
}

TEST(JsonWriterTest, EscapesAndRepairs) {
  struct Case {
    std::string in, want;
  } cases[] = {
      {"plain", "\"plain\""},
      {"", "\"\""},
      {"\"start", "\"\\\"start\""},
      {"end\\", "\"end\\\\\""},
      {"ab\"cd\\ef\ngh", "\"ab\\\"cd\\\\ef\\ngh\""},  // runs between escapes
      {"a\x7f" "b", "\"a\x7f" "b\""},                    // DEL is written as it is
      {"x\xE2\x82\xACy\x01z", "\"x\xE2\x82\xACy\\u0001z\""},
      {"a\"b\\c", "\"a\\\"b\\\\c\""},
      {"line\nbreak\ttab\r", "\"line\\nbreak\\ttab\\r\""},
      {std::string("nul\0x", 5), "\"nul\\u0000x\""},
      {"\x01\x1f", "\"\\u0001\\u001f\""},
      {"Ωmega €", "\"Ωmega €\""},
      {"\xff", "\"\xEF\xBF\xBD\""},                      // not UTF-8
      {"\xC0\xAF", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},      // overlong '/'
      {"\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},  // surrogate
      {"\xE2\x82", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},      // truncated
      {"\xF4\x90\x80\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},  // > U+10FFFF
  };
  simdjson::dom::parser parser;
  for (const auto& c : cases) {
    const std::string q = json_quote(c.in);
    EXPECT_EQ(q, c.want);
    simdjson::dom::element e;
    EXPECT_EQ(parser.parse(q).get(e), simdjson::SUCCESS) << q;
  }
}

TEST(JsonWriterTest, ObjectsArraysAndNumbers) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("a", int64_t{-5});
  w.field("b", 0.25);
  w.key("c");
  w.begin_array();
  w.value("x");
  w.value(true);
  w.null();
  w.end_array();
  w.field("d", std::numeric_limits<double>::infinity());
  w.end_object();
  EXPECT_EQ(out, R"({"a":-5,"b":0.25,"c":["x",true,null],"d":null})");
}

std::unique_ptr<Snapshot> one_entry_snapshot(const std::string& version) {
  IndexBuilder b;
  ListMeta m;
  m.id = "nl-stolen";
  m.owner = kNL;
  m.version = version;
  const uint16_t l = b.add_list(m);
  b.add(l, *Plate::from_normalized("GB123X"), kNL, Category::stolen_vehicle, Action::intercept,
        20, kNoExpiry, "REF-1", "note \"quoted\"\n");
  return b.build();
}

TEST(HitJsonTest, HitIdIgnoresListVersionButNotReadOrEntry) {
  auto v1 = one_entry_snapshot("v1"), v2 = one_entry_snapshot("v2");
  HitReadView r;
  r.event_id = "e1";
  r.camera_id = "cam";
  const std::string id = hit_id(r, *v1, 0);
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id, hit_id(r, *v2, 0));
  HitReadView other = r;
  other.event_id = "e2";
  EXPECT_NE(id, hit_id(other, *v1, 0));
  other = r;
  other.camera_id = "cam2";
  EXPECT_NE(id, hit_id(other, *v1, 0));
  // Field boundaries matter: ("ab","c") is not ("a","bc").
  HitReadView a = r, b = r;
  a.camera_id = "ab";
  a.event_id = "c";
  b.camera_id = "a";
  b.event_id = "bc";
  EXPECT_NE(hit_id(a, *v1, 0), hit_id(b, *v1, 0));
}

TEST(HitJsonTest, HitRecordIsValidJsonWithTheContractFields) {
  auto s = one_entry_snapshot("v1");
  const std::vector<Plate> plates{*Plate::from_normalized("G8123X")};
  const std::vector<std::string_view> raw{"G8-123-X"};
  HitReadView r;
  r.event_id = "e\"1";
  r.camera_id = "cam\xff";
  r.ts = "2026-11-23T08:00:00.000Z";
  r.plate = "G8-123-X";
  r.plate_country = kNL;
  r.plates = plates;
  r.raw_plates = raw;
  std::vector<IndexHit> hits;
  ASSERT_EQ(s->match({kNL, 0, plates}, hits), 0u);  // exact list: no OCR hit
  IndexHit h{0, MatchKind::ocr, 1, 0};
  std::string out;
  const std::string_view routes[] = {"anpr.route.be"};
  append_hit_json(out, r, *s, h, routes);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  ASSERT_EQ(parser.parse(out).get(e), simdjson::SUCCESS) << out;
  std::string_view str;
  int64_t n = -1;
  EXPECT_EQ(e["event_id"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "e\"1");
  EXPECT_EQ(e["matched_plate"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "GB123X");
  EXPECT_EQ(e["matched_plate_display"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "GB-123-X");
  EXPECT_EQ(e["match_kind"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "ocr");
  EXPECT_EQ(e["differences"].get(n), simdjson::SUCCESS);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(e["list_version"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "v1");
  EXPECT_EQ(e["note"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "note \"quoted\"\n");
  EXPECT_EQ(e["routes"].at(0).get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "anpr.route.be");
  EXPECT_TRUE(e["valid_until"].is_null());
  // The reading that matched, as printed: G8123X fits no NL form, so it stays as it is.
  EXPECT_EQ(e["read_plate_display"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "G8123X");
}

TEST(HitJsonTest, TheReadPlateIsShownInTheListedPlatesCountrysForm) {
  auto s = one_entry_snapshot("v1");
  // The camera read G8123X, its candidate GB123X matched; the read gave no country (NL assumed
  // from the entry), so both plates are printed in the NL form.
  const std::vector<Plate> plates{*Plate::from_normalized("G8123X"), *Plate::from_normalized("GB123X")};
  const std::vector<std::string_view> raw{"G8-123-X", "GB 123 X"};
  HitReadView r;
  r.event_id = "e1";
  r.camera_id = "cam";
  r.ts = "2026-11-23T08:00:00.000Z";
  r.plate = "G8-123-X";
  r.plates = plates;
  r.raw_plates = raw;
  std::string out;
  append_hit_json(out, r, *s, IndexHit{0, MatchKind::exact, 0, 1});
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  ASSERT_EQ(parser.parse(out).get(e), simdjson::SUCCESS) << out;
  std::string_view str;
  bool assumed = false;
  EXPECT_EQ(e["read_plate"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "GB123X");
  EXPECT_EQ(e["read_plate_display"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "GB-123-X");
  EXPECT_EQ(e["read_plate_source"].get(str), simdjson::SUCCESS);
  EXPECT_EQ(str, "candidate");
  EXPECT_EQ(e["country_assumed"].get(assumed), simdjson::SUCCESS);
  EXPECT_TRUE(assumed);
}

}  // namespace
}  // namespace anpr

namespace anpr {
namespace {

// The read's optional fields travel with the hit; absent ones are left out.
TEST(HitJson, CarriesTheReadsOptionalFields) {
  IndexBuilder b;
  ListMeta m;
  m.id = "l";
  m.owner = kNL;
  const uint16_t l = b.add_list(m);
  const Plate p = *Plate::from_normalized("GB123X");
  b.add(l, p, kNL, Category::stolen_vehicle, Action::intercept, 20, kNoExpiry, "R1", "");
  auto snap = b.build();
  std::vector<IndexHit> hits;
  std::vector<Plate> plates{p};
  snap->match(MatchQuery{kNL, 0, plates}, hits);
  ASSERT_EQ(hits.size(), 1u);
  HitReadView v;
  v.event_id = "e";
  v.camera_id = "c";
  v.ts = "2026-11-24T08:00:00.000Z";
  v.plate = "GB-123-X";
  v.plates = plates;
  std::string with, without;
  append_hit_json(without, v, *snap, hits[0]);
  v.lane = 2;
  v.direction = "north";
  v.lat = 52.5;
  v.lon = 5.25;
  append_hit_json(with, v, *snap, hits[0]);
  EXPECT_EQ(without.find("\"lane\""), std::string::npos);
  EXPECT_EQ(without.find("\"lat\""), std::string::npos);
  EXPECT_NE(with.find("\"lane\":2"), std::string::npos) << with;
  EXPECT_NE(with.find("\"direction\":\"north\""), std::string::npos) << with;
  EXPECT_NE(with.find("\"lat\":52.5,\"lon\":5.25"), std::string::npos) << with;
  for (const char* k : {"thumbnail_jpeg", "image_error", "overview_jpeg", "overview_error"})
    EXPECT_EQ(with.find(k), std::string::npos) << k;
  // Images: the thumbnail or the reason there is none; the same for the overview.
  std::string img;
  v.thumbnail_jpeg = "/9j/4AAQ";
  v.overview_error = "truncated";
  append_hit_json(img, v, *snap, hits[0]);
  EXPECT_NE(img.find("\"thumbnail_jpeg\":\"/9j/4AAQ\""), std::string::npos) << img;
  EXPECT_NE(img.find("\"overview_error\":\"truncated\""), std::string::npos) << img;
  EXPECT_EQ(img.find("image_error"), std::string::npos) << img;
}

}  // namespace
}  // namespace anpr
