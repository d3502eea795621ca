#include "lists/registry.h"

#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "base/json_writer.h"
#include "ingest/csv.h"
#include "match/plate.h"
#include "match/time.h"

namespace anpr::lists {

namespace fs = std::filesystem;

TimestampMs system_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<Format> format_of_name(std::string_view name) {
  const auto ends = [&](std::string_view suffix) {
    if (name.size() < suffix.size()) return false;
    for (std::size_t i = 0; i < suffix.size(); ++i) {
      char c = name[name.size() - suffix.size() + i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != suffix[i]) return false;
    }
    return true;
  };
  std::string_view base = name.substr(0, name.find(';'));  // media type parameters
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  name = base;
  if (ends(".csv") || ends("text/csv")) return Format::csv;
  if (ends(".jsonl") || ends(".ndjson") || ends("application/x-ndjson") ||
      ends("application/jsonl") || ends("application/x-jsonlines"))
    return Format::jsonl;
  return std::nullopt;
}

std::string_view to_string(Format f) { return f == Format::csv ? "csv" : "jsonl"; }

namespace {

uint64_t key_of(CountryCode c, const Plate& p) {
  return (uint64_t{c.raw()} << Plate::kKeyBits) | p.key();
}

std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

uint64_t combine(uint64_t a, uint64_t b) {
  char buf[16];
  std::memcpy(buf, &a, 8);
  std::memcpy(buf + 8, &b, 8);
  return checksum64(std::string_view(buf, 16));
}

std::string read_whole_file(const fs::path& p, std::string& why) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    why = std::strerror(errno);
    return {};
  }
  std::string out;
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  if (size > 0) {
    out.resize(static_cast<std::size_t>(size));
    in.seekg(0);
    in.read(out.data(), size);
  }
  if (!in) why = "read error";
  return out;
}

// Writes `data` to `path` atomically: temporary file, fsync, rename, fsync of the folder.
void write_atomic(const fs::path& path, const std::function<void(std::FILE*)>& fill) {
  const fs::path tmp = path.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  static thread_local std::vector<char> buffer(1 << 20);
  std::setvbuf(f, buffer.data(), _IOFBF, buffer.size());
  fill(f);
  const bool ok = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  const int e = errno;
  std::fclose(f);
  if (!ok) {
    fs::remove(tmp);
    throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(e));
  }
  fs::rename(tmp, path);
  const int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void put(std::FILE* f, std::string_view s) { std::fwrite(s.data(), 1, s.size(), f); }

void put_csv_field(std::FILE* f, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return put(f, s);
  std::fputc('"', f);
  for (char c : s) {
    if (c == '"') std::fputc('"', f);
    std::fputc(c, f);
  }
  std::fputc('"', f);
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string_view window_of(const ListMeta& m, TimestampMs now) {
  if (now < m.valid_from) return "not_yet";
  if (now >= m.valid_until) return "ended";
  return "open";
}

}  // namespace

void write_list_files(const ReferenceList& list, const fs::path& csv_path) {
  write_atomic(csv_path, [&](std::FILE* f) {
    put(f, "plate,plate_country,category,reference,valid_until,priority,action,note\n");
    std::string line;
    for (const ListEntry& e : list.entries) {
      put(f, e.plate.view());
      std::fputc(',', f);
      put(f, e.country.str());
      std::fputc(',', f);
      put(f, to_string(e.category));
      std::fputc(',', f);
      put_csv_field(f, e.reference);
      std::fputc(',', f);
      if (e.valid_until != kNoExpiry) put(f, format_rfc3339(e.valid_until));
      std::fputc(',', f);
      put(f, std::to_string(e.priority));
      std::fputc(',', f);
      put(f, to_string(e.action));
      std::fputc(',', f);
      put_csv_field(f, e.note);
      std::fputc('\n', f);
    }
  });
  fs::path toml = csv_path;
  toml.replace_extension(".toml");
  const ListMeta& m = list.meta;
  std::string s;
  s += "id = " + toml_string(m.id) + "\n";
  s += "owner_country = " + toml_string(m.owner.str()) + "\n";
  s += "match_mode = " + toml_string(to_string(m.mode)) + "\n";
  s += "max_substitutions = " + std::to_string(m.max_substitutions) + "\n";
  if (m.default_category) s += "category = " + toml_string(to_string(*m.default_category)) + "\n";
  s += "action = " + toml_string(to_string(m.default_action)) + "\n";
  s += "priority = " + std::to_string(m.default_priority) + "\n";
  if (m.valid_from != kNoStart) s += "valid_from = " + toml_string(format_rfc3339(m.valid_from)) + "\n";
  if (m.valid_until != kNoExpiry)
    s += "valid_until = " + toml_string(format_rfc3339(m.valid_until)) + "\n";
  if (!m.version.empty()) s += "version = " + toml_string(m.version) + "\n";
  write_atomic(toml, [&](std::FILE* f) { put(f, s); });
}

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
  if (r.rejected > r.rejected_rows.size())
    out << r.file << ": " << (r.rejected - r.rejected_rows.size())
        << " more rejected rows not listed\n";
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.2f", r.rejected_percent());
  out << r.file << ": list " << r.list_id << ": " << r.rows << " rows, " << r.accepted
      << " accepted, " << r.rejected << " rejected (" << pct << " %";
  for (const auto& [reason, n] : r.rejected_by_reason) out << "; " << reason << " " << n;
  out << "), " << r.expiring_24h << " expiring within 24 h\n";
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

}  // namespace

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

