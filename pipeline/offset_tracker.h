// At-least-once bookkeeping for consumed reads (docs/design.md §6, and librdkafka's INTRODUCTION.md on
// `enable.auto.offset.store=false`).
//
// For each partition, reads are added in offset order with the number of messages (hits, route
// copies, dead letters) published for them. A read is *done* when every one of its messages has a
// successful delivery report. The partition's storable offset advances past a read only when that
// read and every earlier read of the partition are done; take_ready() hands out the advanced
// offsets for rd_kafka_offsets_store().
//
// Partitions are reset on (re)assignment: a new generation, so a delivery report for a read of an
// earlier assignment is recognised and ignored.
//
// Partitions are Kafka's partition ids, 0 up to the topic's partition count: the tracker keeps one
// pointer per id up to the highest seen, so finding a read's partition is an index, not a search.
//
// Thread safety: every method may be called from any thread (one mutex; it is taken once per
// batch by the pipeline and once per delivery report, never on the lookup path).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "base/check.h"

namespace anpr::app {

class OffsetTracker {
 public:
  // Identifies one read for delivery reports.
  struct Ticket {
    int32_t partition;
    uint32_t generation;
    uint64_t seq;
  };

  // Registers the read at `offset` of `partition` with `pending` messages still to be delivered.
  // Reads of one partition must be added in increasing offset order.
  Ticket add(int32_t partition, int64_t offset, uint32_t pending) {
    std::lock_guard lock(mu_);
    Part& p = part(partition);
    p.slots.push_back({offset, pending});
    Ticket t{partition, p.generation, p.base_seq + p.slots.size() - 1};
    advance(p);
    return t;
  }

  // add(partition[i], offset[i], pending) for a batch of reads, under one lock.
  template <class PartitionOf, class OffsetOf, class Out>
  void add_batch(std::size_t n, PartitionOf partition, OffsetOf offset, uint32_t pending, Out out) {
    std::lock_guard lock(mu_);
    Part* p = nullptr;
    int32_t last = -1;
    for (std::size_t i = 0; i < n; ++i) {
      const int32_t part = partition(i);
      if (!p || part != last) {
        p = &this->part(part);
        last = part;
      }
      p->slots.push_back({offset(i), pending});
      out(i, Ticket{part, p->generation, p->base_seq + p->slots.size() - 1});
      advance(*p);
    }
  }

  // `n` more messages of the read `t` are on their way (call before producing them).
  void add_pending(const Ticket& t, uint32_t n) {
    std::lock_guard lock(mu_);
    if (Slot* s = find(t)) s->pending += n;
  }

  // One message of the read `t` was delivered (or its processing hold is released).
  void delivered(const Ticket& t) {
    std::lock_guard lock(mu_);
    Slot* s = find(t);
    if (!s || s->pending == 0) return;
    --s->pending;
    advance(*parts_[static_cast<std::size_t>(t.partition)]);
  }

  // delivered(ticket(i)) for i in [0, n), under one lock.
  template <class TicketOf>
  void delivered_batch(std::size_t n, TicketOf ticket) {
    delivered_batch(n, ticket, [](std::size_t) { return false; });
  }
  // The same for the i where skip(i) is false.
  template <class TicketOf, class Skip>
  void delivered_batch(std::size_t n, TicketOf ticket, Skip skip) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < n; ++i) {
      if (skip(i)) continue;
      const Ticket& t = ticket(i);
      Slot* s = find(t);
      if (!s || s->pending == 0) continue;
      if (--s->pending == 0) advance(*parts_[static_cast<std::size_t>(t.partition)]);
    }
  }

  // Appends (partition, offset to store) for every partition whose storable offset advanced since
  // the last call. The offset to store is the next one to read (last done offset + 1).
  void take_ready(std::vector<std::pair<int32_t, int64_t>>& out) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < parts_.size(); ++i)
      if (Part* p = parts_[i].get(); p && p->dirty) {
        out.emplace_back(static_cast<int32_t>(i), p->next_offset);
        p->dirty = false;
      }
  }

  // Forgets a partition's reads (revoked or newly assigned).
  void reset(int32_t partition) {
    std::lock_guard lock(mu_);
    Part& p = part(partition);
    ++p.generation;
    p.base_seq += p.slots.size();
    p.slots.clear();
    p.dirty = false;
    p.next_offset = -1;
  }

  // Reads of `partition` not yet done.
  std::size_t in_flight(int32_t partition) const {
    std::lock_guard lock(mu_);
    const Part* p = existing(partition);
    return p ? p->slots.size() : 0;
  }
  std::size_t in_flight() const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& p : parts_)
      if (p) n += p->slots.size();
    return n;
  }

 private:
  struct Slot {
    int64_t offset;
    uint32_t pending;
  };
  struct Part {
    std::deque<Slot> slots;
    uint64_t base_seq = 0;  // seq of slots.front()
    uint32_t generation = 0;
    int64_t next_offset = -1;
    bool dirty = false;
  };
  // The partition's record, made on first use.
  Part& part(int32_t partition) {
    ANPR_CHECK(partition >= 0, "a Kafka partition id is never negative");
    const auto i = static_cast<std::size_t>(partition);
    if (i >= parts_.size()) parts_.resize(i + 1);
    if (!parts_[i]) parts_[i] = std::make_unique<Part>();
    return *parts_[i];
  }
  const Part* existing(int32_t partition) const {
    const auto i = static_cast<std::size_t>(partition);
    return partition >= 0 && i < parts_.size() ? parts_[i].get() : nullptr;
  }
  Slot* find(const Ticket& t) {
    Part* p = const_cast<Part*>(existing(t.partition));
    if (!p || p->generation != t.generation) return nullptr;
    if (t.seq < p->base_seq || t.seq - p->base_seq >= p->slots.size()) return nullptr;
    return &p->slots[t.seq - p->base_seq];
  }
  static void advance(Part& p) {
    while (!p.slots.empty() && p.slots.front().pending == 0) {
      p.next_offset = p.slots.front().offset + 1;
      p.dirty = true;
      p.slots.pop_front();
      ++p.base_seq;
    }
  }

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Part>> parts_;  // by partition id; null: never seen
};

}  // namespace anpr::app
