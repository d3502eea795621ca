// The diagnostics module (logging/log.h): text and JSON Lines formats, levels, escaping of
// hostile text, one write per line.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <thread>

#include "logging/log.h"

namespace anpr::log {
namespace {

constexpr int64_t kNoon = 1'795'521'600'123;  // 2026-11-24T12:00:00.123Z

TEST(Log, TextIsTheMessageAfterTheComponentWithTheLevelForTrouble) {
  EXPECT_EQ(format_line(Level::info, "run", "assigned anpr.reads partitions [0,1]",
                        {{"partitions", "0,1"}}, Format::text, kNoon),
            "anpr run: assigned anpr.reads partitions [0,1]");
  EXPECT_EQ(format_line(Level::warn, "run", "final commit failed: timed out", {}, Format::text, kNoon),
            "anpr run: warning: final commit failed: timed out");
  EXPECT_EQ(format_line(Level::error, "http", "cannot bind", {}, Format::text, kNoon),
            "anpr http: error: cannot bind");
  // A message never spans lines.
  EXPECT_EQ(format_line(Level::info, "run", "a\nb\rc", {}, Format::text, kNoon), "anpr run: a b c");
}

TEST(Log, JsonLinesCarryTimeLevelComponentMessageAndTypedFields) {
  const std::string line =
      format_line(Level::warn, "run", "delivery failed", {{"topic", "anpr.hits"}, {"messages", uint64_t{12}},
                  {"partition", -1}, {"ratio", 0.5}, {"retry", true}}, Format::json, kNoon);
  simdjson::dom::parser p;
  simdjson::dom::element d;
  ASSERT_FALSE(p.parse(line).get(d)) << line;
  EXPECT_EQ(std::string_view(d["ts"]), "2026-11-24T12:00:00.123Z");
  EXPECT_EQ(std::string_view(d["level"]), "warn");
  EXPECT_EQ(std::string_view(d["component"]), "run");
  EXPECT_EQ(std::string_view(d["msg"]), "delivery failed");
  EXPECT_EQ(std::string_view(d["topic"]), "anpr.hits");
  EXPECT_EQ(uint64_t(d["messages"]), 12u);
  EXPECT_EQ(int64_t(d["partition"]), -1);
  EXPECT_EQ(double(d["ratio"]), 0.5);
  EXPECT_EQ(bool(d["retry"]), true);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(Log, HostileTextStaysOneValidJsonLine) {
  const std::string nasty = std::string("quote\" backslash\\ newline\n tab\t nul") + '\0' +
                            " bell\x07 del\x7f end";
  const std::string line =
      format_line(Level::info, nasty, nasty, {{nasty, nasty}, {"inf", 1.0 / 0.0}}, Format::json, kNoon);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  simdjson::dom::parser p;
  simdjson::dom::element d;
  ASSERT_FALSE(p.parse(line).get(d)) << line;
  EXPECT_EQ(std::string_view(d["msg"]), nasty);
  EXPECT_EQ(std::string_view(d["component"]), nasty);
  EXPECT_EQ(std::string_view(d[nasty]), nasty);
  EXPECT_TRUE(d["inf"].is_null());
}

TEST(Log, ParsesLevelsAndFormats) {
  EXPECT_EQ(parse_level("debug"), Level::debug);
  EXPECT_EQ(parse_level("warning"), Level::warn);
  EXPECT_EQ(parse_level("error"), Level::error);
  EXPECT_FALSE(parse_level("ERROR"));
  EXPECT_FALSE(parse_level(""));
  EXPECT_EQ(parse_format("json"), Format::json);
  EXPECT_EQ(parse_format("text"), Format::text);
  EXPECT_FALSE(parse_format("xml"));
}

// Reads what write() sends to a pipe, on a thread of its own (the pipe's buffer is small).
class LogToPipe : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    set_fd(write_fd_);
    reader_ = std::thread([this] {
      char buf[4096];
      ssize_t n;
      while ((n = read(read_fd_, buf, sizeof buf)) > 0) got_.append(buf, static_cast<std::size_t>(n));
    });
  }
  void TearDown() override {
    drain();
    set_level(Level::info);
    set_format(Format::text);
  }
  // Everything written so far; later lines are not captured.
  std::string drain() {
    if (write_fd_ >= 0) {
      set_fd(2);
      close(write_fd_);
      write_fd_ = -1;
      reader_.join();
      close(read_fd_);
    }
    return got_;
  }
  int read_fd_ = -1, write_fd_ = -1;
  std::thread reader_;
  std::string got_;
};

TEST_F(LogToPipe, LevelsBelowTheSetOneAreDropped) {
  set_level(Level::warn);
  debug("run", "d");
  info("run", "i");
  warn("run", "w");
  error("run", "e");
  EXPECT_EQ(drain(), "anpr run: warning: w\nanpr run: error: e\n");
}

TEST_F(LogToPipe, LineStreamWritesEachLineAsItIsInTextAndAsAMessageInJson) {
  {
    LineStream err(Level::warn, "run");
    err << "lists/a.csv:3: plate_too_long" << '\n' << "lists/a.csv:" << 7 << ": bad_country\n"
        << "unfinished";
  }
  set_format(Format::json);
  {
    LineStream err(Level::warn, "run");
    err << "lists/b.csv:1: \"quoted\"\n";
  }
  const std::string out = drain();
  const std::size_t json_at = out.find("{");
  ASSERT_NE(json_at, std::string::npos) << out;
  EXPECT_EQ(out.substr(0, json_at),
            "lists/a.csv:3: plate_too_long\nlists/a.csv:7: bad_country\nunfinished\n");
  simdjson::dom::parser p;
  simdjson::dom::element d;
  std::string line = out.substr(json_at);
  line.pop_back();
  ASSERT_FALSE(p.parse(line).get(d)) << line;
  EXPECT_EQ(std::string_view(d["msg"]), "lists/b.csv:1: \"quoted\"");
  EXPECT_EQ(std::string_view(d["level"]), "warn");
}

TEST_F(LogToPipe, ConcurrentLinesDoNotInterleave) {
  set_format(Format::json);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([t] {
      for (int i = 0; i < 200; ++i) info("run", std::string(300, static_cast<char>('a' + t)), {{"i", i}});
    });
  for (auto& t : ts) t.join();
  const std::string out = drain();
  simdjson::dom::parser p;
  std::size_t lines = 0;
  for (std::size_t at = 0; at < out.size();) {
    const std::size_t nl = out.find('\n', at);
    ASSERT_NE(nl, std::string::npos);
    simdjson::dom::element d;
    ASSERT_FALSE(p.parse(out.substr(at, nl - at)).get(d)) << out.substr(at, nl - at);
    ++lines;
    at = nl + 1;
  }
  EXPECT_EQ(lines, 800u);
}

}  // namespace
}  // namespace anpr::log
