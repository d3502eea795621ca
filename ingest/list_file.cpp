#include "ingest/list_file.h"

#include "config/toml_guard.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_sort.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "ingest/csv.h"
#include "match/formats.h"
#include "match/ids.h"
#include "match/plate.h"
#include "match/time.h"

namespace anpr {
namespace {

// ---- small text helpers ----

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A value from the input, quoted for a message: printable ASCII as is, other bytes as \xNN,
// at most 40 bytes.
std::string show_value(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out += static_cast<char>(u);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", u);
      out += buf;
    }
  }
  if (s.size() > kMax) out += "...";
  out += '\'';
  return out;
}

std::string join_names(const std::string_view* names, std::size_t n, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += sep;
    out += names[i];
  }
  return out;
}

std::string all_categories() {
  std::string out;
  for (int i = 0; i < kCategoryCount; ++i) {
    if (i) out += ", ";
    out += to_string(static_cast<Category>(i));
  }
  return out;
}

std::string all_actions() { return "intercept, observe or notify"; }

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

// ---- files ----

// A read-only view of a whole file (memory-mapped; empty files need no mapping).
class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (map_ != nullptr) munmap(map_, size_);
  }

  // Empty string on success, else why not (strerror text).
  std::string open(const std::filesystem::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::strerror(errno);
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      return std::strerror(e);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return "not a regular file";
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (m == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        size_ = 0;
        return std::strerror(e);
      }
      map_ = m;
      madvise(map_, size_, MADV_SEQUENTIAL);
    }
    ::close(fd);
    return {};
  }
  std::string_view view() const { return {static_cast<const char*>(map_), size_}; }

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
};

// ---- CSV columns ----

enum Column : int {
  kPlate,
  kPlateCountry,
  kCategory,
  kReference,
  kValidUntil,
  kPriority,
  kAction,
  kNote
};
constexpr int kColumnCount = 8;
constexpr std::array<std::string_view, kColumnCount> kColumnNames = {
    "plate", "plate_country", "category", "reference", "valid_until", "priority", "action", "note"};

std::optional<int> column_of(std::string_view name) {
  for (int i = 0; i < kColumnCount; ++i)
    if (kColumnNames[i] == name) return i;
  return std::nullopt;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// ---- sidecar ----

constexpr std::array<std::string_view, 10> kSidecarKeys = {
    "id",     "owner_country", "match_mode", "max_substitutions", "category",
    "action", "priority",      "valid_from", "valid_until",       "version"};

std::string_view toml_type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "nothing";
  }
}

LoadError make_error(std::string_view file, const toml::source_region& at, std::string message) {
  return LoadError{std::string(file), at.begin.line, at.begin.column, std::move(message)};
}

// A validity bound from a TOML string, date or offset date-time.
std::optional<TimestampMs> toml_instant(const toml::node& v, bool end_of_day, std::string& why) {
  if (const auto* s = v.as_string()) {
    auto t = parse_date_or_timestamp(s->get(), end_of_day);
    if (!t) why = "the string " + show_value(s->get()) + " is not a date or RFC 3339 timestamp";
    return t;
  }
  if (const auto* d = v.as_date()) {
    const toml::date dd = d->get();
    const int64_t days = days_from_civil(dd.year, dd.month, dd.day);
    return (days + (end_of_day ? 1 : 0)) * kMsPerDay;
  }
  if (const auto* dt = v.as_date_time()) {
    const toml::date_time x = dt->get();
    if (!x.offset) {
      why = "a local date-time has no UTC offset";
      return std::nullopt;
    }
    const int64_t days = days_from_civil(x.date.year, x.date.month, x.date.day);
    const int64_t secs = int64_t{x.time.hour} * 3600 + x.time.minute * 60 + x.time.second;
    return days * kMsPerDay + secs * 1000 + x.time.nanosecond / 1'000'000 -
           int64_t{x.offset->minutes} * 60'000;
  }
  why = std::string("got ") + std::string(toml_type_name(v.type()));
  return std::nullopt;
}

}  // namespace

// ---- public helpers ----

std::string to_string(const RowError& e) {
  std::string out = e.file + ":" + std::to_string(e.line) + ": ";
  if (!e.column.empty()) out += e.column + ": ";
  out += e.reason + ": " + e.detail;
  return out;
}

