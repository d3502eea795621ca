// The yield figures (serve/yield_book.h, serve/yield_api.h): what counts, the median, misreads
// apart, duplicates and repeats counted once, records before their hit, malformed and hostile
// hits and records, unknown codes, covert lists kept from those not entitled (figures, cameras,
// metrics), and the bounds on memory (hits held, records waiting, the window, deadlines).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "match/time.h"
#include "metrics/metrics.h"
#include "serve/yield_api.h"
#include "serve/hit_feed.h"
#include "serve/yield_book.h"

namespace anpr::app {
namespace {

constexpr int64_t kT0 = 1'795'000'000'000;  // 2026-11-18, the tests' "now"

struct Hit {
  std::string id, list = "nl-stolen", camera = "nl-cam-1";
  int64_t ts = kT0 - 60'000;
  std::string extra;  // more members, with a leading comma
};

std::string hit(const Hit& h) {
  return R"({"hit_id":")" + h.id + R"(","camera_id":")" + h.camera +
         R"(","camera_country":"NL","control_room":"R1","ts":")" + format_rfc3339(h.ts) +
         R"(","list_id":")" + h.list + R"(","priority":10)" + h.extra + "}";
}

std::string ack(const std::string& id, int64_t ts) {
  return R"({"kind":"ack","hit_id":")" + id + R"(","ts":")" + format_rfc3339(ts) +
         R"(","by":"carl","control_room":"R1"})";
}
// An acknowledgement as older versions write it: no kind, acknowledged_by.
std::string old_ack(const std::string& id, int64_t ts) {
  return R"({"hit_id":")" + id + R"(","acknowledged_by":"carl","control_room":"R1","ts":")" +
         format_rfc3339(ts) + R"("})";
}
std::string disposition(const std::string& id, int64_t ts, const std::string& d,
                        const std::string& reason = "", const std::string& list = "nl-stolen") {
  return R"({"kind":"disposition","hit_id":")" + id + R"(","ts":")" + format_rfc3339(ts) +
         R"(","disposition":")" + d + "\"" +
         (reason.empty() ? "" : R"(,"reason":")" + reason + "\"") + R"(,"list_id":")" + list +
         R"(","camera_id":"nl-cam-1","by":"carl","control_room":"R1"})";
}
std::string outcome(const std::string& id, int64_t ts, const std::string& o) {
  return R"({"kind":"outcome","hit_id":")" + id + R"(","ts":")" + format_rfc3339(ts) +
         R"(","outcome":")" + o + R"(","by":"carl","control_room":"R1"})";
}

YieldBook book(YieldBook::Limits l = {}) {
  return YieldBook(l, default_yield_codes(), config::default_retention_policies(),
                   [] { return kT0; });
}

const ListYield* find(const std::vector<ListYield>& v, std::string_view id) {
  for (const ListYield& y : v)
    if (y.list_id == id) return &y;
  return nullptr;
}
const CameraYield* find_camera(const std::vector<CameraYield>& v, std::string_view id) {
  for (const CameraYield& y : v)
    if (y.camera_id == id) return &y;
  return nullptr;
}

TEST(YieldBook, Median) {
  std::vector<int64_t> v;
  EXPECT_FALSE(median_ms(v));
  v = {7};
  EXPECT_EQ(median_ms(v), 7);
  v = {9, 1, 5};
  EXPECT_EQ(median_ms(v), 5);
  v = {10, 1, 4, 100};
  EXPECT_EQ(median_ms(v), 7);  // (4 + 10) / 2
  v = {3, 4};
  EXPECT_EQ(median_ms(v), 3);  // 3.5 rounded down
}

