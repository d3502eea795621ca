#include "ingest/list_file.h"
#include "ingest/list_file_detail.h"

#include <simdjson.h>
#include <tbb/parallel_sort.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/utf8.h"
#include "ingest/csv.h"
#include "match/formats.h"
#include "match/plate.h"
#include "match/registry_rules.h"
#include "match/time.h"

namespace anpr::detail {
namespace {

bool valid_utf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

// "0".."100" with optional leading zeros; nothing else.
std::optional<uint8_t> parse_priority(std::string_view s) {
  if (s.empty() || s.size() > 3) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > kMaxPriority) return std::nullopt;
  return static_cast<uint8_t>(v);
}

std::string_view format_examples(CountryCode c) {
  if (c == kNL) return "one of the NL sidecodes 1-14, e.g. XX-99-XX or 99-XXX-9";
  if (c == kBE) return "a BE format, e.g. 1-ABC-123, ABC-123 or a personalised plate";
  if (c == kLU) return "a LU format, e.g. AB 1234, P 1234 or 12345";
  return "a plate of that country";
}

}  // namespace

std::optional<RowProblem> RowParser::parse(const std::vector<std::string_view>& f,
                                           ListEntry& e,
                                           std::optional<RowProblem>& overridden) const {
  const auto get = [&](Column c) -> std::string_view {
    return index_[c] < 0 ? std::string_view{} : f[static_cast<std::size_t>(index_[c])];
  };

  auto plate = normalize(trim(get(kPlate)));
  if (!plate) return RowProblem{kPlate, to_string(plate.error()), plate_detail(plate.error())};

  const std::string_view country_text = trim(get(kPlateCountry));
  auto country = CountryCode::parse_or_unknown(country_text);
  if (!country)
    return RowProblem{kPlateCountry, "country_invalid",
                      show_value(country_text) + " is not an ISO 3166-1 alpha-2 code: expected " +
                          std::string(CountryCode::kRule) +
                          ", or empty for a plate of any country"};
  // registry_exception: "yes" accepts a plate the registry does not issue (docs/operators.md).
  const std::string_view exception_text = trim(get(kRegistryException));
  bool exception = false;
  if (exception_text == "yes") {
    exception = true;
  } else if (!exception_text.empty() && exception_text != "no") {
    return RowProblem{kRegistryException, "registry_exception_invalid",
                      show_value(exception_text) +
                          " is not a registry_exception: expected yes (accept a plate the "
                          "registry does not issue; note says why), no, or empty"};
  }
  std::optional<registry_rules::Finding> rule;
  if (country->known()) rule = registry_rules::not_issued(*country, *plate);
  if (!rule && country->known() && !formats::valid(*country, *plate))
    return RowProblem{kPlate, "plate_format",
                      "not a valid " + country->str() + " plate: expected " +
                          std::string(format_examples(*country))};
  if (rule && !exception)
    return RowProblem{kPlate, rule->reason,
                      rule->detail +
                          ". If the plate is on the road all the same (the RDW has issued some "
                          "by mistake), set registry_exception to yes and say why in note"};

  const std::string_view cat_text = trim(get(kCategory));
  if (cat_text.empty()) {
    if (!meta_.default_category)
      return RowProblem{kCategory, "category_missing",
                        "empty, and the sidecar sets no default 'category': expected one of " +
                            all_categories()};
    e.category = *meta_.default_category;
  } else {
    auto c = parse_category(cat_text);
    if (!c)
      return RowProblem{
          kCategory, "category_unknown",
          show_value(cat_text) + " is not a category: expected one of " + all_categories()};
    e.category = *c;
  }
  if (!(options_.allowed_categories >> static_cast<unsigned>(e.category) & 1u))
    return RowProblem{kCategory, "category_not_allowed",
                      "'" + std::string(to_string(e.category)) +
                          "' is not allowed as reference data on the cameras of the list's "
                          "owner country " +
                          meta_.owner.str() + ": expected one of " + allowed_categories()};

  const std::string_view action_text = trim(get(kAction));
  if (action_text.empty()) {
    e.action = meta_.default_action;
  } else {
    auto a = parse_action(action_text);
    if (!a)
      return RowProblem{kAction, "action_unknown",
                        show_value(action_text) + " is not an action: expected " + all_actions()};
    e.action = *a;
  }

  const std::string_view prio_text = trim(get(kPriority));
  if (prio_text.empty()) {
    e.priority = meta_.default_priority;
  } else {
    auto p = parse_priority(prio_text);
    if (!p)
      return RowProblem{kPriority, "priority_invalid",
                        show_value(prio_text) +
                            " is not a priority: expected an integer 0 "
                            "(highest) .. 100"};
    e.priority = *p;
  }

  const std::string_view until_text = trim(get(kValidUntil));
  if (until_text.empty()) {
    e.valid_until = kNoExpiry;
  } else {
    auto t = parse_date_or_timestamp(until_text, /*end_of_day=*/true);
    if (!t)
      return RowProblem{kValidUntil, "date_invalid",
                        show_value(until_text) +
                            " is not a date: expected YYYY-MM-DD (valid through that day, "
                            "UTC) or an RFC 3339 timestamp such as 2026-12-31T23:59:59Z"};
    e.valid_until = *t;
    if (e.valid_until <= options_.now)
      return RowProblem{kValidUntil, "expired",
                        "valid until " + format_rfc3339(e.valid_until) +
                            ", which has passed: remove the row, or correct the date"};
  }

  std::string_view ref = trim(get(kReference));
  if (options_.stored_version) ref = stored_cell_text(ref);
  if (ref.empty())
    return RowProblem{kReference, "reference_missing",
                      "empty: every row needs the entry's reference in the owning system"};
  if (ref.size() > kMaxReferenceBytes)
    return RowProblem{kReference, "reference_too_long",
                      std::to_string(ref.size()) + " bytes: expected at most " +
                          std::to_string(kMaxReferenceBytes)};
  if (!valid_utf8(ref))
    return RowProblem{kReference, "text_invalid_utf8", "not valid UTF-8: expected UTF-8 text"};
  if (auto p = unsafe_text(kReference, ref)) return p;

  std::string_view note = get(kNote);
  if (options_.stored_version) note = stored_cell_text(note);
  if (note.size() > kMaxNoteBytes)
    return RowProblem{kNote, "note_too_long",
                      std::to_string(note.size()) + " bytes: expected at most " +
                          std::to_string(kMaxNoteBytes)};
  if (!valid_utf8(note))
    return RowProblem{kNote, "text_invalid_utf8", "not valid UTF-8: expected UTF-8 text"};
  if (auto p = unsafe_text(kNote, note)) return p;
  if (rule && trim(note).empty())
    return RowProblem{kNote, "registry_exception_note_missing",
                      "registry_exception is yes, which accepts a plate the registry does not "
                      "issue (" +
                          std::string(rule->reason) +
                          "): expected a note saying why, e.g. who confirmed the plate is on the "
                          "road"};

  e.plate = *plate;
  e.country = *country;
  e.reference.assign(ref);
  e.note.assign(note);
  e.registry_exception = rule.has_value();
  if (rule) overridden = RowProblem{kPlate, rule->reason, std::move(rule->detail)};
  return std::nullopt;
}

