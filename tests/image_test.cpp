// Plate and overview images (image/): base64, the header probe, decoding under limits, hostile
// files, thumbnails, metadata stripping and face blurring. Every image is made here with OpenCV
// (testing/image_samples.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "image/image.h"
#include "image/jpeg.h"
#include "testing/image_samples.h"

namespace anpr::testing {
namespace {

using image::ImageError;
using image::Limits;

std::string b64(const std::vector<uint8_t>& bytes) {
  std::string s;
  image::base64_append(bytes, s);
  return s;
}

std::string reason(const Expected<image::JpegInfo, ImageError>& r) {
  return r ? "ok" : std::string(image::to_string(r.error()));
}

// ---- base64 ----

TEST(Base64, RoundTripsEveryLength) {
  std::mt19937 rng(1);
  for (std::size_t n = 0; n < 70; ++n) {
    std::vector<uint8_t> in(n);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    const std::string enc = b64(in);
    EXPECT_EQ(enc.size() % 4, 0u);
    std::vector<uint8_t> out;
    auto r = image::base64_decode(enc, out, 1000);
    ASSERT_TRUE(r) << n;
    EXPECT_EQ(out, in);
    // Without padding too.
    std::string bare = enc;
    while (!bare.empty() && bare.back() == '=') bare.pop_back();
    ASSERT_TRUE(image::base64_decode(bare, out, 1000)) << n;
    EXPECT_EQ(out, in);
  }
  EXPECT_EQ(b64({'M', 'a', 'n'}), "TWFu");
  EXPECT_EQ(b64({'M'}), "TQ==");
}

TEST(Base64, RefusesMalformedInput) {
  std::vector<uint8_t> out;
  for (const std::string& bad : std::vector<std::string>{"A", "AB=", "A===", "AB CD", "AB\nCD", "AB-_", "ABC*", "====", "AB=C",
                          std::string("AB\0D", 4), "\xc3\xa9\xc3\xa9"}) {
    auto r = image::base64_decode(bad, out, 1000);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), ImageError::bad_base64) << bad;
  }
}

TEST(Base64, RefusesOversizedInputBeforeDecoding) {
  std::vector<uint8_t> out;
  const std::string big(4000, '!');  // not even base64: the size is checked first
  auto r = image::base64_decode(big, out, 1000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), ImageError::too_large);
  EXPECT_TRUE(out.empty());
}

// ---- the header probe ----

