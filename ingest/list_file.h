// Loading a reference list from files (docs/design.md §3): `NAME.csv` with its rows and the TOML sidecar
// `NAME.toml` (same folder, same base name) with its metadata.
//
// Sidecar keys (unknown keys are errors, so a typo never passes silently):
//   id                 required  a ListId (match/ids.h): [a-z0-9][a-z0-9._-]{0,63}
//   owner_country      required  CountryCode::parse (match/types.h), e.g. "NL"
//   match_mode         "exact" (default) | "ocr" | "ocr+edit"
//   max_substitutions  1 (default) or 2
//   category           default category for rows that leave theirs empty
//   action             default action: "intercept" (default) | "observe" | "notify"
//   priority           default priority 0 (highest) .. 100; default 50
//   valid_from         date or RFC 3339 timestamp (string or TOML date/offset date-time)
//   valid_until        likewise; a bare date means "through that day" (UTC, exclusive next day)
//   version            shown on hits; default: checksum64 of the CSV bytes, 16 hex digits
//
// JSON Lines (`NAME.jsonl` with the same sidecar): one JSON object per line with the CSV's
// column names as keys; values are strings (priority may also be an integer, optional values
// may be null); blank lines are skipped. Row reasons of their own: json_syntax (not a JSON
// object), field_unknown (a key that is not a column, or a key given twice), field_type (a value
// of the wrong type).
//
// CSV header: any order of plate, plate_country, category, reference, valid_until, priority,
// action, note, registry_exception (names are matched case-insensitively, surrounding spaces ignored). plate and
// reference are required; unknown and duplicate columns are fatal. The sidecar and the header
// are checked before any row is read. Values other than note have surrounding spaces and tabs
// removed.
//
// Each rejected row gives one RowError (its first problem) and the load goes on. Row reasons:
//   csv_syntax, field_count, plate_empty, plate_too_long, plate_invalid_utf8,
//   plate_control_character, plate_invalid_character (normalize()), country_invalid,
//   plate_format (NL/BE/LU plate that fits none of that country's formats),
//   plate_letters_not_issued (NL: the plate has a sidecode's form but letters that series does
//   not use), plate_combination_avoided (NL: a letter combination the RDW does not issue; both
//   from match/registry_rules.h, and both accepted when registry_exception is yes and note says
//   why), registry_exception_invalid (a value other than yes, no or empty),
//   registry_exception_note_missing (yes on a row it overrides, with an empty note), category_missing,
//   category_unknown, action_unknown, priority_invalid, date_invalid, reference_missing,
//   reference_too_long (> 128 bytes), note_too_long (> 1024 bytes), text_invalid_utf8 (reference
//   or note), text_control_character (reference or note holds a character base/utf8.h's
//   unsafe_text_char refuses: controls, tabs, carriage returns, direction overrides, zero-width
//   characters; line feeds in a reference, not in a note), duplicate (same plate_country and plate as an earlier row; the first is kept),
//   and, when LoadOptions asks for them, category_not_allowed (the category is not allowed on
//   the cameras of the list's owner country) and expired (valid_until is not after `now`).
// Details never quote a row's plate, reference or note (personal data, docs/design.md §6): the file and
// line locate the row.
//
// Thread safety: pure functions; loads of different lists may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "match/ids.h"
#include "match/list.h"

namespace anpr {

inline constexpr std::size_t kMaxReferenceBytes = 128;
inline constexpr std::size_t kMaxNoteBytes = 1024;

// One rejected row.
struct RowError {
  std::string file;
  std::size_t line = 0;  // physical line where the row starts (1-based)
  std::string column;    // header name of the offending field; "" when the row as a whole is bad
  std::string reason;    // machine-readable, see above
  std::string detail;    // what was wrong and what was expected
};
// "lists/x.csv:17: plate: plate_invalid_character: ..." ("file:line: reason: ..." without column)
std::string to_string(const RowError& e);

// A problem that stops the load: no list is produced.
struct LoadError {
  std::string file;
  std::size_t line = 0;    // 0 when not tied to a line
  std::size_t column = 0;  // 0 when unknown
  std::string message;
};
// "lists/x.toml:3:7: message", "lists/x.csv:1: message" or "lists/x.csv: message".
std::string to_string(const LoadError& e);

struct LoadOptions {
  std::size_t max_row_errors = 100'000;  // RowErrors kept; further rejections are only counted
  // Rows whose valid_until is at or before `now` are rejected as expired (kNoStart: no check).
  TimestampMs now = kNoStart;
  // Categories allowed for the owner country (bit 1 << Category); others are rejected as
  // category_not_allowed. Default: every category.
  uint32_t allowed_categories = ~uint32_t{0};
  // A stored list version (state.dir/lists, written by lists/version_store.cpp): its reference
  // and note cells carry the quote that keeps a spreadsheet from running them (ingest/csv.h,
  // stored_cell), which is taken off again.
  bool stored_version = false;
};

struct ListLoad {
  std::optional<ReferenceList> list;  // set unless `fatal`
  std::vector<RowError> rejected;     // in line order, at most LoadOptions::max_row_errors
  std::size_t rejected_count = 0;     // every rejected row, listed or not
  std::map<std::string, std::size_t> rejected_by_reason;  // every rejected row, by reason
  std::optional<LoadError> fatal;
  std::size_t rows = 0;  // data rows read (accepted + rejected; blank lines not counted)
  // Accepted rows that break a registry's issuing rule, accepted because their
  // registry_exception is yes (column "registry_exception", reason = the rule overridden), in
  // line order; at most LoadOptions::max_row_errors, all counted in registry_exception_count.
  std::vector<RowError> registry_exceptions;
  std::size_t registry_exception_count = 0;
};

// Loads `csv_path` (.csv, or .jsonl for JSON Lines) and its sidecar (sidecar_path(csv_path)).
ListLoad load_list(const std::filesystem::path& csv_path, const LoadOptions& options = {});

// The sidecar of a list file: same folder and base name, extension ".toml".
std::filesystem::path sidecar_path(const std::filesystem::path& csv_path);

struct SidecarParse {
  std::optional<ListMeta> meta;  // version left empty when the sidecar has none
  std::optional<LoadError> error;
};
// Parses and validates sidecar text; `file` names it in errors. Never throws.
SidecarParse parse_sidecar(std::string_view toml_text, std::string_view file);

// Reads the rows of a list from CSV text whose metadata is already known (`meta` is copied into
// the result; its version is filled with the checksum when empty). `file` names it in errors.
ListLoad load_list_text(std::string_view csv_text, std::string_view file, ListMeta meta,
                        const LoadOptions& options = {});

// The same for JSON Lines text.
ListLoad load_list_jsonl_text(std::string_view jsonl_text, std::string_view file, ListMeta meta,
                              const LoadOptions& options = {});

// A fast 64-bit checksum of bytes (not cryptographic; stable across runs and platforms), used
// as the default list version.
uint64_t checksum64(std::string_view bytes);
// checksum64 as 16 lower-case hex digits.
std::string checksum_hex(std::string_view bytes);

}  // namespace anpr
