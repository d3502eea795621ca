#include "match/index.h"

#include "match/formats.h"
#include "match/hash.h"

#include <tbb/parallel_for.h>
#include <tbb/parallel_sort.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace anpr {

namespace {

constexpr uint32_t kNoExpiryS = std::numeric_limits<uint32_t>::max();

// The one 64-bit value whose hash is the empty-slot marker is not a plate key (keys are below
// 2^53), so no real slot is ever mistaken for an empty one.
constexpr uint64_t kEmptyPreimage = 0x89a5850e63c5f8aaULL;
static_assert(mix64(kEmptyPreimage) == ~uint64_t{0});
static_assert(kEmptyPreimage > Plate::kKeyMask);

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
    const unsigned code = Plate::code(p[i]);
    e = e * 37 + code;
    c = c * 37 + conf.canonical_code(code);
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

uint32_t Snapshot::find_group(uint64_t hash, uint64_t canon) const {
  constexpr uint32_t kNone = UINT32_MAX;
  if (main_.home_slots == 0) return kNone;
  const uint64_t fp = hash >> 32;
  // Slots from any home on are in ascending fingerprint order and the array ends with an empty
  // slot (~0, not below any fingerprint), so skip the smaller ones, then try the equal ones.
  const uint64_t* s = main_.home(hash);
  while ((*s >> 32) < fp) ++s;
  for (; (*s >> 32) == fp && *s != ~uint64_t{0}; ++s) {
    const uint32_t start = static_cast<uint32_t>(*s);
    if (confusion_.canonical_key(Plate::from_key(entries_[start].key & Plate::kKeyMask)) == canon)
      return start;
  }
  return kNone;
}

const Snapshot::Slot* Snapshot::Table::home(uint64_t hash) const {
  return &slots[fastrange(hash, home_slots)];
}

const Snapshot::Slot* Snapshot::Table::find(uint64_t hash) const {
  if (home_slots == 0) return nullptr;
  // Slots lie in ascending hash order from any home on, and the array ends with an empty slot
  // (kEmpty, above every hash), so one comparison per slot finds the key or its absence.
  const Slot* s = home(hash);
  while (s->hash < hash) ++s;
  return s->hash == hash ? s : nullptr;
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

void Snapshot::match_edit(const Plate& p, const MatchQuery& q, uint8_t plate_index,
                          std::vector<IndexHit>& out, std::size_t first) const {
  const std::size_t n = p.size();
  const uint32_t lengths = edit_lengths(q.country);
  // The read is missing one character: the entry minus one character equals the read.
  if (n + 1 <= Plate::kMaxLen && (lengths >> (n + 1) & 1u)) {
    if (const Slot* s = edit_.find(mix64(p.key()))) {
      for (uint32_t r = s->start, end = s->start + s->count; r < end; ++r) {
        const uint32_t ei = edit_entries_[r];
        if (entry_applies(entries_[ei], q.country, q.ts))
          offer(out, first, IndexHit{ei, MatchKind::edit, 1, plate_index});
      }
    }
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
      plate_keys(p, confusion_, k.key, k.canon);
      k.hash = mix64(k.canon);
    }
    const uint32_t start = find_group(k.hash, k.canon);
    if (start != UINT32_MAX) scan_group(start, k.key, q, idx, out, first);
    if (edit_len_all_ != 0) match_edit(p, q, idx, out, first);
  }
}

std::size_t Snapshot::match(const MatchQuery& q, std::vector<IndexHit>& out) const {
  const std::size_t before = out.size();
  match_plates(q, nullptr, out);
  return out.size() - before;
}

void Snapshot::match_batch(std::span<const MatchQuery> queries, std::vector<IndexHit>& out,
                           std::vector<uint32_t>& ends) const {
  ends.resize(queries.size());
  if (main_.home_slots == 0) {
    for (std::size_t i = 0; i < queries.size(); ++i) ends[i] = static_cast<uint32_t>(out.size());
    return;
  }
  // Hash a chunk of reads first (pure arithmetic), then probe them in order while prefetching the
  // home slot of the read kAhead places further on: the memory accesses overlap instead of
  // waiting for each other.
  constexpr std::size_t kChunk = 64, kAhead = 12;
  FirstKeys keys[kChunk];
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
      if (i < kAhead) __builtin_prefetch(main_.home(keys[i].hash));
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) __builtin_prefetch(main_.home(keys[i + kAhead].hash));
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

// Small builds (list updates, tests) run on the calling thread: TBB's start-up costs more than
// it saves there.
constexpr std::size_t kParallelFrom = 1 << 16;

template <class Fn>
void for_range(std::size_t n, Fn fn) {
  if (n < kParallelFrom) {
    fn(std::size_t{0}, n);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n),
                    [&](const auto& r) { fn(r.begin(), r.end()); });
}

