#include "logging/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace anpr::log {

namespace {
std::atomic<Level> g_level{Level::info};
std::atomic<Format> g_format{Format::text};
std::atomic<int> g_fd{2};

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void append_value(std::string& out, const Field& f) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          append_json_string(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          if (!std::isfinite(v)) {
            out += "null";
          } else {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.17g", v);
            out += buf;
          }
        } else {
          out += std::to_string(v);
        }
      },
      f.value);
}
}  // namespace

std::optional<Level> parse_level(std::string_view s) {
  if (s == "debug") return Level::debug;
  if (s == "info") return Level::info;
  if (s == "warn" || s == "warning") return Level::warn;
  if (s == "error") return Level::error;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view s) {
  if (s == "text") return Format::text;
  if (s == "json") return Format::json;
  return std::nullopt;
}

std::string_view to_string(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

void set_level(Level l) { g_level.store(l, std::memory_order_relaxed); }
void set_format(Format f) { g_format.store(f, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }
Format format() { return g_format.load(std::memory_order_relaxed); }
void set_fd(int fd) { g_fd.store(fd, std::memory_order_relaxed); }

std::string format_line(Level l, std::string_view component, std::string_view msg, Fields fields,
                        Format f, int64_t now_ms) {
  std::string out;
  out.reserve(96 + msg.size());
  if (f == Format::text) {
    out += "anpr ";
    out += component;
    out += ": ";
    if (l == Level::warn) out += "warning: ";
    if (l == Level::error) out += "error: ";
    for (char c : msg) out += (c == '\n' || c == '\r') ? ' ' : c;  // one line per message
    return out;
  }
  const std::time_t secs = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(now_ms % 1000));
  out += "{\"ts\":\"";
  out += ts;
  out += "\",\"level\":\"";
  out += to_string(l);
  out += "\",\"component\":";
  append_json_string(out, component);
  out += ",\"msg\":";
  append_json_string(out, msg);
  for (const Field& fld : fields) {
    out += ',';
    append_json_string(out, fld.key);
    out += ':';
    append_value(out, fld);
  }
  out += '}';
  return out;
}

namespace {
void write_raw(std::string line) {
  line += '\n';
  const int fd = g_fd.load(std::memory_order_relaxed);
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}
}  // namespace

LineStream::LineStream(Level level, std::string component)
    : std::ostream(nullptr), buf_(level, std::move(component)) {
  rdbuf(&buf_);
}

LineStream::~LineStream() { buf_.flush_line(); }

void LineStream::Buf::flush_line() {
  if (line_.empty()) return;
  if (format() == Format::text) {
    if (enabled(level_)) write_raw(line_);
  } else {
    log::write(level_, component_, line_);
  }
  line_.clear();
}

int LineStream::Buf::overflow(int ch) {
  if (ch == traits_type::eof()) return traits_type::not_eof(ch);
  if (ch == '\n') flush_line();
  else line_.push_back(static_cast<char>(ch));
  return ch;
}

std::streamsize LineStream::Buf::xsputn(const char* s, std::streamsize n) {
  for (std::streamsize i = 0; i < n; ++i) overflow(static_cast<unsigned char>(s[i]));
  return n;
}

void write(Level l, std::string_view component, std::string_view msg, Fields fields) {
  if (!enabled(l)) return;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  write_raw(format_line(l, component, msg, fields, format(), now));
}

}  // namespace anpr::log
