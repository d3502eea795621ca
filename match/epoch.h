// Epoch-based reclamation: lets reader threads use a shared object without locks while a writer
// replaces it, and tells the writer when the old object can be freed.
//
// Thread safety
// -------------
// - Any thread may open a read-side section with `EpochGuard g;` (RAII). Sections nest. Opening
//   and closing a section takes no lock and performs no atomic read-modify-write: it stores the
//   current epoch into a slot owned by this thread alone (one cache line per thread, read only
//   by a writer while it waits), and clears it on exit.
// - Any thread may call `synchronize()`. It returns once every read-side section that was open
//   when it was called has closed. Sections opened later do not delay it. It must not be called
//   from inside a read-side section of the same thread (it would wait for itself forever; this is
//   checked and aborts).
// - Protocol for a pointer `p` to shared data: readers load `p` (memory_order_seq_cst) inside a
//   section and may use what it points to until the section closes. A writer exchanges `p`
//   (seq_cst), calls synchronize(), then frees the old object.
//
// Why this is correct: a reader's slot store precedes its load of `p` in the single total order
// of seq_cst operations. If it loaded the old pointer, that load precedes the writer's exchange,
// which precedes the writer's epoch increment and slot scan; so the scan sees the reader's slot
// with an epoch older than the new one and waits until the release-store that closes the section,
// whose acquire-load by the writer orders every use of the old object before its destruction.
//
// Readers register a slot the first time they open a section (a lock-free push onto a list of
// slots that is never shrunk); the slot is returned for reuse when the thread exits.
#pragma once

#include <atomic>
#include <cstdint>

namespace anpr {

namespace epoch_detail {
struct alignas(64) Slot {
  // kIdle when this thread is outside any section; otherwise the epoch seen when it entered.
  std::atomic<uint64_t> epoch{~uint64_t{0}};
  std::atomic<bool> taken{false};
  Slot* next = nullptr;  // immutable once the slot is published on the list
};
struct ThreadState {
  Slot* slot = nullptr;
  unsigned depth = 0;
  ~ThreadState();
};
Slot* acquire_slot();
extern std::atomic<uint64_t> g_epoch;
inline thread_local ThreadState t_state;
}  // namespace epoch_detail

class EpochGuard {
 public:
  EpochGuard() {
    auto& st = epoch_detail::t_state;
    if (st.depth == 0 && st.slot == nullptr) st.slot = epoch_detail::acquire_slot();  // may throw
    if (st.depth++ == 0) {
      // acquire: if this reads a writer's increment, the writer's pointer exchange (before the
      // increment) happens-before our later load of the pointer, so we see the new object and
      // the writer is right not to wait for us. An older value only makes a writer wait longer.
      // seq_cst store: ordered before this section's seq_cst load of the protected pointer.
      st.slot->epoch.store(epoch_detail::g_epoch.load(std::memory_order_acquire),
                           std::memory_order_seq_cst);
    }
  }
  ~EpochGuard() {
    auto& st = epoch_detail::t_state;
    if (--st.depth == 0) {
      // release: every access made inside the section happens-before a writer's acquire-load
      // that sees the slot idle, and so before it frees anything.
      st.slot->epoch.store(~uint64_t{0}, std::memory_order_release);
    }
  }
  EpochGuard(const EpochGuard&) = delete;
  EpochGuard& operator=(const EpochGuard&) = delete;
};

// Waits until every read-side section open at the time of the call has closed.
void synchronize();

// Number of slots ever registered (for tests and metrics).
std::size_t epoch_slot_count();

}  // namespace anpr
