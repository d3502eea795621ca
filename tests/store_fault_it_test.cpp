// End-to-end tests of `anpr run` while its retention store cannot write, on a real file system:
// the state folder's retention store lives on a small tmpfs of the test's own, filled to the last
// byte (ENOSPC) or remounted read-only (EROFS). What docs/design.md §6 asks ("alerting comes first"):
//  - hits keep reaching the hits topic while the store fails;
//  - no read's offset is committed before its kept records are durable (checked with a client of
//    the test's own while the store is failing, so the reads are provably in flight);
//  - /readyz answers 503 naming the real errno, the metrics say the store is failing, and the
//    log names the errno;
//  - consumption pauses at pipeline.max_unfinished_reads and resumes once the store writes again;
//  - SIGTERM is honoured within the shutdown timeout while the store still fails, and a restart
//    with room on the disk stores every read and commits to the end.
// The broker is the embedded one or Apache Kafka (tests/test_broker.h).
//
// Mounting needs root (CAP_SYS_ADMIN), as the README's test command runs. Without root the tests
// are skipped and say why; as root a mount that fails is a failure.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "pipeline/retention_sink.h"
#include "synth/plates.h"
#include "config/settings.h"
#include "base/json_writer.h"
#include "kafka/client.h"
#include "match/formats.h"
#include "match/plate.h"
#include "match/time.h"
#include "store/store.h"
#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/test_broker.h"

namespace anpr::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kPartitions = 2;

struct Read {
  std::string event_id, payload;
  Plate plate;
  bool listed = false;
};

