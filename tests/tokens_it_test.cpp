// Tokens and the state folder of a running `anpr run` (docs/control-room.md, "Tokens: handing
// out, expiry and withdrawal"; docs/operations.md, "The state folder"): the tokens file reread
// on SIGHUP and on change, a withdrawn token refused and its open hit stream ended, an expired
// token refused and named in the audit log, a malformed file refused with the old tokens kept,
// and every file the processor wrote under state.dir private although it ran with umask 022.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "http/auth.h"
#include "tests/it_support.h"
#include "tests/process.h"
#include "tests/temp_dir.h"
#include "tests/test_broker.h"

namespace anpr {
namespace {

namespace fs = std::filesystem;
using testing::Child;
using testing::free_port;
using testing::kAnpr;
using testing::slurp;
using testing::write_file;

// Written beside and renamed over, as a deployment tool does.
void replace_file(const fs::path& p, const std::string& text) {
  write_file(p.string() + ".new", text);
  fs::rename(p.string() + ".new", p);
}

std::string table(const std::string& name, const std::string& role, const std::string& token,
                  const std::string& extra = "") {
  return "[" + name + "]\nrole = \"" + role + "\"\nsha256 = \"" + http::sha256_hex(token) +
         "\"\n" + extra;
}

template <class F>
bool eventually(F&& f, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return f();
}

TEST(TokensIt, WithdrawnExpiredAndNewTokensWithoutARestart) {
  testing::TempDir dir("tokens-it", testing::TempDir::Keep::on_failure);
  const fs::path d = dir.path();
  testing::TestBroker broker(d, testing::current_test_name(), 2);
  const std::string bootstrap = broker.bootstrap();
  ASSERT_FALSE(bootstrap.empty());

  const std::string old_cr = http::new_token(), new_op = http::new_token(),
                    eng = http::new_token(), stale = http::new_token();
  const int port = free_port();
  write_file(d / "cameras.csv",
             "camera_id,country,site,lat,lon,control_room\nnl-cam-1,NL,A2,52.1,5.0,ROOM-NL\n");
  write_file(d / "nl.csv", "plate,plate_country,reference\nHF-17-DS,NL,NL-WP-1\n");
  write_file(d / "nl.toml", "id = \"nl-wanted\"\nowner_country = \"NL\"\ncategory = \"wanted_person\"\n");
  write_file(d / "tokens.toml",
             table("carl", "controlroom", old_cr, "control_room = \"ROOM-NL\"\n") +
                 table("old-olga", "operator", stale, "expires = 2020-01-01T00:00:00Z\n"));
  write_file(d / "anpr.toml",
             "[kafka]\nbrokers = \"" + bootstrap + "\"\ngroup_id = \"" + broker.group("anpr-tokens") +
                 "\"\n" + broker.topics_toml() +
                 "[cameras]\nregistry = \"cameras.csv\"\n[lists]\nfiles = [\"nl.csv\"]\n"
                 "[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n"
                 "tokens_file = \"tokens.toml\"\n"
                 "[http.tokens.eve]\nrole = \"engineer\"\nsha256 = \"" + http::sha256_hex(eng) + "\"\n");

  const mode_t old_umask = ::umask(022);  // the child inherits it
  Child proc({kAnpr, "run", "--config", (d / "anpr.toml").string()}, false,
             (d / "run.err").string(), SIGTERM);
  ::umask(old_umask);

  httplib::Client c("127.0.0.1", port);
  const auto status_of = [&](const std::string& token) {
    auto r = c.Get("/api/v1/me", {{"Authorization", "Bearer " + token}});
    return r ? r->status : -1;
  };
  ASSERT_TRUE(eventually([&] {
    auto r = c.Get("/readyz");
    return r && r->status == 200;
  })) << slurp(d / "run.err");
  EXPECT_EQ(status_of(old_cr), 200);
  EXPECT_EQ(status_of(eng), 200);
  EXPECT_EQ(status_of(new_op), 401);
  EXPECT_EQ(status_of(stale), 401);  // expired before the start
  EXPECT_NE(slurp(d / "state" / "audit.jsonl").find("\"auth.expired_token\""), std::string::npos);

  // carl's live feed is open while his token is withdrawn.
  std::atomic<bool> stream_open{false}, stream_ended{false};
  std::thread stream([&] {
    httplib::Client s("127.0.0.1", port);
    s.set_read_timeout(std::chrono::seconds(120));
    s.Get("/api/v1/hits/stream", {{"Authorization", "Bearer " + old_cr}},
          [&](const char*, std::size_t) {
            stream_open = true;
            return true;
          });
    stream_ended = true;
  });
  ASSERT_TRUE(eventually([&] { return stream_open.load(); }));

  // A malformed version is refused; the tokens in force stay.
  replace_file(d / "tokens.toml", "[carl\nrole = ");
  proc.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return slurp(d / "run.err").find("was not loaded; the tokens in force stay") != std::string::npos;
  })) << slurp(d / "run.err");
  EXPECT_EQ(status_of(old_cr), 200);
  EXPECT_FALSE(stream_ended.load());

  // The new version withdraws carl and hands olga a token; SIGHUP makes it count at once (the
  // change of the file would within seconds).
  replace_file(d / "tokens.toml", table("olga", "operator", new_op));
  proc.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return status_of(new_op) == 200; })) << slurp(d / "run.err");
  EXPECT_EQ(status_of(old_cr), 401);
  EXPECT_EQ(status_of(eng), 200);  // the config file's own token
  EXPECT_TRUE(eventually([&] { return stream_ended.load(); }))
      << "the withdrawn token's hit stream is still open";
  stream.join();

  // Without a signal: a changed file is noticed within seconds.
  replace_file(d / "tokens.toml", table("carl", "controlroom", old_cr, "control_room = \"*\"\n"));
  EXPECT_TRUE(eventually([&] { return status_of(old_cr) == 200; })) << slurp(d / "run.err");
  EXPECT_EQ(status_of(new_op), 401);

  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait(60'000), 0) << slurp(d / "run.err");

  // Everything under state.dir: files 0600, folders 0700, although the umask was 022.
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(d / "state")) {
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 077, 0u) << e.path() << " mode " << std::oct << (st.st_mode & 0777);
    files += S_ISREG(st.st_mode);
  }
  EXPECT_GE(files, 3u);  // the audit log, a list version, the retention store's files
  struct stat top {};
  ASSERT_EQ(::stat((d / "state").c_str(), &top), 0);
  EXPECT_EQ(top.st_mode & 077, 0u);
}

}  // namespace
}  // namespace anpr