// ---- JSON of versions and lists ----

void write_version_json(JsonWriter& w, const VersionInfo& v) {
  w.begin_object();
  w.field("seq", v.seq);
  w.field("kind", v.kind);
  w.field("version", v.version);
  w.field("checksum", v.checksum);
  w.field("rows", v.rows);
  w.field("accepted", v.accepted);
  w.field("rejected", v.rejected);
  w.field("entries", v.entries);
  w.field("added", v.added);
  w.field("updated", v.updated);
  w.field("removed", v.removed);
  w.field("who", v.who);
  w.field("role", v.role);
  w.field("at", format_rfc3339(v.at));
  w.field("source", v.source);
  w.field("restored_seq", v.restored_seq);
  w.field("stored", v.stored);
  w.end_object();
}

void write_list_json(JsonWriter& w, const ListView& v, bool with_history) {
  w.begin_object();
  w.field("id", v.id);
  w.field("active", v.active);
  if (v.meta) {
    const ListMeta& m = *v.meta;
    w.field("owner_country", m.owner.str());
    w.field("match_mode", to_string(m.mode));
    w.field("max_substitutions", static_cast<unsigned>(m.max_substitutions));
    w.key("default_category");
    if (m.default_category)
      w.value(to_string(*m.default_category));
    else
      w.null();
    w.field("default_action", to_string(m.default_action));
    w.field("default_priority", static_cast<unsigned>(m.default_priority));
    w.key("valid_from");
    if (m.valid_from == kNoStart)
      w.null();
    else
      w.value(format_rfc3339(m.valid_from));
    w.key("valid_until");
    if (m.valid_until == kNoExpiry)
      w.null();
    else
      w.value(format_rfc3339(m.valid_until));
    w.field("window", v.window);
    w.field("version", m.version);
  }
  w.field("entries", v.entries);
  w.field("expiring_24h", v.expiring_24h);
  w.key("current");
  write_version_json(w, v.current);
  if (with_history) {
    w.key("versions");
    w.begin_array();
    for (const VersionInfo& h : v.history) write_version_json(w, h);
    w.end_array();
  }
  w.end_object();
}

// ---- the registry ----

struct Registry::ListState {
  std::string id;
  std::optional<ListMeta> meta;  // the active version's metadata; nullopt when deleted
  std::string checksum;          // the active version's
  uint64_t active_seq = 0;       // 0 = none
  uint64_t last_seq = 0;
  std::vector<VersionInfo> history;  // oldest first
};

struct Registry::Pending {
  std::string id;
  std::optional<ReferenceList> list;  // the new contents; nullopt = delete
  VersionInfo info;
  std::string checksum;
};

Registry::Registry(LiveIndex& index, Policy policy, fs::path state_dir, Clock clock)
    : index_(index), policy_(std::move(policy)), dir_(std::move(state_dir)), clock_(std::move(clock)) {
  if (!dir_.empty()) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) throw std::runtime_error("cannot create " + dir_.string() + ": " + ec.message());
  }
}

Registry::~Registry() = default;

fs::path Registry::list_dir(std::string_view id) const {
  // Ids come from validated sidecars; a ListId never leaves the state folder.
  if (!ListId::valid(id)) throw std::invalid_argument("not a list id");
  return dir_ / std::string(id);
}

LoadOptions Registry::load_options(CountryCode owner) const {
  LoadOptions o;
  o.now = clock_();
  o.allowed_categories = allowed_for(policy_.countries, owner);
  o.max_row_errors = std::max<std::size_t>(policy_.max_reported_rows, 1);
  return o;
}

Report Registry::make_report(const ListLoad& load, std::string_view name) const {
  return report_of(load, name, policy_, clock_());
}

Report Registry::validate(const ListInput& in) const {
  const TimestampMs now = clock_();
  return report_of(parse_list(in, policy_, now, nullptr), in.name, policy_, now);
}

ReferenceList Registry::entries_of(const Snapshot& s, std::string_view id) const {
  ReferenceList out;
  int l = -1;
  for (std::size_t i = 0; i < s.list_count(); ++i)
    if (s.list(static_cast<uint16_t>(i)).id == id) l = static_cast<int>(i);
  if (l < 0) return out;
  out.meta = s.list(static_cast<uint16_t>(l));
  for (uint32_t e = 0; e < s.entry_count(); ++e) {
    if (s.entry_list(e) != l) continue;
    ListEntry x;
    x.plate = s.entry_plate(e);
    x.country = s.entry_country(e);
    x.category = s.entry_category(e);
    x.action = s.entry_action(e);
    x.priority = s.entry_priority(e);
    x.valid_until = s.entry_valid_until(e);
    x.reference = s.entry_reference(e);
    x.note = s.entry_note(e);
    out.entries.push_back(std::move(x));
  }
  return out;
}

