#include "lists/registry.h"
#include "lists/registry_detail.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "base/private_files.h"
#include "match/plate.h"
#include "match/time.h"

namespace anpr::lists {

using namespace detail;

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

namespace detail {

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

}  // namespace detail

namespace {

std::string_view window_of(const ListMeta& m, TimestampMs now) {
  if (now < m.valid_from) return "not_yet";
  if (now >= m.valid_until) return "ended";
  return "open";
}

}  // namespace

// ---- the registry ----

Registry::Registry(LiveIndex& index, Policy policy, fs::path state_dir, Clock clock)
    : index_(index), policy_(std::move(policy)), dir_(std::move(state_dir)), clock_(std::move(clock)) {
  if (!dir_.empty()) {
    std::error_code ec;
    make_private_dir(dir_, ec);
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
    std::error_code ec;
    make_private_dir(list_dir(p.id), ec);
    if (ec) throw std::runtime_error("cannot create " + list_dir(p.id).string() + ": " + ec.message());
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

std::string_view to_string(ChangeError e) {
  switch (e) {
    case ChangeError::none:
      return "";
    case ChangeError::refused:
      return "refused";
    case ChangeError::invalid:
      return "invalid";
    case ChangeError::not_found:
      return "not_found";
    case ChangeError::conflict:
      return "conflict";
    case ChangeError::mismatch:
      return "mismatch";
  }
  return "";
}

namespace detail {
ChangeResult failed(ChangeError error, std::string detail, Report report) {
  ChangeResult r;
  r.error = error;
  r.detail = std::move(detail);
  r.report = std::move(report);
  return r;
}
}  // namespace detail

ChangeResult Registry::load(const ListInput& in, const Actor& who, std::string_view expect_id) {
  std::lock_guard change(change_mu_);
  const TimestampMs now = clock_();
  uint64_t sum = 0;
  ListLoad load = parse_list(in, policy_, now, &sum);
  Report report = report_of(load, in.name, policy_, now);
  if (report.fatal) return failed(ChangeError::invalid, to_string(*report.fatal), std::move(report));
  if (!expect_id.empty() && load.list->meta.id != expect_id)
    return failed(ChangeError::mismatch,
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
    return failed(ChangeError::refused, buf, std::move(report));
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

ChangeResult Registry::remove(std::string_view id, const Actor& who) {
  std::lock_guard change(change_mu_);
  {
    std::lock_guard lk(view_mu_);
    auto it = lists_.find(id);
    if (it == lists_.end() || !it->second->meta)
      return failed(ChangeError::not_found, "no active list '" + std::string(id) + "'");
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
    if (it == lists_.end()) return failed(ChangeError::not_found, "no list '" + std::string(id) + "'");
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
        return failed(ChangeError::conflict, "version " + std::to_string(to_seq) + " of '" +
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
        return failed(ChangeError::conflict, "'" + std::string(id) +
                                      "' has no stored earlier version to roll back to" +
                                      (dir_.empty() ? " (no state folder is configured)" : ""));
      target = h[i - 1];
    }
  }
  const fs::path file = list_dir(id) / ("v" + std::to_string(target.seq) + ".csv");
  LoadOptions o;
  o.now = clock_();  // entries expired since are dropped
  o.stored_version = true;
  ListLoad load = load_list(file, o);
  if (load.fatal)
    return failed(ChangeError::conflict, "the stored version " + std::to_string(target.seq) +
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
        return failed(ChangeError::not_found, "no active list '" + std::string(id) + "'");
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
