#include "http/audit.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "match/time.h"

namespace anpr::http {

namespace {

constexpr std::size_t kHashHex = 64;
constexpr std::string_view kHashKey = ",\"audit_hash\":\"";
// `,"audit_hash":"` + 64 hex + `"}`
constexpr std::size_t kHashSuffix = kHashKey.size() + kHashHex + 2;
constexpr std::size_t kMaxLine = 64u << 20;  // longer lines are refused: no record is that long
constexpr std::size_t kHeadBytes = 128;      // the head file: one padded line

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

bool is_hex64(std::string_view s) {
  return s.size() == kHashHex && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The record's hash: SHA-256 of `body`, or HMAC-SHA256 with `key`.
std::string chain_hash(std::string_view key, std::string_view body) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  const bool ok =
      key.empty()
          ? EVP_Digest(body.data(), body.size(), md.data(), &len, EVP_sha256(), nullptr) == 1
          : HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(body.data()), body.size(), md.data(),
                 &len) != nullptr;
  if (!ok) throw std::runtime_error("audit log: SHA-256 failed");
  return hex(md.data(), len);
}

// SHA-256 over bytes given piece by piece (the lines a break record seals).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { reset(); }
  void reset() {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("audit log: SHA-256 failed");
    bytes_ = 0;
  }
  void add(std::string_view s) {
    if (EVP_DigestUpdate(ctx_.get(), s.data(), s.size()) != 1)
      throw std::runtime_error("audit log: SHA-256 failed");
    bytes_ += s.size();
  }
  uint64_t bytes() const { return bytes_; }
  std::string hex_digest() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md.data(), &len) != 1)
      throw std::runtime_error("audit log: SHA-256 failed");
    return hex(md.data(), len);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
  uint64_t bytes_ = 0;
};

// A line of the log in the chained form:
// {"audit_seq":N,"audit_prev":"<64 hex>",...,"audit_hash":"<64 hex>"}.
struct Chained {
  uint64_t seq = 0;
  std::string_view prev, hash;
  std::string_view body;  // the bytes the hash covers
};

std::optional<Chained> parse_chained(std::string_view line) {
  constexpr std::string_view kSeq = "{\"audit_seq\":";
  constexpr std::string_view kPrev = ",\"audit_prev\":\"";
  if (line.size() < kSeq.size() + 1 + kPrev.size() + kHashHex + 1 + kHashSuffix) return {};
  if (line.substr(0, kSeq.size()) != kSeq) return {};
  std::size_t at = kSeq.size();
  Chained c;
  const std::size_t digits_from = at;
  while (at < line.size() && line[at] >= '0' && line[at] <= '9') {
    if (at - digits_from >= 19) return {};  // beyond any real count
    c.seq = c.seq * 10 + static_cast<uint64_t>(line[at] - '0');
    ++at;
  }
  if (at == digits_from || c.seq == 0 || line[digits_from] == '0') return {};
  if (line.substr(at, kPrev.size()) != kPrev) return {};
  at += kPrev.size();
  if (line.size() < at + kHashHex + 1 + kHashSuffix) return {};
  c.prev = line.substr(at, kHashHex);
  if (!is_hex64(c.prev) || line[at + kHashHex] != '"') return {};
  const std::size_t body_end = line.size() - kHashSuffix;
  if (body_end < at + kHashHex + 1) return {};
  if (line.substr(body_end, kHashKey.size()) != kHashKey || line.substr(line.size() - 2) != "\"}")
    return {};
  c.hash = line.substr(body_end + kHashKey.size(), kHashHex);
  if (!is_hex64(c.hash)) return {};
  c.body = line.substr(0, body_end);
  return c;
}

std::string errno_text(int e) { return std::strerror(e); }

bool pread_all(int fd, char* p, std::size_t n, off_t at) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
    at += r;
  }
  return true;
}

// The lines of [0, size) of a file, read in blocks.
class LineReader {
 public:
  LineReader(int fd, off_t size, std::string name) : fd_(fd), size_(size), name_(std::move(name)) {}

