#include "pipeline/retention_sink.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include <simdjson.h>

#include "base/check.h"
#include "base/json_writer.h"
#include "base/hash.h"
#include "match/time.h"

namespace anpr::app {

std::unique_ptr<RetentionSink> RetentionSink::open(const config::Settings& settings) {
  if (settings.retention.sink == "none") return nullptr;
  bool keeps = false;
  for (const auto& p : settings.retention.policies)
    keeps = keeps || p.keep_passages || (p.hit_days > 0 && settings.retention.sink == "store");
  if (!keeps) return nullptr;
  if (settings.retention.sink == "kafka") return std::make_unique<RetentionSink>(settings);
  store::Options o;
  const std::filesystem::path state = settings.state_dir.empty() ? "state" : settings.state_dir;
  o.dir = state / "retention";
  o.max_clock_skew_ms = settings.pipeline.max_clock_skew_ms;
  return std::make_unique<RetentionSink>(settings, std::move(o));
}

RetentionSink::RetentionSink(const config::Settings& settings, store::Options options)
    : settings_(settings),
      store_(std::make_unique<store::Store>(std::move(options), settings.retention.policies)),
      writer_(std::make_unique<store::Writer>(*store_)),
      purger_(std::make_unique<store::Purger>(*store_, settings.retention.purge_interval_ms)) {
  // The writer's figures, exported at scrape time (the store's own are in run_metrics.cpp).
  collector_ = metrics::add_collector([this](metrics::Families& out) {
    out.counter("anpr_retention_write_batches_total", "Synced writes of the retention store")
        .add({}, static_cast<double>(writer_->batches()));
    out.gauge("anpr_retention_pending_handovers",
              "Batches of records handed to the store's writer and not yet durable (their reads' "
              "offsets wait)")
        .add({}, static_cast<double>(writer_->pending()));
  });
}

RetentionSink::RetentionSink(const config::Settings& settings) : settings_(settings) {}

RetentionSink::~RetentionSink() {
  collector_.reset();
  purger_.reset();
  writer_.reset();  // writes what was handed over
}

namespace {

// The compact passage form kept in the store (JSON costs several times more to write, and a
// passage is written for nearly every read but read back only by a search):
//   'P' | event_id (u8 length, bytes) | raw plate (u8, bytes) | plate country (u16) |
//   flags (u8: 1 confidence, 2 lane, 4 position, 8 images) | [confidence f64] | [lane i32] |
//   [lat f64, lon f64] | direction (u8, bytes) | site (u8, bytes) |
//   [plate_jpeg (u32, bytes), overview_jpeg (u32, bytes)]
// The capture time, camera, camera country and normalised plate are in the record's key and
// header.
constexpr char kPassageForm = 'P';

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_long(std::string& out, std::string_view s) {
  put(out, static_cast<uint32_t>(s.size()));
  store::append_bytes(out, s);
}

// The same into room made beforehand: one resize per record instead of a string append (with
// its capacity check and call) per field, which cost most of a passage's encoding.
template <class T>
char* put_at(char* w, T v) {
  std::memcpy(w, &v, sizeof v);
  return w + sizeof v;
}
std::string_view short_part(std::string_view s) { return s.substr(0, 255); }
char* put_short_at(char* w, std::string_view s) {  // s: at most 255 bytes (short_part)
  *w++ = static_cast<char>(s.size());
  if (!s.empty()) std::memcpy(w, s.data(), s.size());
  return w + s.size();
}

struct Reader {
  std::string_view s;
  bool ok = true;
  template <class T>
  T get() {
    T v{};
    if (s.size() < sizeof v) {
      ok = false;
      return v;
    }
    std::memcpy(&v, s.data(), sizeof v);
    s.remove_prefix(sizeof v);
    return v;
  }
  std::string_view bytes(std::size_t n) {
    if (s.size() < n) {
      ok = false;
      return {};
    }
    std::string_view v = s.substr(0, n);
    s.remove_prefix(n);
    return v;
  }
  std::string_view short_text() { return bytes(get<uint8_t>()); }
  std::string_view long_text() { return bytes(get<uint32_t>()); }
};

// The hit's JSON without its top-level image fields (names holding "jpeg" or "thumbnail").
std::string without_images(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(json.data(), json.size()).get(obj)) return "{}";  // we wrote it: cannot happen
  std::string out;
  out.push_back('{');
  bool first = true;
  for (auto [key, value] : obj) {
    if (key.find("jpeg") != std::string_view::npos ||
        key.find("thumbnail") != std::string_view::npos)
      continue;
    if (!first) out.push_back(',');
    first = false;
    JsonWriter::append_string(out, key);
    out.push_back(':');
    out += simdjson::minify(value);
  }
  out.push_back('}');
  return out;
}

}  // namespace

