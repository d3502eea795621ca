#include "lists/registry.h"
#include "lists/registry_detail.h"

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "base/json_writer.h"
#include "match/time.h"

namespace anpr::lists {

namespace fs = std::filesystem;

// ---- reports ----

void write_report_json(JsonWriter& w, const Report& r) {
  w.begin_object();
  w.field("file", r.file);
  w.field("list_id", r.list_id);
  w.field("ok", r.ok());
  w.field("rows", r.rows);
  w.field("accepted", r.accepted);
  w.field("rejected", r.rejected);
  w.field("rejected_percent", r.rejected_percent());
  w.field("threshold_percent", r.threshold_percent);
  w.field("over_threshold", r.over_threshold);
  w.field("expiring_24h", r.expiring_24h);
  w.key("rejected_by_reason");
  w.begin_object();
  for (const auto& [reason, n] : r.rejected_by_reason) w.field(reason, n);
  w.end_object();
  w.key("rejected_rows");
  w.begin_array();
  for (const RowError& e : r.rejected_rows) {
    w.begin_object();
    w.field("file", e.file);
    w.field("line", e.line);
    w.field("column", e.column);
    w.field("reason", e.reason);
    w.field("detail", e.detail);
    w.end_object();
  }
  w.end_array();
  w.field("rejected_rows_truncated", r.rejected_rows.size() < r.rejected);
  w.field("registry_exceptions", r.registry_exceptions);
  w.key("registry_exception_rows");
  w.begin_array();
  for (const RowError& e : r.registry_exception_rows) {
    w.begin_object();
    w.field("file", e.file);
    w.field("line", e.line);
    w.field("reason", e.reason);
    w.field("detail", e.detail);
    w.end_object();
  }
  w.end_array();
  w.key("fatal");
  if (r.fatal) {
    w.begin_object();
    w.field("file", r.fatal->file);
    w.field("line", r.fatal->line);
    w.field("column", r.fatal->column);
    w.field("message", r.fatal->message);
    w.end_object();
  } else {
    w.null();
  }
  w.end_object();
}

void write_report_text(std::ostream& out, const Report& r) {
  if (r.fatal) {
    out << to_string(*r.fatal) << "\n" << r.file << ": not loadable: nothing was read\n";
    return;
  }
  for (const RowError& e : r.rejected_rows) out << to_string(e) << "\n";
  for (const RowError& e : r.registry_exception_rows)
    out << e.file << ":" << e.line << ": registry_exception: accepted although " << e.reason
        << ": " << e.detail << "\n";
  if (r.rejected > r.rejected_rows.size())
    out << r.file << ": " << (r.rejected - r.rejected_rows.size())
        << " more rejected rows not listed\n";
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.2f", r.rejected_percent());
  out << r.file << ": list " << r.list_id << ": " << r.rows << " rows, " << r.accepted
      << " accepted, " << r.rejected << " rejected (" << pct << " %";
  for (const auto& [reason, n] : r.rejected_by_reason) out << "; " << reason << " " << n;
  out << "), " << r.expiring_24h << " expiring within 24 h";
  if (r.registry_exceptions > 0)
    out << ", " << r.registry_exceptions << " accepted as registry exceptions";
  out << "\n";
  if (r.over_threshold) {
    std::snprintf(pct, sizeof pct, "%g", r.threshold_percent);
    out << r.file << ": refused: more than " << pct
        << " % of the rows were rejected; the active version stays\n";
  }
}

namespace {

std::size_t count_expiring(const std::vector<ListEntry>& entries, TimestampMs now) {
  std::size_t n = 0;
  for (const ListEntry& e : entries)
    if (e.valid_until > now && e.valid_until <= now + kMsPerDay) ++n;
  return n;
}

}  // namespace

namespace detail {

uint32_t allowed_for(const std::vector<CountryRule>& rules, CountryCode owner) {
  for (const CountryRule& r : rules)
    if (r.country == owner) return r.categories;
  return ~uint32_t{0};
}

Report report_of(const ListLoad& load, std::string_view name, const Policy& policy,
                 TimestampMs now) {
  Report r;
  r.file = std::string(name);
  r.threshold_percent = policy.max_rejected_percent;
  if (load.fatal) {
    r.fatal = load.fatal;
    return r;
  }
  r.list_id = load.list->meta.id;
  r.rows = load.rows;
  r.rejected = load.rejected_count;
  r.accepted = load.list->entries.size();
  r.rejected_by_reason = load.rejected_by_reason;
  r.rejected_rows.assign(load.rejected.begin(),
                         load.rejected.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                     load.rejected.size(), policy.max_reported_rows)));
  r.over_threshold = static_cast<double>(r.rejected) * 100.0 >
                     policy.max_rejected_percent * static_cast<double>(r.rows);
  r.expiring_24h = count_expiring(load.list->entries, now);
  r.registry_exceptions = load.registry_exception_count;
  r.registry_exception_rows.assign(
      load.registry_exceptions.begin(),
      load.registry_exceptions.begin() +
          static_cast<std::ptrdiff_t>(
              std::min(load.registry_exceptions.size(), policy.max_reported_rows)));
  return r;
}

