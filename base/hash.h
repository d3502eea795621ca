// MurmurHash3's 64-bit finaliser. Every step (xor-shift, multiplication by an odd constant) is
// invertible, so it is a bijection on 64-bit values: distinct keys never share a hash. The index
// relies on that (index.cpp); hit ids use it to spread their bits.
#pragma once

#include <cstdint>

namespace anpr {

constexpr uint64_t kMix64Mul1 = 0xff51afd7ed558ccdULL;
constexpr uint64_t kMix64Mul2 = 0xc4ceb9fe1a85ec53ULL;

constexpr uint64_t mix64(uint64_t k) {
  k ^= k >> 33;
  k *= kMix64Mul1;
  k ^= k >> 33;
  k *= kMix64Mul2;
  k ^= k >> 33;
  return k;
}

}  // namespace anpr
