// The retention store against a fake clock: records are found until their deadline and never
// from it on, before and after a purge; a purge deletes them (not merely hides them); policies
// per camera country, for passages and hits; a shortened policy takes effect.
#include "store/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <thread>
#include <filesystem>
#include <fstream>

#include "config/settings.h"
#include "match/plate.h"
#include "store/writer.h"

namespace anpr::store {
namespace {

namespace fs = std::filesystem;
constexpr TimestampMs kHour = 3'600'000;
constexpr TimestampMs kT = 1'795'500'000'000;  // 2026-11-24

Plate plate(const char* s) { return *Plate::from_normalized(s); }

class RetentionStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("anpr-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    now_ = kT;
    open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void open(std::vector<config::RetentionPolicy> p = config::default_retention_policies(),
            uint64_t segment_bytes = 64 << 20) {
    store_.reset();
    Options o;
    o.dir = dir_;
    o.segment_bytes = segment_bytes;
    o.direct_io = direct_;
    o.fault = [this](std::string_view what) { return what == fail_at_ ? fail_errno_.load() : 0; };
    o.clock = [this] { return now_.load(); };
    store_ = std::make_unique<Store>(std::move(o), std::move(p));
  }
  static Record rec(Kind k, CountryCode c, TimestampMs ts, const char* p, std::string id,
                    std::string cam = "cam-1") {
    Record r;
    r.kind = k;
    r.camera_country = c;
    r.captured = ts;
    r.plate = plate(p);
    r.camera_id = cam;
    r.id = id;
    r.json = "{\"id\":\"" + id + "\"}";
    return r;
  }
  std::size_t put(std::vector<Record> rs) { return store_->write(rs); }
  std::size_t found(const char* p, bool ocr = false, std::vector<CountryCode> countries = {}) {
    Query q;
    q.plate = plate(p);
    q.ocr_tolerant = ocr;
    q.countries = std::move(countries);
    return store_->search(q).records.size();
  }
  // Found at `at`, before a purge and after one; then whether the purge deleted it (the clock
  // goes back to the capture time, where a record still stored would be found).
  void expect_visible_until(const char* p, TimestampMs deadline) {
    now_ = deadline - kHour;
    EXPECT_EQ(found(p), 1u) << "an hour before the deadline";
    now_ = deadline - 1;
    EXPECT_EQ(found(p), 1u) << "a millisecond before the deadline";
    store_->purge();
    EXPECT_EQ(found(p), 1u) << "after a purge a millisecond before the deadline";
    now_ = deadline;
    EXPECT_EQ(found(p), 0u) << "at the deadline, before the purge";
    now_ = deadline + 200 * kDayMs;
    EXPECT_EQ(found(p), 0u) << "long after the deadline, purge late";
    store_->purge();
    EXPECT_EQ(found(p), 0u) << "after the purge";
    now_ = kT;
    EXPECT_EQ(found(p), 0u) << "the purge left it on disk";
  }

  // Why a store on `o` cannot be opened ("" if it opens).
  static std::string refusal(const Options& o) {
    try {
      Store s(o, config::default_retention_policies());
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }
  std::vector<fs::path> files(const std::string& ext) const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().extension() == ext) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
  bool direct_ = true;  // O_DIRECT writes (the file systems of the tests allow them)
  std::string fail_at_;               // "write" or "sync": that step fails with fail_errno_
  std::atomic<int> fail_errno_{0};
  std::atomic<TimestampMs> now_{kT};
  std::unique_ptr<Store> store_;
};

TEST_F(RetentionStore, NetherlandsPassageIsKept28Days) {
  ASSERT_EQ(put({rec(Kind::passage, kNL, kT, "AB123C", "e1")}), 1u);
  now_ = kT + 27 * kDayMs + 23 * kHour;
  EXPECT_EQ(found("AB123C"), 1u);
  expect_visible_until("AB123C", kT + 28 * kDayMs);
}

TEST_F(RetentionStore, BelgianPassageIsKeptTwelveMonths) {
  ASSERT_EQ(put({rec(Kind::passage, kBE, kT, "1ABC123", "e1")}), 1u);
  now_ = kT + 364 * kDayMs + 23 * kHour;
  EXPECT_EQ(found("1ABC123"), 1u);
  expect_visible_until("1ABC123", kT + 365 * kDayMs);
}

TEST_F(RetentionStore, LuxembourgPassagesAreNeverStored) {
  EXPECT_EQ(put({rec(Kind::passage, kLU, kT, "AB1234", "e1")}), 0u);
  EXPECT_EQ(found("AB1234"), 0u);
  EXPECT_EQ(store_->stats()[kLU].stored, 0u);
  EXPECT_EQ(store_->stats()[kLU].skipped, 1u);
  // A Luxembourg hit is kept, 28 days.
  EXPECT_EQ(put({rec(Kind::hit, kLU, kT, "AB1234", "h1")}), 1u);
  expect_visible_until("AB1234", kT + 28 * kDayMs);
}

TEST_F(RetentionStore, HitsFollowTheHitPolicy) {
  // NL: hits 365 days, passages 28: a hit outlives the passage of the same plate.
  put({rec(Kind::hit, kNL, kT, "XY99ZZ", "h1"), rec(Kind::passage, kNL, kT, "XY99ZZ", "p1")});
  now_ = kT + 29 * kDayMs;
  Query q;
  q.plate = plate("XY99ZZ");
  auto r = store_->search(q);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].kind, Kind::hit);
  EXPECT_EQ(r.records[0].deadline, kT + 365 * kDayMs);
  EXPECT_EQ(r.records[0].json, "{\"id\":\"h1\"}");
  expect_visible_until("XY99ZZ", kT + 365 * kDayMs);
}