template <class V, class Less>
void sort_range(V& v, Less less) {
  if (v.size() < kParallelFrom) {
    std::sort(v.begin(), v.end(), less);
  } else {
    tbb::parallel_sort(v.begin(), v.end(), less);
  }
}

// Lays out a table over groups given in ascending hash order by `group_at(g)` ->
// {hash, start, count}. Sorted linear probing: each group goes to the first free slot at or after
// its home; since groups arrive in hash order (and so in home order), slots stay in ascending
// hash order, which is what Table::find relies on. The array ends with at least one empty slot.
template <class Slot, class GroupAt>
std::size_t lay_out(std::vector<Slot, HugePageAllocator<Slot>>& slots, uint64_t& home_slots,
                    std::size_t ngroups, const GroupAt& group_at) {
  constexpr uint64_t kEmpty = ~uint64_t{0};
  home_slots = std::max<uint64_t>(16, ngroups + ngroups / 4);
  slots.assign(home_slots + 1, Slot{kEmpty, 0, 0});
  std::size_t pos = 0, max_probe = 0;
  for (std::size_t g = 0; g < ngroups; ++g) {
    const auto [hash, start, count] = group_at(g);
    const std::size_t h = fastrange(hash, home_slots);
    const std::size_t p = std::max(h, pos);
    if (p + 1 >= slots.size()) slots.resize(p + 2, Slot{kEmpty, 0, 0});
    slots[p] = Slot{hash, start, count};
    max_probe = std::max(max_probe, p - h);
    pos = p + 1;
  }
  return max_probe;
}

struct Keyed {
  uint64_t hash;
  uint32_t idx;
};

struct Variant {
  uint64_t hash;  // mix64 of the deletion variant's key
  uint32_t entry;
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
  // Sorted linear probing (as lay_out below) with 8-byte slots at a load of 0.4, so most misses
  // stop at their home slot. Each group's last entry carries kGroupEnd.
  s->main_.home_slots = std::max<uint64_t>(16, ngroups * 5 / 2);
  s->main_.slots.assign(s->main_.home_slots + 1, ~uint64_t{0});
  std::size_t pos = 0, max_probe = 0;
  for (std::size_t g = 0; g < ngroups; ++g) {
    const uint32_t start = group_start[g];
    const uint32_t end = g + 1 < ngroups ? group_start[g + 1] : static_cast<uint32_t>(n);
    s->entries_[end - 1].key |= Snapshot::kGroupEnd;
    const uint64_t hash = order[start].hash;
    const std::size_t h = fastrange(hash, s->main_.home_slots);
    const std::size_t p = std::max(h, pos);
    if (p + 1 >= s->main_.slots.size()) s->main_.slots.resize(p + 2, ~uint64_t{0});
    s->main_.slots[p] = (hash >> 32 << 32) | start;
    max_probe = std::max(max_probe, p - h);
    pos = p + 1;
  }
  decltype(order)().swap(order);
  std::vector<uint32_t>().swap(group_start);

