#include "match/epoch.h"

#include <chrono>
#include <thread>

#include "base/check.h"

namespace anpr {
namespace epoch_detail {

std::atomic<uint64_t> g_epoch{1};

namespace {
constexpr uint64_t kIdle = ~uint64_t{0};
// Head of the list of slots. Slots are pushed once and never removed, so a scan never meets a
// freed slot.
std::atomic<Slot*> g_slots{nullptr};
std::atomic<std::size_t> g_slot_count{0};
}  // namespace

Slot* acquire_slot() {
  // Reuse a slot a finished thread gave back.
  for (Slot* s = g_slots.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    bool expected = false;
    if (!s->taken.load(std::memory_order_relaxed) &&
        s->taken.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      return s;
    }
  }
  Slot* s = new Slot;
  s->taken.store(true, std::memory_order_relaxed);
  Slot* head = g_slots.load(std::memory_order_relaxed);
  do {
    s->next = head;
    // release: a scanner that sees `s` also sees its initialised fields.
    // seq_cst (not just release): the push and the new reader's first seq_cst pointer load must
    // not be reordered against a writer's exchange and seq_cst scan of the list, or a writer
    // could miss this slot while the reader sees the old snapshot (store-buffering pattern).
  } while (!g_slots.compare_exchange_weak(head, s, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
  g_slot_count.fetch_add(1, std::memory_order_relaxed);
  return s;
}

ThreadState::~ThreadState() {
  if (slot != nullptr) {
    slot->epoch.store(kIdle, std::memory_order_release);
    slot->taken.store(false, std::memory_order_release);
    slot = nullptr;  // the slot may now belong to another thread
  }
}

}  // namespace epoch_detail

void synchronize() {
  using namespace epoch_detail;
  // It would wait for its own section forever.
  ANPR_CHECK(t_state.depth == 0, "synchronize() called inside a read-side section");
  // seq_cst: ordered after the caller's seq_cst exchange of the protected pointer.
  const uint64_t target = g_epoch.fetch_add(1, std::memory_order_seq_cst) + 1;
  // seq_cst: see acquire_slot().
  for (Slot* s = g_slots.load(std::memory_order_seq_cst); s != nullptr; s = s->next) {
    unsigned spins = 0;
    for (;;) {
      // seq_cst so the scan is ordered after the epoch increment; acquire pairs with the
      // reader's release on exit.
      uint64_t e = s->epoch.load(std::memory_order_seq_cst);
      if (e == kIdle || e >= target) break;
      if (++spins < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
  }
}

std::size_t epoch_slot_count() { return epoch_detail::g_slot_count.load(std::memory_order_relaxed); }

}  // namespace anpr
