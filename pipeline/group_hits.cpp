#include "pipeline/group_hits.h"

#include <simdjson.h>

#include <chrono>
#include <utility>

#include "match/ids.h"
#include "match/time.h"

namespace anpr::app {

namespace {

// How much earlier than the longest window the follower starts: hits are published some time
// after their capture (consumer lag), so a hit captured within the window may have been published
// a little later than its capture time.
constexpr int64_t kStartMarginMs = 60'000;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<GroupHit> parse_group_hit(std::string_view json) {
  if (json.size() > kMaxHitRecordBytes) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) || !doc.is_object()) return std::nullopt;
  std::string_view list, plate, country, ts;
  if (doc["list_id"].get_string().get(list) || !ListId::valid(list)) return std::nullopt;
  if (doc["matched_plate"].get_string().get(plate)) return std::nullopt;
  if (doc["matched_country"].get_string().get(country)) return std::nullopt;
  if (doc["ts"].get_string().get(ts)) return std::nullopt;
  const std::optional<Plate> p = Plate::from_normalized(plate);
  const std::optional<CountryCode> c = CountryCode::parse_or_unknown(country);
  const std::optional<TimestampMs> t = parse_rfc3339(ts);
  if (!p || !c || !t) return std::nullopt;
  // The same key as the processor's ReadOutput::entry_key for the entry (pipeline/read_matcher.cpp).
  return GroupHit{std::string(list), (p->key() << CountryCode::kBits) | c->raw(), *t};
}

GroupHitFollower::Outcome GroupHitFollower::take(std::string_view json, int64_t now_ms,
                                                 int64_t max_skew_ms, GroupHits& hits) {
  const std::optional<GroupHit> h = parse_group_hit(json);
  if (!h) return Outcome::malformed;
  // A capture time far ahead would move the sweep's "now" and push every real hit out.
  if (h->ts > now_ms + max_skew_ms) return Outcome::future;
  return hits.record(h->list_id, h->entry_key, h->ts) ? Outcome::recorded : Outcome::not_recorded;
}

void GroupHitFollower::start(const config::Settings& s, GroupHits& hits, int64_t max_window_ms) {
  stop();
  TopicFollower::Options o;
  o.name = "suppression";
  // No consumer group: every instance reads every hit and commits nothing.
  o.group_prefix = "anpr-suppression";
  o.topics = {s.topics.hits};
  // From the first hit published within the longest window (pipeline/topic_follower.h).
  o.start = FollowerStart::published_since(wall_ms() - max_window_ms - kStartMarginMs);
  o.defaults = {{"fetch.wait.max.ms", "10"}};
  o.fixed = {{"enable.partition.eof", "false"},
             // A hit of an aborted transaction (pipeline.exactly_once) never reached a control
             // room.
             {"isolation.level", "read_committed"}};
  o.unsigned_log = "; they suppress nothing";
  TopicFollower::Callbacks cb;
  cb.on_unsigned = [this](const FollowedRecord&) { unsigned_.fetch_add(1); };
  cb.on_record = [this, skew = s.pipeline.max_clock_skew_ms, &hits](const FollowedRecord& r) {
    switch (take(r.value, wall_ms(), skew, hits)) {
      case Outcome::recorded: recorded_.fetch_add(1); break;
      case Outcome::malformed: malformed_.fetch_add(1); break;
      case Outcome::future: future_.fetch_add(1); break;
      case Outcome::not_recorded: not_recorded_.fetch_add(1); break;
    }
  };
  follower_.start(s.kafka, std::move(o), std::move(cb));
}

void GroupHitFollower::stop() { follower_.stop(); }

GroupHitCounters GroupHitFollower::counters() const {
  return {recorded_.load(), unsigned_.load(), malformed_.load(), future_.load(),
          not_recorded_.load()};
}

}  // namespace anpr::app
