#include "pipeline/offline.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <istream>
#include <sstream>
#include <ostream>

#include "config/settings.h"
#include "ingest/list_file.h"
#include "ingest/read_event.h"
#include "match/plate.h"
#include "match/time.h"

namespace anpr::app {

lists::Policy offline_list_policy(const std::string& config_file, double max_rejected_percent) {
  lists::Policy p;
  p.countries = config::default_country_policies();
  if (!config_file.empty()) {
    config::Settings s = config::load_settings(config_file);
    p.countries = s.countries;
    p.max_rejected_percent = s.list_policy.max_rejected_percent;
  }
  if (max_rejected_percent >= 0) p.max_rejected_percent = max_rejected_percent;
  p.max_reported_rows = 100'000;
  return p;
}

namespace {
// "" when `file` can be opened for reading, else why not.
std::string unreadable(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) return "it is a folder";
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  ::close(fd);
  return {};
}
}  // namespace

bool list_files_readable(const std::filesystem::path& file, std::string_view cmd,
                         std::ostream& err) {
  if (!lists::format_of_name(file.string())) {
    err << cmd << ": " << file.string() << ": expected a list file ending in .csv or .jsonl\n";
    return false;
  }
  if (std::string why = unreadable(file); !why.empty()) {
    err << cmd << ": " << file.string() << ": cannot read the list: " << why << "\n";
    return false;
  }
  const std::filesystem::path side = sidecar_path(file);
  if (std::string why = unreadable(side); !why.empty()) {
    err << cmd << ": " << side.string() << ": cannot read the sidecar of " << file.string()
        << ": " << why << " (every list needs NAME.toml next to it, with at least id and "
        << "owner_country)\n";
    return false;
  }
  return true;
}

ListSetLoad load_lists(const std::vector<std::filesystem::path>& files, const lists::Policy& policy,
                       std::string_view cmd, std::ostream& err) {
  ListSetLoad out;
  IndexBuilder builder;
  for (const auto& f : files) {
    if (!list_files_readable(f, cmd, err)) {
      out.unreadable = true;
      continue;
    }
    lists::FileLoad load = lists::load_file(f, policy, kNoStart);
    const lists::Report& r = load.report;
    if (r.fatal || r.rejected > 0) {  // the report of `anpr lists validate`, as diagnostics
      std::ostringstream text;
      lists::write_report_text(text, r);
      std::istringstream lines(text.str());
      for (std::string line; std::getline(lines, line);) err << cmd << ": " << line << "\n";
    }
    if (!r.ok()) {
      out.refused = true;
      continue;
    }
    out.rows += r.rows;
    out.rejected_rows += r.rejected;
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
                         const HitSink& sink, std::string_view cmd, std::ostream& err) {
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
      err << cmd << ": " << source << ":" << lineno << ": " << derr.reason << ": " << derr.detail << "\n";
      continue;
    }
    auto normalized = normalized_plates(ev, plates, raw);
    if (!normalized) {
      ++counts.rejected;
      err << cmd << ": " << source << ":" << lineno << ": " << to_string(normalized.error())
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
