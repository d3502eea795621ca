// ANPR_CHECK: an internal invariant, checked in every build (NDEBUG does not remove it, unlike
// assert). When it fails the program is wrong, not its input: it prints file:line, the condition
// and the message to stderr and aborts.
//
//   ANPR_CHECK(depth == 0);
//   ANPR_CHECK(depth == 0, "synchronize() called inside a read-side section");
//
// Only for programmer errors. Bad input (a read, a list row, a configuration file, a request) is
// a value the caller handles, never a CHECK (ARCHITECTURE.md, Invariants). The condition is
// evaluated exactly once; keep it cheap, it runs in release builds.
#pragma once

namespace anpr::check_detail {

// Prints "anpr: file:line: CHECK failed: cond[: message]" to stderr and aborts.
[[noreturn]] void fail(const char* file, int line, const char* cond, const char* message);

}  // namespace anpr::check_detail

#define ANPR_CHECK_1(cond)                                                   \
  ((cond) ? static_cast<void>(0)                                             \
          : ::anpr::check_detail::fail(__FILE__, __LINE__, #cond, nullptr))
#define ANPR_CHECK_2(cond, message)                                          \
  ((cond) ? static_cast<void>(0)                                             \
          : ::anpr::check_detail::fail(__FILE__, __LINE__, #cond, (message)))
#define ANPR_CHECK_PICK(_1, _2, name, ...) name
// ANPR_CHECK(cond) or ANPR_CHECK(cond, "message"): the message is a C string.
#define ANPR_CHECK(...) ANPR_CHECK_PICK(__VA_ARGS__, ANPR_CHECK_2, ANPR_CHECK_1, unused)(__VA_ARGS__)
