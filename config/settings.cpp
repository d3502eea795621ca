#include "config/settings.h"
#include "config/toml_guard.h"
#include "match/ids.h"

#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

namespace anpr::config {
namespace {

constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxErrorsShown = 10;
constexpr std::size_t kMaxErrorsKept = 1000;
// Limits of the syntax guard (see find_toml_hazard): far above anything this format needs.
constexpr int kMaxKeyParts = 16;
constexpr std::size_t kMaxNesting = 32;
constexpr std::size_t kMaxTopicBytes = 249;

// ---- text helpers ----

bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// A string from the input for a message: double-quoted, printable ASCII as is, `"` and `\`
// escaped, other bytes as \xNN, at most 60 bytes.
std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 60;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u == '"' || u == '\\') {
      out += '\\';
      out += static_cast<char>(u);
    } else if (u >= 0x20 && u < 0x7f) {
      out += static_cast<char>(u);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", u);
      out += buf;
    }
  }
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

// One segment of a dotted key as the operator would write it: bare when it can be, else quoted.
std::string show_segment(std::string_view s) {
  if (!s.empty() && s.size() <= 60 && std::all_of(s.begin(), s.end(), is_bare_key_char))
    return std::string(s);
  return quote(s);
}

std::string show_path(const std::vector<std::string>& segs) {
  std::string out;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (i) out += '.';
    out += show_segment(segs[i]);
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string format_double(double d) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

// What a TOML value is, for "got ..." in messages.
std::string describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return quote(n.as_string()->get());
    case toml::node_type::integer:
      return std::to_string(n.as_integer()->get());
    case toml::node_type::floating_point:
      return "the float " + format_double(n.as_floating_point()->get());
    case toml::node_type::boolean:
      return n.as_boolean()->get() ? "the boolean true" : "the boolean false";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "nothing";
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// ---- countries ----

// A table named by a country ([countries.NL], [retention.BE]): the code as CountryCode::parse
// takes it, spelt in upper case, so that one country never has two tables.
std::optional<CountryCode> parse_country_table(std::string_view s) {
  auto c = CountryCode::parse(s);
  if (!c || c->str() != s) return std::nullopt;
  return c;
}

std::string why_not_country_table(std::string_view s) {
  if (auto c = CountryCode::parse(s)) return quote(s) + " (write it in upper case: " + c->str() + ")";
  return CountryCode::why_not(s);
}

constexpr uint32_t bit(Category c) { return uint32_t{1} << static_cast<unsigned>(c); }

std::string all_categories() {
  std::string out;
  for (int i = 0; i < kCategoryCount; ++i) {
    if (i) out += ", ";
    out += to_string(static_cast<Category>(i));
  }
  return out;
}

bool valid_topic(std::string_view s) {
  if (s.empty() || s.size() > kMaxTopicBytes || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_bare_key_char(c) || c == '.'; });
}

bool valid_property_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_bare_key_char(c) || c == '.'; });
}

// ---- syntax guard ----

// toml++ 3.3 has weaknesses this guard keeps hostile files away from:
//  - a table header whose name starts with a character that cannot start a key ("[&", "[[[",
//    "[\n") breaks a precondition of its parse_key (undefined behaviour in release builds;
//    marzer/tomlplusplus#294, fixed by #301);
//  - its whitespace test reaches __builtin_unreachable for some non-ASCII code points (U+00A1..
//    U+0499 among them), and it runs that test on the character after a key or value, and after
//    a backslash in a multi-line string;
//  - a '}' where an array expects a value ("[}") breaks a precondition of its parse_value, and
//    its scan of a bare value (number, date) runs on over a string glued to it ("4'...'");
//  - a date-time whose 'T' (or space) is not followed by a time breaks preconditions of its
//    date-time parser;
//  - dotted keys nest tables without limit, and tens of thousands of levels overflow the stack.
// The guard tracks strings, comments, table headers and [ ] { } nesting like TOML does, and
// returns the line and reason of the first such construct. All of them but a non-ASCII
// character starting the line after a line-ending backslash are invalid TOML anyway.
struct Hazard {
  std::size_t line = 0;
  std::size_t offset = 0;  // where the statement (key = value, [table]) holding it starts
  std::string what;
};