class StoreFaultIt : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root (the test command runs as root)";
    dir_ = fs::temp_directory_path() /
           ("anpr-storefault-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "state" / "retention");
    mnt_ = dir_ / "state" / "retention";
    ASSERT_EQ(::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=16m,mode=0700"), 0)
        << "cannot mount a tmpfs on " << mnt_ << ": " << std::strerror(errno);
    mounted_ = true;
    broker_ = TestBroker(dir_, current_test_name(), kPartitions);
    bootstrap_ = broker_.bootstrap();
    ASSERT_FALSE(bootstrap_.empty());
    write_file(dir_ / "cameras.csv",
          "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,A2 Utrecht,52.1,5.1,NL-1\n"
          "nl-cam-2,NL,A12 Gouda,52.0,4.7,NL-1\n");
    bench::Rng rng(11);
    std::string csv = "plate,plate_country,reference\n";
    while (listed_.size() < 20) {
      Plate p = bench::random_plate(rng, kNL);
      if (!formats::valid(kNL, p)) continue;
      listed_.push_back(p);
      csv += p.str() + ",NL,ref-" + std::to_string(listed_.size()) + "\n";
    }
    write_file(dir_ / "nl-stolen.csv", csv);
    write_file(dir_ / "nl-stolen.toml",
          "id = \"nl-stolen\"\nowner_country = \"NL\"\nmatch_mode = \"exact\"\n"
          "category = \"stolen_vehicle\"\n");
    write_file(dir_ / "anpr.toml",
          "[state]\ndir = \"" + (dir_ / "state").string() + "\"\n[kafka]\nbrokers = \"" +
              bootstrap_ +
              "\"\ngroup_id = \"" + broker_.group("anpr-storefault") + "\"\n" +
              broker_.topics_toml() + "[cameras]\nregistry = \"cameras.csv\"\n"
              "[lists]\nfiles = [\"nl-stolen.csv\"]\n[suppression]\nwindow_s = 0\n"
              "[pipeline]\nthreads = 2\nbatch = 64\nmax_unfinished_reads = 1000\n"
              "shutdown_timeout_ms = 3000\n"
              "[http]\nlisten = \"127.0.0.1:0\"\n"
              "[kafka.consumer]\n\"session.timeout.ms\" = 6000\n\"heartbeat.interval.ms\" = 1000\n");
  }

  void TearDown() override {
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_);
  }

  // Reads from NL cameras (every one keeps its passage, or its hit): every `listed_every`th one
  // is a listed plate.
  void make_reads(int n, int listed_every) {
    bench::Rng rng(17);
    const TimestampMs now = wall_ms();
    for (int i = 0; i < n; ++i) {
      Read r;
      r.event_id = "e" + std::to_string(reads_.size());
      r.listed = i % listed_every == 0;
      r.plate = r.listed ? listed_[(i / listed_every) % listed_.size()]
                         : bench::random_plate(rng, kNL);
      JsonWriter w(r.payload);
      w.begin_object();
      w.field("event_id", r.event_id);
      w.field("camera_id", i % 2 ? "nl-cam-1" : "nl-cam-2");
      w.field("ts", format_rfc3339(now - 60'000 + i));
      w.field("plate", r.plate.view());
      w.field("plate_country", "NL");
      w.end_object();
      reads_.push_back(std::move(r));
    }
  }

  void produce(std::size_t from, std::size_t to) {
    std::string s;
    for (std::size_t i = from; i < to; ++i)
      s += std::string(i % 2 ? "nl-cam-1" : "nl-cam-2") + "\t" + reads_[i].payload + "\n";
    const fs::path f = dir_ / ("produce-" + std::to_string(from) + ".txt");
    write_file(f, s);
    const std::string out = kcat_produce(bootstrap_, broker_.topic("anpr.reads"), f);
    ASSERT_TRUE(out.empty()) << out;
  }

  Child start_processor(const std::string& log) {
    port_.clear();
    Child c({kAnpr, "run", "--config", (dir_ / "anpr.toml").string()}, false,
            (dir_ / log).string());
    eventually([&] {
      const std::string text = slurp(dir_ / log);
      const std::size_t at = text.find("on port ");
      if (at == std::string::npos) return false;
      port_ = text.substr(at + 8, text.find('\n', at) - at - 8);
      return true;
    });
    return c;
  }

  std::string get(const std::string& path) {
    return shell("curl -s -w '\\nstatus=%{http_code}' http://127.0.0.1:" + port_ + path);
  }

  std::map<int, int64_t> committed() {
    return committed_offsets(bootstrap_, broker_.group("anpr-storefault"),
                             broker_.topic("anpr.reads"), kPartitions);
  }
  int64_t committed_total() {
    int64_t sum = 0;
    for (auto [p, o] : committed()) sum += std::max<int64_t>(o, 0);
    return sum;
  }

  std::multiset<std::string> hit_events() {
    return topic_event_ids(bootstrap_, broker_.topic("anpr.hits"));
  }

  std::set<std::string> listed_events(std::size_t from, std::size_t to) const {
    std::set<std::string> s;
    for (std::size_t i = from; i < to; ++i)
      if (reads_[i].listed) s.insert(reads_[i].event_id);
    return s;
  }

  // Fills the tmpfs to the last byte.
  void fill_disk() {
    std::ofstream f(mnt_ / "filler", std::ios::binary);
    const std::string chunk(1 << 16, 'x');
    while (f.write(chunk.data(), chunk.size())) {
    }
    f.close();
    // The last partial chunk: byte by byte until no room.
    std::ofstream g(mnt_ / "filler2", std::ios::binary);
    for (int i = 0; i < (1 << 16) && g.put('x'); ++i) g.flush();
  }
  void free_disk() {
    fs::remove(mnt_ / "filler");
    fs::remove(mnt_ / "filler2");
  }

  double metric(const std::string& name) {
    const std::string text = get("/metrics");
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
    return -1;
  }

  fs::path dir_, mnt_;
  bool mounted_ = false;
  TestBroker broker_;
  std::string bootstrap_, port_;
  std::vector<Plate> listed_;
  std::vector<Read> reads_;
};

// Whether `r`'s record (passage or hit) is in the store at `dir`.
std::string stored_kind(const store::Store& s, const Read& r) {
  store::Query q;
  q.plate = r.plate;
  const std::string needle = "\"event_id\":\"" + r.event_id + "\"";
  for (const store::Found& f : s.search(q).records)
    if (app::RetentionSink::render(f).find(needle) != std::string::npos)
      return std::string(store::to_string(f.kind));
  return "";
}

TEST_F(StoreFaultIt, FullDiskHitsFlowOffsetsWaitStopIsHonouredAndRestartStoresEverything) {
  make_reads(600, 10);  // 60 hits
  Child proc = start_processor("run1.err");
  ASSERT_FALSE(port_.empty()) << slurp(dir_ / "run1.err");
  ASSERT_TRUE(eventually([&] { return get("/readyz").find("status=200") != std::string::npos; }))
      << get("/readyz") << slurp(dir_ / "run1.err");

  fill_disk();
  // A first half; once the store has failed to write it, the second half: its hits must not
  // wait for the store either.
  produce(0, 300);
  ASSERT_TRUE(eventually([&] { return metric("anpr_retention_store_failing") == 1.0; }))
      << slurp(dir_ / "run1.err");
  produce(300, reads_.size());

  // Every hit reaches the hits topic although no record can be stored.
  const std::set<std::string> want = listed_events(0, reads_.size());
  ASSERT_EQ(want.size(), 60u);
  std::multiset<std::string> got;
  ASSERT_TRUE(eventually([&] {
    got = hit_events();
    return std::set<std::string>(got.begin(), got.end()) == want;
  })) << got.size() << " of " << want.size() << " hits arrived while the store was full\n"
      << slurp(dir_ / "run1.err");

  // Readiness, the metrics and the log name the real cause.
  std::string ready;
  ASSERT_TRUE(eventually([&] {
    ready = get("/readyz");
    return ready.find("status=503") != std::string::npos;
  })) << ready;
  EXPECT_NE(ready.find("ENOSPC"), std::string::npos) << ready;
  EXPECT_EQ(metric("anpr_retention_store_failing"), 1.0);
  EXPECT_GT(metric("anpr_retention_write_failures_total"), 0.0);
  EXPECT_NE(slurp(dir_ / "run1.err").find("No space left on device (ENOSPC)"), std::string::npos)
      << slurp(dir_ / "run1.err");

  // The reads are provably in flight: every one was consumed (its hit is out), and still no
  // offset passes a read whose records are not durable. Two auto-commit intervals go by first.
  ASSERT_TRUE(eventually([&] { return metric("anpr_reads_consumed_total") == 600.0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(committed_total(), 0) << "offsets were committed before their passages were durable";

  // A stop is honoured while the store still cannot write (within the 3 s shutdown timeout
  // plus the client's close; the limit here only tells a hang from a stop).
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0) << slurp(dir_ / "run1.err");
  EXPECT_EQ(committed_total(), 0) << "offsets were committed at shutdown for records never stored";

  // With room again, a restart processes the reads again, stores every one and commits to the
  // end; the hits it publishes again carry the same ids.
  free_disk();
  Child again = start_processor("run2.err");
  ASSERT_TRUE(eventually([&] { return committed_total() == 600; }))
      << committed_total() << "\n" << slurp(dir_ / "run2.err");
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait(60'000), 0) << slurp(dir_ / "run2.err");
  store::Options o;
  o.dir = mnt_;
  store::Store st(o, config::default_retention_policies());
  std::size_t passages = 0, hits = 0;
  for (const Read& r : reads_) {
    const std::string kind = stored_kind(st, r);
    EXPECT_EQ(kind, r.listed ? "hit" : "passage") << r.event_id;
    passages += kind == "passage";
    hits += kind == "hit";
  }
  EXPECT_EQ(passages, 540u);
  EXPECT_EQ(hits, 60u);
}

TEST_F(StoreFaultIt, ReadOnlyStorePausesAtTheBoundAndResumesWhenWritable) {
  make_reads(1500, 50);  // 30 hits; more reads than pipeline.max_unfinished_reads (1000)
  Child proc = start_processor("run.err");
  ASSERT_FALSE(port_.empty()) << slurp(dir_ / "run.err");
  ASSERT_TRUE(eventually([&] { return get("/readyz").find("status=200") != std::string::npos; }))
      << get("/readyz");

  // Nothing was written yet, so no file of the store is open for writing and the remount is
  // allowed; every write from now on fails with EROFS.
  ASSERT_EQ(::mount(nullptr, mnt_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  produce(0, reads_.size());

  // Consumption pauses at the bound: about 1000 reads are consumed (a batch may go past it),
  // not all 1500, and the hits of what was consumed are out.
  ASSERT_TRUE(eventually([&] { return metric("anpr_consumption_paused") == 1.0; }))
      << slurp(dir_ / "run.err");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const double consumed = metric("anpr_reads_consumed_total");
  EXPECT_GE(consumed, 1000.0);
  EXPECT_LT(consumed, 1500.0);
  EXPECT_GE(hit_events().size(), 19u) << "hits stopped before the bound";
  const std::string ready = get("/readyz");
  EXPECT_NE(ready.find("status=503"), std::string::npos) << ready;
  EXPECT_NE(ready.find("EROFS"), std::string::npos) << ready;
  EXPECT_EQ(committed_total(), 0);
  const std::string log = slurp(dir_ / "run.err");
  EXPECT_NE(log.find("Read-only file system (EROFS)"), std::string::npos) << log;
  EXPECT_NE(log.find("consumption paused"), std::string::npos) << log;

  // Writable again: the waiting records are stored, consumption resumes, every read finishes and
  // its offset is committed, readiness returns.
  ASSERT_EQ(::mount(nullptr, mnt_.c_str(), nullptr, MS_REMOUNT, nullptr), 0)
      << std::strerror(errno);
  ASSERT_TRUE(eventually([&] { return committed_total() == 1500; }))
      << committed_total() << "\n" << slurp(dir_ / "run.err");
  EXPECT_TRUE(eventually([&] { return get("/readyz").find("status=200") != std::string::npos; }))
      << get("/readyz");
  EXPECT_EQ(metric("anpr_consumption_paused"), 0.0);
  EXPECT_EQ(metric("anpr_retention_store_failing"), 0.0);
  const std::multiset<std::string> hits = hit_events();
  const std::set<std::string> want = listed_events(0, reads_.size());
  EXPECT_EQ(std::set<std::string>(hits.begin(), hits.end()), want);
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0) << slurp(dir_ / "run.err");
}

}  // namespace
}  // namespace anpr::testing
