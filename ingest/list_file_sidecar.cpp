#include "ingest/list_file.h"
#include "base/toml_guard.h"
#include "ingest/list_file_detail.h"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <utility>

#include "match/ids.h"
#include "match/time.h"

namespace anpr {

using namespace detail;

namespace {

// ---- sidecar ----

constexpr std::array<std::string_view, 10> kSidecarKeys = {
    "id",     "owner_country", "match_mode", "max_substitutions", "category",
    "action", "priority",      "valid_from", "valid_until",       "version"};

LoadError make_error(std::string_view file, const toml::source_region& at, std::string message) {
  return LoadError{std::string(file), at.begin.line, at.begin.column, std::move(message)};
}

// A validity bound from a TOML string, date or offset date-time.
std::optional<TimestampMs> toml_instant(const toml::node& v, bool end_of_day, std::string& why) {
  if (const auto* s = v.as_string()) {
    auto t = parse_date_or_timestamp(s->get(), end_of_day);
    if (!t) why = "the string " + show_value(s->get()) + " is not a date or RFC 3339 timestamp";
    return t;
  }
  if (const auto* d = v.as_date()) {
    const toml::date dd = d->get();
    const int64_t days = days_from_civil(dd.year, dd.month, dd.day);
    return (days + (end_of_day ? 1 : 0)) * kMsPerDay;
  }
  if (const auto* dt = v.as_date_time()) {
    const toml::date_time x = dt->get();
    if (!x.offset) {
      why = "a local date-time has no UTC offset";
      return std::nullopt;
    }
    const int64_t days = days_from_civil(x.date.year, x.date.month, x.date.day);
    const int64_t secs = int64_t{x.time.hour} * 3600 + x.time.minute * 60 + x.time.second;
    return days * kMsPerDay + secs * 1000 + x.time.nanosecond / 1'000'000 -
           int64_t{x.offset->minutes} * 60'000;
  }
  why = std::string("got ") + std::string(toml_type_name(v.type()));
  return std::nullopt;
}

}  // namespace

// ---- sidecar ----

SidecarParse parse_sidecar(std::string_view toml_text, std::string_view file) {
  SidecarParse out;
  // A sidecar is flat: key = value lines only. Reject table headers before toml++ sees them:
  // besides being wrong here, malformed headers such as "[%" or "[[[" trip a precondition in
  // toml++ 3.3's parse_key (fixed upstream in marzer/tomlplusplus#301).
  {
    std::size_t line = 1, col = 1;
    bool line_start = true;
    for (char c : toml_text) {
      if (c == '\n') {
        ++line;
        col = 1;
        line_start = true;
        continue;
      }
      if (line_start && c == '[') {
        out.error = LoadError{std::string(file), line, col,
                              "tables are not allowed in a sidecar: expected only top-level "
                              "key = value lines (keys: " +
                                  join_names(kSidecarKeys.data(), kSidecarKeys.size(), ", ") + ")"};
        return out;
      }
      if (c != ' ' && c != '\t') line_start = false;
      ++col;
    }
  }
  // Constructs toml++ 3.3 mishandles (undefined behaviour, deep recursion) are refused first.
  if (auto h = find_toml_hazard(toml_text)) {
    out.error = LoadError{std::string(file), h->line, 1, "invalid TOML: " + h->what};
    return out;
  }
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, file);
  } catch (const toml::parse_error& e) {
    out.error = make_error(file, e.source(), "invalid TOML: " + std::string(e.description()));
    return out;
  } catch (const std::exception& e) {
    out.error = LoadError{std::string(file), 0, 0, std::string("invalid TOML: ") + e.what()};
    return out;
  }

  ListMeta meta;
  bool have_id = false, have_owner = false;
  std::optional<std::pair<TimestampMs, toml::source_region>> from, until;
  const auto fail = [&](const toml::source_region& at, std::string msg) {
    out.error = make_error(file, at, std::move(msg));
    return out;
  };
  const std::string keys = join_names(kSidecarKeys.data(), kSidecarKeys.size(), ", ");

  for (auto&& kv : tbl) {
    const toml::key& key = kv.first;
    const toml::node& node = kv.second;
    const std::string_view k = key.str();
    const toml::source_region& at = node.source();
    const auto want = [&](std::string_view what) {
      return fail(at, "'" + std::string(k) + "' must be " + std::string(what) + ", got " +
                          std::string(toml_type_name(node.type())));
    };
    if (k == "id") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      if (!ListId::valid(s->get()))
        return fail(at, "'id' " + show_value(s->get()) + " is not a list id: expected " +
                            std::string(ListId::kRule));
      meta.id = s->get();
      have_id = true;
    } else if (k == "owner_country") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      auto c = CountryCode::parse(s->get());
      if (!c)
        return fail(at, "'owner_country' " + show_value(s->get()) +
                            " is not an ISO 3166-1 alpha-2 code: expected " +
                            std::string(CountryCode::kRule));
      meta.owner = *c;
      have_owner = true;
    } else if (k == "match_mode") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      auto m = parse_match_mode(s->get());
      if (!m)
        return fail(at, "'match_mode' " + show_value(s->get()) +
                            " is not a match mode: expected exact, ocr or ocr+edit");
      meta.mode = *m;
    } else if (k == "max_substitutions") {
      const auto* i = node.as_integer();
      if (!i) return want("an integer 1..2");
      if (i->get() < 1 || i->get() > kMaxSubstitutionsLimit)
        return fail(at, "'max_substitutions' is " + std::to_string(i->get()) + ": expected 1 or 2");
      meta.max_substitutions = static_cast<uint8_t>(i->get());
    } else if (k == "category") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      auto c = parse_category(s->get());
      if (!c)
        return fail(at, "'category' " + show_value(s->get()) +
                            " is not a category: expected one of " + all_categories());
      meta.default_category = *c;
    } else if (k == "action") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      auto a = parse_action(s->get());
      if (!a)
        return fail(at, "'action' " + show_value(s->get()) + " is not an action: expected " +
                            all_actions());
      meta.default_action = *a;
    } else if (k == "priority") {
      const auto* i = node.as_integer();
      if (!i) return want("an integer 0..100");
      if (i->get() < 0 || i->get() > kMaxPriority)
        return fail(at,
                    "'priority' is " + std::to_string(i->get()) + ": expected 0 (highest) .. 100");
      meta.default_priority = static_cast<uint8_t>(i->get());
    } else if (k == "valid_from" || k == "valid_until") {
      const bool is_until = k == "valid_until";
      std::string why;
      auto t = toml_instant(node, is_until, why);
      if (!t)
        return fail(at, "'" + std::string(k) + "' is not a valid instant (" + why +
                            "): expected a date such as 2026-12-31 or an RFC 3339 timestamp "
                            "such as 2026-12-31T23:00:00Z, as a TOML string or date");
      (is_until ? until : from) = std::make_pair(*t, at);
    } else if (k == "version") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      const std::string_view v = s->get();
      bool printable = !v.empty() && v.size() <= 128;
      for (char c : v) printable = printable && c >= 0x20 && c < 0x7f;
      if (!printable) return fail(at, "'version' must be 1..128 printable ASCII characters");
      meta.version = v;
    } else {
      return fail(key.source(), "unknown key '" + std::string(k) + "': expected one of " + keys);
    }
  }

  if (!have_id || !have_owner) {
    out.error = LoadError{
        std::string(file), 0, 0,
        !have_id ? "missing required key 'id' (the list id, 1..64 characters of a-z 0-9 . _ -, "
                   "starting with a letter or digit)"
                 : "missing required key 'owner_country' (the ISO 3166-1 alpha-2 code of the "
                   "country whose police owns the list, e.g. \"NL\")"};
    return out;
  }
  if (from) meta.valid_from = from->first;
  if (until) meta.valid_until = until->first;
  if (from && until && from->first >= until->first)
    return fail(until->second, "'valid_until' (" + format_rfc3339(until->first) +
                                   ") must be after 'valid_from' (" + format_rfc3339(from->first) +
                                   ")");
  out.meta = std::move(meta);
  return out;
}

}  // namespace anpr
