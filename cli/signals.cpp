#include "cli/signals.h"

#include <csignal>
#include <unistd.h>

namespace anpr::app {

namespace {
std::atomic<int> g_signals{0};
static_assert(std::atomic<int>::is_always_lock_free);  // safe to touch from a signal handler

extern "C" void on_stop_signal(int) {
  if (g_signals.fetch_add(1) >= 1) _exit(130);
}
}  // namespace

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_signals.load() > 0; }

}  // namespace anpr::app