TEST(JpegProbe, ReadsTheDeclaredSize) {
  const auto jpeg = encode(plate_image(320, 72));
  auto info = image::probe_jpeg(jpeg, Limits{});
  ASSERT_TRUE(info) << reason(info);
  EXPECT_EQ(info->width, 320u);
  EXPECT_EQ(info->height, 72u);
  EXPECT_EQ(info->components, 3);
  EXPECT_FALSE(info->progressive);
  EXPECT_EQ(info->scans, 1u);
  EXPECT_FALSE(info->has_exif);

  cv::Mat grey;
  cv::cvtColor(plate_image(), grey, cv::COLOR_BGR2GRAY);
  const auto g = encode(grey, ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  auto gi = image::probe_jpeg(g, Limits{});
  ASSERT_TRUE(gi) << reason(gi);
  EXPECT_EQ(gi->components, 1);
  EXPECT_TRUE(gi->progressive);
  EXPECT_GT(gi->scans, 1u);
}

// Every hostile file is refused by the probe, with its reason, and decode_jpeg gives the same
// answer without reaching the decoder.
TEST(JpegProbe, RefusesHostileFiles) {
  const auto jpeg = encode(plate_image());
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string reason;
    Limits limits{};
  };
  std::vector<Case> cases;
  cases.push_back({"zero bytes", {}, "empty"});
  cases.push_back({"png", encode(plate_image(), ".png"), "not_jpeg"});
  cases.push_back({"text", {'h', 'e', 'l', 'l', 'o'}, "not_jpeg"});
  cases.push_back({"soi only", {0xFF, 0xD8}, "not_jpeg"});
  cases.push_back({"soi and a marker start", {0xFF, 0xD8, 0xFF}, "truncated"});
  std::mt19937 rng(7);
  for (int i = 0; i < 3; ++i) {
    std::vector<uint8_t> r(4096);
    for (auto& b : r) b = static_cast<uint8_t>(rng());
    cases.push_back({"random bytes " + std::to_string(i), r, "not_jpeg"});
    r[0] = 0xFF, r[1] = 0xD8, r[2] = 0xFF;  // random bytes behind a JPEG signature
    const auto got = image::probe_jpeg(r, Limits{});
    EXPECT_FALSE(got) << "random bytes with a JPEG signature were accepted";
  }
  for (std::size_t cut : {std::size_t{20}, jpeg.size() / 2, jpeg.size() - 2})
    cases.push_back({"truncated at " + std::to_string(cut),
                     std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + static_cast<long>(cut)),
                     "truncated"});
  {  // A decompression bomb: a small file declaring 60000 x 60000 pixels.
    auto bomb = jpeg;
    const std::size_t sof = sof_offset(bomb);
    ASSERT_NE(sof, std::string::npos);
    bomb[sof + 5] = 0xEA, bomb[sof + 6] = 0x60;  // height 60000
    bomb[sof + 7] = 0xEA, bomb[sof + 8] = 0x60;  // width 60000
    cases.push_back({"60000 x 60000 declared", bomb, "too_many_pixels"});
    auto zero = jpeg;
    zero[sof + 5] = 0, zero[sof + 6] = 0;  // height 0: to be given by a DNL segment
    cases.push_back({"height 0", zero, "too_many_pixels"});
    auto lossless = jpeg;
    lossless[sof + 1] = 0xC3;
    cases.push_back({"lossless", lossless, "unsupported"});
    auto twelve = jpeg;
    twelve[sof + 4] = 12;
    cases.push_back({"12-bit", twelve, "unsupported"});
  }
  {
    Limits small;
    small.max_pixels = 320 * 72 - 1;
    cases.push_back({"one pixel over max_pixels", jpeg, "too_many_pixels", small});
    Limits narrow;
    narrow.max_width = 319;
    cases.push_back({"one column over max_width", jpeg, "too_many_pixels", narrow});
    Limits bytes;
    bytes.max_bytes = jpeg.size() - 1;
    cases.push_back({"one byte over max_bytes", jpeg, "too_large", bytes});
    Limits scans;
    scans.max_scans = 2;
    cases.push_back({"progressive with more scans than allowed",
                     encode(plate_image(), ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1}),
                     "too_many_scans", scans});
  }
  {  // A segment whose length runs past the end of the file.
    auto bad = jpeg;
    bad[4] = 0xFF, bad[5] = 0xF0;
    cases.push_back({"segment past the end", bad, "truncated"});
    auto junk = jpeg;
    junk[2] = 0x12;  // not a marker where one must be
    cases.push_back({"no marker after SOI", junk, "not_jpeg"});
    auto nosof = jpeg;
    const std::size_t sof = sof_offset(nosof);
    nosof[sof + 1] = 0xE5;  // the SOF turned into an APP5 segment
    cases.push_back({"no SOF before SOS", nosof, "corrupt"});
  }
  {  // Megabytes of EXIF over the default limit: refused by size.
    cases.push_back({"3 MB of EXIF", with_metadata(jpeg, 3 << 20), "too_large"});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto got = image::probe_jpeg(c.bytes, c.limits);
    EXPECT_EQ(reason(got), c.reason);
    auto dec = image::decode_jpeg(c.bytes, c.limits);
    ASSERT_FALSE(dec);
    EXPECT_EQ(image::to_string(dec.error()), c.reason);
  }
}