// Parses a sidecar and rows with the registry's checks.
ListLoad parse_list(const ListInput& in, const Policy& policy, TimestampMs now,
                    uint64_t* checksum) {
  fs::path side_name = in.name.empty() ? fs::path("upload.toml") : fs::path(in.name);
  side_name.replace_extension(".toml");
  SidecarParse side = parse_sidecar(in.sidecar, side_name.string());
  ListLoad out;
  if (side.error) {
    out.fatal = std::move(side.error);
    return out;
  }
  const uint64_t sum = combine(checksum64(in.sidecar), checksum64(in.rows));
  if (checksum) *checksum = sum;
  ListMeta meta = std::move(*side.meta);
  if (meta.version.empty()) meta.version = hex16(sum);
  meta.source = in.name;
  LoadOptions o;
  o.now = now;
  o.allowed_categories = allowed_for(policy.countries, meta.owner);
  o.max_row_errors = std::max<std::size_t>(policy.max_reported_rows, 1);
  return in.format == Format::jsonl ? load_list_jsonl_text(in.rows, in.name, std::move(meta), o)
                                    : load_list_text(in.rows, in.name, std::move(meta), o);
}

}  // namespace detail

using namespace detail;

FileLoad load_file(const fs::path& file, const Policy& policy, TimestampMs now) {
  FileLoad out;
  Report& r = out.report;
  r.file = file.string();
  r.threshold_percent = policy.max_rejected_percent;
  auto fmt = format_of_name(file.string());
  if (!fmt) {
    r.fatal = LoadError{file.string(), 0, 0, "expected a list file ending in .csv or .jsonl"};
    return out;
  }
  std::string why;
  const std::string rows = read_whole_file(file, why);
  if (!why.empty()) {
    r.fatal = LoadError{file.string(), 0, 0, "cannot read the list: " + why};
    return out;
  }
  const fs::path side = sidecar_path(file);
  out.sidecar = read_whole_file(side, why);
  if (!why.empty()) {
    r.fatal = LoadError{side.string(), 0, 0,
                        "cannot read the sidecar: " + why +
                            " (every list needs NAME.toml next to it, with at least id and "
                            "owner_country)"};
    return out;
  }
  ListInput in{out.sidecar, rows, *fmt, file.string()};
  uint64_t sum = 0;
  ListLoad load = parse_list(in, policy, now, &sum);
  out.report = report_of(load, file.string(), policy, now);
  out.checksum = hex16(sum);
  out.list = std::move(load.list);
  return out;
}

Report validate_file(const fs::path& file, const Policy& policy, TimestampMs now) {
  return load_file(file, policy, now).report;
}

}  // namespace anpr::lists
