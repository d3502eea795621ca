// The demo's synthetic camera feed (synth/feed.h) across list changes: the listed plates it sends
// come from the index's current version, and a version replaced (and freed) by a list change is
// never read again. ASan builds report a read of a freed snapshot; every build checks that the
// listed plates after a change are the new version's.
//
// The demo stays alive: over a simulated period of several suppression windows, the demo's lists
// (the samples and the demo-fleet list) and the feed's rotation keep the hits fresh, so the
// processor's suppression (match/suppression.h) lets through nearly every hit of every interval.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "ingest/list_file.h"
#include "lists/registry.h"
#include "match/suppression.h"
#include "match/time.h"
#include "pipeline/offline.h"

#include "synth/feed.h"
#include "ingest/cameras.h"
#include "match/index.h"
#include "match/plate.h"

namespace anpr::app {
namespace {

// One NL list whose plates all start with `prefix` (so two versions share no plate).
std::shared_ptr<const Snapshot> version(const std::string& prefix, int entries) {
  IndexBuilder b;
  ListMeta m;
  m.id = "nl-test";
  m.owner = kNL;
  m.mode = MatchMode::exact;
  m.version = prefix;
  const uint16_t l = b.add_list(m);
  for (int i = 0; i < entries; ++i)
    b.add(l, *Plate::from_normalized(prefix + std::to_string(100 + i)), kNL,
          Category::stolen_vehicle, Action::intercept, 20, kNoExpiry, prefix + std::to_string(i),
          "");
  return b.build();
}

const CameraRegistry& cameras() {
  static const CameraRegistry r = CameraRegistry::parse(
      "camera_id,country,site,lat,lon,control_room\nc1,NL,A2,52.1,5.0,R1\nc2,BE,E19,51.0,4.4,R2\n",
      "test cameras");
  return r;
}

// Every read listed, never misread, no candidates: each read's plate is one of the index's.
FeedOptions all_listed(uint64_t seed = 7) {
  FeedOptions o;
  o.listed_share = 1.0;
  o.misread_share = 0.0;
  o.candidate_share = 0.0;
  o.seed = seed;
  return o;
}

// The normalised plate of a read event the feed wrote.
std::string plate_of(const std::string& json) {
  simdjson::dom::parser parser;
  std::string_view raw;
  EXPECT_FALSE(parser.parse(json).get_object()["plate"].get_string().get(raw)) << json;
  auto p = normalize(raw);
  EXPECT_TRUE(p.ok()) << json;
  return p.ok() ? p->str() : std::string();
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

TEST(SyntheticFeed, ListedPlatesFollowAListChange) {
  LiveIndex live(version("AAA", 40));
  // Kept alive here, so a feed that still reads it sends its plates instead of crashing.
  const std::shared_ptr<const Snapshot> old = live.current();
  SyntheticFeed feed(cameras(), live, all_listed());
  std::string json, key;
  for (int i = 0; i < 50; ++i) {
    feed.next(1'700'000'000'000 + i, json, key);
    ASSERT_TRUE(starts_with(plate_of(json), "AAA")) << json;
  }
  live.publish(version("ZZZ", 300));
  for (int i = 0; i < 200; ++i) {
    feed.next(1'700'000'001'000 + i, json, key);
    ASSERT_TRUE(starts_with(plate_of(json), "ZZZ"))
        << "read " << i << " after the change is not from the new version: " << json;
  }
}

// The version a list change replaces is freed at once (nobody else holds it): the feed must never
// read it again (ASan: heap-use-after-free; other builds: garbage plates or a crash).
TEST(SyntheticFeed, AReplacedVersionIsNeverReadAgain) {
  LiveIndex live(version("AAA", 40));
  SyntheticFeed feed(cameras(), live, all_listed());
  std::string json, key;
  for (int i = 0; i < 50; ++i) {
    feed.next(1'700'000'000'000 + i, json, key);
    ASSERT_TRUE(starts_with(plate_of(json), "AAA")) << json;
  }
  live.publish(version("ZZZ", 300));
  std::set<std::string> seen;
  for (int i = 0; i < 500; ++i) {
    feed.next(1'700'000'001'000 + i, json, key);
    const std::string plate = plate_of(json);
    ASSERT_TRUE(starts_with(plate, "ZZZ")) << "read " << i << " after the change: " << json;
    seen.insert(plate);
  }
  // Drawn from the whole new version, not only from as many entries as the old one had.
  EXPECT_GT(seen.size(), 100u);
  // An empty version: no listed plates at all, and no read of an entry that is not there.
  live.publish(IndexBuilder().build());
  for (int i = 0; i < 50; ++i) {
    feed.next(1'700'000'002'000 + i, json, key);
    EXPECT_FALSE(starts_with(plate_of(json), "ZZZ")) << json;
  }
}

// List changes while the feed runs on another thread: every listed plate is from a version that
// was current during that read (ASan and TSan builds check the reclamation itself).
TEST(SyntheticFeed, ListChangesWhileTheFeedRuns) {
  LiveIndex live(version("AAA", 40));
  std::atomic<bool> stop{false};
  std::atomic<int> publishes{0};
  std::thread writer([&] {
    for (int v = 0; !stop.load(); ++v) {
      live.publish(version(v % 2 ? "BBB" : "AAA", 20 + (v % 5) * 30));
      publishes.fetch_add(1);
    }
  });
  SyntheticFeed feed(cameras(), live, all_listed(11));
  std::string json, key;
  int reads = 0;
  while (publishes.load() < 200 || reads < 2000) {
    feed.next(1'700'000'000'000 + reads, json, key);
    const std::string plate = plate_of(json);
    ASSERT_TRUE(starts_with(plate, "AAA") || starts_with(plate, "BBB")) << json;
    ++reads;
  }
  stop = true;
  writer.join();
}

// ---- the demo stays alive ----

TEST(SyntheticFeed, DemoFleetPlatesAreIssuedAndUnique) {
  EXPECT_EQ(demo_fleet_size(200, 0.01, 0), 0u);
  EXPECT_EQ(demo_fleet_size(200, 0.01, 300'000), 750u);  // 600 listed reads a window, + 25 %
  const std::string csv = demo_fleet_csv(500, 3);
  ListMeta m;
  m.id = "demo-fleet";
  m.owner = kNL;
  m.default_category = Category::stolen_vehicle;
  const ListLoad r = load_list_text(csv, "demo-fleet.csv", m);
  ASSERT_FALSE(r.fatal);
  EXPECT_EQ(r.rejected_count, 0u) << to_string(r.rejected.at(0));
  EXPECT_EQ(r.list->entries.size(), 500u);
}

// Hits published per simulated minute, with the demo's lists and the processor's suppression.
struct Minute {
  std::size_t matched = 0, published = 0;
};

std::vector<Minute> simulate_demo(double rate, double listed, int64_t window_ms, int minutes,
                                  bool fleet) {
  const TimestampMs t0 = *parse_rfc3339("2026-12-01T08:00:00Z");
  LiveIndex live;
  lists::Registry reg(live, lists::Policy{}, "", [t0] { return t0; });
  std::ostringstream log;
  for (const auto& f : std::filesystem::directory_iterator(std::string(ANPR_SOURCE_DIR) +
                                                           "/samples/lists"))
    if (f.path().extension() == ".csv") {
      EXPECT_TRUE(reg.import_config_file(f.path(), log)) << log.str();
    }
  if (fleet) {
    const std::string sidecar =
        "id = \"demo-fleet\"\nowner_country = \"NL\"\nmatch_mode = \"ocr\"\n"
        "category = \"stolen_vehicle\"\n";
    const std::string rows = demo_fleet_csv(demo_fleet_size(rate, listed, window_ms), 11);
    const auto r = reg.load(lists::ListInput{sidecar, rows, lists::Format::csv, "demo-fleet.csv"},
                            lists::Actor{"test", "operator"});
    EXPECT_TRUE(r.applied()) << r.detail;
  }
  FeedOptions o;
  o.listed_share = listed;
  o.fresh_window_ms = window_ms;
  o.seed = 5;
  SyntheticFeed feed(cameras(), live, o);
  Suppressor suppressor(window_ms);
  std::vector<Minute> out;
  std::string json, key;
  const auto reads_per_minute = static_cast<int64_t>(rate * 60);
  for (int m = 0; m < minutes; ++m) {
    std::string reads;
    for (int64_t i = 0; i < reads_per_minute; ++i) {
      feed.next(t0 + m * 60'000 + i * 60'000 / reads_per_minute, json, key);
      reads += json + "\n";
    }
    std::istringstream in(reads);
    Minute n;
    std::ostringstream err;
    const auto snap = live.current();
    const auto sink = [&](const HitReadView& r, const Snapshot& s, const IndexHit& h) {
      ++n.matched;
      const uint64_t entry_key = (s.entry_plate(h.entry).key() << CountryCode::kBits) |
                                 s.entry_country(h.entry).raw();
      if (suppressor.admit(s.list(s.entry_list(h.entry)).id, entry_key, *parse_rfc3339(r.ts)))
        ++n.published;
    };
    match_stream(*snap, in, "feed", sink, "test", err);
    out.push_back(n);
  }
  return out;
}

TEST(SyntheticFeed, TheDemoKeepsProducingFreshHitsPastTheSuppressionWindow) {
  // 4 simulated suppression windows of 5 minutes; 50 reads/s, 5 % of them listed: about 150
  // listed reads a minute.
  const std::vector<Minute> minutes = simulate_demo(50, 0.05, 300'000, 20, /*fleet=*/true);
  for (std::size_t m = 0; m < minutes.size(); ++m) {
    SCOPED_TRACE("minute " + std::to_string(m));
    EXPECT_GE(minutes[m].matched, 100u);
    // Suppression lets through nearly every hit: the listed plates rotate.
    EXPECT_GE(minutes[m].published * 10, minutes[m].matched * 9)
        << minutes[m].published << " of " << minutes[m].matched << " hits published";
  }
}

TEST(SyntheticFeed, WithOnlyTheSampleListsSuppressionStarvesTheDemo) {
  // What the demo did before it had the demo-fleet list: after the first minutes every listed
  // plate is within its window. This shows the simulation above can tell the difference.
  const std::vector<Minute> minutes = simulate_demo(50, 0.05, 300'000, 10, /*fleet=*/false);
  std::size_t late = 0, late_matched = 0;
  for (std::size_t m = 2; m < 5; ++m) {
    late += minutes[m].published;
    late_matched += minutes[m].matched;
  }
  EXPECT_GE(late_matched, 300u);
  EXPECT_LT(late * 10, late_matched) << late << " of " << late_matched;
}

}  // namespace
}  // namespace anpr::app