std::unique_ptr<Snapshot> Registry::build(
    const std::map<std::string, const ReferenceList*, std::less<>>& replace) {
  const std::shared_ptr<const Snapshot> cur = index_.current();
  const TimestampMs now = clock_();
  IndexBuilder b(cur ? cur->confusion() : ConfusionClasses{});
  TimestampMs next_expiry = kNoExpiry;
  std::size_t reserve = 0, text = 0;
  for (const auto& [id, list] : replace)
    if (list) {
      reserve += list->entries.size();
      for (const ListEntry& e : list->entries) text += e.reference.size() + e.note.size() + 4;
    }
  if (cur) {
    reserve += cur->entry_count();
    text += cur->stats().string_bytes;
  }
  b.reserve(reserve, text);
  const auto add = [&](uint16_t l, const ListEntry& e) {
    if (e.valid_until <= now) return;  // expired: dropped at this build
    next_expiry = std::min(next_expiry, e.valid_until);
    b.add(l, e);
  };
  // Kept lists, in their current order, then the replaced and new ones by id.
  std::vector<int> map;
  if (cur) {
    map.assign(cur->list_count(), -1);
    for (std::size_t i = 0; i < cur->list_count(); ++i) {
      const ListMeta& m = cur->list(static_cast<uint16_t>(i));
      if (replace.find(m.id) != replace.end()) continue;
      map[i] = b.add_list(m);
    }
    for (uint32_t e = 0; e < cur->entry_count(); ++e) {
      const int l = map[cur->entry_list(e)];
      if (l < 0) continue;
      const TimestampMs until = cur->entry_valid_until(e);
      if (until <= now) continue;
      next_expiry = std::min(next_expiry, until);
      b.add(static_cast<uint16_t>(l), cur->entry_plate(e), cur->entry_country(e),
            cur->entry_category(e), cur->entry_action(e), cur->entry_priority(e), until,
            cur->entry_reference(e), cur->entry_note(e));
    }
  }
  for (const auto& [id, list] : replace) {
    if (!list) continue;
    const uint16_t l = b.add_list(list->meta);
    for (const ListEntry& e : list->entries) add(l, e);
  }
  next_expiry_ = next_expiry;
  return b.build();
}

void Registry::persist_history(const ListState& st) const {
  if (dir_.empty()) return;
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("list_id", st.id);
  w.field("active_seq", st.active_seq);
  w.field("last_seq", st.last_seq);
  w.field("checksum", st.checksum);
  w.key("versions");
  w.begin_array();
  for (const VersionInfo& v : st.history) write_version_json(w, v);
  w.end_array();
  w.end_object();
  body += '\n';
  write_atomic(list_dir(st.id) / "versions.json", [&](std::FILE* f) { put(f, body); });
}

void Registry::commit(Pending& p) {
  // Called with change_mu_ held.
  std::unique_ptr<ListState> fresh;
  ListState* st;
  {
    std::lock_guard lk(view_mu_);
    auto it = lists_.find(p.id);
    if (it == lists_.end()) {
      fresh = std::make_unique<ListState>();
      fresh->id = p.id;
      st = fresh.get();
    } else {
      st = it->second.get();
    }
  }
  // The new state, prepared aside; installed after the index is published.
  ListState next = *st;
  VersionInfo& v = p.info;
  v.seq = next.last_seq + 1;
  v.at = clock_();
  v.entries = p.list ? p.list->entries.size() : 0;
  v.checksum = p.checksum;
  if (p.list) v.version = p.list->meta.version;
  if (!dir_.empty()) {
    fs::create_directories(list_dir(p.id));
    if (p.list) {
      write_list_files(*p.list, list_dir(p.id) / ("v" + std::to_string(v.seq) + ".csv"));
      v.stored = true;
    }
  }
  next.last_seq = v.seq;
  next.active_seq = p.list ? v.seq : 0;
  next.checksum = p.list ? p.checksum : "";
  next.meta = p.list ? std::optional<ListMeta>(p.list->meta) : std::nullopt;
  next.history.push_back(v);
  std::vector<uint64_t> dropped;
  while (next.history.size() > std::max<std::size_t>(policy_.keep_versions, 1)) {
    if (next.history.front().stored) dropped.push_back(next.history.front().seq);
    next.history.erase(next.history.begin());
  }
  persist_history(next);
  for (uint64_t seq : dropped) {
    std::error_code ec;
    fs::remove(list_dir(p.id) / ("v" + std::to_string(seq) + ".csv"), ec);
    fs::remove(list_dir(p.id) / ("v" + std::to_string(seq) + ".toml"), ec);
  }

  std::map<std::string, const ReferenceList*, std::less<>> replace;
  replace[p.id] = p.list ? &*p.list : nullptr;
  std::shared_ptr<const Snapshot> snap(build(replace));
  std::lock_guard lk(view_mu_);
  index_.publish(std::move(snap));
  *st = std::move(next);
  if (fresh) lists_.emplace(p.id, std::move(fresh));
}

