#include "serve/yield_book.h"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "match/ids.h"
#include "match/time.h"

namespace anpr::app {

namespace {

constexpr std::size_t kMaxIdBytes = 128;
constexpr std::size_t kMaxCameraBytes = 64;
constexpr std::size_t kMaxCodeBytes = 64;
// The feed's rule for hits of a country that keeps none (serve/hit_feed.h).
constexpr int64_t kUnkeptHitMs = 60 * 60 * 1000;

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool code_chars(std::string_view s) {
  if (s.empty() || s.size() > kMaxCodeBytes) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

}  // namespace

YieldCodes default_yield_codes() {
  return {{"misread", "wrong_vehicle", "duplicate", "out_of_area", "no_capacity", "other"},
          {"intercepted", "observed", "not_found", "owner_notified", "no_action"}};
}

std::optional<int64_t> median_ms(std::vector<int64_t>& v) {
  if (v.empty()) return std::nullopt;
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const int64_t upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  const int64_t lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  // The mean without overflow, rounded down (both are >= 0).
  return lower + (upper - lower) / 2;
}

YieldBook::YieldBook(Limits limits, YieldCodes codes, std::vector<config::RetentionPolicy> policies,
                     Clock clock)
    : limits_(limits), codes_(std::move(codes)), policies_(std::move(policies)),
      clock_(clock ? std::move(clock) : Clock(system_now_ms)) {}

YieldBook::~YieldBook() { stop(); }

std::string YieldBook::known_code(std::string_view code,
                                  const std::vector<std::string>& known) const {
  for (const std::string& k : known)
    if (k == code) return k;
  return std::string(kUnknownCode);
}

void YieldBook::evict(const std::string& hit_id) const {
  auto it = rows_.find(hit_id);
  if (it == rows_.end()) return;
  by_leave_.erase({it->second.leave_ms, hit_id});
  rows_.erase(it);
}

void YieldBook::expire(int64_t now) const {
  while (!by_leave_.empty() && by_leave_.begin()->first <= now) {
    const std::string id = by_leave_.begin()->second;
    evict(id);
  }
  // Records that waited longer than the window for their hit: it will not come.
  while (!waiting_.empty() && waiting_.front().ts_ms <= now - limits_.window_ms) {
    auto w = waiting_per_hit_.find(waiting_.front().hit_id);
    if (w != waiting_per_hit_.end() && --w->second == 0) waiting_per_hit_.erase(w);
    waiting_.pop_front();
    ++dropped_waiting_;
  }
}

YieldBook::Taken YieldBook::apply(Row& row, const Record& r) {
  bool changed = false;
  if (row.ack_ms < 0 && r.kind != Record::Kind::outcome) {
    // A disposition implies the acknowledgement (docs/control-room.md).
    row.ack_ms = std::max(r.ts_ms, row.hit_ms);
    changed = true;
  }
  if (r.kind == Record::Kind::disposition && row.disposition == Row::Disposition::none) {
    row.disposition = r.accepted ? Row::Disposition::accepted : Row::Disposition::rejected;
    if (!r.accepted) row.reason = r.code;
    changed = true;
  }
  if (r.kind == Record::Kind::outcome && row.disposition == Row::Disposition::accepted &&
      row.outcome.empty()) {
    row.outcome = r.code;
    changed = true;
  }
  return changed ? Taken::applied : Taken::unchanged;
}

bool YieldBook::add_hit(std::string_view json, std::optional<int64_t> arrival_ms) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view id, list, camera, ts, country;
  if (parser.parse(json.data(), json.size()).get(doc) || !doc.is_object() ||
      doc["hit_id"].get_string().get(id) || id.empty() || id.size() > kMaxIdBytes ||
      doc["list_id"].get_string().get(list) || !ListId::valid(list) ||
      doc["camera_id"].get_string().get(camera) || camera.empty() ||
      camera.size() > kMaxCameraBytes || doc["ts"].get_string().get(ts)) {
    ignored_malformed_.fetch_add(1);
    return false;
  }
  const std::optional<TimestampMs> captured = parse_rfc3339(ts);
  if (!captured) {
    ignored_malformed_.fetch_add(1);
    return false;
  }
  // Covert as the feed reads it: anything but a readable `false` (or no mark) is covert.
  bool covert = false;
  if (simdjson::dom::element mark; !doc["covert"].get(mark)) {
    bool flag = true;
    covert = mark.get_bool().get(flag) != simdjson::SUCCESS || flag;
  }
  if (doc["camera_country"].get_string().get(country)) country = {};
  const int64_t now = clock_();
  // The deadline as the feed computes it (serve/hit_feed.h): a capture time later than the
  // arrival counts as the arrival.
  const int64_t capture = std::min<int64_t>(*captured, arrival_ms.value_or(now));
  int hit_days = 0;
  if (auto c = CountryCode::parse(country); c && c->known())
    for (const config::RetentionPolicy& p : policies_)
      if (p.country == *c) hit_days = p.hit_days;
  const int64_t deadline =
      hit_days <= 0 ? capture + kUnkeptHitMs : capture + int64_t{hit_days} * kMsPerDay;
  const int64_t leave = std::min(deadline, capture + limits_.window_ms);
  if (leave <= now) return false;