std::optional<Hazard> find_toml_hazard(std::string_view s) {
  const std::size_t n = s.size();
  std::size_t i = s.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  std::size_t line = 1, line_offset = 0, statement_offset = 0;
  std::vector<char> nesting;  // open '[' and '{' of values
  bool line_start = true;     // nothing but blanks yet on this line
  bool in_header = false;     // on a [table] line
  bool in_key = false;        // in a key (of a header, a key = value line or an inline table)
  bool value_start = false;   // where a value may start: after '=', '[' or ',' in an array
  bool in_run = false;        // right after a character of a bare value (number, date, ...)
  int key_parts = 0;
  const auto hazard = [&](std::string what) {
    return Hazard{line, statement_offset, std::move(what)};
  };
  const auto start_key = [&] {
    in_key = true;
    key_parts = 1;
  };
  const auto skip_blanks = [&](std::size_t j) {
    while (j < n && (s[j] == ' ' || s[j] == '\t')) ++j;
    return j;
  };
  while (i < n) {
    const char c = s[i];
    const bool after_run = std::exchange(in_run, false);
    if (c == '\n') {
      ++i;
      ++line;
      line_offset = i;
      line_start = true;
      in_header = in_key = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      // toml++ 3.3 reads "<value> <digit>" as a date-time with a space for the 'T' and assumes
      // more than one character of time follows.
      if (c == ' ' && after_run && i + 2 < n && s[i + 1] >= '0' && s[i + 1] <= '9' &&
          std::string_view(" \t\r\n\v\f]},#").find(s[i + 2]) != std::string_view::npos)
        return hazard("expected a time after the date and space of a date-time, found " +
                      quote(s.substr(i + 1, 1)));
      ++i;
      continue;
    }
    if (line_start) {
      line_start = false;
      if (nesting.empty()) statement_offset = line_offset;
      if (nesting.empty() && c == '[') {  // a table header
        std::size_t j = skip_blanks(i + 1);
        if (j < n && s[j] == '[') j = skip_blanks(j + 1);
        if (j < n && !(is_bare_key_char(s[j]) || s[j] == '"' || s[j] == '\'' || s[j] == ']'))
          return hazard("expected a table name after '[', found " + quote(s.substr(j, 1)));
        in_header = true;
        start_key();
        i = j;
        continue;
      }
      if (nesting.empty() && c != '#') start_key();
    }
    if (c == '#') {
      while (i < n && s[i] != '\n') ++i;
      continue;
    }
    const bool in_value = !in_key && !in_header;
    // toml++ scans a bare value (number, date, ...) up to the next blank, ',', ']', '}' or '#':
    // a string or bracket glued to a value would be scanned as part of it.
    if (in_value && (c == '"' || c == '\'' || c == '[' || c == '{') && !value_start)
      return hazard("expected ',', ']', '}' or a line break after a value, found " +
                    quote(s.substr(i, 1)));
    if (c == '"' || c == '\'') {
      value_start = false;
      if (i + 2 < n && s[i + 1] == c && s[i + 2] == c) {  // multi-line string
        i += 3;
        while (i < n) {
          if (s[i] == '\\' && c == '"') {
            // An escape, or a line-ending backslash and the blanks and line breaks after it.
            std::size_t j = skip_blanks(i + 1);
            if (j < n && (s[j] == '\n' || s[j] == '\r')) {
              while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')) {
                if (s[j] == '\n') ++line, line_offset = j + 1;
                ++j;
              }
            }
            if (j < n && static_cast<unsigned char>(s[j]) >= 0x80)
              return hazard(
                  "a non-ASCII character right after a backslash in a multi-line string (write "
                  "it as \\uXXXX, or break the line elsewhere)");
            i = j > i + 1 ? j : i + 2;
            continue;
          }
          if (s[i] == '\n') ++line, line_offset = i + 1;
          if (s[i] == c && i + 2 < n && s[i + 1] == c && s[i + 2] == c) {
            // Up to two more quotes belong to the content: """a"""" ends after the fourth.
            std::size_t k = i;
            while (k < n && s[k] == c && k - i < 5) ++k;
            i = k;
            break;
          }
          ++i;
        }
        if (i > n) i = n;
      } else {  // one-line string
        ++i;
        while (i < n && s[i] != c && s[i] != '\n') {
          if (s[i] == '\\' && c == '"' && i + 1 < n && s[i + 1] != '\n') ++i;
          ++i;
        }
        if (i < n && s[i] == c) ++i;
      }
      continue;
    }
    if (static_cast<unsigned char>(c) >= 0x80)
      return hazard("a non-ASCII character outside a string or comment");
    if (in_value && value_start && i + 11 < n) {
      // toml++ 3.3 assumes a digit after the 'T' of a date-time.
      const auto digit = [&](std::size_t k) { return k < n && s[k] >= '0' && s[k] <= '9'; };
      const bool date = digit(i) && digit(i + 1) && digit(i + 2) && digit(i + 3) &&
                        s[i + 4] == '-' && digit(i + 5) && digit(i + 6) && s[i + 7] == '-' &&
                        digit(i + 8) && digit(i + 9);
      const char sep = s[i + 10];
      if (date && (sep == 'T' || sep == 't') && !digit(i + 11))
        return hazard("expected a time after the 'T' of a date-time, found " +
                      quote(s.substr(i + 11, 1)));
    }
    ++i;
    if (in_header) {
      if (c == ']') in_key = false;
      if (in_key && c == '.' && ++key_parts > kMaxKeyParts)
        return hazard("a dotted key of more than " + std::to_string(kMaxKeyParts) + " parts");
      continue;
    }
    if (in_key) {
      if (c == '.' && ++key_parts > kMaxKeyParts)
        return hazard("a dotted key of more than " + std::to_string(kMaxKeyParts) + " parts");
      if (c == '=') {
        in_key = false;
        value_start = true;
      }
      if (c != '}' && c != ']') continue;
      in_key = false;  // "{}" or "{a = 1, }": handled as the closer it is below
    }
    value_start = false;
    in_run = std::string_view("[]{},").find(c) == std::string_view::npos;
    if (c == '[' || c == '{') {
      nesting.push_back(c);
      if (nesting.size() > kMaxNesting)
        return hazard("arrays or inline tables nested more than " + std::to_string(kMaxNesting) +
                      " deep");
      if (c == '{') start_key();
      value_start = c == '[';
    } else if (c == ']' || c == '}') {
      if (!nesting.empty()) {
        // toml++ 3.3 asserts on a '}' where an array expects a value.
        if ((c == '}') != (nesting.back() == '{'))
          return hazard(std::string("'") + c + "' closes '" + nesting.back() + "'");
        nesting.pop_back();
      }
    } else if (c == ',' && !nesting.empty()) {
      if (nesting.back() == '{')
        start_key();
      else
        value_start = true;
    }
  }
  return std::nullopt;
}

// ---- the declaration table ----

struct Ctx;
struct KeyDecl;

// One value found in the file for a declared key.
struct Item {
  const KeyDecl& decl;
  const toml::node& node;
  std::size_t line;
  std::vector<std::string> segs;  // the key as written, e.g. {"countries", "NL", "accepts"}
  std::vector<std::string> wild;  // the segments that matched "*"
  std::string index = {};         // "[3]" for an array element
  std::string path() const { return show_path(segs) + index; }
};

using Setter = void (*)(Ctx&, const Item&);

struct KeyDecl {
  KeyDoc doc;
  Setter set;
  int64_t lo = 0, hi = 0;  // integer keys: the accepted range
  bool required = false;
  // Wildcard keys: a table found in place of a value is flattened with '.', so that
  // `security.protocol = "SSL"` in [kafka.properties] means the property "security.protocol".
  bool flatten = false;
  std::string_view expected;  // required keys: what a missing key should have been
};

struct CountryOverride {
  std::size_t line = 0;
  bool categories_given = false;  // even if invalid
  std::optional<std::vector<CountryCode>> accepts;
  std::optional<uint32_t> categories;
};

struct RetentionOverride {
  std::size_t line = 0;
  std::optional<bool> keep_passages, keep_images;
  std::optional<int> passage_days, hit_days, order_after_days;
};

struct Error {
  std::size_t line;
  std::string text;
};

struct Ctx {
  Settings s;
  std::string name;
  std::filesystem::path base_dir;
  std::vector<Error> errors;
  std::size_t error_count = 0;
  std::set<std::string> seen;  // declared keys given in the file
  std::map<std::string, std::size_t> topic_lines;
  std::map<CountryCode, CountryOverride> countries;
  std::map<CountryCode, RetentionOverride> retention;
  std::map<std::string, std::pair<TokenSettings, std::size_t>> tokens;  // name -> token, line

  void error(std::size_t line, const std::string& key, const std::string& what) {
    ++error_count;
    if (errors.size() >= kMaxErrorsKept) return;
    std::string text = name + ":" + std::to_string(line == 0 ? 1 : line) + ": ";
    if (!key.empty()) text += key + ": ";
    text += what;
    errors.push_back({line == 0 ? 1 : line, std::move(text)});
  }
  void error(const Item& it, const std::string& expected) {
    error(it.line, it.path(), "expected " + expected + ", got " + describe(it.node));
  }

