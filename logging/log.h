// The product's diagnostics on stderr: levels, and plain text or JSON Lines.
//
//   log::info("run", "assigned anpr.reads partitions [0,1]", {{"partitions", "0,1"}});
//   log::warn("run", "final commit failed: " + why, {{"error", why}});
//
// The message is a whole sentence with its figures; the fields repeat them for machines. Text (the
// default) writes the message only, after "anpr <component>: " and, for warnings and errors, the
// level:
//   anpr run: assigned anpr.reads partitions [0,1]
//   anpr run: warning: final commit failed: Broker: Not coordinator
// JSON Lines writes one object per line, the fields after the fixed keys:
//   {"ts":"2026-11-24T11:02:15.123Z","level":"info","component":"run",
//    "msg":"assigned anpr.reads partitions [0,1]","partitions":"0,1"}
// Choose with `log.format` ("text" | "json") and `log.level` ("debug" | "info" | "warn" |
// "error") in the config file, or `--log-format` / `--log-level` on the command line.
//
// Rule: plates, event payloads, tokens and other personal data never go into a message or a
// field. Name files, lines, topics, partitions, counts and reasons instead.
//
// Thread safety: every function may be called from any thread; a line is written with one
// write(2) so lines of concurrent threads do not interleave.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <streambuf>
#include <type_traits>
#include <string>
#include <string_view>
#include <variant>

namespace anpr::log {

enum class Level : uint8_t { debug, info, warn, error };
enum class Format : uint8_t { text, json };

std::optional<Level> parse_level(std::string_view s);
std::optional<Format> parse_format(std::string_view s);
std::string_view to_string(Level l);

// Process-wide; the defaults are info and text.
void set_level(Level l);
void set_format(Format f);
Level level();
Format format();
inline bool enabled(Level l) { return l >= level(); }

struct Field {
  std::string_view key;
  std::variant<std::string_view, int64_t, uint64_t, double, bool> value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <class I>
    requires std::is_integral_v<I> && std::is_signed_v<I>
  Field(std::string_view k, I v) : key(k), value(static_cast<int64_t>(v)) {}
  template <class I>
    requires std::is_integral_v<I> && std::is_unsigned_v<I> && (!std::is_same_v<I, bool>)
  Field(std::string_view k, I v) : key(k), value(static_cast<uint64_t>(v)) {}
};
using Fields = std::initializer_list<Field>;

// `component` is the command or module ("run", "http", "demo"); text lines start "anpr <component>: ".
// Field keys must not be ts, level, component or msg.
void write(Level l, std::string_view component, std::string_view msg, Fields fields = {});

inline void debug(std::string_view c, std::string_view m, Fields f = {}) { write(Level::debug, c, m, f); }
inline void info(std::string_view c, std::string_view m, Fields f = {}) { write(Level::info, c, m, f); }
inline void warn(std::string_view c, std::string_view m, Fields f = {}) { write(Level::warn, c, m, f); }
inline void error(std::string_view c, std::string_view m, Fields f = {}) { write(Level::error, c, m, f); }

// An std::ostream for code that reports through a stream (load reports, followers): each
// complete line becomes one log line of `level` and `component`. In text format the line is
// written as it is (no prefix, so existing reports read the same); in JSON it is the `msg`.
// A partial last line is written when the stream is destroyed. One writing thread at a time.
class LineStream : public std::ostream {
 public:
  LineStream(Level level, std::string component);
  ~LineStream() override;

 private:
  class Buf : public std::streambuf {
   public:
    Buf(Level l, std::string c) : level_(l), component_(std::move(c)) {}
    void flush_line();

   protected:
    int overflow(int ch) override;
    std::streamsize xsputn(const char* s, std::streamsize n) override;

   private:
    Level level_;
    std::string component_;
    std::string line_;
  };
  Buf buf_;
};

// The line write() would produce (without the newline), for tests.
std::string format_line(Level l, std::string_view component, std::string_view msg, Fields fields,
                        Format f, int64_t now_ms);

// Where lines go (default: stderr, fd 2). For tests.
void set_fd(int fd);

}  // namespace anpr::log
