#include "serve/token_reload.h"

#include <sys/stat.h>

#include "config/settings.h"
#include "logging/log.h"

namespace anpr::app {

TokenFileWatcher::TokenFileWatcher(http::TokenStore store,
                                   std::vector<http::TokenSettings> config_tokens,
                                   std::filesystem::path file,
                                   std::function<uint64_t()> reload_requests,
                                   std::chrono::milliseconds poll)
    : store_(std::move(store)), config_tokens_(std::move(config_tokens)), file_(std::move(file)),
      reload_requests_(std::move(reload_requests)), poll_(poll) {
  // What the file and the signal count are now, taken before the thread starts: a change made
  // while it starts is a change.
  const Stamp seen = stamp();
  const uint64_t signals = reload_requests_ ? reload_requests_() : 0;
  thread_ = std::thread([this, seen, signals] { loop(seen, signals); });
}

TokenFileWatcher::~TokenFileWatcher() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

TokenFileWatcher::Stamp TokenFileWatcher::stamp() const {
  struct stat st {};
  if (::stat(file_.c_str(), &st) != 0) return {};
  return Stamp{int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
               static_cast<int64_t>(st.st_size), st.st_ino};
}

bool TokenFileWatcher::reload_now() {
  MutexLock lock(reload_mu_);
  try {
    const auto file_tokens = config::load_tokens(file_);
    const auto all = config::merge_tokens(config_tokens_, file_tokens, file_.string());
    store_.replace(all);
  } catch (const std::exception& e) {
    log::error("http",
               "the tokens file " + file_.string() +
                   " was not loaded; the tokens in force stay: " + e.what(),
               {{"file", file_.string()}});
    return false;
  }
  reloads_.fetch_add(1);
  log::info("http", "tokens reloaded from " + file_.string() + ": " +
                        std::to_string(store_.size()) + " tokens in force",
            {{"file", file_.string()}, {"tokens", static_cast<uint64_t>(store_.size())}});
  return true;
}

void TokenFileWatcher::loop(Stamp seen, uint64_t signals) {
  auto next_look = std::chrono::steady_clock::now() + poll_;
  const auto tick = std::min<std::chrono::milliseconds>(poll_, std::chrono::milliseconds(200));
  for (;;) {
    {
      MutexLock lock(mu_);
      cv_.wait_for(lock.native(), tick, [&]() REQUIRES(mu_) { return stop_; });
      if (stop_) return;
    }
    bool reload = false;
    if (reload_requests_) {
      const uint64_t n = reload_requests_();
      if (n != signals) {
        signals = n;
        reload = true;
      }
    }
    if (std::chrono::steady_clock::now() >= next_look) {
      next_look = std::chrono::steady_clock::now() + poll_;
      const Stamp now = stamp();
      if (!(now == seen)) {
        seen = now;
        reload = true;
      }
    }
    if (reload) {
      seen = stamp();
      reload_now();
    }
  }
}

}  // namespace anpr::app
