// Images in the stream processor: a hit carries its plate thumbnail (or image_error with the
// reason) and, where the camera country keeps them, its overview image with faces blurred and no
// metadata; reads that hit nothing never have their images decoded or sent. The processor runs
// in this process against a broker (the embedded one or Apache Kafka, tests/test_broker.h); the
// images are made with OpenCV.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include <opencv2/imgcodecs.hpp>

#include "pipeline/processor.h"
#include "pipeline/retention_sink.h"
#include "config/settings.h"
#include "image/image.h"
#include "image/jpeg.h"
#include "kafka/client.h"
#include "match/plate.h"
#include "match/time.h"
#include "store/store.h"
#include "testing/image_samples.h"
#include "tests/test_broker.h"

namespace anpr::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string b64(const std::vector<uint8_t>& bytes) {
  std::string s;
  image::base64_append(bytes, s);
  return s;
}

struct Read {
  std::string event_id, camera_id, plate, plate_jpeg, overview_jpeg;
  std::string ts = "2026-11-24T08:00:00.000Z";
};

std::string read_json(const Read& r) {
  std::string j = R"({"event_id":")" + r.event_id + R"(","camera_id":")" + r.camera_id +
                  R"(","ts":")" + r.ts + R"(","plate":")" + r.plate + R"(")";
  if (!r.plate_jpeg.empty()) j += R"(,"plate_jpeg":")" + r.plate_jpeg + R"(")";
  if (!r.overview_jpeg.empty()) j += R"(,"overview_jpeg":")" + r.overview_jpeg + R"(")";
  return j + "}";
}

