// Bearer tokens that expire and that are replaced while the processor runs (http/auth.h), the
// tokens file and its watcher (config/settings.h, serve/token_reload.h), and the config's refusal
// of a controlroom token without a room.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "config/settings.h"
#include "http/auth.h"
#include "serve/token_reload.h"
#include "tests/temp_dir.h"

namespace anpr {
namespace {

using http::Principal;
using http::Refusal;
using http::Role;
using http::TokenSettings;
using http::TokenStore;

constexpr int64_t kMarch2027 = 1'803'859'200'000;  // 2027-03-01T00:00:00Z

std::string hash_of(const std::string& token) { return http::sha256_hex(token); }

TokenSettings token(const std::string& name, const std::string& role, const std::string& secret,
                    const std::string& room = "", int64_t expires_ms = 0) {
  return TokenSettings{name, role, hash_of(secret), room, expires_ms};
}

template <class F>
bool eventually(F&& f) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  // Written beside and renamed, as an editor or a deployment tool does: never half a file.
  const auto tmp = p.string() + ".new";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, p);
}

// ---- expiry ----

TEST(TokenExpiry, AnExpiredTokenIsRefusedWithItsOwnReason) {
  int64_t now = kMarch2027 - 1;
  TokenStore t({token("alice", "operator", "s-1", "", kMarch2027), token("bob", "engineer", "s-2")},
               [&] { return now; });
  ASSERT_TRUE(t.authenticate("Bearer s-1"));
  const Principal alice = *t.authenticate("Bearer s-1");
  EXPECT_TRUE(t.still_valid(alice));
  now = kMarch2027;  // the instant of expiry itself is past
  EXPECT_FALSE(t.authenticate("Bearer s-1"));
  const auto r = t.check("Bearer s-1");
  EXPECT_FALSE(r.who);
  EXPECT_EQ(r.refusal, Refusal::expired);
  EXPECT_EQ(r.expired_name, "alice");
  EXPECT_EQ(http::refusal_text(r.refusal), "the bearer token has expired");
  EXPECT_FALSE(t.still_valid(alice));
  // A token without expiry goes on working; an unknown one is just "not valid".
  EXPECT_TRUE(t.authenticate("Bearer s-2"));
  EXPECT_EQ(t.check("Bearer nope").refusal, Refusal::unknown);
  EXPECT_EQ(http::refusal_text(Refusal::unknown), "the bearer token is not valid");
  EXPECT_EQ(t.check("").refusal, Refusal::missing);
  EXPECT_EQ(t.check("Basic x").refusal, Refusal::malformed);
}

TEST(TokenExpiry, TheEngineerIsToldOfAnExpiredTokenAtMostOnceAMinute) {
  int64_t now = kMarch2027 + 5;
  TokenStore t({token("alice", "operator", "s-1", "", kMarch2027)}, [&] { return now; });
  std::vector<std::string> told;
  t.on_expired([&](const Principal& who) { told.push_back(who.name); });
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(t.authenticate("Bearer s-1"));
  EXPECT_EQ(told, std::vector<std::string>{"alice"});
  now += 61'000;
  EXPECT_FALSE(t.authenticate("Bearer s-1"));
  EXPECT_EQ(told.size(), 2u);
}

TEST(TokenExpiry, TheCallbackFailingDoesNotAdmitTheToken) {
  TokenStore t({token("alice", "operator", "s-1", "", 1)});
  t.on_expired([](const Principal&) { throw std::runtime_error("disk full"); });
  EXPECT_FALSE(t.authenticate("Bearer s-1"));
}

// ---- replacing the set ----

