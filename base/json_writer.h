// A small JSON writer that appends to a std::string: no allocation beyond the string's growth,
// always valid JSON (invalid UTF-8 in a string becomes U+FFFD, control characters are escaped).
//
// Thread safety: one writer per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace anpr {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin_object() { sep(); out_.push_back('{'); first_ = true; }
  void end_object() { out_.push_back('}'); first_ = false; }
  void begin_array() { sep(); out_.push_back('['); first_ = true; }
  void end_array() { out_.push_back(']'); first_ = false; }
  void key(std::string_view k) {
    sep();
    write_string(k);
    out_.push_back(':');
    first_ = true;  // the value follows without a comma
  }
  void value(std::string_view s) { sep(); write_string(s); }
  void value(const char* s) { value(std::string_view(s)); }
  void value(int64_t v);
  void value(uint64_t v);
  void value(int v) { value(static_cast<int64_t>(v)); }
  void value(unsigned v) { value(static_cast<uint64_t>(v)); }
  void value(double v);
  void value(bool b) { sep(); out_.append(b ? "true" : "false"); }
  void null() { sep(); out_.append("null"); }

  template <class T>
  void field(std::string_view k, const T& v) {
    key(k);
    value(v);
  }

  // Appends `s` as a quoted JSON string.
  static void append_string(std::string& out, std::string_view s);

 private:
  void sep() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  void write_string(std::string_view s) { append_string(out_, s); }

  std::string& out_;
  bool first_ = true;
};

}  // namespace anpr
