// Suppression of repeated hits (docs/design.md §4): the same listed plate on the same list is not
// re-published within the list's window. Time is the reads' capture time, so a replay of the same
// stream suppresses the same hits.
//
// A hit at time t is suppressed when the last *published* hit with the same key was at time p with
// |t - p| < window. Published hits update p; suppressed ones do not (so a plate seen every minute
// is re-alerted every window, not never). State older than the longest window is swept, so memory
// stays proportional to the hits of the last window.
//
// Thread safety: none; one thread (the pipeline's in-order stage) owns a Suppressor.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/hash.h"
#include "match/types.h"

namespace anpr {

class Suppressor {
 public:
  // `per_list`: list id -> window (ms); lists not named use `default_window_ms`. 0 = off.
  explicit Suppressor(int64_t default_window_ms = 300'000,
                      std::vector<std::pair<std::string, int64_t>> per_list = {})
      : default_ms_(default_window_ms), per_list_(std::move(per_list)) {
    max_ms_ = default_ms_;
    for (const auto& [id, ms] : per_list_) max_ms_ = std::max(max_ms_, ms);
  }

  int64_t window_ms(std::string_view list_id) const {
    for (const auto& [id, ms] : per_list_)
      if (id == list_id) return ms;
    return default_ms_;
  }

  // Returns true when the hit may be published (and records it), false when it is suppressed.
  // `entry_key` identifies the listed plate (its packed key and country).
  bool admit(std::string_view list_id, uint64_t entry_key, TimestampMs ts) {
    const int64_t window = window_ms(list_id);
    if (window <= 0) return true;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : list_id) h = (h ^ c) * 0x100000001b3ULL;
    const uint64_t key = mix64(h ^ mix64(entry_key));
    if (ts > newest_) newest_ = ts;
    if (++since_sweep_ >= 4096 && last_.size() > 1024) sweep();
    auto [it, inserted] = last_.try_emplace(key, ts);
    if (inserted) {
      if (journaling_) journal_.push_back({key, false, 0});
      return true;
    }
    const int64_t d = ts >= it->second ? ts - it->second : it->second - ts;
    if (d < window) {
      ++suppressed_;
      return false;
    }
    if (journaling_) journal_.push_back({key, true, it->second});
    it->second = ts;
    return true;
  }

  uint64_t suppressed() const { return suppressed_; }
  std::size_t tracked() const { return last_.size(); }

  // For transactions (pipeline.exactly_once): checkpoint() starts recording every change since
  // (forgetting the previous record); rollback() undoes them, so the reads of an aborted
  // transaction are decided again exactly as the first time. Without a checkpoint nothing is
  // recorded.
  void checkpoint() {
    journal_.clear();
    journaling_ = true;
    saved_newest_ = newest_;
    saved_suppressed_ = suppressed_;
  }
  void rollback() {
    if (!journaling_) return;
    for (auto it = journal_.rbegin(); it != journal_.rend(); ++it) {
      if (it->existed) last_[it->key] = it->ts;
      else last_.erase(it->key);
    }
    journal_.clear();
    newest_ = saved_newest_;
    suppressed_ = saved_suppressed_;
  }

 private:
  void sweep() {
    since_sweep_ = 0;
    std::erase_if(last_, [&](const auto& kv) {
      const bool old = newest_ - kv.second >= max_ms_;
      if (old && journaling_) journal_.push_back({kv.first, true, kv.second});
      return old;
    });
  }

  // One change since checkpoint(): the key's state before it.
  struct Change {
    uint64_t key;
    bool existed;
    TimestampMs ts;
  };

  int64_t default_ms_;
  std::vector<std::pair<std::string, int64_t>> per_list_;
  int64_t max_ms_ = 0;
  TimestampMs newest_ = INT64_MIN;
  std::unordered_map<uint64_t, TimestampMs> last_;
  uint64_t suppressed_ = 0;
  std::size_t since_sweep_ = 0;
  bool journaling_ = false;
  std::vector<Change> journal_;
  TimestampMs saved_newest_ = INT64_MIN;
  uint64_t saved_suppressed_ = 0;
};

}  // namespace anpr