std::string to_string(const LoadError& e) {
  std::string out = e.file;
  if (e.line > 0) {
    out += ':' + std::to_string(e.line);
    if (e.column > 0) out += ':' + std::to_string(e.column);
  }
  out += ": " + e.message;
  return out;
}

std::filesystem::path sidecar_path(const std::filesystem::path& csv_path) {
  std::filesystem::path p = csv_path;
  p.replace_extension(".toml");
  return p;
}

uint64_t checksum64(std::string_view bytes) {
  // One lane of xxHash64's round function over little-endian 8-byte words, then its avalanche.
  constexpr uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full,
                     P3 = 0x165667B19E3779F9ull, P4 = 0x85EBCA77C2B2AE63ull;
  const auto rotl = [](uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  const auto load = [](const unsigned char* q, std::size_t len) {
    uint64_t w = 0;
    if constexpr (std::endian::native == std::endian::little) {
      if (len == 8) {
        std::memcpy(&w, q, 8);  // the same little-endian word, in one load
        return w;
      }
    }
    for (std::size_t i = 0; i < len; ++i) w |= uint64_t{q[i]} << (8 * i);
    return w;
  };
  uint64_t h = P4 ^ (uint64_t{n} * P1);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t k = rotl(load(p + i, 8) * P2, 31) * P1;
    h = rotl(h ^ k, 27) * P1 + P4;
  }
  if (i < n) {
    const uint64_t k = rotl(load(p + i, n - i) * P2, 31) * P1;
    h = rotl(h ^ k, 27) * P1 + P3;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

std::string checksum_hex(std::string_view bytes) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(checksum64(bytes)));
  return buf;
}

// ---- sidecar ----

