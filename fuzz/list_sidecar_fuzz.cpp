// libFuzzer target: reference-list sidecar TOML (parse_sidecar) and, when the input holds a
// "\n%%\n" separator, the CSV after it loaded with the parsed metadata (load_list_text).
// Invariants: no crash, no exception, no sanitizer report; exactly one of meta/error; parsed
// metadata satisfies the documented ranges; every accepted row is a valid entry and every
// rejected row names its line and a reason.
//
// Build against Debian's shared toml++ (-DTOML_HEADER_ONLY=0 -ltomlplusplus), as the product
// does through tomlplusplus::tomlplusplus: toml++ 3.3 compiled header-only without NDEBUG
// asserts preconditions that malformed TOML can break (e.g. "[%", "1013-01-01T<"; upstream
// marzer/tomlplusplus#301), aborting where the release library reports a parse error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/list_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view toml = input, csv;
  bool have_csv = false;
  if (const auto sep = input.find("\n%%\n"); sep != std::string_view::npos) {
    toml = input.substr(0, sep + 1);
    csv = input.substr(sep + 4);
    have_csv = true;
  }

  const anpr::SidecarParse p = anpr::parse_sidecar(toml, "fuzz.toml");
  if (p.meta.has_value() == p.error.has_value()) std::abort();
  if (p.error) {
    if (p.error->message.empty() || p.error->file != "fuzz.toml") std::abort();
    return 0;
  }
  const anpr::ListMeta& m = *p.meta;
  if (!anpr::ListId::valid(m.id) || !m.owner.assigned()) std::abort();
  if (m.max_substitutions < 1 || m.max_substitutions > anpr::kMaxSubstitutionsLimit) std::abort();
  if (m.default_priority > anpr::kMaxPriority || m.valid_from >= m.valid_until) std::abort();
  if (!have_csv) return 0;

  anpr::LoadOptions opt;
  opt.max_row_errors = 64;
  const anpr::ListLoad r = anpr::load_list_text(csv, "fuzz.csv", m, opt);
  if (r.fatal) {
    if (r.list || r.fatal->message.empty()) std::abort();
    return 0;
  }
  if (!r.list || r.list->entries.size() + r.rejected_count != r.rows) std::abort();
  if (r.rejected.size() > opt.max_row_errors || r.rejected.size() > r.rejected_count) std::abort();
  std::size_t prev = 0;
  for (const anpr::RowError& e : r.rejected) {
    if (e.line < 2 || e.line < prev || e.reason.empty() || e.detail.empty()) std::abort();
    prev = e.line;
  }
  for (const anpr::ListEntry& e : r.list->entries) {
    if (e.plate.size() == 0 || e.reference.empty() || e.priority > anpr::kMaxPriority) std::abort();
    if (e.reference.size() > anpr::kMaxReferenceBytes || e.note.size() > anpr::kMaxNoteBytes)
      std::abort();
  }
  return 0;
}
