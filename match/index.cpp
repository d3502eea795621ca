#include "match/index.h"

#include "match/edit_filter.h"
#include "match/formats.h"
#include "base/hash.h"

#include <tbb/parallel_for.h>
#include <tbb/parallel_sort.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace anpr {

using namespace detail;

namespace {

constexpr uint32_t kNoExpiryS = std::numeric_limits<uint32_t>::max();

// Maps a hash onto [0, n) preserving order: sorting by hash sorts by home slot.
inline uint64_t fastrange(uint64_t h, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(h) * n) >> 64);
}

uint32_t to_expiry_s(TimestampMs valid_until) {
  if (valid_until == kNoExpiry) return kNoExpiryS;
  TimestampMs s = valid_until / 1000;
  if (valid_until % 1000 != 0 && valid_until < 0) --s;  // floor
  if (s <= 0) return 0;
  if (s >= static_cast<TimestampMs>(kNoExpiryS)) return kNoExpiryS;
  return static_cast<uint32_t>(s);
}

// A plate's exact key and the key of its canonical form (confusion classes applied), in one pass.
inline void plate_keys(const Plate& p, const ConfusionClasses& conf, uint64_t& exact,
                       uint64_t& canon) {
  uint64_t e = 0, c = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    e = e * 37 + Plate::code(p[i]);
    c = c * 37 + conf.canonical_code_of(p[i]);
  }
  exact = e;
  canon = c;
}

// Characters at which two plates of equal length differ, compared in their packed form.
inline unsigned count_differences(uint64_t a, uint64_t b) {
  unsigned d = 0;
  while (a != 0 || b != 0) {
    d += (a % 37) != (b % 37);
    a /= 37;
    b /= 37;
  }
  return d;
}

// A plate with character i removed.
Plate without(const Plate& p, std::size_t i) {
  PlateBuilder b;
  for (std::size_t j = 0; j < p.size(); ++j)
    if (j != i) b.push(p[j]);
  return b.plate();
}

constexpr bool better(const IndexHit& a, const IndexHit& b) {
  if (a.kind != b.kind) return a.kind < b.kind;
  if (a.differences != b.differences) return a.differences < b.differences;
  return a.plate_index < b.plate_index;
}

}  // namespace

TimestampMs effective_expiry(TimestampMs valid_until) {
  uint32_t s = to_expiry_s(valid_until);
  return s == kNoExpiryS ? kNoExpiry : static_cast<TimestampMs>(s) * 1000;
}

// ---------------------------------------------------------------------------------------------
// Table

const uint64_t* Snapshot::MainTable::home(uint64_t hash) const {
  return &slots[fastrange(hash, home_slots)];
}

inline uint32_t Snapshot::find_group(uint64_t hash, uint64_t canon) const {
  constexpr uint32_t kNone = UINT32_MAX;
  if (main_.home_slots == 0) return kNone;
  const uint64_t fp = hash >> 32;
  // Slots from any home on hold first the slots below this fingerprint (groups displaced from
  // earlier homes), then those with it, then larger ones or empty slots (~0): as 64-bit values
  // (fingerprint << 32 | start) the slots below `low` are a prefix, and after an empty slot
  // nothing is below it (layout notes in index.h). At a load of 0.5 that prefix is mostly empty
  // or one slot long: counting it in the first two slots without a branch spares the lookup a
  // mispredicted branch on its cache miss, so the next lookups' loads start while it waits. The
  // array has a slot after every home and ends with an empty slot.
  const uint64_t low = fp << 32;
  const uint64_t* s = main_.home(hash);
  s += static_cast<unsigned>(s[0] < low) + static_cast<unsigned>(s[1] < low);
  while (*s < low) ++s;  // a longer prefix (rare)
  for (; (*s >> 32) == fp && *s != ~uint64_t{0}; ++s) {
    const uint32_t start = static_cast<uint32_t>(*s);
    if (confusion_.canonical_key(Plate::from_key(entries_[start].key & Plate::kKeyMask)) == canon)
      return start;
  }
  return kNone;
}

// ---------------------------------------------------------------------------------------------
// Snapshot lookups

bool Snapshot::entry_applies(const Entry& e, CountryCode country, TimestampMs ts) const {
  const uint16_t ec = static_cast<uint16_t>((e.key >> Plate::kKeyBits) & kCountryMask);
  if (country.known() && ec != 0 && ec != country.raw()) return false;
  if (e.expiry_s != kNoExpiryS && ts >= static_cast<TimestampMs>(e.expiry_s) * 1000) return false;
  const ListHot& l = hot_lists_[e.list];
  return ts >= l.valid_from && ts < l.valid_until;
}