TEST_F(RetentionStore, ACountryWithoutPolicyKeepsNothingAndZeroHitDaysKeepsNoHits) {
  auto p = config::default_retention_policies();
  p[1].hit_days = 0;  // BE
  open(p);
  EXPECT_EQ(put({rec(Kind::passage, *CountryCode::parse("DE"), kT, "B1234", "e1"),
                 rec(Kind::hit, kBE, kT, "B1234", "h1")}),
            0u);
  EXPECT_EQ(found("B1234"), 0u);
}

TEST_F(RetentionStore, ShorteningAPolicyTakesEffectOnReadAndAtTheNextPurge) {
  put({rec(Kind::passage, kBE, kT, "1ABC123", "e1"), rec(Kind::passage, kNL, kT, "AB123C", "e2")});
  auto p = config::default_retention_policies();
  p[1].passage_days = 30;  // BE: 365 -> 30
  store_->set_policies(p);
  now_ = kT + 29 * kDayMs;
  EXPECT_EQ(found("1ABC123"), 1u);
  now_ = kT + 30 * kDayMs;
  EXPECT_EQ(found("1ABC123"), 0u) << "read after the new deadline";
  store_->purge();
  store_->set_policies(config::default_retention_policies());  // lengthening again...
  EXPECT_EQ(found("1ABC123"), 0u) << "...does not bring back what was purged";
  now_ = kT;
  EXPECT_EQ(found("1ABC123"), 0u) << "the purge deleted it";
  // Turning passages off altogether deletes the kept ones at the next purge.
  p = config::default_retention_policies();
  p[0].keep_passages = false;
  store_->set_policies(p);
  EXPECT_EQ(found("AB123C"), 0u);
  store_->purge();
  store_->set_policies(config::default_retention_policies());
  EXPECT_EQ(found("AB123C"), 0u);
}

TEST_F(RetentionStore, LengtheningAPolicyNeverExtendsAStoredDeadline) {
  put({rec(Kind::passage, kNL, kT, "AB123C", "e1")});
  auto p = config::default_retention_policies();
  p[0].passage_days = 90;
  store_->set_policies(p);
  now_ = kT + 28 * kDayMs - 1;
  EXPECT_EQ(found("AB123C"), 1u) << "there until its stored deadline";
  now_ = kT + 28 * kDayMs;
  EXPECT_EQ(found("AB123C"), 0u);
}

TEST_F(RetentionStore, PartlyExpiredBucketsLoseOnlyTheirExpiredRecords) {
  // Two NL passages six hours apart: one bucket (a day); at the first one's deadline only it goes.
  put({rec(Kind::passage, kNL, kT, "AA11BB", "e1")});
  now_ = kT + 6 * kHour;
  put({rec(Kind::passage, kNL, kT + 6 * kHour, "CC22DD", "e2")});
  now_ = kT + 28 * kDayMs + kHour;
  store_->purge();
  EXPECT_EQ(found("CC22DD"), 1u);
  now_ = kT;
  EXPECT_EQ(found("AA11BB"), 0u) << "the expired record of a partly expired bucket was kept";
  EXPECT_EQ(found("CC22DD"), 1u);
  EXPECT_GE(store_->stats()[kNL].purged, 1u);
}

