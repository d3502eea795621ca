#include "app/offline.h"

#include <istream>
#include <ostream>

#include "ingest/list_file.h"
#include "ingest/read_event.h"
#include "match/plate.h"
#include "match/time.h"

namespace anpr::app {

ListSetLoad load_lists(const std::vector<std::filesystem::path>& files, std::ostream& err) {
  ListSetLoad out;
  IndexBuilder builder;
  for (const auto& f : files) {
    ListLoad load = load_list(f);
    if (load.fatal) {
      err << to_string(*load.fatal) << "\n";
      out.fatal = true;
      continue;
    }
    for (const RowError& r : load.rejected) err << to_string(r) << "\n";
    if (load.rejected_count > load.rejected.size())
      err << f.string() << ": " << (load.rejected_count - load.rejected.size())
          << " more rejected rows not shown\n";
    out.rows += load.rows;
    out.rejected_rows += load.rejected_count;
    builder.add(*load.list);
  }
  out.snapshot = builder.build();
  return out;
}

HitReadView hit_view(const ReadEvent& ev, std::string_view ts_text, std::span<const Plate> plates,
                     std::span<const std::string_view> raw) {
  HitReadView view;
  view.event_id = ev.event_id;
  view.camera_id = ev.camera_id;
  view.ts = ts_text;
  view.plate = ev.plate;
  view.plate_country = ev.plate_country;
  view.confidence = ev.confidence;
  view.lane = ev.lane;
  view.direction = ev.direction;
  view.lat = ev.lat;
  view.lon = ev.lon;
  view.plates = plates;
  view.raw_plates = raw;
  return view;
}

MatchCounts match_stream(const Snapshot& s, std::istream& in, const std::string& source,
                         const HitSink& sink, std::ostream& err) {
  MatchCounts counts;
  ReadEventDecoder decoder;
  std::string ts_text;
  ReadEvent ev;
  DecodeError derr;
  std::vector<Plate> plates;
  std::vector<std::string_view> raw;
  std::vector<IndexHit> hits;
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++counts.reads;
    if (!decoder.decode(line, ev, derr)) {
      ++counts.rejected;
      err << source << ":" << lineno << ": " << derr.reason << ": " << derr.detail << "\n";
      continue;
    }
    auto normalized = normalized_plates(ev, plates, raw);
    if (!normalized) {
      ++counts.rejected;
      err << source << ":" << lineno << ": " << to_string(normalized.error())
          << ": the plate cannot be normalised (event " << ev.event_id << ")\n";
      continue;
    }
    counts.skipped_candidates += *normalized;
    hits.clear();
    s.match(MatchQuery{ev.plate_country, ev.ts, plates}, hits);
    ts_text = format_rfc3339(ev.ts);
    const HitReadView view = hit_view(ev, ts_text, plates, raw);
    for (const IndexHit& h : hits) {
      ++counts.hits;
      sink(view, s, h);
    }
  }
  return counts;
}

}  // namespace anpr::app