namespace {
ChangeResult failed(std::string error, std::string detail, Report report = {}) {
  ChangeResult r;
  r.error = std::move(error);
  r.detail = std::move(detail);
  r.report = std::move(report);
  return r;
}
}  // namespace

ChangeResult Registry::load(const ListInput& in, const Actor& who, std::string_view expect_id) {
  std::lock_guard change(change_mu_);
  const TimestampMs now = clock_();
  uint64_t sum = 0;
  ListLoad load = parse_list(in, policy_, now, &sum);
  Report report = report_of(load, in.name, policy_, now);
  if (report.fatal) return failed("invalid", to_string(*report.fatal), std::move(report));
  if (!expect_id.empty() && load.list->meta.id != expect_id)
    return failed("mismatch",
                  "the sidecar's id '" + load.list->meta.id + "' is not the list addressed ('" +
                      std::string(expect_id) + "')",
                  std::move(report));
  if (report.over_threshold) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "%zu of %zu rows rejected (%.2f %%, more than the %g %% allowed): the load is "
                  "refused and the active version stays",
                  report.rejected, report.rows, report.rejected_percent(),
                  report.threshold_percent);
    return failed("refused", buf, std::move(report));
  }
  Pending p;
  p.id = load.list->meta.id;
  p.checksum = hex16(sum);
  p.info.kind = "load";
  p.info.rows = report.rows;
  p.info.accepted = report.accepted;
  p.info.rejected = report.rejected;
  p.info.who = who.who;
  p.info.role = who.role;
  p.info.source = in.name;
  p.list = std::move(*load.list);
  commit(p);
  ChangeResult r;
  r.report = std::move(report);
  r.version = p.info;
  return r;
}

