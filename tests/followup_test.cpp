// Follow-up in the control rooms' feed (serve/hit_feed.h, docs/control-room.md): dispositions and
// outcomes read from the acknowledgements topic (first one wins, outcome only after an accepted
// disposition, only from a room that may see the hit, hostile and malformed records ignored,
// gone with their hit at its deadline), escalation against the feed's clock, and the followup.*
// configuration keys.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <string>
#include <vector>

#include "config/settings.h"
#include "match/time.h"
#include "metrics/metrics.h"
#include "serve/hit_feed.h"
#include "tests/hits.h"

namespace anpr::app {
namespace {

using namespace std::chrono_literals;
using testing::hit_json;

constexpr int64_t kT = 1'796'536'800'000;  // 2026-12-06T06:00:00Z
constexpr int64_t kHour = 3'600'000;

std::string disposition(const std::string& id, const std::string& room, const std::string& d,
                        const std::string& reason = "") {
  return R"({"kind":"disposition","hit_id":")" + id + R"(","control_room":")" + room +
         R"(","by":"rita","ts":"2026-12-06T06:00:01.000Z","disposition":")" + d + "\"" +
         (reason.empty() ? "" : R"(,"reason":")" + reason + "\"") + "}";
}
std::string outcome(const std::string& id, const std::string& room, const std::string& o) {
  return R"({"kind":"outcome","hit_id":")" + id + R"(","control_room":")" + room +
         R"(","by":"rita","ts":"2026-12-06T06:05:00.000Z","outcome":")" + o + "\"}";
}

class FollowupFeed : public ::testing::Test {
 protected:
  std::atomic<int64_t> now_{kT};
  HitFeed f_{100, config::default_retention_policies(), [this] { return now_.load(); },
             Escalation{20, 60'000}};

  // The events served to `room`, as "id:kind".
  std::vector<std::string> served(std::string_view room = "*") {
    std::vector<std::string> out;
    for (const FeedEvent& e : f_.events_after(0, room, 0ms, 1000))
      out.push_back(e.hit_id + ":" + std::string(event_name(e.kind)));
    return out;
  }
  using Ids = std::vector<std::string>;
};

TEST_F(FollowupFeed, ADispositionThenAnOutcomeAreTakenOnceAndServedInOrder) {
  ASSERT_TRUE(f_.add_hit(hit_json("h1", "R1", 50)));
  EXPECT_TRUE(f_.add_record(disposition("h1", "R1", "accepted")));
  // A disposition acknowledges.
  EXPECT_EQ(f_.lookup("h1", "R1"), HitFeed::Lookup::acknowledged);
  EXPECT_FALSE(f_.add_record(disposition("h1", "R1", "accepted")));             // again
  EXPECT_FALSE(f_.add_record(disposition("h1", "R1", "rejected", "misread")));  // conflicting
  EXPECT_TRUE(f_.add_record(outcome("h1", "R1", "intercepted")));
  EXPECT_FALSE(f_.add_record(outcome("h1", "R1", "intercepted")));
  EXPECT_FALSE(f_.add_record(outcome("h1", "R1", "not_found")));
  EXPECT_EQ(served(), (Ids{"h1:hit", "h1:disposition", "h1:outcome"}));
  const auto s = f_.followup("h1");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->acked);
  EXPECT_EQ(s->disposition, "accepted");
  EXPECT_EQ(s->outcome, "intercepted");
  EXPECT_NE(s->outcome_json.find("\"by\":\"rita\""), std::string::npos);
}

TEST_F(FollowupFeed, AnOutcomeIsTakenOnlyForAnAcceptedHit) {
  ASSERT_TRUE(f_.add_hit(hit_json("h1", "R1", 50)));
  ASSERT_TRUE(f_.add_hit(hit_json("h2", "R1", 50)));
  EXPECT_FALSE(f_.add_record(outcome("h1", "R1", "intercepted")));  // nothing recorded yet
  ASSERT_TRUE(f_.add_record(disposition("h2", "R1", "rejected", "misread")));
  EXPECT_FALSE(f_.add_record(outcome("h2", "R1", "intercepted")));  // rejected
  EXPECT_EQ(served(), (Ids{"h1:hit", "h2:hit", "h2:disposition"}));
  EXPECT_EQ(f_.followup("h1")->outcome, "");
}

TEST_F(FollowupFeed, RecordsOfAnotherRoomOrOfHitsNotHeldAreIgnored) {
  ASSERT_TRUE(f_.add_hit(hit_json("h1", "R1", 50)));
  EXPECT_FALSE(f_.add_record(disposition("h1", "R2", "accepted")));   // R2 cannot see it
  EXPECT_FALSE(f_.add_record(disposition("zz", "R1", "accepted")));   // unknown hit
  EXPECT_TRUE(f_.add_record(disposition("h1", "*", "accepted")));     // every room
  EXPECT_FALSE(f_.add_record(outcome("h1", "R2", "observed")));
  EXPECT_EQ(served(), (Ids{"h1:hit", "h1:disposition"}));
  // A covert hit: only the rooms its list names, "*" only when named.
  ASSERT_TRUE(f_.add_hit(R"({"hit_id":"c1","control_room":"R1","covert":true,"covert_rooms":["SEC"],"ts":")" +
                         format_rfc3339(kT) + R"(","camera_country":"NL","priority":5})"));
  EXPECT_FALSE(f_.add_record(disposition("c1", "R1", "accepted")));
  EXPECT_FALSE(f_.add_record(disposition("c1", "*", "accepted")));
  EXPECT_TRUE(f_.add_record(disposition("c1", "SEC", "accepted")));
  EXPECT_EQ(served("R1"), (Ids{"h1:hit", "h1:disposition"}));
  EXPECT_EQ(served("SEC"), (Ids{"c1:hit", "c1:disposition"}));
}

