#include "app/retention_sink.h"

#include "export/json_writer.h"
#include "match/time.h"

namespace anpr::app {

std::unique_ptr<RetentionSink> RetentionSink::open(const config::Settings& settings) {
  if (settings.retention.sink != "store") return nullptr;
  bool keeps = false;
  for (const auto& p : settings.retention.policies)
    keeps = keeps || p.keep_passages || p.hit_days > 0;
  if (!keeps) return nullptr;
  store::Options o;
  const std::filesystem::path state = settings.state_dir.empty() ? "state" : settings.state_dir;
  o.dir = state / "retention";
  return std::make_unique<RetentionSink>(settings, std::move(o));
}

RetentionSink::RetentionSink(const config::Settings& settings, store::Options options)
    : settings_(settings),
      store_(std::make_unique<store::Store>(std::move(options), settings.retention.policies)),
      writer_(std::make_unique<store::Writer>(*store_)),
      purger_(std::make_unique<store::Purger>(*store_, settings.retention.purge_interval_ms)) {}

RetentionSink::~RetentionSink() {
  purger_.reset();
  writer_.reset();  // writes what was handed over
}

void RetentionSink::encode_passage(const ReadEvent& ev, const Camera& cam, const Plate& plate,
                                   std::vector<store::Record>& out) const {
  const config::RetentionPolicy* p = settings_.retention.policy(cam.country);
  if (!p || !p->keep_passages) return;
  store::Record& r = out.emplace_back();
  r.kind = store::Kind::passage;
  r.camera_country = cam.country;
  r.captured = ev.ts;
  r.plate = plate;
  r.camera_id = ev.camera_id;
  r.id = ev.camera_id + "/" + ev.event_id;
  JsonWriter w(r.json);
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
  if (p->keep_images) {
    if (!ev.plate_jpeg.empty()) w.field("plate_jpeg", ev.plate_jpeg);
    if (!ev.overview_jpeg.empty()) w.field("overview_jpeg", ev.overview_jpeg);
  }
  w.end_object();
}

void RetentionSink::encode_hit(const ReadEvent& ev, const Camera& cam, const Plate& plate,
                               std::string id, std::string_view hit_json,
                               std::vector<store::Record>& out) const {
  const config::RetentionPolicy* p = settings_.retention.policy(cam.country);
  if (!p || p->hit_days <= 0) return;
  store::Record& r = out.emplace_back();
  r.kind = store::Kind::hit;
  r.camera_country = cam.country;
  r.captured = ev.ts;
  r.plate = plate;
  r.camera_id = ev.camera_id;
  r.id = std::move(id);
  r.json = hit_json;
}

}  // namespace anpr::app
