// File I/O helpers of the retention store: system calls that fail with an IoError naming the
// file and the errno. Private to store/.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace anpr::store {

namespace fs = std::filesystem;

namespace detail {

[[noreturn]] void fail(const std::string& what, int err);
void pwrite_all(int fd, const char* p, std::size_t n, uint64_t off, const fs::path& file);
bool pread_all(int fd, char* p, std::size_t n, uint64_t off);
void sync_dir(const fs::path& dir);

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

std::string read_file(const fs::path& p, uint64_t limit);

}  // namespace detail
}  // namespace anpr::store
