// Child processes for black-box tests: the embedded broker, the processor, kcat.
#pragma once

#include "base/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace anpr::testing {

// The `anpr` binary of this build.
inline const std::string kAnpr = std::string(ANPR_BINARY_DIR) + "/anpr";

using Child = ChildProcess;  // base/child_process.h

// Runs a shell command and returns its stdout.
inline std::string shell(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[65536];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

}  // namespace anpr::testing
