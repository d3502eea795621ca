#include "ingest/list_file.h"
#include "ingest/list_file_detail.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "ingest/csv.h"

namespace anpr {

using namespace detail;

namespace {

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