  std::optional<std::string> string(const Item& it, std::string_view expected) {
    const auto* v = it.node.as_string();
    if (!v) {
      error(it, std::string(expected));
      return std::nullopt;
    }
    if (v->get().find('\0') != std::string::npos) {
      error(
          it.line, it.path(),
          "expected " + std::string(expected) + " without NUL characters, got " + quote(v->get()));
      return std::nullopt;
    }
    return v->get();
  }
  // A non-empty name without control characters.
  std::optional<std::string> name_value(const Item& it, std::string_view expected) {
    auto v = string(it, expected);
    if (!v) return v;
    const bool ctl = std::any_of(v->begin(), v->end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (v->empty() || ctl) {
      error(it, std::string(expected));
      return std::nullopt;
    }
    return v;
  }
  std::optional<std::string> topic(const Item& it) {
    auto v = string(it, "a Kafka topic name (1..249 characters of A-Z a-z 0-9 . _ -)");
    if (!v) return v;
    if (!valid_topic(*v)) {
      error(it, "a Kafka topic name (1..249 characters of A-Z a-z 0-9 . _ -)");
      return std::nullopt;
    }
    topic_lines[it.segs.back()] = it.line;
    return v;
  }
  std::optional<int64_t> integer(const Item& it) {
    const std::string expected =
        "an integer " + std::to_string(it.decl.lo) + ".." + std::to_string(it.decl.hi);
    const auto* v = it.node.as_integer();
    if (!v || v->get() < it.decl.lo || v->get() > it.decl.hi) {
      error(it, expected);
      return std::nullopt;
    }
    return v->get();
  }
  std::filesystem::path resolve(const std::string& p) const {
    std::filesystem::path path(p);
    if (path.is_relative() && !base_dir.empty()) path = base_dir / path;
    return path.lexically_normal();
  }
  // A librdkafka property value: strings as they are, numbers and booleans as text.
  void property(const Item& it, std::map<std::string, std::string>& into) {
    const std::string& prop = it.wild.back();
    if (!valid_property_name(prop)) {
      error(it.line, it.path(),
            "expected a librdkafka property name (letters, digits, '.', '_', '-'), got " +
                quote(prop));
      return;
    }
    if (prop == "bootstrap.servers" || prop == "group.id") {
      error(it.line, it.path(),
            "expected any librdkafka property but " + prop + ", which is set by kafka." +
                (prop == "group.id" ? "group_id" : "brokers") + ", got " + describe(it.node));
      return;
    }
    constexpr std::string_view kExpected = "a string, integer, float or boolean";
    std::string value;
    if (it.node.is_string()) {
      auto v = string(it, kExpected);
      if (!v) return;
      value = *v;
    } else if (const auto* i = it.node.as_integer()) {
      value = std::to_string(i->get());
    } else if (const auto* f = it.node.as_floating_point()) {
      if (!std::isfinite(f->get())) return error(it, "a finite number");
      value = format_double(f->get());
    } else if (const auto* b = it.node.as_boolean()) {
      value = b->get() ? "true" : "false";
    } else {
      return error(it, std::string(kExpected));
    }
    into[prop] = std::move(value);
  }
  TokenSettings& token(const Item& it) {
    const std::string& name = it.wild.front();
    auto& t = tokens[name];
    t.first.name = name;
    if (!t.second) t.second = it.line;
    return t.first;
  }
  CountryOverride& country(const Item& it) {
    return countries[*parse_country_table(it.wild.front())];  // validated on entering the table
  }
  RetentionOverride& retention_of(const Item& it) {
    return retention[*parse_country_table(it.wild.front())];  // validated on entering the table
  }
  std::optional<bool> boolean(const Item& it) {
    const auto* v = it.node.as_boolean();
    if (!v) {
      error(it, "true or false");
      return std::nullopt;
    }
    return v->get();
  }
};

// Each array element as an Item of its own, named key[i].
template <class F>
void for_each_element(Ctx& c, const Item& it, std::string_view expected, F&& f) {
  const auto* arr = it.node.as_array();
  if (!arr) return c.error(it, "an array of " + std::string(expected));
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& el = *arr->get(i);
    Item e{it.decl, el, el.source().begin.line ? el.source().begin.line : it.line, it.segs,
           it.wild};
    e.index = "[" + std::to_string(i) + "]";
    f(e);
  }
}