namespace {

struct Removal {
  uint64_t key;
  std::size_t line;
};

// Reads the rows to remove: plate and (optional) plate_country of each.
void parse_removals(std::string_view text, Format fmt, const std::string& name,
                    std::vector<Removal>& out, ListLoad& report) {
  const auto reject = [&](std::size_t line, std::string column, std::string reason,
                          std::string detail) {
    ++report.rejected_count;
    ++report.rejected_by_reason[reason];
    report.rejected.push_back(
        RowError{name, line, std::move(column), std::move(reason), std::move(detail)});
  };
  const auto one = [&](std::size_t line, std::string_view plate_text,
                       std::string_view country_text) {
    while (!country_text.empty() && (country_text.front() == ' ' || country_text.front() == '\t'))
      country_text.remove_prefix(1);
    while (!country_text.empty() && (country_text.back() == ' ' || country_text.back() == '\t'))
      country_text.remove_suffix(1);
    auto plate = normalize(plate_text);
    if (!plate)
      return reject(line, "plate", std::string(to_string(plate.error())),
                    "the plate cannot be normalised to 1..10 letters and digits");
    auto country = CountryCode::parse_or_unknown(country_text);
    if (!country)
      return reject(line, "plate_country", "country_invalid",
                    "not an ISO 3166-1 alpha-2 code: expected " + std::string(CountryCode::kRule) +
                        ", or empty for an entry of any country");
    out.push_back(Removal{key_of(*country, *plate), line});
  };
  if (fmt == Format::csv) {
    CsvReader reader(text);
    std::vector<std::string_view> f;
    CsvError err;
    if (reader.next(f, err) != CsvStatus::record) {
      if (!text.empty())
        report.fatal = LoadError{name, err.line, err.column,
                                 "bad header line: expected at least the column plate"};
      return;
    }
    int plate_col = -1, country_col = -1;
    for (std::size_t i = 0; i < f.size(); ++i) {
      std::string n(f[i]);
      for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      while (!n.empty() && n.back() == ' ') n.pop_back();
      while (!n.empty() && n.front() == ' ') n.erase(0, 1);
      if (n == "plate") plate_col = static_cast<int>(i);
      if (n == "plate_country") country_col = static_cast<int>(i);
    }
    if (plate_col < 0) {
      report.fatal = LoadError{name, reader.line(), 0,
                               "missing required column 'plate' in the header of the rows to "
                               "remove (plate_country is optional)"};
      return;
    }
    const std::size_t width = f.size();
    for (;;) {
      const CsvStatus st = reader.next(f, err);
      if (st == CsvStatus::end) break;
      ++report.rows;
      if (st == CsvStatus::error) {
        reject(reader.line(), "", "csv_syntax",
               std::string(to_string(err.code)) + ": " + err.message());
        continue;
      }
      if (f.size() != width) {
        reject(reader.line(), "", "field_count",
               std::to_string(f.size()) + " fields, expected " + std::to_string(width) +
                   " as in the header");
        continue;
      }
      one(reader.line(), f[static_cast<std::size_t>(plate_col)],
          country_col < 0 ? std::string_view{} : f[static_cast<std::size_t>(country_col)]);
    }
    return;
  }
  simdjson::dom::parser json;
  std::size_t pos = 0, line = 0;
  while (pos < text.size()) {
    ++line;
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view l = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (l.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    ++report.rows;
    simdjson::dom::element doc;
    std::string_view plate, country;
    if (json.parse(l.data(), l.size(), true).get(doc) != simdjson::SUCCESS ||
        !doc.is_object()) {
      reject(line, "", "json_syntax", "not a JSON object: expected {\"plate\":...} per line");
      continue;
    }
    if (doc["plate"].get_string().get(plate) != simdjson::SUCCESS) {
      reject(line, "plate", "plate_empty", "missing or not a string: every row needs its plate");
      continue;
    }
    auto c = doc["plate_country"];
    if (!c.error() && !c.is_null() && c.get_string().get(country) != simdjson::SUCCESS) {
      reject(line, "plate_country", "country_invalid", "not a string");
      continue;
    }
    one(line, plate, country);
  }
}

}  // namespace

ChangeResult Registry::delta(std::string_view id, const DeltaInput& in, const Actor& who) {
  std::lock_guard change(change_mu_);
  std::optional<ListMeta> meta;
  std::string base_checksum;
  {
    std::lock_guard lk(view_mu_);
    auto it = lists_.find(id);
    if (it == lists_.end() || !it->second->meta)
      return failed("not_found", "no active list '" + std::string(id) + "'");
    meta = it->second->meta;
    base_checksum = it->second->checksum;
  }
  const TimestampMs now = clock_();
  ListMeta add_meta = *meta;
  ListLoad add;
  {
    LoadOptions o = load_options(meta->owner);
    o.now = now;
    if (in.add.empty()) {
      add.list = ReferenceList{add_meta, {}};
    } else if (in.add_format == Format::jsonl) {
      add = load_list_jsonl_text(in.add, in.add_name, add_meta, o);
    } else {
      add = load_list_text(in.add, in.add_name, add_meta, o);
    }
  }
  if (add.fatal) {
    Report r = make_report(add, in.add_name);
    return failed("invalid", to_string(*add.fatal), std::move(r));
  }
  std::vector<Removal> removals;
  ListLoad rem;
  parse_removals(in.remove, in.remove_format, in.remove_name, removals, rem);
  if (rem.fatal) {
    Report r;
    r.file = in.remove_name;
    r.fatal = rem.fatal;
    r.threshold_percent = policy_.max_rejected_percent;
    return failed("invalid", to_string(*rem.fatal), std::move(r));
  }

  ReferenceList base = entries_of(*index_.current(), id);
  base.meta = *meta;
  std::unordered_map<uint64_t, std::size_t> where;
  where.reserve(base.entries.size() + add.list->entries.size());
  for (std::size_t i = 0; i < base.entries.size(); ++i)
    where.emplace(key_of(base.entries[i].country, base.entries[i].plate), i);
  std::vector<bool> drop(base.entries.size(), false);
  std::size_t removed = 0;
  {
    std::unordered_map<uint64_t, std::size_t> seen;
    for (const Removal& r : removals) {
      auto [it, first] = seen.emplace(r.key, r.line);
      auto w = where.find(r.key);
      if (!first) {
        ++rem.rejected_count;
        ++rem.rejected_by_reason["duplicate"];
        rem.rejected.push_back(RowError{in.remove_name, r.line, "plate", "duplicate",
                                        "same plate_country and plate as line " +
                                            std::to_string(it->second) + ", which is kept"});
      } else if (w == where.end()) {
        ++rem.rejected_count;
        ++rem.rejected_by_reason["not_listed"];
        rem.rejected.push_back(RowError{
            in.remove_name, r.line, "plate", "not_listed",
            "no entry of the active version has this plate_country and plate: nothing to remove"});
      } else {
        drop[w->second] = true;
        ++removed;
      }
    }
  }
  // One report over both inputs.
  Report report = make_report(add, in.add_name);
  report.file = in.add_name + (in.remove.empty() ? "" : "+" + in.remove_name);
  report.rows += rem.rows;
  report.rejected += rem.rejected_count;
  for (const auto& [k, n] : rem.rejected_by_reason) report.rejected_by_reason[k] += n;
  for (const RowError& e : rem.rejected)
    if (report.rejected_rows.size() < policy_.max_reported_rows) report.rejected_rows.push_back(e);
  report.over_threshold = static_cast<double>(report.rejected) * 100.0 >
                          policy_.max_rejected_percent * static_cast<double>(report.rows);
  if (report.over_threshold) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "%zu of %zu rows rejected (%.2f %%, more than the %g %% allowed): the delta is "
                  "refused and the active version stays",
                  report.rejected, report.rows, report.rejected_percent(),
                  report.threshold_percent);
    return failed("refused", buf, std::move(report));
  }

  std::size_t added = 0, updated = 0;
  std::vector<ListEntry> appended;
  for (ListEntry& e : add.list->entries) {
    auto w = where.find(key_of(e.country, e.plate));
    if (w != where.end() && !drop[w->second]) {
      base.entries[w->second] = std::move(e);
      ++updated;
    } else {
      appended.push_back(std::move(e));
      ++added;
    }
  }
  if (removed) {
    std::size_t k = 0;
    for (std::size_t i = 0; i < base.entries.size(); ++i)
      if (!drop[i]) {
        if (k != i) base.entries[k] = std::move(base.entries[i]);  // never a self-move
        ++k;
      }
    base.entries.resize(k);
  }
  for (ListEntry& e : appended) base.entries.push_back(std::move(e));

  const uint64_t sum = combine(
      combine(std::strtoull(base_checksum.c_str(), nullptr, 16), checksum64(in.add)),
      checksum64(in.remove));
  base.meta.version = hex16(sum);
  Pending p;
  p.id = std::string(id);
  p.checksum = hex16(sum);
  p.info.kind = "delta";
  p.info.rows = report.rows;
  p.info.accepted = report.rows - report.rejected;
  p.info.rejected = report.rejected;
  p.info.added = added;
  p.info.updated = updated;
  p.info.removed = removed;
  p.info.who = who.who;
  p.info.role = who.role;
  p.info.source = report.file;
  p.list = std::move(base);
  commit(p);
  ChangeResult r;
  r.report = std::move(report);
  r.version = p.info;
  return r;
}

