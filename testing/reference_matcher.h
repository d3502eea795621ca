// The reference matcher: a slow, obviously correct statement of docs/design.md §4, used to check the index.
// It scans every entry of every list for every plate of a read and applies the rules as written,
// on plate text, with no hashing, packing or pruning.
#pragma once

#include <string>
#include <tuple>
#include <vector>

#include "match/confusion.h"
#include "match/list.h"
#include "match/types.h"

namespace anpr::testing {

struct RefHit {
  std::size_t list = 0;   // position in the lists vector
  std::size_t entry = 0;  // position in that list's entries
  MatchKind kind = MatchKind::exact;
  unsigned differences = 0;
  unsigned plate_index = 0;
  auto tie() const { return std::tie(list, entry, kind, differences, plate_index); }
  friend bool operator==(const RefHit& a, const RefHit& b) { return a.tie() == b.tie(); }
  friend bool operator<(const RefHit& a, const RefHit& b) { return a.tie() < b.tie(); }
};

// Every (list, entry) the read matches, with its best match; sorted.
std::vector<RefHit> reference_match(const std::vector<ReferenceList>& lists,
                                    const ConfusionClasses& confusion, CountryCode read_country,
                                    TimestampMs ts, const std::vector<Plate>& plates);

std::string describe(const RefHit& h, const std::vector<ReferenceList>& lists);

}  // namespace anpr::testing
