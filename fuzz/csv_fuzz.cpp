// libFuzzer target: CsvReader over arbitrary bytes.
// Invariants: no crash or sanitizer report; every call makes progress; record start lines
// strictly increase; error positions lie inside the input; and every good record, written back
// as CSV with every field quoted, reads back as the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/csv.h"

namespace {

std::string quote_all(const std::vector<std::string_view>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : fields[i]) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  out += "\r\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  anpr::CsvOptions opt;
  if (size > 0) {  // let the fuzzer explore small limits too
    opt.max_field_bytes = 1 + data[0] % 64;
    opt.max_fields = 1 + data[0] % 8;
    opt.skip_blank_lines = (data[0] & 0x80) == 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  anpr::CsvReader reader(text, opt);
  std::vector<std::string_view> fields, again;
  anpr::CsvError err, err2;
  std::size_t prev_line = 0, prev_offset = 0, lines_in_input = 1;
  for (char c : text) lines_in_input += c == '\n';

  for (std::size_t calls = 0;; ++calls) {
    if (calls > size + 1) std::abort();  // no progress
    const anpr::CsvStatus st = reader.next(fields, err);
    if (st == anpr::CsvStatus::end) break;
    if (reader.line() <= prev_line) std::abort();
    if (reader.offset() <= prev_offset && size > 0 && calls > 0) std::abort();
    prev_line = reader.line();
    prev_offset = reader.offset();
    if (st == anpr::CsvStatus::error) {
      if (err.code == anpr::CsvErrorCode::none) std::abort();
      if (err.line < reader.line() || err.line > lines_in_input || err.column == 0) std::abort();
      if (err.message().empty()) std::abort();
      continue;
    }
    if (fields.empty() || fields.size() > opt.max_fields) std::abort();
    for (auto f : fields)
      if (f.size() > opt.max_field_bytes) std::abort();

    const std::string round = quote_all(fields);
    anpr::CsvOptions opt2 = opt;
    opt2.skip_blank_lines = false;
    anpr::CsvReader r2(round, opt2);
    // A record of one empty field written as "" is not a blank line, so it round-trips too.
    if (r2.next(again, err2) != anpr::CsvStatus::record) std::abort();
    if (again != fields) std::abort();
    if (r2.next(again, err2) != anpr::CsvStatus::end) std::abort();
  }
  return 0;
}
