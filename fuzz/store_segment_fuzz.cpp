// Fuzz target: the retention store opening damaged or hostile files (store/store.h). The input
// becomes a segment file, and optionally its index; the store must open it (reading the segment
// again where the index is not whole), answer searches and purge without crashing, and never
// allocate more than the files hold.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/settings.h"
#include "match/plate.h"
#include "store/store.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const fs::path dir =
      fs::temp_directory_path() / ("anpr-store-fuzz-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // First byte: bit 0 = also an index file, whose length is the next two bytes.
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const bool with_index = !in.empty() && (in[0] & 1);
  if (!in.empty()) in.remove_prefix(1);
  std::string_view seg = in, idx;
  if (with_index && in.size() >= 2) {
    std::size_t n = static_cast<unsigned char>(in[0]) | (static_cast<unsigned char>(in[1]) << 8);
    in.remove_prefix(2);
    n = std::min(n, in.size());
    idx = in.substr(0, n);
    seg = in.substr(n);
  }
  const std::string name = "p.NL.20781.1.0000000000000001";
  std::ofstream(dir / (name + ".seg"), std::ios::binary).write(seg.data(), static_cast<std::streamsize>(seg.size()));
  if (with_index)
    std::ofstream(dir / (name + ".idx"), std::ios::binary).write(idx.data(), static_cast<std::streamsize>(idx.size()));
  anpr::TimestampMs now = 1'795'500'000'000;
  try {
    anpr::store::Options o;
    o.dir = dir;
    o.sync = false;
    o.clock = [&] { return now; };
    anpr::store::Store s(o, anpr::config::default_retention_policies());
    anpr::store::Query q;
    q.plate = *anpr::Plate::from_normalized("AB123C");
    q.ocr_tolerant = true;
    (void)s.search(q);
    q.plate = *anpr::Plate::from_normalized("X");
    q.from = 0;
    q.to = now;
    (void)s.search(q);
    now += 30 * anpr::kMsPerDay;
    (void)s.purge();
    (void)s.search(q);
  } catch (const std::runtime_error&) {
    // A clear error is an acceptable answer to a damaged file.
  }
  return 0;
}