const std::vector<KeyDecl>& decls() {
  static const std::vector<KeyDecl> table = {
      {.doc = {"kafka.brokers", "string", "\"localhost:9092\"",
               "Kafka bootstrap servers, `host:port[,host:port...]` (librdkafka "
               "`bootstrap.servers`)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "a non-empty list of brokers such as \"host:9092\""))
               c.s.kafka.brokers = *v;
           }},
      {.doc = {"kafka.group_id", "string", "\"anpr\"",
               "Consumer group shared by all processor instances (librdkafka `group.id`)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "a non-empty consumer group name"))
               c.s.kafka.group_id = *v;
           }},
      {.doc = {"kafka.unanswered_after_ms", "integer 1000..3600000", "15000",
               "The processor asks the Kafka cluster for metadata every second; once it has not "
               "answered for this long (stopped, unreachable or frozen), `/readyz` answers 503 and "
               "a warning is logged. Nothing is lost meanwhile."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.kafka.unanswered_after_ms = *v;
           },
       .lo = 1000,
       .hi = 3'600'000},
      {.doc = {"kafka.properties.*", "string, integer, float or boolean", "",
               "Any librdkafka property (TLS, SASL, timeouts, ...) for every client, passed "
               "through as text. Not `bootstrap.servers` or `group.id` (use `brokers`, "
               "`group_id`)."},
       .set = [](Ctx& c, const Item& it) { c.property(it, c.s.kafka.common); },
       .flatten = true},
      {.doc = {"kafka.consumer.*", "string, integer, float or boolean", "",
               "A librdkafka property for the consumer only, applied after `kafka.properties`."},
       .set = [](Ctx& c, const Item& it) { c.property(it, c.s.kafka.consumer); },
       .flatten = true},
      {.doc = {"kafka.producer.*", "string, integer, float or boolean", "",
               "A librdkafka property for the producer only, applied after `kafka.properties`."},
       .set = [](Ctx& c, const Item& it) { c.property(it, c.s.kafka.producer); },
       .flatten = true},
      {.doc = {"topics.reads", "string (topic name)", "\"anpr.reads\"",
               "Input: camera read events, keyed by camera id."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.reads = *v;
           }},
      {.doc = {"topics.hits", "string (topic name)", "\"anpr.hits\"",
               "Output: hits for the control rooms."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.hits = *v;
           }},
      {.doc = {"topics.deadletter", "string (topic name)", "\"anpr.deadletter\"",
               "Output: input that was rejected, with the reason."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.deadletter = *v;
           }},
      {.doc = {"topics.hit_acks", "string (topic name)", "\"anpr.hit-acks\"",
               "Output: control rooms' acknowledgements of hits (who, when), shared by every "
               "instance's control-room page."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.hit_acks = *v;
           }},
      {.doc = {"topics.reflists", "string (topic name)", "\"anpr.reflists\"",
               "Compacted topic of reference-list entries, keyed by list/country/plate, with "
               "version markers (`anpr lists publish`, `lists.follow_topic`). One partition."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.reflists = *v;
           }},
      {.doc =
           {"topics.route_prefix", "string", "\"anpr.route.\"",
            "Route topic of a country = this prefix + its lower-case code (`anpr.route.be`): hits "
            "on that country's lists seen by another country's cameras."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected =
                 "a topic name prefix (0..247 characters of A-Z a-z 0-9 . _ -)";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (v->size() > kMaxTopicBytes - 2 || !(v->empty() || valid_topic(*v + "xx")))
               return c.error(it, std::string(kExpected));
             c.topic_lines["route_prefix"] = it.line;
             c.s.topics.route_prefix = *v;
           }},
      {.doc =
           {"cameras.registry", "path", "(required)",
            "Camera registry CSV (camera id, country, site, location, control room). Relative to "
            "the config file's folder."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of the camera registry CSV"))
               c.s.cameras = c.resolve(*v);
           },
       .required = true,
       .expected = "the path of the camera registry CSV"},
      {.doc = {"lists.files", "array of paths", "[]",
               "Reference lists (`.csv`, each with its `.toml` sidecar beside it) loaded at start. "
               "Relative to the config file's folder."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "the path of a reference list ending in .csv";
             for_each_element(c, it, "paths", [&](const Item& e) {
               auto v = c.name_value(e, kExpected);
               if (!v) return;
               if (v->size() < 5 || lower(v->substr(v->size() - 4)) != ".csv" || v->back() == '/')
                 return c.error(e, std::string(kExpected));
               const std::filesystem::path p = c.resolve(*v);
               const auto dup = std::find(c.s.lists.begin(), c.s.lists.end(), p);
               if (dup != c.s.lists.end())
                 return c.error(e.line, e.path(),
                                "expected each list once, got " + quote(*v) + " again (also " +
                                    it.path() + "[" + std::to_string(dup - c.s.lists.begin()) +
                                    "])");
               c.s.lists.push_back(p);
             });
           }},
      {.doc = {"lists.max_rejected_percent", "number 0..100", "1",
               "A list load or delta whose rejected rows exceed this percentage of its rows is "
               "refused and the active version stays (docs/operators.md)."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "a number 0..100";
             double v = -1;
             if (const auto* i = it.node.as_integer()) v = static_cast<double>(i->get());
             if (const auto* f = it.node.as_floating_point()) v = f->get();
             if (!(v >= 0 && v <= 100)) return c.error(it, std::string(kExpected));
             c.s.list_policy.max_rejected_percent = v;
           }},
      {.doc = {"lists.keep_versions", "integer 1..1000", "5",
               "Versions kept per list in `state.dir/lists` (metadata and entries): how far back "
               "a rollback can go."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.list_policy.keep_versions = static_cast<std::size_t>(*v);
           },
       .lo = 1,
       .hi = 1000},
      {.doc = {"lists.follow_topic", "boolean", "false",
               "Read the reference lists from `topics.reflists` (written by `anpr lists publish`): "
               "every instance reads the whole topic, builds its index at the end and follows "
               "updates. For several instances sharing the reads."},
       .set =
           [](Ctx& c, const Item& it) {
             const auto* b = it.node.as_boolean();
             if (!b) return c.error(it, "true or false");
             c.s.list_policy.follow_topic = b->get();
           }},
      {.doc = {"pipeline.threads", "integer 0..256", "0", "Matching threads; 0 = one per core."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.pipeline.threads = static_cast<int>(*v);
           },
       .lo = 0,
       .hi = 256},
      {.doc = {"pipeline.batch", "integer 1..65536", "256", "Reads consumed per pipeline step."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.pipeline.batch = static_cast<std::size_t>(*v);
           },
       .lo = 1,
       .hi = 65536},
      {.doc = {"pipeline.max_message_bytes", "integer 1024..67108864", "1048576",
               "Larger read messages go to the dead-letter topic."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it))
               c.s.pipeline.max_message_bytes = static_cast<std::size_t>(*v);
           },
       .lo = 1024,
       .hi = 64 << 20},
      {.doc = {"pipeline.deadletter_payload_bytes", "integer 0..1048576", "4096",
               "How many bytes of a rejected payload its dead letter keeps."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it))
               c.s.pipeline.deadletter_payload_bytes = static_cast<std::size_t>(*v);
           },
       .lo = 0,
       .hi = 1 << 20},
      {.doc = {"pipeline.max_unfinished_reads", "integer 1000..100000000", "2000000",
               "Consumption pauses while this many consumed reads are unfinished (a hit not yet "
               "acknowledged by the brokers, or a kept passage not yet durable in the retention "
               "store). Until then hits keep flowing to the control rooms while the retention "
               "store cannot write; the bound keeps memory in check (a few hundred bytes per "
               "read)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it))
               c.s.pipeline.max_unfinished_reads = static_cast<std::size_t>(*v);
           },
       .lo = 1000,
       .hi = 100'000'000},
      {.doc = {"pipeline.shutdown_timeout_ms", "integer 1000..600000", "30000",
               "How long a stop (SIGTERM, SIGINT) waits for the reads in flight to be delivered "
               "and stored before the processor commits what is finished and exits. Unfinished "
               "reads are consumed again at the next start."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.pipeline.shutdown_timeout_ms = *v;
           },
       .lo = 1000,
       .hi = 600'000},
      {.doc = {"log.level", "string", "\"info\"",
               "Least severe diagnostics written to stderr: `debug`, `info`, `warn` or `error`. "
               "`anpr run --log-level` overrides it."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "one of \"debug\", \"info\", \"warn\", \"error\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (*v != "debug" && *v != "info" && *v != "warn" && *v != "error")
               return c.error(it, std::string(kExpected));
             c.s.log.level = *v;
           }},
      {.doc = {"log.format", "string", "\"text\"",
               "`text`: one sentence per line; `json`: JSON Lines with `ts`, `level`, "
               "`component`, `msg` and the message's fields. Plates never appear in either. "
               "`anpr run --log-format` overrides it."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "\"text\" or \"json\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (*v != "text" && *v != "json") return c.error(it, std::string(kExpected));
             c.s.log.format = *v;
           }},
      {.doc =
           {"suppression.window_s", "integer 0..86400", "300",
            "Seconds during which the same plate on the same list is not alerted again (suppressed "
            "hits are counted, not published); 0 = off."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.suppression.window_ms = *v * 1000;
           },
       .lo = 0,
       .hi = 86400},
      {.doc = {"suppression.lists.*", "integer 0..86400", "`window_s`",
               "The window of one list, by list id (`\"nl-stolen-vehicles\" = 600`), in seconds."},
       .set =
           [](Ctx& c, const Item& it) {
             const std::string& id = it.wild.back();
             if (!ListId::valid(id))
               return c.error(it.line, it.path(),
                              "expected a list id (" + std::string(ListId::kRule) + "), got " +
                                  quote(id));
             if (auto v = c.integer(it)) c.s.suppression.per_list_ms[id] = *v * 1000;
           },
       .lo = 0,
       .hi = 86400,
       .flatten = true},
      {.doc = {"state.dir", "path", "`state` beside the config file",
               "Folder for the processor's own files: the audit log, reference-list versions "
               "and the retention store. Created if missing."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of a folder")) c.s.state_dir = c.resolve(*v);
           }},
      {.doc = {"http.listen", "string", "\"\"",
               "Address of the HTTP API, pages and `/metrics`, as `host:port` (`0.0.0.0:8080` "
               "for every interface). Empty: no HTTP server."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "\"host:port\" with a port 0..65535, or \"\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (v->empty()) return void(c.s.http.listen.clear());
             const auto colon = v->rfind(':');
             int port = -1;
             if (colon != std::string::npos && colon > 0 && colon + 1 < v->size() &&
                 colon + 6 >= v->size()) {
               port = 0;
               for (char ch : v->substr(colon + 1))
                 port = (ch >= '0' && ch <= '9' && port >= 0) ? port * 10 + (ch - '0') : -1;
             }
             if (port < 0 || port > 65535) return c.error(it, std::string(kExpected));
             c.s.http.listen = *v;
           }},
      {.doc = {"http.tls_cert", "path", "",
               "PEM certificate (chain) for HTTPS; give `tls_key` too. Without both, plain HTTP."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of a PEM certificate"))
               c.s.http.tls_cert = c.resolve(*v);
           }},
      {.doc = {"http.tls_key", "path", "", "PEM private key of `tls_cert`."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of a PEM private key"))
               c.s.http.tls_key = c.resolve(*v);
           }},
      {.doc = {"http.max_body_bytes", "integer 1024..4294967296", "268435456",
               "Largest request body accepted (list uploads); larger requests get 413."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.http.max_body_bytes = static_cast<std::size_t>(*v);
           },
       .lo = 1024,
       .hi = int64_t{1} << 32},
      {.doc = {"http.feed_hits", "integer 1..1000000", "10000",
               "Recent hits (and acknowledgements) the control-room page shows and a "
               "reconnecting page resumes from."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.http.feed_hits = static_cast<std::size_t>(*v);
           },
       .lo = 1,
       .hi = 1000000},
      {.doc = {"http.tokens.*.role", "string", "(required)",
               "Role of the bearer token named by the table (`[http.tokens.alice]`): "
               "`operator`, `controlroom`, `investigator` or `engineer`."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected =
                 "one of \"operator\", \"controlroom\", \"investigator\", \"engineer\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (*v != "operator" && *v != "controlroom" && *v != "investigator" &&
                 *v != "engineer")
               return c.error(it, std::string(kExpected));
             c.token(it).role = *v;
           }},
      {.doc = {"http.tokens.*.sha256", "string", "(required)",
               "Lower-case hex SHA-256 of the token (`anpr token new` makes a token and prints "
               "it); the token itself is never stored."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "64 lower-case hex digits (a SHA-256)";
             auto v = c.string(it, kExpected);
             if (!v) return;
             const bool hex = v->size() == 64 && std::all_of(v->begin(), v->end(), [](char ch) {
                                return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
                              });
             if (!hex) return c.error(it, std::string(kExpected));
             c.token(it).sha256 = *v;
           }},
      {.doc = {"http.tokens.*.control_room", "string", "required for `controlroom` tokens",
               "`controlroom` tokens: the control room (of the camera registry) whose hits the "
               "token sees; `\"*\"` = every room, which must be written out."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "a control room name or \"*\""))
               c.token(it).control_room = *v;
           }},
      {.doc = {"images.enabled", "boolean", "true",
               "Whether read images are used at all. `false`: images are never decoded and hits "
               "carry none."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.boolean(it)) c.s.images.enabled = *v;
           }},
      {.doc = {"images.max_bytes", "integer 1024..67108864", "1048576",
               "Largest JPEG (after base64) that is decoded; larger ones give `image_error` "
               "`too_large` without being decoded."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.images.limits.max_bytes = static_cast<std::size_t>(*v);
           },
       .lo = 1024,
       .hi = 64 << 20},
      {.doc = {"images.max_width", "integer 1..65535", "8192",
               "Widest image decoded, checked from the JPEG header before decoding."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.images.limits.max_width = static_cast<uint32_t>(*v);
           },
       .lo = 1,
       .hi = 65535},
      {.doc = {"images.max_height", "integer 1..65535", "8192",
               "Tallest image decoded, checked from the JPEG header before decoding."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.images.limits.max_height = static_cast<uint32_t>(*v);
           },
       .lo = 1,
       .hi = 65535},
      {.doc = {"images.max_pixels", "integer 1..1073741824", "16000000",
               "Most pixels (width x height) decoded, checked from the JPEG header: a small file "
               "declaring a huge image (a decompression bomb) costs nothing."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.images.limits.max_pixels = static_cast<uint64_t>(*v);
           },
       .lo = 1,
       .hi = int64_t{1} << 30},
      {.doc = {"images.max_scans", "integer 1..1000", "32",
               "Most scans of a progressive JPEG (each costs a pass of the decoder)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.images.limits.max_scans = static_cast<uint32_t>(*v);
           },
       .lo = 1,
       .hi = 1000},
      {.doc = {"images.thumbnail_width", "integer 16..2048", "240",
               "Width in pixels of a hit's plate thumbnail (`thumbnail_jpeg`); the height keeps "
               "the aspect ratio."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.images.thumbnail_width = static_cast<int>(*v);
           },
       .lo = 16,
       .hi = 2048},
      {.doc = {"images.thumbnail_quality", "integer 1..100", "80", "JPEG quality of thumbnails."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.images.thumbnail_quality = static_cast<int>(*v);
           },
       .lo = 1,
       .hi = 100},
      {.doc = {"images.overview_quality", "integer 1..100", "80",
               "JPEG quality of whole images that leave or are kept (see "
               "`retention.*.keep_images`)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.images.overview_quality = static_cast<int>(*v);
           },
       .lo = 1,
       .hi = 100},
      {.doc = {"images.blur_faces", "boolean", "true",
               "Blur faces in overview images before they leave the processor."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.boolean(it)) c.s.images.blur_faces = *v;
           }},
      {.doc = {"images.face_cascade", "path",
               "`/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml`",
               "OpenCV cascade that finds faces (Debian package `opencv-data`). Relative to the "
               "config file's folder."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of an OpenCV cascade XML file"))
               c.s.images.face_cascade = c.resolve(*v).string();
           }},
      {.doc =
           {"countries.*.accepts", "array of country codes",
            "NL: `[\"BE\"]`, BE: `[\"NL\"]`, LU and others: `[]`",
            "Partner countries whose lists apply to this country's cameras (its own lists always "
            "do). ISO 3166-1 alpha-2 codes (lower case is read as upper case)."},
       .set =
           [](Ctx& c, const Item& it) {
             CountryOverride& o = c.country(it);
             const CountryCode self = *parse_country_table(it.wild.front());
             std::vector<CountryCode> out;
             bool ok = true;
             const std::string expected(CountryCode::kRule);
             for_each_element(c, it, "country codes", [&](const Item& e) {
               const auto* v = e.node.as_string();
               const auto code = v ? CountryCode::parse(v->get()) : std::nullopt;
               if (!code) {
                 ok = false;
                 if (v)
                   c.error(e.line, e.path(),
                           "expected " + expected + ", got " + CountryCode::why_not(v->get()));
                 else
                   c.error(e, expected);
                 return;
               }
               if (*code != self && std::find(out.begin(), out.end(), *code) == out.end())
                 out.push_back(*code);
             });
             if (it.node.is_array() && ok) o.accepts = std::move(out);
           }},
      {.doc = {"countries.*.categories", "array of categories",
               "built in for NL, BE, LU; required for others",
               "Reference-list categories allowed on this country's cameras; entries of other "
               "categories are not applied to its reads."},
       .set =
           [](Ctx& c, const Item& it) {
             CountryOverride& o = c.country(it);
             uint32_t bits = 0;
             bool ok = true;
             for_each_element(c, it, "categories", [&](const Item& e) {
               const auto* v = e.node.as_string();
               const auto cat = v ? parse_category(v->get()) : std::nullopt;
               if (!cat) {
                 ok = false;
                 c.error(e, "a category (" + all_categories() + ")");
                 return;
               }
               bits |= bit(*cat);
             });
             o.categories_given = true;
             if (it.node.is_array() && ok) o.categories = bits;
           }},
      {.doc = {"retention.sink", "string", "\"store\"",
               "Where kept passages and hits go: `store` (the embedded retention store in "
               "`state.dir/retention`, searchable), `kafka` (passages to one topic per camera "
               "country, `topic_prefix` + country; see docs/retention.md) or `none`."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "one of \"store\", \"kafka\", \"none\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (*v != "store" && *v != "kafka" && *v != "none")
               return c.error(it, std::string(kExpected));
             c.s.retention.sink = *v;
           }},
      {.doc = {"retention.purge_interval_s", "integer 1..86400", "600",
               "Seconds between purges of expired records. Reads never return a record past its "
               "deadline, however late the purge."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.retention.purge_interval_ms = *v * 1000;
           },
       .lo = 1,
       .hi = 86400},
      {.doc = {"retention.topic_prefix", "string", "\"anpr.passages.\"",
               "Sink `kafka`: the passages topic of a camera country is this prefix + its "
               "lower-case code (`anpr.passages.nl`)."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected =
                 "a topic name prefix (1..247 characters of A-Z a-z 0-9 . _ -)";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (v->empty() || v->size() > kMaxTopicBytes - 2 || !valid_topic(*v + "xx"))
               return c.error(it, std::string(kExpected));
             c.s.retention.topic_prefix = *v;
           }},
      {.doc = {"retention.max_results", "integer 1..100000", "1000",
               "Most records one search returns (there is no bulk export of passages)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.retention.max_results = static_cast<std::size_t>(*v);
           },
       .lo = 1,
       .hi = 100000},
      {.doc = {"retention.input_hours", "integer 1..672", "24",
               "Hours the reads and dead-letter topics keep messages (`anpr topics plan`): they "
               "hold every read, passages of countries that keep none included, so keep this "
               "short."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.retention.input_hours = static_cast<int>(*v);
           },
       .lo = 1,
       .hi = 672},
      {.doc = {"retention.*.keep_passages", "boolean", "NL, BE: `true`; LU and others: `false`",
               "Whether no-hit passages of this camera country are kept (`[retention.NL]`)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.boolean(it)) c.retention_of(it).keep_passages = *v;
           }},
      {.doc = {"retention.*.passage_days", "integer 1..3650",
               "NL: 28, BE: 365; required for others that keep passages",
               "Days after capture a kept passage is deleted (a hard ceiling: never served after "
               "it). Check the country's law before raising it."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.retention_of(it).passage_days = static_cast<int>(*v);
           },
       .lo = 1,
       .hi = 3650},
      {.doc = {"retention.*.hit_days", "integer 0..3650", "NL: 365, BE: 365, LU: 28; others: 0",
               "Days after capture a hit is kept; 0 = hits are not kept."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.retention_of(it).hit_days = static_cast<int>(*v);
           },
       .lo = 0,
       .hi = 3650},
      {.doc = {"retention.*.keep_images", "boolean", "false",
               "Whether the reads' images are kept: hits then carry the overview image "
               "(`overview_jpeg`, faces blurred) besides the plate thumbnail, and kept passages "
               "keep their images (plate image re-encoded, overview blurred; metadata removed "
               "from both). Off unless a policy explicitly allows it."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.boolean(it)) c.retention_of(it).keep_images = *v;
           }},
      {.doc = {"retention.*.order_after_days", "integer 0..3650", "NL: 0, BE: 30, others: 0",
               "A search reaching data older than this many days needs a prosecutor's order or "
               "decision reference; younger data needs a written justification. 0 = the "
               "reference is needed for every search."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.retention_of(it).order_after_days = static_cast<int>(*v);
           },
       .lo = 0,
       .hi = 3650},
  };
  return table;
}

