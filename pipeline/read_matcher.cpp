#include "pipeline/read_matcher.h"

#include "pipeline/offline.h"
#include "export/deadletter.h"
#include "export/hit_json.h"
#include "match/plate.h"
#include "match/time.h"

namespace anpr::app {

ReadOutput& ReadSlot::next_out() {
  if (used == outs.size()) {
    // A hit's JSON is one to two KiB without images: room for it at once, kept with the slot,
    // rather than growing it by doubling on every slot's first hit (callgrind: about 40 % of the
    // cost of encoding a hit went to reallocating and copying).
    outs.emplace_back().payload.reserve(4096);
  }
  ReadOutput& o = outs[used++];
  o.deadletter = false;
  o.payload.clear();
  o.list_id.clear();
  o.covert = false;
  o.route_topic.clear();
  o.reason.clear();
  return o;
}

ReadMatcher::ReadMatcher(const config::Settings& settings, const CameraRegistry& cameras,
                         ImageCounters& image_counters)
    : settings_(settings),
      cameras_(cameras),
      image_counters_(image_counters),
      rules_(settings.countries) {}

ReadMatcher::Scratch::Scratch(const ReadMatcher& m)
    : decoder_(DecoderOptions{m.settings_.pipeline.max_message_bytes, 64}),
      images_(m.settings_.images, m.image_counters_) {}

bool ReadMatcher::keeps_images(CountryCode camera_country) const {
  const config::RetentionPolicy* p = settings_.retention.policy(camera_country);
  return p && p->keep_images;
}

void ReadMatcher::deadletter(ReadSlot& r, std::string_view reason, std::string_view detail,
                             TimestampMs now) const {
  ReadOutput& o = r.next_out();
  o.deadletter = true;
  o.reason = reason;
  DeadLetterSource src{settings_.topics.reads, r.partition, r.offset, r.key};
  append_deadletter_json(o.payload, reason, detail, src, r.payload,
                         settings_.pipeline.deadletter_payload_bytes, now);
}

// Decodes one read into its slot, or dead-letters it (r.cam stays null).
void ReadMatcher::decode(ReadSlot& r, Scratch& s, TimestampMs now) const {
  r.used = 0;
  r.dropped_by_rules = 0;
  r.cam = nullptr;
  r.country = CountryCode{};
  if (!s.decoder_.decode(r.payload, r.ev, s.err_)) {
    deadletter(r, s.err_.reason, s.err_.detail, now);
    return;
  }
  const Camera* cam = cameras_.find(r.ev.camera_id);
  if (!cam) {
    deadletter(r, "unknown_camera", "camera_id is not in the camera registry", now);
    return;
  }
  r.country = cam->country;
  auto normalized = normalized_plates(r.ev, r.plates, r.raw);
  if (!normalized) {
    s.detail_ = "the plate cannot be normalised to 1..10 characters A-Z 0-9 (";
    s.detail_ += to_string(normalized.error());
    s.detail_ += ")";
    deadletter(r, to_string(normalized.error()), s.detail_, now);
    return;
  }
  r.cam = cam;
}

void ReadMatcher::match(std::span<ReadSlot> reads, Scratch& s, const Snapshot& snap,
                        TimestampMs now) const {
  s.slots_.clear();
  for (ReadSlot& r : reads) s.slots_.push_back(&r);
  match(std::span<ReadSlot* const>(s.slots_), s, snap, now);
}

void ReadMatcher::match(std::span<ReadSlot* const> reads, Scratch& s, const Snapshot& snap,
                        TimestampMs now) const {
  s.queries_.clear();
  s.matched_.clear();
  for (ReadSlot* r : reads) {
    decode(*r, s, now);
    if (!r->cam) continue;
    s.queries_.push_back(MatchQuery{r->ev.plate_country, r->ev.ts, r->plates});
    s.matched_.push_back(r);
  }
  s.hits_.clear();
  snap.match_batch(s.queries_, s.hits_, s.ends_);
  uint32_t begin = 0;
  for (std::size_t q = 0; q < s.queries_.size(); ++q) {
    const uint32_t end = s.ends_[q];
    if (end > begin)
      encode_hits(*s.matched_[q], s, snap,
                  std::span<const IndexHit>(s.hits_.data() + begin, end - begin));
    begin = end;
  }
}

void ReadMatcher::encode_hits(ReadSlot& r, Scratch& s, const Snapshot& snap,
                              std::span<const IndexHit> hits) const {
  const Camera* cam = r.cam;
  s.ts_text_ = format_rfc3339(r.ev.ts);
  HitReadView view = hit_view(r.ev, s.ts_text_, r.plates, r.raw);
  if (!r.ev.lat) {  // the camera's position when the read has none
    view.lat = cam->lat;
    view.lon = cam->lon;
  }
  view.site = cam->site;
  view.camera_country = cam->country;
  view.control_room = cam->control_room;
  bool images = false;
  for (const IndexHit& h : hits) {
    const ListMeta& list = snap.list(snap.entry_list(h.entry));
    if (!rules_.applies(cam->country, list.owner, snap.entry_category(h.entry))) {
      ++r.dropped_by_rules;
      continue;
    }
    if (!images) {  // once per read, and only for a read with a hit to publish
      images = true;
      s.images_.attach(r.ev, keeps_images(cam->country), view);
    }
    ReadOutput& o = r.next_out();
    std::string owner;
    std::string_view routes[1];
    std::span<const std::string_view> route_span;
    // A covert list's hits go to no partner's route topic (docs/operators.md, "Covert lists").
    if (!list.covert && MatchRules::route_to_owner(cam->country, list.owner)) {
      owner = list.owner.str();
      routes[0] = owner;
      route_span = std::span<const std::string_view>(routes, 1);
      o.route_topic = settings_.route_topic(list.owner);
    }
    append_hit_json(o.payload, view, snap, h, route_span);
    o.list_id = list.id;
    o.covert = list.covert;
    o.entry_key = (snap.entry_plate(h.entry).key() << CountryCode::kBits) |
                  snap.entry_country(h.entry).raw();
    o.ts = r.ev.ts;
    o.category = snap.entry_category(h.entry);
    o.kind = h.kind;
  }
}

}  // namespace anpr::app
