#include "serve/status_api.h"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "base/json_writer.h"
#include "ingest/cameras.h"
#include "match/time.h"
#include "pipeline/processor.h"

namespace anpr::app {

StatusHistory::StatusHistory(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

void StatusHistory::add(const StatusSample& s) {
  MutexLock lock(mu_);
  samples_.push_back(s);
  while (samples_.size() > capacity_) samples_.pop_front();
}

std::vector<StatusSample> StatusHistory::samples() const {
  MutexLock lock(mu_);
  return {samples_.begin(), samples_.end()};
}

namespace {

// Per second over `seconds`; 0 when the counter went back (a restart) or no time passed.
double rate(uint64_t before, uint64_t now, double seconds) {
  if (now < before || seconds <= 0) return 0;
  return static_cast<double>(now - before) / seconds;
}

}  // namespace

std::string history_json(const std::vector<StatusSample>& samples, int64_t interval_ms,
                         std::size_t capacity) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("interval_ms", interval_ms);
  w.field("capacity", static_cast<uint64_t>(capacity));
  w.key("samples");
  w.begin_array();
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const StatusSample& s = samples[i];
    w.begin_object();
    w.field("t", format_rfc3339(s.t_ms));
    if (i > 0) {
      const StatusSample& p = samples[i - 1];
      const double secs = static_cast<double>(s.t_ms - p.t_ms) / 1000.0;
      w.field("reads_per_s", rate(p.reads, s.reads, secs));
      w.field("hits_per_s", rate(p.hits, s.hits, secs));
      w.field("deadletters_per_s", rate(p.deadletters, s.deadletters, secs));
    }
    w.field("consumer_lag", s.consumer_lag);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return out;
}

StatusSample sample_processor(const Processor& p, int64_t now_ms) {
  const ProcessorCounters c = p.counters();
  StatusSample s;
  s.t_ms = now_ms;
  s.reads = c.reads;
  // As anpr_hits_total: hits_by_list leaves the covert lists out (pipeline/processor.cpp).
  for (const auto& [key, n] : c.hits_by_list) s.hits += n;
  s.deadletters = c.deadletters;
  for (const PartitionLag& l : p.consumer_lag()) s.consumer_lag += std::max<int64_t>(l.lag, 0);
  return s;
}

StatusSampler::StatusSampler(StatusHistory& history, std::function<StatusSample()> source,
                             int64_t interval_ms)
    : history_(history), source_(std::move(source)), interval_ms_(std::max<int64_t>(interval_ms, 1)) {}

StatusSampler::~StatusSampler() { stop(); }

void StatusSampler::start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      history_.add(source_());
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; });
    }
  });
}

void StatusSampler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

namespace {

constexpr http::Roles kEveryRole =
    http::Role::operator_ | http::Role::controlroom | http::Role::investigator | http::Role::engineer;

// Where a hit on the map is: its own position, else its camera's. False when neither is known.
bool hit_position(const FeedEvent& e, const CameraRegistry* cameras, std::string& camera_id,
                  double& lat, double& lon, std::string& ts) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(e.json).get(doc)) return false;
  std::string_view v;
  if (doc["camera_id"].get(v)) return false;
  camera_id = v;
  ts = doc["ts"].get(v) ? std::string() : std::string(v);
  if (!doc["lat"].get(lat) && !doc["lon"].get(lon) && lat >= -90 && lat <= 90 && lon >= -180 &&
      lon <= 180)
    return true;
  const Camera* cam = cameras ? cameras->find(camera_id) : nullptr;
  if (!cam || !cam->lat || !cam->lon) return false;
  lat = *cam->lat;
  lon = *cam->lon;
  return true;
}

}  // namespace

