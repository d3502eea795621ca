#include "synth/feed.h"

#include <cctype>

#include "base/json_writer.h"
#include "match/formats.h"
#include "match/time.h"

namespace anpr::app {

SyntheticFeed::SyntheticFeed(const CameraRegistry& cameras, const LiveIndex& index,
                             FeedOptions options)
    : cameras_(cameras), index_(index), opt_(options), rng_(options.seed) {}

void SyntheticFeed::next(TimestampMs ts, std::string& json, std::string& key) {
  json.clear();
  ++seq_;
  const Camera& cam = cameras_.cameras()[rng_.below(cameras_.size())];
  key = cam.id;
  auto chance = [&](double p) { return static_cast<double>(rng_.below(1'000'000)) < p * 1e6; };

  // Most plates are domestic; some are from the neighbours, a few unreadable as to country.
  CountryCode country = cam.country;
  const uint64_t r = rng_.below(100);
  if (r < 12) country = bench::random_country(rng_);
  const bool country_known = r >= 3;
  if (country != kNL && country != kBE && country != kLU) country = bench::random_country(rng_);

  Plate plate;
  bool listed = false;
  {
    // The current version, only while the plate is picked: a list change frees the snapshot it
    // replaces once this section has closed (Plate and CountryCode are values, nothing taken
    // from the snapshot outlives the section).
    const LiveIndex::Reader index = index_.read();
    if (index->entry_count() > 0 && chance(opt_.listed_share)) {
      listed = true;
      const auto e = static_cast<uint32_t>(rng_.below(index->entry_count()));
      plate = index->entry_plate(e);
      if (index->entry_country(e).known()) country = index->entry_country(e);
    }
  }
  if (listed) {
    Plate misread;
    if (chance(opt_.misread_share) && bench::confusable_substitution(rng_, plate, misread))
      plate = misread;
  } else {
    plate = bench::random_plate(rng_, country);
  }
  std::string raw = formats::display(country, plate);
  if (rng_.chance(10))
    for (char& c : raw) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));

  if (chance(opt_.broken_share)) {  // a camera firmware bug: the plate field is missing
    JsonWriter w(json);
    w.begin_object();
    w.field("event_id", std::string("f-") + std::to_string(seq_));
    w.field("camera_id", cam.id);
    w.field("ts", format_rfc3339(ts));
    w.end_object();
    return;
  }

  JsonWriter w(json);
  w.begin_object();
  w.field("event_id", cam.id + "-" + std::to_string(seq_));
  w.field("camera_id", cam.id);
  w.field("ts", format_rfc3339(ts));
  w.field("plate", raw);
  w.field("plate_country", country_known ? country.str() : std::string());
  const double conf = 0.55 + static_cast<double>(rng_.below(45)) / 100.0;
  w.field("confidence", conf);
  Plate alt;
  if (chance(opt_.candidate_share) && bench::confusable_substitution(rng_, plate, alt)) {
    w.key("candidates");
    w.begin_array();
    w.begin_object();
    w.field("plate", formats::display(country, alt));
    w.field("confidence", conf / 2);
    w.end_object();
    w.end_array();
  }
  w.field("lane", static_cast<int64_t>(1 + rng_.below(3)));
  if (cam.lat) {
    w.field("lat", *cam.lat);
    w.field("lon", *cam.lon);
  }
  w.end_object();
}

}  // namespace anpr::app