std::optional<RowProblem> RowParser::unsafe_text(Column column, std::string_view text) {
  std::size_t at = 0;
  const int32_t cp = find_unsafe_text_char(text, at, /*allow_line_feed=*/column == kNote);
  if (cp < 0) return std::nullopt;
  char code[16];
  std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(cp));
  return RowProblem{column, "text_control_character",
                    std::string("holds the invisible or control character ") + code +
                        " at byte " + std::to_string(at + 1) +
                        ": expected printable text (remove tabs, carriage returns, direction "
                        "marks and zero-width characters" +
                        (column == kNote ? std::string(")") : std::string(" and line breaks)"))};
}

std::string RowParser::plate_detail(NormalizeError err) {
  switch (err) {
    case NormalizeError::empty:
      return "no letters or digits left after removing separators: expected 1..10 letters "
             "and digits";
    case NormalizeError::too_long:
      return "more than 10 letters and digits after removing separators: expected 1..10";
    case NormalizeError::invalid_utf8:
      return "not valid UTF-8: expected UTF-8 text";
    case NormalizeError::control_character:
      return "contains a control character: expected letters, digits and separators";
    case NormalizeError::invalid_character:
      return "contains a character that is not a letter, digit or separator: expected "
             "letters A-Z, digits and separators such as space, '-' and '.'";
  }
  return "not a plate";
}

std::string RowParser::allowed_categories() const {
  std::string out;
  for (int i = 0; i < kCategoryCount; ++i) {
    if (!(options_.allowed_categories >> i & 1u)) continue;
    if (!out.empty()) out += ", ";
    out += to_string(static_cast<Category>(i));
  }
  return out;
}

