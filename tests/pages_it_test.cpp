// The pages in a real browser: starts a broker (the embedded one or Apache Kafka,
// tests/test_broker.h) and `anpr run` with its HTTP server, then runs tests/js/pages_check.js
// (Playwright driving Debian's headless chromium, KafkaJS producing hits). Screenshots go to
// <build>/test-artifacts/pages/.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "http/auth.h"
#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/test_broker.h"

namespace anpr {
namespace {

namespace fs = std::filesystem;
using testing::Child;
using testing::shell;

using testing::free_port;
using testing::kAnpr;

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

TEST(Pages, ControlRoomInABrowser) {
  const fs::path dir = fs::temp_directory_path() / ("anpr-pages-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path artifacts = fs::path(ANPR_BINARY_DIR) / "test-artifacts" / "pages";
  fs::create_directories(artifacts);

  testing::TestBroker broker(dir, testing::current_test_name(), 2);
  const std::string bootstrap = broker.bootstrap();
  ASSERT_FALSE(bootstrap.empty());

  const std::string cr = http::new_token(), op = http::new_token();
  const int port = free_port();
  write(dir / "cameras.csv",
        "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,A2 Maarssen,52.1352,5.0301,ROOM-NL\n"
        "be-cam-1,BE,E19 Antwerpen-Noord,51.2602,4.4525,ROOM-BE\n"
        "lu-cam-1,LU,A3 Livange,49.535,6.1164,ROOM-LU\n");
  write(dir / "nl-wanted.csv", "plate,plate_country,reference\nHF-17-DS,NL,NL-WP-77813\n");
  write(dir / "nl-wanted.toml", "id = \"nl-wanted\"\nowner_country = \"NL\"\nmatch_mode = \"ocr\"\n"
                                "category = \"wanted_person\"\n");
  // Offered by the control-room page's filters before any hit (the covert one only to its room).
  write(dir / "be-wanted.csv", "plate,plate_country,reference\n1-ABC-234,BE,BE-SV-1\n");
  write(dir / "be-wanted.toml", "id = \"be-wanted\"\nowner_country = \"BE\"\nmatch_mode = \"ocr\"\n"
                                "category = \"stolen_vehicle\"\n");
  write(dir / "nl-secret.csv", "plate,plate_country,reference\nGB-123-X,NL,NL-OBS-1\n");
  write(dir / "nl-secret.toml", "id = \"nl-secret\"\nowner_country = \"NL\"\ncategory = \"suspect\"\n"
                                "action = \"observe\"\ncovert = true\nrooms = [\"ROOM-X\"]\n");
  write(dir / "anpr.toml",
        "[kafka]\nbrokers = \"" + bootstrap + "\"\ngroup_id = \"" + broker.group("anpr-pages") +
        "\"\n" + broker.topics_toml() +
        "[cameras]\nregistry = \"cameras.csv\"\n[lists]\nfiles = [\"nl-wanted.csv\", \"be-wanted.csv\", \"nl-secret.csv\"]\n"
        "[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\nstatus_sample_ms = 200\n"
        "[http.tokens.carl]\nrole = \"controlroom\"\ncontrol_room = \"*\"\nsha256 = \"" + http::sha256_hex(cr) + "\"\n"
        "[http.tokens.olga]\nrole = \"operator\"\nsha256 = \"" + http::sha256_hex(op) + "\"\n");
  Child proc({kAnpr, "run", "--config", (dir / "anpr.toml").string()}, false,
             (dir / "run.err").string());
  // Ready: lists loaded and partitions assigned.
  httplib::Client c("127.0.0.1", port);
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    auto r = c.Get("/readyz");
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << "the processor did not become ready; see " << (dir / "run.err");

  const std::string cmd = "cd " ANPR_SOURCE_DIR "/tests/js && ANPR_URL=http://127.0.0.1:" +
                          std::to_string(port) + " ANPR_BROKERS=" + bootstrap +
                          " TOPIC_HITS=" + broker.topic("anpr.hits") +
                          " TOPIC_HIT_ACKS=" + broker.topic("anpr.hit-acks") +
                          " TOPIC_READS=" + broker.topic("anpr.reads") +
                          " GROUP=" + broker.group("pages-check") +
                          " TOKEN_CR=" + cr + " TOKEN_CR_NAME=carl TOKEN_OP=" + op +
                          " OUT_DIR=" + artifacts.string() + " node pages_check.js 2>&1; echo \"exit=$?\"";
  const std::string out = shell(cmd);
  std::cout << out;
  EXPECT_NE(out.find("\nOK\nexit=0"), std::string::npos) << out;
  for (const char* png : {"control-room.png", "control-room-800.png", "status.png", "status-800.png"})
    EXPECT_TRUE(fs::exists(artifacts / png)) << png;
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(30'000), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace anpr
