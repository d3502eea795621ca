#include "match/index.h"

#include "match/formats.h"

#include <tbb/parallel_for.h>
#include <tbb/parallel_sort.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace anpr {

namespace {

constexpr uint32_t kNoExpiryS = std::numeric_limits<uint32_t>::max();

// MurmurHash3's 64-bit finaliser: a bijection, so distinct keys never share a hash and sorting by
// hash groups equal keys.
inline uint64_t mix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb93fe53e87d6ULL;  // odd: invertible
  k ^= k >> 33;
  return k;
}

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

uint64_t Snapshot::Table::home(uint64_t key) const { return fastrange(mix64(key), home_slots); }

const Snapshot::Slot* Snapshot::Table::find(uint64_t key) const {
  if (home_slots == 0) return nullptr;
  const uint64_t h = home(key);
  // The slot array ends with an empty slot, so the scan always stops.
  for (const Slot* s = &slots[h];; ++s) {
    if (s->key == key) return s;
    if (s->key == 0 || home(s->key) > h) return nullptr;
  }
}

namespace {
struct Keyed {
  uint64_t hash;
  uint32_t idx;
};
}  // namespace

// ---------------------------------------------------------------------------------------------
// Snapshot lookups

bool Snapshot::entry_applies(const Entry& e, CountryCode country, TimestampMs ts) const {
  const uint16_t ec = static_cast<uint16_t>(e.key >> Plate::kKeyBits);
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

void Snapshot::scan_group(const Slot& s, const Plate& p, uint64_t pkey, const MatchQuery& q,
                          uint8_t plate_index, std::vector<IndexHit>& out,
                          std::size_t first) const {
  for (uint32_t i = s.start, end = s.start + s.count; i < end; ++i) {
    const Entry& e = entries_[i];
    if (!entry_applies(e, q.country, q.ts)) continue;
    const uint64_t ekey = e.key & Plate::kKeyMask;
    if (ekey == pkey) {
      offer(out, first, IndexHit{i, MatchKind::exact, 0, plate_index});
      continue;
    }
    const ListHot& l = hot_lists_[e.list];
    if (l.mode == MatchMode::exact) continue;
    // Same canonical plate: same length, every difference within one confusion class.
    const unsigned d = count_differences(ekey, pkey);
    if (d <= l.max_subs)
      offer(out, first, IndexHit{i, MatchKind::ocr, static_cast<uint8_t>(d), plate_index});
  }
  (void)p;
}

void Snapshot::match_edit(const Plate& p, const MatchQuery& q, uint8_t plate_index,
                          std::vector<IndexHit>& out, std::size_t first) const {
  const std::size_t n = p.size();
  // The read is missing one character: the entry minus one character equals the read.
  if (n + 1 <= Plate::kMaxLen && (edit_lengths_ >> (n + 1) & 1u)) {
    if (const Slot* s = edit_.find(p.key())) {
      for (uint32_t r = s->start, end = s->start + s->count; r < end; ++r) {
        const uint32_t ei = edit_entries_[r];
        if (entry_applies(entries_[ei], q.country, q.ts))
          offer(out, first, IndexHit{ei, MatchKind::edit, 1, plate_index});
      }
    }
  }
  // The read has one extra character: the read minus one character equals the entry.
  if (n >= 2 && (edit_lengths_ >> (n - 1) & 1u)) {
    const bool prune = q.country.known() &&
                       std::find(edit_prunable_.begin(), edit_prunable_.end(), q.country) !=
                           edit_prunable_.end();
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0 && p[i] == p[i - 1]) continue;  // same deletion as the previous position
      const Plate v = without(p, i);
      if (prune && !formats::valid(q.country, v)) continue;  // cannot exist in that country
      const Slot* s = main_.find(confusion_.canonical_key(v));
      if (s == nullptr) continue;
      const uint64_t vkey = v.key();
      for (uint32_t ei = s->start, end = s->start + s->count; ei < end; ++ei) {
        const Entry& e = entries_[ei];
        if ((e.key & Plate::kKeyMask) != vkey) continue;
        if (hot_lists_[e.list].mode != MatchMode::ocr_edit) continue;
        if (entry_applies(e, q.country, q.ts))
          offer(out, first, IndexHit{ei, MatchKind::edit, 1, plate_index});
      }
    }
  }
}

