#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace anpr::check_detail {

void fail(const char* file, int line, const char* cond, const char* message) {
  // One write, so the line is not interleaved with another thread's output.
  if (message)
    std::fprintf(stderr, "anpr: %s:%d: CHECK failed: %s: %s\n", file, line, cond, message);
  else
    std::fprintf(stderr, "anpr: %s:%d: CHECK failed: %s\n", file, line, cond);
  std::fflush(stderr);
  std::abort();
}

}  // namespace anpr::check_detail