std::vector<std::string_view> split_dots(std::string_view key) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = key.find('.', start);
    out.push_back(key.substr(start, dot == key.npos ? key.npos : dot - start));
    if (dot == key.npos) return out;
    start = dot + 1;
  }
}

// Whether the pattern's first segs.size() segments match segs ("*" matches any one segment).
bool prefix_matches(const std::vector<std::string_view>& pattern,
                    const std::vector<std::string>& segs) {
  if (segs.size() > pattern.size()) return false;
  for (std::size_t i = 0; i < segs.size(); ++i)
    if (pattern[i] != "*" && pattern[i] != segs[i]) return false;
  return true;
}

// ---- the walk over the parsed document ----

class Walker {
 public:
  explicit Walker(Ctx& c) : c_(c) {
    for (const KeyDecl& d : decls()) patterns_.push_back(split_dots(d.doc.key));
  }

  void table(const toml::table& t, std::vector<std::string>& segs) {
    for (auto&& [k, node] : t) {
      segs.emplace_back(k.str());
      std::size_t line = k.source().begin.line;
      if (line == 0) line = node.source().begin.line;
      entry(node, line, segs);
      segs.pop_back();
    }
  }

 private:
  void entry(const toml::node& node, std::size_t line, std::vector<std::string>& segs) {
    for (std::size_t i = 0; i < patterns_.size(); ++i) {
      const auto& p = patterns_[i];
      if (p.size() == segs.size() && prefix_matches(p, segs))
        return leaf(decls()[i], node, line, segs);
    }
    bool is_table = false;
    for (const auto& p : patterns_) is_table = is_table || prefix_matches(p, segs);
    if (!is_table) return unknown(line, segs);
    // `retention.x = 1`: a misspelt setting rather than a country table.
    if (!node.is_table() && segs.size() == 2 && segs[0] == "retention")
      return unknown(line, segs);
    if (!node.is_table())
      return c_.error(line, show_path(segs), "expected a table, got " + describe(node));
    if (segs.size() == 2 && segs[0] == "countries" && !enter_country(node, line, segs)) return;
    if (segs.size() == 2 && segs[0] == "retention" && !enter_retention(node, line, segs)) return;
    table(*node.as_table(), segs);
  }

