#include "serve/hit_feed.h"

#include <simdjson.h>

#include <algorithm>
#include <utility>

#include "base/check.h"
#include "base/json_writer.h"
#include "metrics/metrics.h"
#include "match/time.h"

namespace anpr::app {

namespace {

// Bounds on what a hit record may claim of its covert audience (the list sidecar's limits).
constexpr std::size_t kMaxCovertRooms = 64;
constexpr std::size_t kMaxRoomBytes = 64;
// The longest a restarted feed waits for its refill before it escalates anyway.
constexpr auto kRefillAtMost = std::chrono::seconds(30);

// Bounds on a follow-up record read from Kafka.
constexpr std::size_t kMaxRecordBytes = 16 * 1024;
constexpr std::size_t kMaxNameBytes = 128;
constexpr std::size_t kMaxNoteBytes = 500;

// A follow-up code as config followup.* allows it: 1..32 characters of a-z 0-9 _.
bool is_code(std::string_view s) {
  return !s.empty() && s.size() <= 32 &&
         s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string_view::npos;
}

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view event_name(FeedEvent::Kind kind) {
  switch (kind) {
    case FeedEvent::Kind::hit: return "hit";
    case FeedEvent::Kind::ack: return "ack";
    case FeedEvent::Kind::disposition: return "disposition";
    case FeedEvent::Kind::outcome: return "outcome";
    case FeedEvent::Kind::escalation: return "escalation";
  }
  return "hit";
}

HitFeed::HitFeed(std::size_t capacity, std::vector<config::RetentionPolicy> policies, Clock clock,
                 Escalation escalation)
    : capacity_(capacity < 1 ? 1 : capacity), policies_(std::move(policies)),
      clock_(clock ? std::move(clock) : Clock(system_now_ms)), escalation_(escalation),
      escalated_metric_(&metrics::counter(
                             "anpr_hits_escalated_total",
                             "Hits this instance's control-room feed escalated: priority at or "
                             "below followup.escalate_priority and not acknowledged within "
                             "followup.escalate_after_s (hits on covert lists are not counted)")
                             .Add({})) {}

HitFeed::~HitFeed() { stop(); }

int64_t HitFeed::deadline(std::string_view camera_country, int64_t capture_ms,
                          int64_t arrival_ms) const {
  // A camera clock in the future gains nothing (docs/retention.md, "Deadline").
  const int64_t capture = std::min(capture_ms, arrival_ms);
  int hit_days = 0;  // no policy: no legal ground to keep the hit
  if (auto country = CountryCode::parse(camera_country); country && country->known())
    for (const config::RetentionPolicy& p : policies_)
      if (p.country == *country) hit_days = p.hit_days;
  if (hit_days <= 0) return capture + kUnkeptHitAlertMs;
  return capture + static_cast<int64_t>(hit_days) * kMsPerDay;
}

void HitFeed::expire(int64_t now) const {
  if (now < next_deadline_) return;
  int64_t next = kNever;
  // Events stay in seq order: erase_if keeps the order of what remains.
  std::erase_if(events_, [&](const FeedEvent& e) REQUIRES(mu_) {
    if (e.deadline_ms > now) {
      next = std::min(next, e.deadline_ms);
      return false;
    }
    if (e.kind == FeedEvent::Kind::hit) hits_.erase(e.hit_id);
    return true;
  });
  next_deadline_ = next;
}

bool HitFeed::add(FeedEvent ev) {
  // The callers refuse duplicates: hits_ holds one entry per hit in events_.
  ANPR_CHECK(ev.kind != FeedEvent::Kind::hit || !hits_.contains(ev.hit_id), "hit added twice");
  ev.seq = ++seq_;
  if (ev.kind == FeedEvent::Kind::hit)
    hits_[ev.hit_id] = HitState{ev.audience, ev.deadline_ms, false, false};
  next_deadline_ = std::min(next_deadline_, ev.deadline_ms);
  events_.push_back(std::move(ev));
  while (events_.size() > capacity_) {
    const FeedEvent& old = events_.front();
    if (old.kind == FeedEvent::Kind::hit) hits_.erase(old.hit_id);
    events_.pop_front();
  }
  return true;
}

bool HitFeed::add_hit(std::string_view json, std::optional<int64_t> arrival_ms) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return false;
  std::string_view id, room, ts, country;
  if (!doc.is_object()) return false;
  if (doc["hit_id"].get_string().get(id) || id.empty() || id.size() > 128) return false;
  if (doc["control_room"].get_string().get(room)) room = {};
  Audience audience{std::string(room), false, {}};
  // A hit on a covert list: only the rooms the list names. A "covert" mark other than true or
  // false (the processor writes no such thing) makes it seen by nobody, and so do rooms that
  // cannot be read.
  if (simdjson::dom::element covert; !doc["covert"].get(covert)) {
    bool flag = true;
    const bool malformed = covert.get_bool().get(flag) != simdjson::SUCCESS;
    audience.covert = malformed || flag;
    if (simdjson::dom::array rooms;
        !malformed && flag && !doc["covert_rooms"].get_array().get(rooms))
      for (simdjson::dom::element r : rooms) {
        std::string_view name;
        if (r.get_string().get(name) || name.empty() || name.size() > kMaxRoomBytes) continue;
        if (audience.rooms.size() == kMaxCovertRooms) break;
        audience.rooms.emplace_back(name);
      }
  }
  // Without its capture time a hit's deadline is unknown: it is not shown at all.
  if (doc["ts"].get_string().get(ts)) return false;
  const std::optional<TimestampMs> captured = parse_rfc3339(ts);
  if (!captured) return false;
  if (doc["camera_country"].get_string().get(country)) country = {};
  const int64_t now = clock_();
  const int64_t arrival = arrival_ms.value_or(now);
  const int64_t due = deadline(country, *captured, arrival);
  if (due <= now) return false;
  HitFacts facts;
  facts.hit_ts = std::string(ts);
  if (std::string_view v; !doc["list_id"].get_string().get(v)) facts.list_id = v;
  if (std::string_view v; !doc["camera_id"].get_string().get(v)) facts.camera_id = v;
  if (int64_t p = -1; !doc["priority"].get_int64().get(p) && p >= 0 && p <= 1000)
    facts.priority = static_cast<int>(p);
  // Minified: the event stream frames events by lines, so the text must hold no line break.
  std::string text = simdjson::minify(doc);
  {
    MutexLock lock(mu_);
    expire(now);
    if (hits_.count(std::string(id))) return false;
    const bool escalates = facts.priority >= 0 && facts.priority <= escalation_.max_priority;
    add(FeedEvent{0, FeedEvent::Kind::hit, std::string(id), std::move(audience), std::move(text),
                  due});
    if (auto it = hits_.find(std::string(id)); it != hits_.end()) {
      it->second.facts = std::move(facts);
      if (escalates) {
        it->second.escalate_at = arrival + escalation_.after_ms;
        next_escalation_ = std::min(next_escalation_, it->second.escalate_at);
      }
    }
    escalate(now);  // a hit that arrives late may be due at once
  }
  cv_.notify_all();
  return true;
}

bool HitFeed::add_record(std::string_view json) {
  if (json.size() > kMaxRecordBytes) return false;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return false;
  std::string_view id, kind = "ack";
  if (!doc.is_object()) return false;
  if (doc["hit_id"].get_string().get(id) || id.empty()) return false;
  if (simdjson::dom::element k; !doc["kind"].get(k) && k.get_string().get(kind)) return false;
  FeedEvent::Kind event_kind;
  if (kind == "ack") event_kind = FeedEvent::Kind::ack;
  else if (kind == "disposition") event_kind = FeedEvent::Kind::disposition;
  else if (kind == "outcome") event_kind = FeedEvent::Kind::outcome;
  else return false;  // a kind this version does not know
  // A disposition or an outcome: who recorded it, in which room, with codes of the right shape.
  std::string_view room, by, disposition, code;
  if (event_kind != FeedEvent::Kind::ack) {
    if (doc["control_room"].get_string().get(room) || room.empty() ||
        room.size() > kMaxRoomBytes)
      return false;
    if (doc["by"].get_string().get(by) || by.empty() || by.size() > kMaxNameBytes) return false;
    if (simdjson::dom::element n; !doc["note"].get(n)) {
      std::string_view note;
      if (n.get_string().get(note) || note.size() > kMaxNoteBytes) return false;
    }
    if (event_kind == FeedEvent::Kind::disposition) {
      if (doc["disposition"].get_string().get(disposition)) return false;
      if (disposition == "rejected") {
        if (doc["reason"].get_string().get(code) || !is_code(code)) return false;
      } else if (disposition != "accepted") {
        return false;
      }
    } else if (doc["outcome"].get_string().get(code) || !is_code(code)) {
      return false;
    }
  }
  std::string text = simdjson::minify(doc);
  {
    MutexLock lock(mu_);
    expire(clock_());
    auto it = hits_.find(std::string(id));
    if (it == hits_.end()) return false;  // unknown here (or no longer held)
    HitState& h = it->second;
    switch (event_kind) {
      case FeedEvent::Kind::ack:
        if (h.acked) return false;  // seen already
        h.acked = true;
        h.reserved = false;
        break;
      case FeedEvent::Kind::disposition:
        // The first disposition read wins; only a room that may see the hit records one.
        if (!h.followup.disposition.empty() || !h.audience.sees(room)) return false;
        h.acked = true;  // a disposition implies the acknowledgement
        h.followup.disposition = disposition;
        h.followup.reason = code;
        h.followup.disposition_json = text;
        break;
      case FeedEvent::Kind::outcome:
        if (h.followup.disposition != "accepted" || !h.followup.outcome.empty() ||
            !h.audience.sees(room))
          return false;
        h.followup.outcome = code;
        h.followup.outcome_json = text;
        break;
      default:
        return false;
    }
    // The record goes with its hit: it names the hit and may say what was done.
    add(FeedEvent{0, event_kind, std::string(id), h.audience, std::move(text), h.deadline_ms});
  }
  cv_.notify_all();
  return true;
}

bool HitFeed::escalate(int64_t now) {
  // Not while refilling: a hit read back may have an acknowledgement not read yet.
  if (now < next_escalation_ || !escalate_ready_.load()) return false;
  std::vector<std::pair<int64_t, std::string>> due;
  int64_t next = kNever;
  for (const auto& [id, h] : hits_) {
    if (h.acked || h.followup.escalated || h.escalate_at == kNever) continue;
    if (h.escalate_at <= now) due.emplace_back(h.escalate_at, id);
    else next = std::min(next, h.escalate_at);
  }
  next_escalation_ = next;
  std::sort(due.begin(), due.end());
  bool added = false;
  for (const auto& [at, id] : due) {
    auto it = hits_.find(id);  // add() may have let an old one go for capacity
    if (it == hits_.end()) continue;
    it->second.followup.escalated = true;
    std::string text;
    JsonWriter w(text);
    w.begin_object();
    w.field("hit_id", id);
    w.field("escalated_at", format_rfc3339(at));
    w.field("priority", it->second.facts.priority);
    w.end_object();
    const bool covert = it->second.audience.covert;
    add(FeedEvent{0, FeedEvent::Kind::escalation, id, it->second.audience, std::move(text),
                  it->second.deadline_ms});
    // No public figure reveals a covert hit (docs/design.md §6).
    if (!covert) {
      escalated_metric_->Increment();
      escalations_.fetch_add(1);
    }
    added = true;
  }
  return added;
}

void HitFeed::tick() {
  bool added;
  {
    MutexLock lock(mu_);
    const int64_t now = clock_();
    expire(now);
    added = escalate(now);
  }
  if (added) cv_.notify_all();
}

HitFeed::Reservation HitFeed::reserve_followup(std::string_view hit_id, std::string_view room) {
  Reservation r;
  MutexLock lock(mu_);
  expire(clock_());  // a hit past its deadline can no longer be followed up
  auto it = hits_.find(std::string(hit_id));
  if (it == hits_.end()) return r;
  HitState& h = it->second;
  if (!h.audience.sees(room)) {
    r.lookup = Lookup::not_visible;
    return r;
  }
  r.lookup = h.acked ? Lookup::acknowledged : Lookup::open;
  r.state = h.followup;
  r.state.acked = h.acked;
  r.facts = h.facts;
  r.audience = h.audience;
  if (h.followup_busy || h.reserved) {
    r.busy = true;
    return r;
  }
  h.followup_busy = true;
  if (!h.acked) {
    h.reserved = true;
    r.ack_reserved = true;
  }
  return r;
}

void HitFeed::finish_followup(std::string_view hit_id, bool release_ack) {
  MutexLock lock(mu_);
  auto it = hits_.find(std::string(hit_id));
  if (it == hits_.end()) return;
  it->second.followup_busy = false;
  if (release_ack) it->second.reserved = false;
}

std::optional<FollowupState> HitFeed::followup(std::string_view hit_id) const {
  MutexLock lock(mu_);
  expire(clock_());
  auto it = hits_.find(std::string(hit_id));
  if (it == hits_.end()) return std::nullopt;
  FollowupState s = it->second.followup;
  s.acked = it->second.acked;
  return s;
}

std::vector<FeedEvent> HitFeed::events_after(uint64_t after, std::string_view room,
                                             std::chrono::milliseconds timeout, std::size_t max) {
  std::vector<FeedEvent> out;
  MutexLock lock(mu_);
  const auto collect = [&]() REQUIRES(mu_) {
    // Checked at every serve, not only when added: a hit held since before its deadline is not
    // served from that moment on, also to a page resuming after an older Last-Event-ID.
    const int64_t now = clock_();
    expire(now);
    escalate(now);
    // Events are in sequence order (with gaps where events expired): skip to the first after
    // `after`.
    if (events_.empty() || events_.back().seq <= after) return false;
    auto it = std::partition_point(events_.begin(), events_.end(),
                                   [&](const FeedEvent& e) { return e.seq <= after; });
    for (; it != events_.end() && out.size() < max; ++it)
      if (it->audience.sees(room)) out.push_back(*it);
    // Nothing visible to this room: still done when the scan reached the end.
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!stop_.load()) {
    if (collect() && !out.empty()) return out;
    // Advance past invisible events so a room's wait does not spin on them.
    if (!events_.empty() && events_.back().seq > after) after = events_.back().seq;
    if (cv_.wait_until(lock.native(), deadline) == std::cv_status::timeout) break;
  }
  return out;
}

HitFeed::Lookup HitFeed::lookup(std::string_view hit_id, std::string_view room) const {
  MutexLock lock(mu_);
  expire(clock_());
  auto it = hits_.find(std::string(hit_id));
  if (it == hits_.end()) return Lookup::unknown;
  if (!it->second.audience.sees(room)) return Lookup::not_visible;
  return it->second.acked ? Lookup::acknowledged : Lookup::open;
}

HitFeed::Lookup HitFeed::reserve_ack(std::string_view hit_id, std::string_view room,
                                     HitFacts* facts, Audience* audience) {
  MutexLock lock(mu_);
  expire(clock_());  // a hit past its deadline can no longer be acknowledged
  auto it = hits_.find(std::string(hit_id));
  if (it == hits_.end()) return Lookup::unknown;
  if (!it->second.audience.sees(room)) return Lookup::not_visible;
  if (facts) *facts = it->second.facts;
  if (audience) *audience = it->second.audience;
  if (it->second.acked || it->second.reserved || it->second.followup_busy)
    return Lookup::acknowledged;
  it->second.reserved = true;
  return Lookup::open;
}

void HitFeed::release(std::string_view hit_id) {
  MutexLock lock(mu_);
  auto it = hits_.find(std::string(hit_id));
  if (it != hits_.end()) it->second.reserved = false;
}

uint64_t HitFeed::last_seq() const {
  MutexLock lock(mu_);
  return seq_;
}

std::size_t HitFeed::size() const {
  MutexLock lock(mu_);
  expire(clock_());
  return events_.size();
}

std::vector<FeedEvent> HitFeed::recent_hits(
    std::size_t max, const std::function<bool(const Audience&)>& keep) const {
  std::vector<FeedEvent> out;
  MutexLock lock(mu_);
  expire(clock_());
  for (auto it = events_.rbegin(); it != events_.rend() && out.size() < max; ++it)
    if (it->kind == FeedEvent::Kind::hit && keep(it->audience)) out.push_back(*it);
  return out;
}

void HitFeed::wake_all() { cv_.notify_all(); }

void HitFeed::stop() {
  stop_.store(true);
  cv_.notify_all();
  follower_.stop();
}

void HitFeed::start(const config::Settings& settings) {
  TopicFollower::Options o;
  o.name = "hit feed";
  // No consumer group: every instance reads everything and commits nothing.
  o.group_prefix = "anpr-hit-feed";
  o.topics = {settings.topics.hits, settings.topics.hit_acks};
  o.start = FollowerStart::last(static_cast<int64_t>(capacity_));
  o.fixed = {{"fetch.wait.max.ms", "50"}};
  o.unsigned_log = "";  // logged at most once a minute per topic; the metric counts all
  o.caught_up_at_most = kRefillAtMost;
  auto& family = metrics::counter(
      "anpr_unsigned_records_total",
      "Hits and acknowledgements the control rooms' feed read from Kafka and ignored because "
      "they were not signed with a key of kafka.signing_key_file (unsigned, another key, "
      "signed for another topic or changed since), by topic");
  std::vector<prometheus::Counter*> unsigned_metric;
  for (const std::string& t : o.topics) unsigned_metric.push_back(&family.Add({{"topic", t}}));
  TopicFollower::Callbacks cb;
  cb.on_unsigned = [this, unsigned_metric](const FollowedRecord& r) {
    unsigned_metric[r.topic]->Increment();
    unsigned_records_.fetch_add(1);
  };
  cb.on_record = [this](const FollowedRecord& r) {
    // The message's time is when the hit was published: a refill after a restart judges a
    // future capture time against it, not against the refill.
    if (r.topic == 0) add_hit(r.value, r.published_ms);
    else add_record(r.value);
    tick();
  };
  cb.on_idle = [this] { tick(); };  // escalations fall due without any record arriving
  // No escalation until the refill has read both topics up to where they ended at assignment
  // (or for kRefillAtMost at most): a hit read back would else be escalated before its
  // acknowledgement is read.
  cb.on_caught_up = [this] { escalate_ready_.store(true); };
  // A follower from an earlier start() is stopped first, so its late on_caught_up cannot mark
  // this refill done.
  follower_.stop();
  stop_.store(false);
  escalate_ready_.store(false);
  try {
    follower_.start(settings.kafka, std::move(o), std::move(cb));
  } catch (...) {
    escalate_ready_.store(true);  // nothing is being refilled
    throw;
  }
}

}  // namespace anpr::app
