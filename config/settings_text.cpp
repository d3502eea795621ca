#include "config/settings_keys.h"

#include <charconv>
#include <cstdio>

namespace anpr::config::detail {

// ---- text helpers ----

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
    default:
      return std::string(toml_type_name(n.type()));
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

bool valid_topic(std::string_view s) {
  if (s.empty() || s.size() > kMaxTopicBytes || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_bare_key_char(c) || c == '.'; });
}

bool valid_property_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_bare_key_char(c) || c == '.'; });
}

}  // namespace anpr::config::detail
