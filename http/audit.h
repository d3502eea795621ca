// The audit log (docs/design.md §6; docs/operators.md §11): one JSON object per line for every
// list change, search and acknowledgement: who, with which role, when, what, and the action's own
// fields. The records form a hash chain, so an edited, removed, inserted or reordered record is
// detected by `anpr audit verify`:
//
//   {"audit_seq":7,"audit_prev":"<hash of record 6>","ts":"2026-11-24T10:12:03.512Z",
//    "who":"alice","role":"operator","action":"list.load",...,"audit_hash":"<its hash>"}
//
// The chain. `audit_seq` counts the records from 1; `audit_prev` is the `audit_hash` of the
// record before (64 zeros, kAuditGenesis, for record 1); `audit_hash` is the lower-case hex
// SHA-256 of the line's bytes up to, not including, `,"audit_hash":` — or, when a key is
// configured (`audit.key_file`), their HMAC-SHA256
// with that key. Without a key the chain shows any change made by someone who does not recompute
// it (a slip, an editor, a careless script); with a key, only a holder of the key can write a
// chain that verifies, so keep the key where whoever can edit the log cannot read it.
//
// (The names start with `audit_` so that they never meet an action's own fields, such as the
// `seq` of a list version.)
//
// The anchor. After each record the writer stores its seq and hash in the head file beside the
// log (`audit.head` for `audit.jsonl`: the log's name up to its first dot, then `.head`), so
// removing the last records of the log is detected too. Someone who can write both files can
// roll both back; an anchor kept elsewhere (a copy of the head shipped off the machine) guards
// against that.
//
// Crashes and foreign lines. On opening, the writer resumes the chain from the last record of the
// file. Lines after that record that are not chained records (a record torn by a crash mid-write,
// lines written by an earlier version without the chain) are sealed: the writer ends a torn line,
// then writes an `audit.break` record naming how many bytes they hold and their SHA-256; verify
// reports them and accepts them only if the break record accounts for them exactly. If the head
// is ahead of the file (its last records are gone), the writer continues from the head, so the
// gap stays visible to verify.
//
// Rotation. Before each record the writer checks that its file is still the one at its path
// (same device and inode, not shorter than it wrote it); after a rename (logrotate), a removal or
// a truncation it opens the path again. A new file's first record is an `audit.segment` record
// that continues the chain (audit_seq and audit_prev after the last record of the previous file), so
// `anpr audit verify audit.jsonl.1 audit.jsonl` checks the chain across both files.
//
// Durability: a record is written and flushed to disk (fdatasync), then the head, before the
// action it records is reported as done; if either cannot be written the action fails, so no
// change goes unrecorded.
//
// Thread safety: record() may be called from any thread; records are chained in the order they
// are written.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_writer.h"

namespace anpr::http {

// `prev` of the first record of a chain.
inline constexpr std::string_view kAuditGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The head file of a log: `<dir>/<name up to its first dot>.head` (audit.jsonl -> audit.head).
std::filesystem::path audit_head_path(const std::filesystem::path& log);

// Reads an HMAC key file (audit.key_file): its bytes without a trailing newline, at least 16.
// Throws std::runtime_error naming the file.
std::string read_audit_key(const std::filesystem::path& file);

class AuditLog {
 public:
  // Opens (creates, mode 0600) the file for appending, creating its folder, and resumes the chain
  // (see the header comment). `key`: the HMAC key, empty for plain SHA-256. Throws
  // std::runtime_error with the path and the system's reason.
  explicit AuditLog(std::filesystem::path file, std::string key = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one record; `fields` adds the action's own keys to the object. Throws
  // std::runtime_error when the record cannot be written durably.
  void record(std::string_view who, std::string_view role, std::string_view action,
              const std::function<void(JsonWriter&)>& fields = {});

  const std::filesystem::path& path() const { return file_; }

 private:
  void open_locked();
  void resume_locked();
  void append_locked(std::string_view who, std::string_view role, std::string_view action,
                     const std::function<void(JsonWriter&)>& fields);
  void write_locked(const std::string& line);
  void write_head_locked();
  bool replaced_locked(std::string& why);

  std::filesystem::path file_;
  std::filesystem::path head_;
  std::string key_;
  std::mutex mu_;
  int fd_ = -1;
  bool regular_ = false;  // a regular file: chained across opens, anchored by the head
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  off_t end_ = 0;         // the file's size after our last write
  uint64_t seq_ = 0;      // the last record written (0: none)
  std::string last_ = std::string(kAuditGenesis);
  std::string had_last_;  // last_ while the file is opened again
};

// Current UTC time as RFC 3339 with milliseconds.
std::string utc_now_text();

// ---- Verification (`anpr audit verify`) ----

struct AuditVerifyOptions {
  std::string key;                          // the HMAC key the log was written with; empty: none
  std::optional<std::filesystem::path> head;  // the head file to check the end against
};

struct AuditVerifyResult {
  bool intact = false;
  uint64_t records = 0;          // chained records checked
  uint64_t last_seq = 0;
  std::string last_hash;
  // When broken: the file and line (from 1) of the first problem and what is wrong.
  std::filesystem::path file;
  uint64_t line = 0;
  std::string problem;
  std::vector<std::string> notes;  // sealed breaks, a chain continuing an earlier file
};

// Checks the chain across `files` (oldest first: a rotated log, then the current one). Throws
// std::runtime_error when a file cannot be read.
AuditVerifyResult verify_audit(const std::vector<std::filesystem::path>& files,
                               const AuditVerifyOptions& options = {});

}  // namespace anpr::http