TEST_F(FollowupFeed, MalformedAndHostileRecordsAreIgnored) {
  ASSERT_TRUE(f_.add_hit(hit_json("h1", "R1", 50)));
  const std::string big_note(501, 'x');
  const std::vector<std::string> bad = {
      "", "not json", "[]", "null", R"({"kind":"disposition"})",
      R"({"kind":"disposition","hit_id":5})",
      R"({"kind":"nonsense","hit_id":"h1","control_room":"R1","by":"x"})",
      R"({"kind":7,"hit_id":"h1"})",
      // missing or wrong room / by
      R"({"kind":"disposition","hit_id":"h1","by":"x","disposition":"accepted"})",
      R"({"kind":"disposition","hit_id":"h1","control_room":"","by":"x","disposition":"accepted"})",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","disposition":"accepted"})",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"","disposition":"accepted"})",
      R"({"kind":"disposition","hit_id":"h1","control_room":["R1"],"by":"x","disposition":"accepted"})",
      // wrong dispositions and codes
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"x","disposition":"maybe"})",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"x","disposition":true})",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"x","disposition":"rejected"})",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"x","disposition":"rejected","reason":"Mis read"})",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"x","disposition":"rejected","reason":"<script>"})",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"x","disposition":"rejected","reason":")" +
          std::string(33, 'a') + "\"}",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"x","disposition":"accepted","note":7})",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"x","disposition":"accepted","note":")" +
          big_note + "\"}",
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":")" + std::string(129, 'b') +
          R"(","disposition":"accepted"})",
      // larger than any record the API writes
      R"({"kind":"disposition","hit_id":"h1","control_room":"R1","by":"x","disposition":"accepted","pad":")" +
          std::string(20000, 'p') + "\"}",
  };
  for (const std::string& r : bad) {
    SCOPED_TRACE(r.substr(0, 120));
    EXPECT_FALSE(f_.add_record(r));
  }
  EXPECT_EQ(served(), (Ids{"h1:hit"}));
  EXPECT_EQ(f_.lookup("h1", "R1"), HitFeed::Lookup::open);
  // An outcome with a malformed code, after a good disposition.
  ASSERT_TRUE(f_.add_record(disposition("h1", "R1", "accepted")));
  for (const std::string& r : {outcome("h1", "R1", ""), outcome("h1", "R1", "NOT FOUND"),
                               std::string(R"({"kind":"outcome","hit_id":"h1","control_room":"R1","by":"x"})")}) {
    SCOPED_TRACE(r);
    EXPECT_FALSE(f_.add_record(r));
  }
  EXPECT_EQ(f_.followup("h1")->outcome, "");
}

