// The reference index: an immutable snapshot compiled from reference lists, answering "which
// list entries does this read match, and how" (docs/design.md §4), and LiveIndex
// (match/live_index.h), which swaps snapshots under running readers.
//
// Layout (see docs/matching.md for the semantics, ARCHITECTURE.md for the invariants)
// -------------------------------------------------------------------------------------
// Every entry is 16 bytes: the plate packed into 53 bits with its issuing country in the next 10
// bits and a group-end flag in the top bit, expiry, list, category, action and priority. Entries
// are sorted by the hash of their *canonical* plate (each character replaced by its OCR confusion
// class), so all entries that are equal or OCR-equal to a plate form one contiguous group. One
// open-addressing table of 8-byte slots (32-bit hash fingerprint, group start) at a load of 0.5
// maps a canonical plate to its group; exact and OCR-tolerant lookups are the same single probe,
// followed by a scan of the (usually one-entry) group. Slots are laid out in hash order ("sorted
// linear probing"): a group sits at its home slot or, when that is taken, at the first free slot
// after it, so from any home on the slots hold groups displaced from earlier homes (smaller
// fingerprints), then the home's own, then empty slots or groups of later homes. A miss stops at
// the first slot with a larger fingerprint, usually its home or the next slot, and never needs
// the exact plate's key (only hits and edit lookups compute it).
// About 36 bytes per entry in all (plus reference and note text); large arrays use huge pages.
//
// Lists in `ocr+edit` mode add the edit filter, a blocked Bloom filter of 64-byte blocks. For
// every ocr+edit entry and every position i that starts a run of equal characters it holds the
// key (entry without character i, i) and that key's class mark (the confusion class of the
// entry's character i). The block is chosen by the hash of the deletion alone, the bits within it
// by the hash of (deletion, i) and of (deletion, i, class): one cache line answers for every
// position and class of a read. A read with one character missing loads the block of its own
// plate and tests positions 0..n; at each position that tests positive it probes the main table
// for the insertion of each confusion class whose mark tests positive (the table is keyed by
// canonical plate, so one probe per class), and keeps the entries of ocr+edit lists whose exact
// plate is that insertion. A listed entry's keys and marks always test positive; a false positive
// costs main-table probes, never a wrong hit. Sized at 12 bits per distinct key and 3 per distinct
// mark (both estimated while building): about 0.9 % false positives per tested position, and
// about a quarter of the absent classes' marks test positive. That is about 10 bits per deletion
// of an entry: 8 bytes per entry when plates fill their series as densely as in the benchmark
// (entries share deletions), 11 when no two entries share one. A read with one extra character
// probes the main table once per deletion of the read.
//
// Thread safety
// -------------
// A Snapshot is immutable once built: any number of threads may call its const methods
// concurrently. That includes the edit filter, which build() fills completely before it returns
// and which lookups only read. IndexBuilder is single-threaded (it uses TBB internally to sort,
// and to fill the edit filter: each task into a copy of its own, or-ed together at the end, so
// without atomics). LiveIndex: readers call `LiveIndex::Reader r = live.read();` and use `r->...`
// until `r` is destroyed; this takes no lock and performs no atomic read-modify-write (epoch.h).
// `publish()` may be called from any thread; concurrent publishers are serialised by a mutex that
// readers never touch. A reader sees exactly one snapshot for the lifetime of its Reader: one
// lookup is never answered from a mix of two versions.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "match/confusion.h"
#include "match/epoch.h"
#include "match/huge_alloc.h"
#include "match/list.h"
#include "match/live_index.h"
#include "match/types.h"

namespace anpr {

// One match between a plate of a read and a list entry.
struct IndexHit {
  uint32_t entry = 0;       // entry id within the snapshot (Snapshot::entry_*)
  MatchKind kind = MatchKind::exact;
  uint8_t differences = 0;  // characters that differ (0 for exact; 1 for edit)
  uint8_t plate_index = 0;  // which plate of the read matched: 0 = the read's plate, i = candidate i
};

// A read as the matcher sees it: its country (unknown = match every country), its capture time and
// its normalised plates (the plate first, then the OCR candidates).
struct MatchQuery {
  CountryCode country;
  TimestampMs ts = 0;
  std::span<const Plate> plates;
};

struct IndexStats {
  std::size_t entries = 0;
  std::size_t lists = 0;
  std::size_t groups = 0;            // distinct canonical plates
  std::size_t edit_variants = 0;     // (deletion, position) keys of ocr+edit entries, with repeats
  std::size_t edit_keys = 0;         // distinct ones (estimated): what the edit filter is sized for
  std::size_t edit_class_keys = 0;   // distinct class marks (deletion, position, class), estimated
  double edit_fpp = 0;               // edit filter: false-positive rate of a key (position) test
  double edit_class_fpp = 0;         // ... and of a class mark test (both from the filter's fill)
  std::size_t index_bytes = 0;       // entries + tables + per-entry string offsets + edit filter
  std::size_t edit_bytes = 0;        // the edit structures (the filter), included in index_bytes
  std::size_t string_bytes = 0;      // references and notes
  std::size_t max_probe = 0;         // longest displacement from home in the main table
};

class Snapshot {
 public:
  // Appends to `out` the best match per list entry over all plates of the query: exact before ocr
  // before edit, then fewer differences, then the earlier plate. Hits of one call are appended in
  // no particular order. Returns the number appended.
  std::size_t match(const MatchQuery& q, std::vector<IndexHit>& out) const;

