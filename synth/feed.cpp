#include "synth/feed.h"

#include <cctype>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "base/json_writer.h"
#include "match/formats.h"
#include "match/registry_rules.h"
#include "match/time.h"

namespace anpr::app {

namespace {

// How many entries a listed read may look at for one not sent within the window (a bound on
// the work per read when the lists are too small for the window).
constexpr uint64_t kFreshProbes = 4096;

uint64_t sent_key(const Plate& p, CountryCode c) {
  return (p.key() << CountryCode::kBits) | c.raw();
}

}  // namespace

std::size_t demo_fleet_size(double reads_per_s, double listed_share, int64_t window_ms) {
  if (window_ms <= 0 || reads_per_s <= 0 || listed_share <= 0) return 0;
  const double per_window = reads_per_s * listed_share * static_cast<double>(window_ms) / 1000.0;
  return static_cast<std::size_t>(std::min(std::ceil(per_window * 1.25), 1e6));
}

std::string demo_fleet_csv(std::size_t n, uint64_t seed) {
  bench::Rng rng(seed);
  std::string csv = "plate,plate_country,reference,note\n";
  std::unordered_set<uint64_t> seen;
  seen.reserve(n);
  for (std::size_t i = 0; i < n;) {
    const CountryCode c = bench::random_country(rng);
    const Plate p = bench::random_plate(rng, c);
    if (!formats::valid(c, p) || registry_rules::not_issued(c, p)) continue;
    if (!seen.insert(sent_key(p, c)).second) continue;
    csv += formats::display(c, p);
    csv += ',';
    csv += c.str();
    csv += ",DEMO-FLEET-" + std::to_string(i) + ",synthetic demo plate\n";
    ++i;
  }
  return csv;
}

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
      const uint64_t n = index->entry_count();
      auto e = static_cast<uint32_t>(rng_.below(n));
      if (opt_.fresh_window_ms > 0) {
        // The first entry from `e` on not sent within the window (else `e` itself).
        const uint64_t probes = n < kFreshProbes ? n : kFreshProbes;
        for (uint64_t k = 0; k < probes; ++k) {
          const auto i = static_cast<uint32_t>((e + k) % n);
          const auto it = sent_.find(sent_key(index->entry_plate(i), index->entry_country(i)));
          if (it == sent_.end() || ts - it->second >= opt_.fresh_window_ms ||
              it->second - ts >= opt_.fresh_window_ms) {
            e = i;
            break;
          }
        }
        if (sent_.size() > 2 * n + 1024)  // forget what the window no longer holds
          std::erase_if(sent_,
                        [&](const auto& kv) { return ts - kv.second >= opt_.fresh_window_ms; });
        sent_[sent_key(index->entry_plate(e), index->entry_country(e))] = ts;
      }
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
  // Two decimals, as cameras write their confidence (0.55 + 0.39 would be written
  // 0.9400000000000001, seventeen digits no camera sends).
  const unsigned percent = 55 + static_cast<unsigned>(rng_.below(45));
  const double conf = static_cast<double>(percent) / 100.0;
  w.field("confidence", conf);
  Plate alt;
  if (chance(opt_.candidate_share) && bench::confusable_substitution(rng_, plate, alt)) {
    w.key("candidates");
    w.begin_array();
    w.begin_object();
    w.field("plate", formats::display(country, alt));
    w.field("confidence", static_cast<double>(percent) / 200.0);
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
