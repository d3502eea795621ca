#include "match/edit_filter.h"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "match/formats.h"

namespace anpr {

using namespace detail;

namespace {

// HyperLogLog with 2^12 registers (about 1.6 % error): estimates how many distinct keys the
// edit filter holds, so it is sized for them and not for their repeats (in dense plate series,
// many entries share a deletion at the same position).
constexpr unsigned kHllBits = 12;
constexpr std::size_t kHllRegisters = std::size_t{1} << kHllBits;

// Adds an item to the registers, given a well-mixed 64-bit hash of it.
inline void hll_add(uint8_t* reg, uint64_t x) {
  const std::size_t r = x >> (64 - kHllBits);
  const auto rank = static_cast<uint8_t>(
      std::countl_zero((x << kHllBits) | (uint64_t{1} << (kHllBits - 1))) + 1);
  if (rank > reg[r]) reg[r] = rank;
}

double hll_estimate(const uint8_t* reg) {
  constexpr double m = kHllRegisters;
  double sum = 0;
  std::size_t zeros = 0;
  for (std::size_t i = 0; i < kHllRegisters; ++i) {
    sum += std::ldexp(1.0, -reg[i]);
    zeros += reg[i] == 0;
  }
  const double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
  if (e <= 2.5 * m && zeros != 0) return m * std::log(m / static_cast<double>(zeros));
  return e;
}

}  // namespace

IndexBuilder::EditFill IndexBuilder::build_edit_filter(Snapshot* s) const {
  const std::size_t n = s->entries_.size();
  const ConfusionClasses& conf = s->confusion_;
  // 3. The edit filter for ocr+edit lists (index.h). First, in chunks of entries in parallel:
  // plate lengths, whether plates fit their country's formats, and how many distinct keys and
  // class marks there are (estimated). Then the filter is sized for those and filled by a few
  // tasks, each over its share of the entries into a copy of its own (no atomics, and no array of
  // keys to sort or scatter: the keys are recomputed), and the copies are or-ed together.
  for (unsigned c = 1; c <= 36; ++c)
    if (conf.canonical_code(c) == c) s->class_codes_.push_back(static_cast<uint8_t>(c));
  const bool parallel = n >= kParallelFrom;
  const std::size_t nchunks = parallel ? 64 : 1;
  auto is_edit = [&](const Snapshot::Entry& e) {
    return s->hot_lists_[e.list].mode == MatchMode::ocr_edit;
  };
  struct ChunkInfo {
    uint32_t len_all = 0, len_any = 0;
    std::vector<std::pair<CountryCode, uint32_t>> len_by_country;
    uint8_t unfit = 0;  // bit 0 NL, 1 BE, 2 LU: an entry of that country fits none of its formats
    uint64_t keys = 0;  // (deletion, position) keys, with repeats
    std::array<uint8_t, kHllRegisters> hll{}, class_hll{};
  };
  const CountryCode formatted[3] = {kNL, kBE, kLU};
  std::vector<ChunkInfo> chunk_info(nchunks);
  // Large builds estimate from the keys of one deletion in 8 (by hash): as good for sizing, and
  // cheaper.
  const uint64_t sample_below = parallel ? uint64_t{1} << 29 : uint64_t{1} << 32;
  const double sample_rate = std::ldexp(static_cast<double>(sample_below), -32);
  auto survey = [&](std::size_t c) {
    ChunkInfo& ci = chunk_info[c];
    for (std::size_t i = c * n / nchunks, end = (c + 1) * n / nchunks; i < end; ++i) {
      const Snapshot::Entry& en = s->entries_[i];
      if (!is_edit(en)) continue;
      const uint64_t key = en.key & Plate::kKeyMask;
      const std::size_t len =
          for_each_deletion(key, [&](uint64_t h, std::size_t pos, unsigned code) {
            ++ci.keys;
            if ((h >> 32) >= sample_below) return;
            const uint64_t seed = position_seed(h, pos);
            hll_add(ci.hll.data(), seed);
            hll_add(ci.class_hll.data(), class_seed(seed, conf.canonical_code(code)));
          });
      const uint32_t len_bit = 1u << len;
      const CountryCode cc = CountryCode::from_raw(
          static_cast<uint16_t>((en.key >> Plate::kKeyBits) & Snapshot::kCountryMask));
      ci.len_all |= len_bit;
      if (!cc.known()) {
        ci.len_any |= len_bit;
        continue;
      }
      auto it = std::find_if(ci.len_by_country.begin(), ci.len_by_country.end(),
                             [&](const auto& cl) { return cl.first == cc; });
      if (it == ci.len_by_country.end()) {
        ci.len_by_country.push_back({cc, len_bit});
      } else {
        it->second |= len_bit;
      }
      for (unsigned f = 0; f < 3; ++f)
        if (cc == formatted[f] && !(ci.unfit >> f & 1u) &&
            !formats::valid(cc, Plate::from_key(key)))
          ci.unfit |= static_cast<uint8_t>(1u << f);
    }
  };
  if (nchunks == 1) {
    survey(0);
  } else {
    tbb::parallel_for(std::size_t{0}, nchunks, survey);
  }
  uint8_t unfit = 0;
  uint64_t nv = 0;
  std::array<uint8_t, kHllRegisters> hll{}, class_hll{};
  for (const ChunkInfo& ci : chunk_info) {
    s->edit_len_all_ |= ci.len_all;
    s->edit_len_any_ |= ci.len_any;
    unfit |= ci.unfit;
    nv += ci.keys;
    for (std::size_t r = 0; r < kHllRegisters; ++r) {
      hll[r] = std::max(hll[r], ci.hll[r]);
      class_hll[r] = std::max(class_hll[r], ci.class_hll[r]);
    }
    for (const auto& country_lengths : ci.len_by_country) {
      const CountryCode cc = country_lengths.first;
      auto it = std::find_if(s->edit_len_by_country_.begin(), s->edit_len_by_country_.end(),
                             [&](const auto& cl) { return cl.first == cc; });
      if (it == s->edit_len_by_country_.end()) {
        s->edit_len_by_country_.push_back(country_lengths);
      } else {
        it->second |= country_lengths.second;
      }
    }
  }
  std::vector<ChunkInfo>().swap(chunk_info);
  if (s->edit_len_any_ == 0) {  // no ocr+edit entry without a country
    for (unsigned f = 0; f < 3; ++f)
      if (!(unfit >> f & 1u)) s->edit_prunable_.push_back(formatted[f]);
  }

  Snapshot::EditFilter& filter = s->edit_filter_;
  std::size_t nkeys = 0, nclass_keys = 0;
  const double bits = edit_filter_bits_;  // per key; a class mark gets a quarter of that
  if (s->edit_len_all_ != 0 && bits <= 0) {
    // No filter: one block of ones, in which every key and class mark tests positive.
    filter.blocks = 1;
    filter.words.assign(8, ~uint64_t{0});
  } else if (nv != 0) {
    auto estimate = [&](const std::array<uint8_t, kHllRegisters>& reg) {
      return std::min<std::size_t>(
          nv, static_cast<std::size_t>(
                  std::llround(std::max(1.0, hll_estimate(reg.data()) / sample_rate))));
    };
    nkeys = estimate(hll);
    nclass_keys = std::max(nkeys, estimate(class_hll));
    const auto blocks = static_cast<uint64_t>(std::max(
        1.0, std::ceil((static_cast<double>(nkeys) + 0.25 * static_cast<double>(nclass_keys)) *
                       bits / 512)));
    if (blocks > std::numeric_limits<uint32_t>::max())
      throw std::length_error("edit filter too large (more than 2^32 blocks)");
    filter.blocks = blocks;
    filter.words.assign(blocks * 8, 0);
    // Task t sets the bits of the keys of entries [t * n / tasks, (t + 1) * n / tasks) in a
    // filter of its own (task 0 in the real one); the copies are then or-ed into it.
    const std::size_t tasks =
        parallel ? static_cast<std::size_t>(
                       std::clamp(tbb::this_task_arena::max_concurrency(), 1, 4))
                 : 1;
    std::vector<Snapshot::BigVector<uint64_t>> copies(tasks - 1);
    auto fill = [&](std::size_t t) {
      uint64_t* words = filter.words.data();
      if (t > 0) {
        copies[t - 1].assign(blocks * 8, 0);
        words = copies[t - 1].data();
      }
      // Keys wait in a ring while their block is fetched, so the cache misses overlap.
      struct Pending {
        uint64_t* block;
        uint64_t seed;
        unsigned class_code;
      };
      constexpr std::size_t kRing = 16;
      std::array<Pending, kRing> ring;
      std::size_t queued = 0;
      auto apply = [](const Pending& x) {
        key_set(x.block, x.seed);
        class_set(x.block, class_seed(x.seed, x.class_code));
      };
      for (std::size_t i = t * n / tasks, end = (t + 1) * n / tasks; i < end; ++i) {
        const Snapshot::Entry& en = s->entries_[i];
        if (!is_edit(en)) continue;
        for_each_deletion(en.key & Plate::kKeyMask, [&](uint64_t h, std::size_t pos,
                                                         unsigned code) {
          Pending& slot = ring[queued++ % kRing];
          if (queued > kRing) apply(slot);
          slot = Pending{words + ((h >> 32) * blocks >> 32) * 8, position_seed(h, pos),
                         conf.canonical_code(code)};
          __builtin_prefetch(slot.block, 1);
        });
      }
      for (std::size_t j = queued > kRing ? queued - kRing : 0; j < queued; ++j)
        apply(ring[j % kRing]);
    };
    if (tasks == 1) {
      fill(0);
    } else {
      tbb::parallel_for(std::size_t{0}, tasks, fill);
      for_range(blocks * 8, [&](std::size_t b, std::size_t e) {
        for (const auto& copy : copies)
          for (std::size_t w = b; w < e; ++w) filter.words[w] |= copy[w];
      });
    }
  }
  // Expected false-positive rates of a key test and of a class mark test, from the filter's
  // fill: per block, the mean over its words of fill^bits (a key: that squared, for its two
  // words), averaged over the blocks.
  double fpp = 0, class_fpp = 0;
  for (uint64_t b = 0; b < filter.blocks; ++b) {
    double key_word = 0, class_word = 0;
    for (unsigned w = 0; w < 8; ++w) {
      const double f = std::popcount(filter.words[b * 8 + w]) / 64.0;
      key_word += std::pow(f, kKeyBitsPerWord) / 8;
      class_word += f / 8;
    }
    fpp += key_word * key_word;
    class_fpp += std::pow(class_word, kClassBits);
  }
  if (filter.blocks != 0) {
    fpp /= static_cast<double>(filter.blocks);
    class_fpp /= static_cast<double>(filter.blocks);
  }
  return EditFill{nv, nkeys, nclass_keys, fpp, class_fpp};
}

}  // namespace anpr
