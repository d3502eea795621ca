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

constexpr std::array<std::string_view, 12> kSidecarKeys = {
    "id",          "owner_country", "match_mode", "max_substitutions", "category", "action",
    "priority",    "valid_from",    "valid_until", "version",          "covert",   "rooms"};

// A covert list's rooms: control-room names as the camera registry and the tokens write them.
constexpr std::size_t kMaxRooms = 64;
constexpr std::size_t kMaxRoomBytes = 64;

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
  std::optional<toml::source_region> rooms_at, covert_at;
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
    } else if (k == "covert") {
      const auto* b = node.as_boolean();
      if (!b) return want("true or false");
      meta.covert = b->get();
      covert_at = at;
    } else if (k == "rooms") {
      const auto* a = node.as_array();
      if (!a) return want("an array of control-room names such as [\"NL-MIDDEN\"]");
      if (a->size() > kMaxRooms)
        return fail(at, "'rooms' names " + std::to_string(a->size()) +
                            " control rooms: expected at most 64");
      rooms_at = at;
      for (const toml::node& r : *a) {
        const auto* s = r.as_string();
        if (!s)
          return fail(r.source(), "'rooms' must hold strings (control-room names), got " +
                                      std::string(toml_type_name(r.type())));
        const std::string_view v = s->get();
        bool ok = !v.empty() && v.size() <= kMaxRoomBytes;
        for (unsigned char c : v) ok = ok && c >= 0x20 && c != 0x7f;
        if (!ok)
          return fail(r.source(), "'rooms': a control-room name is 1..64 bytes without control "
                                  "characters, as in the camera registry's control_room column");
        if (std::find(meta.rooms.begin(), meta.rooms.end(), v) != meta.rooms.end())
          return fail(r.source(), "'rooms' names " + show_value(v) + " twice");
        meta.rooms.emplace_back(v);
      }
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
  if (meta.covert && meta.rooms.empty())
    return fail(rooms_at ? *rooms_at : *covert_at,
                "a covert list needs 'rooms': the control rooms that may see its hits, such as "
                "rooms = [\"NL-MIDDEN\"]");
  if (!meta.covert && rooms_at)
    return fail(*rooms_at, "'rooms' is only for covert lists (covert = true); every control "
                           "room of a camera sees the hits of the other lists");
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