  // The next line without its '\n'; `terminated`: a '\n' ended it. False at the end.
  bool next(std::string& line, bool& terminated) {
    line.clear();
    for (;;) {
      if (at_ == buf_.size()) {
        if (pos_ >= size_) {
          terminated = false;
          return !line.empty();
        }
        buf_.resize(static_cast<std::size_t>(std::min<off_t>(1 << 16, size_ - pos_)));
        if (!pread_all(fd_, buf_.data(), buf_.size(), pos_))
          throw std::runtime_error(name_ + ": cannot read the audit log: " + errno_text(errno));
        pos_ += static_cast<off_t>(buf_.size());
        at_ = 0;
      }
      const auto nl = buf_.find('\n', at_);
      const std::size_t end = nl == std::string::npos ? buf_.size() : nl;
      line.append(buf_, at_, end - at_);
      if (line.size() > kMaxLine)
        throw std::runtime_error(name_ + ": a line longer than " + std::to_string(kMaxLine >> 20) +
                                 " MiB: not an audit log");
      if (nl != std::string::npos) {
        at_ = nl + 1;
        terminated = true;
        return true;
      }
      at_ = buf_.size();
    }
  }

 private:
  int fd_;
  off_t size_;
  std::string name_;
  off_t pos_ = 0;
  std::string buf_;
  std::size_t at_ = 0;
};

// The last line of [0, size): its text and whether a '\n' ends it.
std::string last_line(int fd, off_t size, bool& terminated, const std::string& name) {
  std::string tail;
  off_t from = size;
  terminated = false;
  bool first = true;
  for (;;) {
    const off_t n = std::min<off_t>(from, 4096);
    from -= n;
    std::string block(static_cast<std::size_t>(n), '\0');
    if (n > 0 && !pread_all(fd, block.data(), block.size(), from))
      throw std::runtime_error(name + ": cannot read the audit log: " + errno_text(errno));
    tail.insert(0, block);
    if (first) terminated = !tail.empty() && tail.back() == '\n';
    first = false;
    const std::size_t end = tail.size() - (terminated ? 1 : 0);
    if (end > 0)
      if (const auto nl = tail.rfind('\n', end - 1); nl != std::string::npos)
        return tail.substr(nl + 1, end - nl - 1);
    if (from == 0) return tail.substr(0, end);
    if (tail.size() > kMaxLine)
      throw std::runtime_error(name + ": a line longer than " + std::to_string(kMaxLine >> 20) +
                               " MiB: not an audit log");
  }
}

struct HeadState {
  uint64_t seq = 0;
  std::string hash;
};

// The head file's state; nullopt when absent. Throws when it exists but cannot be understood.
std::optional<HeadState> read_head(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(p)) return std::nullopt;
    throw std::runtime_error(p.string() + ": cannot read the audit head: " + errno_text(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  HeadState h;
  std::string_view hash;
  if (text.size() > 4096 || parser.parse(text).get_object().get(obj) != simdjson::SUCCESS ||
      obj["seq"].get_uint64().get(h.seq) != simdjson::SUCCESS ||
      obj["hash"].get_string().get(hash) != simdjson::SUCCESS || !is_hex64(hash))
    throw std::runtime_error(p.string() +
                             ": not an audit head (expected {\"seq\":N,\"hash\":\"<64 hex>\"})");
  h.hash = std::string(hash);
  return h;
}

// flock() for the time of one record: another process (`anpr lists publish`) may append to the
// same log; the chain then continues from its records.
class FileLock {
 public:
  FileLock(int fd, bool use) : fd_(use ? fd : -1) {
    if (fd_ >= 0)
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
  }
  ~FileLock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

}  // namespace

std::string utc_now_text() {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return format_rfc3339(ms);
}

std::filesystem::path audit_head_path(const std::filesystem::path& log) {
  std::string name = log.filename().string();
  if (const auto dot = name.find('.'); dot != std::string::npos && dot > 0) name.resize(dot);
  return log.parent_path() / (name + ".head");
}

std::string read_audit_key(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw std::runtime_error(file.string() + ": cannot read the audit key: " + errno_text(errno));
  std::string key;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    key.append(buf, static_cast<std::size_t>(in.gcount()));
    if (key.size() > 4096)
      throw std::runtime_error(file.string() + ": an audit key of more than 4096 bytes");
  }
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (key.size() < 16)
    throw std::runtime_error(file.string() + ": an audit key needs at least 16 bytes, got " +
                             std::to_string(key.size()));
  return key;
}