TEST(JpegProbe, CountsMetadata) {
  const auto jpeg = with_metadata(encode(plate_image()), 200'000);
  Limits l;
  l.max_bytes = 8 << 20;
  auto info = image::probe_jpeg(jpeg, l);
  ASSERT_TRUE(info) << reason(info);
  EXPECT_TRUE(info->has_exif);
  EXPECT_GT(info->metadata_bytes, 200'000u);
}

// Any single-byte change or cut of a valid JPEG gives an image or a documented reason, never a
// crash (the fuzz target does this at scale).
TEST(JpegDecode, MutatedFilesNeverCrash) {
  const auto jpeg = encode(plate_image(160, 40));
  std::mt19937 rng(3);
  int decoded = 0, refused = 0;
  for (int i = 0; i < 600; ++i) {
    auto m = jpeg;
    const int edits = 1 + i % 4;
    for (int e = 0; e < edits; ++e) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    if (i % 5 == 0) m.resize(rng() % m.size());
    auto r = image::decode_jpeg(m, Limits{});
    if (r) {
      ++decoded;
      EXPECT_LE(r->cols, 65535);
    } else {
      ++refused;
    }
  }
  EXPECT_GT(decoded + refused, 0);
}

// ---- decoding, thumbnails, metadata ----

TEST(JpegDecode, DecodesAndScalesDownInTheDecoder) {
  const auto jpeg = encode(plate_image(1920, 400));
  auto full = image::decode_jpeg(jpeg, Limits{});
  ASSERT_TRUE(full);
  EXPECT_EQ(full->cols, 1920);
  EXPECT_EQ(full->rows, 400);
  auto reduced = image::decode_jpeg(jpeg, Limits{}, 240);
  ASSERT_TRUE(reduced);
  EXPECT_EQ(reduced->cols, 240);  // 1920 / 8
  EXPECT_EQ(reduced->rows, 50);
  auto half = image::decode_jpeg(jpeg, Limits{}, 700);
  ASSERT_TRUE(half);
  EXPECT_EQ(half->cols, 960);  // 1920 / 2: a quarter would be narrower than 700

  cv::Mat grey;
  cv::cvtColor(plate_image(), grey, cv::COLOR_BGR2GRAY);
  auto g = image::decode_jpeg(encode(grey), Limits{});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->channels(), 1);
}

TEST(Thumbnail, HasTheConfiguredWidthAndKeepsTheAspect) {
  const cv::Mat img = plate_image(500, 110);
  const cv::Mat t = image::thumbnail(img, 240);
  EXPECT_EQ(t.cols, 240);
  EXPECT_EQ(t.rows, 53);  // 110 * 240 / 500 = 52.8
  const cv::Mat up = image::thumbnail(plate_image(120, 30), 240);
  EXPECT_EQ(up.cols, 240);
  EXPECT_EQ(up.rows, 60);
  const cv::Mat sliver = image::thumbnail(cv::Mat(1, 4000, CV_8UC1, cv::Scalar(9)), 240);
  EXPECT_EQ(sliver.rows, 1);
}

TEST(ImageWorker, ThumbnailOfAJpegWithMegabytesOfMetadataCarriesNone) {
  image::Options opt;
  opt.limits.max_bytes = 8 << 20;
  opt.thumbnail_width = 200;
  image::ImageWorker w(opt);
  const auto jpeg = with_metadata(encode(plate_image(400, 90)), 3 << 20);
  ASSERT_GT(jpeg.size(), std::size_t{3} << 20);
  ASSERT_TRUE(image::probe_jpeg(jpeg, opt.limits)->has_exif);
  std::string out = "prefix:";
  ASSERT_FALSE(w.plate_thumbnail(b64(jpeg), out));
  ASSERT_EQ(out.rfind("prefix:", 0), 0u);  // appended
  std::vector<uint8_t> thumb;
  ASSERT_TRUE(image::base64_decode(std::string_view(out).substr(7), thumb, 1 << 20));
  auto info = image::probe_jpeg(thumb, Limits{});
  ASSERT_TRUE(info) << reason(info);
  EXPECT_EQ(info->width, 200u);
  EXPECT_EQ(info->height, 45u);
  EXPECT_FALSE(info->has_exif);
  EXPECT_EQ(info->metadata_bytes, 0u);
  for (uint8_t m : header_markers(thumb))
    EXPECT_TRUE(m == 0xE0 || (m >= 0xC0 && m <= 0xDF)) << "segment 0xFF" << std::hex << int(m);
  const std::string text(thumb.begin(), thumb.end());
  EXPECT_EQ(text.find("Exif"), std::string::npos);
  EXPECT_EQ(text.find("GPS"), std::string::npos);
  EXPECT_EQ(text.find("xmpmeta"), std::string::npos);
  EXPECT_EQ(text.find("comment"), std::string::npos);
  EXPECT_EQ(w.decodes(), 1u);
}

TEST(ImageWorker, HostileImagesGiveReasonsAndNoOutput) {
  image::Options opt;
  image::ImageWorker w(opt);
  const auto jpeg = encode(plate_image());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"%%%%", "bad_base64"},
      {b64(encode(plate_image(), ".png")), "not_jpeg"},
      {b64(std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + 300)), "truncated"},
      {b64(with_metadata(jpeg, 2 << 20)), "too_large"},
  };
  for (const auto& [in, want] : cases) {
    std::string out;
    const auto e = w.plate_thumbnail(in, out);
    ASSERT_TRUE(e) << want;
    EXPECT_EQ(image::to_string(*e), want);
    EXPECT_TRUE(out.empty());
    out.clear();
    const auto o = w.overview_release(in, out);
    ASSERT_TRUE(o) << want;
    EXPECT_EQ(image::to_string(*o), want);
    EXPECT_TRUE(out.empty());
  }
}

// ---- faces ----