// Every record is filtered by its own deadline, not only by its segment's: a record past its
// deadline is not served while a later record of the same segment still lives and no purge ran.
// Checked on the active segment, on a sealed one, and after reopening the store.
TEST_F(RetentionStore, ARecordPastItsDeadlineIsNotServedBesideALiveOneBeforeAPurge) {
  auto check = [&](const char* where) {
    now_ = kT + 28 * kDayMs - 1;
    EXPECT_EQ(found("AA11BB"), 1u) << where << ": a millisecond before its deadline";
    now_ = kT + 28 * kDayMs;  // AA11BB's deadline; CC22DD lives six hours more
    EXPECT_EQ(found("CC22DD"), 1u) << where;
    EXPECT_EQ(found("AA11BB"), 0u) << where << ": served at its deadline, no purge having run";
    EXPECT_EQ(found("AA11BB", true), 0u) << where << ": served (OCR-tolerant search)";
    now_ = kT + 28 * kDayMs + 5 * kHour;
    EXPECT_EQ(found("AA11BB"), 0u) << where << ": served hours after its deadline";
    EXPECT_EQ(found("CC22DD"), 1u) << where;
  };
  put({rec(Kind::passage, kNL, kT, "AA11BB", "e1")});
  now_ = kT + 6 * kHour;
  put({rec(Kind::passage, kNL, kT + 6 * kHour, "CC22DD", "e2")});
  ASSERT_EQ(files(".seg").size(), 1u) << "both records in one segment";
  check("active segment");
  now_ = kT + 6 * kHour;
  open();
  check("after reopening");
}

TEST_F(RetentionStore, ARecordPastItsDeadlineIsNotServedFromASealedSegmentBeforeAPurge) {
  open(config::default_retention_policies(), 4096);
  put({rec(Kind::passage, kNL, kT, "AA11BB", "e1")});
  now_ = kT + 6 * kHour;
  // The same plate six hours later, and enough other records to seal the segment.
  std::vector<Record> rs{rec(Kind::passage, kNL, kT + 6 * kHour, "AA11BB", "e2")};
  for (int i = 0; i < 60; ++i)
    rs.push_back(rec(Kind::passage, kNL, kT + 6 * kHour + i, "XY99ZZ", "f" + std::to_string(i)));
  put(rs);
  ASSERT_GE(files(".idx").size(), 1u) << "no segment was sealed";
  Query q;
  q.plate = plate("AA11BB");
  now_ = kT + 28 * kDayMs - 1;
  ASSERT_EQ(store_->search(q).records.size(), 2u) << "both there before the first deadline";
  now_ = kT + 28 * kDayMs;
  const auto r = store_->search(q).records;
  ASSERT_EQ(r.size(), 1u) << "the record past its deadline was served, no purge having run";
  EXPECT_EQ(r[0].captured, kT + 6 * kHour);
  EXPECT_EQ(r[0].json, "{\"id\":\"e2\"}");
}

TEST_F(RetentionStore, FutureCaptureTimesDoNotExtendRetention) {
  // A camera whose clock runs a year ahead: the record's deadline counts from when it was written.
  put({rec(Kind::passage, kNL, kT + 365 * kDayMs, "AB123C", "e1")});
  now_ = kT + 28 * kDayMs - 1;
  EXPECT_EQ(found("AB123C"), 1u) << "kept 28 days from when it was written";
  now_ = kT + 28 * kDayMs;
  EXPECT_EQ(found("AB123C"), 0u);
}