  void leaf(const KeyDecl& d, const toml::node& node, std::size_t line,
            std::vector<std::string>& segs) {
    if (d.flatten && node.is_table()) {
      // `a.b = 1` in a table of free-form names: the name "a.b".
      for (auto&& [k, child] : *node.as_table()) {
        std::string saved = segs.back();
        segs.back() += '.';
        segs.back() += k.str();
        std::size_t l = k.source().begin.line;
        leaf(d, child, l ? l : line, segs);
        segs.back() = std::move(saved);
      }
      return;
    }
    c_.seen.insert(std::string(d.doc.key));
    const auto pattern = split_dots(d.doc.key);
    Item it{d, node, line, segs, {}};
    for (std::size_t i = 0; i < pattern.size(); ++i)
      if (pattern[i] == "*") it.wild.push_back(segs[i]);
    d.set(c_, it);
  }

  // [countries.XX]: XX must be a country; records the table for the checks at the end.
  bool enter_country(const toml::node& node, std::size_t line,
                     const std::vector<std::string>& segs) {
    const auto code = parse_country_table(segs[1]);
    if (!code) {
      c_.error(line, show_path(segs),
               "expected a table named by an upper-case ISO 3166-1 alpha-2 code such as NL, BE "
               "or LU, got " +
                   why_not_country_table(segs[1]));
      return false;
    }
    const std::size_t at = node.source().begin.line;
    c_.countries[*code].line = at ? at : line;
    return true;
  }

  // [retention.XX]: XX must be a country.
  bool enter_retention(const toml::node& node, std::size_t line,
                       const std::vector<std::string>& segs) {
    const auto code = parse_country_table(segs[1]);
    if (!code) {
      c_.error(line, show_path(segs),
               "expected a table named by an upper-case ISO 3166-1 alpha-2 code such as NL, BE "
               "or LU, got " +
                   why_not_country_table(segs[1]));
      return false;
    }
    const std::size_t at = node.source().begin.line;
    c_.retention[*code].line = at ? at : line;
    return true;
  }