  // 3. Deletion table for ocr+edit lists. Per entry (in parallel): its plate length, whether it
  // fits its country's formats, and how many distinct deletions it has; then the deletions are
  // generated into their places, grouped by hash (bucketed by the top bits, each bucket sorted),
  // and laid out like the main table.
  std::vector<uint32_t> edit_ids;
  for (uint32_t i = 0; i < n; ++i)
    if (s->hot_lists_[s->entries_[i].list].mode == MatchMode::ocr_edit) edit_ids.push_back(i);
  const std::size_t ne = edit_ids.size();
  struct EditInfo {
    uint8_t len;
    uint8_t distinct;
    bool fits;
  };
  std::vector<EditInfo> info(ne);
  for_range(ne, [&](std::size_t b, std::size_t e) {
    for (std::size_t k = b; k != e; ++k) {
      const Snapshot::Entry& en = s->entries_[edit_ids[k]];
      const Plate p = Plate::from_key(en.key & Plate::kKeyMask);
      const CountryCode c = CountryCode::from_raw(
          static_cast<uint16_t>((en.key >> Plate::kKeyBits) & Snapshot::kCountryMask));
      uint8_t distinct = 0;
      if (p.size() >= 2)  // a 1-character plate's deletion is empty: no read is empty
        for (std::size_t j = 0; j < p.size(); ++j) distinct += j == 0 || p[j] != p[j - 1];
      info[k] = {static_cast<uint8_t>(p.size()), distinct,
                 !formats::has_formats(c) || formats::valid(c, p)};
    }
  });
  std::vector<uint64_t> offsets(ne + 1, 0);
  bool edit_any_country = false;
  std::vector<CountryCode> not_prunable;
  for (std::size_t k = 0; k < ne; ++k) {
    const uint64_t key = s->entries_[edit_ids[k]].key;
    const uint32_t len_bit = 1u << info[k].len;
    const CountryCode c = CountryCode::from_raw(
        static_cast<uint16_t>((key >> Plate::kKeyBits) & Snapshot::kCountryMask));
    s->edit_len_all_ |= len_bit;
    if (!c.known()) {
      edit_any_country = true;
      s->edit_len_any_ |= len_bit;
    } else {
      auto it = std::find_if(s->edit_len_by_country_.begin(), s->edit_len_by_country_.end(),
                             [&](const auto& cl) { return cl.first == c; });
      if (it == s->edit_len_by_country_.end()) {
        s->edit_len_by_country_.push_back({c, len_bit});
      } else {
        it->second |= len_bit;
      }
    }
    if (!info[k].fits) not_prunable.push_back(c);
    offsets[k + 1] = offsets[k] + info[k].distinct;
  }
  std::vector<EditInfo>().swap(info);
  if (!edit_any_country) {
    for (CountryCode c : {kNL, kBE, kLU})
      if (std::find(not_prunable.begin(), not_prunable.end(), c) == not_prunable.end())
        s->edit_prunable_.push_back(c);
  }
  const std::size_t nv = offsets.back();
  if (nv >= std::numeric_limits<uint32_t>::max())
    throw std::length_error("too many ocr+edit deletion variants in one index (max 2^32 - 1)");
  std::vector<Variant, HugePageAllocator<Variant>> variants(nv);
  for_range(ne, [&](std::size_t b, std::size_t e) {
    uint64_t pow37[Plate::kMaxLen + 1];
    pow37[0] = 1;
    for (std::size_t i = 1; i <= Plate::kMaxLen; ++i) pow37[i] = pow37[i - 1] * 37;
    for (std::size_t k = b; k != e; ++k) {
      const uint32_t ei = edit_ids[k];
      const uint64_t key = s->entries_[ei].key & Plate::kKeyMask;
      const Plate p = Plate::from_key(key);
      const std::size_t len = p.size();
      if (len < 2) continue;
      std::size_t at = offsets[k];
      // key(p without j) = prefix(j) * 37^(len-1-j) + (key mod 37^(len-1-j)).
      uint64_t prefix = 0;
      for (std::size_t j = 0; j < len; ++j) {
        if (j == 0 || p[j] != p[j - 1]) {
          const uint64_t tail = pow37[len - 1 - j];
          variants[at++] = Variant{mix64(prefix * tail + key % tail), ei};
        }
        prefix = prefix * 37 + Plate::code(p[j]);
      }
    }
  });
  // Bucket by the top bits of the hash (a counting scatter over chunks of the array, in
  // parallel), then sort each bucket on its own.
  const unsigned kBucketBits = nv < kParallelFrom ? 4 : 16;
  const std::size_t nb = std::size_t{1} << kBucketBits;
  const std::size_t nchunks = nv < kParallelFrom ? 1 : 16;
  const std::size_t chunk = (nv + nchunks - 1) / nchunks;
  auto bucket_of = [&](const Variant& v) { return v.hash >> (64 - kBucketBits); };
  // counts[c * nb + k]: variants of chunk c in bucket k; turned into chunk c's write position.
  std::vector<uint64_t> counts(nchunks * nb, 0);
  auto over_chunks = [&](auto fn) {
    if (nchunks == 1) {
      fn(0);
    } else {
      tbb::parallel_for(std::size_t{0}, nchunks, fn);
    }
  };
  over_chunks([&](std::size_t c) {
    uint64_t* cnt = &counts[c * nb];
    for (std::size_t i = c * chunk, e = std::min(nv, (c + 1) * chunk); i < e; ++i)
      ++cnt[bucket_of(variants[i])];
  });
  std::vector<uint64_t> bucket_at(nb + 1, 0);
  uint64_t written = 0;
  for (std::size_t k = 0; k < nb; ++k) {
    bucket_at[k] = written;
    for (std::size_t c = 0; c < nchunks; ++c) {
      const uint64_t n_ck = counts[c * nb + k];
      counts[c * nb + k] = written;
      written += n_ck;
    }
  }
  bucket_at[nb] = written;
  {
    std::vector<Variant, HugePageAllocator<Variant>> sorted(nv);
    over_chunks([&](std::size_t c) {
      uint64_t* at = &counts[c * nb];
      for (std::size_t i = c * chunk, e = std::min(nv, (c + 1) * chunk); i < e; ++i)
        sorted[at[bucket_of(variants[i])]++] = variants[i];
    });
    variants = std::move(sorted);
  }
  std::vector<uint64_t>().swap(counts);
  auto sort_buckets = [&](std::size_t b, std::size_t e) {
    for (std::size_t k = b; k != e; ++k)
      std::sort(variants.begin() + static_cast<std::ptrdiff_t>(bucket_at[k]),
                variants.begin() + static_cast<std::ptrdiff_t>(bucket_at[k + 1]),
                [](const Variant& x, const Variant& y) {
                  return x.hash != y.hash ? x.hash < y.hash : x.entry < y.entry;
                });
  };
  const std::size_t nbuckets = bucket_at.size() - 1;
  if (nv < kParallelFrom) {
    sort_buckets(0, nbuckets);
  } else {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, nbuckets),
                      [&](const auto& r) { sort_buckets(r.begin(), r.end()); });
  }
  s->edit_entries_.resize(nv);
  for_range(nv, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i != e; ++i) s->edit_entries_[i] = variants[i].entry;
  });
  std::vector<uint32_t> vstart;
  vstart.reserve(nv);
  for (std::size_t i = 0; i < nv; ++i)
    if (i == 0 || variants[i].hash != variants[i - 1].hash)
      vstart.push_back(static_cast<uint32_t>(i));
  if (nv != 0) {
    auto edit_group = [&](std::size_t g) {
      const uint32_t start = vstart[g];
      const uint32_t end = g + 1 < vstart.size() ? vstart[g + 1] : static_cast<uint32_t>(nv);
      return std::tuple<uint64_t, uint32_t, uint32_t>{variants[start].hash, start, end - start};
    };
    lay_out(s->edit_.slots, s->edit_.home_slots, vstart.size(), edit_group);
  }

  IndexStats& st = s->stats_;
  st.entries = n;
  st.lists = s->lists_.size();
  st.groups = ngroups;
  st.edit_variants = nv;
  st.max_probe = max_probe;
  st.edit_bytes = s->edit_.slots.capacity() * sizeof(Snapshot::Slot) +
                  s->edit_entries_.capacity() * sizeof(uint32_t);
  st.index_bytes = s->entries_.capacity() * sizeof(Snapshot::Entry) +
                   s->strings_at_.capacity() * sizeof(uint32_t) +
                   s->main_.slots.capacity() * sizeof(uint64_t) + st.edit_bytes;
  st.string_bytes = s->strings_.capacity();
  return s;
}

// ---------------------------------------------------------------------------------------------
// LiveIndex

LiveIndex::LiveIndex() : LiveIndex(IndexBuilder().build()) {}

LiveIndex::LiveIndex(std::shared_ptr<const Snapshot> initial)
    : current_(initial.get()), owner_(std::move(initial)) {}

LiveIndex::~LiveIndex() = default;

void LiveIndex::publish(std::shared_ptr<const Snapshot> next) {
  if (!next) throw std::invalid_argument("LiveIndex::publish: null snapshot");
  // One publisher at a time, so a later publisher cannot free a snapshot this one still waits on.
  std::lock_guard<std::mutex> serial(publish_mu_);
  std::shared_ptr<const Snapshot> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
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
  std::lock_guard<std::mutex> lock(mu_);
  return owner_;
}

}  // namespace anpr
