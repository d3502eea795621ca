// `anpr match --cameras` gives the processor's answer: the same reads, matched offline and
// streamed through `anpr run` with a broker (the embedded one or Apache Kafka,
// tests/test_broker.h), give the same hits byte for byte (the
// per-read work is one ReadMatcher, pipeline/read_matcher.h). Suppression is off in the processor,
// since it depends on what was published before and `anpr match` does not apply it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <vector>

#include "synth/plates.h"
#include "base/json_writer.h"
#include "match/formats.h"
#include "match/time.h"
#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/test_broker.h"

namespace anpr::testing {
namespace {

namespace fs = std::filesystem;
const fs::path kSamples = ANPR_SOURCE_DIR "/samples";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(MatchVsRun, MatchWithCamerasGivesTheProcessorsHits) {
  const fs::path dir = fs::temp_directory_path() / ("anpr-match-vs-run-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);

  // The sample reads, then reads of the sample lists' plates (some with a confusable character
  // changed) and random plates at every sample camera.
  std::string reads = slurp(kSamples / "reads.jsonl");
  std::vector<std::string> listed;
  for (const auto& e : fs::directory_iterator(kSamples / "lists")) {
    if (e.path().extension() != ".csv") continue;
    std::istringstream in(slurp(e.path()));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) listed.push_back(line.substr(0, line.find(',')));
  }
  std::vector<std::string> cameras;
  {
    std::istringstream in(slurp(kSamples / "cameras.csv"));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) cameras.push_back(line.substr(0, line.find(',')));
  }
  ASSERT_GT(listed.size(), 10u);
  ASSERT_GT(cameras.size(), 5u);
  bench::Rng rng(3);
  const TimestampMs now = wall_ms();
  for (int i = 0; i < 400; ++i) {
    std::string plate;
    if (i % 3 == 0) {
      plate = listed[rng.below(listed.size())];
      if (rng.chance(30))
        for (char& c : plate)
          if (c == '0' || c == 'O' || c == '8' || c == 'B' || c == '5' || c == 'S') {
            c = c == '0' ? 'O' : c == 'O' ? '0' : c == '8' ? 'B' : c == 'B' ? '8' : c == '5' ? 'S' : '5';
            break;
          }
    } else {
      plate = bench::random_plate(rng, i % 2 ? kNL : kBE).str();
    }
    std::string json;
    JsonWriter w(json);
    w.begin_object();
    w.field("event_id", "g-" + std::to_string(i));
    w.field("camera_id", cameras[rng.below(cameras.size())]);
    w.field("ts", format_rfc3339(now - 60'000 + i));
    w.field("plate", plate);
    w.field("plate_country", i % 5 == 0 ? std::string() : std::string(i % 2 ? "NL" : "BE"));
    w.end_object();
    reads += json + "\n";
  }
  write_file(dir / "reads.jsonl", reads);

  std::string list_args, list_files;
  for (const auto& e : fs::directory_iterator(kSamples / "lists"))
    if (e.path().extension() == ".csv") {
      list_args += " --list " + e.path().string();
      list_files += std::string(list_files.empty() ? "" : ", ") + "\"" + e.path().string() + "\"";
    }

  TestBroker broker(dir, current_test_name(), 3);
  const std::string bootstrap = broker.bootstrap();
  ASSERT_FALSE(bootstrap.empty());
  write_file(dir / "anpr.toml",
             "[kafka]\nbrokers = \"" + bootstrap + "\"\ngroup_id = \"" +
                 broker.group("match-vs-run") + "\"\n" + broker.topics_toml() +
                 "[cameras]\nregistry = \"" + (kSamples / "cameras.csv").string() + "\"\n"
             "[lists]\nfiles = [" + list_files + "]\n[suppression]\nwindow_s = 0\n"
             "[retention]\nsink = \"none\"\n"
             "[kafka.consumer]\n\"session.timeout.ms\" = 6000\n\"heartbeat.interval.ms\" = 1000\n");

  // Offline.
  const std::string offline =
      shell(kAnpr + " match --config " + (dir / "anpr.toml").string() + " --cameras " +
            (kSamples / "cameras.csv").string() + list_args + " --reads " +
            (dir / "reads.jsonl").string() + " 2>" + (dir / "match.err").string());
  const std::vector<std::string> want = lines_of(offline);
  ASSERT_GT(want.size(), 50u) << slurp(dir / "match.err");

  // Streaming.
  Child proc({kAnpr, "run", "--config", (dir / "anpr.toml").string()}, false,
             (dir / "run.err").string());
  const std::string replay = shell(kAnpr + " replay " + (dir / "reads.jsonl").string() +
                                   " --brokers " + bootstrap + " --topic " +
                                   broker.topic("anpr.reads") + " 2>&1");
  ASSERT_NE(replay.find("reads produced"), std::string::npos) << replay;
  std::vector<std::string> got;
  eventually([&] {
    got = lines_of(shell("kcat -C -b " + bootstrap + " -t " + broker.topic("anpr.hits") +
                         " -o beginning -e -q -f '%s\\n' 2>/dev/null"));
    return got.size() >= want.size();
  });
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0) << slurp(dir / "run.err");

  EXPECT_EQ(got.size(), want.size());
  std::vector<std::string> only_offline, only_streamed;
  std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                      std::back_inserter(only_offline));
  std::set_difference(got.begin(), got.end(), want.begin(), want.end(),
                      std::back_inserter(only_streamed));
  for (std::size_t i = 0; i < std::min<std::size_t>(only_offline.size(), 3); ++i)
    ADD_FAILURE() << "only from anpr match: " << only_offline[i];
  for (std::size_t i = 0; i < std::min<std::size_t>(only_streamed.size(), 3); ++i)
    ADD_FAILURE() << "only from anpr run: " << only_streamed[i];
  if (!HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace anpr::testing
