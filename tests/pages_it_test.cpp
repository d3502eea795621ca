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
        "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,A2 Maarssen,52.1,5.0,ROOM-NL\n");
  write(dir / "nl-wanted.csv", "plate,plate_country,reference\nHF-17-DS,NL,NL-WP-77813\n");
  write(dir / "nl-wanted.toml", "id = \"nl-wanted\"\nowner_country = \"NL\"\nmatch_mode = \"ocr\"\n"
                                "category = \"wanted_person\"\n");
  write(dir / "anpr.toml",
        "[kafka]\nbrokers = \"" + bootstrap + "\"\ngroup_id = \"" + broker.group("anpr-pages") +
        "\"\n" + broker.topics_toml() +
        "[cameras]\nregistry = \"cameras.csv\"\n[lists]\nfiles = [\"nl-wanted.csv\"]\n"
        "[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n"
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
                          " GROUP=" + broker.group("pages-check") +
                          " TOKEN_CR=" + cr + " TOKEN_CR_NAME=carl TOKEN_OP=" + op +
                          " OUT_DIR=" + artifacts.string() + " node pages_check.js 2>&1; echo \"exit=$?\"";
  const std::string out = shell(cmd);
  std::cout << out;
  EXPECT_NE(out.find("\nOK\nexit=0"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(artifacts / "control-room.png"));
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(30'000), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace anpr