TEST_F(FollowupFeed, AnAcknowledgementWithoutKindIsStillAnAcknowledgement) {
  ASSERT_TRUE(f_.add_hit(hit_json("h1", "R1", 50)));
  EXPECT_TRUE(f_.add_record(R"({"hit_id":"h1","acknowledged_by":"old"})"));
  EXPECT_FALSE(f_.add_record(R"({"kind":"ack","hit_id":"h1","by":"new"})"));  // already
  EXPECT_EQ(served(), (Ids{"h1:hit", "h1:ack"}));
}

TEST_F(FollowupFeed, FollowUpRecordsGoWithTheirHitAtItsDeadline) {
  // An LU hit (28 days) captured 28 days minus an hour ago.
  ASSERT_TRUE(f_.add_hit(hit_json("lu", "R1", 50, "LU", kT - 28 * kMsPerDay + kHour)));
  ASSERT_TRUE(f_.add_record(disposition("lu", "R1", "accepted")));
  ASSERT_TRUE(f_.add_record(outcome("lu", "R1", "observed")));
  EXPECT_EQ(served().size(), 3u);
  now_ = kT + kHour;
  EXPECT_EQ(served(), Ids{});
  EXPECT_FALSE(f_.followup("lu"));
  EXPECT_EQ(f_.reserve_followup("lu", "R1").lookup, HitFeed::Lookup::unknown);
  EXPECT_FALSE(f_.add_record(outcome("lu", "R1", "observed")));
  EXPECT_EQ(f_.size(), 0u);
}

TEST_F(FollowupFeed, AReservationIsOneAtATimeAndTakesTheAcknowledgementAlong) {
  ASSERT_TRUE(f_.add_hit(hit_json("h1", "R1", 50)));
  EXPECT_EQ(f_.reserve_followup("h1", "R2").lookup, HitFeed::Lookup::not_visible);
  EXPECT_EQ(f_.reserve_followup("zz", "R1").lookup, HitFeed::Lookup::unknown);
  auto r = f_.reserve_followup("h1", "R1");
  EXPECT_EQ(r.lookup, HitFeed::Lookup::open);
  EXPECT_FALSE(r.busy);
  EXPECT_TRUE(r.ack_reserved);
  EXPECT_EQ(r.facts.priority, 50);
  EXPECT_EQ(r.facts.camera_id, "c1");
  EXPECT_TRUE(f_.reserve_followup("h1", "R1").busy);
  EXPECT_EQ(f_.reserve_ack("h1", "R1"), HitFeed::Lookup::acknowledged);  // being recorded
  f_.finish_followup("h1", true);  // published nothing
  EXPECT_EQ(f_.reserve_ack("h1", "R1"), HitFeed::Lookup::open);
  f_.release("h1");
  r = f_.reserve_followup("h1", "R1");
  EXPECT_FALSE(r.busy);
  ASSERT_TRUE(f_.add_record(R"({"kind":"ack","hit_id":"h1","by":"rita"})"));
  ASSERT_TRUE(f_.add_record(disposition("h1", "R1", "accepted")));
  f_.finish_followup("h1", false);
  r = f_.reserve_followup("h1", "R1");
  EXPECT_FALSE(r.ack_reserved);  // acknowledged already
  EXPECT_EQ(r.state.disposition, "accepted");
  f_.finish_followup("h1", false);
}