AuditLog::AuditLog(std::filesystem::path file, std::string key)
    : file_(std::move(file)), head_(audit_head_path(file_)), key_(std::move(key)) {
  std::error_code ec;
  if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path(), ec);
  std::lock_guard lock(mu_);
  open_locked();
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

// Opens the path, then resumes the chain: from the file's last record, or from what this writer
// or the head knew when that is further on (a new file after a rotation; records removed), and
// seals lines that are not records (see the header comment).
void AuditLog::open_locked() {
  int fd = ::open(file_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EACCES || errno == EISDIR || errno == EPERM))
    fd = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    throw std::runtime_error(file_.string() + ": cannot open the audit log: " +
                             std::strerror(errno));
  fd_ = fd;
  ::fchmod(fd_, 0600);  // also a log made by an earlier version with a wider mode
  struct stat st {};
  if (::fstat(fd_, &st) != 0)
    throw std::runtime_error(file_.string() + ": cannot open the audit log: " +
                             std::strerror(errno));
  regular_ = S_ISREG(st.st_mode);
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  // Make the file's directory entry durable too (a new log must survive a crash).
  const std::filesystem::path dir = file_.has_parent_path() ? file_.parent_path() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  if (!regular_) return;  // a device (/dev/null): nothing to resume
  FileLock flock(fd_, true);
  resume_locked();
}

void AuditLog::resume_locked() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0)
    throw std::runtime_error(file_.string() + ": cannot read the audit log: " +
                             std::strerror(errno));
  const off_t size = st.st_size;
  // The file's last record, and what follows it that is not one.
  uint64_t file_seq = 0;
  std::string file_hash(kAuditGenesis);
  Sha256 unsealed;
  uint64_t unsealed_lines = 0;
  bool torn = false;
  if (size > 0) {
    bool terminated = false;
    const std::string last = last_line(fd_, size, terminated, file_.string());
    const auto c = terminated ? parse_chained(last) : std::nullopt;
    if (c) {
      file_seq = c->seq;
      file_hash = std::string(c->hash);
    } else {
      LineReader lines(fd_, size, file_.string());
      std::string line;
      while (lines.next(line, terminated)) {
        if (const auto r = terminated ? parse_chained(line) : std::nullopt) {
          file_seq = r->seq;
          file_hash = std::string(r->hash);
          unsealed.reset();
          unsealed_lines = 0;
          continue;
        }
        unsealed.add(line);
        unsealed.add("\n");  // a torn line is ended below
        ++unsealed_lines;
        torn = !terminated;
      }
    }
  }
  end_ = size;
  // Where the chain goes on: the furthest of the file, this writer and the head.
  const uint64_t had_seq = seq_;
  seq_ = file_seq;
  last_ = file_hash;
  std::string gap;
  if (had_seq > seq_) {
    seq_ = had_seq;
    last_ = std::move(had_last_);
  }
  if (const auto head = read_head(head_); head && head->seq > seq_) {
    seq_ = head->seq;
    last_ = head->hash;
  }
  had_last_.clear();
  if (torn) write_locked("\n");
  if (unsealed.bytes() > 0) {
    const std::string digest = unsealed.hex_digest();
    append_locked("anpr", "system", "audit.break", [&](JsonWriter& w) {
      w.field("reason", torn ? "a record cut short (a crash while it was written)"
                             : "lines that are not chained audit records");
      w.field("unchained_lines", unsealed_lines);
      w.field("unchained_bytes", unsealed.bytes());
      w.field("unchained_sha256", digest);
    });
  } else if (seq_ != file_seq) {
    append_locked("anpr", "system", "audit.segment", [&](JsonWriter& w) {
      w.field("reason", size == 0 ? "a new log file (the previous one was rotated or removed)"
                                  : "the log ends before records that were written");
      if (size > 0) w.field("file_last_seq", file_seq);
    });
  }
}

