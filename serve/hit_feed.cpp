#include "serve/hit_feed.h"

#include <librdkafka/rdkafka.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "base/check.h"
#include "kafka/client.h"
#include "kafka/signing.h"
#include "metrics/metrics.h"
#include "pipeline/kafka_props.h"
#include "logging/log.h"
#include "match/time.h"

namespace anpr::app {

namespace {

// Bounds on what a hit record may claim of its covert audience (the list sidecar's limits).
constexpr std::size_t kMaxCovertRooms = 64;
constexpr std::size_t kMaxRoomBytes = 64;
// At most one log line per topic in this time about ignored records (the metric counts all).
constexpr auto kUnsignedLogEvery = std::chrono::minutes(1);

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The signature check of the records the feed reads (see hit_feed.h), for the consumer thread.
class SignatureCheck {
 public:
  SignatureCheck(const config::Settings& s, const std::vector<std::string>& topics)
      : signer_(s.kafka.signing_keys), topics_(topics) {
    auto& family = metrics::counter(
        "anpr_unsigned_records_total",
        "Hits and acknowledgements the control rooms' feed read from Kafka and ignored because "
        "they were not signed with a key of kafka.signing_key_file (unsigned, another key, "
        "signed for another topic or changed since), by topic");
    for (const std::string& t : topics_) {
      counters_.push_back(&family.Add({{"topic", t}}));
      unlogged_.push_back(0);
      last_log_.push_back(std::chrono::steady_clock::time_point::min());
    }
  }

  // Whether the record of topics[t] may be taken; counts and logs the ones that may not.
  bool ok(const rd_kafka_message_t& m, std::size_t t, std::atomic<uint64_t>& total) {
    if (!signer_.enabled() || signer_.verify(m)) return true;
    counters_[t]->Increment();
    total.fetch_add(1);
    ++unlogged_[t];
    const auto now = std::chrono::steady_clock::now();
    if (last_log_[t] == std::chrono::steady_clock::time_point::min() ||
        now - last_log_[t] >= kUnsignedLogEvery) {
      // Where the record is, never what it says: it may be anybody's text.
      const bool has_sig = !kafka::signature_header(m).empty();
      log::warn("run",
                "hit feed: ignored " + std::to_string(unlogged_[t]) + " record(s) of " +
                    topics_[t] + " without a valid signature (" +
                    (has_sig ? "wrong signature" : "unsigned") + ", latest at partition " +
                    std::to_string(m.partition) + " offset " + std::to_string(m.offset) +
                    "); see docs/kafka.md, \"Signed records\"",
                {{"topic", topics_[t]},
                 {"records", unlogged_[t]},
                 {"partition", static_cast<int64_t>(m.partition)},
                 {"offset", static_cast<int64_t>(m.offset)},
                 {"reason", has_sig ? "wrong_signature" : "unsigned"}});
      last_log_[t] = now;
      unlogged_[t] = 0;
    }
    return false;
  }

 private:
  const kafka::Signer signer_;
  const std::vector<std::string> topics_;
  std::vector<prometheus::Counter*> counters_;
  std::vector<uint64_t> unlogged_;
  std::vector<std::chrono::steady_clock::time_point> last_log_;
};

}  // namespace

HitFeed::HitFeed(std::size_t capacity, std::vector<config::RetentionPolicy> policies, Clock clock)
    : capacity_(capacity < 1 ? 1 : capacity), policies_(std::move(policies)),
      clock_(clock ? std::move(clock) : Clock(system_now_ms)) {}

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
  const int64_t due = deadline(country, *captured, arrival_ms.value_or(now));
  if (due <= now) return false;
  // Minified: the event stream frames events by lines, so the text must hold no line break.
  std::string text = simdjson::minify(doc);
  {
    MutexLock lock(mu_);
    expire(now);
    if (hits_.count(std::string(id))) return false;
    add(FeedEvent{0, FeedEvent::Kind::hit, std::string(id), std::move(audience), std::move(text),
                  due});
  }
  cv_.notify_all();
  return true;
}

bool HitFeed::add_ack(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return false;
  std::string_view id;
  if (!doc.is_object()) return false;
  if (doc["hit_id"].get_string().get(id) || id.empty()) return false;
  std::string text = simdjson::minify(doc);
  {
    MutexLock lock(mu_);
    expire(clock_());
    auto it = hits_.find(std::string(id));
    if (it == hits_.end() || it->second.acked) return false;  // unknown here, or seen already
    it->second.acked = true;
    it->second.reserved = false;
    // The acknowledgement goes with its hit: it names the hit and may say what was done.
    add(FeedEvent{0, FeedEvent::Kind::ack, std::string(id), it->second.audience,
                  std::move(text), it->second.deadline_ms});
  }
  cv_.notify_all();
  return true;
}

