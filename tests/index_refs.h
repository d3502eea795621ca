// Test helper: the references of the list entries a plate matches in an index's current
// snapshot, as the processor would match a read of that plate at `at`.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "match/index.h"
#include "match/plate.h"

namespace anpr::testing {

inline std::vector<std::string> matched_references(const LiveIndex& live, std::string_view plate,
                                                   TimestampMs at, CountryCode country = {}) {
  auto r = live.read();
  const Plate p = *Plate::from_normalized(plate);
  std::vector<IndexHit> hits;
  r->match(MatchQuery{country, at, std::span<const Plate>(&p, 1)}, hits);
  std::vector<std::string> out;
  for (const IndexHit& h : hits) out.emplace_back(r->entry_reference(h.entry));
  return out;
}

}  // namespace anpr::testing
