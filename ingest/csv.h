// A small, strict RFC 4180 CSV reader over a whole buffer in memory (reference lists, docs/design.md §3).
//
// - fields are separated by ',' and records by LF or CRLF; the last record may lack a newline;
// - a field may be quoted with '"'; inside quotes, "" is one quote and ',' CR LF are data;
// - a UTF-8 byte order mark at the very start is skipped;
// - blank lines (nothing between two line ends) are skipped, unless CsvOptions says otherwise;
// - no trimming, no comments, no other separators: bytes are returned as they are.
//
// Syntax errors are values, not exceptions. After an error the reader skips to the end of the bad
// record (the next line end outside quotes) and the next call continues with the record after it,
// so one bad row does not stop a load. An unterminated quote consumes the rest of the input.
//
// Allocation: fields are string_views into the input, except quoted fields containing "" escapes,
// which are unescaped into a scratch buffer owned by the reader. In the common case (no escapes)
// next() allocates nothing once `fields` has grown to the record width.
//
// Thread safety: a CsvReader is used by one thread at a time; it never writes to the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace anpr {

enum class CsvErrorCode : uint8_t {
  none,
  unterminated_quote,       // a quoted field has no closing quote before end of input
  garbage_after_quote,      // a closing quote is followed by something other than , CR LF EOF
  quote_in_unquoted_field,  // a '"' in the middle of an unquoted field
  nul_byte,                 // a NUL byte anywhere in the record
  bare_cr,                  // CR not followed by LF outside quotes
  field_too_long,           // a field longer than CsvOptions::max_field_bytes
  too_many_fields,          // a record with more than CsvOptions::max_fields fields
};
// Machine-readable name, e.g. "unterminated_quote".
std::string_view to_string(CsvErrorCode c);

struct CsvError {
  CsvErrorCode code = CsvErrorCode::none;
  std::size_t line = 0;    // physical line (1-based) of the problem
  std::size_t column = 0;  // byte column (1-based) of the problem within that line
  std::size_t field = 0;   // index (0-based) of the field in its record
  char byte = 0;           // the offending byte, for garbage_after_quote
  std::size_t limit = 0;   // the limit exceeded, for field_too_long and too_many_fields

  // Human-readable: what was found, where, and what was expected.
  std::string message() const;
};

struct CsvOptions {
  std::size_t max_field_bytes = 64 * 1024;
  std::size_t max_fields = 1024;
  bool skip_blank_lines = true;
};

enum class CsvStatus : uint8_t {
  record,  // `fields` holds the next record
  error,   // the next record is malformed: `err` says why; the record has been skipped
  end,     // no more records
};

class CsvReader {
 public:
  // `data` must outlive the reader and every view it returns.
  explicit CsvReader(std::string_view data, CsvOptions options = {});

  // Reads the next record into `fields` (cleared first). The views stay valid until the next
  // call to next(). On CsvStatus::error, `fields` holds what could be parsed and must not be used
  // as a record.
  [[nodiscard]] CsvStatus next(std::vector<std::string_view>& fields, CsvError& err);

  // Physical line (1-based) where the record last returned by next() starts; 0 before the first.
  std::size_t line() const { return record_line_; }
  // Byte offset in the input where the next record will be looked for.
  std::size_t offset() const { return pos_; }
  // True if the input started with a UTF-8 byte order mark (which was skipped).
  bool had_bom() const { return had_bom_; }

 private:
  struct Span {
    std::size_t off;
    std::size_t len;
    bool scratch;
  };
  void fail(CsvError& err, CsvErrorCode code, std::size_t pos, std::size_t field, char byte = 0);
  std::size_t column_of(std::size_t pos) const { return pos - line_start_ + 1; }

  std::string_view data_;
  CsvOptions opt_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;        // physical line at pos_
  std::size_t line_start_ = 0;  // offset of the first byte of line_
  std::size_t record_line_ = 0;
  bool had_bom_ = false;
  std::vector<Span> spans_;
  std::string scratch_;
};

// A cell as a spreadsheet may open it without running it: a value starting with = + - @, a tab
// or a carriage return gets a single quote in front, so that it is shown as text rather than
// computed as a formula (CSV injection). `also_quote` adds the quote too when the value starts
// with '\'', so that stored_cell_text() can undo it exactly (docs/operations.md, "The state
// folder").
inline bool csv_formula_start(std::string_view cell, bool also_quote = false) {
  if (cell.empty()) return false;
  const char c = cell.front();
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r' ||
         (also_quote && c == '\'');
}
// The written form of a text cell of a stored list version (lists/version_store.cpp).
inline std::string stored_cell(std::string_view cell) {
  return csv_formula_start(cell, true) ? "'" + std::string(cell) : std::string(cell);
}
// The value of a text cell read back from a stored list version (inverse of stored_cell).
inline std::string_view stored_cell_text(std::string_view cell) {
  return !cell.empty() && cell.front() == '\'' ? cell.substr(1) : cell;
}

}  // namespace anpr