SidecarParse parse_sidecar(std::string_view toml_text, std::string_view file) {
  SidecarParse out;
  // A sidecar is flat: key = value lines only. Reject table headers before toml++ sees them:
  // besides being wrong here, malformed headers such as "[%" or "[[[" trip a precondition in
  // toml++ 3.3's parse_key (fixed upstream in marzer/tomlplusplus#301).
  {
    std::size_t line = 1, col = 1;
    bool line_start = true;
    for (char c : toml_text) {
      if (c == '\n') {
        ++line;
        col = 1;
        line_start = true;
        continue;
      }
      if (line_start && c == '[') {
        out.error = LoadError{std::string(file), line, col,
                              "tables are not allowed in a sidecar: expected only top-level "
                              "key = value lines (keys: " +
                                  join_names(kSidecarKeys.data(), kSidecarKeys.size(), ", ") + ")"};
        return out;
      }
      if (c != ' ' && c != '\t') line_start = false;
      ++col;
    }
  }
  // Constructs toml++ 3.3 mishandles (undefined behaviour, deep recursion) are refused first.
  if (auto h = config::find_toml_hazard_in(toml_text)) {
    out.error = LoadError{std::string(file), h->line, 1, "invalid TOML: " + h->what};
    return out;
  }
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, file);
  } catch (const toml::parse_error& e) {
    out.error = make_error(file, e.source(), "invalid TOML: " + std::string(e.description()));
    return out;
  } catch (const std::exception& e) {
    out.error = LoadError{std::string(file), 0, 0, std::string("invalid TOML: ") + e.what()};
    return out;
  }

  ListMeta meta;
  bool have_id = false, have_owner = false;
  std::optional<std::pair<TimestampMs, toml::source_region>> from, until;
  const auto fail = [&](const toml::source_region& at, std::string msg) {
    out.error = make_error(file, at, std::move(msg));
    return out;
  };
  const std::string keys = join_names(kSidecarKeys.data(), kSidecarKeys.size(), ", ");

  for (auto&& kv : tbl) {
    const toml::key& key = kv.first;
    const toml::node& node = kv.second;
    const std::string_view k = key.str();
    const toml::source_region& at = node.source();
    const auto want = [&](std::string_view what) {
      return fail(at, "'" + std::string(k) + "' must be " + std::string(what) + ", got " +
                          std::string(toml_type_name(node.type())));
    };
    if (k == "id") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      if (!ListId::valid(s->get()))
        return fail(at, "'id' " + show_value(s->get()) + " is not a list id: expected " +
                            std::string(ListId::kRule));
      meta.id = s->get();
      have_id = true;
    } else if (k == "owner_country") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      auto c = CountryCode::parse(s->get());
      if (!c)
        return fail(at, "'owner_country' " + show_value(s->get()) +
                            " is not an ISO 3166-1 alpha-2 code: expected " +
                            std::string(CountryCode::kRule));
      meta.owner = *c;
      have_owner = true;
    } else if (k == "match_mode") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      auto m = parse_match_mode(s->get());
      if (!m)
        return fail(at, "'match_mode' " + show_value(s->get()) +
                            " is not a match mode: expected exact, ocr or ocr+edit");
      meta.mode = *m;
    } else if (k == "max_substitutions") {
      const auto* i = node.as_integer();
      if (!i) return want("an integer 1..2");
      if (i->get() < 1 || i->get() > kMaxSubstitutionsLimit)
        return fail(at, "'max_substitutions' is " + std::to_string(i->get()) + ": expected 1 or 2");
      meta.max_substitutions = static_cast<uint8_t>(i->get());
    } else if (k == "category") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      auto c = parse_category(s->get());
      if (!c)
        return fail(at, "'category' " + show_value(s->get()) +
                            " is not a category: expected one of " + all_categories());
      meta.default_category = *c;
    } else if (k == "action") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      auto a = parse_action(s->get());
      if (!a)
        return fail(at, "'action' " + show_value(s->get()) + " is not an action: expected " +
                            all_actions());
      meta.default_action = *a;
    } else if (k == "priority") {
      const auto* i = node.as_integer();
      if (!i) return want("an integer 0..100");
      if (i->get() < 0 || i->get() > kMaxPriority)
        return fail(at,
                    "'priority' is " + std::to_string(i->get()) + ": expected 0 (highest) .. 100");
      meta.default_priority = static_cast<uint8_t>(i->get());
    } else if (k == "valid_from" || k == "valid_until") {
      const bool is_until = k == "valid_until";
      std::string why;
      auto t = toml_instant(node, is_until, why);
      if (!t)
        return fail(at, "'" + std::string(k) + "' is not a valid instant (" + why +
                            "): expected a date such as 2026-12-31 or an RFC 3339 timestamp "
                            "such as 2026-12-31T23:00:00Z, as a TOML string or date");
      (is_until ? until : from) = std::make_pair(*t, at);
    } else if (k == "version") {
      const auto* s = node.as_string();
      if (!s) return want("a string");
      const std::string_view v = s->get();
      bool printable = !v.empty() && v.size() <= 128;
      for (char c : v) printable = printable && c >= 0x20 && c < 0x7f;
      if (!printable) return fail(at, "'version' must be 1..128 printable ASCII characters");
      meta.version = v;
    } else {
      return fail(key.source(), "unknown key '" + std::string(k) + "': expected one of " + keys);
    }
  }

  if (!have_id || !have_owner) {
    out.error = LoadError{
        std::string(file), 0, 0,
        !have_id ? "missing required key 'id' (the list id, 1..64 characters of a-z 0-9 . _ -, "
                   "starting with a letter or digit)"
                 : "missing required key 'owner_country' (the ISO 3166-1 alpha-2 code of the "
                   "country whose police owns the list, e.g. \"NL\")"};
    return out;
  }
  if (from) meta.valid_from = from->first;
  if (until) meta.valid_until = until->first;
  if (from && until && from->first >= until->first)
    return fail(until->second, "'valid_until' (" + format_rfc3339(until->first) +
                                   ") must be after 'valid_from' (" + format_rfc3339(from->first) +
                                   ")");
  out.meta = std::move(meta);
  return out;
}

// ---- rows ----

namespace {

struct RowProblem {
  int column = -1;  // Column, or -1 for the whole row
  std::string_view reason;
  std::string detail;
};

class RowParser {
 public:
  RowParser(const ListMeta& meta, const std::array<int, kColumnCount>& index,
            const LoadOptions& options)
      : meta_(meta), index_(index), options_(options) {}

