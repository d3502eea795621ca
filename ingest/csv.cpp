#include "ingest/csv.h"

#include <array>
#include <cstdio>

namespace anpr {
namespace {

// Bytes that end the fast scan of an unquoted field.
constexpr std::array<bool, 256> kUnquotedStop = [] {
  std::array<bool, 256> t{};
  t[static_cast<unsigned char>(',')] = true;
  t[static_cast<unsigned char>('\n')] = true;
  t[static_cast<unsigned char>('\r')] = true;
  t[static_cast<unsigned char>('"')] = true;
  t[0] = true;
  return t;
}();

// Bytes that end the fast scan inside a quoted field.
constexpr std::array<bool, 256> kQuotedStop = [] {
  std::array<bool, 256> t{};
  t[static_cast<unsigned char>('"')] = true;
  t[static_cast<unsigned char>('\n')] = true;
  t[0] = true;
  return t;
}();

std::string describe_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  char buf[16];
  if (u >= 0x21 && u < 0x7f)
    std::snprintf(buf, sizeof buf, "'%c'", c);
  else if (c == ' ')
    std::snprintf(buf, sizeof buf, "a space");
  else
    std::snprintf(buf, sizeof buf, "byte 0x%02X", u);
  return buf;
}

}  // namespace

std::string_view to_string(CsvErrorCode c) {
  switch (c) {
    case CsvErrorCode::none:
      return "none";
    case CsvErrorCode::unterminated_quote:
      return "unterminated_quote";
    case CsvErrorCode::garbage_after_quote:
      return "garbage_after_quote";
    case CsvErrorCode::quote_in_unquoted_field:
      return "quote_in_unquoted_field";
    case CsvErrorCode::nul_byte:
      return "nul_byte";
    case CsvErrorCode::bare_cr:
      return "bare_cr";
    case CsvErrorCode::field_too_long:
      return "field_too_long";
    case CsvErrorCode::too_many_fields:
      return "too_many_fields";
  }
  return "unknown";
}

std::string CsvError::message() const {
  const std::string at = "line " + std::to_string(line) + " column " + std::to_string(column);
  switch (code) {
    case CsvErrorCode::none:
      return "no error";
    case CsvErrorCode::unterminated_quote:
      return "quoted field opened at " + at +
             " is never closed: expected a closing '\"' before the end of the file";
    case CsvErrorCode::garbage_after_quote:
      return "unexpected " + describe_byte(byte) + " after the closing quote at " + at +
             ": expected ',' or the end of the line (write \"\" for a quote inside a quoted field)";
    case CsvErrorCode::quote_in_unquoted_field:
      return "'\"' inside an unquoted field at " + at +
             ": a field containing quotes must be quoted as a whole, with \"\" for each quote";
    case CsvErrorCode::nul_byte:
      return "NUL byte at " + at +
             ": CSV text must not contain NUL bytes (is this a UTF-16 or binary file?)";
    case CsvErrorCode::bare_cr:
      return "carriage return without a line feed at " + at +
             ": expected LF or CRLF line endings (quote the field if the CR is data)";
    case CsvErrorCode::field_too_long:
      return "field starting at " + at + " is too long: expected at most " + std::to_string(limit) +
             " bytes";
    case CsvErrorCode::too_many_fields:
      return "too many fields at " + at + ": expected at most " + std::to_string(limit) +
             " fields in a record";
  }
  return "unknown CSV error";
}

CsvReader::CsvReader(std::string_view data, CsvOptions options) : data_(data), opt_(options) {
  if (data_.size() >= 3 && static_cast<unsigned char>(data_[0]) == 0xEF &&
      static_cast<unsigned char>(data_[1]) == 0xBB &&
      static_cast<unsigned char>(data_[2]) == 0xBF) {
    pos_ = line_start_ = 3;
    had_bom_ = true;
  }
}

void CsvReader::fail(CsvError& err, CsvErrorCode code, std::size_t pos, std::size_t field,
                     char byte) {
  if (err.code != CsvErrorCode::none) return;  // report the first problem of a record
  err.code = code;
  err.line = line_;
  err.column = column_of(pos);
  err.field = field;
  err.byte = byte;
}