double variance(const cv::Mat& img) {
  cv::Scalar mean, dev;
  cv::meanStdDev(img, mean, dev);
  double v = 0;
  for (int c = 0; c < img.channels(); ++c) v += dev[c] * dev[c];
  return v;
}

TEST(FaceBlur, BlursInsideTheDetectedRegionAndNothingOutside) {
  image::FaceBlurrer blurrer(image::Options{}.face_cascade);
  const cv::Mat before = face_scene();
  const auto faces = blurrer.detect(before);
  ASSERT_EQ(faces.size(), 1u) << "the drawn face must be found";
  const cv::Rect face = faces[0];
  EXPECT_TRUE((face & cv::Rect(380, 120, 240, 240)).area() > face.area() / 2);

  cv::Mat after = before.clone();
  const auto blurred = blurrer.blur(after);
  ASSERT_EQ(blurred.size(), 1u);
  const cv::Rect region = blurred[0];
  EXPECT_TRUE((region & face) == face) << "the blurred region covers the face";
  EXPECT_LT(variance(after(face)), 0.25 * variance(before(face)));
  EXPECT_LT(variance(after(region)), variance(before(region)));
  // Outside the region every pixel is as it was.
  cv::Mat mask(before.size(), CV_8UC1, cv::Scalar(255));
  mask(region).setTo(0);
  cv::Mat diff;
  cv::absdiff(before, after, diff);
  cv::Mat grey_diff;
  cv::cvtColor(diff, grey_diff, cv::COLOR_BGR2GRAY);
  EXPECT_EQ(cv::countNonZero(grey_diff & mask), 0);
  EXPECT_GT(cv::countNonZero(grey_diff(region)), region.area() / 2);
  // And the face is no longer found.
  EXPECT_TRUE(blurrer.detect(after).empty());
}

TEST(FaceBlur, BigImagesAreSearchedScaledDown) {
  image::FaceBlurrer blurrer(image::Options{}.face_cascade);
  cv::Mat big = face_scene(2400, 1350, {1200, 300}, 480);
  const auto faces = blurrer.detect(big);
  ASSERT_EQ(faces.size(), 1u);
  EXPECT_GT((faces[0] & cv::Rect(1200, 300, 480, 480)).area(), faces[0].area() / 2);
}

TEST(FaceBlur, MissingCascadeIsAClearError) {
  EXPECT_THROW(image::FaceBlurrer("/nonexistent/cascade.xml"), std::runtime_error);
  image::Options opt;
  opt.face_cascade = "/nonexistent/cascade.xml";
  EXPECT_NO_THROW(image::check_options(opt, false));  // no country keeps overview images
  EXPECT_THROW(image::check_options(opt, true), std::runtime_error);
  opt.blur_faces = false;
  EXPECT_NO_THROW(image::check_options(opt, true));
  // A worker that cannot blur refuses to let the overview out.
  opt.blur_faces = true;
  image::ImageWorker w(opt);
  std::string out;
  const auto e = w.overview_release(b64(encode(face_scene())), out);
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, ImageError::blur_failed);
  EXPECT_TRUE(out.empty());
}

TEST(ImageWorker, OverviewLeavesBlurredAndWithoutMetadata) {
  image::Options opt;
  opt.limits.max_bytes = 8 << 20;
  image::ImageWorker w(opt);
  const auto jpeg = with_metadata(encode(face_scene(), ".jpg", {cv::IMWRITE_JPEG_QUALITY, 95}),
                                  1 << 20);
  std::string out;
  ASSERT_FALSE(w.overview_release(b64(jpeg), out));
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(image::base64_decode(out, bytes, 8 << 20));
  auto info = image::probe_jpeg(bytes, Limits{});
  ASSERT_TRUE(info) << reason(info);
  EXPECT_EQ(info->width, 960u);
  EXPECT_EQ(info->metadata_bytes, 0u);
  EXPECT_FALSE(info->has_exif);
  const cv::Mat img = cv::imdecode(bytes, cv::IMREAD_COLOR);
  image::FaceBlurrer blurrer(opt.face_cascade);
  EXPECT_TRUE(blurrer.detect(img).empty()) << "a face is still recognisable";
  // The same image without blurring still shows the face: the test can fail.
  opt.blur_faces = false;
  image::ImageWorker raw(opt);
  out.clear();
  ASSERT_FALSE(raw.overview_release(b64(jpeg), out));
  ASSERT_TRUE(image::base64_decode(out, bytes, 8 << 20));
  EXPECT_FALSE(blurrer.detect(cv::imdecode(bytes, cv::IMREAD_COLOR)).empty());
}

}  // namespace
}  // namespace anpr::testing