// The processor over a broker and a retention store of the test's own, with one NL list of the
// plates "HIT001".."HIT099". The retention policies are the defaults (NL and BE keep passages and
// hits), and NL keeps images.
class HitImages : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("anpr-images-" + std::to_string(::getpid()) + "-" + current_test_name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    broker_ = TestBroker(dir_, current_test_name(), 4);
    ASSERT_FALSE(broker_.bootstrap().empty());
    IndexBuilder b;
    ListMeta meta;
    meta.id = "nl-stolen";
    meta.owner = kNL;
    meta.default_category = Category::stolen_vehicle;
    const uint16_t list = b.add_list(meta);
    for (int i = 1; i < 100; ++i) {
      char p[8];
      std::snprintf(p, sizeof p, "HIT%03d", i);
      b.add(list, *normalize(p), kNL, Category::stolen_vehicle, Action::intercept, 10, kNoExpiry,
            "REF" + std::to_string(i), "");
    }
    index_ = std::make_unique<LiveIndex>(std::shared_ptr<const Snapshot>(b.build()));
    cameras_ = CameraRegistry::parse(
        "camera_id,country,site,lat,lon,control_room\n"
        "nl-cam,NL,Utrecht A12,52.1,5.1,R-NL\n"
        "be-cam,BE,Antwerpen E19,51.2,4.4,R-BE\n",
        "test cameras");
    s_.kafka.brokers = broker_.bootstrap();
    s_.kafka.group_id = broker_.group("images-test");
    s_.kafka.common = {{"log_level", "3"}};
    s_.topics.reads = broker_.topic("anpr.reads");
    s_.topics.hits = broker_.topic("anpr.hits");
    s_.topics.deadletter = broker_.topic("anpr.deadletter");
    s_.topics.route_prefix = broker_.topic("anpr.route.");
    s_.topics.hit_acks = broker_.topic("anpr.hit-acks");
    s_.topics.reflists = broker_.topic("anpr.reflists");
    s_.countries = config::default_country_policies();
    s_.suppression.window_ms = 0;
    s_.pipeline.threads = 2;
    s_.pipeline.batch = 8;
    s_.state_dir = dir_;
    s_.retention.policies = config::default_retention_policies();
    set_keep_images(kNL, true);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void set_keep_images(CountryCode c, bool keep) {
    for (auto& p : s_.retention.policies)
      if (p.country == c) p.keep_images = keep;
  }

  // Produces the reads, runs the processor until every read is done, returns its counters.
  // `after` sees the processor once every read is done (its retention store is still open).
  app::ProcessorCounters run(const std::vector<Read>& reads,
                             const std::function<void(app::Processor&)>& after = {}) {
    std::size_t bytes = 0;
    for (const Read& r : reads) bytes += read_json(r).size();
    EXPECT_LT(bytes, std::size_t{4} << 20) << "keep far below the embedded broker's 5 MiB";
    {
      kafka::Producer prod({{"bootstrap.servers", broker_.bootstrap()}, {"log_level", "3"}},
                           nullptr);
      for (const Read& r : reads)
        EXPECT_EQ(prod.produce(s_.topics.reads, r.camera_id, read_json(r)),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
      EXPECT_TRUE(prod.flush(10'000));
    }
    app::Processor p(s_, *index_, cameras_);
    std::thread t([&] { p.run(); });
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    for (;;) {
      const auto c = p.counters();
      if ((c.reads >= reads.size() && c.unfinished == 0) || Clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    p.request_stop();
    t.join();
    if (after) after(p);
    return p.counters();
  }

  // Every message of the hits topic, by event id (waits up to 10 s for `expected` of them).
  std::map<std::string, std::string> hits(std::size_t expected) {
    kafka::Consumer c({{"bootstrap.servers", broker_.bootstrap()},
                       {"group.id", broker_.group("images-test-viewer")},
                       {"auto.offset.reset", "earliest"},
                       {"log_level", "3"}});
    c.subscribe({s_.topics.hits});
    std::map<std::string, std::string> out;
    simdjson::dom::parser parser;
    const auto deadline = Clock::now() + std::chrono::seconds(expected ? 15 : 6);
    while (Clock::now() < deadline && (expected == 0 || out.size() < expected)) {
      const kafka::Message m = c.poll(100);
      if (!m || m->err) continue;
      std::string payload(static_cast<const char*>(m->payload), m->len);
      std::string_view id;
      EXPECT_FALSE(parser.parse(payload)["event_id"].get(id));
      out[std::string(id)] = payload;
    }
    return out;  // c is closed here
  }

  TestBroker broker_;
  std::unique_ptr<LiveIndex> index_;
  CameraRegistry cameras_ = CameraRegistry::parse("camera_id,country,site,lat,lon,control_room\n", "none");
  config::Settings s_;
  std::filesystem::path dir_;
};

// The JSON of the passages the store keeps of `plate`.
std::vector<std::string> passages(app::Processor& p, std::string_view plate) {
  std::vector<std::string> out;
  store::Store* st = p.retention_store();
  if (!st) return out;
  store::Query q;
  q.plate = *normalize(plate);
  q.hits = false;
  for (const store::Found& f : st->search(q).records) out.push_back(app::RetentionSink::render(f));
  return out;
}

std::string field(const std::string& json, const char* key) {
  simdjson::dom::parser parser;
  std::string_view v;
  if (parser.parse(json)[key].get(v)) return "<absent>";
  return std::string(v);
}

cv::Mat decode_b64(const std::string& s) {
  std::vector<uint8_t> bytes;
  if (!image::base64_decode(s, bytes, 16 << 20)) return {};
  return cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
}

TEST_F(HitImages, HitsCarryThumbnailsOrReasonsAndNoHitImagesAreNeverDecoded) {
  const auto plate = encode(plate_image(320, 72));
  const auto plate_exif = with_metadata(plate, 100'000);
  auto bomb = plate;
  const std::size_t sof = sof_offset(bomb);
  bomb[sof + 5] = 0xEA, bomb[sof + 6] = 0x60, bomb[sof + 7] = 0xEA, bomb[sof + 8] = 0x60;
  std::vector<uint8_t> noise(3000);
  std::mt19937 rng(5);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  const cv::Mat scene = face_scene(360, 240, {100, 20}, 180);
  image::FaceBlurrer blurrer(s_.images.face_cascade);
  ASSERT_FALSE(blurrer.detect(scene).empty()) << "the test scene must show a face";
  const auto overview = with_metadata(encode(scene, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 80}), 20'000);

  std::vector<Read> reads = {
      {"h-plain", "nl-cam", "HIT-001", b64(plate), ""},
      {"h-exif", "nl-cam", "HIT-002", b64(plate_exif), ""},
      {"h-truncated", "nl-cam", "HIT-003", b64({plate.begin(), plate.begin() + 400}), ""},
      {"h-png", "nl-cam", "HIT-004", b64(encode(plate_image(), ".png")), ""},
      {"h-base64", "nl-cam", "HIT-005", "this is not base64!", ""},
      {"h-bomb", "nl-cam", "HIT-006", b64(bomb), ""},
      {"h-random", "nl-cam", "HIT-007", b64(noise), ""},
      {"h-overview", "nl-cam", "HIT-008", b64(plate), b64(overview)},
      {"h-be", "be-cam", "HIT-009", b64(plate), b64(overview)},
      {"h-none", "nl-cam", "HIT-010", "", ""},
  };
  const std::size_t hit_reads = reads.size();
  // Reads that hit nothing, with every kind of image, good and hostile.
  for (int i = 0; i < 40; ++i) {
    const Read& like = reads[static_cast<std::size_t>(i) % hit_reads];
    reads.push_back({"n" + std::to_string(i), "be-cam", "NO-" + std::to_string(100 + i) + "-X",
                     like.plate_jpeg, i % 4 ? "" : b64(overview)});
  }

  std::vector<std::string> kept;
  const app::ProcessorCounters c = run(reads, [&](app::Processor& p) { kept = passages(p, "NO-100-X"); });
  EXPECT_EQ(c.reads, reads.size());
  EXPECT_EQ(c.hits, hit_reads);
  // BE keeps passages, without their images.
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].find("_jpeg"), std::string::npos) << kept[0];
  EXPECT_EQ(c.deadletters, 0u);
  // 9 plate images and 1 overview (NL keeps hits' overviews, BE does not): nothing else.
  EXPECT_EQ(c.image_decodes, 10u);
  EXPECT_EQ(c.image_errors, 5u);
  const std::map<std::string, uint64_t> want_reasons = {
      {"bad_base64", 1}, {"not_jpeg", 2}, {"too_many_pixels", 1}, {"truncated", 1}};
  EXPECT_EQ(c.image_error_reasons, want_reasons);

  auto got = hits(hit_reads);
  ASSERT_EQ(got.size(), hit_reads);
  for (const auto& [id, json] : got) EXPECT_EQ(id.substr(0, 2), "h-") << "a no-hit went out";

  for (const char* id : {"h-plain", "h-exif", "h-overview", "h-be"}) {
    SCOPED_TRACE(id);
    const std::string& h = got[id];
    EXPECT_EQ(field(h, "image_error"), "<absent>");
    const std::string t = field(h, "thumbnail_jpeg");
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(image::base64_decode(t, bytes, 1 << 20));
    auto info = image::probe_jpeg(bytes, image::Limits{});
    ASSERT_TRUE(info);
    EXPECT_EQ(info->width, 240u);
    EXPECT_EQ(info->height, 54u);  // 72 * 240 / 320
    EXPECT_EQ(info->metadata_bytes, 0u);
  }
  EXPECT_EQ(field(got["h-truncated"], "image_error"), "truncated");
  EXPECT_EQ(field(got["h-png"], "image_error"), "not_jpeg");
  EXPECT_EQ(field(got["h-base64"], "image_error"), "bad_base64");
  EXPECT_EQ(field(got["h-bomb"], "image_error"), "too_many_pixels");
  EXPECT_EQ(field(got["h-random"], "image_error"), "not_jpeg");
  for (const char* id : {"h-truncated", "h-png", "h-base64", "h-bomb", "h-random", "h-none"})
    EXPECT_EQ(field(got[id], "thumbnail_jpeg"), "<absent>") << id;
  EXPECT_EQ(field(got["h-none"], "image_error"), "<absent>");

  // The kept overview: blurred (the face is no longer found) and without metadata.
  const std::string ov = field(got["h-overview"], "overview_jpeg");
  std::vector<uint8_t> ov_bytes;
  ASSERT_TRUE(image::base64_decode(ov, ov_bytes, 16 << 20));
  auto ov_info = image::probe_jpeg(ov_bytes, image::Limits{});
  ASSERT_TRUE(ov_info);
  EXPECT_EQ(ov_info->width, 360u);
  EXPECT_EQ(ov_info->metadata_bytes, 0u);
  EXPECT_TRUE(blurrer.detect(decode_b64(ov)).empty());
  EXPECT_EQ(ov.find("GPS"), std::string::npos);
  // BE keeps no images: no overview leaves.
  EXPECT_EQ(field(got["h-be"], "overview_jpeg"), "<absent>");
  for (const auto& [id, json] : got)
    if (id != "h-overview") {
      EXPECT_EQ(json.find("overview_jpeg"), std::string::npos) << id;
    }
}

TEST_F(HitImages, ReadsThatHitNothingAreNeverDecodedNorSentNorStored) {
  set_keep_images(kNL, false);
  const std::string plate = b64(encode(plate_image()));
  const std::string overview = b64(encode(face_scene(320, 200, {60, 20}, 160)));
  std::vector<Read> reads;
  for (int i = 0; i < 60; ++i)
    reads.push_back({"n" + std::to_string(i), i % 2 ? "be-cam" : "nl-cam",
                     "NO-" + std::to_string(100 + i) + "-X", i % 5 ? plate : "garbage!",
                     overview});
  std::vector<std::string> kept;
  const app::ProcessorCounters c = run(reads, [&](app::Processor& p) {
    for (int i = 0; i < 60; ++i)
      for (auto& j : passages(p, "NO-" + std::to_string(100 + i) + "-X")) kept.push_back(j);
  });
  EXPECT_EQ(c.reads, reads.size());
  EXPECT_EQ(c.hits, 0u);
  EXPECT_EQ(kept.size(), 60u);  // NL and BE keep passages...
  for (const std::string& j : kept) EXPECT_EQ(j.find("_jpeg"), std::string::npos) << j;  // ...not images
  EXPECT_EQ(c.image_decodes, 0u);
  EXPECT_EQ(c.image_errors, 0u);
  EXPECT_TRUE(hits(0).empty());
}

TEST_F(HitImages, DisabledImagesAreIgnored) {
  s_.images.enabled = false;
  const app::ProcessorCounters c =
      run({{"h1", "nl-cam", "HIT-011", b64(encode(plate_image())), ""},
           {"h2", "nl-cam", "HIT-012", "garbage!", ""}});
  EXPECT_EQ(c.hits, 2u);
  EXPECT_EQ(c.image_decodes, 0u);
  auto got = hits(2);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& [id, json] : got) {
    EXPECT_EQ(json.find("thumbnail_jpeg"), std::string::npos);
    EXPECT_EQ(json.find("image_error"), std::string::npos);
  }
}

// NL keeps passages with their images: they are stored only as made safe, the plate image
// re-encoded without metadata and the overview with the face blurred.
TEST_F(HitImages, KeptPassagesKeepOnlySafeImages) {
  const auto plate = with_metadata(encode(plate_image(320, 72)), 50'000);
  const cv::Mat scene = face_scene(360, 240, {100, 20}, 180);
  image::FaceBlurrer blurrer(s_.images.face_cascade);
  ASSERT_FALSE(blurrer.detect(scene).empty()) << "the test scene must show a face";
  const auto overview = with_metadata(encode(scene, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 80}), 20'000);
  std::vector<std::string> nl, nl_bad, be;
  const app::ProcessorCounters c = run(
      {{"n1", "nl-cam", "NO-201-X", b64(plate), b64(overview)},
       {"n2", "nl-cam", "NO-202-X", "garbage!", b64({plate.begin(), plate.begin() + 300})},
       {"n3", "be-cam", "NO-203-X", b64(plate), b64(overview)}},
      [&](app::Processor& p) {
        nl = passages(p, "NO-201-X");
        nl_bad = passages(p, "NO-202-X");
        be = passages(p, "NO-203-X");
      });
  EXPECT_EQ(c.hits, 0u);
  EXPECT_EQ(c.image_decodes, 4u);  // both images of each NL passage; none of the BE one
  EXPECT_EQ(c.image_errors, 2u);
  ASSERT_EQ(nl.size(), 1u);
  const std::string pj = field(nl[0], "plate_jpeg"), oj = field(nl[0], "overview_jpeg");
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(image::base64_decode(pj, bytes, 16 << 20)) << nl[0].substr(0, 200);
  auto info = image::probe_jpeg(bytes, image::Limits{});
  ASSERT_TRUE(info);
  EXPECT_EQ(info->width, 320u);
  EXPECT_EQ(info->metadata_bytes, 0u);
  ASSERT_TRUE(image::base64_decode(oj, bytes, 16 << 20));
  info = image::probe_jpeg(bytes, image::Limits{});
  ASSERT_TRUE(info);
  EXPECT_EQ(info->metadata_bytes, 0u);
  EXPECT_TRUE(blurrer.detect(decode_b64(oj)).empty()) << "a face is still recognisable";
  // Unusable images are not kept; the passage is.
  ASSERT_EQ(nl_bad.size(), 1u);
  EXPECT_EQ(nl_bad[0].find("_jpeg"), std::string::npos) << nl_bad[0];
  ASSERT_EQ(be.size(), 1u);
  EXPECT_EQ(be[0].find("_jpeg"), std::string::npos) << be[0];
}

// Reads stamped far in the future (a camera clock a year ahead) are counted, still alert, and are
// kept by the processor's time: their deadline counts from when they were kept. A read a few
// seconds ahead (within pipeline.max_clock_skew_ms) is not counted.
TEST_F(HitImages, ReadsStampedInTheFutureAreCountedStillAlertAndAreKeptByArrival) {
  const TimestampMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  const std::string year_ahead = format_rfc3339(now + 365 * kMsPerDay);
  const std::string seconds_ahead = format_rfc3339(now + 5'000);
  std::vector<Read> reads = {{"f-hit", "nl-cam", "HIT001", "", "", year_ahead},
                             {"f-pass", "be-cam", "NO-200-X", "", "", year_ahead},
                             {"s-pass", "be-cam", "NO-201-X", "", "", seconds_ahead},
                             {"now-pass", "be-cam", "NO-202-X", "", "", format_rfc3339(now)}};
  std::vector<store::Found> kept;
  const app::ProcessorCounters c = run(reads, [&](app::Processor& p) {
    store::Query q;
    q.plate = *normalize("NO-200-X");
    kept = p.retention_store()->search(q).records;
  });
  EXPECT_EQ(c.reads, 4u);
  EXPECT_EQ(c.future_stamped, 2u);
  EXPECT_EQ(c.deadletters, 0u);
  EXPECT_EQ(c.hits, 1u);
  EXPECT_EQ(hits(1).count("f-hit"), 1u) << "a read stamped in the future still alerts";
  ASSERT_EQ(kept.size(), 1u);
  const TimestampMs later = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  EXPECT_EQ(kept[0].captured, now + 365 * kMsPerDay);
  EXPECT_GE(kept[0].trusted, now);
  EXPECT_LE(kept[0].trusted, later);
  EXPECT_EQ(kept[0].deadline, kept[0].trusted + 365 * kMsPerDay)
      << "BE keeps passages 365 days from when the processor kept them";
}

}  // namespace
}  // namespace anpr::testing