ChangeResult Registry::remove(std::string_view id, const Actor& who) {
  std::lock_guard change(change_mu_);
  {
    std::lock_guard lk(view_mu_);
    auto it = lists_.find(id);
    if (it == lists_.end() || !it->second->meta)
      return failed("not_found", "no active list '" + std::string(id) + "'");
  }
  Pending p;
  p.id = std::string(id);
  p.info.kind = "delete";
  p.info.who = who.who;
  p.info.role = who.role;
  commit(p);
  ChangeResult r;
  r.report.list_id = p.id;
  r.version = p.info;
  return r;
}

ChangeResult Registry::rollback(std::string_view id, uint64_t to_seq, const Actor& who) {
  std::lock_guard change(change_mu_);
  VersionInfo target;
  {
    std::lock_guard lk(view_mu_);
    auto it = lists_.find(id);
    if (it == lists_.end()) return failed("not_found", "no list '" + std::string(id) + "'");
    const ListState& st = *it->second;
    const auto& h = st.history;
    bool found = false;
    if (to_seq != 0) {
      for (const VersionInfo& v : h)
        if (v.seq == to_seq && v.stored && v.seq != st.active_seq) {
          target = v;
          found = true;
        }
      if (!found)
        return failed("conflict", "version " + std::to_string(to_seq) + " of '" +
                                      std::string(id) +
                                      "' is not a stored earlier version (see its versions)");
    } else {
      // The stored version before the active one (or the latest stored one after a delete).
      std::size_t i = h.size();
      if (st.active_seq != 0)
        while (i > 0 && h[i - 1].seq != st.active_seq) --i;
      if (i > 0) --i;  // skip the active one
      if (st.active_seq == 0) i = h.size();
      while (i > 0 && !(h[i - 1].stored && h[i - 1].seq != st.active_seq)) --i;
      if (i == 0)
        return failed("conflict", "'" + std::string(id) +
                                      "' has no stored earlier version to roll back to" +
                                      (dir_.empty() ? " (no state folder is configured)" : ""));
      target = h[i - 1];
    }
  }
  const fs::path file = list_dir(id) / ("v" + std::to_string(target.seq) + ".csv");
  LoadOptions o;
  o.now = clock_();  // entries expired since are dropped
  ListLoad load = load_list(file, o);
  if (load.fatal)
    return failed("conflict", "the stored version " + std::to_string(target.seq) +
                                  " cannot be read: " + to_string(*load.fatal));
  Report report = make_report(load, file.filename().string());
  report.over_threshold = false;
  Pending p;
  p.id = std::string(id);
  p.checksum = target.checksum;
  p.info.kind = "rollback";
  p.info.rows = report.rows;
  p.info.accepted = report.accepted;
  p.info.rejected = report.rejected;
  p.info.who = who.who;
  p.info.role = who.role;
  p.info.restored_seq = target.seq;
  p.info.source = "version " + std::to_string(target.seq);
  p.list = std::move(*load.list);
  commit(p);
  ChangeResult r;
  r.report = std::move(report);
  r.version = p.info;
  return r;
}

