// Covert lists (docs/operators.md, "Covert lists"; docs/design.md §6): the sidecar's `covert` and
// `rooms` with every malformed form refused, the hit record's covert audience, the control rooms'
// feed that shows a covert hit only to the rooms its list names, and /metrics that never names a
// covert list. The processor end to end: covert_lists_it_test.cpp.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "export/hit_json.h"
#include "ingest/list_file.h"
#include "match/live_index.h"
#include "metrics/metrics.h"
#include "pipeline/run_metrics.h"
#include "serve/hit_feed.h"
#include "tests/hits.h"

namespace anpr {
namespace {

const std::string kBase = "id = \"nl-secret\"\nowner_country = \"NL\"\n";

TEST(CovertSidecar, CovertWithRoomsIsAcceptedAndDefaultsToNotCovert) {
  SidecarParse p = parse_sidecar(kBase + "covert = true\nrooms = [\"NL-MIDDEN\", \"*\"]\n", "l.toml");
  ASSERT_TRUE(p.meta) << to_string(*p.error);
  EXPECT_TRUE(p.meta->covert);
  EXPECT_EQ(p.meta->rooms, (std::vector<std::string>{"NL-MIDDEN", "*"}));
  p = parse_sidecar(kBase, "l.toml");
  ASSERT_TRUE(p.meta);
  EXPECT_FALSE(p.meta->covert);
  EXPECT_TRUE(p.meta->rooms.empty());
  p = parse_sidecar(kBase + "covert = false\n", "l.toml");
  ASSERT_TRUE(p.meta);
  EXPECT_FALSE(p.meta->covert);
}

TEST(CovertSidecar, MalformedCovertOrRoomsAreRefusedWithTheLineAndWhy) {
  std::string many = "rooms = [";
  for (int i = 0; i < 65; ++i) many += (i ? ", \"R" : "\"R") + std::to_string(i) + "\"";
  many += "]\n";
  const struct {
    std::string text, want;
  } cases[] = {
      {"covert = true\n", "l.toml:3:10: a covert list needs 'rooms'"},
      {"covert = true\nrooms = []\n", "a covert list needs 'rooms'"},
      {"rooms = [\"R1\"]\n", "'rooms' is only for covert lists"},
      {"covert = false\nrooms = [\"R1\"]\n", "'rooms' is only for covert lists"},
      {"covert = \"yes\"\nrooms = [\"R1\"]\n", "'covert' must be true or false"},
      {"covert = 1\nrooms = [\"R1\"]\n", "'covert' must be true or false"},
      {"covert = true\nrooms = \"R1\"\n", "'rooms' must be an array"},
      {"covert = true\nrooms = [1]\n", "'rooms' must hold strings"},
      {"covert = true\nrooms = [[\"R1\"]]\n", "'rooms' must hold strings"},
      {"covert = true\nrooms = [\"\"]\n", "1..64 bytes without control characters"},
      {"covert = true\nrooms = [\"R\\u0001\"]\n", "1..64 bytes without control characters"},
      {"covert = true\nrooms = [\"" + std::string(65, 'R') + "\"]\n", "1..64 bytes"},
      {"covert = true\nrooms = [\"R1\", \"R1\"]\n", "names 'R1' twice"},
      {"covert = true\n" + many, "expected at most 64"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const SidecarParse p = parse_sidecar(kBase + c.text, "l.toml");
    ASSERT_TRUE(p.error);
    EXPECT_FALSE(p.meta);
    const std::string msg = to_string(*p.error);
    EXPECT_NE(msg.find(c.want), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("l.toml:", 0), 0u) << msg;
  }
}

std::unique_ptr<Snapshot> two_lists() {
  IndexBuilder b;
  ListMeta open;
  open.id = "nl-stolen";
  open.owner = kNL;
  ListMeta secret;
  secret.id = "nl-secret-ops";
  secret.owner = kNL;
  secret.covert = true;
  secret.rooms = {"R-SECRET"};
  const uint16_t a = b.add_list(open), s = b.add_list(secret);
  b.add(a, *Plate::from_normalized("GB123X"), kNL, Category::stolen_vehicle, Action::intercept, 20,
        kNoExpiry, "REF-1", "");
  b.add(s, *Plate::from_normalized("XX999X"), kNL, Category::suspect, Action::observe, 20,
        kNoExpiry, "REF-2", "");
  return b.build();
}

TEST(CovertHitRecord, NamesItsRoomsAndAnOrdinaryHitSaysNothingOfIt) {
  auto s = two_lists();
  HitReadView r;
  r.event_id = "e1";
  r.camera_id = "cam";
  r.ts = "2026-11-23T08:00:00.000Z";
  r.control_room = "R-NL";
  simdjson::dom::parser parser;
  for (uint32_t e = 0; e < s->entry_count(); ++e) {
    std::string out;
    append_hit_json(out, r, *s, IndexHit{e, MatchKind::exact, 0, 0});
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
    std::string_view list;
    ASSERT_EQ(doc["list_id"].get(list), simdjson::SUCCESS);
    bool covert = false;
    if (list == "nl-secret-ops") {
      ASSERT_EQ(doc["covert"].get(covert), simdjson::SUCCESS) << out;
      EXPECT_TRUE(covert);
      std::string_view room;
      ASSERT_EQ(doc["covert_rooms"].at(0).get(room), simdjson::SUCCESS) << out;
      EXPECT_EQ(room, "R-SECRET");
    } else {
      EXPECT_EQ(out.find("covert"), std::string::npos) << out;
    }
  }
}

TEST(CovertMetrics, TheIndexMetricsNeverNameACovertList) {
  LiveIndex index{std::shared_ptr<const Snapshot>(two_lists())};
  metrics::Collector c = app::collect_index(index);
  const std::string text = metrics::scrape();
  EXPECT_NE(text.find("anpr_reference_entries{list=\"nl-stolen\"} 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("nl-secret-ops"), std::string::npos) << text;
}

// A covert hit: camera of room R-NL, list naming R-SECRET.
std::string covert_hit(const std::string& id, const std::string& rooms_json) {
  std::string h = testing::hit_json(id, "R-NL");
  h.pop_back();
  return h + R"(,"covert":true,"covert_rooms":)" + rooms_json + "}";
}

std::vector<std::string> seen_by(app::HitFeed& f, std::string_view room) {
  std::vector<std::string> ids;
  for (const app::FeedEvent& e : f.events_after(0, room, std::chrono::milliseconds(0), 100))
    ids.push_back(e.hit_id);
  return ids;
}

TEST(CovertFeed, ACovertHitReachesOnlyTheRoomsItsListNames) {
  app::HitFeed f(100);
  ASSERT_TRUE(f.add_hit(testing::hit_json("open1", "R-NL")));
  ASSERT_TRUE(f.add_hit(covert_hit("sec1", R"(["R-SECRET","R-OTHER"])")));
  EXPECT_EQ(seen_by(f, "R-SECRET"), std::vector<std::string>{"sec1"});
  EXPECT_EQ(seen_by(f, "R-OTHER"), std::vector<std::string>{"sec1"});
  EXPECT_EQ(seen_by(f, "R-NL"), std::vector<std::string>{"open1"}) << "the camera's own room";
  EXPECT_EQ(seen_by(f, "*"), std::vector<std::string>{"open1"}) << "not named: not seen";
  EXPECT_EQ(f.lookup("sec1", "R-NL"), app::HitFeed::Lookup::not_visible);
  EXPECT_EQ(f.reserve_ack("sec1", "*"), app::HitFeed::Lookup::not_visible);
  EXPECT_EQ(f.reserve_ack("sec1", "R-SECRET"), app::HitFeed::Lookup::open);
  // Its acknowledgement goes to the same rooms only.
  ASSERT_TRUE(f.add_ack(R"({"hit_id":"sec1","acknowledged_by":"x"})"));
  const auto events = f.events_after(0, "R-NL", std::chrono::milliseconds(0), 100);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].hit_id, "open1");
  EXPECT_EQ(f.events_after(0, "R-SECRET", std::chrono::milliseconds(0), 100).size(), 2u);
}

TEST(CovertFeed, AStarRoomSeesACovertHitOnlyWhenTheListNamesIt) {
  app::HitFeed f(100);
  ASSERT_TRUE(f.add_hit(covert_hit("sec1", R"(["*"])")));
  EXPECT_EQ(seen_by(f, "*"), std::vector<std::string>{"sec1"});
  EXPECT_TRUE(seen_by(f, "R-NL").empty());
}

// `hit` with `extra` fields added at its end.
std::string with(std::string hit, const std::string& extra) {
  hit.insert(hit.size() - 1, extra);
  return hit;
}

TEST(CovertFeed, AMalformedCovertMarkFailsClosed) {
  app::HitFeed f(100);
  using testing::hit_json;
  // A mark of another type, rooms missing, not an array, only unusable names: seen by nobody.
  for (const auto& [id, extra] : std::vector<std::pair<std::string, std::string>>{
           {"c1", R"(,"covert":"yes","covert_rooms":["R-NL"])"},
           {"c2", R"(,"covert":true)"},
           {"c3", R"(,"covert":true,"covert_rooms":"R-NL")"},
           {"c4", R"(,"covert":true,"covert_rooms":[1,null,{"a":"R-NL"},"",")" +
                      std::string(65, 'R') + R"("])"},
           {"c5", R"(,"covert":null,"covert_rooms":["R-NL"])"},
           {"c6", R"(,"covert":1,"covert_rooms":["R-NL"])"}})
    ASSERT_TRUE(f.add_hit(with(hit_json(id, "R-NL"), extra))) << id;
  for (const char* room : {"R-NL", "*", ""}) EXPECT_TRUE(seen_by(f, room).empty()) << room;
  // "covert": false is an ordinary hit, whatever rooms it claims.
  ASSERT_TRUE(f.add_hit(with(hit_json("c7", "R-NL"), R"(,"covert":false,"covert_rooms":["R-X"])")));
  EXPECT_EQ(seen_by(f, "R-NL"), std::vector<std::string>{"c7"});
  EXPECT_TRUE(seen_by(f, "R-X").empty());
}

}  // namespace
}  // namespace anpr
