// Suppression of repeated hits (docs/design.md §4): the same listed plate on the same list is not
// re-published within the list's window. Time is the reads' capture time, so a replay of the same
// stream suppresses the same hits.
//
// A hit at time t is suppressed when the last *published* hit with the same key was at time p with
// |t - p| < window. Published hits update p; suppressed ones do not (so a plate seen every minute
// is re-alerted every window, not never). State older than the longest window is swept, so memory
// stays proportional to the hits of the last window.
//
// Across instances (ARCHITECTURE.md, "One alert per plate across instances"): the processor's
// follower of the hits topic (pipeline/group_hits.h) records every hit the consumer group
// published in a GroupHits; a Suppressor that follows it (follow()) also suppresses a hit when
// the group published one with the same key within the window. Only hits on the topic count, so
// a hit that was never delivered suppresses nothing.
//
// Thread safety: a Suppressor has none; one thread (the pipeline's in-order stage) owns it.
// GroupHits may be used from any thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/hash.h"
#include "base/mutex.h"
#include "match/types.h"

namespace anpr {

// The suppression key of a listed plate on a list: the list id and the entry's key (its packed
// plate and country, see Suppressor::admit).
inline uint64_t suppression_key(std::string_view list_id, uint64_t entry_key) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : list_id) h = (h ^ c) * 0x100000001b3ULL;
  return mix64(h ^ mix64(entry_key));
}

// The hits the whole consumer group published (read back from the hits topic), by suppression
// key: the latest capture time of each. Bounded: entries older than the longest window behind the
// newest capture time are swept, and at `capacity` keys a new key is refused (counted) rather than
// memory grown; a refused hit only means a second alert may go out, never that one is lost.
class GroupHits {
 public:
  static constexpr std::size_t kDefaultCapacity = std::size_t{1} << 18;  // ~16 MiB at most

  explicit GroupHits(int64_t max_window_ms, std::size_t capacity = kDefaultCapacity)
      : max_ms_(max_window_ms), capacity_(capacity) {}

  // Records a published hit. False when it was not recorded: older than the longest window behind
  // the newest one recorded, or no room for a new key.
  bool record(std::string_view list_id, uint64_t entry_key, TimestampMs ts) {
    const uint64_t key = suppression_key(list_id, entry_key);
    MutexLock lock(mu_);
    if (ts > newest_) newest_ = ts;
    if (newest_ - ts >= max_ms_) return false;  // can no longer suppress anything newer
    if (auto it = last_.find(key); it != last_.end()) {
      it->second = std::max(it->second, ts);
      return true;
    }
    if (last_.size() >= capacity_) {
      sweep();
      if (last_.size() >= capacity_) {
        ++refused_;
        return false;
      }
    }
    last_.emplace(key, ts);
    if (++since_sweep_ >= 4096) sweep();
    return true;
  }

  // Whether the group published a hit with `key` whose capture time is within `window_ms` of `ts`.
  bool covers(uint64_t key, TimestampMs ts, int64_t window_ms) const {
    MutexLock lock(mu_);
    auto it = last_.find(key);
    if (it == last_.end()) return false;
    const int64_t d = ts >= it->second ? ts - it->second : it->second - ts;
    return d < window_ms;
  }

  std::size_t tracked() const {
    MutexLock lock(mu_);
    return last_.size();
  }
  // New keys refused because `capacity` keys were tracked.
  uint64_t refused() const {
    MutexLock lock(mu_);
    return refused_;
  }

 private:
  void sweep() REQUIRES(mu_) {
    since_sweep_ = 0;
    const TimestampMs newest = newest_;
    std::erase_if(last_, [&](const auto& kv) { return newest - kv.second >= max_ms_; });
  }

  const int64_t max_ms_;
  const std::size_t capacity_;
  mutable Mutex mu_;
  std::unordered_map<uint64_t, TimestampMs> last_ GUARDED_BY(mu_);
  TimestampMs newest_ GUARDED_BY(mu_) = INT64_MIN;
  std::size_t since_sweep_ GUARDED_BY(mu_) = 0;
  uint64_t refused_ GUARDED_BY(mu_) = 0;
};

class Suppressor {
 public:
  // `per_list`: list id -> window (ms); lists not named use `default_window_ms`. 0 = off.
  explicit Suppressor(int64_t default_window_ms = 300'000,
                      std::vector<std::pair<std::string, int64_t>> per_list = {})
      : default_ms_(default_window_ms), per_list_(std::move(per_list)) {
    max_ms_ = default_ms_;
    for (const auto& [id, ms] : per_list_) max_ms_ = std::max(max_ms_, ms);
  }

  // The longest window: how long a published hit can suppress another.
  int64_t max_window_ms() const { return max_ms_; }

  // Also suppress what the consumer group published (`group` outlives the Suppressor; null: per
  // instance only).
  void follow(const GroupHits* group) { group_ = group; }

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
    const uint64_t key = suppression_key(list_id, entry_key);
    if (ts > newest_) newest_ = ts;
    if (++since_sweep_ >= 4096 && last_.size() > 1024) sweep();
    auto it = last_.find(key);
    if (it != last_.end()) {
      const int64_t d = ts >= it->second ? ts - it->second : it->second - ts;
      if (d < window) {
        ++suppressed_;
        return false;
      }
    }
    // Another instance (or this one before a restart) published it within the window.
    if (group_ && group_->covers(key, ts, window)) {
      ++suppressed_;
      ++suppressed_by_group_;
      return false;
    }
    if (it == last_.end()) {
      last_.emplace(key, ts);
      if (journaling_) journal_.push_back({key, false, 0});
      return true;
    }
    if (journaling_) journal_.push_back({key, true, it->second});
    it->second = ts;
    return true;
  }

  uint64_t suppressed() const { return suppressed_; }
  // Of those, suppressed because of a hit the group published (follow()).
  uint64_t suppressed_by_group() const { return suppressed_by_group_; }
  std::size_t tracked() const { return last_.size(); }

  // For transactions (pipeline.exactly_once): checkpoint() starts recording every change since
  // (forgetting the previous record); rollback() undoes them, so the reads of an aborted
  // transaction are decided again exactly as the first time (but for what the group published
  // meanwhile: GroupHits is not rolled back, it holds only hits that are on the topic). Without a
  // checkpoint nothing is recorded.
  void checkpoint() {
    journal_.clear();
    journaling_ = true;
    saved_newest_ = newest_;
    saved_suppressed_ = suppressed_;
    saved_by_group_ = suppressed_by_group_;
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
    suppressed_by_group_ = saved_by_group_;
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
  uint64_t suppressed_by_group_ = 0;
  const GroupHits* group_ = nullptr;
  std::size_t since_sweep_ = 0;
  bool journaling_ = false;
  std::vector<Change> journal_;
  TimestampMs saved_newest_ = INT64_MIN;
  uint64_t saved_suppressed_ = 0;
  uint64_t saved_by_group_ = 0;
};

}  // namespace anpr
