// Rereads the tokens file (http.tokens_file) while the processor runs, so tokens can be handed
// out and withdrawn without a restart (docs/control-room.md, "Tokens").
//
// The file is reread when `reload_requests()` changes (SIGHUP: cli/signals.h) and when its
// modification time, size or inode changes (looked at every `poll`). A version that does not
// load (TOML error, a bad key, a name or token also in the config file) is refused with an error
// in the log, and the tokens in force stay; a good one replaces the file's tokens in the store at
// once (http/auth.h), beside the config file's own tokens, which never change while running.
//
// Thread safety: owns one thread; reload_now() may be called from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "http/auth.h"

namespace anpr::app {

class TokenFileWatcher {
 public:
  TokenFileWatcher(http::TokenStore store, std::vector<http::TokenSettings> config_tokens,
                   std::filesystem::path file, std::function<uint64_t()> reload_requests = {},
                   std::chrono::milliseconds poll = std::chrono::seconds(2));
  ~TokenFileWatcher();
  TokenFileWatcher(const TokenFileWatcher&) = delete;
  TokenFileWatcher& operator=(const TokenFileWatcher&) = delete;

  // Rereads the file now. True when the new tokens are in force; false (logged, the old tokens
  // stay) when the file does not load.
  bool reload_now();
  // Successful reloads so far.
  uint64_t reloads() const { return reloads_.load(); }

 private:
  struct Stamp {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    ino_t inode = 0;
    bool operator==(const Stamp&) const = default;
  };
  Stamp stamp() const;
  void loop(Stamp seen, uint64_t signals);

  http::TokenStore store_;
  const std::vector<http::TokenSettings> config_tokens_;
  const std::filesystem::path file_;
  const std::function<uint64_t()> reload_requests_;
  const std::chrono::milliseconds poll_;
  Mutex reload_mu_;  // one reload at a time
  std::atomic<uint64_t> reloads_{0};
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace anpr::app
