#include "base/toml_guard.h"

#include <cstdio>
#include <vector>

namespace anpr {

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
std::optional<TomlHazard> find_toml_hazard(std::string_view s) {
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
    return TomlHazard{line, statement_offset, std::move(what)};
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
      if (in_key && c == '.' && ++key_parts > kTomlMaxKeyParts)
        return hazard("a dotted key of more than " + std::to_string(kTomlMaxKeyParts) + " parts");
      continue;
    }
    if (in_key) {
      if (c == '.' && ++key_parts > kTomlMaxKeyParts)
        return hazard("a dotted key of more than " + std::to_string(kTomlMaxKeyParts) + " parts");
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
      if (nesting.size() > kTomlMaxNesting)
        return hazard("arrays or inline tables nested more than " + std::to_string(kTomlMaxNesting) +
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

std::string_view toml_type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
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

bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

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

}  // namespace anpr
