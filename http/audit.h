// The audit log (docs/design.md §6): one JSON object per line for every list change, search and
// acknowledgement: who, with which role, when, what, and the action's own fields.
//
//   {"ts":"2026-11-24T10:12:03.512Z","who":"alice","role":"operator","action":"list.load",...}
//
// A record is written and flushed to disk (fdatasync) before the action it records is reported
// as done; if the log cannot be written the action fails, so no change goes unrecorded.
//
// Thread safety: record() may be called from any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "base/json_writer.h"

namespace anpr::http {

class AuditLog {
 public:
  // Opens (creates, mode 0600) the file for appending, creating its folder. Throws
  // std::runtime_error with the path and the system's reason.
  explicit AuditLog(std::filesystem::path file);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one record; `fields` adds the action's own keys to the object. Throws
  // std::runtime_error when the record cannot be written durably.
  void record(std::string_view who, std::string_view role, std::string_view action,
              const std::function<void(JsonWriter&)>& fields = {});

  const std::filesystem::path& path() const { return file_; }

 private:
  std::filesystem::path file_;
  std::mutex mu_;
  int fd_ = -1;
};

// Current UTC time as RFC 3339 with milliseconds.
std::string utc_now_text();

}  // namespace anpr::http