bool AuditLog::replaced_locked(std::string& why) {
  struct stat at_path {}, ours {};
  if (::stat(file_.c_str(), &at_path) != 0) {
    why = "removed";
    return true;
  }
  if (at_path.st_dev != dev_ || at_path.st_ino != ino_) {
    why = "renamed or replaced";
    return true;
  }
  if (::fstat(fd_, &ours) == 0 && ours.st_size < end_) {
    why = "truncated";
    return true;
  }
  return false;
}

void AuditLog::record(std::string_view who, std::string_view role, std::string_view action,
                      const std::function<void(JsonWriter&)>& fields) {
  std::lock_guard lock(mu_);
  std::string why;
  if (fd_ >= 0 && regular_ && replaced_locked(why)) {
    // logrotate renamed it, someone removed it: the records go to the path, in a new file.
    ::close(fd_);
    fd_ = -1;
    had_last_ = last_;
  }
  if (fd_ < 0) open_locked();
  FileLock flock(fd_, regular_);
  if (regular_) {
    // Another writer (`anpr lists publish`) may have appended: continue after its records.
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && st.st_size != end_) {
      had_last_ = last_;
      resume_locked();
    }
  }
  append_locked(who, role, action, fields);
}

void AuditLog::append_locked(std::string_view who, std::string_view role,
                             std::string_view action,
                             const std::function<void(JsonWriter&)>& fields) {
  std::string line;
  JsonWriter w(line);
  w.begin_object();
  w.field("audit_seq", seq_ + 1);
  w.field("audit_prev", last_);
  w.field("ts", utc_now_text());
  w.field("who", who);
  w.field("role", role);
  w.field("action", action);
  if (fields) fields(w);
  w.end_object();
  line.pop_back();  // the '}': the hash goes last
  const std::string hash = chain_hash(key_, line);
  line.append(kHashKey);
  line.append(hash);
  line.append("\"}\n");
  write_locked(line);
  ++seq_;
  last_ = hash;
  if (regular_) write_head_locked();
}

void AuditLog::write_locked(const std::string& line) {
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
  if (before >= 0) end_ = before + static_cast<off_t>(line.size());
}