  MutexLock lock(mu_);
  expire(now);
  std::string key(id);
  if (rows_.contains(key)) return false;  // delivered twice: counted once
  if (rows_.size() >= limits_.max_hits) {
    // Full: the hit closest to leaving goes first, the new one included.
    if (leave <= by_leave_.begin()->first) return false;
    evict(std::string(by_leave_.begin()->second));
  }
  Row& row = rows_[key];
  row.list_id = std::string(list);
  row.camera_id = std::string(camera);
  row.hit_ms = *captured;
  row.leave_ms = leave;
  row.covert = covert;
  by_leave_.emplace(leave, key);
  // Records that came first, in the order they came.
  if (auto w = waiting_per_hit_.find(key); w != waiting_per_hit_.end()) {
    waiting_per_hit_.erase(w);
    std::erase_if(waiting_, [&](const Record& r) {
      if (r.hit_id != key) return false;
      apply(row, r);
      return true;
    });
  }
  return true;
}

YieldBook::Taken YieldBook::add_record(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view id, kind = "ack", ts;
  const auto bad = [&] {
    ignored_malformed_.fetch_add(1);
    return Taken::malformed;
  };
  if (parser.parse(json.data(), json.size()).get(doc) || !doc.is_object() ||
      doc["hit_id"].get_string().get(id) || id.empty() || id.size() > kMaxIdBytes)
    return bad();
  // A record without "kind" is an acknowledgement of an older version.
  if (simdjson::dom::element k; !doc["kind"].get(k) && k.get_string().get(kind)) return bad();
  Record r;
  r.hit_id = std::string(id);
  // When it was recorded (older acknowledgements have it too).
  if (doc["ts"].get_string().get(ts)) return bad();
  const std::optional<TimestampMs> at = parse_rfc3339(ts);
  if (!at) return bad();
  r.ts_ms = *at;
  if (kind == "ack") {
    r.kind = Record::Kind::ack;
  } else if (kind == "disposition") {
    r.kind = Record::Kind::disposition;
    std::string_view d, reason;
    if (doc["disposition"].get_string().get(d)) return bad();
    if (d == "accepted") {
      r.accepted = true;
    } else if (d == "rejected") {
      r.code = doc["reason"].get_string().get(reason) || !code_chars(reason)
                   ? std::string(kUnknownCode)
                   : known_code(reason, codes_.reject_reasons);
    } else {
      return bad();
    }
  } else if (kind == "outcome") {
    r.kind = Record::Kind::outcome;
    std::string_view o;
    if (doc["outcome"].get_string().get(o)) return bad();
    r.code = code_chars(o) ? known_code(o, codes_.outcomes) : std::string(kUnknownCode);
  } else {
    return bad();  // a kind this version does not know
  }

  MutexLock lock(mu_);
  const int64_t now = clock_();
  expire(now);
  if (auto it = rows_.find(r.hit_id); it != rows_.end()) return apply(it->second, r);
  // Its hit is not held: it may still come (the topics interleave), unless the record is older
  // than the window.
  if (r.ts_ms <= now - limits_.window_ms) return Taken::unchanged;
  if (limits_.max_pending == 0) return Taken::unchanged;
  while (waiting_.size() >= limits_.max_pending) {
    auto w = waiting_per_hit_.find(waiting_.front().hit_id);
    if (w != waiting_per_hit_.end() && --w->second == 0) waiting_per_hit_.erase(w);
    waiting_.pop_front();
    ++dropped_waiting_;
  }
  ++waiting_per_hit_[r.hit_id];
  waiting_.push_back(std::move(r));
  return Taken::waiting;
}

std::vector<ListYield> YieldBook::lists(bool with_covert) const {
  std::map<std::string, ListYield> by_list;
  std::map<std::string, std::vector<int64_t>> delays;
  {
    MutexLock lock(mu_);
    expire(clock_());
    for (const auto& [id, row] : rows_) {
      if (row.covert && !with_covert) continue;
      ListYield& y = by_list[row.list_id];
      y.list_id = row.list_id;
      y.covert = y.covert || row.covert;
      ++y.hits;
      if (row.ack_ms >= 0) {
        ++y.acknowledged;
        delays[row.list_id].push_back(std::max<int64_t>(0, row.ack_ms - row.hit_ms));
      } else {
        ++y.not_followed_up;
      }
      if (row.disposition == Row::Disposition::accepted) {
        ++y.accepted;
        if (!row.outcome.empty()) ++y.outcomes[row.outcome];
      } else if (row.disposition == Row::Disposition::rejected) {
        ++y.rejected;
        ++y.rejected_by_reason[row.reason];
        if (row.reason == kMisread) ++y.misreads;
      }
    }
  }
  std::vector<ListYield> out;
  out.reserve(by_list.size());
  for (auto& [id, y] : by_list) {
    y.median_ack_ms = median_ms(delays[id]);
    out.push_back(std::move(y));
  }
  return out;
}

std::vector<CameraYield> YieldBook::cameras() const {
  std::map<std::string, CameraYield> by_camera;
  MutexLock lock(mu_);
  expire(clock_());
  for (const auto& [id, row] : rows_) {
    if (row.covert) continue;
    CameraYield& y = by_camera[row.camera_id];
    y.camera_id = row.camera_id;
    ++y.hits;
    if (row.ack_ms >= 0) ++y.acknowledged;
    if (row.disposition != Row::Disposition::none) ++y.dispositions;
    if (row.disposition == Row::Disposition::rejected && row.reason == kMisread) ++y.misreads;
  }
  std::vector<CameraYield> out;
  out.reserve(by_camera.size());
  for (auto& [id, y] : by_camera) out.push_back(std::move(y));
  return out;
}

YieldBook::Stats YieldBook::stats() const {
  Stats s;
  MutexLock lock(mu_);
  expire(clock_());
  s.hits_held = rows_.size();
  s.records_waiting = waiting_.size();
  for (const auto& [id, row] : rows_)
    if (s.oldest_hit_ms == 0 || row.hit_ms < s.oldest_hit_ms) s.oldest_hit_ms = row.hit_ms;
  s.ignored_malformed = ignored_malformed_.load();
  s.ignored_unsigned = ignored_unsigned_.load();
  s.dropped_waiting = dropped_waiting_;
  return s;
}

void YieldBook::stop() { follower_.stop(); }

void YieldBook::start(const config::Settings& settings) {
  TopicFollower::Options o;
  o.name = "yield";
  // No consumer group: every instance reads everything from the start and commits nothing.
  o.group_prefix = "anpr-yield";
  o.topics = {settings.topics.hits, settings.topics.hit_acks};
  o.start = FollowerStart::beginning();
  o.fixed = {{"fetch.wait.max.ms", "100"}};
  TopicFollower::Callbacks cb;
  // Unsigned or wrongly signed records are ignored here as in the feed, which also counts and
  // logs them (anpr_unsigned_records_total).
  cb.on_unsigned = [this](const FollowedRecord&) { ignored_unsigned_.fetch_add(1); };
  cb.on_record = [this](const FollowedRecord& r) {
    if (r.topic == 0) add_hit(r.value, r.published_ms);
    else add_record(r.value);
  };
  follower_.start(settings.kafka, std::move(o), std::move(cb));
}

metrics::Collector collect_yield(const YieldBook& book) {
  return metrics::add_collector([&book](metrics::Families& out) {
    const std::vector<ListYield> lists = book.lists(/*with_covert=*/false);
    {
      auto f = out.gauge("anpr_list_yield_hits",
                         "Hits of the yield window (30 days), by list; covert lists are left "
                         "out");
      for (const ListYield& y : lists) f.add({{"list", y.list_id}}, static_cast<double>(y.hits));
    }
    {
      auto f = out.gauge("anpr_list_yield_followed_up",
                         "Hits of the yield window acknowledged or given a disposition, by list");
      for (const ListYield& y : lists)
        f.add({{"list", y.list_id}}, static_cast<double>(y.acknowledged));
    }
    {
      auto f = out.gauge("anpr_list_yield_dispositions",
                         "Hits of the yield window by disposition (accepted, or the reason of "
                         "the rejection), by list");
      for (const ListYield& y : lists) {
        f.add({{"list", y.list_id}, {"disposition", "accepted"}},
              static_cast<double>(y.accepted));
        for (const auto& [reason, n] : y.rejected_by_reason)
          f.add({{"list", y.list_id}, {"disposition", "rejected"}, {"reason", reason}},
                static_cast<double>(n));
      }
    }
    {
      auto f = out.gauge("anpr_list_yield_outcomes",
                         "Accepted hits of the yield window by outcome, by list");
      for (const ListYield& y : lists)
        for (const auto& [outcome, n] : y.outcomes)
          f.add({{"list", y.list_id}, {"outcome", outcome}}, static_cast<double>(n));
    }
    {
      auto f = out.gauge("anpr_list_yield_median_ack_seconds",
                         "Median time from capture to the first acknowledgement, hits of the "
                         "yield window, by list (lists with an acknowledged hit)");
      for (const ListYield& y : lists)
        if (y.median_ack_ms)
          f.add({{"list", y.list_id}}, static_cast<double>(*y.median_ack_ms) / 1000.0);
    }
    const std::vector<CameraYield> cams = book.cameras();
    {
      auto f = out.gauge("anpr_camera_yield_hits",
                         "Hits of the yield window by camera (covert hits left out)");
      for (const CameraYield& c : cams)
        f.add({{"camera", c.camera_id}}, static_cast<double>(c.hits));
    }
    {
      auto f = out.gauge("anpr_camera_yield_dispositions",
                         "Hits of the yield window given a disposition, by camera");
      for (const CameraYield& c : cams)
        f.add({{"camera", c.camera_id}}, static_cast<double>(c.dispositions));
    }
    {
      auto f = out.gauge("anpr_camera_misreads",
                         "Hits of the yield window rejected as misreads, by camera");
      for (const CameraYield& c : cams)
        f.add({{"camera", c.camera_id}}, static_cast<double>(c.misreads));
    }
    const YieldBook::Stats s = book.stats();
    out.gauge("anpr_yield_hits_held", "Hits the yield figures are computed from (at most 200000)")
        .add({}, static_cast<double>(s.hits_held));
    out.gauge("anpr_yield_records_waiting",
              "Follow-up records held until their hit is read from the hits topic")
        .add({}, static_cast<double>(s.records_waiting));
    out.counter("anpr_yield_records_ignored_total",
                "Hits and follow-up records the yield figures ignored, by reason (malformed, "
                "unsigned, waited_too_long: a record whose hit never came)")
        .add({{"reason", "malformed"}}, static_cast<double>(s.ignored_malformed))
        .add({{"reason", "unsigned"}}, static_cast<double>(s.ignored_unsigned))
        .add({{"reason", "waited_too_long"}}, static_cast<double>(s.dropped_waiting));
  });
}

}  // namespace anpr::app
