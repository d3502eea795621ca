#include "http/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "match/time.h"

namespace anpr::http {

std::string utc_now_text() {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return format_rfc3339(ms);
}

AuditLog::AuditLog(std::filesystem::path file) : file_(std::move(file)) {
  std::error_code ec;
  if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path(), ec);
  fd_ = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0)
    throw std::runtime_error(file_.string() + ": cannot open the audit log: " +
                             std::strerror(errno));
  ::fchmod(fd_, 0600);  // also a log made by an earlier version with a wider mode
  // Make the file's directory entry durable too (a new log must survive a crash).
  const std::filesystem::path dir = file_.has_parent_path() ? file_.parent_path() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

void AuditLog::record(std::string_view who, std::string_view role, std::string_view action,
                      const std::function<void(JsonWriter&)>& fields) {
  std::string line;
  JsonWriter w(line);
  w.begin_object();
  w.field("ts", utc_now_text());
  w.field("who", who);
  w.field("role", role);
  w.field("action", action);
  if (fields) fields(w);
  w.end_object();
  line.push_back('\n');
  std::lock_guard lock(mu_);
  // On failure the log is cut back to its last whole record, so no half line joins the next.
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      if (before >= 0 && off > 0) (void)!::ftruncate(fd_, before);
      throw std::runtime_error(file_.string() + ": cannot write the audit log: " +
                               std::strerror(e));
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0)
    throw std::runtime_error(file_.string() + ": cannot sync the audit log: " +
                             std::strerror(errno));
}

}  // namespace anpr::http
