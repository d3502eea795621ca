// A scratch folder for one test: created empty and unique (mkdtemp) under the temporary folder
// ($TMPDIR, else /tmp), removed with everything in it when the TempDir goes away. Set
// ANPR_KEEP_TEST_DIRS (to anything) to keep every folder, or ask for `keep_on_failure` to keep it
// when the running test has failed; a kept folder is named on stderr.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace anpr::testing {

class TempDir {
 public:
  enum class Keep { never, on_failure };

  // `<temp>/anpr-<prefix>-XXXXXX`
  explicit TempDir(const std::string& prefix, Keep keep = Keep::never) : keep_(keep) {
    std::string templ =
        (std::filesystem::temp_directory_path() / ("anpr-" + prefix + "-XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr)
      throw std::runtime_error("TempDir: cannot create " + templ);
    path_ = templ;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    const bool keep = std::getenv("ANPR_KEEP_TEST_DIRS") != nullptr ||
                      (keep_ == Keep::on_failure && ::testing::Test::HasFailure());
    if (keep) {
      std::cerr << "test folder kept: " << path_.string() << "\n";
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  const std::filesystem::path& path() const { return path_; }
  operator const std::filesystem::path&() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& p) const { return path_ / p; }

 private:
  std::filesystem::path path_;
  Keep keep_;
};

// The lines of a file (without their line feeds), and a file made of `lines`.
inline std::vector<std::string> read_lines(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

inline void write_lines(const std::filesystem::path& p, const std::vector<std::string>& lines) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  for (const std::string& l : lines) out << l << "\n";
}

}  // namespace anpr::testing