  // Fills `e` from `f` or returns why not.
  std::optional<RowProblem> parse(const std::vector<std::string_view>& f, ListEntry& e) const {
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
    if (country->known() && !formats::valid(*country, *plate))
      return RowProblem{kPlate, "plate_format",
                        "not a valid " + country->str() + " plate: expected " +
                            std::string(format_examples(*country))};

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

    const std::string_view ref = trim(get(kReference));
    if (ref.empty())
      return RowProblem{kReference, "reference_missing",
                        "empty: every row needs the entry's reference in the owning system"};
    if (ref.size() > kMaxReferenceBytes)
      return RowProblem{kReference, "reference_too_long",
                        std::to_string(ref.size()) + " bytes: expected at most " +
                            std::to_string(kMaxReferenceBytes)};
    if (!valid_utf8(ref))
      return RowProblem{kReference, "text_invalid_utf8", "not valid UTF-8: expected UTF-8 text"};

    const std::string_view note = get(kNote);
    if (note.size() > kMaxNoteBytes)
      return RowProblem{kNote, "note_too_long",
                        std::to_string(note.size()) + " bytes: expected at most " +
                            std::to_string(kMaxNoteBytes)};
    if (!valid_utf8(note))
      return RowProblem{kNote, "text_invalid_utf8", "not valid UTF-8: expected UTF-8 text"};

    e.plate = *plate;
    e.country = *country;
    e.reference.assign(ref);
    e.note.assign(note);
    return std::nullopt;
  }

 private:
  static std::string plate_detail(NormalizeError err) {
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

  std::string allowed_categories() const {
    std::string out;
    for (int i = 0; i < kCategoryCount; ++i) {
      if (!(options_.allowed_categories >> i & 1u)) continue;
      if (!out.empty()) out += ", ";
      out += to_string(static_cast<Category>(i));
    }
    return out;
  }

  const ListMeta& meta_;
  const std::array<int, kColumnCount>& index_;
  const LoadOptions& options_;
};

// Collects the rows of one list: accepted entries with their lines, rejections, and at the end
// the duplicate check.
class RowCollector {
 public:
  RowCollector(ListLoad& out, ListMeta meta, const LoadOptions& options, std::string file)
      : out_(out), options_(options), file_(std::move(file)) {
    list_.meta = std::move(meta);
  }
  const ListMeta& meta() const { return list_.meta; }