// Escalation against the feed's clock: priority <= 20, not acknowledged 60 s after arrival.
TEST_F(FollowupFeed, AnUrgentHitNotAcknowledgedInTimeIsEscalatedOnce) {
  const uint64_t before = f_.escalations();
  ASSERT_TRUE(f_.add_hit(hit_json("p20", "R1", 20)));   // at the threshold
  ASSERT_TRUE(f_.add_hit(hit_json("p21", "R1", 21)));   // above it: never
  ASSERT_TRUE(f_.add_hit(hit_json("p0", "R1", 0)));
  ASSERT_TRUE(f_.add_hit(hit_json("acked", "R1", 5)));
  ASSERT_TRUE(f_.add_record(R"({"hit_id":"acked","acknowledged_by":"x"})"));
  ASSERT_TRUE(f_.add_hit(hit_json("accepted", "R1", 5)));
  ASSERT_TRUE(f_.add_record(disposition("accepted", "R1", "accepted")));
  now_ = kT + 59'999;
  f_.tick();
  EXPECT_EQ(f_.escalations(), before);
  EXPECT_FALSE(f_.followup("p20")->escalated);
  now_ = kT + 60'000;
  f_.tick();
  EXPECT_EQ(f_.escalations(), before + 2);
  EXPECT_TRUE(f_.followup("p20")->escalated);
  EXPECT_TRUE(f_.followup("p0")->escalated);
  EXPECT_FALSE(f_.followup("p21")->escalated);
  EXPECT_FALSE(f_.followup("acked")->escalated);
  EXPECT_FALSE(f_.followup("accepted")->escalated);
  now_ = kT + 10 * 60'000;
  f_.tick();
  EXPECT_EQ(f_.escalations(), before + 2);  // once
  const auto events = f_.events_after(0, "R1", 0ms, 100);
  std::vector<std::string> esc;
  for (const FeedEvent& e : events)
    if (e.kind == FeedEvent::Kind::escalation) {
      esc.push_back(e.hit_id);
      EXPECT_NE(e.json.find(R"("escalated_at":")" + format_rfc3339(kT + 60'000) + "\""),
                std::string::npos)
          << e.json;
    }
  std::sort(esc.begin(), esc.end());
  EXPECT_EQ(esc, (std::vector<std::string>{"p0", "p20"}));
  // Another room does not see them.
  EXPECT_TRUE(f_.events_after(0, "R2", 0ms, 100).empty());
}

TEST_F(FollowupFeed, EscalationCountsFromTheHitsArrivalAndIsServedWithoutATick) {
  // Published 30 s ago (the hits topic's message time): due 30 s from now.
  ASSERT_TRUE(f_.add_hit(hit_json("late", "R1", 1), kT - 30'000));
  // Published two minutes ago, read now (a refill): due at once.
  ASSERT_TRUE(f_.add_hit(hit_json("old", "R1", 1), kT - 120'000));
  EXPECT_EQ(served(), (Ids{"late:hit", "old:hit", "old:escalation"}));
  now_ = kT + 30'000;
  // A reader that serves checks too.
  EXPECT_EQ(served(), (Ids{"late:hit", "old:hit", "old:escalation", "late:escalation"}));
}

TEST_F(FollowupFeed, AnEscalationWakesAWaitingReader) {
  ASSERT_TRUE(f_.add_hit(hit_json("p1", "R1", 1)));
  const uint64_t seen = f_.last_seq();
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    now_ = kT + 60'000;
    f_.tick();
  });
  auto ev = f_.events_after(seen, "R1", 10s, 10);
  t.join();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, FeedEvent::Kind::escalation);
}

std::string scrape_escalated() {
  const std::string text = prometheus::TextSerializer().Serialize(metrics::registry().Collect());
  const auto at = text.find("\nanpr_hits_escalated_total ");
  return at == std::string::npos ? "" : text.substr(at + 1, text.find('\n', at + 1) - at - 1);
}

TEST_F(FollowupFeed, ACovertHitsEscalationIsShownToItsRoomsButNotCounted) {
  const uint64_t before = f_.escalations();
  const std::string before_metric = scrape_escalated();
  ASSERT_TRUE(f_.add_hit(R"({"hit_id":"c1","control_room":"R1","covert":true,"covert_rooms":["SEC"],"ts":")" +
                         format_rfc3339(kT) + R"(","camera_country":"NL","priority":5})"));
  now_ = kT + 60'000;
  f_.tick();
  EXPECT_TRUE(f_.followup("c1")->escalated);
  EXPECT_EQ(f_.escalations(), before);
  EXPECT_EQ(scrape_escalated(), before_metric);
  EXPECT_EQ(served("SEC"), (Ids{"c1:hit", "c1:escalation"}));
  EXPECT_EQ(served("R1"), Ids{});
  // A hit not on a covert list is counted in the metric.
  ASSERT_TRUE(f_.add_hit(hit_json("p1", "R1", 5)));
  now_ = kT + 120'000;
  f_.tick();
  EXPECT_EQ(f_.escalations(), before + 1);
  EXPECT_NE(scrape_escalated(), before_metric);
}