std::vector<FeedEvent> HitFeed::events_after(uint64_t after, std::string_view room,
                                             std::chrono::milliseconds timeout, std::size_t max) {
  std::vector<FeedEvent> out;
  MutexLock lock(mu_);
  const auto collect = [&]() REQUIRES(mu_) {
    // Checked at every serve, not only when added: a hit held since before its deadline is not
    // served from that moment on, also to a page resuming after an older Last-Event-ID.
    expire(clock_());
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

HitFeed::Lookup HitFeed::reserve_ack(std::string_view hit_id, std::string_view room) {
  MutexLock lock(mu_);
  expire(clock_());  // a hit past its deadline can no longer be acknowledged
  auto it = hits_.find(std::string(hit_id));
  if (it == hits_.end()) return Lookup::unknown;
  if (!it->second.audience.sees(room)) return Lookup::not_visible;
  if (it->second.acked || it->second.reserved) return Lookup::acknowledged;
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
  if (thread_.joinable()) thread_.join();
}

void HitFeed::start(const config::Settings& settings) {
  // No consumer group: every instance reads everything and commits nothing.
  kafka::Consumer consumer(
      kafka_properties(settings.kafka, KafkaRole::consumer, "4", {},
                       {{"group.id", "anpr-hit-feed-" + std::to_string(::getpid())},
                        {"enable.auto.commit", "false"},
                        {"enable.auto.offset.store", "false"},
                        {"fetch.wait.max.ms", "50"}}));
  const std::vector<std::string> topics = {settings.topics.hits, settings.topics.hit_acks};
  const int64_t tail = static_cast<int64_t>(capacity_);
  // The thread owns the consumer and closes it when its loop ends.
  auto check = std::make_shared<SignatureCheck>(settings, topics);
  thread_ = std::thread([this, rk = std::move(consumer), topics, tail, check]() mutable {
    std::vector<bool> assigned(topics.size(), false);
    auto next_check = std::chrono::steady_clock::now();
    while (!stop_.load()) {
      if (std::chrono::steady_clock::now() >= next_check) {
        next_check = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        for (std::size_t t = 0; t < topics.size(); ++t) {
          if (assigned[t]) continue;
          rd_kafka_topic_t* th = rd_kafka_topic_new(rk.get(), topics[t].c_str(), nullptr);
          const rd_kafka_metadata_t* md = nullptr;
          if (rd_kafka_metadata(rk.get(), 0, th, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
              md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
            kafka::PartitionList parts(
                rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt));
            for (int p = 0; p < md->topics[0].partition_cnt; ++p)
              rd_kafka_topic_partition_list_add(parts.get(), topics[t].c_str(),
                                                md->topics[0].partitions[p].id)
                  ->offset = RD_KAFKA_OFFSET_TAIL(tail);
            if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk.get(), parts.get())) {
              log::warn("run",
                        "hit feed: cannot follow " + topics[t] + ": " + rd_kafka_error_string(e),
                        {{"topic", topics[t]}, {"error", rd_kafka_error_string(e)}});
              rd_kafka_error_destroy(e);
            } else {
              assigned[t] = true;
            }
          }
          if (md) rd_kafka_metadata_destroy(md);
          rd_kafka_topic_destroy(th);
        }
      }
      const kafka::Message m = rk.poll(200);
      if (!m || m->err) continue;
      const std::string_view value(static_cast<const char*>(m->payload), m->len);
      const bool is_hit = rd_kafka_topic_name(m->rkt) == topics[0];
      if (!check->ok(*m, is_hit ? 0 : 1, unsigned_records_)) continue;
      if (is_hit) {
        // The message's time is when the hit was published: a refill after a restart judges a
        // future capture time against it, not against the refill.
        rd_kafka_timestamp_type_t type;
        const int64_t published = rd_kafka_message_timestamp(m.get(), &type);
        add_hit(value, type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || published < 0
                           ? std::nullopt
                           : std::optional<int64_t>(published));
      } else {
        add_ack(value);
      }
    }
    rk.close();
  });
}

}  // namespace anpr::app
