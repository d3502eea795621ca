#include "cli/hit_text.h"

#include <cctype>

#include "base/utf8.h"
#include "match/formats.h"

namespace anpr::app {

namespace {
// A value as a terminal may show it: every character unsafe_text_char() refuses (controls,
// escape sequences, direction overrides, zero-width characters) becomes U+FFFD, so a hit's text
// cannot move the cursor, recolour the screen or reorder what is read.
std::string terminal_safe(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  std::size_t at = 0;
  while (find_unsafe_text_char(v, at) >= 0) {
    out.append(v.substr(0, at));
    int len = 1;
    const auto* p = reinterpret_cast<const unsigned char*>(v.data()) + at;
    if (*p >= 0x80) decode_utf8(p, p + (v.size() - at), len);
    out += "\xEF\xBF\xBD";
    v.remove_prefix(at + static_cast<std::size_t>(len));
  }
  out.append(v);
  return out;
}

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}
}  // namespace

void append_hit_text(std::string& out, const HitReadView& r, const Snapshot& s,
                     const IndexHit& h) {
  const uint32_t e = h.entry;
  const ListMeta& list = s.list(s.entry_list(e));
  const CountryCode listed_country = s.entry_country(e);
  const CountryCode shown = listed_country.known() ? listed_country : r.plate_country;
  const std::string listed = formats::display(shown, s.entry_plate(e));
  const std::string_view read =
      h.plate_index < r.raw_plates.size() ? r.raw_plates[h.plate_index] : r.plate;

  out += "HIT ";
  out += r.ts.size() >= 23 ? std::string(r.ts.substr(11, 12)) : std::string(r.ts);
  out += "  ";
  out += upper(to_string(s.entry_action(e)));
  out += "  ";
  out += to_string(s.entry_category(e));
  out += "  priority ";
  out += std::to_string(s.entry_priority(e));
  out += "  list ";
  out += list.id;
  out += "\n    camera ";
  out += r.camera_id;
  out += "  read \"";
  out += read;
  out += "\"";
  if (h.plate_index > 0) out += " (OCR candidate)";
  out += "  listed ";
  out += listed;
  if (listed_country.known()) {
    out += " (";
    out += listed_country.str();
    out += r.plate_country.known() ? ")" : ", country assumed)";
  }
  switch (h.kind) {
    case MatchKind::exact: out += "  exact"; break;
    case MatchKind::ocr:
      out += "  OCR-tolerant, " + std::to_string(h.differences) +
             (h.differences == 1 ? " character differs" : " characters differ") + ": verify";
      break;
    case MatchKind::edit: out += "  one character missing or extra: verify"; break;
  }
  out += "  ref ";
  out += terminal_safe(s.entry_reference(e));
}

}  // namespace anpr::app

#include <simdjson.h>

namespace anpr::app {

bool append_hit_text_from_json(std::string& out, std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return false;
  auto str = [&](const char* k) -> std::string {
    std::string_view v;
    return doc[k].get(v) ? std::string{} : terminal_safe(v);
  };
  auto num = [&](const char* k) -> int64_t {
    int64_t v = 0;
    if (doc[k].get(v)) {
      uint64_t u = 0;
      if (!doc[k].get(u)) v = static_cast<int64_t>(u);
    }
    return v;
  };
  if (str("hit_id").empty() || str("list_id").empty()) return false;
  const std::string ts = str("ts");
  std::string s = "HIT ";
  s += ts.size() >= 23 ? std::string(ts.substr(11, 12)) : std::string(ts);
  s += "  ";
  s += upper(str("action"));
  s += "  ";
  s += str("category");
  s += "  priority " + std::to_string(num("priority"));
  s += "  list ";
  s += str("list_id");
  s += "\n    camera ";
  s += str("camera_id");
  if (!str("site").empty()) {
    s += " (";
    s += str("site");
    s += ")";
  }
  s += "  read \"";
  s += str("plate");
  s += "\"";
  if (str("read_plate_source") == "candidate") s += " (OCR candidate)";
  s += "  listed ";
  s += str("matched_plate_display");
  if (!str("matched_country").empty()) {
    s += " (";
    s += str("matched_country");
    bool assumed = false;
    if (!doc["country_assumed"].get(assumed) && assumed) s += ", country assumed";
    s += ")";
  }
  const std::string kind = str("match_kind");
  const int64_t d = num("differences");
  if (kind == "exact") {
    s += "  exact";
  } else if (kind == "ocr") {
    s += "  OCR-tolerant, " + std::to_string(d) +
         (d == 1 ? " character differs" : " characters differ") + ": verify";
  } else {
    s += "  one character missing or extra: verify";
  }
  s += "  ref ";
  s += str("reference");
  simdjson::dom::array routes;
  if (!doc["routes"].get(routes) && routes.size() > 0) {
    s += "\n    also reported to";
    for (auto r : routes) {
      std::string_view v;
      if (!r.get(v)) {
        s += " ";
        s += terminal_safe(v);
      }
    }
  }
  out += s;
  return true;
}

}  // namespace anpr::app