  // Reserves for as many rows as `text` has lines: growing a vector of 10 M entries by doubling
  // copies ~2x the data.
  void reserve_lines(std::string_view text) {
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
  std::size_t accepted() const { return list_.entries.size(); }
  // Line ends counted by reserve_lines().
  std::size_t capacity_lines() const { return lines_; }
  // Room for `rows` rows.
  void reserve_rows(std::size_t rows) {
    list_.entries.reserve(rows);
    entry_lines_.reserve(rows);
  }

  void reject(std::size_t line, int column, std::string_view reason, std::string detail) {
    ++out_.rejected_count;
    ++out_.rejected_by_reason[std::string(reason)];
    if (out_.rejected.size() >= options_.max_row_errors) return;
    std::string col;
    if (column >= 0) col = kColumnNames[static_cast<std::size_t>(column)];
    out_.rejected.push_back(
        RowError{file_, line, std::move(col), std::string(reason), std::move(detail)});
  }

  // Parses one row's fields (in the order of `index`) and keeps or rejects it.
  void row(const RowParser& parser, const std::vector<std::string_view>& fields,
           std::size_t line) {
    if (auto problem = parser.parse(fields, entry_)) {
      reject(line, problem->column, problem->reason, std::move(problem->detail));
      return;
    }
    list_.entries.push_back(std::move(entry_));
    entry_ = ListEntry{};
    entry_lines_.push_back(line);
  }

  // Appends what `o` collected from the next part of the same file (`o_out` is its ListLoad).
  void absorb(RowCollector& o, ListLoad& o_out) {
    list_.entries.insert(list_.entries.end(), std::make_move_iterator(o.list_.entries.begin()),
                         std::make_move_iterator(o.list_.entries.end()));
    entry_lines_.insert(entry_lines_.end(), o.entry_lines_.begin(), o.entry_lines_.end());
    o.list_.entries = {};
    out_.rows += o_out.rows;
    out_.rejected_count += o_out.rejected_count;
    for (const auto& [reason, n] : o_out.rejected_by_reason) out_.rejected_by_reason[reason] += n;
    for (RowError& e : o_out.rejected)
      if (out_.rejected.size() < options_.max_row_errors) out_.rejected.push_back(std::move(e));
  }

  // Duplicates: same (plate_country, plate) as an earlier row; the earliest row is kept.
  void finish() {
    std::vector<std::pair<uint64_t, uint32_t>> keys;
    keys.reserve(list_.entries.size());
    for (std::size_t i = 0; i < list_.entries.size(); ++i) {
      const ListEntry& e = list_.entries[i];
      keys.emplace_back((uint64_t{e.country.raw()} << Plate::kKeyBits) | e.plate.key(),
                        static_cast<uint32_t>(i));
    }
    tbb::parallel_sort(keys.begin(), keys.end());
    std::vector<bool> drop(list_.entries.size(), false);
    bool any = false;
    for (std::size_t i = 1; i < keys.size(); ++i) {
      if (keys[i].first != keys[i - 1].first) continue;
      std::size_t first = i - 1;
      while (first > 0 && keys[first - 1].first == keys[i].first) --first;
      drop[keys[i].second] = true;
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
    out_.list = std::move(list_);
  }

 private:
  ListLoad& out_;
  const LoadOptions& options_;
  std::string file_;
  ReferenceList list_;
  std::vector<std::size_t> entry_lines_;
  ListEntry entry_;
  std::size_t lines_ = 0;
};

}  // namespace

ListLoad load_list_text(std::string_view csv_text, std::string_view file, ListMeta meta,
                        const LoadOptions& options) {
  ListLoad out;
  const std::string file_s(file);
  const auto fatal = [&](std::size_t line, std::size_t column, std::string msg) {
    out.fatal = LoadError{file_s, line, column, std::move(msg)};
    return std::move(out);
  };
  if (meta.version.empty()) meta.version = checksum_hex(csv_text);
  if (meta.source.empty()) meta.source = file_s;

  // Header.
  CsvReader reader(csv_text);
  std::vector<std::string_view> fields;
  CsvError cerr;
  const std::string names = join_names(kColumnNames.data(), kColumnNames.size(), ", ");
  switch (reader.next(fields, cerr)) {
    case CsvStatus::end:
      return fatal(0, 0,
                   "empty file: expected a header line naming the columns (at least "
                   "plate,reference; allowed: " +
                       names + ")");
    case CsvStatus::error:
      return fatal(cerr.line, cerr.column,
                   "bad header line: " + std::string(to_string(cerr.code)) + ": " + cerr.message());
    case CsvStatus::record:
      break;
  }
  const std::size_t header_line = reader.line();
  std::array<int, kColumnCount> index;
  index.fill(-1);
  std::vector<std::string> header;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    std::string name = lower(trim(fields[i]));
    auto c = column_of(name);
    if (!c)
      return fatal(header_line, 0,
                   "unknown column " + show_value(fields[i]) + " (column " + std::to_string(i + 1) +
                       " of the header): expected only " + names);
    if (index[*c] >= 0)
      return fatal(header_line, 0,
                   "duplicate column '" + name + "' (columns " + std::to_string(index[*c] + 1) +
                       " and " + std::to_string(i + 1) + " of the header)");
    index[*c] = static_cast<int>(i);
    header.push_back(std::move(name));
  }
  std::string header_text;
  for (std::size_t i = 0; i < header.size(); ++i) header_text += (i ? "," : "") + header[i];
  for (Column required : {kPlate, kReference})
    if (index[required] < 0)
      return fatal(header_line, 0,
                   "missing required column '" + std::string(kColumnNames[required]) +
                       "' in the header: expected plate and reference, optionally " +
                       "plate_country, category, valid_until, priority, action, note");
  if (index[kCategory] < 0 && !meta.default_category)
    return fatal(header_line, 0,
                 "no 'category' column and no default 'category' in the sidecar: every row "
                 "needs a category (one of " +
                     all_categories() + ")");

