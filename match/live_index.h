// LiveIndex: the reference index the pipeline reads (match/index.h describes the snapshots and
// the thread safety of both): the current snapshot, replaced atomically under running readers.
// Include match/index.h to use the snapshot a Reader points to (it includes this header).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "base/mutex.h"
#include "match/epoch.h"

namespace anpr {

class Snapshot;

// The index the pipeline reads: the current snapshot, replaced atomically.
class LiveIndex {
 public:
  LiveIndex();
  explicit LiveIndex(std::shared_ptr<const Snapshot> initial);
  ~LiveIndex();

  // A read-side section pinned to one snapshot. Keep it short (one read, or one batch).
  class Reader {
   public:
    const Snapshot* operator->() const { return s_; }
    const Snapshot& operator*() const { return *s_; }
    const Snapshot* get() const { return s_; }

   private:
    friend class LiveIndex;
    // seq_cst load: ordered after the guard's slot store (epoch.h).
    explicit Reader(const std::atomic<const Snapshot*>& p)
        : s_(p.load(std::memory_order_seq_cst)) {}
    EpochGuard guard_;  // declared first, so the section is open before the pointer is loaded
    const Snapshot* s_;
  };
  Reader read() const { return Reader(current_); }

  // Makes `next` current. Returns once no reader can still see the previous snapshot, which is
  // then released (freed if nobody else holds it). Never blocks readers.
  void publish(std::shared_ptr<const Snapshot> next);
  // The current snapshot, kept alive by the returned pointer (not for hot paths).
  std::shared_ptr<const Snapshot> current() const;
  uint64_t version_count() const { return published_.load(std::memory_order_relaxed); }

 private:
  // On a cache line of its own: publishers write the members below, readers only read this.
  alignas(64) std::atomic<const Snapshot*> current_;
  Mutex publish_mu_;                  // serialises publishers; readers never touch it
  alignas(64) mutable Mutex mu_;      // held only briefly (never while waiting)
  std::shared_ptr<const Snapshot> owner_ GUARDED_BY(mu_);
  std::atomic<uint64_t> published_{0};
};

}  // namespace anpr