std::size_t Snapshot::match(const MatchQuery& q, std::vector<IndexHit>& out) const {
  const std::size_t first = out.size();
  const std::size_t nplates = std::min<std::size_t>(q.plates.size(), 255);
  for (std::size_t pi = 0; pi < nplates; ++pi) {
    const Plate& p = q.plates[pi];
    if (p.size() == 0) continue;
    const uint8_t idx = static_cast<uint8_t>(pi);
    if (const Slot* s = main_.find(confusion_.canonical_key(p))) {
      scan_group(*s, p, p.key(), q, idx, out, first);
    }
    if (edit_lengths_ != 0) match_edit(p, q, idx, out, first);
  }
  return out.size() - first;
}

void Snapshot::prefetch(const Plate& p) const {
  if (main_.home_slots == 0) return;
  __builtin_prefetch(&main_.slots[main_.home(confusion_.canonical_key(p))]);
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

void IndexBuilder::reserve(std::size_t n) {
  s_->entries_.reserve(n);
  s_->strings_at_.reserve(n);
}

void IndexBuilder::add(uint16_t list, const ListEntry& e) {
  add(list, e.plate, e.country, e.category, e.action, e.priority, e.valid_until, e.reference,
      e.note);
}

void IndexBuilder::add(const ReferenceList& list) {
  const uint16_t l = add_list(list.meta);
  reserve(s_->entries_.size() + list.entries.size());
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

// Builds a table over groups: `keys[g]` (non-zero, in ascending mix64 order), `starts[g]`,
// `counts[g]`. Sorted linear probing: each group goes to the first free slot at or after its
// home; since groups arrive in home order, groups sharing a home stay contiguous and every slot
// between a group's home and its position holds a group with an earlier or equal home.
template <class Slot>
std::size_t lay_out(std::vector<Slot>& slots, uint64_t& home_slots, std::size_t ngroups,
                    const auto& group_at) {
  home_slots = std::max<uint64_t>(16, ngroups + ngroups / 4);
  slots.assign(home_slots + 1, Slot{0, 0, 0});
  std::size_t pos = 0, max_probe = 0;
  for (std::size_t g = 0; g < ngroups; ++g) {
    const auto [key, start, count] = group_at(g);
    const std::size_t h = fastrange(mix64(key), home_slots);
    const std::size_t p = std::max(h, pos);
    if (p + 1 >= slots.size()) slots.resize(p + 2, Slot{0, 0, 0});
    slots[p] = Slot{key, start, count};
    max_probe = std::max(max_probe, p - h);
    pos = p + 1;
  }
  slots.shrink_to_fit();
  return max_probe;
}

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

template <class T, class Less>
void sort_range(std::vector<T>& v, Less less) {
  if (v.size() < kParallelFrom) {
    std::sort(v.begin(), v.end(), less);
  } else {
    tbb::parallel_sort(v.begin(), v.end(), less);
  }
}

}  // namespace

std::unique_ptr<Snapshot> IndexBuilder::build() {
  std::unique_ptr<Snapshot> s = std::move(s_);
  s_ = std::make_unique<Snapshot>();
  s_->confusion_ = s->confusion_;
  const std::size_t n = s->entries_.size();
  const ConfusionClasses& conf = s->confusion_;

  // 1. Sort entries by the hash of their canonical plate, then plate, country and list.
  std::vector<Keyed> order(n);
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
    std::vector<Snapshot::Entry> sorted(n);
    std::vector<uint32_t> strings_at(n);
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
    if (i == 0 || order[i].hash != order[i - 1].hash) group_start.push_back(static_cast<uint32_t>(i));
  const std::size_t ngroups = group_start.size();
  auto main_group = [&](std::size_t g) {
    const uint32_t start = group_start[g];
    const uint32_t end = g + 1 < ngroups ? group_start[g + 1] : static_cast<uint32_t>(n);
    const Plate p = Plate::from_key(s->entries_[start].key & Plate::kKeyMask);
    return std::tuple<uint64_t, uint32_t, uint32_t>{conf.canonical_key(p), start, end - start};
  };
  const std::size_t max_probe = lay_out(s->main_.slots, s->main_.home_slots, ngroups, main_group);
  std::vector<Keyed>().swap(order);

  // 3. Deletion table for ocr+edit lists.
  std::vector<Keyed> variants;
  bool edit_any_country = false;
  std::vector<CountryCode> not_prunable;
  for (uint32_t i = 0; i < n; ++i) {
    const Snapshot::Entry& e = s->entries_[i];
    if (s->hot_lists_[e.list].mode != MatchMode::ocr_edit) continue;
    const Plate p = Plate::from_key(e.key & Plate::kKeyMask);
    s->edit_lengths_ |= 1u << p.size();
    const CountryCode c = CountryCode::from_raw(static_cast<uint16_t>(e.key >> Plate::kKeyBits));
    if (!c.known()) edit_any_country = true;
    if (formats::has_formats(c) && !formats::valid(c, p)) not_prunable.push_back(c);
    if (p.size() < 2) continue;  // its deletion is empty: no read is empty
    for (std::size_t j = 0; j < p.size(); ++j) {
      if (j > 0 && p[j] == p[j - 1]) continue;
      variants.push_back(Keyed{mix64(without(p, j).key()), i});
    }
  }
  sort_range(variants, [](const Keyed& a, const Keyed& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.idx < b.idx;
  });
  s->edit_entries_.resize(variants.size());
  std::vector<uint32_t> vstart;
  for (std::size_t i = 0; i < variants.size(); ++i) {
    s->edit_entries_[i] = variants[i].idx;
    if (i == 0 || variants[i].hash != variants[i - 1].hash) vstart.push_back(static_cast<uint32_t>(i));
  }
  if (!edit_any_country) {
    for (CountryCode c : {kNL, kBE, kLU})
      if (std::find(not_prunable.begin(), not_prunable.end(), c) == not_prunable.end())
        s->edit_prunable_.push_back(c);
  }
  if (!variants.empty()) {
    auto edit_group = [&](std::size_t g) {
      const uint32_t start = vstart[g];
      const uint32_t end =
          g + 1 < vstart.size() ? vstart[g + 1] : static_cast<uint32_t>(variants.size());
      // Recover the variant's key from its entry: the deletion whose hash matches.
      const Plate p = Plate::from_key(s->entries_[variants[start].idx].key & Plate::kKeyMask);
      uint64_t key = 0;
      for (std::size_t j = 0; j < p.size(); ++j) {
        const uint64_t k = without(p, j).key();
        if (mix64(k) == variants[start].hash) key = k;
      }
      return std::tuple<uint64_t, uint32_t, uint32_t>{key, start, end - start};
    };
    lay_out(s->edit_.slots, s->edit_.home_slots, vstart.size(), edit_group);
  }

  IndexStats& st = s->stats_;
  st.entries = n;
  st.lists = s->lists_.size();
  st.groups = ngroups;
  st.edit_variants = variants.size();
  st.max_probe = max_probe;
  st.edit_bytes = s->edit_.slots.capacity() * sizeof(Snapshot::Slot) +
                  s->edit_entries_.capacity() * sizeof(uint32_t);
  st.index_bytes = s->entries_.capacity() * sizeof(Snapshot::Entry) +
                   s->strings_at_.capacity() * sizeof(uint32_t) +
                   s->main_.slots.capacity() * sizeof(Snapshot::Slot) + st.edit_bytes;
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
  std::shared_ptr<const Snapshot> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // seq_cst: ordered before synchronize()'s epoch increment (epoch.h).
    current_.exchange(next.get(), std::memory_order_seq_cst);
    old = std::move(owner_);
    owner_ = std::move(next);
    published_.fetch_add(1, std::memory_order_relaxed);
    // Wait inside the lock, so a later publisher cannot free a snapshot this one still waits on.
    synchronize();
  }
  // `old` is released here, after every reader that could see it has left.
}

std::shared_ptr<const Snapshot> LiveIndex::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return owner_;
}

}  // namespace anpr
