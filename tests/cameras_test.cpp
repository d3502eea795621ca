#include "ingest/cameras.h"

#include <gtest/gtest.h>

namespace anpr {
namespace {

constexpr const char* kHeader = "camera_id,country,site,lat,lon,control_room\n";

TEST(CameraRegistry, LoadsTheSampleRegistry) {
  CameraRegistry r = CameraRegistry::load(ANPR_SOURCE_DIR "/samples/cameras.csv");
  ASSERT_GE(r.size(), 3u);
  const Camera* c = r.find("nl-a2-hmr-01");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->country, kNL);
  EXPECT_EQ(c->control_room, "NL-MIDDEN");
  ASSERT_TRUE(c->lat.has_value());
  EXPECT_NEAR(*c->lat, 52.1352, 1e-9);
  EXPECT_EQ(r.find("nope"), nullptr);
}

TEST(CameraRegistry, ColumnsInAnyOrderAndEmptyLocation) {
  CameraRegistry r = CameraRegistry::parse(
      "control_room,site,camera_id,lon,lat,country\nR1,Somewhere,cam-1,,,BE\n", "t.csv");
  const Camera* c = r.find("cam-1");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->country, kBE);
  EXPECT_FALSE(c->lat.has_value());
}

struct Bad {
  std::string csv;
  std::string expect;  // substring of the message
};

TEST(CameraRegistry, RejectsBadFilesWithFileLineAndColumn) {
  const std::vector<Bad> cases = {
      {"", "t.csv:1: empty file"},
      {"camera_id,country\n", "column missing"},
      {"camera_id,country,site,lat,lon,control_room,extra\n", "unknown column"},
      {"camera_id,camera_id,site,lat,lon,control_room\n", "twice in the header"},
      {std::string(kHeader) + "c1,NL,Site,1,2,R\nc1,NL,Site,1,2,R\n", "t.csv:3: camera_id: camera registered twice"},
      {std::string(kHeader) + ",NL,Site,1,2,R\n", "t.csv:2: camera_id"},
      {std::string(kHeader) + "c1,Netherlands,Site,1,2,R\n", "country"},
      {std::string(kHeader) + "c1,,Site,1,2,R\n", "country"},
      {std::string(kHeader) + "c1,NL,,1,2,R\n", "site"},
      {std::string(kHeader) + "c1,NL,Site,91,2,R\n", "lat"},
      {std::string(kHeader) + "c1,NL,Site,1,abc,R\n", "lon"},
      {std::string(kHeader) + "c1,NL,Site,1,,R\n", "together"},
      {std::string(kHeader) + "c1,NL,Site,nan,1,R\n", "lat"},
      {std::string(kHeader) + "c1,NL,Site,1,2\n", "expected 6 fields"},
      {std::string(kHeader) + "c\x01,NL,Site,1,2,R\n", "camera_id"},
      {std::string(kHeader) + "c1,NL,Si\xff" "te,1,2,R\n", "site"},
      {std::string(kHeader) + "c1,NL,\"Site,1,2,R\n", "never closed"},
      {std::string(kHeader) + "c1,NL,Site,1,2," + std::string(65, 'R') + "\n", "control_room"},
  };
  for (const Bad& b : cases) {
    try {
      CameraRegistry::parse(b.csv, "t.csv");
      ADD_FAILURE() << "accepted: " << b.csv;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(b.expect), std::string::npos)
          << "message: " << e.what() << "\nexpected to contain: " << b.expect;
    }
  }
}

TEST(CameraRegistry, RefusesMoreThanTheLimit) {
  std::string csv = kHeader;
  for (int i = 0; i < 11; ++i) csv += "c" + std::to_string(i) + ",NL,S,,,R\n";
  EXPECT_THROW(CameraRegistry::parse(csv, "t.csv", 10), std::runtime_error);
  EXPECT_EQ(CameraRegistry::parse(csv, "t.csv", 11).size(), 11u);
}

TEST(CameraRegistry, MissingFile) {
  EXPECT_THROW(CameraRegistry::load("/nonexistent/cameras.csv"), std::runtime_error);
}

}  // namespace
}  // namespace anpr