void Snapshot::offer(std::vector<IndexHit>& out, std::size_t first, const IndexHit& h) {
  for (std::size_t i = first; i < out.size(); ++i) {
    if (out[i].entry == h.entry) {
      if (better(h, out[i])) out[i] = h;
      return;
    }
  }
  out.push_back(h);
}

void Snapshot::scan_group(uint32_t start, uint64_t pkey, const MatchQuery& q,
                          uint8_t plate_index, std::vector<IndexHit>& out,
                          std::size_t first) const {
  for (uint32_t i = start;; ++i) {
    const Entry& e = entries_[i];
    const bool last = (e.key & kGroupEnd) != 0;
    if (!entry_applies(e, q.country, q.ts)) {
      if (last) break;
      continue;
    }
    const uint64_t ekey = e.key & Plate::kKeyMask;
    if (ekey == pkey) {
      offer(out, first, IndexHit{i, MatchKind::exact, 0, plate_index});
      if (last) break;
      continue;
    }
    const ListHot& l = hot_lists_[e.list];
    if (l.mode != MatchMode::exact) {
      // Same canonical plate: same length, every difference within one confusion class.
      const unsigned d = count_differences(ekey, pkey);
      if (d <= l.max_subs)
        offer(out, first, IndexHit{i, MatchKind::ocr, static_cast<uint8_t>(d), plate_index});
    }
    if (last) break;
  }
}

uint32_t Snapshot::edit_lengths(CountryCode read_country) const {
  if (!read_country.known()) return edit_len_all_;
  uint32_t m = edit_len_any_;
  for (const auto& [c, lengths] : edit_len_by_country_)
    if (c == read_country) m |= lengths;
  return m;
}

void Snapshot::match_edit(const Plate& p, const FirstKeys& k, const MatchQuery& q,
                          uint8_t plate_index, std::vector<IndexHit>& out,
                          std::size_t first) const {
  const std::size_t n = p.size();
  const uint32_t lengths = edit_lengths(q.country);
  // The read is missing one character: the entry minus one character equals the read. The filter
  // (one cache line) tells at which positions an entry may have lost it.
  if (n + 1 <= Plate::kMaxLen && (lengths >> (n + 1) & 1u) && edit_filter_.blocks != 0) {
    const uint64_t h = k.edit_hash != 0 ? k.edit_hash : mix64(k.key);
    const uint64_t* block = edit_filter_.block(h);
    std::array<uint64_t, Plate::kMaxLen> seeds;
    uint32_t positions = 0;
    for (std::size_t i = 0; i <= n; ++i) {
      seeds[i] = position_seed(h, i);
      positions |= static_cast<uint32_t>(key_test(block, seeds[i])) << i;
    }
    if (positions != 0)
      match_insertions(p, block, seeds.data(), positions, q, plate_index, out, first);
  }
  // The read has one extra character: the read minus one character equals the entry.
  if (n >= 2 && (lengths >> (n - 1) & 1u)) {
    const bool prune = q.country.known() &&
                       std::find(edit_prunable_.begin(), edit_prunable_.end(), q.country) !=
                           edit_prunable_.end();
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0 && p[i] == p[i - 1]) continue;  // same deletion as the previous position
      const Plate v = without(p, i);
      if (prune && !formats::valid(q.country, v)) continue;  // cannot exist in that country
      uint64_t vkey, vcanon;
      plate_keys(v, confusion_, vkey, vcanon);
      const uint32_t start = find_group(mix64(vcanon), vcanon);
      if (start == UINT32_MAX) continue;
      for (uint32_t ei = start;; ++ei) {
        const Entry& e = entries_[ei];
        if ((e.key & Plate::kKeyMask) == vkey && hot_lists_[e.list].mode == MatchMode::ocr_edit &&
            entry_applies(e, q.country, q.ts))
          offer(out, first, IndexHit{ei, MatchKind::edit, 1, plate_index});
        if (e.key & kGroupEnd) break;
      }
    }
  }
}