TEST_F(RetentionStore, AFutureCaptureTimeCannotMoveARecordIntoAnotherSearchRange) {
  // A BE camera whose clock ran a year ahead, written 40 days ago: it is 40 days old, past BE's
  // first month (order_after_days 30), whatever its capture time says.
  now_ = kT - 40 * kDayMs;
  put({rec(Kind::passage, kBE, kT - 40 * kDayMs + 365 * kDayMs, "1ABC123", "e1")});
  now_ = kT;
  Query q;
  q.plate = plate("1ABC123");
  q.from = kT - 30 * kDayMs;  // BE's first month: a justification suffices (serve/search_api.cpp)
  EXPECT_TRUE(store_->search(q).records.empty()) << "a year-ahead clock put it in the first month";
  q.from = kT - 60 * kDayMs;
  q.to = kT;  // its capture time is later, its trusted time is not
  const SearchResult r = store_->search(q);
  ASSERT_EQ(r.records.size(), 1u);
  const Found& f = r.records[0];
  EXPECT_EQ(f.captured, kT - 40 * kDayMs + 365 * kDayMs);
  EXPECT_EQ(f.trusted, kT - 40 * kDayMs);
  EXPECT_EQ(f.deadline, kT - 40 * kDayMs + 365 * kDayMs) << "365 days from when it was written";
  q.to = kT - 41 * kDayMs;
  EXPECT_TRUE(store_->search(q).records.empty());
  // A record on time: its trusted time is its capture time.
  put({rec(Kind::passage, kBE, kT - kHour, "1ABC123", "e2")});
  q.from = kT - 2 * kHour;
  q.to = kT;
  const SearchResult now = store_->search(q);
  ASSERT_EQ(now.records.size(), 1u);
  EXPECT_EQ(now.records[0].trusted, kT - kHour);
  EXPECT_EQ(now.records[0].captured, kT - kHour);
}

TEST_F(RetentionStore, RecordsAlreadyPastTheirDeadlineAreNotWritten) {
  EXPECT_EQ(put({rec(Kind::passage, kNL, kT - 28 * kDayMs, "AB123C", "old")}), 0u);
  EXPECT_EQ(put({rec(Kind::passage, kNL, kT - 28 * kDayMs + kHour, "AB123C", "recent")}), 1u);
  EXPECT_EQ(found("AB123C"), 1u) << "the recent one is there, the old one is not";
  now_ = kT + kHour;
  EXPECT_EQ(found("AB123C"), 0u);
}

TEST_F(RetentionStore, SearchFiltersAndOcrTolerance) {
  put({rec(Kind::passage, kNL, kT, "AB123C", "e1", "cam-1"),
       rec(Kind::passage, kNL, kT + 1000, "AB12JC", "other", "cam-1"),
       rec(Kind::passage, kNL, kT + 2000, "A8I23C", "ocr", "cam-2"),  // B~8, 1~I
       rec(Kind::passage, kBE, kT + 3000, "AB123C", "e3", "cam-3"),
       rec(Kind::hit, kNL, kT + 4000, "AB123C", "h1", "cam-1")});
  EXPECT_EQ(found("AB123C"), 3u);  // exact: NL passage, BE passage, NL hit
  EXPECT_EQ(found("AB123C", true), 4u);
  EXPECT_EQ(found("A8I23C", true), 4u);
  EXPECT_EQ(found("AB123C", false, {kBE}), 1u);
  Query q;
  q.plate = plate("AB123C");
  q.cameras = {"cam-1"};
  q.hits = false;
  EXPECT_EQ(store_->search(q).records.size(), 1u);
  q = Query{};
  q.plate = plate("AB123C");
  q.from = kT + 1;
  q.to = kT + 3000;
  auto r = store_->search(q);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].camera_country, kBE);
  q.from = 0;
  q.to = INT64_MAX;
  q.limit = 2;
  r = store_->search(q);
  EXPECT_EQ(r.records.size(), 2u);
  EXPECT_TRUE(r.truncated);
}

TEST_F(RetentionStore, WritingTheSameRecordTwiceKeepsOne) {
  put({rec(Kind::passage, kNL, kT, "AB123C", "e1")});
  put({rec(Kind::passage, kNL, kT, "AB123C", "e1")});
  EXPECT_EQ(found("AB123C"), 1u);
}

TEST_F(RetentionStore, SurvivesReopeningAndKeepsDeadlines) {
  put({rec(Kind::passage, kNL, kT, "AB123C", "e1"), rec(Kind::passage, kBE, kT, "1ABC123", "e2")});
  open();
  EXPECT_EQ(found("AB123C"), 1u);
  EXPECT_EQ(found("1ABC123"), 1u);
  EXPECT_EQ(store_->stats()[kNL].oldest_base, kT);
  now_ = kT + 28 * kDayMs;
  store_->purge();
  open();
  now_ = kT;
  EXPECT_EQ(found("AB123C"), 0u);
  EXPECT_EQ(found("1ABC123"), 1u);
}

