// The index against the reference matcher, plus the cases that matter most spelled out.
#include "match/index.h"
#include "match/formats.h"
#include "base/hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <tuple>

#include "testing/match_gen.h"
#include "testing/reference_matcher.h"

namespace anpr {
namespace {

using testing::CaseGenerator;
using testing::RefHit;
using testing::reference_match;

struct Prng {
  std::mt19937_64 rng;
  uint64_t next() { return rng(); }
};

// Snapshot hits translated to (list, entry-in-list) via the unique references "L<l>E<e>".
std::vector<RefHit> index_match(const Snapshot& s, CountryCode country, TimestampMs ts,
                                const std::vector<Plate>& plates) {
  std::vector<IndexHit> hits;
  s.match(MatchQuery{country, ts, plates}, hits);
  std::vector<RefHit> out;
  for (const IndexHit& h : hits) {
    const std::string ref(s.entry_reference(h.entry));
    const auto e = ref.find('E');
    out.push_back(RefHit{std::stoul(ref.substr(1, e - 1)), std::stoul(ref.substr(e + 1)), h.kind,
                         h.differences, h.plate_index});
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<Snapshot> build(const std::vector<ReferenceList>& lists,
                                ConfusionClasses conf = {}) {
  IndexBuilder b(conf);
  for (const auto& l : lists) b.add(l);
  return b.build();
}

std::string show(const std::vector<RefHit>& hits, const std::vector<ReferenceList>& lists) {
  std::string s;
  for (const auto& h : hits) s += "  " + testing::describe(h, lists) + "\n";
  return s.empty() ? "  (none)\n" : s;
}

class DifferentialTest : public ::testing::TestWithParam<int> {};

TEST_P(DifferentialTest, IndexAgreesWithReferenceMatcher) {
  Prng prng{std::mt19937_64(static_cast<uint64_t>(GetParam()) * 7919 + 17)};
  CaseGenerator gen(prng);
  std::size_t total_hits = 0, kinds[3] = {0, 0, 0};
  for (int round = 0; round < 20; ++round) {
    auto c = gen.make(1 + gen.below(6), 60, 150);
    auto snap = build(c.lists);
    for (const auto& r : c.reads) {
      auto want = reference_match(c.lists, snap->confusion(), r.country, r.ts, r.plates);
      auto got = index_match(*snap, r.country, r.ts, r.plates);
      std::string plates;
      for (const auto& p : r.plates) plates += p.str() + " ";
      ASSERT_EQ(got, want) << "read [" << plates << "] country '" << r.country.str() << "'\n"
                           << "want:\n" << show(want, c.lists) << "got:\n" << show(got, c.lists);
      total_hits += want.size();
      for (const auto& h : want) ++kinds[static_cast<int>(h.kind)];
    }
    // The batched path gives every read the same answer as one match() per read.
    std::vector<MatchQuery> queries;
    for (const auto& r : c.reads) queries.push_back({r.country, r.ts, r.plates});
    std::vector<IndexHit> batch{IndexHit{}};  // a hit already there must stay untouched
    std::vector<uint32_t> ends;
    snap->match_batch(queries, batch, ends);
    ASSERT_EQ(ends.size(), queries.size());
    std::size_t begin = 1;
    for (std::size_t i = 0; i < queries.size(); ++i) {
      std::vector<IndexHit> single;
      snap->match(queries[i], single);
      auto key = [](const IndexHit& h) {
        return std::tuple(h.entry, h.kind, h.differences, h.plate_index);
      };
      std::vector<std::tuple<uint32_t, MatchKind, uint8_t, uint8_t>> a, b;
      for (auto& h : single) a.push_back(key(h));
      for (std::size_t k = begin; k < ends[i]; ++k) b.push_back(key(batch[k]));
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      ASSERT_EQ(a, b) << "read " << i;
      begin = ends[i];
    }
  }
  // The generator must actually exercise every kind of match, or agreement proves little.
  EXPECT_GT(total_hits, 100u);
  EXPECT_GT(kinds[0], 10u);
  EXPECT_GT(kinds[1], 10u);
  EXPECT_GT(kinds[2], 10u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, DifferentialTest, ::testing::Range(0, 8));

TEST(DifferentialTest, CustomConfusionClasses) {
  ConfusionClasses conf;
  std::string err;
  ASSERT_TRUE(ConfusionClasses::parse({"AX", "0O"}, conf, err)) << err;
  Prng prng{std::mt19937_64(99)};
  CaseGenerator gen(prng);
  for (int round = 0; round < 10; ++round) {
    auto c = gen.make(3, 80, 200);
    auto snap = build(c.lists, conf);
    for (const auto& r : c.reads) {
      ASSERT_EQ(index_match(*snap, r.country, r.ts, r.plates),
                reference_match(c.lists, conf, r.country, r.ts, r.plates));
    }
  }
}

// Lists of plates that fit their country's formats, so reads of a known country may skip deletion
// variants that fit none (the index's pruning); the answers must not change.
TEST(DifferentialTest, FormatValidPlatesWithPruning) {
  std::mt19937_64 rng(2024);
  Prng prng{std::mt19937_64(77)};
  CaseGenerator gen(prng);
  const std::string letters = "BDFGHJKLNPRSTVXZ", digits = "0123456789";
  const CountryCode countries[] = {kNL, kBE, kLU};
  auto valid_plate = [&](CountryCode c) {
    for (;;) {
      std::string s;
      const std::size_t len = 6 + rng() % 2;
      for (std::size_t i = 0; i < len; ++i)
        s.push_back(rng() % 2 ? letters[rng() % letters.size()] : digits[rng() % digits.size()]);
      Plate p = *Plate::from_normalized(s);
      if (formats::valid(c, p)) return p;
    }
  };
  std::size_t edits = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<ReferenceList> lists(2);
    for (std::size_t l = 0; l < lists.size(); ++l) {
      lists[l].meta.id = "v" + std::to_string(l);
      lists[l].meta.mode = MatchMode::ocr_edit;
      for (int e = 0; e < 200; ++e) {
        ListEntry entry;
        entry.country = countries[rng() % 3];
        entry.plate = valid_plate(entry.country);
        entry.reference = "L" + std::to_string(l) + "E" + std::to_string(e);
        lists[l].entries.push_back(entry);
      }
    }
    auto snap = build(lists);
    for (int r = 0; r < 400; ++r) {
      const auto& l = lists[rng() % lists.size()];
      const auto& e = l.entries[rng() % l.entries.size()];
      std::vector<Plate> plates{gen.mutate(e.plate)};
      const CountryCode c = rng() % 4 == 0 ? countries[rng() % 3] : e.country;
      auto want = reference_match(lists, snap->confusion(), c, 0, plates);
      ASSERT_EQ(index_match(*snap, c, 0, plates), want) << plates[0].str() << " " << c.str();
      for (const auto& h : want) edits += h.kind == MatchKind::edit;
    }
  }
  EXPECT_GT(edits, 100u);
}

ReferenceList one_list(MatchMode mode, uint8_t subs, std::vector<std::pair<std::string, CountryCode>> plates) {
  ReferenceList l;
  l.meta.id = "t";
  l.meta.owner = kNL;
  l.meta.mode = mode;
  l.meta.max_substitutions = subs;
  int i = 0;
  for (auto& [p, c] : plates) {
    ListEntry e;
    e.plate = *Plate::from_normalized(p);
    e.country = c;
    e.reference = "L0E" + std::to_string(i++);
    l.entries.push_back(e);
  }
  return l;
}

struct Expect {
  std::string read;
  CountryCode country;
  int entry;  // -1: no hit
  MatchKind kind;
  int differences;
};

void check(const ReferenceList& list, const std::vector<Expect>& cases) {
  auto snap = build({list});
  for (const auto& c : cases) {
    std::vector<Plate> plates{*Plate::from_normalized(c.read)};
    auto got = index_match(*snap, c.country, 0, plates);
    if (c.entry < 0) {
      EXPECT_TRUE(got.empty()) << c.read << " should not hit; got " << got.size();
    } else {
      ASSERT_EQ(got.size(), 1u) << c.read;
      EXPECT_EQ(got[0].entry, static_cast<std::size_t>(c.entry)) << c.read;
      EXPECT_EQ(got[0].kind, c.kind) << c.read;
      EXPECT_EQ(got[0].differences, static_cast<unsigned>(c.differences)) << c.read;
    }
  }
}

TEST(IndexTest, ExactListsStayExact) {
  check(one_list(MatchMode::exact, 2, {{"AB12CD", kNL}}),
        {{"AB12CD", kNL, 0, MatchKind::exact, 0},
         {"A812CD", kNL, -1, {}, 0},
         {"AB12C", kNL, -1, {}, 0},
         {"AB12CD", kBE, -1, {}, 0},
         {"AB12CD", kAnyCountry, 0, MatchKind::exact, 0}});
}

TEST(IndexTest, OcrSubstitutionsWithinClassesUpToTheLimit) {
  check(one_list(MatchMode::ocr, 1, {{"AB12CD", kNL}}),
        {{"A812CD", kNL, 0, MatchKind::ocr, 1},   // B read as 8
         {"A8I2CD", kNL, -1, {}, 0},              // two substitutions, list allows one
         {"AC12CD", kNL, -1, {}, 0},              // B/C are not confusable
         {"AB12C", kNL, -1, {}, 0}});             // no edits in ocr mode
  check(one_list(MatchMode::ocr, 2, {{"AB12CD", kNL}}),
        {{"A8I2CD", kNL, 0, MatchKind::ocr, 2}, {"A8I2C0", kNL, -1, {}, 0}});
}

TEST(IndexTest, EditAllowsOneInsertedOrMissingCharacterOnly) {
  check(one_list(MatchMode::ocr_edit, 1, {{"AB12CD", kNL}}),
        {{"AB12C", kNL, 0, MatchKind::edit, 1},     // missing last
         {"B12CD", kNL, 0, MatchKind::edit, 1},     // missing first
         {"AB123CD", kNL, 0, MatchKind::edit, 1},   // inserted
         {"A812C", kNL, -1, {}, 0},                 // edit plus substitution: not combined
         {"AB1CD", kNL, 0, MatchKind::edit, 1},
         {"AB12CDXX", kNL, -1, {}, 0}});
}

TEST(IndexTest, CountryRules) {
  auto list = one_list(MatchMode::exact, 1, {{"123ABC", kBE}, {"123ABC", kAnyCountry}});
  auto snap = build({list});
  std::vector<Plate> p{*Plate::from_normalized("123ABC")};
  EXPECT_EQ(index_match(*snap, kBE, 0, p).size(), 2u);           // BE entry and the any entry
  EXPECT_EQ(index_match(*snap, kNL, 0, p).size(), 1u);           // only the any entry
  EXPECT_EQ(index_match(*snap, kAnyCountry, 0, p).size(), 2u);   // unknown read: every country
}

TEST(IndexTest, ExpiryAndListWindow) {
  auto list = one_list(MatchMode::exact, 1, {{"XY99ZZ", kNL}});
  list.entries[0].valid_until = 10'000;
  list.meta.valid_from = 2'000;
  auto snap = build({list});
  std::vector<Plate> p{*Plate::from_normalized("XY99ZZ")};
  EXPECT_TRUE(index_match(*snap, kNL, 1'999, p).empty());   // before the list's window
  EXPECT_EQ(index_match(*snap, kNL, 2'000, p).size(), 1u);
  EXPECT_EQ(index_match(*snap, kNL, 9'999, p).size(), 1u);
  EXPECT_TRUE(index_match(*snap, kNL, 10'000, p).empty());  // at valid_until: expired
}

TEST(IndexTest, BestMatchPerEntryOverCandidates) {
  auto snap = build({one_list(MatchMode::ocr_edit, 2, {{"AB12CD", kNL}})});
  std::vector<Plate> p{*Plate::from_normalized("AB12C"), *Plate::from_normalized("A812CD"),
                       *Plate::from_normalized("AB12CD")};
  auto got = index_match(*snap, kNL, 0, p);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind, MatchKind::exact);
  EXPECT_EQ(got[0].plate_index, 2u);
}

TEST(IndexTest, EntryAttributesSurviveTheBuild) {
  ReferenceList l = one_list(MatchMode::ocr, 1, {{"AB12CD", kNL}, {"XX11YY", kBE}});
  l.entries[1].category = Category::terrorism;
  l.entries[1].action = Action::observe;
  l.entries[1].priority = 3;
  l.entries[1].note = std::string(300, 'n');
  l.entries[1].valid_until = 1'234'567'000;
  auto snap = build({l});
  std::vector<Plate> p{*Plate::from_normalized("XX11YY")};
  std::vector<IndexHit> hits;
  ASSERT_EQ(snap->match({kBE, 0, p}, hits), 1u);
  const uint32_t e = hits[0].entry;
  EXPECT_EQ(snap->entry_plate(e).str(), "XX11YY");
  EXPECT_EQ(snap->entry_country(e), kBE);
  EXPECT_EQ(snap->entry_category(e), Category::terrorism);
  EXPECT_EQ(snap->entry_action(e), Action::observe);
  EXPECT_EQ(snap->entry_priority(e), 3);
  EXPECT_EQ(snap->entry_reference(e), "L0E1");
  EXPECT_EQ(snap->entry_note(e), std::string(300, 'n'));
  EXPECT_EQ(snap->entry_valid_until(e), 1'234'567'000);
  EXPECT_EQ(snap->list(snap->entry_list(e)).id, "t");
}

TEST(IndexTest, LargeIndexMissesAndHits) {
  // Many entries: probe sequences get long enough to exercise the stop rule.
  IndexBuilder b;
  ListMeta m;
  m.id = "big";
  m.mode = MatchMode::ocr;
  const uint16_t l = b.add_list(m);
  std::set<std::string> listed;
  std::mt19937_64 rng(1);
  const std::string alnum = "ABCDEFGHJKLMNPRSTVWXYZ0123456789";
  for (int i = 0; i < 200000; ++i) {
    std::string s;
    for (int k = 0; k < 7; ++k) s.push_back(alnum[rng() % alnum.size()]);
    if (!listed.insert(s).second) continue;
    b.add(l, *Plate::from_normalized(s), kNL, Category::stolen_vehicle, Action::intercept, 50,
          kNoExpiry, s, "");
  }
  auto snap = b.build();
  EXPECT_EQ(snap->entry_count(), listed.size());
  std::vector<IndexHit> hits;
  std::size_t found = 0;
  for (const auto& s : listed) {
    std::vector<Plate> p{*Plate::from_normalized(s)};
    hits.clear();
    snap->match({kNL, 0, p}, hits);
    for (auto& h : hits)
      if (h.kind == MatchKind::exact && snap->entry_reference(h.entry) == s) ++found;
  }
  EXPECT_EQ(found, listed.size());
  std::size_t false_hits = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string s;
    for (int k = 0; k < 7; ++k) s.push_back("ACEUW"[rng() % 5]);  // not in `alnum`... mostly
    if (listed.count(s)) continue;
    std::vector<Plate> p{*Plate::from_normalized(s)};
    hits.clear();
    snap->match({kNL, 0, p}, hits);
    for (auto& h : hits)
      if (h.kind == MatchKind::exact) ++false_hits;
  }
  EXPECT_EQ(false_hits, 0u);
}

// Groups whose home is the table's last slot are laid out past it: they are found, by exact and
// OCR-tolerant lookups and through match_batch, and the slot array keeps no surplus for them
// (growing it past its end doubled its capacity, paid per entry for the snapshot's life).
TEST(IndexTest, GroupsPastTheLastHomeAreFoundAndCostNoSurplus) {
  const ConfusionClasses conf;
  // Fewer than 8 groups: 16 home slots; these plates' home is the last one (top 4 hash bits set).
  std::vector<std::string> last_home, elsewhere;
  const std::string alnum = "ACEFHJKLMNPRTUVWXY3479";  // no two in one confusion class
  std::mt19937_64 rng(7);
  while (last_home.size() < 5 || elsewhere.size() < 2) {
    std::string s;
    for (int k = 0; k < 6; ++k) s.push_back(alnum[rng() % alnum.size()]);
    const uint64_t h = mix64(conf.canonical_key(*Plate::from_normalized(s)));
    if ((h >> 60) == 0xf) {
      if (last_home.size() < 5) last_home.push_back(s);
    } else if (elsewhere.size() < 2) {
      elsewhere.push_back(s);
    }
  }
  IndexBuilder b;
  ListMeta m;
  m.id = "end";
  m.mode = MatchMode::ocr;
  const uint16_t l = b.add_list(m);
  std::vector<std::string> all = last_home;
  all.insert(all.end(), elsewhere.begin(), elsewhere.end());
  for (const auto& s : all)
    b.add(l, *Plate::from_normalized(s), kNL, Category::suspect, Action::observe, 1, kNoExpiry, s,
          "");
  auto snap = b.build();
  const IndexStats& st = snap->stats();
  ASSERT_EQ(st.groups, all.size());
  EXPECT_GE(st.max_probe, 4u);  // the fifth plate of the last home sits 4 slots past it
  // entries (16 bytes) and string offsets (4) per entry; the rest is the slot array: 16 homes,
  // the slots displaced past the last one and two more.
  const std::size_t slot_bytes = st.index_bytes - st.entries * 20 - st.edit_bytes;
  EXPECT_LE(slot_bytes, (16 + st.max_probe + 2) * 8);
  std::vector<Plate> plates;
  for (const auto& s : all) plates.push_back(*Plate::from_normalized(s));
  std::vector<MatchQuery> queries;
  for (std::size_t i = 0; i < all.size(); ++i) {
    std::vector<IndexHit> hits;
    snap->match(MatchQuery{kNL, 0, std::span<const Plate>(&plates[i], 1)}, hits);
    ASSERT_EQ(hits.size(), 1u) << all[i];
    EXPECT_EQ(snap->entry_reference(hits[0].entry), all[i]);
    EXPECT_EQ(hits[0].kind, MatchKind::exact);
    queries.push_back(MatchQuery{kNL, 0, std::span<const Plate>(&plates[i], 1)});
  }
  std::vector<IndexHit> hits;
  std::vector<uint32_t> ends;
  snap->match_batch(queries, hits, ends);
  ASSERT_EQ(ends.size(), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(ends[i], i + 1) << all[i];
    EXPECT_EQ(snap->entry_reference(hits[i].entry), all[i]);
  }
}

// docs/design.md §5: at most 48 bytes per entry, ocr+edit included. Plates of real series share
// deletions (the benchmark's 1 M and 10 M sets: about 47 and 43 bytes, docs/benchmarks.md); these
// random plates over a wide alphabet share none, every deletion a key of its own, the most an
// ocr+edit list can cost: 48.5. Exact and ocr lists: entries, string offsets and the main table
// at a load of 0.5, about 36.
TEST(IndexTest, BytesPerEntryWithinTheTarget) {
  std::mt19937_64 rng(3);
  const std::string alnum = "ABCDEFGHJKLMNPRSTVWXYZ0123456789";
  std::set<std::string> plates;
  while (plates.size() < 100000) {
    std::string s;
    for (int k = 0; k < 7; ++k) s.push_back(alnum[rng() % alnum.size()]);
    plates.insert(s);
  }
  for (const MatchMode mode : {MatchMode::ocr, MatchMode::ocr_edit}) {
    IndexBuilder b;
    ListMeta m;
    m.id = "sparse";
    m.mode = mode;
    const uint16_t l = b.add_list(m);
    for (const auto& s : plates)
      b.add(l, *Plate::from_normalized(s), kNL, Category::suspect, Action::observe, 1, kNoExpiry,
            "", "");
    auto snap = b.build();
    const IndexStats& st = snap->stats();
    const double per_entry = static_cast<double>(st.index_bytes) / static_cast<double>(st.entries);
    EXPECT_LE(per_entry, mode == MatchMode::ocr ? 37.0 : 49.0) << to_string(mode);
  }
}

TEST(IndexTest, EmptyIndexMatchesNothing) {
  auto snap = IndexBuilder().build();
  std::vector<Plate> p{*Plate::from_normalized("A")};
  std::vector<IndexHit> hits;
  EXPECT_EQ(snap->match({kNL, 0, p}, hits), 0u);
}

TEST(ConfusionTest, DefaultsAndValidation) {
  ConfusionClasses def;
  EXPECT_EQ(def.classes(), (std::vector<std::string>{"0DOQ", "1I", "2Z", "5S", "6G", "8B"}));
  ConfusionClasses c;
  std::string err;
  EXPECT_FALSE(ConfusionClasses::parse({"0O", "O1"}, c, err));
  EXPECT_NE(err.find("already in a class"), std::string::npos);
  EXPECT_FALSE(ConfusionClasses::parse({"A"}, c, err));
  EXPECT_FALSE(ConfusionClasses::parse({"a0"}, c, err));
}

}  // namespace
}  // namespace anpr

namespace anpr {
namespace {

// The table keeps only 32 bits of each plate's hash. Plates whose hashes share those bits must
// still be told apart: build such plates by inverting the hash (base/hash.h) and check each is found, and a third one is not.
uint64_t unxorshift33(uint64_t x) { return x ^ (x >> 33); }  // x ^ (x>>33) is its own inverse
uint64_t unmix64(uint64_t h) {
  auto inv = [](uint64_t a) {  // inverse of an odd number modulo 2^64 (Newton's iteration)
    uint64_t x = a;
    for (int i = 0; i < 6; ++i) x *= 2 - a * x;
    return x;
  };
  h = unxorshift33(h);
  h *= inv(kMix64Mul2);
  h = unxorshift33(h);
  h *= inv(kMix64Mul1);
  return unxorshift33(h);
}

TEST(IndexTest, FingerprintCollisionsAreResolved) {
  const ConfusionClasses conf;
  const uint64_t fp = mix64(conf.canonical_key(*Plate::from_normalized("XX11AA"))) >> 32;
  // Canonical plates (every character its class's representative) whose hash has that fingerprint.
  std::vector<Plate> found;
  for (uint64_t low = 0; found.size() < 3 && low < (uint64_t{1} << 28); ++low) {
    const uint64_t k = unmix64((fp << 32) | low);
    if (k == 0 || k > Plate::kKeyMask) continue;
    bool valid = true;
    std::size_t len = 0;
    for (uint64_t x = k; x != 0; x /= 37, ++len) valid = valid && x % 37 != 0;
    if (!valid || len > Plate::kMaxLen) continue;
    const Plate p = Plate::from_key(k);
    if (conf.canonical_key(p) != k) continue;
    found.push_back(p);
  }
  ASSERT_EQ(found.size(), 3u);
  ASSERT_EQ(mix64(found[0].key()) >> 32, mix64(found[1].key()) >> 32);
  IndexBuilder b;
  ListMeta m;
  m.id = "fp";
  m.mode = MatchMode::ocr;
  const uint16_t l = b.add_list(m);
  for (int i = 0; i < 2; ++i)
    b.add(l, found[i], kAnyCountry, Category::suspect, Action::observe, 1, kNoExpiry,
          "R" + std::to_string(i), "");
  b.add(l, *Plate::from_normalized("XX11AA"), kAnyCountry, Category::suspect, Action::observe, 1,
        kNoExpiry, "R9", "");
  auto snap = b.build();
  for (int i = 0; i < 2; ++i) {
    std::vector<Plate> p{found[i]};
    std::vector<IndexHit> hits;
    ASSERT_EQ(snap->match({kAnyCountry, 0, p}, hits), 1u) << found[i].str();
    EXPECT_EQ(snap->entry_reference(hits[0].entry), "R" + std::to_string(i));
  }
  std::vector<Plate> p{found[2]};
  std::vector<IndexHit> hits;
  EXPECT_EQ(snap->match({kAnyCountry, 0, p}, hits), 0u) << found[2].str();
}

}  // namespace
}  // namespace anpr

// ---- The edit filter (ocr+edit lists) ----
// A read missing a character is matched through a Bloom filter of the entries' deletions: a false
// positive must only cost probes, never add, drop or change a hit.
namespace anpr {
namespace {

std::unique_ptr<Snapshot> build_with_filter(const std::vector<ReferenceList>& lists,
                                            double bits_per_key) {
  IndexBuilder b;
  b.set_edit_filter_bits(bits_per_key);
  for (const auto& l : lists) b.add(l);
  return b.build();
}

// The batched path gives every read of `reads` the same hits as one match() per read.
void expect_batch_agrees(const Snapshot& snap, const std::vector<testing::GenRead>& reads) {
  std::vector<MatchQuery> queries;
  for (const auto& r : reads) queries.push_back({r.country, r.ts, r.plates});
  std::vector<IndexHit> batch;
  std::vector<uint32_t> ends;
  snap.match_batch(queries, batch, ends);
  std::size_t begin = 0;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    std::vector<IndexHit> single;
    snap.match(queries[i], single);
    auto key = [](const IndexHit& h) {
      return std::tuple(h.entry, h.kind, h.differences, h.plate_index);
    };
    std::vector<std::tuple<uint32_t, MatchKind, uint8_t, uint8_t>> a, b;
    for (auto& h : single) a.push_back(key(h));
    for (std::size_t k = begin; k < ends[i]; ++k) b.push_back(key(batch[k]));
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    ASSERT_EQ(a, b) << "read " << i;
    begin = ends[i];
  }
}

// Filters from "passes everything" (0 bits) through saturated (a fraction of a bit per key: every
// test is a false positive) to the default: the hits never change.
class EditFilterSizeTest : public ::testing::TestWithParam<double> {};

TEST_P(EditFilterSizeTest, FalsePositivesNeverChangeTheHits) {
  Prng prng{std::mt19937_64(4242)};
  CaseGenerator gen(prng);
  std::size_t edits = 0;
  for (int round = 0; round < 12; ++round) {
    auto c = gen.make(1 + gen.below(5), 80, 150);
    auto snap = build_with_filter(c.lists, GetParam());
    for (const auto& r : c.reads) {
      auto want = reference_match(c.lists, snap->confusion(), r.country, r.ts, r.plates);
      ASSERT_EQ(index_match(*snap, r.country, r.ts, r.plates), want);
      for (const auto& h : want) edits += h.kind == MatchKind::edit;
    }
    expect_batch_agrees(*snap, c.reads);
  }
  EXPECT_GT(edits, 50u);
}

INSTANTIATE_TEST_SUITE_P(Bits, EditFilterSizeTest,
                         ::testing::Values(0.0, 0.05, 1.0, 4.0,
                                           IndexBuilder::kDefaultEditFilterBits));

// A larger ocr+edit index with a small filter, so that false positives are frequent, probed with
// reads that just miss: listed plates with a character removed and another changed, inserted or
// removed, in every country. The index must agree with the reference matcher on all of them.
TEST(EditFilterTest, ManyNearMissReadsAgainstTheReferenceMatcher) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "0ODQ1I2Z5S8B6GAXKLMN";  // confusable characters and others
  const CountryCode countries[] = {kAnyCountry, kNL, kBE, kLU};
  std::vector<ReferenceList> lists(3);
  const MatchMode modes[] = {MatchMode::ocr_edit, MatchMode::ocr_edit, MatchMode::ocr};
  std::set<std::string> seen;
  for (std::size_t l = 0; l < lists.size(); ++l) {
    lists[l].meta.id = "near" + std::to_string(l);
    lists[l].meta.mode = modes[l];
    lists[l].meta.max_substitutions = 1;
    for (int e = 0; e < 700; ++e) {
      std::string s;
      const std::size_t len = 4 + rng() % 4;
      for (std::size_t i = 0; i < len; ++i) s.push_back(alphabet[rng() % alphabet.size()]);
      ListEntry entry;
      entry.plate = *Plate::from_normalized(s);
      entry.country = countries[rng() % 4];
      entry.reference = "L" + std::to_string(l) + "E" + std::to_string(e);
      lists[l].entries.push_back(entry);
    }
  }
  auto snap = build_with_filter(lists, 2.0);
  // Two bits per key: a good share of the tests must be false positives, or this proves little.
  EXPECT_GT(snap->stats().edit_fpp, 0.05);
  std::size_t edits = 0, reads = 0;
  for (int r = 0; r < 1500; ++r) {
    const auto& l = lists[rng() % lists.size()];
    std::string s = l.entries[rng() % l.entries.size()].plate.str();
    s.erase(rng() % s.size(), 1);  // a deletion: what the filter is asked about
    if (rng() % 2 && !s.empty()) {
      const std::size_t i = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[i] = alphabet[rng() % alphabet.size()]; break;
        case 1: s.insert(s.begin() + i, alphabet[rng() % alphabet.size()]); break;
        default: if (s.size() > 1) s.erase(i, 1); break;
      }
    }
    if (s.empty()) continue;
    std::vector<Plate> plates{*Plate::from_normalized(s)};
    const CountryCode c = countries[rng() % 4];
    auto want = reference_match(lists, snap->confusion(), c, 0, plates);
    ASSERT_EQ(index_match(*snap, c, 0, plates), want) << s << " '" << c.str() << "'\n"
                                                       << "want:\n" << show(want, lists);
    for (const auto& h : want) edits += h.kind == MatchKind::edit;
    ++reads;
  }
  EXPECT_GT(edits, 300u);
  EXPECT_GT(reads, 1000u);
}

// Entries that share a deletion at one position, some of one confusion class (one main-table
// group), one in a list that does not allow edits, and runs of equal characters.
TEST(EditFilterTest, EveryEntryWithTheDeletionIsFound) {
  ReferenceList edit = one_list(MatchMode::ocr_edit, 1,
                                {{"AB10CD", kNL}, {"AB1OCD", kNL}, {"AB1DCD", kAnyCountry},
                                 {"AB1QCD", kBE}, {"AB17CD", kNL}, {"AB1XCD", kNL},
                                 {"AABBC", kNL}, {"AB1CDE", kNL}});
  ReferenceList ocr = one_list(MatchMode::ocr, 1, {{"AB1ZCD", kNL}});
  ocr.meta.id = "o";
  for (auto& e : ocr.entries) e.reference = "L1" + e.reference.substr(2);
  const std::vector<ReferenceList> lists{edit, ocr};
  auto snap = build(lists);
  for (const char* read : {"AB1CD", "ABBC", "AABC", "ABC", "B1CDE", "AB1CD"}) {
    for (CountryCode c : {kNL, kBE, kAnyCountry}) {
      std::vector<Plate> plates{*Plate::from_normalized(read)};
      EXPECT_EQ(index_match(*snap, c, 0, plates), reference_match(lists, snap->confusion(), c, 0, plates))
          << read << " '" << c.str() << "'";
    }
  }
  // AB1CD read in NL: AB10CD AB1OCD AB1DCD AB17CD AB1XCD AB1CDE (not AB1QCD, a BE plate, nor
  // AB1ZCD, on an ocr list).
  std::vector<Plate> p{*Plate::from_normalized("AB1CD")};
  auto got = index_match(*snap, kNL, 0, p);
  ASSERT_EQ(got.size(), 6u);
  for (const auto& h : got) EXPECT_EQ(h.kind, MatchKind::edit);
}

// The filter is sized for the distinct (deletion, position) keys, which plates of a dense series
// share: here all plates of three characters over a small alphabet.
TEST(EditFilterTest, SizedForDistinctKeys) {
  IndexBuilder b;
  ListMeta m;
  m.id = "dense";
  m.mode = MatchMode::ocr_edit;
  const uint16_t l = b.add_list(m);
  const std::string chars = "ABCDEFGHJK";
  std::size_t variants = 0;
  std::set<std::pair<std::string, std::size_t>> keys;
  for (char x : chars)
    for (char y : chars)
      for (char z : chars) {
        const std::string s{x, y, z};
        b.add(l, *Plate::from_normalized(s), kNL, Category::suspect, Action::observe, 1,
              kNoExpiry, "", "");
        for (std::size_t j = 0; j < s.size(); ++j) {
          if (j > 0 && s[j] == s[j - 1]) continue;  // a run: the same deletion as at j - 1
          keys.insert({s.substr(0, j) + s.substr(j + 1), j});
          ++variants;
        }
      }
  auto snap = b.build();
  const IndexStats& st = snap->stats();
  EXPECT_EQ(st.edit_variants, variants);
  EXPECT_LT(keys.size(), variants / 2);
  EXPECT_NEAR(static_cast<double>(st.edit_keys), static_cast<double>(keys.size()),
              0.05 * static_cast<double>(keys.size()));
  EXPECT_GE(st.edit_class_keys, st.edit_keys);
  // 12 bits per key and 3 per class mark, in whole 64-byte blocks.
  EXPECT_LE(st.edit_bytes, (st.edit_keys * 12 + st.edit_class_keys * 3) / 8 + 64);
  EXPECT_GT(st.edit_fpp, 0.0);
  EXPECT_LT(st.edit_fpp, 0.03);
  EXPECT_LT(st.edit_class_fpp, 0.5);
}

TEST(EditFilterTest, RejectsBadSizes) {
  IndexBuilder b;
  EXPECT_THROW(b.set_edit_filter_bits(-1), std::invalid_argument);
  EXPECT_THROW(b.set_edit_filter_bits(std::nan("")), std::invalid_argument);
  EXPECT_NO_THROW(b.set_edit_filter_bits(0));
}

TEST(EditFilterTest, NoOcrEditListsNoFilter) {
  auto snap = build({one_list(MatchMode::ocr, 1, {{"AB12CD", kNL}})});
  EXPECT_EQ(snap->stats().edit_bytes, 0u);
  EXPECT_EQ(snap->stats().edit_variants, 0u);
}

}  // namespace
}  // namespace anpr
