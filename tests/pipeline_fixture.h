// The stream the end-to-end tests of `anpr run` share (pipeline_it_test, exactly_once_kafka_test):
// six cameras of NL, BE and LU, six reference lists, synthetic reads with their expected hits
// (the reference matcher's answer filtered by tests/design_rules.h, not the product's rules), a
// config file naming the test's own topics and group (tests/test_broker.h), and kcat to produce
// reads and read back what the processor published.
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json_writer.h"
#include "ingest/list_file.h"
#include "match/formats.h"
#include "match/plate.h"
#include "match/time.h"
#include "synth/plates.h"
#include "tests/design_rules.h"
#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/test_broker.h"
#include "testing/reference_matcher.h"

namespace anpr::testing {

namespace fs = std::filesystem;

inline fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("anpr-it-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

inline void write(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}

struct Camera {
  std::string id;
  CountryCode country;
};
inline const std::vector<Camera> kCameras = {{"nl-cam-1", kNL}, {"nl-cam-2", kNL}, {"be-cam-1", kBE},
                                      {"be-cam-2", kBE}, {"lu-cam-1", kLU}, {"lu-cam-2", kLU}};

struct ListSpec {
  std::string id;
  CountryCode owner;
  std::string mode;
  std::string category;
  int entries;
};
inline const std::vector<ListSpec> kLists = {
    {"nl-stolen", kNL, "ocr", "stolen_vehicle", 150},
    {"nl-fines", kNL, "exact", "unpaid_fine", 80},
    {"be-stolen", kBE, "ocr+edit", "stolen_vehicle", 100},
    {"be-noinsp", kBE, "exact", "no_inspection", 80},
    {"be-fines", kBE, "exact", "unpaid_fine", 50},
    {"lu-crime", kLU, "ocr", "serious_crime", 40},
};

struct ExpectedHit {
  std::string event_id, list_id, reference;
  auto operator<=>(const ExpectedHit&) const = default;
};

inline std::string describe(const std::set<ExpectedHit>& s, std::size_t max = 10) {
  std::string out;
  for (const auto& h : s) {
    if (max-- == 0) break;
    out += "  " + h.event_id + " " + h.list_id + " " + h.reference + "\n";
  }
  return out;
}

// The data, the config file and the topics of one test; SetUp (the test's) sets dir_, broker_
// and bootstrap_, then calls make_data().
class PipelineFixture : public ::testing::Test {
 protected:
  // The camera registry, the lists (each with its sidecar) and anpr.toml in dir_; the lists as
  // loaded, for the expected hits. `pipeline` is added to the config's [pipeline] table.
  void make_data(const std::string& pipeline = "") {
    std::string cams = "camera_id,country,site,lat,lon,control_room\n";
    for (const Camera& c : kCameras)
      cams += c.id + "," + c.country.str() + ",Site " + c.id + ",50.0,5.0,ROOM-" + c.country.str() + "\n";
    write(dir_ / "cameras.csv", cams);

    bench::Rng rng(20261124);
    std::string list_files;
    for (const ListSpec& l : kLists) {
      std::string csv = "plate,plate_country,reference\n";
      std::set<std::pair<uint16_t, std::string>> seen;
      for (int i = 0; i < l.entries; ++i) {
        // Mostly the owner's plates, some of the neighbours'.
        CountryCode c = rng.chance(80) ? l.owner : bench::random_country(rng);
        Plate p = bench::random_plate(rng, c);
        if (!formats::valid(c, p)) continue;  // a few random letter triples are not issued
        if (!seen.insert({c.raw(), p.str()}).second) continue;
        csv += formats::display(c, p) + "," + c.str() + "," + l.id + "-" + std::to_string(i) + "\n";
      }
      write(dir_ / (l.id + ".csv"), csv);
      write(dir_ / (l.id + ".toml"), "id = \"" + l.id + "\"\nowner_country = \"" + l.owner.str() +
                                          "\"\nmatch_mode = \"" + l.mode + "\"\ncategory = \"" +
                                          l.category + "\"\n");
      list_files += (list_files.empty() ? "" : ", ") + ("\"" + l.id + ".csv\"");
    }
    write(dir_ / "anpr.toml", "[kafka]\nbrokers = \"" + bootstrap_ +
                                  "\"\ngroup_id = \"" + group() + "\"\n" + broker_.topics_toml() + "[cameras]\nregistry = \"cameras.csv\"\n"
                                  "[lists]\nfiles = [" + list_files +
                                  "]\n[suppression]\nwindow_s = 0\n[pipeline]\nthreads = 2\nbatch = 64\n" + pipeline +
                                  // The embedded broker waits a whole session timeout for
                                  // members to rejoin during a rebalance: keep it short.
                                  "[kafka.consumer]\n\"session.timeout.ms\" = 6000\n"
                                  "\"heartbeat.interval.ms\" = 1000\n");
    for (const ListSpec& l : kLists) {
      ListLoad load = load_list(dir_ / (l.id + ".csv"));
      ASSERT_FALSE(load.fatal.has_value());
      ASSERT_EQ(load.rejected_count, 0u)
          << l.id << ": " << (load.rejected.empty() ? "" : to_string(load.rejected[0]));
      lists_.push_back(*load.list);
    }
  }

  // Good reads: a mix of listed plates (as listed, misread, or missing a character) and others.
  void make_reads(int n, uint64_t seed) {
    bench::Rng rng(seed);
    for (int i = 0; i < n; ++i) {
      const Camera& cam = kCameras[rng.below(kCameras.size())];
      CountryCode country = rng.chance(85) ? cam.country : bench::random_country(rng);
      Plate plate = bench::random_plate(rng, country);
      if (rng.chance(15)) {
        const ReferenceList& l = lists_[rng.below(lists_.size())];
        const ListEntry& e = l.entries[rng.below(l.entries.size())];
        plate = e.plate;
        country = e.country;
        Plate m;
        if (rng.chance(30) && bench::confusable_substitution(rng, plate, m)) plate = m;
        else if (rng.chance(10)) plate = bench::single_edit(rng, plate);
      }
      const bool known = !rng.chance(5);
      std::string json;
      JsonWriter w(json);
      w.begin_object();
      w.field("event_id", "r" + std::to_string(seed) + "-" + std::to_string(i));
      w.field("camera_id", cam.id);
      w.field("ts", format_rfc3339(1'795'500'000'000 + i * 100));
      w.field("plate", formats::display(country, plate));
      w.field("plate_country", known ? country.str() : std::string());
      w.end_object();
      reads_.push_back({cam.id, json});
      expect(cam, known ? country : kAnyCountry, 1'795'500'000'000 + i * 100, plate,
             "r" + std::to_string(seed) + "-" + std::to_string(i));
    }
  }

  void expect(const Camera& cam, CountryCode country, TimestampMs ts, const Plate& plate,
              const std::string& event_id) {
    for (const RefHit& h : reference_match(lists_, ConfusionClasses{}, country, ts, {plate})) {
      const ReferenceList& l = lists_[h.list];
      const ListEntry& e = l.entries[h.entry];
      if (!design_applies(cam.country, l.meta.owner, e.category)) continue;
      expected_.insert({event_id, l.meta.id, e.reference});
      expected_ts_[event_id] = ts;
      // docs/design.md §2: a hit on a partner's list is also reported back to that partner.
      if (l.meta.owner != cam.country)
        expected_routes_[l.meta.owner.str()].insert({event_id, l.meta.id, e.reference});
    }
  }


  // Produces messages with kcat: "key<TAB>payload" lines.
  void produce(const std::vector<std::pair<std::string, std::string>>& msgs,
               const std::string& topic = "anpr.reads") {
    const fs::path f = dir_ / "produce.txt";
    std::string s;
    for (const auto& [k, v] : msgs) s += k + "\t" + v + "\n";
    write(f, s);
    const std::string out = kcat_produce(bootstrap_, T(topic), f, "-X message.max.bytes=20000000");
    ASSERT_TRUE(out.empty()) << "kcat: " << out;
  }

  // Every message of a topic so far, read with kcat (`kcat_options`: more of its arguments, such
  // as -X isolation.level=read_uncommitted; librdkafka reads read_committed by default).
  std::vector<std::string> consume(const std::string& topic, const std::string& kcat_options = "") {
    const std::string out = shell("kcat -C -b " + bootstrap_ + " -t " + T(topic) + " " +
                                  kcat_options + " -o beginning -e -q -f '%s\\n' 2>/dev/null");
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < out.size()) {
      std::size_t nl = out.find('\n', start);
      if (nl == std::string::npos) nl = out.size();
      if (nl > start) lines.push_back(out.substr(start, nl - start));
      start = nl + 1;
    }
    return lines;
  }

  // Waits until `topic` holds at least `n` messages (or 60 s) and returns them.
  std::vector<std::string> consume_at_least(const std::string& topic, std::size_t n) {
    std::vector<std::string> got;
    for (int i = 0; i < 120; ++i) {
      got = consume(topic);
      if (got.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return got;
  }

  // `anpr run` with dir_/config, its stderr into dir_/log; `more`: more arguments.
  Child start_processor(const std::string& log = "run.err",
                        const std::string& config = "anpr.toml",
                        const std::vector<std::string>& more = {}) {
    std::vector<std::string> argv{kAnpr, "run", "--config", (dir_ / config).string()};
    argv.insert(argv.end(), more.begin(), more.end());
    return Child(argv, false, (dir_ / log).string());
  }

  static std::set<ExpectedHit> hit_set(const std::vector<std::string>& msgs,
                                       std::map<std::string, std::set<std::string>>* ids = nullptr) {
    simdjson::dom::parser p;
    std::set<ExpectedHit> s;
    for (const auto& m : msgs) {
      simdjson::dom::element d;
      EXPECT_FALSE(p.parse(m).get(d)) << m;
      ExpectedHit h{std::string(std::string_view(d["event_id"])),
                    std::string(std::string_view(d["list_id"])),
                    std::string(std::string_view(d["reference"]))};
      if (ids)
        (*ids)[h.event_id + "|" + h.list_id + "|" + h.reference].insert(
            std::string(std::string_view(d["hit_id"])));
      s.insert(h);
    }
    return s;
  }

  // This test's name of a topic and of the processors' consumer group (test_broker.h).
  std::string T(std::string_view topic) const { return broker_.topic(topic); }
  std::string group() const { return broker_.group("anpr-it"); }

  fs::path dir_;
  TestBroker broker_;
  std::string bootstrap_;
  std::vector<ReferenceList> lists_;
  std::map<std::string, TimestampMs> expected_ts_;  // event_id -> capture time, of reads with hits
  std::vector<std::pair<std::string, std::string>> reads_;  // (key, payload)
  std::set<ExpectedHit> expected_;
  std::map<std::string, std::set<ExpectedHit>> expected_routes_;
};

}  // namespace anpr::testing