TEST(TokenReplace, AWithdrawnTokenIsRefusedAtOnceInEveryCopy) {
  TokenStore original({token("alice", "operator", "old")});
  TokenStore server_copy = original;  // what the server holds
  ASSERT_TRUE(server_copy.authenticate("Bearer old"));
  const Principal alice = *server_copy.authenticate("Bearer old");
  const uint64_t g = server_copy.generation();
  original.replace({token("bob", "operator", "new")});
  EXPECT_FALSE(server_copy.authenticate("Bearer old"));
  EXPECT_FALSE(server_copy.still_valid(alice));
  ASSERT_TRUE(server_copy.authenticate("Bearer new"));
  EXPECT_EQ(server_copy.authenticate("Bearer new")->name, "bob");
  EXPECT_GT(server_copy.generation(), g);
}

TEST(TokenReplace, AChangedRoomOrRoleEndsWhatTheOldTokenOpened) {
  TokenStore t({token("carl", "controlroom", "s", "R1")});
  const Principal carl = *t.authenticate("Bearer s");
  t.replace({token("carl", "controlroom", "s", "R1")});
  EXPECT_TRUE(t.still_valid(carl));  // unchanged: the stream goes on
  t.replace({token("carl", "controlroom", "s", "R2")});
  EXPECT_FALSE(t.still_valid(carl));
  EXPECT_EQ(t.authenticate("Bearer s")->control_room, "R2");
}

TEST(TokenReplace, AnUnknownRoleKeepsTheTokensInForce) {
  TokenStore t({token("alice", "operator", "s")});
  EXPECT_THROW(t.replace({token("eve", "admin", "x")}), std::invalid_argument);
  EXPECT_TRUE(t.authenticate("Bearer s"));
  EXPECT_FALSE(t.authenticate("Bearer x"));
}

TEST(TokenReplace, AControlroomTokenBuiltWithoutARoomSeesNoRoom) {
  TokenStore t({token("carl", "controlroom", "s")});
  ASSERT_TRUE(t.authenticate("Bearer s"));
  EXPECT_EQ(t.authenticate("Bearer s")->control_room, "");
  EXPECT_EQ(TokenStore({token("olga", "operator", "o")}).authenticate("Bearer o")->control_room,
            "*");
}

TEST(TokenReplace, RequestsDuringReplacementsSeeOneWholeSet) {
  // Two sets, each with a pair of tokens; a reader sees both of one set, never one of each.
  const std::vector<TokenSettings> a = {token("a1", "operator", "a1"), token("a2", "operator", "a2")};
  const std::vector<TokenSettings> b = {token("b1", "operator", "b1"), token("b2", "operator", "b2")};
  TokenStore t(a);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) t.replace(i % 2 ? a : b);
  });
  int seen = 0;
  for (int i = 0; i < 20000; ++i) {
    const bool one = t.authenticate("Bearer a1").has_value() || t.authenticate("Bearer b1").has_value();
    seen += one;
    EXPECT_LE(t.size(), 2u);
  }
  stop = true;
  writer.join();
  EXPECT_GT(seen, 0);
}

// ---- the config ----

