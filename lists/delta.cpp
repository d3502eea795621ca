#include "lists/registry.h"
#include "lists/registry_detail.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "ingest/csv.h"
#include "match/plate.h"
#include "match/time.h"

namespace anpr::lists {

using namespace detail;

namespace fs = std::filesystem;

namespace {

uint64_t key_of(CountryCode c, const Plate& p) {
  return (uint64_t{c.raw()} << Plate::kKeyBits) | p.key();
}

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
      return failed(ChangeError::not_found, "no active list '" + std::string(id) + "'");
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
    return failed(ChangeError::invalid, to_string(*add.fatal), std::move(r));
  }
  std::vector<Removal> removals;
  ListLoad rem;
  parse_removals(in.remove, in.remove_format, in.remove_name, removals, rem);
  if (rem.fatal) {
    Report r;
    r.file = in.remove_name;
    r.fatal = rem.fatal;
    r.threshold_percent = policy_.max_rejected_percent;
    return failed(ChangeError::invalid, to_string(*rem.fatal), std::move(r));
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
    return failed(ChangeError::refused, buf, std::move(report));
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

}  // namespace anpr::lists