TEST_F(FollowupFeed, WithoutEscalationSettingsNothingEscalates) {
  HitFeed plain(100, config::default_retention_policies(), [this] { return now_.load(); });
  ASSERT_TRUE(plain.add_hit(hit_json("p0", "R1", 0)));
  now_ = kT + 365 * 24 * kHour / 2;
  plain.tick();
  EXPECT_FALSE(plain.followup("p0")->escalated);
}

// ---- the followup.* keys ----

config::Settings parse(const std::string& extra) {
  return config::parse_settings("[cameras]\nregistry = \"c.csv\"\n" + extra, "t.toml", "/tmp");
}

TEST(FollowupSettings, DefaultsAreTheVocabularyOfTheDesign) {
  const config::Settings s = parse("");
  EXPECT_EQ(s.followup.reject_reasons,
            (std::vector<std::string>{"misread", "wrong_vehicle", "duplicate", "out_of_area",
                                      "no_capacity", "other"}));
  EXPECT_EQ(s.followup.outcomes, (std::vector<std::string>{"intercepted", "observed", "not_found",
                                                            "owner_notified", "no_action"}));
  EXPECT_EQ(s.followup.escalate_priority, 20);
  EXPECT_EQ(s.followup.escalate_after_s, 60);
  EXPECT_FALSE(s.followup.escalation_sound);
}

TEST(FollowupSettings, CodesAndEscalationCanBeConfigured) {
  const config::Settings s = parse(
      "[followup]\nreject_reasons = [\"misread\", \"other\", \"plate_swap\"]\n"
      "outcomes = [\"arrested\"]\nescalate_priority = 5\nescalate_after_s = 2\n"
      "escalation_sound = true\n");
  EXPECT_EQ(s.followup.reject_reasons, (std::vector<std::string>{"misread", "other", "plate_swap"}));
  EXPECT_EQ(s.followup.outcomes, (std::vector<std::string>{"arrested"}));
  EXPECT_EQ(s.followup.escalate_priority, 5);
  EXPECT_EQ(s.followup.escalate_after_s, 2);
  EXPECT_TRUE(s.followup.escalation_sound);
}

TEST(FollowupSettings, MalformedValuesAreRefusedNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"reject_reasons = \"misread\"", "followup.reject_reasons"},
      {"reject_reasons = []", "followup.reject_reasons"},
      {"reject_reasons = [\"Misread\"]", "followup.reject_reasons[0]"},
      {"reject_reasons = [\"a b\"]", "followup.reject_reasons[0]"},
      {"reject_reasons = [\"\"]", "followup.reject_reasons[0]"},
      {"reject_reasons = [\"misread\", 5]", "followup.reject_reasons[1]"},
      {"reject_reasons = [\"" + std::string(33, 'a') + "\"]", "followup.reject_reasons[0]"},
      {"reject_reasons = [\"misread\", \"misread\"]", "followup.reject_reasons[1]"},
      {"outcomes = [\"x\\u0000\"]", "followup.outcomes[0]"},
      {"outcomes = [[\"x\"]]", "followup.outcomes[0]"},
      {"escalate_priority = -1", "followup.escalate_priority"},
      {"escalate_priority = 101", "followup.escalate_priority"},
      {"escalate_after_s = 0", "followup.escalate_after_s"},
      {"escalate_after_s = \"60\"", "followup.escalate_after_s"},
      {"escalation_sound = \"yes\"", "followup.escalation_sound"},
      {"unknown_key = 1", "followup.unknown_key"},
  };
  for (const auto& [line, key] : bad) {
    SCOPED_TRACE(line);
    try {
      parse("[followup]\n" + line + "\n");
      ADD_FAILURE() << "accepted";
    } catch (const config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace anpr::app
