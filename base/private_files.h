// The state folder holds list versions, the retention store and the audit log: personal data that
// is the processor's alone. Its files are created 0600 and its folders 0700, whatever the umask
// (docs/operations.md, "The state folder").
//
// Thread safety: pure functions over the file system.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <system_error>

namespace anpr {

inline constexpr mode_t kPrivateFileMode = 0600;

// Creates `dir` (and missing parents) and makes `dir` itself 0700, also when it existed with a
// wider mode (made by an earlier version of the processor). Sets `ec` on failure.
inline void make_private_dir(const std::filesystem::path& dir, std::error_code& ec) {
  std::filesystem::create_directories(dir, ec);
  if (ec) return;
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
}

}  // namespace anpr