  // Matches several reads at once, overlapping their memory accesses (several times the
  // throughput of one match() per read on large indexes). Hits of query i are
  // out[ends[i-1] .. ends[i]) (ends[-1] = the size of `out` on entry); `ends` is overwritten.
  void match_batch(std::span<const MatchQuery> queries, std::vector<IndexHit>& out,
                   std::vector<uint32_t>& ends) const;

  // Hints the CPU to fetch the table slot `p` will probe.
  void prefetch(const Plate& p) const;

  // ---- entry attributes (entry ids come from IndexHit::entry) ----
  Plate entry_plate(uint32_t e) const { return Plate::from_key(entries_[e].key & Plate::kKeyMask); }
  CountryCode entry_country(uint32_t e) const {
    return CountryCode::from_raw(
        static_cast<uint16_t>((entries_[e].key >> Plate::kKeyBits) & kCountryMask));
  }
  uint16_t entry_list(uint32_t e) const { return entries_[e].list; }
  Category entry_category(uint32_t e) const {
    return static_cast<Category>(entries_[e].cat_action & 0x0f);
  }
  Action entry_action(uint32_t e) const { return static_cast<Action>(entries_[e].cat_action >> 4); }
  uint8_t entry_priority(uint32_t e) const { return entries_[e].priority; }
  // Exclusive end of validity (ms); kNoExpiry when the entry does not expire.
  TimestampMs entry_valid_until(uint32_t e) const;
  std::string_view entry_reference(uint32_t e) const;
  std::string_view entry_note(uint32_t e) const;

  const ListMeta& list(uint16_t l) const { return lists_[l]; }
  std::size_t list_count() const { return lists_.size(); }
  std::size_t entry_count() const { return entries_.size(); }
  const ConfusionClasses& confusion() const { return confusion_; }
  const IndexStats& stats() const { return stats_; }

 private:
  friend class IndexBuilder;

  struct Entry {
    uint64_t key;         // plate key (53 bits) | issuing country << 53 (0 = any country)
                          // | kGroupEnd on the last entry of its canonical-plate group
    uint32_t expiry_s;    // exclusive end of validity in Unix seconds; UINT32_MAX = none
    uint16_t list;        // index into lists_
    uint8_t cat_action;   // category (low 4 bits) | action << 4
    uint8_t priority;
  };
  static_assert(sizeof(Entry) == 16);
  static constexpr uint64_t kCountryMask = (1u << CountryCode::kBits) - 1;
  static constexpr uint64_t kGroupEnd = uint64_t{1} << 63;

  // The main table: one 8-byte slot per canonical plate, holding the top 32 bits of the plate's
  // hash (a fingerprint) and the index of its group's first entry; ~0 = empty. Slots lie in
  // ascending hash order. A fingerprint match is confirmed against the group's first entry.
  struct MainTable {
    // home_slots slots, then at least two more; ends with an empty slot
    std::vector<uint64_t, HugePageAllocator<uint64_t>> slots;
    uint64_t home_slots = 0;
    const uint64_t* home(uint64_t hash) const;
  };
  // The first entry of the group of canonical key `canon` (hash `hash`), or UINT32_MAX.
  uint32_t find_group(uint64_t hash, uint64_t canon) const;

  template <class T>
  using BigVector = std::vector<T, HugePageAllocator<T>>;

  // The edit filter (see the layout notes above). The keys and class marks of a deletion whose
  // key hashes to h (mix64) live in block ((h >> 32) * blocks) >> 32; their bits there come from
  // position_seed(h, position) and class_seed(that, class) (edit_filter.h).
  struct EditFilter {
    BigVector<uint64_t> words;  // `blocks` blocks of 8 words (512 bits, one cache line each)
    uint64_t blocks = 0;
    const uint64_t* block(uint64_t hash) const {
      return &words[((hash >> 32) * blocks >> 32) * 8];
    }
  };

