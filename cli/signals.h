// SIGINT/SIGTERM handling for long-running sub-commands: the first signal asks for a clean stop
// (drain, commit), a second one ends the process at once.
#pragma once

#include <atomic>

namespace anpr::app {

// Installs the handlers; stop_requested() turns true at the first signal.
void install_stop_signals();
bool stop_requested();

}  // namespace anpr::app
