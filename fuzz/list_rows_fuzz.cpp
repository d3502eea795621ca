// libFuzzer target: the rows of a reference list, as CSV and as JSON Lines, with every row check
// on (expiry, allowed categories).
// Invariants: no crash or sanitizer report; every data row is either accepted or rejected
// (rows = entries + rejected); rejected rows are listed in line order with lines inside the
// input and a reason; accepted entries hold valid plates and texts within their limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/list_file.h"

namespace {

void check(const anpr::ListLoad& r, std::string_view text) {
  if (r.fatal) return;
  if (r.rows != r.list->entries.size() + r.rejected_count) std::abort();
  std::size_t lines = 1;
  for (char c : text) lines += c == '\n';
  std::size_t last = 0;
  for (const anpr::RowError& e : r.rejected) {
    if (e.line < last || e.line == 0 || e.line > lines || e.reason.empty()) std::abort();
    last = e.line;
  }
  for (const anpr::ListEntry& e : r.list->entries) {
    if (e.plate.size() == 0 || e.plate.size() > anpr::Plate::kMaxLen) std::abort();
    if (e.reference.empty() || e.reference.size() > anpr::kMaxReferenceBytes) std::abort();
    if (e.note.size() > anpr::kMaxNoteBytes || e.priority > anpr::kMaxPriority) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  anpr::ListMeta meta;
  meta.id = "fuzz";
  meta.owner = anpr::kLU;
  if (size > 0 && (data[0] & 1)) meta.default_category = anpr::Category::serious_crime;
  anpr::LoadOptions o;
  o.now = 1'790'000'000'000;  // 2026-09
  o.allowed_categories = (1u << static_cast<unsigned>(anpr::Category::serious_crime)) |
                         (1u << static_cast<unsigned>(anpr::Category::terrorism));
  o.max_row_errors = 1 + (size > 1 ? data[1] % 16 : 0);
  check(anpr::load_list_text(text, "fuzz.csv", meta, o), text);
  check(anpr::load_list_jsonl_text(text, "fuzz.jsonl", meta, o), text);
  return 0;
}