TEST_F(RetentionStore, ExpiredBucketsAreDroppedWhole) {
  for (int day = 0; day < 40; ++day) {
    now_ = kT + day * kDayMs;
    put({rec(Kind::passage, kNL, now_, "AB123C", "e" + std::to_string(day))});
  }
  EXPECT_EQ(store_->stats()[kNL].buckets, 40u);
  now_ = kT + 40 * kDayMs;
  const PurgeResult r = store_->purge();
  EXPECT_GE(r.buckets_dropped, 12u);
  EXPECT_LE(store_->stats()[kNL].buckets, 29u);
  EXPECT_EQ(found("AB123C"), 27u);  // captured on days 13..39
  EXPECT_EQ(store_->stats()[kNL].oldest_base, kT + 13 * kDayMs);
}

TEST_F(RetentionStore, GroupCommitWriterCallsBackOnceDurable) {
  std::atomic<int> done{0};
  {
    Writer w(*store_);
    for (int i = 0; i < 100; ++i)
      w.submit({rec(Kind::passage, kNL, kT, "AB123C", "e" + std::to_string(i))}, [&] { ++done; });
  }
  EXPECT_EQ(done.load(), 100);
  EXPECT_EQ(found("AB123C"), 100u);
}

// Writers, purges and searches at once, with the clock running through several deadlines: no
// record within its deadline is lost, none past it is served.
TEST_F(RetentionStore, WritesPurgesAndSearchesRunTogether) {
  std::atomic<bool> stop{false};
  std::atomic<int> late{0};
  std::vector<TimestampMs> deadlines[2];  // of each writer's records
  auto writer = [&](int w) {
    for (int i = 0; i < 100; ++i) {
      const TimestampMs t = now_.load();
      if (put({rec(Kind::passage, w ? kBE : kNL, t, "AB123C",
                   "w" + std::to_string(w) + "-" + std::to_string(i))}) == 1)
        deadlines[w].push_back(t + (w ? 365 : 28) * kDayMs);
    }
  };
  std::thread clock([&] {
    // Through several NL deadlines, not through BE's (200 days at most).
    while (!stop && now_.load() < kT + 200 * kDayMs) {
      now_ += 4 * kHour;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::thread purger([&] {
    while (!stop) {
      store_->purge();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::thread searcher([&] {
    while (!stop) {
      Query q;
      q.plate = plate("AB123C");
      q.limit = 10'000;
      const TimestampMs at = now_.load();
      for (const Found& f : store_->search(q).records)
        if (f.deadline <= at) ++late;
    }
  });
  std::thread w0(writer, 0), w1(writer, 1);
  w0.join();
  w1.join();
  stop = true;
  clock.join();
  purger.join();
  searcher.join();
  EXPECT_EQ(late.load(), 0) << "records served at or past their deadline";
  // After a last purge, exactly the records within their deadline are there.
  store_->purge();
  const TimestampMs at = now_.load();
  std::size_t want = 0;
  for (const auto& d : deadlines)
    want += static_cast<std::size_t>(std::count_if(d.begin(), d.end(), [&](TimestampMs x) { return x > at; }));
  Query q;
  q.plate = plate("AB123C");
  q.limit = 10'000;
  EXPECT_EQ(store_->search(q).records.size(), want);
  EXPECT_GT(want, 0u);
}

// A crash while a frame was being appended leaves a torn end: it is cut off when the store is
// opened again, and every whole frame before it is there. Nothing is appended after garbage.
TEST_F(RetentionStore, ATornLastFrameIsCutOffAndTheFramesBeforeItAreKept) {
  put({rec(Kind::passage, kNL, kT, "AB123C", "e1")});
  put({rec(Kind::passage, kNL, kT + 1, "AB123C", "e2"), rec(Kind::passage, kNL, kT + 2, "XY99ZZ", "e3")});
  store_.reset();
  auto segs = files(".seg");
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(files(".idx").empty()) << "an active segment has no index file yet";
  const auto whole = fs::file_size(segs[0]);
  fs::resize_file(segs[0], whole - 7);  // the second write, torn
  open();
  EXPECT_EQ(found("AB123C"), 1u) << "the first write is whole and stays";
  EXPECT_EQ(found("XY99ZZ"), 0u) << "a torn frame is not half read";
  EXPECT_EQ(files(".idx").size(), 1u) << "the segment read again is sealed";
  // Garbage after the whole frames (a crash while appending) is cut off as well.
  put({rec(Kind::passage, kNL, kT + 3, "AB123C", "e4")});
  store_.reset();
  segs = files(".seg");
  ASSERT_EQ(segs.size(), 2u);
  const auto before = fs::file_size(segs[1]);
  { std::ofstream(segs[1], std::ios::app | std::ios::binary) << std::string(100, 'Z'); }
  open();
  EXPECT_EQ(fs::file_size(segs[1]), before);
  EXPECT_EQ(found("AB123C"), 2u);
  put({rec(Kind::passage, kNL, kT + 4, "AB123C", "e5")});
  open();
  EXPECT_EQ(found("AB123C"), 3u);
}

// A flipped byte inside a frame fails its CRC: that frame and what follows are not served.
TEST_F(RetentionStore, ACorruptFrameIsNotServed) {
  put({rec(Kind::passage, kNL, kT, "AB123C", "e1")});
  put({rec(Kind::passage, kNL, kT + 1, "XY99ZZ", "e2")});
  store_.reset();
  const auto seg = files(".seg").at(0);
  std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(fs::file_size(seg) - 3));
  f.put('!');
  f.close();
  open();
  EXPECT_EQ(found("AB123C"), 1u);
  EXPECT_EQ(found("XY99ZZ"), 0u);
}

// Segments are sealed when full; a plate is found across sealed and active ones, before and
// after reopening, and a damaged index is rebuilt from its segment.
TEST_F(RetentionStore, FullSegmentsAreSealedAndSearchedWithTheActiveOne) {
  open(config::default_retention_policies(), 4096);
  std::size_t n = 0;
  for (int w = 0; w < 40; ++w) {
    std::vector<Record> rs;
    for (int i = 0; i < 5; ++i, ++n)
      rs.push_back(rec(Kind::passage, kNL, kT + static_cast<TimestampMs>(n), i % 2 ? "AB123C" : "XY99ZZ",
                       "e" + std::to_string(n)));
    put(rs);
  }
  const std::size_t sealed = files(".idx").size();
  EXPECT_GE(sealed, 3u);
  EXPECT_EQ(files(".seg").size(), sealed + 1) << "one active segment besides the sealed";
  EXPECT_EQ(found("AB123C"), 80u);
  EXPECT_EQ(found("XY99ZZ"), 120u);
  Query q;
  q.plate = plate("AB123C");
  q.from = kT + 50;
  q.to = kT + 99;
  auto r = store_->search(q);
  ASSERT_EQ(r.records.size(), 20u);  // two of every five
  for (std::size_t i = 1; i < r.records.size(); ++i)
    EXPECT_LT(r.records[i - 1].captured, r.records[i].captured) << "in capture time order";
  open(config::default_retention_policies(), 4096);
  EXPECT_EQ(found("AB123C"), 80u);
  store_.reset();
  fs::resize_file(files(".idx").at(0), 60);
  open(config::default_retention_policies(), 4096);
  EXPECT_EQ(found("AB123C"), 80u);
  EXPECT_EQ(found("XY99ZZ"), 120u);
}

// Two stores on one folder would delete each other's files: the second is refused, clearly.
TEST_F(RetentionStore, AFolderInUseIsRefused) {
  put({rec(Kind::passage, kNL, kT, "AB123C", "e1")});
  Options o;
  o.dir = dir_;
  const std::string why = refusal(o);
  EXPECT_NE(why.find("in use by another process"), std::string::npos)
      << (why.empty() ? "a second store opened a folder in use" : why);
  EXPECT_EQ(found("AB123C"), 1u) << "the first store is unharmed";
  open();  // and once it is closed, the folder opens again
  EXPECT_EQ(found("AB123C"), 1u);
}

// Where direct writes are off (or the file system refuses them), the same through the page cache.
TEST_F(RetentionStore, WritesThroughThePageCacheWhenDirectIoIsOff) {
  direct_ = false;
  open(config::default_retention_policies(), 4096);
  for (int w = 0; w < 30; ++w) {
    std::vector<Record> rs;
    for (int i = 0; i < 4; ++i)
      rs.push_back(rec(Kind::passage, kNL, kT + w * 4 + i, i % 2 ? "AB123C" : "XY99ZZ",
                       "e" + std::to_string(w * 4 + i)));
    put(rs);
  }
  EXPECT_GE(files(".idx").size(), 2u);
  EXPECT_EQ(found("AB123C"), 60u);
  store_.reset();
  auto segs = files(".seg");
  fs::resize_file(segs.back(), fs::file_size(segs.back()) - 5);  // the last write, torn
  open(config::default_retention_policies(), 4096);
  EXPECT_EQ(found("AB123C") + found("XY99ZZ"), 116u);  // 120 less the torn write's 4
  put({rec(Kind::passage, kNL, kT + 500, "AB123C", "after")});
  open(config::default_retention_policies(), 4096);
  EXPECT_EQ(found("AB123C") + found("XY99ZZ"), 117u);
}

// A write whose sync fails (disk full, I/O error) keeps nothing, not even the bytes it had
// written: a later write and a reopened store see only whole, reported writes.
TEST_F(RetentionStore, AFailedWriteKeepsNothingOfItself) {
  for (const char* step : {"sync", "write"}) {
    SCOPED_TRACE(step);
    fail_at_ = step;
    fail_errno_ = 0;
    open();
    const std::size_t before = found("AB123C");
    put({rec(Kind::passage, kNL, kT, "AB123C", std::string(step) + "-a")});
    fail_errno_ = ENOSPC;
    try {
      put({rec(Kind::passage, kNL, kT + 1, "AB123C", std::string(step) + "-b"),
           rec(Kind::passage, kBE, kT + 2, "AB123C", std::string(step) + "-c")});
      ADD_FAILURE() << "a failing disk did not fail the write";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(strerror(ENOSPC)), std::string::npos) << e.what();
    }
    EXPECT_EQ(found("AB123C"), before + 1) << "only the write before";
    fail_errno_ = 0;
    put({rec(Kind::passage, kNL, kT + 3, "AB123C", std::string(step) + "-d")});
    EXPECT_EQ(found("AB123C"), before + 2);
    open();
    EXPECT_EQ(found("AB123C"), before + 2) << "after reopening: no trace of the failed write";
    EXPECT_EQ(store_->stats()[kBE].stored, 0u);
  }
}

// The group-commit writer retries a failing store until it can write, and only then reports the
// records durable: nothing is skipped.
TEST_F(RetentionStore, TheWriterRetriesUntilTheDiskTakesTheWrite) {
  fail_at_ = "sync";
  fail_errno_ = EIO;
  std::atomic<int> done{0};
  {
    Writer w(*store_);
    w.submit(std::vector<Record>{rec(Kind::passage, kNL, kT, "AB123C", "e1")}, [&] { ++done; });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(done.load(), 0) << "reported durable while the disk failed";
    fail_errno_ = 0;
  }  // the writer writes what it holds before it stops
  EXPECT_EQ(done.load(), 1);
  EXPECT_EQ(found("AB123C"), 1u);
}

TEST_F(RetentionStore, AStoreOfAnEarlierFormatIsAClearError) {
  store_.reset();
  { std::ofstream(dir_ / "CURRENT") << "MANIFEST-000005\n"; }
  Options o;
  o.dir = dir_;
  const std::string why = refusal(o);
  EXPECT_NE(why.find("earlier format"), std::string::npos)
      << (why.empty() ? "opened a store of another format" : why);
}

TEST_F(RetentionStore, UnopenableFolderIsAClearError) {
  store_.reset();
  fs::remove_all(dir_);
  fs::create_directories(dir_.parent_path());
  { std::ofstream(dir_.string()) << "not a folder"; }
  Options o;
  o.dir = dir_;
  const std::string why = refusal(o);
  EXPECT_NE(why.find(dir_.string()), std::string::npos)
      << (why.empty() ? "opened a file as a store" : why);
  fs::remove(dir_);
}

}  // namespace
}  // namespace anpr::store
