#include "testing/reference_matcher.h"

#include <algorithm>
#include <map>
#include <optional>

#include "match/index.h"

namespace anpr::testing {

namespace {

struct Found {
  MatchKind kind;
  unsigned differences;
};

// Is `shorter` what is left of `longer` after removing exactly one character?
bool one_deletion(const std::string& longer, const std::string& shorter) {
  if (longer.size() != shorter.size() + 1) return false;
  for (std::size_t i = 0; i < longer.size(); ++i) {
    if (longer.substr(0, i) + longer.substr(i + 1) == shorter) return true;
  }
  return false;
}

std::optional<Found> compare(const std::string& read, const std::string& listed, MatchMode mode,
                             unsigned max_subs, const ConfusionClasses& confusion) {
  if (read == listed) return Found{MatchKind::exact, 0};
  if (mode == MatchMode::exact) return std::nullopt;
  if (read.size() == listed.size()) {
    unsigned diff = 0;
    bool all_confusable = true;
    for (std::size_t i = 0; i < read.size(); ++i) {
      if (read[i] == listed[i]) continue;
      ++diff;
      if (!confusion.same_class(read[i], listed[i])) all_confusable = false;
    }
    if (all_confusable && diff <= max_subs) return Found{MatchKind::ocr, diff};
  }
  if (mode == MatchMode::ocr_edit &&
      (one_deletion(read, listed) || one_deletion(listed, read))) {
    return Found{MatchKind::edit, 1};
  }
  return std::nullopt;
}

}  // namespace

std::vector<RefHit> reference_match(const std::vector<ReferenceList>& lists,
                                    const ConfusionClasses& confusion, CountryCode read_country,
                                    TimestampMs ts, const std::vector<Plate>& plates) {
  std::map<std::pair<std::size_t, std::size_t>, RefHit> best;
  for (std::size_t pi = 0; pi < plates.size(); ++pi) {
    const std::string read = plates[pi].str();
    for (std::size_t li = 0; li < lists.size(); ++li) {
      const ListMeta& m = lists[li].meta;
      if (ts < m.valid_from || ts >= m.valid_until) continue;
      const unsigned max_subs = std::clamp<unsigned>(m.max_substitutions, 1, 2);
      for (std::size_t ei = 0; ei < lists[li].entries.size(); ++ei) {
        const ListEntry& e = lists[li].entries[ei];
        // An unknown read country matches every country; an entry without a country applies to
        // plates of every country.
        if (read_country.known() && e.country.known() && e.country != read_country) continue;
        if (ts >= effective_expiry(e.valid_until)) continue;
        auto f = compare(read, e.plate.str(), m.mode, max_subs, confusion);
        if (!f) continue;
        RefHit h{li, ei, f->kind, f->differences, static_cast<unsigned>(pi)};
        auto [it, inserted] = best.try_emplace({li, ei}, h);
        if (!inserted) {
          RefHit& cur = it->second;
          auto rank = [](const RefHit& x) {
            return std::tuple(x.kind, x.differences, x.plate_index);
          };
          if (rank(h) < rank(cur)) cur = h;
        }
      }
    }
  }
  std::vector<RefHit> out;
  for (auto& [k, h] : best) out.push_back(h);
  std::sort(out.begin(), out.end());
  return out;
}

std::string describe(const RefHit& h, const std::vector<ReferenceList>& lists) {
  const ListEntry& e = lists[h.list].entries[h.entry];
  return lists[h.list].meta.id + "/" + e.country.str() + "/" + e.plate.str() + " " +
         std::string(to_string(h.kind)) + " d=" + std::to_string(h.differences) +
         " plate#" + std::to_string(h.plate_index);
}

}  // namespace anpr::testing