void RowCollector::reserve_lines(std::string_view text) {
  std::size_t lines = 0;
  for (const char* q = text.data(); q != nullptr;) {
    const std::size_t left = text.size() - static_cast<std::size_t>(q - text.data());
    q = static_cast<const char*>(std::memchr(q, '\n', left));
    if (q != nullptr) {
      ++lines;
      ++q;
    }
  }
  lines_ = lines;
  list_.entries.reserve(lines + 1);
  entry_lines_.reserve(lines + 1);
}

void RowCollector::reject(std::size_t line, int column, std::string_view reason,
                          std::string detail) {
  ++out_.rejected_count;
  ++out_.rejected_by_reason[std::string(reason)];
  if (out_.rejected.size() >= options_.max_row_errors) return;
  std::string col;
  if (column >= 0) col = kColumnNames[static_cast<std::size_t>(column)];
  out_.rejected.push_back(
      RowError{file_, line, std::move(col), std::string(reason), std::move(detail)});
}

void RowCollector::absorb(RowCollector& o, ListLoad& o_out) {
  list_.entries.insert(list_.entries.end(), std::make_move_iterator(o.list_.entries.begin()),
                       std::make_move_iterator(o.list_.entries.end()));
  entry_lines_.insert(entry_lines_.end(), o.entry_lines_.begin(), o.entry_lines_.end());
  o.list_.entries = {};
  out_.rows += o_out.rows;
  out_.rejected_count += o_out.rejected_count;
  for (const auto& [reason, n] : o_out.rejected_by_reason) out_.rejected_by_reason[reason] += n;
  for (RowError& e : o_out.rejected)
    if (out_.rejected.size() < options_.max_row_errors) out_.rejected.push_back(std::move(e));
  exception_lines_.insert(exception_lines_.end(), o.exception_lines_.begin(),
                          o.exception_lines_.end());
  for (RowError& e : o.exceptions_)
    if (exceptions_.size() < options_.max_row_errors) exceptions_.push_back(std::move(e));
  o.exception_lines_ = {};
  o.exceptions_ = {};
}

void RowCollector::finish() {
  std::vector<std::pair<uint64_t, uint32_t>> keys;
  keys.reserve(list_.entries.size());
  for (std::size_t i = 0; i < list_.entries.size(); ++i) {
    const ListEntry& e = list_.entries[i];
    keys.emplace_back((uint64_t{e.country.raw()} << Plate::kKeyBits) | e.plate.key(),
                      static_cast<uint32_t>(i));
  }
  tbb::parallel_sort(keys.begin(), keys.end());
  std::vector<bool> drop(list_.entries.size(), false);
  std::vector<std::size_t> dropped_lines;
  bool any = false;
  for (std::size_t i = 1; i < keys.size(); ++i) {
    if (keys[i].first != keys[i - 1].first) continue;
    std::size_t first = i - 1;
    while (first > 0 && keys[first - 1].first == keys[i].first) --first;
    drop[keys[i].second] = true;
    dropped_lines.push_back(entry_lines_[keys[i].second]);
    any = true;
    reject(entry_lines_[keys[i].second], kPlate, "duplicate",
           "same plate_country and plate as line " +
               std::to_string(entry_lines_[keys[first].second]) + ", which is kept");
  }
  if (any) {
    std::size_t w = 0;
    for (std::size_t i = 0; i < list_.entries.size(); ++i)
      if (!drop[i]) {
        if (w != i) list_.entries[w] = std::move(list_.entries[i]);
        ++w;
      }
    list_.entries.resize(w);
  }
  std::stable_sort(out_.rejected.begin(), out_.rejected.end(),
                   [](const RowError& a, const RowError& b) { return a.line < b.line; });
  // Exceptions of the rows kept (a duplicate's row is not in the list).
  std::sort(dropped_lines.begin(), dropped_lines.end());
  const auto dropped = [&](std::size_t line) {
    return std::binary_search(dropped_lines.begin(), dropped_lines.end(), line);
  };
  std::erase_if(exception_lines_, dropped);
  std::erase_if(exceptions_, [&](const RowError& e) { return dropped(e.line); });
  out_.registry_exception_count = exception_lines_.size();
  out_.registry_exceptions = std::move(exceptions_);
  out_.list = std::move(list_);
}

}  // namespace anpr::detail