void Snapshot::match_insertions(const Plate& p, const uint64_t* block, const uint64_t* seeds,
                                uint32_t positions, const MatchQuery& q, uint8_t plate_index,
                                std::vector<IndexHit>& out, std::size_t first) const {
  const std::size_t n = p.size();  // at most kMaxLen - 1
  std::array<uint8_t, Plate::kMaxLen> code{}, canon{};
  for (std::size_t i = 0; i < n; ++i) {
    code[i] = static_cast<uint8_t>(Plate::code(p[i]));
    canon[i] = static_cast<uint8_t>(confusion_.canonical_code(code[i]));
  }
  // Keys of p[i..n), exact and canonical, weighted as in a plate of n + 1 characters with the
  // inserted one before them.
  std::array<uint64_t, Plate::kMaxLen + 1> sx{}, sc{};
  for (std::size_t i = n; i-- > 0;) {
    sx[i] = code[i] * kPow37[n - 1 - i] + sx[i + 1];
    sc[i] = canon[i] * kPow37[n - 1 - i] + sc[i + 1];
  }
  // The insertions to probe: the main table is keyed by canonical plate, so one probe per
  // confusion class and position, for the classes the filter's class marks allow. The probes go
  // in three passes, so that their cache misses overlap: hash every insertion and prefetch its
  // home slot; find the slots with its fingerprint and prefetch their groups' first entries; scan
  // those groups.
  struct Candidate {
    uint64_t base;  // exact key of the insertion with the inserted character's code 0
    uint64_t unit;  // weight of the inserted character: 37^(characters after it)
    uint64_t hash;  // of the insertion's canonical key
  };
  std::array<Candidate, Plate::kMaxLen * 36> cand;
  std::size_t nc = 0;
  uint64_t px = 0, pc = 0;  // keys of p[0..i)
  for (std::size_t i = 0; i <= n; ++i) {
    if (positions >> i & 1u) {
      const uint64_t unit = kPow37[n - i];
      const uint64_t base = px * unit * 37 + sx[i];
      const uint64_t cbase = pc * unit * 37 + sc[i];
      for (const uint8_t r : class_codes_) {
        if (!class_test(block, class_seed(seeds[i], r))) continue;
        const uint64_t h = mix64(cbase + r * unit);
        __builtin_prefetch(main_.home(h));
        cand[nc++] = Candidate{base, unit, h};
      }
    }
    if (i < n) {
      px = px * 37 + code[i];
      pc = pc * 37 + canon[i];
    }
  }
  // Scans the group at `start` for entries of ocr+edit lists that are the insertion itself: their
  // key minus `base` is (inserted code 1..36) * unit. An entry that differs from the read below
  // the insertion point leaves a remainder; one that differs above it makes the quotient 0 or
  // over 36 (digits differ by at most 36, so lower ones cannot make up for a higher one). The
  // group is not checked to be the insertion's canonical plate (only its hash fingerprint
  // matched): the exact test makes a wrong group harmless.
  auto scan = [&](uint32_t start, const Candidate& x) {
    for (uint32_t ei = start;; ++ei) {
      const Entry& e = entries_[ei];
      if (hot_lists_[e.list].mode == MatchMode::ocr_edit) {
        const uint64_t d = (e.key & Plate::kKeyMask) - x.base;  // wraps if below base
        const uint64_t ch = d / x.unit;
        if (ch != 0 && ch < 37 && ch * x.unit == d && entry_applies(e, q.country, q.ts))
          offer(out, first, IndexHit{ei, MatchKind::edit, 1, plate_index});
      }
      if (e.key & kGroupEnd) break;
    }
  };
  struct Found {
    uint32_t start;
    uint32_t cand;
  };
  std::array<Found, Plate::kMaxLen * 36> found;
  std::size_t nf = 0;
  for (std::size_t c = 0; c < nc; ++c) {
    const uint64_t fp = cand[c].hash >> 32;
    const uint64_t* s = main_.home(cand[c].hash);
    while ((*s >> 32) < fp) ++s;  // as in find_group
    for (; (*s >> 32) == fp && *s != ~uint64_t{0}; ++s) {
      const auto start = static_cast<uint32_t>(*s);
      if (nf == found.size()) {  // only with many fingerprint collisions: scan right away
        scan(start, cand[c]);
        continue;
      }
      __builtin_prefetch(&entries_[start]);
      found[nf++] = Found{start, static_cast<uint32_t>(c)};
    }
  }
  for (std::size_t f = 0; f < nf; ++f) scan(found[f].start, cand[found[f].cand]);
}

