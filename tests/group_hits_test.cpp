// The hit records suppression takes from the hits topic (pipeline/group_hits.h): the record the
// processor writes gives the same key the processor suppresses by, and a malformed or hostile
// record is ignored (never recorded, no crash), whatever it holds.
#include "pipeline/group_hits.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "export/hit_json.h"
#include "match/index.h"
#include "match/time.h"

namespace anpr::app {
namespace {

constexpr TimestampMs kNow = 1'795'500'000'000;  // 2026-11-24

// A hit record as the processor writes it (export/hit_json.h) for `plate` of `country` on list
// `list`, read at `ts`; `key` gets ReadOutput::entry_key of the entry (pipeline/read_matcher.cpp).
std::string processor_hit(const std::string& list, const std::string& plate, CountryCode country,
                          TimestampMs ts, uint64_t& key) {
  IndexBuilder b;
  ListMeta m;
  m.id = list;
  m.owner = kNL;
  const uint16_t l = b.add_list(m);
  const Plate p = *Plate::from_normalized(plate);
  b.add(l, p, country, Category::stolen_vehicle, Action::intercept, 20, kNoExpiry, "R1", "");
  auto snap = b.build();
  std::vector<IndexHit> hits;
  std::vector<Plate> plates{p};
  snap->match(MatchQuery{country, 0, plates}, hits);
  EXPECT_EQ(hits.size(), 1u);
  if (hits.empty()) return {};
  key = (snap->entry_plate(hits[0].entry).key() << CountryCode::kBits) |
        snap->entry_country(hits[0].entry).raw();
  const std::string tss = format_rfc3339(ts);
  HitReadView v;
  v.event_id = "e1";
  v.camera_id = "cam";
  v.ts = tss;
  v.plate = plate;
  v.plate_country = country;
  v.plates = plates;
  std::string out;
  append_hit_json(out, v, *snap, hits[0]);
  return out;
}

TEST(GroupHitRecord, TheProcessorsHitRecordGivesTheKeyItSuppressesBy) {
  for (CountryCode c : {kNL, kBE, CountryCode{}}) {
    uint64_t key = 0;
    const std::string json = processor_hit("nl-stolen", "GB123X", c, kNow, key);
    SCOPED_TRACE(json);
    const std::optional<GroupHit> h = parse_group_hit(json);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->list_id, "nl-stolen");
    EXPECT_EQ(h->entry_key, key);
    EXPECT_EQ(h->ts, kNow);
  }
  // Another plate or country: another key.
  uint64_t a = 0, b = 0, c = 0;
  processor_hit("l", "GB123X", kNL, kNow, a);
  processor_hit("l", "GB123Y", kNL, kNow, b);
  processor_hit("l", "GB123X", kBE, kNow, c);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
}

TEST(GroupHitRecord, MalformedAndHostileRecordsAreIgnored) {
  const std::string ok_tail = R"(,"matched_country":"NL","ts":"2026-11-24T08:00:00.000Z"})";
  const std::vector<std::string> bad = {
      "",
      "not json",
      "[]",
      "null",
      "42",
      R"("a string")",
      "{",
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":"NL","ts":"2026-11-24T08:00:00.000Z")",
      // Missing fields, or of another type.
      R"({"matched_plate":"AB12CD")" + ok_tail,
      R"({"list_id":"l")" + ok_tail,
      R"({"list_id":"l","matched_plate":"AB12CD","ts":"2026-11-24T08:00:00.000Z"})",
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":"NL"})",
      R"({"list_id":7,"matched_plate":"AB12CD")" + ok_tail,
      R"({"list_id":null,"matched_plate":"AB12CD")" + ok_tail,
      R"({"list_id":"l","matched_plate":["AB12CD"])" + ok_tail,
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":1,"ts":"2026-11-24T08:00:00.000Z"})",
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":"NL","ts":1795500000000})",
      // Not a list id: upper case, a path, hidden, too long, empty, control characters.
      R"({"list_id":"NL-Stolen","matched_plate":"AB12CD")" + ok_tail,
      R"({"list_id":"../etc","matched_plate":"AB12CD")" + ok_tail,
      R"({"list_id":".hidden","matched_plate":"AB12CD")" + ok_tail,
      R"({"list_id":")" + std::string(65, 'a') + R"(","matched_plate":"AB12CD")" + ok_tail,
      R"({"list_id":"","matched_plate":"AB12CD")" + ok_tail,
      R"({"list_id":"l\u0000x","matched_plate":"AB12CD")" + ok_tail,
      // Not a normalised plate: separators, lower case, too long, empty, other scripts.
      R"({"list_id":"l","matched_plate":"AB-12-CD")" + ok_tail,
      R"({"list_id":"l","matched_plate":"ab12cd")" + ok_tail,
      R"({"list_id":"l","matched_plate":"ABCDEFGHIJK")" + ok_tail,
      R"({"list_id":"l","matched_plate":"")" + ok_tail,
      R"({"list_id":"l","matched_plate":"АВ12CD")" + ok_tail,  // Cyrillic
      // Not a country.
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":"XX","ts":"2026-11-24T08:00:00.000Z"})",
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":"NLD","ts":"2026-11-24T08:00:00.000Z"})",
      // Not a time.
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":"NL","ts":"yesterday"})",
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":"NL","ts":"2026-13-45T99:00:00Z"})",
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":"NL","ts":""})",
      // Nesting beyond what the parser takes, and a record beyond kMaxHitRecordBytes.
      std::string(100'000, '[') + std::string(100'000, ']'),
      R"({"list_id":"l","matched_plate":"AB12CD","matched_country":"NL","ts":"2026-11-24T08:00:00.000Z","pad":")" +
          std::string(kMaxHitRecordBytes, 'x') + "\"}",
      std::string("{\"list_id\":\"l\0\"}", 16),
  };
  GroupHits hits(300'000);
  for (const std::string& r : bad) {
    SCOPED_TRACE(r.substr(0, 200));
    EXPECT_FALSE(parse_group_hit(r).has_value());
    EXPECT_EQ(GroupHitFollower::take(r, kNow, 300'000, hits), GroupHitFollower::Outcome::malformed);
  }
  EXPECT_EQ(hits.tracked(), 0u);
  // The good one the bad ones are made from.
  EXPECT_TRUE(parse_group_hit(R"({"list_id":"l","matched_plate":"AB12CD")" + ok_tail).has_value());
}

// A capture time beyond the clock and its allowed skew is not recorded: it would move the sweep's
// "now" and push the real hits out.
TEST(GroupHitRecord, AHitStampedInTheFutureIsNotRecorded) {
  GroupHits hits(300'000);
  uint64_t key = 0;
  const std::string real = processor_hit("l", "GB123X", kNL, kNow, key);
  EXPECT_EQ(GroupHitFollower::take(real, kNow, 300'000, hits),
            GroupHitFollower::Outcome::recorded);
  const std::string ahead = processor_hit("l", "GB123Y", kNL, kNow + 86'400'000, key);
  EXPECT_EQ(GroupHitFollower::take(ahead, kNow, 300'000, hits),
            GroupHitFollower::Outcome::future);
  const std::string within = processor_hit("l", "GB123Z", kNL, kNow + 200'000, key);
  EXPECT_EQ(GroupHitFollower::take(within, kNow, 300'000, hits),
            GroupHitFollower::Outcome::recorded);
  EXPECT_EQ(hits.tracked(), 2u);
  EXPECT_TRUE(
      hits.covers(suppression_key("l", parse_group_hit(real)->entry_key), kNow + 1000, 300'000));
}

// Many distinct keys (a flood of records) stay within the capacity.
TEST(GroupHitRecord, AFloodStaysWithinTheCapacity) {
  GroupHits hits(300'000, 1000);
  int recorded = 0, not_recorded = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string json = R"({"list_id":"l","matched_plate":"A)" + std::to_string(i) +
                             R"(","matched_country":"NL","ts":")" + format_rfc3339(kNow + i) +
                             "\"}";
    const auto o = GroupHitFollower::take(json, kNow, 300'000, hits);
    if (o == GroupHitFollower::Outcome::recorded) ++recorded;
    if (o == GroupHitFollower::Outcome::not_recorded) ++not_recorded;
  }
  EXPECT_EQ(recorded, 1000);
  EXPECT_EQ(not_recorded, 4000);
  EXPECT_LE(hits.tracked(), 1000u);
}

}  // namespace
}  // namespace anpr::app
