#include "cli/signals.h"

#include <csignal>
#include <unistd.h>

namespace anpr::app {

namespace {
std::atomic<int> g_signals{0};
static_assert(std::atomic<int>::is_always_lock_free);  // safe to touch from a signal handler

std::atomic<uint64_t> g_reloads{0};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

extern "C" void on_reload_signal(int) { g_reloads.fetch_add(1); }

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
  struct sigaction hup {};
  hup.sa_handler = on_reload_signal;
  sigemptyset(&hup.sa_mask);
  hup.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &hup, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_signals.load() > 0; }
uint64_t reload_requests() { return g_reloads.load(); }

}  // namespace anpr::app