CsvStatus CsvReader::next(std::vector<std::string_view>& fields, CsvError& err) {
  fields.clear();
  spans_.clear();
  scratch_.clear();
  err = CsvError{};
  const char* d = data_.data();
  const std::size_t n = data_.size();

  if (opt_.skip_blank_lines) {
    for (;;) {
      if (pos_ < n && d[pos_] == '\n') {
        ++pos_;
      } else if (pos_ + 1 < n && d[pos_] == '\r' && d[pos_ + 1] == '\n') {
        pos_ += 2;
      } else {
        break;
      }
      ++line_;
      line_start_ = pos_;
    }
  }
  if (pos_ >= n) return CsvStatus::end;
  record_line_ = line_;

  std::size_t pos = pos_;
  for (;;) {  // one iteration per field
    const std::size_t field = spans_.size();
    if (field >= opt_.max_fields && err.code == CsvErrorCode::none) {
      fail(err, CsvErrorCode::too_many_fields, pos, field);
      err.limit = opt_.max_fields;
    }
    Span span{pos, 0, false};

    if (pos < n && d[pos] == '"') {
      // Quoted field.
      const std::size_t open_pos = pos;
      const std::size_t open_line = line_, open_line_start = line_start_;
      ++pos;
      std::size_t seg = pos;  // start of the not-yet-copied run
      std::size_t len = 0;    // unescaped length so far
      bool closed = false;
      for (;;) {
        while (pos < n && !kQuotedStop[static_cast<unsigned char>(d[pos])]) ++pos;
        if (pos >= n) break;
        const char c = d[pos];
        if (c == '\n') {
          ++pos;
          ++line_;
          line_start_ = pos;
          continue;
        }
        if (c == '\0') {
          fail(err, CsvErrorCode::nul_byte, pos, field);
          ++pos;
          continue;
        }
        // c == '"'
        if (pos + 1 < n && d[pos + 1] == '"') {  // escaped quote: "" -> "
          if (!span.scratch) {
            span.scratch = true;
            span.off = scratch_.size();
          }
          if (scratch_.size() - span.off <= opt_.max_field_bytes)
            scratch_.append(d + seg, pos + 1 - seg);  // the run plus one quote
          len += pos + 1 - seg;
          pos += 2;
          seg = pos;
          continue;
        }
        closed = true;
        break;
      }
      if (!closed) {
        // Report where the field was opened: that is where the operator has to look.
        if (err.code == CsvErrorCode::none) {
          err.code = CsvErrorCode::unterminated_quote;
          err.line = open_line;
          err.column = open_pos - open_line_start + 1;
          err.field = field;
        }
        pos_ = n;
        return CsvStatus::error;
      }
      len += pos - seg;
      if (span.scratch) {
        if (scratch_.size() - span.off <= opt_.max_field_bytes) scratch_.append(d + seg, pos - seg);
        span.len = scratch_.size() - span.off;
      } else {
        span.off = seg;
        span.len = pos - seg;
      }
      if (len > opt_.max_field_bytes) {
        if (err.code == CsvErrorCode::none) {
          err.code = CsvErrorCode::field_too_long;
          err.line = open_line;
          err.column = open_pos - open_line_start + 1;
          err.field = field;
          err.limit = opt_.max_field_bytes;
        }
      }
      ++pos;  // the closing quote
      if (pos < n && d[pos] != ',' && d[pos] != '\n' &&
          !(d[pos] == '\r' && pos + 1 < n && d[pos + 1] == '\n')) {
        fail(err, CsvErrorCode::garbage_after_quote, pos, field, d[pos]);
        // Resynchronise: treat the rest of the field as junk up to the next ',' or line end.
        while (pos < n && d[pos] != ',' && d[pos] != '\n') ++pos;
        if (pos < n && d[pos] == '\n' && pos > 0 && d[pos - 1] == '\r') --pos;
      }
    } else {
      // Unquoted field: the common case, a view into the input.
      for (;;) {
        while (pos < n && !kUnquotedStop[static_cast<unsigned char>(d[pos])]) ++pos;
        if (pos >= n) break;
        const char c = d[pos];
        if (c == ',' || c == '\n') break;
        if (c == '\r') {
          if (pos + 1 < n && d[pos + 1] == '\n') break;
          fail(err, CsvErrorCode::bare_cr, pos, field);
        } else if (c == '"') {
          fail(err, CsvErrorCode::quote_in_unquoted_field, pos, field);
        } else {
          fail(err, CsvErrorCode::nul_byte, pos, field);
        }
        ++pos;
      }
      span.len = pos - span.off;
      if (span.len > opt_.max_field_bytes && err.code == CsvErrorCode::none) {
        fail(err, CsvErrorCode::field_too_long, span.off, field);  // same line: no line breaks
        err.limit = opt_.max_field_bytes;
      }
    }

    if (spans_.size() < opt_.max_fields) spans_.push_back(span);

    // Delimiter after the field.
    if (pos >= n) {
      break;
    }
    if (d[pos] == ',') {
      ++pos;
      continue;
    }
    // '\n' or "\r\n"
    pos += d[pos] == '\r' ? 2 : 1;
    ++line_;
    line_start_ = pos;
    break;
  }
  pos_ = pos;

  for (const Span& s : spans_)
    fields.emplace_back((s.scratch ? scratch_.data() : d) + s.off, s.len);
  return err.code == CsvErrorCode::none ? CsvStatus::record : CsvStatus::error;
}

}  // namespace anpr
