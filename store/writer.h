// Group commit for the pipeline: records handed over by the publish stage are written to the
// Store by a few threads, each taking every hand-over waiting at the time into one synced write,
// and each hand-over's callback runs once its records are durable (the processor then lets the
// reads' offsets advance). Written batches are emptied and handed out again by take(), so the
// steady state allocates nothing per record.
//
// A failed write (disk full, read-only, I/O error) is retried every second and reported at most
// once per 10 s, naming the errno; nothing is skipped, so offsets simply stop advancing until the
// store is writable again. submit() never waits: while the store cannot write, hand-overs queue
// up and the caller (the processor) bounds them by pausing consumption, so hits keep flowing to
// the control rooms meanwhile. health() says whether the last write failed, since when and why
// (readiness and the metrics show it). Once stopping, a write that fails is given up at once:
// those records' reads never had their offsets stored, so they are processed again at the next
// start and nothing is lost.
//
// Purger: calls Store::purge() every interval on a thread of its own.
//
// Thread safety: submit() from any thread; callbacks run on the writer's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "store/store.h"

namespace anpr::store {

class Writer {
 public:
  // `threads` write concurrently. A writer that finds fewer than `group_records` records (or
  // fewer than half of `max_queued` hand-overs) waiting waits up to `linger` for more, so a busy
  // pipeline pays one synced write per few thousand records rather than per batch (only the
  // reads' offsets wait for it, never their hits).
  explicit Writer(Store& store, int threads = 1, std::size_t max_queued = 64,
                  std::chrono::microseconds linger = std::chrono::milliseconds(5),
                  std::size_t group_records = 16384);
  // Writes what was submitted, then stops.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void submit(RecordBatch records, std::function<void()> durable);
  void submit(const std::vector<Record>& records, std::function<void()> durable);
  // An empty batch to fill, with the buffers of one already written when there is one.
  RecordBatch take();
  // Hand-overs not yet durable.
  std::size_t pending() const;
  uint64_t batches() const;  // synced writes so far

  struct Health {
    bool failing = false;   // the last write failed (the store cannot write now)
    int error_code = 0;     // its errno (ENOSPC, EROFS, EIO, ...), 0 when not an I/O error
    std::string error;      // its message, naming the file and the errno
    std::chrono::steady_clock::time_point failing_since{};  // first failure of this episode
    uint64_t failed_writes = 0;  // failed attempts since start
    std::size_t pending_records = 0;  // handed over and not yet durable
  };
  Health health() const;

 private:
  struct Job {
    RecordBatch records;
    std::function<void()> durable;
  };
  void loop();
  // Enough waits for one synced write.
  bool group_ready() const REQUIRES(mu_) {
    return queued_records_ >= group_records_ || queue_.size() * 2 >= max_queued_;
  }

  Store& store_;
  mutable Mutex mu_;
  std::condition_variable cv_;
  std::vector<Job> queue_ GUARDED_BY(mu_);
  std::vector<RecordBatch> free_ GUARDED_BY(mu_);  // written batches, emptied, for take()
  std::size_t max_queued_;
  std::chrono::microseconds linger_;
  std::size_t group_records_;
  std::size_t queued_records_ GUARDED_BY(mu_) = 0;
  std::size_t in_write_ GUARDED_BY(mu_) = 0;
  uint64_t batches_ GUARDED_BY(mu_) = 0;
  std::size_t in_write_records_ GUARDED_BY(mu_) = 0;
  Health health_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

class Purger {
 public:
  Purger(Store& store, int64_t interval_ms);
  ~Purger();

 private:
  Store& store_;
  int64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace anpr::store