bool RetentionSink::encode_passage(const ReadEvent& ev, const Camera& cam, const Plate& plate,
                                   store::RecordBatch& out, uint32_t tag) const {
  const config::RetentionPolicy* p = settings_.retention.policy(cam.country);
  if (!p || !p->keep_passages) return false;
  if (to_kafka()) {  // the store checks this itself; a topic would take it and delete it later
    const TimestampMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    if (std::min(ev.ts, now) + p->passage_days * kMsPerDay <= now) return false;
  }
  std::string& o = out.add(store::Kind::passage, cam.country, ev.ts, plate,
                           store::id_hash(ev.camera_id, ev.event_id), ev.camera_id, tag);
  const bool images = p->keep_images && (!ev.plate_jpeg.empty() || !ev.overview_jpeg.empty());
  if (!to_kafka()) {
    const std::string_view event_id = short_part(ev.event_id), raw = short_part(ev.plate),
                           direction = short_part(ev.direction), site = short_part(cam.site);
    const std::size_t bytes = 1 + (1 + event_id.size()) + (1 + raw.size()) + 2 + 1 +
                              (ev.confidence ? 8 : 0) + (ev.lane ? 4 : 0) + (ev.lat ? 16 : 0) +
                              (1 + direction.size()) + (1 + site.size());
    const std::size_t at = o.size();
    o.resize(at + bytes);
    char* w = o.data() + at;
    *w++ = kPassageForm;
    w = put_short_at(w, event_id);
    w = put_short_at(w, raw);
    w = put_at(w, ev.plate_country.raw());
    w = put_at(w, static_cast<uint8_t>((ev.confidence ? 1 : 0) | (ev.lane ? 2 : 0) |
                                       (ev.lat ? 4 : 0) | (images ? 8 : 0)));
    if (ev.confidence) w = put_at(w, *ev.confidence);
    if (ev.lane) w = put_at(w, *ev.lane);
    if (ev.lat) {
      w = put_at(w, *ev.lat);
      w = put_at(w, *ev.lon);
    }
    w = put_short_at(w, direction);
    w = put_short_at(w, site);
    ANPR_CHECK(w == o.data() + o.size());
    if (images) {
      put_long(o, ev.plate_jpeg);
      put_long(o, ev.overview_jpeg);
    }
    return true;
  }
  JsonWriter w(o);
  w.begin_object();
  w.field("event_id", ev.event_id);
  w.field("camera_id", ev.camera_id);
  w.field("site", cam.site);
  w.field("camera_country", cam.country.str());
  w.field("ts", format_rfc3339(ev.ts));
  w.field("plate", ev.plate);
  w.field("plate_normalized", plate.view());
  w.field("plate_country", ev.plate_country.str());
  if (ev.confidence) w.field("confidence", *ev.confidence);
  if (ev.lane) w.field("lane", static_cast<int64_t>(*ev.lane));
  if (!ev.direction.empty()) w.field("direction", ev.direction);
  if (ev.lat) {
    w.field("lat", *ev.lat);
    w.field("lon", *ev.lon);
  }
  if (images) {
    if (!ev.plate_jpeg.empty()) w.field("plate_jpeg", ev.plate_jpeg);
    if (!ev.overview_jpeg.empty()) w.field("overview_jpeg", ev.overview_jpeg);
  }
  w.end_object();
  return true;
}

std::string RetentionSink::render(const store::Found& f) {
  if (f.json.empty() || f.json[0] != kPassageForm) return f.json;
  Reader in{std::string_view(f.json).substr(1)};
  const std::string_view event_id = in.short_text(), raw = in.short_text();
  const CountryCode plate_country = CountryCode::from_raw(in.get<uint16_t>());
  const uint8_t flags = in.get<uint8_t>();
  const double confidence = flags & 1 ? in.get<double>() : 0;
  const int32_t lane = flags & 2 ? in.get<int32_t>() : 0;
  const double lat = flags & 4 ? in.get<double>() : 0, lon = flags & 4 ? in.get<double>() : 0;
  const std::string_view direction = in.short_text(), site = in.short_text();
  std::string_view plate_jpeg, overview_jpeg;
  if (flags & 8) {
    plate_jpeg = in.long_text();
    overview_jpeg = in.long_text();
  }
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  if (!in.ok) {
    w.field("error", "the stored record cannot be read");
    w.end_object();
    return out;
  }
  w.field("event_id", event_id);
  w.field("camera_id", f.camera_id);
  w.field("site", site);
  w.field("camera_country", f.camera_country.str());
  w.field("ts", format_rfc3339(f.captured));
  w.field("plate", raw);
  w.field("plate_normalized", f.plate.view());
  w.field("plate_country", plate_country.str());
  if (flags & 1) w.field("confidence", confidence);
  if (flags & 2) w.field("lane", static_cast<int64_t>(lane));
  if (!direction.empty()) w.field("direction", direction);
  if (flags & 4) {
    w.field("lat", lat);
    w.field("lon", lon);
  }
  if (!plate_jpeg.empty()) w.field("plate_jpeg", plate_jpeg);
  if (!overview_jpeg.empty()) w.field("overview_jpeg", overview_jpeg);
  w.end_object();
  return out;
}

bool RetentionSink::encode_hit(const ReadEvent& ev, const Camera& cam, const Plate& plate,
                               std::string_view id, std::string_view hit_json,
                               store::RecordBatch& out, uint32_t tag) const {
  const config::RetentionPolicy* p = settings_.retention.policy(cam.country);
  if (!p || p->hit_days <= 0 || to_kafka()) return false;
  std::string& o = out.add(store::Kind::hit, cam.country, ev.ts, plate, store::id_hash(id),
                           ev.camera_id, tag);
  if (!p->keep_images && (hit_json.find("jpeg") != std::string_view::npos ||
                          hit_json.find("thumbnail") != std::string_view::npos))
    o += without_images(hit_json);
  else
    o += hit_json;
  return true;
}

}  // namespace anpr::app
