// Internals of config/settings.cpp shared by its parts (not a public header): the text helpers,
// the declaration table's types, the parse context and the steps of parse_settings.
//   settings_text.cpp    text and country helpers for messages and checks
//   settings_keys.cpp    the declaration table: every key with its type, default, meaning, setter
//   settings_walk.cpp    the walk over the parsed document
//   settings_checks.cpp  checks across keys, once the walk is done
//   settings.cpp         the public API (config/settings.h)
#pragma once

#include "config/settings.h"
#include "match/ids.h"

#include <toml++/toml.h>

#include "base/toml_guard.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace anpr::config::detail {

constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxErrorsShown = 10;
constexpr std::size_t kMaxErrorsKept = 1000;
constexpr std::size_t kMaxTopicBytes = 249;

// ---- text helpers (settings_text.cpp) ----

// One segment of a dotted key as the operator would write it: bare when it can be, else quoted.
std::string show_segment(std::string_view s);
std::string show_path(const std::vector<std::string>& segs);
std::string lower(std::string_view s);
std::string format_double(double d);
// What a TOML value is, for "got ..." in messages.
std::string describe(const toml::node& n);
std::size_t edit_distance(std::string_view a, std::string_view b);

// ---- countries (settings_text.cpp) ----

// A table named by a country ([countries.NL], [retention.BE]): the code as CountryCode::parse
// takes it, spelt in upper case, so that one country never has two tables.
std::optional<CountryCode> parse_country_table(std::string_view s);
std::string why_not_country_table(std::string_view s);

constexpr uint32_t bit(Category c) { return uint32_t{1} << static_cast<unsigned>(c); }

bool valid_topic(std::string_view s);
bool valid_property_name(std::string_view s);

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
  std::optional<std::string> authorisation_pattern;
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
  std::string token_prefix = "http.tokens.";  // how errors name a token's table

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
    if (prop == "bootstrap.servers" || prop == "group.id" || prop == "group.instance.id" ||
        prop == "transactional.id") {
      error(it.line, it.path(),
            "expected any librdkafka property but " + prop + ", which is set by kafka." +
                (prop == "group.id"            ? "group_id"
                 : prop == "group.instance.id" ? "instance_id"
                 : prop == "transactional.id"  ? "transactional_id"
                                               : "brokers") +
                ", got " + describe(it.node));
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
  // The setters of plain integer and boolean keys: the value, once valid, into `field`.
  template <class T>
  void set_integer(const Item& it, T& field) {
    if (auto v = integer(it)) field = static_cast<T>(*v);
  }
  void set_boolean(const Item& it, bool& field) {
    if (auto v = boolean(it)) field = *v;
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

// The declaration table (settings_keys.cpp).
const std::vector<KeyDecl>& decls();
std::vector<std::string_view> split_dots(std::string_view key);
// Whether the pattern's first segs.size() segments match segs ("*" matches any one segment).
bool prefix_matches(const std::vector<std::string_view>& pattern,
                    const std::vector<std::string>& segs);

// ---- the walk over the parsed document (settings_walk.cpp) ----

// Every key of the document through its declaration's setter; unknown keys are errors.
void walk(Ctx& c, const toml::table& doc);

// ---- checks across keys (settings_checks.cpp) ----

void check_topics(Ctx& c);
void finish_countries(Ctx& c);
void finish_retention(Ctx& c);
void finish_http(Ctx& c);
// The tokens of c.tokens, checked, appended to `out` (the config's or a tokens file's).
void finish_tokens(Ctx& c, std::vector<TokenSettings>& out);
// walk() of a table found at `prefix` (a tokens file is walked as http.tokens).
void walk_under(Ctx& c, const toml::table& doc, std::vector<std::string> prefix);

}  // namespace anpr::config::detail
