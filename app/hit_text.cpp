#include "app/hit_text.h"

#include <cctype>

#include "match/formats.h"

namespace anpr::app {

namespace {
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
  out += s.entry_reference(e);
}

}  // namespace anpr::app