ChangeResult Registry::apply_published(std::string_view id, std::optional<ReferenceList> list,
                                       std::string_view checksum, const Actor& who) {
  std::lock_guard change(change_mu_);
  Pending p;
  p.id = std::string(id);
  p.checksum = std::string(checksum);
  p.info.who = who.who;
  p.info.role = who.role;
  p.info.source = "topic";
  if (!list) {
    {
      std::lock_guard lk(view_mu_);
      auto it = lists_.find(id);
      if (it == lists_.end() || !it->second->meta)
        return failed("not_found", "no active list '" + std::string(id) + "'");
    }
    p.info.kind = "delete";
  } else {
    p.info.kind = "topic";
    p.info.rows = p.info.accepted = list->entries.size();
    p.list = std::move(list);
  }
  commit(p);
  ChangeResult r;
  r.report.list_id = p.id;
  r.version = p.info;
  return r;
}

bool Registry::maintain() {
  // A change in progress rebuilds anyway; do not wait for it.
  std::unique_lock change(change_mu_, std::try_to_lock);
  if (!change.owns_lock() || next_expiry_ > clock_()) return false;
  std::shared_ptr<const Snapshot> snap(build({}));
  std::lock_guard lk(view_mu_);
  index_.publish(std::move(snap));
  return true;
}

// ---- restore and config files ----

namespace {

bool read_version(simdjson::dom::element el, VersionInfo& v) {
  const auto str = [&](const char* k, std::string& out) {
    std::string_view s;
    if (el[k].get_string().get(s) != simdjson::SUCCESS) return false;
    out = s;
    return true;
  };
  const auto num = [&](const char* k, auto& out) {
    uint64_t n = 0;
    if (el[k].get_uint64().get(n) != simdjson::SUCCESS) return false;
    out = static_cast<std::remove_reference_t<decltype(out)>>(n);
    return true;
  };
  std::string at;
  bool ok = num("seq", v.seq) && str("kind", v.kind) && str("version", v.version) &&
            str("checksum", v.checksum) && num("rows", v.rows) && num("accepted", v.accepted) &&
            num("rejected", v.rejected) && num("entries", v.entries) && num("added", v.added) &&
            num("updated", v.updated) && num("removed", v.removed) && str("who", v.who) &&
            str("role", v.role) && str("at", at) && str("source", v.source) &&
            num("restored_seq", v.restored_seq);
  bool stored = false;
  if (el["stored"].get_bool().get(stored) != simdjson::SUCCESS) return false;
  v.stored = stored;
  auto t = parse_rfc3339(at);
  if (!t) return false;
  v.at = *t;
  return ok;
}

}  // namespace

std::size_t Registry::restore(std::ostream& log) {
  std::lock_guard change(change_mu_);
  if (dir_.empty() || !fs::is_directory(dir_)) return 0;
  std::vector<std::unique_ptr<ListState>> states;
  std::vector<ReferenceList> contents;
  std::vector<fs::path> dirs;
  for (const auto& d : fs::directory_iterator(dir_))
    if (d.is_directory()) dirs.push_back(d.path());
  std::sort(dirs.begin(), dirs.end());
  for (const fs::path& d : dirs) {
    const fs::path vf = d / "versions.json";
    if (!fs::exists(vf)) continue;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    auto st = std::make_unique<ListState>();
    bool ok = parser.load(vf.string()).get(doc) == simdjson::SUCCESS;
    std::string_view sv;
    uint64_t n = 0;
    ok = ok && doc["list_id"].get_string().get(sv) == simdjson::SUCCESS;
    if (ok) st->id = sv;
    ok = ok && doc["active_seq"].get_uint64().get(n) == simdjson::SUCCESS;
    st->active_seq = n;
    ok = ok && doc["last_seq"].get_uint64().get(n) == simdjson::SUCCESS;
    st->last_seq = n;
    ok = ok && doc["checksum"].get_string().get(sv) == simdjson::SUCCESS;
    if (ok) st->checksum = sv;
    simdjson::dom::array arr;
    ok = ok && doc["versions"].get_array().get(arr) == simdjson::SUCCESS;
    if (ok)
      for (auto el : arr) {
        VersionInfo v;
        if (!read_version(el, v)) {
          ok = false;
          break;
        }
        st->history.push_back(std::move(v));
      }
    if (!ok || st->id != d.filename().string()) {
      log << vf.string() << ": damaged list history: the list is not restored\n";
      continue;
    }
    if (st->active_seq != 0) {
      const fs::path file = d / ("v" + std::to_string(st->active_seq) + ".csv");
      LoadOptions o;
      o.now = clock_();
      ListLoad load = load_list(file, o);
      if (load.fatal) {
        log << to_string(*load.fatal) << ": the list is not restored\n";
        continue;
      }
      if (load.rejected_count > 0)
        log << file.string() << ": " << load.rejected_count
            << " entries expired since they were stored and are dropped\n";
      st->meta = load.list->meta;
      contents.push_back(std::move(*load.list));
    }
    states.push_back(std::move(st));
  }
  std::map<std::string, const ReferenceList*, std::less<>> replace;
  for (const ReferenceList& l : contents) replace[l.meta.id] = &l;
  std::shared_ptr<const Snapshot> snap(build(replace));
  std::lock_guard lk(view_mu_);
  index_.publish(std::move(snap));
  const std::size_t n = states.size();
  for (auto& s : states) lists_[s->id] = std::move(s);
  return n;
}

