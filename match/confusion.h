// OCR confusion classes (docs/design.md §4): characters a camera's OCR mistakes for each other. Two
// plates of equal length whose differing positions all hold characters of one class are an
// OCR-tolerant match. Classes form a partition: a character is in at most one class.
//
// Thread safety: immutable after construction.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "match/types.h"

namespace anpr {

class ConfusionClasses {
 public:
  // The default classes: {0,O,D,Q} {1,I} {2,Z} {5,S} {8,B} {6,G}.
  ConfusionClasses();

  // Builds classes from strings such as {"0ODQ", "1I"}. Each string is one class of at least two
  // distinct characters of [A-Z0-9]. On error returns false and sets `error` (which class, why).
  static bool parse(const std::vector<std::string>& classes, ConfusionClasses& out,
                    std::string& error);

  // The class representative's symbol code for a plate symbol code (Plate::code), 1..36.
  unsigned canonical_code(unsigned code) const { return canon_[code]; }
  bool same_class(char a, char b) const {
    return canon_[Plate::code(a)] == canon_[Plate::code(b)];
  }
  // The class representative's symbol code for a plate character ([A-Z0-9]), in one table
  // lookup (the lookup path computes this for every character of every read).
  unsigned canonical_code_of(char c) const { return canon_char_[static_cast<unsigned char>(c)]; }
  // Key of the plate with every character replaced by its class representative.
  uint64_t canonical_key(const Plate& p) const {
    // Two characters per step: half the multiplications on the dependency chain of the key, which
    // every lookup waits for before its memory access.
    const std::size_t n = p.size();
    std::size_t i = n & 1;
    uint64_t k = i != 0 ? canonical_code_of(p[0]) : 0;
    for (; i < n; i += 2)
      k = k * (37 * 37) + canonical_code_of(p[i]) * 37 + canonical_code_of(p[i + 1]);
    return k;
  }
  // The classes as strings, for display ("0ODQ 1I ...").
  std::vector<std::string> classes() const;

 private:
  std::array<uint8_t, 37> canon_{};
  std::array<uint8_t, 256> canon_char_{};  // canon_[Plate::code(c)] for every byte c
};

}  // namespace anpr
