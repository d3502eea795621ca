// Internals of the reference index shared by index.cpp and edit_filter.cpp (not a public
// header): the edit filter's hashing (match/index.h describes the filter), and the helpers of
// parallel builds.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include <tbb/parallel_for.h>

#include "base/hash.h"
#include "match/index.h"

namespace anpr::detail {

inline constexpr std::array<uint64_t, Plate::kMaxLen + 1> kPow37 = [] {
  std::array<uint64_t, Plate::kMaxLen + 1> p{};
  p[0] = 1;
  for (std::size_t i = 1; i < p.size(); ++i) p[i] = p[i - 1] * 37;
  return p;
}();

// ---- the edit filter's hashing (index.h, Snapshot::EditFilter) ----
//
// A key (deletion, position) sets kKeyBitsPerWord bits in each of two words of its deletion's
// block; a class mark sets one bit in each of kClassBits words. Words and bits come from 64-bit
// seeds: 3-bit word indices and 6-bit bit indices. Testing a key is two loads and two mask
// compares. (Spreading a key's bits over the whole block would give slightly fewer false
// positives at several times the cost of a test, and a read tests every position.)

constexpr unsigned kKeyBitsPerWord = 4;
constexpr unsigned kClassBits = 2;

// The seed of the key (deletion whose key hashes to h, position).
inline uint64_t position_seed(uint64_t h, std::size_t position) {
  return mix64(h + (position + 1) * 0x9e3779b97f4a7c15ULL);
}

// The seed of a class mark: the confusion class (its representative's code) of the character an
// entry has at the key's position.
inline uint64_t class_seed(uint64_t position_seed, unsigned class_code) {
  return mix64(position_seed + class_code);
}

template <unsigned kBits>
inline uint64_t seed_mask(uint64_t seed, unsigned from) {
  uint64_t m = 0;
  for (unsigned t = 0; t < kBits; ++t) m |= uint64_t{1} << (seed >> (from + 6 * t) & 63);
  return m;
}

inline void key_set(uint64_t* block, uint64_t seed) {
  block[seed & 7] |= seed_mask<kKeyBitsPerWord>(seed, 6);
  block[seed >> 3 & 7] |= seed_mask<kKeyBitsPerWord>(seed, 6 + 6 * kKeyBitsPerWord);
}

inline bool key_test(const uint64_t* block, uint64_t seed) {
  const uint64_t m1 = seed_mask<kKeyBitsPerWord>(seed, 6);
  const uint64_t m2 = seed_mask<kKeyBitsPerWord>(seed, 6 + 6 * kKeyBitsPerWord);
  return ((block[seed & 7] & m1) == m1) & ((block[seed >> 3 & 7] & m2) == m2);
}

inline void class_set(uint64_t* block, uint64_t seed) {
  for (unsigned t = 0; t < kClassBits; ++t)
    block[seed >> (9 * t) & 7] |= uint64_t{1} << (seed >> (9 * t + 3) & 63);
}

inline bool class_test(const uint64_t* block, uint64_t seed) {
  uint64_t all = 1;
  for (unsigned t = 0; t < kClassBits; ++t)
    all &= block[seed >> (9 * t) & 7] >> (seed >> (9 * t + 3) & 63);
  return (all & 1) != 0;
}

static_assert(6 + 12 * kKeyBitsPerWord <= 64 && 9 * kClassBits <= 64);

// Calls fn(mix64 of the deletion's key, position, removed character's code) for each position of
// the plate with key `key` that starts a run of equal characters (deleting any character of a run
// gives the same plate). Returns the plate's length. A one-character plate has no deletion (no
// read is empty).
template <class Fn>
inline std::size_t for_each_deletion(uint64_t key, Fn&& fn) {
  std::array<uint8_t, Plate::kMaxLen> code{};
  std::size_t len = 0;
  for (uint64_t k = key; k != 0 && len < Plate::kMaxLen; k /= 37) code[len++] = k % 37;
  std::reverse(code.begin(), code.begin() + static_cast<std::ptrdiff_t>(len));
  if (len < 2) return len;
  // suffix[j]: key of the plate's characters j..len-1 (their weights as in the whole plate).
  std::array<uint64_t, Plate::kMaxLen + 1> suffix{};
  for (std::size_t j = len; j-- > 0;) suffix[j] = code[j] * kPow37[len - 1 - j] + suffix[j + 1];
  // key(plate without j) = prefix(j) * 37^(len-1-j) + suffix(j+1).
  uint64_t prefix = 0;
  for (std::size_t j = 0; j < len; ++j) {
    if (j == 0 || code[j] != code[j - 1])
      fn(mix64(prefix * kPow37[len - 1 - j] + suffix[j + 1]), j, code[j]);
    prefix = prefix * 37 + code[j];
  }
  return len;
}

// ---- parallel builds ----

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

}  // namespace anpr::detail