  void unknown(std::size_t line, const std::vector<std::string>& segs) {
    const std::string shown = show_path(segs);
    std::string joined;
    for (std::size_t i = 0; i < segs.size(); ++i) joined += (i ? "." : "") + segs[i];
    // The closest declared key or table, with "*" standing for the name written there.
    std::string best;
    std::size_t best_d = 3;
    std::set<std::string> tried;
    for (const auto& p : patterns_) {
      for (std::size_t len = 1; len <= p.size(); ++len) {
        std::string cand;
        for (std::size_t i = 0; i < len; ++i) {
          if (i) cand += '.';
          cand += p[i] == "*" ? (i < segs.size() ? segs[i] : std::string("*")) : std::string(p[i]);
        }
        if (cand == joined || !tried.insert(cand).second) continue;
        const std::size_t diff =
            cand.size() > joined.size() ? cand.size() - joined.size() : joined.size() - cand.size();
        if (diff >= best_d) continue;
        const std::size_t d = edit_distance(joined, cand);
        if (d < best_d && d < joined.size()) {
          best_d = d;
          best = cand;
        }
      }
    }
    if (!best.empty()) return c_.error(line, shown, "unknown key; did you mean " + best + "?");
    // Else name what may stand here.
    std::vector<std::string> parent(segs.begin(), segs.end() - 1);
    std::vector<std::string> names;
    for (const auto& p : patterns_) {
      if (p.size() <= parent.size() || !prefix_matches(p, parent)) continue;
      const std::string name = p[parent.size()] == "*" ? std::string("XX (a country code)")
                                                        : std::string(p[parent.size()]);
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    std::string list;
    for (std::size_t i = 0; i < names.size(); ++i) list += (i ? ", " : "") + names[i];
    c_.error(line, shown,
             "unknown key; expected one of " +
                 (parent.empty() ? std::string("the tables ")
                                 : "the keys of [" + show_path(parent) + "]: ") +
                 list);
  }

  Ctx& c_;
  std::vector<std::vector<std::string_view>> patterns_;
};

// ---- checks across keys ----

void check_topics(Ctx& c) {
  const std::array<std::pair<std::string_view, const std::string*>, 5> named = {{
      {"reads", &c.s.topics.reads},
      {"hits", &c.s.topics.hits},
      {"deadletter", &c.s.topics.deadletter},
      {"hit_acks", &c.s.topics.hit_acks},
      {"reflists", &c.s.topics.reflists},
  }};
  const auto line_of = [&](std::string_view k) {
    auto f = c.topic_lines.find(std::string(k));
    return f == c.topic_lines.end() ? std::size_t{0} : f->second;
  };
  for (std::size_t i = 0; i < named.size(); ++i) {
    for (std::size_t j = i + 1; j < named.size(); ++j) {
      if (*named[i].second != *named[j].second) continue;
      // Report on the key the file gave (the later one if both).
      const bool j_given = line_of(named[j].first) >= line_of(named[i].first);
      const auto& a = j_given ? named[j] : named[i];
      const auto& b = j_given ? named[i] : named[j];
      c.error(line_of(a.first), "topics." + std::string(a.first),
              "expected a topic different from topics." + std::string(b.first) + ", got " +
                  quote(*a.second) + " for both");
    }
  }
  const std::string& prefix = c.s.topics.route_prefix;
  for (const auto& [key, value] : named) {
    if (value->size() != prefix.size() + 2 || !value->starts_with(prefix)) continue;
    const char x = (*value)[prefix.size()], y = (*value)[prefix.size() + 1];
    if (x < 'a' || x > 'z' || y < 'a' || y > 'z') continue;
    const bool prefix_later = line_of("route_prefix") > line_of(key);
    c.error(prefix_later ? line_of("route_prefix") : line_of(key),
            prefix_later ? "topics.route_prefix" : "topics." + std::string(key),
            "expected topics." + std::string(key) + " not to be a route topic (route_prefix " +
                quote(prefix) + " + a country code), got " + quote(*value));
  }
}

void finish_countries(Ctx& c) {
  std::vector<CountryPolicy> out = default_country_policies();
  for (auto& entry : c.countries) {
    const CountryCode code = entry.first;  // not a structured binding: lambdas capture it
    const CountryOverride& o = entry.second;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const CountryPolicy& p) { return p.country == code; });
    if (it == out.end()) {
      if (!o.categories) {
        if (!o.categories_given)
          c.error(o.line, "countries." + code.str() + ".categories",
                  "expected the categories allowed on " + code.str() +
                      "'s cameras (a country without defaults needs them), got nothing");
        continue;
      }
      out.push_back(CountryPolicy{code, {}, 0});
      it = out.end() - 1;
    }
    if (o.accepts) it->accepts = *o.accepts;
    if (o.categories) it->categories = *o.categories;
  }
  std::sort(out.begin() + 3, out.end(),
            [](const CountryPolicy& a, const CountryPolicy& b) { return a.country < b.country; });
  c.s.countries = std::move(out);
}

void finish_retention(Ctx& c) {
  std::vector<RetentionPolicy> out = default_retention_policies();
  for (auto& entry : c.retention) {
    const CountryCode code = entry.first;
    const RetentionOverride& o = entry.second;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const RetentionPolicy& p) { return p.country == code; });
    const bool builtin = it != out.end();
    if (!builtin) {
      out.push_back(RetentionPolicy{code});
      it = out.end() - 1;
    }
    if (o.keep_passages) it->keep_passages = *o.keep_passages;
    if (o.passage_days) it->passage_days = *o.passage_days;
    if (o.hit_days) it->hit_days = *o.hit_days;
    if (o.keep_images) it->keep_images = *o.keep_images;
    if (o.order_after_days) it->order_after_days = *o.order_after_days;
    if (!builtin && it->keep_passages && !o.passage_days)
      c.error(o.line, "retention." + code.str() + ".passage_days",
              "expected how many days " + code.str() +
                  "'s passages are kept (a country without defaults that keeps passages needs "
                  "it), got nothing");
  }
  std::sort(out.begin() + 3, out.end(), [](const RetentionPolicy& a, const RetentionPolicy& b) {
    return a.country < b.country;
  });
  c.s.retention.policies = std::move(out);
}

void finish_http(Ctx& c) {
  std::set<std::string> hashes;
  for (auto& [name, t] : c.tokens) {
    const std::string key = "http.tokens." + name;
    const bool name_ok = !name.empty() && name.size() <= 64 &&
                         std::all_of(name.begin(), name.end(), [](char ch) {
                           return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                                  ch == '_' || ch == '-' || ch == '@';
                         });
    if (!name_ok) {
      c.error(t.second, key,
              "expected a token name of 1..64 characters of A-Z a-z 0-9 . _ - @, got " +
                  quote(name));
      continue;
    }
    if (t.first.role.empty())
      c.error(t.second, key + ".role", "expected the token's role (the key is required), got nothing");
    if (t.first.sha256.empty())
      c.error(t.second, key + ".sha256",
              "expected the token's SHA-256 (the key is required), got nothing");
    else if (!hashes.insert(t.first.sha256).second)
      c.error(t.second, key + ".sha256", "expected a token of its own, got the hash of another");
    if (t.first.role == "controlroom" && t.first.control_room.empty())
      c.error(t.second, key + ".control_room",
              "expected the control room whose hits the token sees (a control_room of the camera "
              "registry), or \"*\" for every room (the key is required for controlroom tokens), "
              "got nothing");
    if (t.first.control_room.empty()) t.first.control_room = "*";
    c.s.http.tokens.push_back(t.first);
  }
  if (c.s.http.tls_cert.empty() != c.s.http.tls_key.empty())
    c.error(1, c.s.http.tls_cert.empty() ? "http.tls_cert" : "http.tls_key",
            "expected http.tls_cert and http.tls_key together, got only one");
  if (c.s.state_dir.empty()) c.s.state_dir = c.resolve("state");
}