std::string config_error(const std::string& toml) {
  try {
    config::parse_settings("[cameras]\nregistry = \"c.csv\"\n" + toml, "t.toml", "/tmp");
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TokenConfig, AControlroomTokenWithoutARoomIsRefusedByName) {
  const std::string hash(64, 'a');
  const std::string e =
      config_error("[http.tokens.carl]\nrole = \"controlroom\"\nsha256 = \"" + hash + "\"\n");
  EXPECT_NE(e.find("http.tokens.carl.control_room"), std::string::npos) << e;
  EXPECT_NE(e.find("\"*\" for every room"), std::string::npos) << e;
  EXPECT_NE(e.find("add control_room = \"ROOM\" to the token \"carl\""), std::string::npos) << e;
  EXPECT_EQ(config_error("[http.tokens.carl]\nrole = \"controlroom\"\ncontrol_room = \"*\"\n"
                         "sha256 = \"" + hash + "\"\n"),
            "");
}

TEST(TokenConfig, ExpiresIsAnInstantWithItsOffset) {
  const std::string hash(64, 'a');
  const std::string head = "[http.tokens.alice]\nrole = \"operator\"\nsha256 = \"" + hash + "\"\n";
  const auto s = config::parse_settings("[cameras]\nregistry = \"c.csv\"\n" + head +
                                            "expires = 2027-03-01T01:00:00+01:00\n",
                                        "t.toml", "/tmp");
  ASSERT_EQ(s.http.tokens.size(), 1u);
  EXPECT_EQ(s.http.tokens[0].expires_ms, kMarch2027);
  const auto q = config::parse_settings(
      "[cameras]\nregistry = \"c.csv\"\n" + head + "expires = \"2027-03-01T00:00:00Z\"\n", "t.toml",
      "/tmp");
  EXPECT_EQ(q.http.tokens[0].expires_ms, kMarch2027);
  for (const std::string& bad : std::vector<std::string>{"2027-03-01T00:00:00", "2027-03-01", "\"2027-03-01\"", "\"soon\"",
                                "42", "1960-01-01T00:00:00Z"}) {
    const std::string e = config_error(head + "expires = " + bad + "\n");
    EXPECT_NE(e.find("http.tokens.alice.expires: expected an offset date-time"), std::string::npos)
        << bad << ": " << e;
  }
}

TEST(TokenConfig, TheTokensFileHasTheSameTablesWithoutThePrefix) {
  const auto t = config::parse_tokens(
      "[alice]\nrole = \"operator\"\nsha256 = \"" + hash_of("a") +
          "\"\nexpires = 2027-03-01T00:00:00Z\n[carl]\nrole = \"controlroom\"\ncontrol_room = "
          "\"R1\"\nsha256 = \"" + hash_of("c") + "\"\n",
      "tokens.toml");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "alice");
  EXPECT_EQ(t[0].expires_ms, kMarch2027);
  EXPECT_EQ(t[1].control_room, "R1");
  const auto error_of = [](const std::string& text) -> std::string {
    try {
      config::parse_tokens(text, "tokens.toml");
    } catch (const config::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of("[carl]\nrole = \"controlroom\"\nsha256 = \"" + hash_of("c") + "\"\n")
                .find("tokens.toml:2: carl.control_room: expected the control room"),
            std::string::npos);
  EXPECT_NE(error_of("[alice]\nrole = \"operator\"\nsha256 = \"" + hash_of("a") + "\"\ncolour = 1\n")
                .find("tokens.toml:4: alice.colour: unknown key"),
            std::string::npos)
      << error_of("[alice]\nrole = \"operator\"\nsha256 = \"" + hash_of("a") + "\"\ncolour = 1\n");
  EXPECT_NE(error_of("[alice\n").find("tokens.toml:1: invalid TOML"), std::string::npos);
  EXPECT_NE(error_of(std::string(2 << 20, '#')).find("at most 1 MiB"), std::string::npos);
  // A name or a token may not be in both the config file and the tokens file.
  EXPECT_THROW(config::merge_tokens({token("alice", "operator", "a")},
                                    {token("alice", "engineer", "b")}, "tokens.toml"),
               config::ConfigError);
  EXPECT_THROW(config::merge_tokens({token("alice", "operator", "a")},
                                    {token("bob", "engineer", "a")}, "tokens.toml"),
               config::ConfigError);
  EXPECT_EQ(config::merge_tokens({token("alice", "operator", "a")},
                                 {token("bob", "engineer", "b")}, "tokens.toml")
                .size(),
            2u);
}

TEST(TokenConfig, LoadSettingsReadsTheTokensFileAndRefusesABadOne) {
  testing::TempDir dir("tokens");
  const auto cfg = dir.path() / "anpr.toml";
  write_file(cfg, "[cameras]\nregistry = \"c.csv\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
                  "tokens_file = \"tokens.toml\"\n");
  write_file(dir.path() / "tokens.toml",
             "[alice]\nrole = \"operator\"\nsha256 = \"" + hash_of("a") + "\"\n");
  const auto s = config::load_settings(cfg);
  EXPECT_EQ(s.http.tokens_file, dir.path() / "tokens.toml");
  ASSERT_EQ(s.http.file_tokens.size(), 1u);
  EXPECT_EQ(s.http.file_tokens[0].name, "alice");
  write_file(dir.path() / "tokens.toml", "[alice]\nrole = \"boss\"\n");
  EXPECT_THROW(config::load_settings(cfg), config::ConfigError);
  std::filesystem::remove(dir.path() / "tokens.toml");
  EXPECT_THROW(config::load_settings(cfg), config::ConfigError);
}

// ---- the watcher ----

std::string tokens_text(const std::string& name, const std::string& secret) {
  return "[" + name + "]\nrole = \"operator\"\nsha256 = \"" + hash_of(secret) + "\"\n";
}

TEST(TokenFileWatcher, ANewFileReplacesTheTokensWithoutARestart) {
  testing::TempDir dir("tokens");
  const auto file = dir.path() / "tokens.toml";
  write_file(file, tokens_text("alice", "old"));
  TokenStore store(config::merge_tokens({token("eve", "engineer", "eng")},
                                        config::load_tokens(file), file.string()));
  const TokenStore server = store;
  app::TokenFileWatcher w(store, {token("eve", "engineer", "eng")}, file, {},
                          std::chrono::milliseconds(50));
  ASSERT_TRUE(server.authenticate("Bearer old"));
  write_file(file, tokens_text("bob", "new"));
  ASSERT_TRUE(eventually([&] { return server.authenticate("Bearer new").has_value(); }));
  EXPECT_FALSE(server.authenticate("Bearer old"));
  EXPECT_TRUE(server.authenticate("Bearer eng"));  // the config file's own tokens stay
}

TEST(TokenFileWatcher, AMalformedFileKeepsTheTokensInForce) {
  testing::TempDir dir("tokens");
  const auto file = dir.path() / "tokens.toml";
  write_file(file, tokens_text("alice", "old"));
  TokenStore store(config::load_tokens(file));
  app::TokenFileWatcher w(store, {}, file, {}, std::chrono::milliseconds(50));
  for (const std::string& bad :
       {std::string("[alice\nrole = "), std::string("[alice]\nrole = \"operator\"\n"),
        tokens_text("alice", "x") + "[alice2]\nrole = \"operator\"\nsha256 = \"" + hash_of("x") + "\"\n",
        std::string("[carl]\nrole = \"controlroom\"\nsha256 = \"") + hash_of("c") + "\"\n"}) {
    write_file(file, bad);
    EXPECT_FALSE(w.reload_now());
    EXPECT_TRUE(store.authenticate("Bearer old")) << bad;
  }
  std::filesystem::remove(file);
  EXPECT_FALSE(w.reload_now());
  EXPECT_TRUE(store.authenticate("Bearer old"));
  EXPECT_EQ(w.reloads(), 0u);
  write_file(file, tokens_text("bob", "new"));
  EXPECT_TRUE(w.reload_now());
  EXPECT_FALSE(store.authenticate("Bearer old"));
  EXPECT_TRUE(store.authenticate("Bearer new"));
}

TEST(TokenFileWatcher, ASignalRereadsTheFile) {
  testing::TempDir dir("tokens");
  const auto file = dir.path() / "tokens.toml";
  write_file(file, tokens_text("alice", "old"));
  TokenStore store(config::load_tokens(file));
  std::atomic<uint64_t> signals{0};
  // The file is looked at only once an hour here: only the signal can make it reread now.
  app::TokenFileWatcher w(store, {}, file, [&] { return signals.load(); }, std::chrono::hours(1));
  write_file(file, tokens_text("bob", "new"));
  signals = 1;
  ASSERT_TRUE(eventually([&] { return w.reloads() == 1; }));
  EXPECT_FALSE(store.authenticate("Bearer old"));
  EXPECT_TRUE(store.authenticate("Bearer new"));
}

}  // namespace
}  // namespace anpr
