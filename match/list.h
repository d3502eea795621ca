// A reference list as loaded from a file (or, later, from the reflists topic): its metadata and
// its entries, before it is compiled into an index snapshot (index.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "match/types.h"

namespace anpr {

inline constexpr uint8_t kDefaultPriority = 50;
inline constexpr uint8_t kMaxPriority = 100;
inline constexpr uint8_t kMaxSubstitutionsLimit = 2;

struct ListMeta {
  std::string id;            // list id, e.g. "nl-stolen"
  CountryCode owner;         // the country whose police owns the list
  MatchMode mode = MatchMode::exact;
  uint8_t max_substitutions = 1;  // for ocr and ocr+edit: 1 or 2
  std::optional<Category> default_category;
  Action default_action = Action::intercept;
  uint8_t default_priority = kDefaultPriority;
  TimestampMs valid_from = kNoStart;    // the list matches reads with ts >= valid_from
  TimestampMs valid_until = kNoExpiry;  // ... and ts < valid_until
  // A covert list (docs/operators.md, "Covert lists"): its hits reach only the control rooms of
  // `rooms` (and go to no partner's route topic); metrics and pages other than the operators'
  // never name it.
  bool covert = false;
  std::vector<std::string> rooms;       // covert lists: the control rooms that see its hits
  std::string version;                  // shown on hits; a checksum of the source by default
  std::string source;                   // where it came from (file path), for messages
};

struct ListEntry {
  Plate plate;
  CountryCode country;  // issuing country of the plate; unknown = applies to any country
  Category category = Category::stolen_vehicle;
  Action action = Action::intercept;
  uint8_t priority = kDefaultPriority;  // 0 highest .. 100
  TimestampMs valid_until = kNoExpiry;  // the entry matches reads with ts < valid_until
  std::string reference;                // the entry's id in the owning system
  std::string note;
  // Accepted although the registry does not issue such a plate (match/registry_rules.h): an
  // operator's exception, given with the row's registry_exception column (docs/operators.md).
  bool registry_exception = false;
};

struct ReferenceList {
  ListMeta meta;
  std::vector<ListEntry> entries;
};

}  // namespace anpr
