#include "match/live_index.h"

#include <stdexcept>
#include <utility>

#include "match/index.h"

namespace anpr {

LiveIndex::LiveIndex() : LiveIndex(IndexBuilder().build()) {}

LiveIndex::LiveIndex(std::shared_ptr<const Snapshot> initial)
    : current_(initial.get()), owner_(std::move(initial)) {}

LiveIndex::~LiveIndex() = default;

void LiveIndex::publish(std::shared_ptr<const Snapshot> next) {
  if (!next) throw std::invalid_argument("LiveIndex::publish: null snapshot");
  // One publisher at a time, so a later publisher cannot free a snapshot this one still waits on.
  MutexLock serial(publish_mu_);
  std::shared_ptr<const Snapshot> old;
  {
    MutexLock lock(mu_);
    // seq_cst: ordered before synchronize()'s epoch increment (epoch.h).
    current_.exchange(next.get(), std::memory_order_seq_cst);
    old = std::move(owner_);
    owner_ = std::move(next);
    published_.fetch_add(1, std::memory_order_relaxed);
  }
  // Wait without holding mu_: a reader inside a section may call current().
  synchronize();
  // `old` is released here, after every reader that could see it has left.
}

std::shared_ptr<const Snapshot> LiveIndex::current() const {
  MutexLock lock(mu_);
  return owner_;
}

}  // namespace anpr