  // Rows. Large files are cut at line ends outside quotes into parts parsed in parallel, then
  // joined in order; the result is the same as reading the rows one by one (a part that meets a
  // CSV syntax error, where a stray quote may have misled the cut, is read again in one piece).
  const std::size_t body_at = reader.offset();
  const std::string_view body = csv_text.substr(body_at);
  std::size_t body_line = 1;
  for (std::size_t i = 0; i < body_at; ++i) body_line += csv_text[i] == '\n';

  // Reads the records `r` has left; r.line() + line0 is the line in the file.
  const auto parse_part = [&](CsvReader& r, std::size_t line0, RowCollector& rows, ListLoad& o,
                              const RowParser& parser) {
    std::vector<std::string_view> f;
    CsvError e;
    for (;;) {
      const CsvStatus st = r.next(f, e);
      if (st == CsvStatus::end) break;
      ++o.rows;
      const std::size_t line = line0 + r.line();
      if (st == CsvStatus::error) {
        int col = -1;
        if (e.field < header.size()) col = *column_of(header[e.field]);
        rows.reject(line, col, "csv_syntax", std::string(to_string(e.code)) + ": " + e.message());
        continue;
      }
      if (f.size() != header.size()) {
        rows.reject(line, -1, "field_count",
                    std::to_string(f.size()) + " field" + (f.size() == 1 ? "" : "s") +
                        ", expected " + std::to_string(header.size()) + " as in the header (" +
                        header_text + ")");
        continue;
      }
      rows.row(parser, f, line);
    }
  };

  std::vector<std::size_t> cuts{0};
  constexpr std::size_t kMinPart = std::size_t{4} << 20;
  const std::size_t parts =
      std::min<std::size_t>(64, std::max<std::size_t>(1, body.size() / kMinPart));
  {
    std::size_t pos = 0;
    bool quoted = false;
    for (std::size_t k = 1; k < parts && pos < body.size(); ++k) {
      const std::size_t target = std::max(pos, body.size() / parts * k);
      for (const char* q = body.data() + pos;;) {  // quote parity up to the target
        q = static_cast<const char*>(std::memchr(
            q, '"', body.size() - static_cast<std::size_t>(q - body.data())));
        if (q == nullptr || q >= body.data() + target) break;
        quoted = !quoted;
        ++q;
      }
      std::size_t i = target;
      while (i < body.size() && (quoted || body[i] != '\n')) quoted ^= body[i++] == '"';
      if (i >= body.size()) break;
      pos = i + 1;
      cuts.push_back(pos);
    }
  }
  cuts.push_back(body.size());
  const std::size_t n = cuts.size() - 1;

  RowCollector rows(out, std::move(meta), options, file_s);
  RowParser parser(rows.meta(), index, options);
  bool sequential = n == 1;
  if (!sequential) {
    std::vector<std::size_t> first_line(n, body_line);
    std::vector<ListLoad> loads(n);
    std::vector<std::unique_ptr<RowCollector>> parts_rows(n);
    for (std::size_t i = 0; i < n; ++i)
      parts_rows[i] = std::make_unique<RowCollector>(loads[i], ListMeta{}, options, file_s);
    tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
      parts_rows[i]->reserve_lines(body.substr(cuts[i], cuts[i + 1] - cuts[i]));
    });
    for (std::size_t i = 1; i < n; ++i)
      first_line[i] = first_line[i - 1] + parts_rows[i - 1]->capacity_lines();
    tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
      CsvReader r(body.substr(cuts[i], cuts[i + 1] - cuts[i]));
      parse_part(r, first_line[i] - 1, *parts_rows[i], loads[i], parser);
    });
    for (const ListLoad& l : loads) sequential |= l.rejected_by_reason.count("csv_syntax") > 0;
    if (!sequential) {
      std::size_t total = 0;
      for (std::size_t i = 0; i < n; ++i) total += parts_rows[i]->accepted();
      rows.reserve_rows(total);
      for (std::size_t i = 0; i < n; ++i) rows.absorb(*parts_rows[i], loads[i]);
    }
  }
  if (sequential) {
    rows.reserve_lines(body);
    parse_part(reader, 0, rows, out, parser);  // the header's reader: its messages name file lines
  }
  rows.finish();
  return out;
}

