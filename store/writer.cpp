#include "store/writer.h"
#include "base/check.h"
#include "logging/log.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace anpr::store {

Writer::Writer(Store& store, int threads, std::size_t max_queued,
               std::chrono::microseconds linger, std::size_t group_records)
    : store_(store),
      max_queued_(std::max<std::size_t>(1, max_queued)),
      linger_(linger),
      group_records_(group_records) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { loop(); });
}

Writer::~Writer() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Writer::submit(const std::vector<Record>& records, std::function<void()> durable) {
  RecordBatch rb = take();
  for (const Record& r : records) rb.add(r);
  submit(std::move(rb), std::move(durable));
}

RecordBatch Writer::take() {
  MutexLock lock(mu_);
  if (free_.empty()) return {};
  RecordBatch rb = std::move(free_.back());
  free_.pop_back();
  return rb;
}

void Writer::submit(RecordBatch records, std::function<void()> durable) {
  bool wake;
  {
    MutexLock lock(mu_);
    queued_records_ += records.size();
    queue_.push_back(Job{std::move(records), std::move(durable)});
    // The writer waits for the first hand-over, then lingers until enough are there.
    wake = queue_.size() == 1 || group_ready();
  }
  if (wake) cv_.notify_one();
}

std::size_t Writer::pending() const {
  MutexLock lock(mu_);
  return queue_.size() + in_write_;
}

uint64_t Writer::batches() const {
  MutexLock lock(mu_);
  return batches_;
}

Writer::Health Writer::health() const {
  MutexLock lock(mu_);
  Health h = health_;
  h.pending_records = queued_records_ + in_write_records_;
  return h;
}

void Writer::loop() {
  pthread_setname_np(pthread_self(), "anpr-store");  // in top -H and perf
  std::vector<Job> jobs;
  std::vector<const RecordBatch*> groups;
  std::size_t records = 0;
  auto next_report = std::chrono::steady_clock::time_point{};
  for (;;) {
    {
      MutexLock lock(mu_);
      // What this thread took into its last write is counted in, and only once.
      ANPR_CHECK(in_write_ >= jobs.size() && in_write_records_ >= records);
      in_write_ -= jobs.size();
      in_write_records_ -= records;
      jobs.clear();
      cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, everything written
      if (linger_.count() > 0)
        cv_.wait_for(lock.native(), linger_,
                     [&]() REQUIRES(mu_) { return stop_ || group_ready(); });
      jobs.swap(queue_);
      queued_records_ = 0;
      in_write_ += jobs.size();
    }
    groups.clear();
    records = 0;
    for (const Job& j : jobs) {
      groups.push_back(&j.records);
      records += j.records.size();
    }
    {
      MutexLock lock(mu_);
      in_write_records_ += records;
    }
    bool written = false;
    for (;;) {
      try {
        store_.write(std::span<const RecordBatch* const>(groups));
        written = true;
        break;
      } catch (const std::exception& e) {
        const auto* io = dynamic_cast<const IoError*>(&e);
        const auto now = std::chrono::steady_clock::now();
        bool stopping;
        {
          MutexLock lock(mu_);
          stopping = stop_;
          if (!health_.failing) health_.failing_since = now;
          health_.failing = true;
          health_.error = e.what();
          health_.error_code = io ? io->code() : 0;
          ++health_.failed_writes;
        }
        if (stopping) {
          // Shutting down and the store cannot be written (disk full, read-only): give up rather
          // than hold the stop. These reads' offsets were never stored, so they are consumed
          // again after the restart: nothing is lost.
          log::error("run", std::string(e.what()) + "; stopping without storing " +
                                std::to_string(records) + " records (their reads will be "
                                "processed again at the next start)",
                     {{"error", e.what()}, {"records", records}});
          break;
        }
        if (now >= next_report) {
          log::error("run",
                     std::string(e.what()) + "; " + std::to_string(records) +
                         " records wait and the write is tried again every second (hits are "
                         "still published; the reads' offsets wait until their records are "
                         "stored)",
                     {{"error", e.what()}, {"records", records}});
          next_report = now + std::chrono::seconds(10);
        }
        // A second, or at once when asked to stop.
        MutexLock lock(mu_);
        cv_.wait_for(lock.native(), std::chrono::seconds(1),
                     [&]() REQUIRES(mu_) { return stop_; });
      }
    }
    if (!written) continue;
    {
      MutexLock lock(mu_);
      ++batches_;
      if (health_.failing) {
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::steady_clock::now() - health_.failing_since)
                              .count();
        log::info("run",
                  "the retention store writes again after " + std::to_string(secs) +
                      " s of failures; the waiting records are stored",
                  {{"seconds", static_cast<int64_t>(secs)}});
        health_.failing = false;
        health_.error.clear();
        health_.error_code = 0;
        next_report = {};
      }
    }
    for (Job& j : jobs)
      if (j.durable) j.durable();
    MutexLock lock(mu_);
    for (Job& j : jobs)
      if (free_.size() < 2 * max_queued_) {
        j.records.clear();
        free_.push_back(std::move(j.records));
      }
  }
}

Purger::Purger(Store& store, int64_t interval_ms)
    : store_(store), interval_ms_(interval_ms), thread_([this] {
        std::unique_lock lock(mu_);
        for (;;) {
          lock.unlock();
          try {
            store_.purge();
          } catch (const std::exception& e) {
            log::error("run", std::string("retention purge: ") + e.what(), {{"error", e.what()}});
          }
          lock.lock();
          if (cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; }))
            return;
        }
      }) {}

Purger::~Purger() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace anpr::store