void add_status_routes(HttpService& service, const StatusHistory& history, int64_t interval_ms,
                       HitFeed* feed) {
  http::Server& server = service.server();
  server.get("/api/v1/status/history", kEveryRole,
             [&history, interval_ms](const http::Request&, http::Response& res,
                                     const http::Principal&) {
               http::send_json(res, 200,
                               history_json(history.samples(), interval_ms, history.capacity()));
             });
  const ServiceContext* ctx = &service.context();
  server.get("/api/v1/status/map", kEveryRole,
             [ctx, feed](const http::Request&, http::Response& res, const http::Principal& who) {
               std::string body;
               JsonWriter w(body);
               w.begin_object();
               w.key("cameras");
               w.begin_array();
               if (ctx->cameras)
                 for (const Camera& c : ctx->cameras->cameras()) {
                   if (!c.lat || !c.lon) continue;
                   w.begin_object();
                   w.field("camera_id", c.id);
                   w.field("country", c.country.str());
                   w.field("site", c.site);
                   w.field("lat", *c.lat);
                   w.field("lon", *c.lon);
                   w.end_object();
                 }
               w.end_array();
               w.key("hits");
               w.begin_array();
               if (feed) {
                 // Never a covert list's hit, whoever asks (docs/operators.md, "Covert lists");
                 // a control room only its own room's hits, as on its live page.
                 const bool room_only = who.role == http::Role::controlroom;
                 const std::string room = who.control_room;
                 const auto keep = [room_only, &room](const Audience& a) {
                   return !a.covert && (!room_only || a.sees(room));
                 };
                 std::string camera_id, ts;
                 double lat = 0, lon = 0;
                 for (const FeedEvent& e : feed->recent_hits(kMapHits, keep)) {
                   if (!hit_position(e, ctx->cameras, camera_id, lat, lon, ts)) continue;
                   w.begin_object();
                   w.field("camera_id", camera_id);
                   w.field("lat", lat);
                   w.field("lon", lon);
                   w.field("ts", ts);
                   w.end_object();
                 }
               }
               w.end_array();
               w.end_object();
               http::send_json(res, 200, std::move(body));
             });
}

void add_hit_filter_routes(HttpService& service) {
  const ServiceContext* ctx = &service.context();
  service.server().get(
      "/api/v1/hits/filters", http::roles(http::Role::controlroom),
      [ctx](const http::Request&, http::Response& res, const http::Principal& who) {
        std::string body;
        JsonWriter w(body);
        w.begin_object();
        w.key("lists");
        w.begin_array();
        if (ctx->index) {
          const LiveIndex::Reader snap = ctx->index->read();
          std::vector<const ListMeta*> lists;
          for (std::size_t i = 0; i < snap->list_count(); ++i) {
            const ListMeta& m = snap->list(static_cast<uint16_t>(i));
            // A covert list only to the rooms it names, as its hits (serve/hit_feed.h).
            if (m.covert && !Audience{"", true, m.rooms}.sees(who.control_room)) continue;
            lists.push_back(&m);
          }
          std::sort(lists.begin(), lists.end(),
                    [](const ListMeta* a, const ListMeta* b) { return a->id < b->id; });
          for (const ListMeta* m : lists) {
            w.begin_object();
            w.field("list_id", m->id);
            w.field("owner", m->owner.str());
            w.end_object();
          }
        }
        w.end_array();
        w.key("countries");
        w.begin_array();
        if (ctx->cameras) {
          std::set<std::string> countries;
          for (const Camera& c : ctx->cameras->cameras()) countries.insert(c.country.str());
          for (const std::string& c : countries) w.value(c);
        }
        w.end_array();
        w.key("categories");
        w.begin_array();
        for (int i = 0; i < kCategoryCount; ++i) w.value(to_string(static_cast<Category>(i)));
        w.end_array();
        w.key("actions");
        w.begin_array();
        for (int i = 0; i < kActionCount; ++i) w.value(to_string(static_cast<Action>(i)));
        w.end_array();
        w.end_object();
        http::send_json(res, 200, std::move(body));
      });
}

}  // namespace anpr::app