bool Registry::import_config_file(const fs::path& file, std::ostream& log) {
  Report r;
  auto fmt = format_of_name(file.string());
  std::string why;
  const std::string rows = read_whole_file(file, why);
  const fs::path side = sidecar_path(file);
  std::string sidecar;
  if (why.empty()) sidecar = read_whole_file(side, why);
  if (!fmt || !why.empty()) {
    log << file.string() << ": cannot read the list or its sidecar"
        << (why.empty() ? "" : ": " + why) << "\n";
    return false;
  }
  ListInput in{sidecar, rows, *fmt, file.string()};
  std::lock_guard change(change_mu_);
  const TimestampMs now = clock_();
  uint64_t sum = 0;
  ListLoad load = parse_list(in, policy_, now, &sum);
  r = report_of(load, in.name, policy_, now);
  if (r.fatal) {
    log << to_string(*r.fatal) << "\n";
    return false;
  }
  for (const RowError& e : r.rejected_rows) log << to_string(e) << "\n";
  if (r.rejected > r.rejected_rows.size())
    log << file.string() << ": " << (r.rejected - r.rejected_rows.size())
        << " more rejected rows not shown\n";
  const std::string checksum = hex16(sum);
  {
    std::lock_guard lk(view_mu_);
    auto it = lists_.find(load.list->meta.id);
    if (it != lists_.end())
      for (const VersionInfo& v : it->second->history)
        if (v.kind == "config" && v.source == file.string() && v.checksum == checksum) {
          log << file.string() << ": list " << it->first
              << " unchanged since it was loaded; keeping its active version\n";
          return true;
        }
  }
  Pending p;
  p.id = load.list->meta.id;
  p.checksum = checksum;
  p.info.kind = "config";
  p.info.rows = r.rows;
  p.info.accepted = r.accepted;
  p.info.rejected = r.rejected;
  p.info.who = "config";
  p.info.role = "config";
  p.info.source = file.string();
  p.list = std::move(*load.list);
  commit(p);
  return true;
}

// ---- views ----

ListView Registry::view_of(const ListState& st, const Snapshot& s, TimestampMs now) const {
  ListView v;
  v.id = st.id;
  v.active = st.meta.has_value();
  v.meta = st.meta;
  if (!st.history.empty()) v.current = st.history.back();
  v.history.assign(st.history.rbegin(), st.history.rend());
  if (st.meta) v.window = window_of(*st.meta, now);
  int l = -1;
  for (std::size_t i = 0; i < s.list_count(); ++i)
    if (s.list(static_cast<uint16_t>(i)).id == st.id) l = static_cast<int>(i);
  if (l >= 0)
    for (uint32_t e = 0; e < s.entry_count(); ++e) {
      if (s.entry_list(e) != l) continue;
      const TimestampMs until = s.entry_valid_until(e);
      if (until <= now) continue;
      ++v.entries;
      if (until <= now + kMsPerDay) ++v.expiring_24h;
    }
  return v;
}

std::vector<ListView> Registry::lists() const {
  std::lock_guard lk(view_mu_);
  const auto snap = index_.current();
  const TimestampMs now = clock_();
  std::vector<ListView> out;
  // One pass over the entries for every list.
  std::vector<std::size_t> entries(snap->list_count()), expiring(snap->list_count());
  for (uint32_t e = 0; e < snap->entry_count(); ++e) {
    const TimestampMs until = snap->entry_valid_until(e);
    if (until <= now) continue;
    ++entries[snap->entry_list(e)];
    if (until <= now + kMsPerDay) ++expiring[snap->entry_list(e)];
  }
  for (const auto& [id, st] : lists_) {
    ListView v;
    v.id = id;
    v.active = st->meta.has_value();
    v.meta = st->meta;
    if (!st->history.empty()) v.current = st->history.back();
    if (st->meta) v.window = window_of(*st->meta, now);
    for (std::size_t i = 0; i < snap->list_count(); ++i)
      if (snap->list(static_cast<uint16_t>(i)).id == id) {
        v.entries = entries[i];
        v.expiring_24h = expiring[i];
      }
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<ListView> Registry::show(std::string_view id) const {
  std::lock_guard lk(view_mu_);
  auto it = lists_.find(id);
  if (it == lists_.end()) return std::nullopt;
  return view_of(*it->second, *index_.current(), clock_());
}

}  // namespace anpr::lists
