// A steady stream of reads that all hit, and the hits read back with when they were published:
// for the failover and broker-fault tests (tests/failover_it_test.cpp,
// tests/cluster_faults_kafka_test.cpp), which measure how long partitions go without a hit.
//
// The reads are "GB-123-X" (NL) seen by camera nl-cam-1; write_stream_data() writes the camera
// registry and a one-entry list `wanted` that matches them. Each read's event id is
// "p<partition>-<sequence>", so a hit tells the partition of its read.
#pragma once

#include <librdkafka/rdkafka.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/json_writer.h"
#include "kafka/client.h"
#include "match/time.h"
#include "tests/it_support.h"

namespace anpr::testing {

inline void write_stream_data(const std::filesystem::path& dir) {
  write_file(dir / "cameras.csv",
             "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,Site 1,52.1,5.0,NL-MIDDEN\n");
  write_file(dir / "wanted.csv", "plate,plate_country,reference\nGB-123-X,NL,W-1\n");
  write_file(dir / "wanted.toml",
             "id = \"wanted\"\nowner_country = \"NL\"\nmatch_mode = \"exact\"\n"
             "category = \"stolen_vehicle\"\n");
}

// Produces reads at `per_second` in all, round robin over `partitions` partitions, from its own
// thread, until stop(). The producer waits for the cluster as long as needed (message.timeout.ms
// 10 minutes), so a cluster outage delays reads but loses none.
class SteadyReads {
 public:
  SteadyReads(std::string bootstrap, std::string topic, int partitions, int per_second)
      : bootstrap_(std::move(bootstrap)), topic_(std::move(topic)), partitions_(partitions),
        per_second_(per_second) {
    thread_ = std::thread([this] { run(); });
  }
  ~SteadyReads() { stop(); }
  SteadyReads(const SteadyReads&) = delete;
  SteadyReads& operator=(const SteadyReads&) = delete;

  // Stops producing and waits until every read was delivered or failed.
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  int delivered() const { return delivered_.load(); }
  int failed() const { return failed_.load(); }

 private:
  void run() {
    kafka::Producer p({{"bootstrap.servers", bootstrap_},
                       {"linger.ms", "1"},
                       {"message.timeout.ms", "600000"},
                       {"log_level", "0"}},
                      [this](rd_kafka_resp_err_t e, void*, const rd_kafka_message_t&) {
                        (e ? failed_ : delivered_).fetch_add(1);
                      });
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; !stop_.load(); ++i) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1'000'000LL / per_second_));
      const int part = i % partitions_;
      std::string json;
      JsonWriter w(json);
      w.begin_object();
      w.field("event_id", "p" + std::to_string(part) + "-" + std::to_string(i));
      w.field("camera_id", "nl-cam-1");
      w.field("ts", format_rfc3339(wall_ms()));
      w.field("plate", "GB-123-X");
      w.field("plate_country", "NL");
      w.end_object();
      if (p.produce(topic_, "nl-cam-1", json, nullptr, part) != RD_KAFKA_RESP_ERR_NO_ERROR)
        failed_.fetch_add(1);
      p.poll(0);
    }
    p.flush(600'000);
  }

  std::string bootstrap_, topic_;
  int partitions_, per_second_;
  std::atomic<bool> stop_{false};
  std::atomic<int> delivered_{0}, failed_{0};
  std::thread thread_;
};

struct TimedHit {
  int64_t at_ms;  // the hit message's timestamp: when the processor published it
  int partition;  // of its read
  std::string event_id;
};

// The hits on `topic` so far. While reads are still produced the topic never ends (kcat -e waits
// for every partition's end at once): then ask for `at_most` hits.
inline std::vector<TimedHit> timed_hits(const std::string& bootstrap, const std::string& topic,
                                        int at_most = 0) {
  const std::string out =
      shell(std::string(at_most > 0 ? "timeout 20 " : "") + "kcat -C -b " + bootstrap + " -t " +
            topic + " -o beginning -e -q -f '%T %s\\n'" +
            (at_most > 0 ? " -c " + std::to_string(at_most) : "") + " 2>/dev/null");
  std::vector<TimedHit> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    TimedHit h;
    std::istringstream f(line);
    std::string json;
    f >> h.at_ms;
    std::getline(f, json);
    const std::size_t at = json.find("\"event_id\":\"p");
    if (at == std::string::npos) continue;
    h.event_id = json.substr(at + 12, json.find('"', at + 12) - at - 12);
    h.partition = std::atoi(h.event_id.c_str() + 1);
    v.push_back(h);
  }
  return v;
}

// When each read of `topic` was appended, by partition (the topic must have
// message.timestamp.type=LogAppendTime), as TimedHits (event_id, partition, append time).
inline std::vector<TimedHit> appended_reads(const std::string& bootstrap, const std::string& topic) {
  return timed_hits(bootstrap, topic);
}

// Per partition, the longest time between two consecutive hits from `from_ms` on.
inline std::map<int, int64_t> longest_gaps(const std::vector<TimedHit>& hits, int64_t from_ms) {
  std::map<int, std::vector<int64_t>> at;
  for (const TimedHit& h : hits)
    if (h.at_ms >= from_ms) at[h.partition].push_back(h.at_ms);
  std::map<int, int64_t> gaps;
  for (auto& [p, v] : at) {
    std::sort(v.begin(), v.end());
    int64_t gap = 0;
    for (std::size_t i = 1; i < v.size(); ++i) gap = std::max(gap, v[i] - v[i - 1]);
    gaps[p] = gap;
  }
  return gaps;
}

// Stops `reads` and waits (up to 3 minutes) until every delivered read has a hit; the number of
// reads whose hit was published more than once goes to `duplicates`.
inline void expect_every_read_hit(SteadyReads& reads, const std::string& bootstrap,
                                  const std::string& hits_topic, int* duplicates = nullptr) {
  reads.stop();
  ASSERT_EQ(reads.failed(), 0) << "the test's producer could not deliver every read";
  const int produced = reads.delivered();
  ASSERT_GT(produced, 0);
  std::map<std::string, int> got;
  ASSERT_TRUE(eventually(
      [&] {
        got.clear();
        for (const TimedHit& h : timed_hits(bootstrap, hits_topic)) ++got[h.event_id];
        return static_cast<int>(got.size()) >= produced;
      },
      180))
      << produced - static_cast<int>(got.size()) << " of " << produced << " reads lost their hit";
  EXPECT_EQ(static_cast<int>(got.size()), produced);
  if (duplicates) {
    *duplicates = 0;
    for (const auto& [id, n] : got) *duplicates += n > 1;
  }
}

}  // namespace anpr::testing
