#include "lists/registry.h"
#include "lists/registry_detail.h"
#include "base/private_files.h"
#include "ingest/csv.h"

#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "base/json_writer.h"
#include "match/time.h"

namespace anpr::lists {

using namespace detail;

namespace fs = std::filesystem;

namespace detail {

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

}  // namespace detail

namespace {

// Writes `data` to `path` atomically: temporary file, fsync, rename, fsync of the folder.
void write_atomic(const fs::path& path, const std::function<void(std::FILE*)>& fill) {
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kPrivateFileMode);
  std::FILE* f = fd < 0 ? nullptr : ::fdopen(fd, "wb");
  if (fd >= 0 && !f) ::close(fd);
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

}  // namespace

void write_list_files(const ReferenceList& list, const fs::path& csv_path) {
  write_atomic(csv_path, [&](std::FILE* f) {
    put(f,
        "plate,plate_country,category,reference,valid_until,priority,action,note,"
        "registry_exception\n");
    std::string line;
    for (const ListEntry& e : list.entries) {
      put(f, e.plate.view());
      std::fputc(',', f);
      put(f, e.country.str());
      std::fputc(',', f);
      put(f, to_string(e.category));
      std::fputc(',', f);
      put_csv_field(f, stored_cell(e.reference));
      std::fputc(',', f);
      if (e.valid_until != kNoExpiry) put(f, format_rfc3339(e.valid_until));
      std::fputc(',', f);
      put(f, std::to_string(e.priority));
      std::fputc(',', f);
      put(f, to_string(e.action));
      std::fputc(',', f);
      put_csv_field(f, stored_cell(e.note));
      std::fputc(',', f);
      if (e.registry_exception) put(f, "yes");
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
  if (m.covert) {
    s += "covert = true\nrooms = [";
    for (std::size_t i = 0; i < m.rooms.size(); ++i)
      s += (i ? ", " : "") + toml_string(m.rooms[i]);
    s += "]\n";
  }
  write_atomic(toml, [&](std::FILE* f) { put(f, s); });
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
    // Only operators read this (serve/lists_api.cpp): they manage covert lists.
    w.field("covert", m.covert);
    w.key("rooms");
    w.begin_array();
    for (const std::string& r : m.rooms) w.value(r);
    w.end_array();
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

// ---- version history ----

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
      o.stored_version = true;
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

}  // namespace anpr::lists