  bool entry_applies(const Entry& e, CountryCode country, TimestampMs ts) const;
  // The first plate's keys, when the caller computed them already (match_batch).
  struct FirstKeys {
    uint64_t key = 0, canon = 0, hash = 0;
    uint64_t edit_hash = 0;  // mix64(key), when the read needs the edit filter; 0 = not computed
  };
  void match_plates(const MatchQuery& q, const FirstKeys* first, std::vector<IndexHit>& out) const;
  // What match_plates does for a plate whose group was found (`start`) or that needs the edit
  // filter: scan the group, look for edits.
  void match_found(const Plate& p, FirstKeys k, uint32_t start, const MatchQuery& q,
                   uint8_t plate_index, std::vector<IndexHit>& out, std::size_t first) const;
  // Hints the CPU to fetch what match_plates will read first for these keys.
  void prefetch_keys(const FirstKeys& k) const;
  void scan_group(uint32_t start, uint64_t pkey, const MatchQuery& q, uint8_t plate_index,
                  std::vector<IndexHit>& out, std::size_t first) const;
  void match_edit(const Plate& p, const FirstKeys& k, const MatchQuery& q, uint8_t plate_index,
                  std::vector<IndexHit>& out, std::size_t first) const;
  // Entries of ocr+edit lists that equal `p` with one character inserted at one of the
  // `positions` (bit i: before p[i], bit n: at the end); `block` and `seeds` (per position) are
  // p's edit filter block and position seeds, for the class marks.
  void match_insertions(const Plate& p, const uint64_t* block, const uint64_t* seeds,
                        uint32_t positions, const MatchQuery& q, uint8_t plate_index,
                        std::vector<IndexHit>& out, std::size_t first) const;
  // Whether the filter needs consulting for a read of this length and country (some ocr+edit
  // entry is one character longer).
  bool wants_edit_filter(std::size_t n, CountryCode read_country) const {
    return edit_len_all_ != 0 && n + 1 <= Plate::kMaxLen &&
           (edit_lengths(read_country) >> (n + 1) & 1u) != 0;
  }
  uint32_t edit_lengths(CountryCode read_country) const;
  static void offer(std::vector<IndexHit>& out, std::size_t first, const IndexHit& h);

  BigVector<Entry> entries_;
  BigVector<uint32_t> strings_at_;  // per entry: offset of its reference and note in strings_
  std::string strings_;
  MainTable main_;
  EditFilter edit_filter_;
  // What lookups need of a list, kept apart from ListMeta's strings.
  struct ListHot {
    TimestampMs valid_from;
    TimestampMs valid_until;
    MatchMode mode;
    uint8_t max_subs;
  };
  std::vector<ListMeta> lists_;
  std::vector<ListHot> hot_lists_;
  ConfusionClasses confusion_;
  std::vector<uint8_t> class_codes_;  // one symbol code per confusion class (its representative)
  // Plate lengths of ocr+edit entries (bit n: some entry has n characters): of entries without a
  // country, per issuing country, and of all. A read only probes for lengths it can match.
  uint32_t edit_len_any_ = 0;
  uint32_t edit_len_all_ = 0;
  std::vector<std::pair<CountryCode, uint32_t>> edit_len_by_country_;
  // Countries (NL, BE, LU) whose reads may skip deletion variants that fit none of the country's
  // plate formats: every ocr+edit entry such a read can match has a plate of that country that
  // fits its formats, so a variant that fits none cannot equal any of them. (Insertions are not
  // pruned: checking 36 candidate plates against the formats costs more than the probes saved.)
  std::vector<CountryCode> edit_prunable_;
  IndexStats stats_;
};

// The expiry a snapshot applies for an entry's valid_until: one-second resolution, rounded down,
// clamped to [0, 2^32 - 1] seconds; kNoExpiry and anything past 2106 mean "never expires".
TimestampMs effective_expiry(TimestampMs valid_until);

// Compiles lists into a Snapshot. Entries whose list is unknown are a programming error.
class IndexBuilder {
 public:
  explicit IndexBuilder(ConfusionClasses confusion = {});

  // Adds a list's metadata; returns its list number for add(). At most 65 535 lists.
  uint16_t add_list(ListMeta meta);
  // Adds one entry. The expiry is kept at one-second resolution, rounded down.
  void add(uint16_t list, const ListEntry& e);
  void add(uint16_t list, const Plate& plate, CountryCode country, Category category,
           Action action, uint8_t priority, TimestampMs valid_until, std::string_view reference,
           std::string_view note);
  // Adds a whole list.
  void add(const ReferenceList& list);
  // Room for `entries` more entries with `text_bytes` of references and notes in all.
  void reserve(std::size_t entries, std::size_t text_bytes = 0);
  // Bits of the edit filter per distinct (deletion, position) key, 0..64; each class mark gets a
  // quarter of that. Fewer bits save memory and cost main-table probes on false positives; no
  // setting changes what matches. 0 builds a filter that passes everything: a read that misses a
  // character then probes every class at every position (tests use it to check the probing).
  static constexpr double kDefaultEditFilterBits = 12;
  void set_edit_filter_bits(double bits_per_key);

  // Builds the snapshot; the builder is left empty (its edit filter setting stays).
  std::unique_ptr<Snapshot> build();

 private:
  // What build_edit_filter() filled the edit filter with, for the stats.
  struct EditFill {
    uint64_t variants = 0;  // (deletion, position) keys, with repeats
    std::size_t keys = 0, class_keys = 0;  // distinct ones and class marks, estimated
    double fpp = 0, class_fpp = 0;         // expected false-positive rates of a test
  };
  // Step 3 of build(): the edit filter of the sorted entries of `s` (edit_filter.cpp).
  EditFill build_edit_filter(Snapshot* s) const;

  std::unique_ptr<Snapshot> s_;
  double edit_filter_bits_ = kDefaultEditFilterBits;
};

}  // namespace anpr