void Snapshot::match_plates(const MatchQuery& q, const FirstKeys* first_keys,
                            std::vector<IndexHit>& out) const {
  const std::size_t first = out.size();
  const std::size_t nplates = std::min<std::size_t>(q.plates.size(), 255);
  for (std::size_t pi = 0; pi < nplates; ++pi) {
    const Plate& p = q.plates[pi];
    if (p.size() == 0) continue;
    const uint8_t idx = static_cast<uint8_t>(pi);
    FirstKeys k;
    if (pi == 0 && first_keys != nullptr) {
      k = *first_keys;
    } else {
      // Only the canonical key before the probe: most reads miss, and the exact key is needed
      // only to scan a group that was found or to look for edits.
      k.canon = confusion_.canonical_key(p);
      k.hash = mix64(k.canon);
    }
    const uint32_t start = find_group(k.hash, k.canon);
    if (start != UINT32_MAX || edit_len_all_ != 0) match_found(p, k, start, q, idx, out, first);
  }
}

// Out of line: a miss in an index without ocr+edit lists (most reads) never comes here, and the
// probe loop above stays small enough that the processor overlaps consecutive lookups' misses.
__attribute__((noinline)) void Snapshot::match_found(const Plate& p, FirstKeys k, uint32_t start,
                                                     const MatchQuery& q, uint8_t plate_index,
                                                     std::vector<IndexHit>& out,
                                                     std::size_t first) const {
  if (k.key == 0) k.key = p.key();
  if (start != UINT32_MAX) scan_group(start, k.key, q, plate_index, out, first);
  if (edit_len_all_ != 0) match_edit(p, k, q, plate_index, out, first);
}

std::size_t Snapshot::match(const MatchQuery& q, std::vector<IndexHit>& out) const {
  const std::size_t before = out.size();
  match_plates(q, nullptr, out);
  return out.size() - before;
}

void Snapshot::prefetch_keys(const FirstKeys& k) const {
  __builtin_prefetch(main_.home(k.hash));
  if (k.edit_hash != 0) __builtin_prefetch(edit_filter_.block(k.edit_hash));
}