// The head: one line padded to a fixed size, written in place (a single small write) and synced.
void AuditLog::write_head_locked() {
  std::string text;
  JsonWriter w(text);
  w.begin_object();
  w.field("seq", seq_);
  w.field("hash", last_);
  w.end_object();
  text.resize(kHeadBytes - 1, ' ');
  text.push_back('\n');
  const int fd = ::open(head_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  const auto fail = [&](const char* what) {
    const int e = errno;
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(head_.string() + ": cannot " + what + " the audit head: " +
                             std::strerror(e));
  };
  if (fd < 0) fail("open");
  if (::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    fail("write");
  if (::ftruncate(fd, static_cast<off_t>(text.size())) != 0) fail("write");
  if (::fdatasync(fd) != 0) fail("sync");
  ::close(fd);
}

// ---- Verification ----

AuditVerifyResult verify_audit(const std::vector<std::filesystem::path>& files,
                               const AuditVerifyOptions& options) {
  AuditVerifyResult out;
  std::optional<HeadState> head;
  if (options.head) head = read_head(*options.head);
  std::optional<std::string> head_seen;  // the hash of the record with the head's seq
  bool known = false;                    // out.last_seq / out.last_hash hold the record before
  out.last_hash = std::string(kAuditGenesis);
  simdjson::dom::parser parser;
  const auto broken = [&](const std::filesystem::path& f, uint64_t line, std::string what) {
    out.intact = false;
    out.file = f;
    out.line = line;
    out.problem = std::move(what);
    return out;
  };
  uint64_t last_line_no = 0;
  for (const std::filesystem::path& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw std::runtime_error(f.string() + ": cannot read the audit log: " + errno_text(errno));
    std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* p) {
      ::close(*p);
      delete p;
    });
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      throw std::runtime_error(f.string() + ": not a regular file");
    LineReader lines(fd, st.st_size, f.string());
    std::string line;
    bool terminated = false;
    uint64_t no = 0;
    Sha256 pending;
    uint64_t pending_from = 0, pending_lines = 0;
    bool pending_torn = false;
    while (lines.next(line, terminated)) {
      ++no;
      const auto c = terminated ? parse_chained(line) : std::nullopt;
      if (!c) {
        if (pending_lines++ == 0) pending_from = no;
        pending.add(line);
        pending.add("\n");
        pending_torn = !terminated;
        continue;
      }
      if (chain_hash(options.key, c->body) != c->hash)
        return broken(f, no,
                      "its hash does not match its content: the record was changed" +
                          std::string(options.key.empty()
                                          ? " (or the log was written with an audit key: give "
                                            "--key-file)"
                                          : " (or it was written without this key)"));
      std::string json(c->body);
      json.push_back('}');
      simdjson::dom::object obj;
      std::string_view action;
      if (parser.parse(json).get_object().get(obj) != simdjson::SUCCESS ||
          obj["action"].get_string().get(action) != simdjson::SUCCESS)
        return broken(f, no, "not a JSON object with an action");
      if (pending_lines > 0) {
        uint64_t bytes = 0;
        std::string_view sha;
        const std::string digest = pending.hex_digest();
        if (action != "audit.break" ||
            obj["unchained_bytes"].get_uint64().get(bytes) != simdjson::SUCCESS ||
            obj["unchained_sha256"].get_string().get(sha) != simdjson::SUCCESS ||
            bytes != pending.bytes() || sha != digest)
          return broken(f, pending_from,
                        "not a chained audit record, and no break record accounts for it (a "
                        "line added or changed beyond recognition)");
        out.notes.push_back(f.string() + ":" + std::to_string(pending_from) + ": " +
                            std::to_string(pending_lines) +
                            " line(s) that are not chained records (a record cut short by a "
                            "crash, or lines of an earlier version), sealed by the break record "
                            "on line " + std::to_string(no));
        pending.reset();
        pending_lines = 0;
      }
      if (known) {
        if (c->seq != out.last_seq + 1)
          return broken(f, no,
                        "audit_seq " + std::to_string(c->seq) + " follows audit_seq " +
                            std::to_string(out.last_seq) +
                            ": a record was removed, repeated or moved");
        if (c->prev != out.last_hash)
          return broken(f, no,
                        "its audit_prev is not the audit_hash of the record before (seq " +
                            std::to_string(out.last_seq) +
                            "): a record was replaced, or the chain was cut and joined");
      } else if (c->seq == 1 && c->prev == kAuditGenesis) {
        // the start of a log
      } else if (action == "audit.segment") {
        out.notes.push_back(f.string() + ":" + std::to_string(no) + ": the chain continues seq " +
                            std::to_string(c->seq - 1) +
                            " of an earlier file; give that file first to check the link");
      } else {
        return broken(f, no,
                      "the chain starts at seq " + std::to_string(c->seq) +
                          " without a segment record: the records before it were removed");
      }
      known = true;
      out.last_seq = c->seq;
      out.last_hash = std::string(c->hash);
      ++out.records;
      if (head && c->seq == head->seq) head_seen = out.last_hash;
    }
    if (pending_lines > 0)
      return broken(f, pending_from,
                    pending_torn && pending_lines == 1
                        ? "a record cut short at the end of the log (a crash while it was "
                          "written; the writer seals it when it starts again)"
                        : "not a chained audit record, and no break record accounts for it");
    last_line_no = no;
  }
  if (head) {
    const std::string name = options.head->string();
    if (head->seq > out.last_seq)
      return broken(files.empty() ? std::filesystem::path() : files.back(), last_line_no + 1,
                    "the log ends at seq " + std::to_string(out.last_seq) + ", but " + name +
                        " records that seq " + std::to_string(head->seq) +
                        " was written: the last records were removed");
    if (head_seen && *head_seen != head->hash)
      return broken(files.empty() ? std::filesystem::path() : files.back(), last_line_no,
                    "the record with seq " + std::to_string(head->seq) + " is not the one " +
                        name + " records: the end of the log was replaced");
    if (!head_seen)
      out.notes.push_back(name + ": seq " + std::to_string(head->seq) +
                          " is before the files given; not checked");
  }
  out.intact = true;
  return out;
}

}  // namespace anpr::http
