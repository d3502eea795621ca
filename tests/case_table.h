// Reads the tab-separated case tables in tests/data/: one case per line, '#' comments and blank
// lines skipped, CR before LF tolerated. Malformed lines are reported as test failures naming the
// file and line, and skipped.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace anpr::testing {

struct TableRow {
  int line = 0;
  std::vector<std::string> fields;
};

inline std::vector<std::string> split_tabs(std::string_view line) {
  std::vector<std::string> f;
  std::size_t start = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', start);
    f.emplace_back(line.substr(start, tab == std::string_view::npos ? line.npos : tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  return f;
}

// Rows with between `min_fields` and `max_fields` fields whose fields 1 .. required-1 are not
// empty (field 0, the input, may be empty); `shape` describes the columns for failure messages.
inline std::vector<TableRow> read_case_table(const std::string& path, std::size_t min_fields,
                                             std::size_t max_fields, std::size_t required,
                                             std::string_view shape) {
  std::vector<TableRow> rows;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  const std::string name = path.substr(path.find_last_of('/') + 1);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto f = split_tabs(line);
    bool ok = f.size() >= min_fields && f.size() <= max_fields;
    for (std::size_t i = 1; ok && i < required && i < f.size(); ++i) ok = !f[i].empty();
    if (!ok) {
      ADD_FAILURE() << name << ":" << n << ": expected " << shape;
      continue;
    }
    rows.push_back({n, std::move(f)});
  }
  return rows;
}

}  // namespace anpr::testing