void Snapshot::match_batch(std::span<const MatchQuery> queries, std::vector<IndexHit>& out,
                           std::vector<uint32_t>& ends) const {
  ends.resize(queries.size());
  if (main_.home_slots == 0) {
    for (std::size_t i = 0; i < queries.size(); ++i) ends[i] = static_cast<uint32_t>(out.size());
    return;
  }
  // Hash a chunk of reads first (pure arithmetic), then probe them in order while prefetching the
  // home slot (and, for a read that may miss a character, the edit filter block) of the read
  // kAhead places further on: the memory accesses overlap instead of waiting for each other.
  constexpr std::size_t kChunk = 64, kAhead = 12;
  FirstKeys keys[kChunk];
  const bool filter = edit_filter_.blocks != 0;
  for (std::size_t b = 0; b < queries.size(); b += kChunk) {
    const std::size_t n = std::min(kChunk, queries.size() - b);
    for (std::size_t i = 0; i < n; ++i) {
      const MatchQuery& q = queries[b + i];
      if (q.plates.empty() || q.plates[0].size() == 0) {
        keys[i] = FirstKeys{};
        continue;
      }
      plate_keys(q.plates[0], confusion_, keys[i].key, keys[i].canon);
      keys[i].hash = mix64(keys[i].canon);
      keys[i].edit_hash =
          filter && wants_edit_filter(q.plates[0].size(), q.country) ? mix64(keys[i].key) : 0;
      if (i < kAhead) prefetch_keys(keys[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) prefetch_keys(keys[i + kAhead]);
      match_plates(queries[b + i], &keys[i], out);
      ends[b + i] = static_cast<uint32_t>(out.size());
    }
  }
}

void Snapshot::prefetch(const Plate& p) const {
  if (main_.home_slots == 0 || p.size() == 0) return;
  __builtin_prefetch(main_.home(mix64(confusion_.canonical_key(p))));
}

TimestampMs Snapshot::entry_valid_until(uint32_t e) const {
  const uint32_t s = entries_[e].expiry_s;
  return s == kNoExpiryS ? kNoExpiry : static_cast<TimestampMs>(s) * 1000;
}

namespace {
uint16_t read_u16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
}  // namespace

std::string_view Snapshot::entry_reference(uint32_t e) const {
  const char* p = strings_.data() + strings_at_[e];
  return {p + 2, read_u16(p)};
}

std::string_view Snapshot::entry_note(uint32_t e) const {
  const char* p = strings_.data() + strings_at_[e];
  p += 2 + read_u16(p);
  return {p + 2, read_u16(p)};
}

// ---------------------------------------------------------------------------------------------
// IndexBuilder

IndexBuilder::IndexBuilder(ConfusionClasses confusion) : s_(std::make_unique<Snapshot>()) {
  s_->confusion_ = confusion;
}

uint16_t IndexBuilder::add_list(ListMeta meta) {
  if (s_->lists_.size() >= std::numeric_limits<uint16_t>::max())
    throw std::length_error("too many reference lists in one index (max 65535)");
  const uint8_t subs = std::clamp<uint8_t>(meta.max_substitutions, 1, kMaxSubstitutionsLimit);
  s_->hot_lists_.push_back({meta.valid_from, meta.valid_until, meta.mode, subs});
  s_->lists_.push_back(std::move(meta));
  return static_cast<uint16_t>(s_->lists_.size() - 1);
}

void IndexBuilder::set_edit_filter_bits(double bits_per_key) {
  if (!(bits_per_key >= 0) || bits_per_key > 64)
    throw std::invalid_argument("IndexBuilder::set_edit_filter_bits: bits per key must be 0..64");
  edit_filter_bits_ = bits_per_key;
}

void IndexBuilder::reserve(std::size_t n, std::size_t text_bytes) {
  s_->entries_.reserve(s_->entries_.size() + n);
  s_->strings_at_.reserve(s_->strings_at_.size() + n);
  s_->strings_.reserve(s_->strings_.size() + text_bytes + 4 * n);
}

void IndexBuilder::add(uint16_t list, const ListEntry& e) {
  add(list, e.plate, e.country, e.category, e.action, e.priority, e.valid_until, e.reference,
      e.note);
}

void IndexBuilder::add(const ReferenceList& list) {
  const uint16_t l = add_list(list.meta);
  std::size_t text = 0;
  for (const ListEntry& e : list.entries) text += e.reference.size() + e.note.size();
  reserve(list.entries.size(), text);
  for (const ListEntry& e : list.entries) add(l, e);
}

void IndexBuilder::add(uint16_t list, const Plate& plate, CountryCode country, Category category,
                       Action action, uint8_t priority, TimestampMs valid_until,
                       std::string_view reference, std::string_view note) {
  if (list >= s_->lists_.size()) throw std::out_of_range("IndexBuilder::add: unknown list");
  if (plate.size() == 0) throw std::invalid_argument("IndexBuilder::add: empty plate");
  if (s_->entries_.size() >= std::numeric_limits<uint32_t>::max() - 1)
    throw std::length_error("too many entries in one index");
  Snapshot::Entry e{};
  e.key = plate.key() | (static_cast<uint64_t>(country.raw()) << Plate::kKeyBits);
  e.expiry_s = to_expiry_s(valid_until);
  e.list = list;
  e.cat_action = static_cast<uint8_t>(static_cast<unsigned>(category) |
                                      (static_cast<unsigned>(action) << 4));
  e.priority = std::min(priority, kMaxPriority);
  s_->entries_.push_back(e);

  reference = reference.substr(0, std::numeric_limits<uint16_t>::max());
  note = note.substr(0, std::numeric_limits<uint16_t>::max());
  std::string& str = s_->strings_;
  if (str.size() > std::numeric_limits<uint32_t>::max() - 4 - reference.size() - note.size())
    throw std::length_error("reference and note text of one index exceeds 4 GiB");
  s_->strings_at_.push_back(static_cast<uint32_t>(str.size()));
  const uint16_t rl = static_cast<uint16_t>(reference.size());
  const uint16_t nl = static_cast<uint16_t>(note.size());
  str.append(reinterpret_cast<const char*>(&rl), 2);
  str.append(reference);
  str.append(reinterpret_cast<const char*>(&nl), 2);
  str.append(note);
}

namespace {

template <class V, class Less>
void sort_range(V& v, Less less) {
  if (v.size() < kParallelFrom) {
    std::sort(v.begin(), v.end(), less);
  } else {
    tbb::parallel_sort(v.begin(), v.end(), less);
  }
}

struct Keyed {
  uint64_t hash;
  uint32_t idx;
};

}  // namespace

std::unique_ptr<Snapshot> IndexBuilder::build() {
  std::unique_ptr<Snapshot> s = std::move(s_);
  s_ = std::make_unique<Snapshot>();
  s_->confusion_ = s->confusion_;
  const std::size_t n = s->entries_.size();
  const ConfusionClasses& conf = s->confusion_;

  // 1. Sort entries by the hash of their canonical plate, then plate, country and list.
  std::vector<Keyed, HugePageAllocator<Keyed>> order(n);
  for_range(n, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i != e; ++i) {
      const Plate p = Plate::from_key(s->entries_[i].key & Plate::kKeyMask);
      order[i] = Keyed{mix64(conf.canonical_key(p)), static_cast<uint32_t>(i)};
    }
  });
  const auto& ents = s->entries_;
  sort_range(order, [&](const Keyed& a, const Keyed& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    const auto& ea = ents[a.idx];
    const auto& eb = ents[b.idx];
    if (ea.key != eb.key) return ea.key < eb.key;
    if (ea.list != eb.list) return ea.list < eb.list;
    return a.idx < b.idx;
  });
  {
    Snapshot::BigVector<Snapshot::Entry> sorted(n);
    Snapshot::BigVector<uint32_t> strings_at(n);
    for_range(n, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i != e; ++i) {
        sorted[i] = ents[order[i].idx];
        strings_at[i] = s->strings_at_[order[i].idx];
      }
    });
    s->entries_ = std::move(sorted);
    s->strings_at_ = std::move(strings_at);
  }
  s->strings_.shrink_to_fit();

  // 2. Main table: one slot per canonical plate.
  std::vector<uint32_t> group_start;
  for (std::size_t i = 0; i < n; ++i)
    if (i == 0 || order[i].hash != order[i - 1].hash)
      group_start.push_back(static_cast<uint32_t>(i));
  const std::size_t ngroups = group_start.size();
  // Sorted linear probing with 8-byte slots at a load of 0.5: a miss reads its home slot and
  // usually the next, nearly always in one cache line (find_group). Each group's last entry
  // carries kGroupEnd.
  s->main_.home_slots = std::max<uint64_t>(16, ngroups * 2);
  s->main_.slots.assign(s->main_.home_slots + 2, ~uint64_t{0});
  std::size_t pos = 0, max_probe = 0;
  for (std::size_t g = 0; g < ngroups; ++g) {
    const uint32_t start = group_start[g];
    const uint32_t end = g + 1 < ngroups ? group_start[g + 1] : static_cast<uint32_t>(n);
    s->entries_[end - 1].key |= Snapshot::kGroupEnd;
    const uint64_t hash = order[start].hash;
    const std::size_t h = fastrange(hash, s->main_.home_slots);
    const std::size_t p = std::max(h, pos);
    if (p + 2 >= s->main_.slots.size()) s->main_.slots.resize(p + 3, ~uint64_t{0});
    s->main_.slots[p] = (hash >> 32 << 32) | start;
    max_probe = std::max(max_probe, p - h);
    pos = p + 1;
  }
  // Groups displaced past the last home grew the array (and vector growth doubles its capacity):
  // give the surplus back, it would be paid per entry for the snapshot's lifetime.
  if (s->main_.slots.capacity() != s->main_.slots.size()) s->main_.slots.shrink_to_fit();
  decltype(order)().swap(order);
  std::vector<uint32_t>().swap(group_start);

  // 3. The edit filter for ocr+edit lists (edit_filter.cpp).
  const EditFill edit = build_edit_filter(s.get());

  IndexStats& st = s->stats_;
  st.entries = n;
  st.lists = s->lists_.size();
  st.groups = ngroups;
  st.edit_variants = edit.variants;
  st.edit_keys = edit.keys;
  st.edit_class_keys = edit.class_keys;
  st.edit_fpp = edit.fpp;
  st.edit_class_fpp = edit.class_fpp;
  st.max_probe = max_probe;
  st.edit_bytes = s->edit_filter_.words.capacity() * sizeof(uint64_t);
  st.index_bytes = s->entries_.capacity() * sizeof(Snapshot::Entry) +
                   s->strings_at_.capacity() * sizeof(uint32_t) +
                   s->main_.slots.capacity() * sizeof(uint64_t) + st.edit_bytes;
  st.string_bytes = s->strings_.capacity();
  return s;
}

}  // namespace anpr
