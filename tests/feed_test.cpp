// The demo's synthetic camera feed (synth/feed.h) across list changes: the listed plates it sends
// come from the index's current version, and a version replaced (and freed) by a list change is
// never read again. ASan builds report a read of a freed snapshot; every build checks that the
// listed plates after a change are the new version's.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>

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

}  // namespace
}  // namespace anpr::app
