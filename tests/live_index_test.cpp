// LiveIndex under concurrency: readers look up continuously while a writer publishes new
// versions. Every lookup must be answered wholly from one version, and no version may be freed
// while a reader can still see it (ASan and TSan builds run this test).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "match/index.h"

namespace anpr {
namespace {

// Version v lists the same plates in every version; each entry's reference names its version.
std::shared_ptr<const Snapshot> make_version(int v) {
  IndexBuilder b;
  ListMeta m;
  m.id = "versioned";
  m.mode = MatchMode::ocr_edit;
  m.version = std::to_string(v);
  const uint16_t l = b.add_list(m);
  const char* plates[] = {"AB12CD", "A812CD", "AB12C", "XY99ZZ", "ZZ00AA"};
  for (const char* p : plates)
    b.add(l, *Plate::from_normalized(p), kNL, Category::stolen_vehicle, Action::intercept, 1,
          kNoExpiry, "v" + std::to_string(v), "");
  // Some filler that changes with the version, so snapshots differ in size and layout.
  for (int i = 0; i < 50 + (v % 7) * 20; ++i) {
    std::string s = "F" + std::to_string(v % 13) + "X" + std::to_string(i);
    b.add(l, *Plate::from_normalized(s.substr(0, 10)), kBE, Category::suspect, Action::notify, 9,
          kNoExpiry, "v" + std::to_string(v), "");
  }
  return b.build();
}

class LiveIndexTest : public ::testing::TestWithParam<int> {};

TEST_P(LiveIndexTest, EachLookupSeesOneVersion) {
  const int readers = GetParam();
  LiveIndex live(make_version(0));
  std::atomic<bool> stop{false};
  std::atomic<long> lookups{0}, mixed{0}, wrong_count{0}, version_changes{0};

  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&] {
      const std::vector<Plate> plates{*Plate::from_normalized("AB12CD"),
                                      *Plate::from_normalized("XY99ZZ")};
      std::vector<IndexHit> hits;
      std::string last;
      while (!stop.load(std::memory_order_relaxed)) {
        auto reader = live.read();
        hits.clear();
        reader->match(MatchQuery{kNL, 0, plates}, hits);
        // AB12CD hits AB12CD (exact), A812CD (ocr), AB12C (edit); XY99ZZ hits itself.
        if (hits.size() != 4) wrong_count.fetch_add(1);
        const std::string& version = reader->list(0).version;
        for (const IndexHit& h : hits)
          if (reader->entry_reference(h.entry) != "v" + version) mixed.fetch_add(1);
        if (version != last) {
          version_changes.fetch_add(1);
          last = version;
        }
        lookups.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // Publish new versions while the readers run; each publish waits for readers of the old one.
  const int kVersions = 200;
  for (int v = 1; v <= kVersions; ++v) {
    live.publish(make_version(v));
    // Let readers make progress on each version now and then.
    if (v % 20 == 0) {
      long seen = lookups.load();
      while (lookups.load() < seen + readers * 10) std::this_thread::yield();
    }
  }
  stop = true;
  for (auto& t : threads) t.join();

  EXPECT_EQ(mixed.load(), 0) << "a lookup saw entries of two versions";
  EXPECT_EQ(wrong_count.load(), 0);
  EXPECT_GT(lookups.load(), 0);
  EXPECT_GT(version_changes.load(), readers) << "readers never saw a new version";
  EXPECT_EQ(live.version_count(), static_cast<uint64_t>(kVersions));
  EXPECT_EQ(live.read()->list(0).version, std::to_string(kVersions));
}

INSTANTIATE_TEST_SUITE_P(Readers, LiveIndexTest, ::testing::Values(1, 2, 4, 8));

TEST(LiveIndexTest, ConcurrentPublishers) {
  LiveIndex live(make_version(0));
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w)
    writers.emplace_back([&, w] {
      for (int i = 0; i < 30; ++i) live.publish(make_version(w * 100 + i));
    });
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    const std::vector<Plate> plates{*Plate::from_normalized("XY99ZZ")};
    std::vector<IndexHit> hits;
    while (!stop) {
      auto r = live.read();
      hits.clear();
      r->match(MatchQuery{kNL, 0, plates}, hits);
      ASSERT_EQ(hits.size(), 1u);
    }
  });
  for (auto& t : writers) t.join();
  stop = true;
  reader.join();
  EXPECT_EQ(live.version_count(), 90u);
}

TEST(LiveIndexTest, OldVersionFreedOnlyAfterReadersLeave) {
  auto v0 = make_version(0);
  std::weak_ptr<const Snapshot> weak = v0;
  LiveIndex live(std::move(v0));
  std::atomic<bool> published{false};
  std::thread writer;
  {
    auto reader = live.read();  // pins version 0
    writer = std::thread([&] {
      live.publish(make_version(1));
      published = true;
    });
    // The writer must wait for this reader: publish cannot return while we hold version 0.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(published.load());
    EXPECT_FALSE(weak.expired());
    EXPECT_EQ(reader->list(0).version, "0");
  }  // leaving the section lets the writer finish
  writer.join();
  EXPECT_TRUE(published.load());
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(live.read()->list(0).version, "1");
}

// Regression: publish() used to wait for readers while holding the mutex current() takes, so a
// reader calling current() inside its section while a publish waited on it deadlocked.
TEST(LiveIndexTest, CurrentInsideSectionDuringPublishDoesNotDeadlock) {
  LiveIndex live(make_version(0));
  std::atomic<bool> published{false};
  std::thread writer;
  {
    auto reader = live.read();
    writer = std::thread([&] {
      live.publish(make_version(1));
      published = true;
    });
    while (live.version_count() == 0) std::this_thread::yield();  // the writer now waits for us
    EXPECT_EQ(live.current()->list(0).version, "1");
    EXPECT_FALSE(published.load());
  }
  writer.join();
  EXPECT_TRUE(published.load());
}

TEST(EpochTest, SynchronizeInsideSectionAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        EpochGuard g;
        synchronize();
      },
      "inside a read-side section");
}

}  // namespace
}  // namespace anpr
