// Follow-up in a real browser across two instances: starts a broker (the embedded one or Apache
// Kafka, tests/test_broker.h) and two `anpr run` processes on it (one consumer group, each with
// its own HTTP server and state), then runs tests/js/followup_check.js (Playwright driving
// Debian's headless chromium): accept, reject and an outcome recorded on instance A's page are
// seen on instance B's page, and an urgent hit left alone is escalated on both. Screenshots go to
// <build>/test-artifacts/followup/ (docs/img/control-room-followup*.png are copies).
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
using testing::free_port;
using testing::kAnpr;
using testing::shell;

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

TEST(FollowupPages, TwoInstancesShowEachOthersFollowUpAndEscalations) {
  const fs::path dir = fs::temp_directory_path() / ("anpr-followup-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path artifacts = fs::path(ANPR_BINARY_DIR) / "test-artifacts" / "followup";
  fs::create_directories(artifacts);

  testing::TestBroker broker(dir, testing::current_test_name(), 2);
  const std::string bootstrap = broker.bootstrap();
  ASSERT_FALSE(bootstrap.empty());

  const std::string cr = http::new_token();
  std::vector<int> ports;
  std::vector<std::unique_ptr<Child>> procs;
  for (const std::string name : {"a", "b"}) {
    const fs::path d = dir / name;
    fs::create_directories(d);
    const int port = free_port();
    ports.push_back(port);
    write(d / "cameras.csv",
          "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,A2 Maarssen,52.1,5.0,ROOM-NL\n");
    write(d / "nl-wanted.csv", "plate,plate_country,reference\nHF-17-DS,NL,NL-WP-77813\n");
    write(d / "nl-wanted.toml", "id = \"nl-wanted\"\nowner_country = \"NL\"\nmatch_mode = \"ocr\"\n"
                                "category = \"wanted_person\"\n");
    write(d / "anpr.toml",
          "[kafka]\nbrokers = \"" + bootstrap + "\"\ngroup_id = \"" + broker.group("anpr-followup") +
              "\"\ninstance_id = \"followup-" + name + "\"\n" + broker.topics_toml() +
              "[cameras]\nregistry = \"cameras.csv\"\n[lists]\nfiles = [\"nl-wanted.csv\"]\n"
              "[followup]\nescalate_after_s = 2\nescalation_sound = true\n"
              "[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n"
              "[http.tokens.carl]\nrole = \"controlroom\"\ncontrol_room = \"*\"\nsha256 = \"" +
              http::sha256_hex(cr) + "\"\n");
    procs.push_back(std::make_unique<Child>(
        std::vector<std::string>{kAnpr, "run", "--config", (d / "anpr.toml").string()}, false,
        (d / "run.err").string()));
  }
  for (int port : ports) {
    httplib::Client c("127.0.0.1", port);
    bool ready = false;
    for (int i = 0; i < 600 && !ready; ++i) {
      auto r = c.Get("/readyz");
      ready = r && r->status == 200;
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(ready) << "instance on port " << port << " did not become ready; see " << dir;
  }

  const std::string cmd = "cd " ANPR_SOURCE_DIR "/tests/js && URL_A=http://127.0.0.1:" +
                          std::to_string(ports[0]) + " URL_B=http://127.0.0.1:" +
                          std::to_string(ports[1]) + " ANPR_BROKERS=" + bootstrap +
                          " TOPIC_HITS=" + broker.topic("anpr.hits") + " TOKEN_CR=" + cr +
                          " OUT_DIR=" + artifacts.string() +
                          " node followup_check.js 2>&1; echo \"exit=$?\"";
  const std::string out = shell(cmd);
  std::cout << out;
  EXPECT_NE(out.find("\nOK\nexit=0"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(artifacts / "control-room-followup.png"));
  EXPECT_TRUE(fs::exists(artifacts / "control-room-followup-800.png"));
  for (auto& p : procs) p->signal(SIGTERM);
  for (auto& p : procs) EXPECT_EQ(p->wait(30'000), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace anpr