TEST(YieldBook, CountsPerListAndCamera) {
  YieldBook b = book();
  const int64_t t = kT0 - 600'000;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(b.add_hit(hit({"h" + std::to_string(i), "nl-stolen", i < 4 ? "cam-a" : "cam-b", t})));
  ASSERT_TRUE(b.add_hit(hit({"w1", "nl-wanted", "cam-a", t})));
  // h0: accepted, intercepted, acknowledged after 10 s.
  EXPECT_EQ(b.add_record(ack("h0", t + 10'000)), YieldBook::Taken::applied);
  EXPECT_EQ(b.add_record(disposition("h0", t + 20'000, "accepted")), YieldBook::Taken::applied);
  EXPECT_EQ(b.add_record(outcome("h0", t + 30'000, "intercepted")), YieldBook::Taken::applied);
  // h1: rejected as a misread, straight away (the disposition acknowledges): 40 s.
  EXPECT_EQ(b.add_record(disposition("h1", t + 40'000, "rejected", "misread")), YieldBook::Taken::applied);
  // h2: rejected, wrong vehicle, acknowledged by an older version's record at 30 s.
  EXPECT_EQ(b.add_record(old_ack("h2", t + 30'000)), YieldBook::Taken::applied);
  EXPECT_EQ(b.add_record(disposition("h2", t + 50'000, "rejected", "wrong_vehicle")), YieldBook::Taken::applied);
  // h4 (camera b): misread.
  EXPECT_EQ(b.add_record(disposition("h4", t + 90'000, "rejected", "misread")), YieldBook::Taken::applied);
  // h3, h5: nobody followed them up.

  const auto lists = b.lists(false);
  ASSERT_EQ(lists.size(), 2u);
  const ListYield* y = find(lists, "nl-stolen");
  ASSERT_TRUE(y);
  EXPECT_EQ(y->hits, 6u);
  EXPECT_EQ(y->acknowledged, 4u);
  EXPECT_EQ(y->not_followed_up, 2u);
  EXPECT_EQ(y->accepted, 1u);
  EXPECT_EQ(y->rejected, 3u);
  EXPECT_EQ(y->misreads, 2u);
  EXPECT_EQ(y->rejected_by_reason.at("misread"), 2u);
  EXPECT_EQ(y->rejected_by_reason.at("wrong_vehicle"), 1u);
  EXPECT_EQ(y->rejected_by_reason.size(), 2u);
  EXPECT_EQ(y->outcomes.at("intercepted"), 1u);
  // Delays 10, 40, 30, 90 s: median (30 + 40) / 2.
  EXPECT_EQ(y->median_ack_ms, 35'000);
  const ListYield* w = find(lists, "nl-wanted");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->hits, 1u);
  EXPECT_EQ(w->not_followed_up, 1u);
  EXPECT_FALSE(w->median_ack_ms);

  const auto cams = b.cameras();
  const CameraYield* a = find_camera(cams, "cam-a");
  const CameraYield* c = find_camera(cams, "cam-b");
  ASSERT_TRUE(a && c);
  EXPECT_EQ(a->hits, 5u);
  EXPECT_EQ(a->dispositions, 3u);
  EXPECT_EQ(a->misreads, 1u);
  EXPECT_EQ(a->acknowledged, 3u);
  EXPECT_EQ(c->hits, 2u);
  EXPECT_EQ(c->dispositions, 1u);
  EXPECT_EQ(c->misreads, 1u);

  // The API's answer says the same.
  const std::string json = lists_yield_json(b, false, "", kT0);
  EXPECT_NE(json.find(R"("list_id":"nl-stolen","covert":false,"hits":6,"acknowledged":4,"not_followed_up":2,"not_followed_up_share":0.3333)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("accepted":1,"rejected":3,"misreads":2,"rejected_by_reason":{"misread":2,"wrong_vehicle":1},"outcomes":{"intercepted":1},"median_ack_ms":35000})"), std::string::npos) << json;
  const std::string cj = cameras_yield_json(b, kT0);
  EXPECT_NE(cj.find(R"({"camera_id":"cam-b","hits":2,"acknowledged":1,"dispositions":1,"misreads":1,"misread_rate":1})"), std::string::npos) << cj;
  EXPECT_EQ(lists_yield_json(b, false, "nl-wanted", kT0).find("nl-stolen"), std::string::npos);
}

TEST(YieldBook, TheMedianIsOfTheFirstAcknowledgement) {
  YieldBook b = book();
  const int64_t t = kT0 - 600'000;
  for (const char* id : {"a", "b", "c"}) b.add_hit(hit({id, "l1", "c1", t}));
  b.add_record(ack("a", t + 5'000));
  b.add_record(ack("a", t + 500'000));  // a second acknowledgement (another room): not counted
  b.add_record(disposition("a", t + 400'000, "accepted"));
  b.add_record(ack("b", t + 7'000));
  b.add_record(ack("c", t - 9'000));  // recorded "before" the capture (clocks): 0
  EXPECT_EQ(find(b.lists(false), "l1")->median_ack_ms, 5'000);
}

TEST(YieldBook, RepeatsAndDuplicatesCountOnce) {
  YieldBook b = book();
  const int64_t t = kT0 - 600'000;
  ASSERT_TRUE(b.add_hit(hit({"h1", "l1", "c1", t})));
  EXPECT_FALSE(b.add_hit(hit({"h1", "l1", "c1", t})));  // delivered twice
  EXPECT_FALSE(b.add_hit(hit({"h1", "l2", "c2", t})));  // the same id claiming another list
  ASSERT_TRUE(b.add_hit(hit({"h2", "l1", "c1", t})));
  const std::string d = disposition("h1", t + 1000, "rejected", "misread");
  EXPECT_EQ(b.add_record(d), YieldBook::Taken::applied);
  EXPECT_EQ(b.add_record(d), YieldBook::Taken::unchanged);  // the same record again
  // A different disposition afterwards changes nothing.
  EXPECT_EQ(b.add_record(disposition("h1", t + 2000, "accepted")), YieldBook::Taken::unchanged);
  EXPECT_EQ(b.add_record(disposition("h1", t + 2000, "rejected", "other")), YieldBook::Taken::unchanged);
  // An outcome of a rejected hit is ignored.
  EXPECT_EQ(b.add_record(outcome("h1", t + 3000, "intercepted")), YieldBook::Taken::unchanged);
  // h2: accepted, then two outcomes: the first counts.
  EXPECT_EQ(b.add_record(disposition("h2", t + 1000, "accepted")), YieldBook::Taken::applied);
  EXPECT_EQ(b.add_record(outcome("h2", t + 3000, "observed")), YieldBook::Taken::applied);
  EXPECT_EQ(b.add_record(outcome("h2", t + 3000, "observed")), YieldBook::Taken::unchanged);
  EXPECT_EQ(b.add_record(outcome("h2", t + 4000, "not_found")), YieldBook::Taken::unchanged);
  const auto y_all = b.lists(false);  // y points into it
  const ListYield* y = find(y_all, "l1");
  ASSERT_TRUE(y);
  EXPECT_EQ(y->hits, 2u);
  EXPECT_EQ(y->acknowledged, 2u);
  EXPECT_EQ(y->rejected, 1u);
  EXPECT_EQ(y->misreads, 1u);
  EXPECT_EQ(y->accepted, 1u);
  EXPECT_EQ(y->outcomes.size(), 1u);
  EXPECT_EQ(y->outcomes.at("observed"), 1u);
  EXPECT_FALSE(find(b.lists(false), "l2"));
  EXPECT_EQ(b.cameras().size(), 1u);
}

TEST(YieldBook, TheOrderOfHitsAndRecordsDoesNotMatter) {
  // The two topics interleave differently on every instance; the records of one hit keep their
  // order (one partition). Every interleaving gives the same figures.
  const int64_t t = kT0 - 600'000;
  std::vector<std::string> hits, records;
  for (int i = 0; i < 12; ++i) {
    const std::string id = "h" + std::to_string(i);
    hits.push_back(hit({id, i % 3 ? "l1" : "l2", i % 2 ? "c1" : "c2", t + i}));
    if (i % 4 == 0) continue;  // not followed up
    records.push_back(ack(id, t + 1000 * i));
    if (i % 4 == 1) {
      records.push_back(disposition(id, t + 2000 * i, "accepted"));
      records.push_back(outcome(id, t + 3000 * i, i % 8 == 1 ? "intercepted" : "no_action"));
    } else if (i % 4 == 2) {
      records.push_back(disposition(id, t + 2000 * i, "rejected", "misread"));
    }
  }
  YieldBook first = book();
  for (const auto& h : hits) first.add_hit(h);
  for (const auto& r : records) first.add_record(r);
  const std::string expected = lists_yield_json(first, true, "", kT0) + cameras_yield_json(first, kT0);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    // A random merge of the two sequences, each kept in its order.
    std::vector<int> pick(hits.size(), 0);
    pick.resize(hits.size() + records.size(), 1);
    std::shuffle(pick.begin(), pick.end(), rng);
    YieldBook b = book();
    std::size_t h = 0, r = 0;
    for (int p : pick) {
      if (p == 0) b.add_hit(hits[h++]);
      else b.add_record(records[r++]);
    }
    EXPECT_EQ(lists_yield_json(b, true, "", kT0) + cameras_yield_json(b, kT0), expected) << round;
    EXPECT_EQ(b.stats().records_waiting, 0u);
  }
}

TEST(YieldBook, ARecordTakesTheListAndCameraOfItsHitNotItsOwn) {
  YieldBook b = book();
  const int64_t t = kT0 - 600'000;
  EXPECT_EQ(b.add_record(disposition("h1", t + 1000, "rejected", "misread", "nl-other")), YieldBook::Taken::waiting);
  ASSERT_TRUE(b.add_hit(hit({"h1", "l1", "c1", t})));
  const auto lists = b.lists(true);
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_EQ(lists[0].list_id, "l1");
  EXPECT_EQ(lists[0].misreads, 1u);
}

TEST(YieldBook, RecordsOfUnknownHitsWaitBoundedAndCountNothing) {
  YieldBook::Limits l;
  l.max_pending = 3;
  YieldBook b = book(l);
  const int64_t t = kT0 - 600'000;
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(b.add_record(disposition("x" + std::to_string(i), t, "rejected", "misread")),
              YieldBook::Taken::waiting);
  EXPECT_TRUE(b.lists(true).empty());
  EXPECT_TRUE(b.cameras().empty());
  EXPECT_EQ(b.stats().records_waiting, 3u);
  EXPECT_EQ(b.stats().dropped_waiting, 2u);
  // x0 and x1 were dropped (oldest first); x4's record is applied when its hit comes.
  b.add_hit(hit({"x0", "l1", "c1", t}));
  b.add_hit(hit({"x4", "l1", "c1", t}));
  const auto y_all = b.lists(true);  // y points into it
  const ListYield* y = find(y_all, "l1");
  ASSERT_TRUE(y);
  EXPECT_EQ(y->hits, 2u);
  EXPECT_EQ(y->misreads, 1u);
  EXPECT_EQ(b.stats().records_waiting, 2u);
  // A record older than the window waits for nothing.
  EXPECT_EQ(b.add_record(ack("old", kT0 - l.window_ms - 1)), YieldBook::Taken::unchanged);
}

TEST(YieldBook, MalformedAndHostileInputIsIgnored) {
  YieldBook b = book();
  const int64_t t = kT0 - 600'000;
  const std::string ts = format_rfc3339(t);
  for (const std::string& bad : std::vector<std::string>{
           "", "not json", "[1,2]", "null", R"({"hit_id":"h"})",
           R"({"hit_id":"","list_id":"l1","camera_id":"c","ts":")" + ts + "\"}",
           R"({"hit_id":42,"list_id":"l1","camera_id":"c","ts":")" + ts + "\"}",
           R"({"hit_id":"h","list_id":"L1 bad","camera_id":"c","ts":")" + ts + "\"}",
           R"({"hit_id":"h","list_id":"l1","camera_id":"","ts":")" + ts + "\"}",
           R"({"hit_id":"h","list_id":"l1","camera_id":"c","ts":"yesterday"})",
           R"({"hit_id":"h","list_id":"l1","camera_id":"c"})",
           R"({"hit_id":")" + std::string(200, 'a') + R"(","list_id":"l1","camera_id":"c","ts":")" + ts + "\"}",
           R"({"hit_id":"h","list_id":"l1","camera_id":")" + std::string(65, 'c') + R"(","ts":")" + ts + "\"}",
           R"({"hit_id":"h","list_id":"l1","camera_id":"c","ts":")" + ts + "\"", // truncated
       })
    EXPECT_FALSE(b.add_hit(bad)) << bad;
  EXPECT_EQ(b.stats().hits_held, 0u);
  ASSERT_TRUE(b.add_hit(hit({"h", "l1", "c1", t})));
  for (const std::string& bad : std::vector<std::string>{
           "", "{", "[]", R"({"kind":"ack"})", R"({"hit_id":"h","kind":"ack"})",
           R"({"hit_id":"h","kind":"ack","ts":"soon"})",
           R"({"hit_id":"h","kind":7,"ts":")" + ts + "\"}",
           R"({"hit_id":"h","kind":"escalation","ts":")" + ts + "\"}",
           R"({"hit_id":"h","kind":"disposition","ts":")" + ts + "\"}",
           R"({"hit_id":"h","kind":"disposition","disposition":"maybe","ts":")" + ts + "\"}",
           R"({"hit_id":"h","kind":"disposition","disposition":true,"ts":")" + ts + "\"}",
           R"({"hit_id":"h","kind":"outcome","ts":")" + ts + "\"}",
       })
    EXPECT_EQ(b.add_record(bad), YieldBook::Taken::malformed) << bad;
  const auto y_all = b.lists(true);  // y points into it
  const ListYield* y = find(y_all, "l1");
  ASSERT_TRUE(y);
  EXPECT_EQ(y->acknowledged, 0u);
  EXPECT_GE(b.stats().ignored_malformed, 26u);
}

TEST(YieldBook, UnknownCodesCountAsUnknown) {
  YieldBook b = book();
  const int64_t t = kT0 - 600'000;
  for (const char* id : {"a", "b", "c", "d", "e"}) b.add_hit(hit({id, "l1", "c1", t}));
  b.add_record(disposition("a", t + 1, "rejected", "bribed"));                  // not configured
  b.add_record(disposition("b", t + 1, "rejected", "Misread\\n<script>"));      // hostile text
  b.add_record(disposition("c", t + 1, "rejected"));                            // no reason
  b.add_record(disposition("d", t + 1, "accepted"));
  b.add_record(outcome("d", t + 2, "arrested_the_wrong_one"));
  b.add_record(disposition("e", t + 1, "rejected", std::string(5000, 'm')));
  const auto y_all = b.lists(true);  // y points into it
  const ListYield* y = find(y_all, "l1");
  ASSERT_TRUE(y);
  EXPECT_EQ(y->rejected, 4u);
  EXPECT_EQ(y->misreads, 0u);
  EXPECT_EQ(y->rejected_by_reason.size(), 1u);
  EXPECT_EQ(y->rejected_by_reason.at("unknown"), 4u);
  EXPECT_EQ(y->outcomes.size(), 1u);
  EXPECT_EQ(y->outcomes.at("unknown"), 1u);
}

TEST(YieldBook, CovertListsOnlyForThoseEntitled) {
  YieldBook b = book();
  const int64_t t = kT0 - 600'000;
  b.add_hit(hit({"o1", "nl-open", "cam-a", t}));
  b.add_hit(hit({"s1", "nl-obs", "cam-a", t, R"(,"covert":true,"covert_rooms":["R9"])"}));
  b.add_hit(hit({"s2", "nl-obs", "cam-b", t, R"(,"covert":true,"covert_rooms":["R9"])"}));
  // A covert mark that cannot be read counts as covert.
  b.add_hit(hit({"s3", "nl-odd", "cam-c", t, R"(,"covert":"yes")"}));
  b.add_hit(hit({"o2", "nl-open", "cam-a", t, R"(,"covert":false)"}));
  b.add_record(disposition("s1", t + 1000, "rejected", "misread"));
  b.add_record(disposition("s3", t + 1000, "rejected", "misread"));
  b.add_record(disposition("o1", t + 1000, "accepted"));

  const auto open = b.lists(false);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].list_id, "nl-open");
  EXPECT_EQ(open[0].hits, 2u);
  const auto all = b.lists(true);
  ASSERT_EQ(all.size(), 3u);
  ASSERT_TRUE(find(all, "nl-obs"));
  EXPECT_TRUE(find(all, "nl-obs")->covert);
  EXPECT_EQ(find(all, "nl-obs")->misreads, 1u);

  // Cameras: covert hits are not there at all, not even cam-b or cam-c (only covert hits).
  const auto cams = b.cameras();
  ASSERT_EQ(cams.size(), 1u);
  EXPECT_EQ(cams[0].camera_id, "cam-a");
  EXPECT_EQ(cams[0].hits, 2u);
  EXPECT_EQ(cams[0].misreads, 0u);

  // The API's answers for those not entitled, and the metrics.
  for (const std::string& text :
       {lists_yield_json(b, false, "", kT0), lists_yield_json(b, false, "nl-obs", kT0),
        cameras_yield_json(b, kT0)}) {
    EXPECT_EQ(text.find("nl-obs"), std::string::npos) << text;
    EXPECT_EQ(text.find("nl-odd"), std::string::npos) << text;
    EXPECT_EQ(text.find("cam-b"), std::string::npos) << text;
    EXPECT_EQ(text.find("covert\":true"), std::string::npos) << text;
  }
  // Not even a row with zero hits: the answer for the covert list is the answer for a list
  // without hits.
  EXPECT_EQ(lists_yield_json(b, false, "nl-obs", kT0), lists_yield_json(b, false, "nl-none", kT0));
  EXPECT_NE(lists_yield_json(b, true, "nl-obs", kT0).find("nl-obs"), std::string::npos);

  metrics::Collector c = collect_yield(b);
  const std::string scraped = metrics::scrape();
  EXPECT_NE(scraped.find("anpr_list_yield_hits{list=\"nl-open\"} 2"), std::string::npos) << scraped;
  EXPECT_NE(scraped.find("anpr_camera_yield_hits{camera=\"cam-a\"} 2"), std::string::npos);
  EXPECT_EQ(scraped.find("nl-obs"), std::string::npos);
  EXPECT_EQ(scraped.find("nl-odd"), std::string::npos);
  EXPECT_EQ(scraped.find("cam-b"), std::string::npos);
  EXPECT_EQ(scraped.find("cam-c"), std::string::npos);
  EXPECT_NE(scraped.find("anpr_camera_misreads{camera=\"cam-a\"} 0"), std::string::npos);
}

TEST(YieldBook, MemoryIsBoundedByHitsAndWindow) {
  YieldBook::Limits l;
  l.max_hits = 4;
  l.window_ms = 3'600'000;
  int64_t now = kT0;
  YieldBook b(l, default_yield_codes(), config::default_retention_policies(), [&] { return now; });
  for (int i = 0; i < 10; ++i)
    b.add_hit(hit({"h" + std::to_string(i), "l1", "c1", kT0 - 1'000'000 + i * 1000}));
  EXPECT_EQ(b.stats().hits_held, 4u);
  // The most recent four stay: h6..h9; an older one that comes late does not push them out.
  EXPECT_FALSE(b.add_hit(hit({"h0", "l1", "c1", kT0 - 1'000'000})));
  EXPECT_EQ(b.stats().oldest_hit_ms, kT0 - 1'000'000 + 6000);
  // Outside the window: not taken, and the held ones leave as time passes.
  EXPECT_FALSE(b.add_hit(hit({"old", "l1", "c1", kT0 - 3'600'001})));
  now = kT0 + 3'600'000;
  EXPECT_EQ(b.stats().hits_held, 0u);
  EXPECT_TRUE(b.lists(true).empty());
}

TEST(YieldBook, AHitLeavesAtItsDeadline) {
  // A camera country without a policy keeps no hits: its hits leave after the feed's alerting
  // time (serve/hit_feed.h), whatever the window.
  int64_t now = kT0;
  YieldBook b({}, default_yield_codes(), config::default_retention_policies(), [&] { return now; });
  ASSERT_TRUE(b.add_hit(R"({"hit_id":"x","camera_id":"de-1","camera_country":"DE","ts":")" +
                        format_rfc3339(kT0 - 1000) + R"(","list_id":"l1"})"));
  ASSERT_TRUE(b.add_hit(hit({"n", "l1", "c1", kT0 - 1000})));
  EXPECT_EQ(find(b.lists(true), "l1")->hits, 2u);
  now = kT0 + kUnkeptHitAlertMs;
  EXPECT_EQ(find(b.lists(true), "l1")->hits, 1u);
}

}  // namespace
}  // namespace anpr::app