[[noreturn]] void fail(Ctx& c) {
  std::stable_sort(c.errors.begin(), c.errors.end(),
                   [](const Error& a, const Error& b) { return a.line < b.line; });
  std::string msg;
  for (std::size_t i = 0; i < c.errors.size() && i < kMaxErrorsShown; ++i) {
    if (i) msg += '\n';
    msg += c.errors[i].text;
  }
  if (c.error_count > kMaxErrorsShown)
    msg += "\n" + c.name + ": " + std::to_string(c.error_count - kMaxErrorsShown) +
           " more error(s) not shown";
  throw ConfigError(msg);
}

toml::table parse_toml(std::string_view text, const std::string& name) {
  const auto syntax_error = [&](std::size_t line, std::string_view what) {
    return ConfigError(name + ":" + std::to_string(line == 0 ? 1 : line) +
                       ": invalid TOML: " + std::string(what));
  };
  const auto hazard = find_toml_hazard(text);
  // Only the statements before a hazard go to toml++; an error there is reported first.
  const std::string_view safe = hazard ? text.substr(0, hazard->offset) : text;
  toml::table doc;
  try {
    doc = toml::parse(safe, std::string_view(name));
  } catch (const toml::parse_error& e) {
    throw syntax_error(e.source().begin.line, e.description());
  } catch (const std::exception& e) {
    throw syntax_error(1, e.what());
  }
  if (hazard) throw syntax_error(hazard->line, hazard->what);
  return doc;
}

}  // namespace

// ---- public ----

const CountryPolicy* Settings::policy(CountryCode c) const {
  for (const CountryPolicy& p : countries)
    if (p.country == c) return &p;
  return nullptr;
}

std::string Settings::route_topic(CountryCode owner) const {
  return topics.route_prefix + lower(owner.str());
}

const RetentionPolicy* RetentionSettings::policy(CountryCode c) const {
  for (const RetentionPolicy& p : policies)
    if (p.country == c) return &p;
  return nullptr;
}

std::string RetentionSettings::passages_topic(CountryCode c) const {
  return topic_prefix + lower(c.str());
}

std::vector<RetentionPolicy> default_retention_policies() {
  // country, keep_passages, passage_days, hit_days, keep_images, order_after_days
  return {RetentionPolicy{kNL, true, 28, 365, false, 0},
          RetentionPolicy{kBE, true, 365, 365, false, 30},
          RetentionPolicy{kLU, false, 28, 28, false, 0}};
}

std::vector<CountryPolicy> default_country_policies() {
  using C = Category;
  const uint32_t nl = bit(C::stolen_vehicle) | bit(C::stolen_plate) | bit(C::wanted_person) |
                      bit(C::missing_person) | bit(C::custodial_order) | bit(C::driving_ban) |
                      bit(C::unpaid_fine) | bit(C::uninsured) | bit(C::suspect) |
                      bit(C::serious_crime) | bit(C::terrorism);
  const uint32_t be = nl | bit(C::no_inspection) | bit(C::tax_debt);
  const uint32_t lu = bit(C::terrorism) | bit(C::serious_crime) | bit(C::stolen_vehicle) |
                      bit(C::stolen_plate) | bit(C::missing_person) | bit(C::wanted_person);
  return {CountryPolicy{kNL, {kBE}, nl}, CountryPolicy{kBE, {kNL}, be}, CountryPolicy{kLU, {}, lu}};
}

Settings parse_settings(std::string_view toml_text, const std::string& name,
                        const std::filesystem::path& base_dir) {
  if (toml_text.size() > kMaxConfigBytes)
    throw ConfigError(name + ": expected a config file of at most 1 MiB, got " +
                      std::to_string(toml_text.size()) + " bytes");
  Ctx c;
  c.name = name;
  c.base_dir = base_dir;
  c.s.file = name;
  c.s.countries = default_country_policies();
  c.s.retention.policies = default_retention_policies();
  const toml::table doc = parse_toml(toml_text, name);

  std::vector<std::string> segs;
  Walker(c).table(doc, segs);

  for (const KeyDecl& d : decls()) {
    if (!d.required || c.seen.count(std::string(d.doc.key))) continue;
    // The line of its table if the file has one, else 1.
    const auto parts = split_dots(d.doc.key);
    const toml::node* parent = doc.get(parts.front());
    std::size_t line = parent && parent->is_table() ? parent->source().begin.line : 0;
    c.error(line, std::string(d.doc.key),
            "expected " + std::string(d.expected) + " (the key is required), got nothing");
  }
  check_topics(c);
  finish_countries(c);
  finish_retention(c);
  finish_http(c);
  if (c.error_count) fail(c);
  return std::move(c.s);
}

Settings load_settings(const std::filesystem::path& file) {
  const std::string name = file.string();
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ConfigError(name + ": cannot read: " + std::strerror(errno));
  std::string text;
  std::array<char, 65536> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw ConfigError(name + ": cannot read: " + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes) {
      ::close(fd);
      throw ConfigError(name + ": cannot read: larger than 1 MiB (" +
                        std::to_string(kMaxConfigBytes) + " bytes), the limit for a config file");
    }
  }
  ::close(fd);
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(file, ec).parent_path();
  if (ec) dir = file.parent_path();
  Settings s = parse_settings(text, name, dir);
  s.file = file;
  return s;
}

const std::vector<KeyDoc>& key_docs() {
  static const std::vector<KeyDoc> docs = [] {
    std::vector<KeyDoc> out;
    for (const KeyDecl& d : decls()) out.push_back(d.doc);
    return out;
  }();
  return docs;
}

std::string keys_markdown() {
  const auto cell = [](std::string_view s) {
    std::string out;
    for (char c : s) {
      if (c == '|') out += '\\';
      out += c;
    }
    return out;
  };
  std::string md = "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const KeyDoc& d : key_docs()) {
    std::string def;
    if (d.default_value.empty())
      def = "—";
    else if (d.default_value.front() == '(')  // "(required)"
      def = "**" + std::string(d.default_value.substr(1, d.default_value.size() - 2)) + "**";
    else if (d.default_value.find_first_of("` ") == std::string_view::npos)  // a TOML value
      def = "`" + cell(d.default_value) + "`";
    else
      def = cell(d.default_value);
    md += "| `" + std::string(d.key) + "` | " + cell(d.type) + " | " + def + " | " +
          cell(d.meaning) + " |\n";
  }
  return md;
}

std::optional<TomlHazard> find_toml_hazard_in(std::string_view text) {
  std::optional<Hazard> h = find_toml_hazard(text);
  if (!h) return std::nullopt;
  return TomlHazard{h->line, h->what};
}

}  // namespace anpr::config
