// Internals of ingest/list_file.cpp shared by its parts (not a public header):
//   list_file.cpp          text helpers for messages; the public helpers (to_string, checksums)
//   list_file_sidecar.cpp  parse_sidecar
//   list_file_rows.cpp     one row checked and kept or rejected (RowParser, RowCollector)
//   list_file_loaders.cpp  load_list, load_list_text, load_list_jsonl_text
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ingest/list_file.h"
#include "match/plate.h"

namespace anpr::detail {

// ---- small text helpers (list_file.cpp) ----

std::string_view trim(std::string_view s);
// A value from the input, quoted for a message: printable ASCII as is, other bytes as \xNN,
// at most 40 bytes.
std::string show_value(std::string_view s);
std::string join_names(const std::string_view* names, std::size_t n, std::string_view sep);
std::string all_actions();

// ---- CSV columns ----

enum Column : int {
  kPlate,
  kPlateCountry,
  kCategory,
  kReference,
  kValidUntil,
  kPriority,
  kAction,
  kNote,
  kRegistryException
};
constexpr int kColumnCount = 9;
inline constexpr std::array<std::string_view, kColumnCount> kColumnNames = {
    "plate",    "plate_country", "category", "reference",         "valid_until",
    "priority", "action",        "note",     "registry_exception"};

// ---- rows (list_file_rows.cpp) ----

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

  // Fills `e` from `f` or returns why not. When the row is accepted only because its
  // registry_exception column overrides an issuing rule (match/registry_rules.h), `overridden`
  // is set to the rule's reason and detail (and e.registry_exception to true).
  std::optional<RowProblem> parse(const std::vector<std::string_view>& f, ListEntry& e,
                                  std::optional<RowProblem>& overridden) const;

 private:
  static std::string plate_detail(NormalizeError err);
  // text_control_character when `text` holds a character base/utf8.h's unsafe_text_char refuses
  // (a note may hold line feeds: several lines).
  static std::optional<RowProblem> unsafe_text(Column column, std::string_view text);

  std::string allowed_categories() const;

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
  void reserve_lines(std::string_view text);
  std::size_t accepted() const { return list_.entries.size(); }
  // Line ends counted by reserve_lines().
  std::size_t capacity_lines() const { return lines_; }
  // Room for `rows` rows.
  void reserve_rows(std::size_t rows) {
    list_.entries.reserve(rows);
    entry_lines_.reserve(rows);
  }

  void reject(std::size_t line, int column, std::string_view reason, std::string detail);

  // Parses one row's fields (in the order of `index`) and keeps or rejects it.
  void row(const RowParser& parser, const std::vector<std::string_view>& fields,
           std::size_t line) {
    std::optional<RowProblem> overridden;
    if (auto problem = parser.parse(fields, entry_, overridden)) {
      reject(line, problem->column, problem->reason, std::move(problem->detail));
      return;
    }
    if (overridden) {
      exception_lines_.push_back(line);
      if (exceptions_.size() < options_.max_row_errors)
        exceptions_.push_back(RowError{file_, line, "registry_exception",
                                       std::string(overridden->reason),
                                       std::move(overridden->detail)});
    }
    list_.entries.push_back(std::move(entry_));
    entry_ = ListEntry{};
    entry_lines_.push_back(line);
  }

  // Appends what `o` collected from the next part of the same file (`o_out` is its ListLoad).
  void absorb(RowCollector& o, ListLoad& o_out);

  // Duplicates: same (plate_country, plate) as an earlier row; the earliest row is kept.
  void finish();

 private:
  ListLoad& out_;
  const LoadOptions& options_;
  std::string file_;
  ReferenceList list_;
  std::vector<std::size_t> entry_lines_;
  // Rows accepted by an operator's registry_exception: every line, and the first
  // LoadOptions::max_row_errors with their details (memory stays bounded).
  std::vector<std::size_t> exception_lines_;
  std::vector<RowError> exceptions_;
  ListEntry entry_;
  std::size_t lines_ = 0;
};

}  // namespace anpr::detail
