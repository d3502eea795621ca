// The yield figures end to end (docs/operators.md, "Yield of a list"): starts a broker (the
// embedded one or Apache Kafka, tests/test_broker.h) and `anpr run` with its HTTP server, then
// runs tests/js/yield_check.js: it sends camera reads that hit an ordinary and a covert list,
// reads the hits the processor published, records dispositions and outcomes for them (through
// the acknowledgements topic, as the control rooms' server writes them), computes the expected
// figures from what it recorded and compares them with `anpr lists yield --json`, with
// /api/v1/cameras/yield and with the lists page in Chromium (Playwright); it also checks that
// an engineer, /metrics and the cameras' figures show nothing of the covert list. Screenshots go
// to <build>/test-artifacts/yield/ (docs/img/lists-yield*.png are taken from there).
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

TEST(YieldIt, ListsYieldAndThePageGiveTheFiguresOfTheDispositionsMade) {
  const fs::path dir = fs::temp_directory_path() / ("anpr-yield-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path artifacts = fs::path(ANPR_BINARY_DIR) / "test-artifacts" / "yield";
  fs::create_directories(artifacts);

  testing::TestBroker broker(dir, testing::current_test_name(), 2);
  const std::string bootstrap = broker.bootstrap();
  ASSERT_FALSE(bootstrap.empty());

  const std::string cr = http::new_token(), op = http::new_token(), eng = http::new_token();
  write(dir / "op.token", op + "\n");
  write(dir / "eng.token", eng + "\n");
  write(dir / "cr.token", cr + "\n");
  const int port = free_port();
  write(dir / "cameras.csv",
        "camera_id,country,site,lat,lon,control_room\n"
        "nl-cam-1,NL,A2 Maarssen,52.1,5.0,ROOM-NL\n"
        "nl-cam-2,NL,A12 Bunnik,52.06,5.2,ROOM-NL\n"
        "nl-cam-3,NL,A27 Lexmond,51.96,5.03,ROOM-NL\n");
  write(dir / "nl-wanted.csv",
        "plate,plate_country,reference\nHF-17-DS,NL,NL-WP-1\nGB-123-X,NL,NL-WP-2\n"
        "12-BDF-3,NL,NL-WP-3\n");
  write(dir / "nl-wanted.toml",
        "id = \"nl-wanted\"\nowner_country = \"NL\"\ncategory = \"wanted_person\"\n");
  write(dir / "nl-stolen.csv", "plate,plate_country,reference\nXR-441-T,NL,NL-SV-1\n");
  write(dir / "nl-stolen.toml",
        "id = \"nl-stolen\"\nowner_country = \"NL\"\ncategory = \"stolen_vehicle\"\n");
  write(dir / "nl-obs.csv", "plate,plate_country,reference\nKL-555-Z,NL,NL-OBS-1\n");
  write(dir / "nl-obs.toml",
        "id = \"nl-obs\"\nowner_country = \"NL\"\ncategory = \"suspect\"\naction = \"observe\"\n"
        "covert = true\nrooms = [\"ROOM-OBS\"]\n");
  write(dir / "anpr.toml",
        "[kafka]\nbrokers = \"" + bootstrap + "\"\ngroup_id = \"" + broker.group("anpr-yield") +
            "\"\n" + broker.topics_toml() +
            "[cameras]\nregistry = \"cameras.csv\"\n"
            "[lists]\nfiles = [\"nl-wanted.csv\", \"nl-stolen.csv\", \"nl-obs.csv\"]\n"
            "[suppression]\nwindow_s = 0\n"
            "[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n"
            "[http.tokens.carl]\nrole = \"controlroom\"\ncontrol_room = \"*\"\nsha256 = \"" +
            http::sha256_hex(cr) + "\"\n"
            "[http.tokens.olga]\nrole = \"operator\"\nsha256 = \"" + http::sha256_hex(op) + "\"\n"
            "[http.tokens.erik]\nrole = \"engineer\"\nsha256 = \"" + http::sha256_hex(eng) + "\"\n");
  Child proc({kAnpr, "run", "--config", (dir / "anpr.toml").string()}, false,
             (dir / "run.err").string());
  httplib::Client c("127.0.0.1", port);
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    auto r = c.Get("/readyz");
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << "the processor did not become ready; see " << (dir / "run.err");

  const std::string cmd =
      "cd " ANPR_SOURCE_DIR "/tests/js && ANPR_URL=http://127.0.0.1:" + std::to_string(port) +
      " ANPR_BIN=" + kAnpr + " ANPR_BROKERS=" + bootstrap +
      " TOPIC_READS=" + broker.topic("anpr.reads") + " TOPIC_HITS=" + broker.topic("anpr.hits") +
      " TOPIC_HIT_ACKS=" + broker.topic("anpr.hit-acks") +
      " GROUP=" + broker.group("yield-check") + " TOKEN_FILE_OP=" + (dir / "op.token").string() +
      " TOKEN_FILE_ENG=" + (dir / "eng.token").string() + " TOKEN_OP=" + op +
      " TOKEN_ENG=" + eng + " TOKEN_CR=" + cr + " OUT_DIR=" + artifacts.string() +
      " node yield_check.js 2>&1; echo \"exit=$?\"";
  const std::string out = shell(cmd);
  std::cout << out;
  EXPECT_NE(out.find("\nOK\nexit=0"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(artifacts / "lists-yield.png"));
  EXPECT_TRUE(fs::exists(artifacts / "lists-yield-800.png"));
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(30'000), 0);
  if (!HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace anpr
