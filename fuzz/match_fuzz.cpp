// Differential fuzzing of the index: the fuzzer's bytes drive the random list and read generator
// (testing/match_gen.h); the index and the reference matcher must find the same hits.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "match/index.h"
#include "testing/match_gen.h"
#include "testing/reference_matcher.h"

namespace {

// Yields the input's bytes 8 at a time, then a fixed sequence, so any input is a valid case.
struct ByteSource {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  uint64_t fallback = 0x9e3779b97f4a7c15ULL;
  uint64_t next() {
    if (pos + 8 <= size) {
      uint64_t v;
      std::memcpy(&v, data + pos, 8);
      pos += 8;
      return v;
    }
    fallback = fallback * 6364136223846793005ULL + 1442695040888963407ULL;
    return fallback >> 11;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace anpr;
  ByteSource src{data, size};
  testing::CaseGenerator gen(src);
  const auto c = gen.make(1 + gen.below(4), 30, 20);
  IndexBuilder b;
  for (const auto& l : c.lists) b.add(l);
  const auto snap = b.build();
  std::vector<IndexHit> hits;
  for (const auto& r : c.reads) {
    auto want = testing::reference_match(c.lists, snap->confusion(), r.country, r.ts, r.plates);
    hits.clear();
    snap->match(MatchQuery{r.country, r.ts, r.plates}, hits);
    std::vector<testing::RefHit> got;
    for (const IndexHit& h : hits) {
      const std::string ref(snap->entry_reference(h.entry));
      const auto e = ref.find('E');
      got.push_back({std::stoul(ref.substr(1, e - 1)), std::stoul(ref.substr(e + 1)), h.kind,
                     h.differences, h.plate_index});
    }
    std::sort(got.begin(), got.end());
    if (got != want) {
      std::fprintf(stderr, "mismatch: index %zu hits, reference %zu hits\n", got.size(),
                   want.size());
      __builtin_trap();
    }
  }
  return 0;
}
