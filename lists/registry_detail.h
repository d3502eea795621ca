// Internals of the list registry shared by its parts (not a public header):
//   registry.cpp       Registry: loads, deletes, rollbacks, topic versions, index builds, views
//   report.cpp         validation reports; a list parsed with the registry's checks
//   version_store.cpp  list files and version history on disk; restore; lists named in the config
//   delta.cpp          Registry::delta
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lists/registry.h"

namespace anpr::lists {

struct Registry::ListState {
  std::string id;
  std::optional<ListMeta> meta;  // the active version's metadata; nullopt when deleted
  std::string checksum;          // the active version's
  uint64_t active_seq = 0;       // 0 = none
  uint64_t last_seq = 0;
  std::vector<VersionInfo> history;  // oldest first
};

struct Registry::Pending {
  std::string id;
  std::optional<ReferenceList> list;  // the new contents; nullopt = delete
  VersionInfo info;
  std::string checksum;
};

namespace detail {

std::string hex16(uint64_t v);
uint64_t combine(uint64_t a, uint64_t b);
std::string read_whole_file(const std::filesystem::path& p, std::string& why);
uint32_t allowed_for(const std::vector<CountryRule>& rules, CountryCode owner);
Report report_of(const ListLoad& load, std::string_view name, const Policy& policy,
                 TimestampMs now);
// Parses a sidecar and rows with the registry's checks.
ListLoad parse_list(const ListInput& in, const Policy& policy, TimestampMs now,
                    uint64_t* checksum);
ChangeResult failed(ChangeError error, std::string detail, Report report = {});

}  // namespace detail
}  // namespace anpr::lists
