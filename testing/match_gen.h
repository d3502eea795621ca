// Random reference lists and reads for differential tests of the index against the reference
// matcher (testing/reference_matcher.h). Header-only so the libFuzzer target shares it: `Source`
// is anything with `uint64_t next()`, a PRNG in tests or the fuzzer's bytes.
#pragma once

#include <string>
#include <vector>

#include "match/list.h"
#include "match/types.h"

namespace anpr::testing {

// A small alphabet rich in confusable characters, so random plates collide and OCR-equal often.
inline constexpr std::string_view kGenAlphabet = "0ODQ1I2Z5S8B6GAX";

struct GenRead {
  CountryCode country;
  TimestampMs ts = 0;
  std::vector<Plate> plates;  // the plate, then candidates
};

struct GenCase {
  std::vector<ReferenceList> lists;
  std::vector<GenRead> reads;
};

template <class Source>
class CaseGenerator {
 public:
  explicit CaseGenerator(Source& src) : src_(src) {}

  uint64_t below(uint64_t n) { return n == 0 ? 0 : src_.next() % n; }
  bool chance(unsigned percent) { return below(100) < percent; }

  Plate random_plate(std::size_t max_len = 7) {
    const std::size_t len = 1 + below(max_len);
    PlateBuilder b;
    for (std::size_t i = 0; i < len; ++i) b.push(kGenAlphabet[below(kGenAlphabet.size())]);
    return b.plate();
  }

  CountryCode random_country() {
    switch (below(5)) {
      case 0: return kAnyCountry;
      case 1: return kNL;
      case 2: return kBE;
      case 3: return kLU;
      default: return CountryCode::from_letters('D', 'E');
    }
  }

  // Mutates a plate like an OCR engine would: confusable substitutions, any substitution,
  // an inserted or a missing character.
  Plate mutate(const Plate& p) {
    std::string s = p.str();
    const unsigned edits = 1 + static_cast<unsigned>(below(3));
    for (unsigned k = 0; k < edits && !s.empty(); ++k) {
      const std::size_t i = below(s.size());
      switch (below(5)) {
        case 0: case 1: {  // substitute within the first few alphabet classes
          static constexpr std::string_view kClasses[] = {"0ODQ", "1I", "2Z", "5S", "8B", "6G"};
          for (auto cls : kClasses)
            if (cls.find(s[i]) != std::string_view::npos) s[i] = cls[below(cls.size())];
          break;
        }
        case 2: s[i] = kGenAlphabet[below(kGenAlphabet.size())]; break;
        case 3: if (s.size() < Plate::kMaxLen) s.insert(s.begin() + i, kGenAlphabet[below(kGenAlphabet.size())]); break;
        default: if (s.size() > 1) s.erase(s.begin() + i); break;
      }
    }
    return *Plate::from_normalized(s);
  }

  GenCase make(std::size_t nlists, std::size_t nentries, std::size_t nreads) {
    GenCase c;
    const TimestampMs base = 1'700'000'000'000;
    for (std::size_t l = 0; l < nlists; ++l) {
      ReferenceList list;
      list.meta.id = "list" + std::to_string(l);
      list.meta.owner = random_country();
      list.meta.mode = static_cast<MatchMode>(below(3));
      list.meta.max_substitutions = static_cast<uint8_t>(1 + below(2));
      if (chance(20)) list.meta.valid_from = base + static_cast<TimestampMs>(below(2000)) - 1000;
      if (chance(20)) list.meta.valid_until = base + static_cast<TimestampMs>(below(4000)) - 1000;
      const std::size_t n = below(nentries + 1);
      for (std::size_t e = 0; e < n; ++e) {
        ListEntry entry;
        entry.plate = random_plate();
        entry.country = random_country();
        entry.category = static_cast<Category>(below(kCategoryCount));
        entry.action = static_cast<Action>(below(kActionCount));
        entry.priority = static_cast<uint8_t>(below(101));
        if (chance(25)) entry.valid_until = base + static_cast<TimestampMs>(below(6000)) - 3000;
        entry.reference = "L" + std::to_string(l) + "E" + std::to_string(e);
        list.entries.push_back(std::move(entry));
      }
      c.lists.push_back(std::move(list));
    }
    for (std::size_t r = 0; r < nreads; ++r) {
      GenRead read;
      read.country = random_country();
      read.ts = base + static_cast<TimestampMs>(below(6000)) - 3000;
      const std::size_t nplates = 1 + (chance(30) ? below(3) : 0);
      for (std::size_t p = 0; p < nplates; ++p) {
        // Mostly derived from a listed plate, so there is something to find.
        const ReferenceList& l = c.lists[below(c.lists.size())];
        if (!l.entries.empty() && chance(85)) {
          const Plate& listed = l.entries[below(l.entries.size())].plate;
          read.plates.push_back(chance(30) ? listed : mutate(listed));
        } else {
          read.plates.push_back(random_plate());
        }
      }
      c.reads.push_back(std::move(read));
    }
    return c;
  }

 private:
  Source& src_;
};

}  // namespace anpr::testing