ListLoad load_list_jsonl_text(std::string_view text, std::string_view file, ListMeta meta,
                              const LoadOptions& options) {
  ListLoad out;
  const std::string file_s(file);
  if (meta.version.empty()) meta.version = checksum_hex(text);
  if (meta.source.empty()) meta.source = file_s;
  RowCollector rows(out, std::move(meta), options, file_s);
  rows.reserve_lines(text);
  std::array<int, kColumnCount> index;
  for (int i = 0; i < kColumnCount; ++i) index[i] = i;
  RowParser parser(rows.meta(), index, options);
  simdjson::dom::parser json;
  std::vector<std::string_view> fields(kColumnCount);
  std::string prio_text;
  std::size_t pos = 0, line = 0;
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;
  while (pos < text.size()) {
    ++line;
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view l = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (trim(l).empty()) continue;
    ++out.rows;
    simdjson::dom::element doc;
    simdjson::dom::object obj;
    if (json.parse(l.data(), l.size(), true).get(doc) != simdjson::SUCCESS ||
        doc.get_object().get(obj) != simdjson::SUCCESS) {
      rows.reject(line, -1, "json_syntax",
                  "not a JSON object: expected one object per line such as "
                  "{\"plate\":\"GB-123-X\",\"reference\":\"REF-1\"}");
      continue;
    }
    std::fill(fields.begin(), fields.end(), std::string_view{});
    std::optional<RowProblem> problem;
    std::array<bool, kColumnCount> seen{};
    for (auto [key, value] : obj) {
      auto c = column_of(key);
      if (!c) {
        problem = RowProblem{-1, "field_unknown",
                             "unknown key " + show_value(key) + ": expected only " +
                                 join_names(kColumnNames.data(), kColumnNames.size(), ", ")};
        break;
      }
      if (seen[*c]) {
        problem = RowProblem{*c, "field_unknown", "the key appears twice in the object"};
        break;
      }
      seen[*c] = true;
      std::string_view v;
      int64_t n = 0;
      if (value.is_null()) continue;
      if (value.get_string().get(v) == simdjson::SUCCESS) {
        fields[*c] = v;
      } else if (*c == kPriority && value.get_int64().get(n) == simdjson::SUCCESS) {
        prio_text = (n >= 0 && n <= 999) ? std::to_string(n) : "out of range";
        fields[*c] = prio_text;
      } else {
        problem = RowProblem{*c, "field_type",
                             std::string("a value of the wrong type: expected a string") +
                                 (*c == kPriority ? " or an integer" : "") + " or null"};
        break;
      }
    }
    if (problem) {
      rows.reject(line, problem->column, problem->reason, std::move(problem->detail));
      continue;
    }
    rows.row(parser, fields, line);
  }
  rows.finish();
  return out;
}

ListLoad load_list(const std::filesystem::path& csv_path, const LoadOptions& options) {
  ListLoad out;
  const std::string csv_name = csv_path.string();
  const std::filesystem::path toml_path = sidecar_path(csv_path);
  const std::string toml_name = toml_path.string();
  const bool jsonl = csv_path.extension() == ".jsonl";
  if (csv_path.extension() != ".csv" && !jsonl) {
    out.fatal = LoadError{csv_name, 0, 0, "expected a list file ending in .csv or .jsonl"};
    return out;
  }
  MappedFile csv, toml_file;
  if (std::string why = csv.open(csv_path); !why.empty()) {
    out.fatal = LoadError{csv_name, 0, 0, "cannot read the list: " + why};
    return out;
  }
  if (std::string why = toml_file.open(toml_path); !why.empty()) {
    out.fatal = LoadError{
        toml_name, 0, 0,
        "cannot read the sidecar of " + csv_name + ": " + why +
            " (every list needs NAME.toml next to NAME.csv, with at least id and owner_country)"};
    return out;
  }
  SidecarParse side = parse_sidecar(toml_file.view(), toml_name);
  if (side.error) {
    out.fatal = std::move(side.error);
    return out;
  }
  side.meta->source = csv_name;
  if (jsonl) return load_list_jsonl_text(csv.view(), csv_name, std::move(*side.meta), options);
  return load_list_text(csv.view(), csv_name, std::move(*side.meta), options);
}

}  // namespace anpr
