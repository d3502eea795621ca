#include "store/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "store/store.h"

namespace anpr::store {

std::string errno_text(int err) {
  const char* name = ::strerrordesc_np(err) ? ::strerrorname_np(err) : nullptr;
  std::string t = std::strerror(err);
  if (name) t += std::string(" (") + name + ")";
  return t;
}

namespace detail {

[[noreturn]] void fail(const std::string& what, int err) {
  throw IoError("retention store: " + what + ": " + errno_text(err), err);
}

void pwrite_all(int fd, const char* p, std::size_t n, uint64_t off, const fs::path& file) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("cannot write " + file.string(), errno);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<uint64_t>(w);
  }
}

bool pread_all(int fd, char* p, std::size_t n, uint64_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

void sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open " + dir.string(), errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail("cannot sync " + dir.string(), err);
}

std::string read_file(const fs::path& p, uint64_t limit) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) fail("cannot open " + p.string(), errno);
  struct stat st{};
  if (::fstat(fd.fd, &st) != 0) fail("cannot read " + p.string(), errno);
  std::string data(std::min<uint64_t>(limit, static_cast<uint64_t>(st.st_size)), '\0');
  if (!pread_all(fd.fd, data.data(), data.size(), 0)) fail("cannot read " + p.string(), EIO);
  return data;
}

}  // namespace detail
}  // namespace anpr::store
