// SIGINT/SIGTERM handling for long-running sub-commands: the first signal asks for a clean stop
// (drain, commit), a second one ends the process at once. SIGHUP asks for the tokens file to be
// reread (serve/token_reload.h) and never stops the process.
#pragma once

#include <atomic>
#include <cstdint>

namespace anpr::app {

// Installs the handlers; stop_requested() turns true at the first signal.
void install_stop_signals();
bool stop_requested();
// SIGHUPs received so far.
uint64_t reload_requests();

}  // namespace anpr::app
