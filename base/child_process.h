// A child process with its stdout on a pipe: `anpr bench` starts the embedded broker with it, and
// the black-box tests start the broker, the processor and kcat.
//
// Thread safety: one owner; not for concurrent use.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace anpr {

class ChildProcess {
 public:
  ChildProcess() = default;
  // Starts argv[0] (a path) with stdout to a pipe (when `capture`) and stderr appended to
  // `stderr_file` ("" = inherited). The destructor sends `stop_signal` and waits for the child.
  // Throws std::runtime_error when the process cannot be started.
  ChildProcess(const std::vector<std::string>& argv, bool capture,
               const std::string& stderr_file = "", int stop_signal = SIGKILL);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ~ChildProcess();

  // One line of the child's stdout without its newline; what was read so far when `timeout_ms`
  // passes or the pipe closes first.
  std::string read_line(int timeout_ms = 10'000);
  void signal(int sig) const;
  // The exit code (128 + signal when killed), or -1 if still running after `timeout_ms`.
  int wait(int timeout_ms = 60'000);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int stop_signal_ = SIGKILL;
};

}  // namespace anpr
