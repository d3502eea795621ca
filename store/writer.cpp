#include "store/writer.h"
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
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  room_.notify_all();
  for (auto& t : threads_) t.join();
}

void Writer::submit(const std::vector<Record>& records, std::function<void()> durable) {
  RecordBatch rb = take();
  for (const Record& r : records) rb.add(r);
  submit(std::move(rb), std::move(durable));
}

RecordBatch Writer::take() {
  std::lock_guard lock(mu_);
  if (free_.empty()) return {};
  RecordBatch rb = std::move(free_.back());
  free_.pop_back();
  return rb;
}

void Writer::submit(RecordBatch records, std::function<void()> durable) {
  bool wake;
  {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return stop_ || queue_.size() < max_queued_; });
    queued_records_ += records.size();
    queue_.push_back(Job{std::move(records), std::move(durable)});
    // The writer waits for the first hand-over, then lingers until enough are there.
    wake = queue_.size() == 1 || group_ready();
  }
  if (wake) cv_.notify_one();
}

std::size_t Writer::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size() + in_write_;
}

uint64_t Writer::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

void Writer::loop() {
  pthread_setname_np(pthread_self(), "anpr-store");  // in top -H and perf
  std::vector<Job> jobs;
  std::vector<const RecordBatch*> groups;
  auto next_report = std::chrono::steady_clock::time_point{};
  for (;;) {
    {
      std::unique_lock lock(mu_);
      in_write_ -= jobs.size();
      jobs.clear();
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, everything written
      if (linger_.count() > 0)
        cv_.wait_for(lock, linger_, [&] { return stop_ || group_ready(); });
      jobs.swap(queue_);
      queued_records_ = 0;
      in_write_ += jobs.size();
    }
    room_.notify_all();
    groups.clear();
    std::size_t records = 0;
    for (const Job& j : jobs) {
      groups.push_back(&j.records);
      records += j.records.size();
    }
    bool written = false;
    for (int attempt = 1;; ++attempt) {
      try {
        store_.write(std::span<const RecordBatch* const>(groups));
        written = true;
        break;
      } catch (const std::exception& e) {
        bool stopping;
        {
          std::lock_guard lock(mu_);
          stopping = stop_;
        }
        if (stopping && attempt >= 5) {
          // Shutting down and the store still cannot be written (disk full, read-only): give
          // up rather than hang. These reads' offsets are never stored, so they are consumed
          // again after the restart: nothing is lost.
          log::error("run", std::string(e.what()) + "; stopping without storing " +
                                std::to_string(records) + " records (their reads will be "
                                "processed again)",
                     {{"error", e.what()}, {"records", records}});
          break;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_report) {
          log::warn("run",
                    std::string(e.what()) +
                        "; trying again every second (the reads' offsets wait until their "
                        "records are stored)",
                    {{"error", e.what()}});
          next_report = now + std::chrono::seconds(10);
        }
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
    if (!written) continue;
    {
      std::lock_guard lock(mu_);
      ++batches_;
    }
    for (Job& j : jobs)
      if (j.durable) j.durable();
    std::lock_guard lock(mu_);
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
