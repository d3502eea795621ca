// The retention store's file format (store.h describes it): frames of records appended to
// segment files, and the sorted index written beside a sealed segment. Private to store/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "store/crc32c.h"
#include "store/store.h"

namespace anpr::store::detail {

// ---- file format (store.h) ----
constexpr uint32_t kFrameMagic = 0x46504e41;  // "ANPF"
constexpr uint32_t kIndexMagic = 0x49504e41;  // "ANPI"
constexpr uint32_t kIndexVersion = 2;  // 2: sorted by canonical key only, stable

// Frame header: magic u32 | records u32 | payload bytes u64 | crc32c of the payload u32 | 0 u32
constexpr std::size_t kFrameHead = 24;
// Record header: canonical plate key u64 | plate key u64 | captured i64 | base i64 |
// deadline i64 | id hash u64 | camera id bytes u8 | payload bytes u32; then camera id, payload
constexpr std::size_t kRecordHead = 53;

struct IndexEntry {
  uint64_t ckey;
  int64_t captured;
  uint64_t offset;  // of the record in the segment file
};
static_assert(sizeof(IndexEntry) == 24);
// Sorts entries by canonical key, keeping the order of equal keys (the order they were written
// in): a least-significant-digit radix sort, 16 bits at a time, skipping digits all entries
// share. Sealing a 64 MiB segment sorts ~500 k entries; std::sort on (key, time, offset) cost
// ~100 ns per record there, this ~10.
void sort_by_key(std::vector<IndexEntry>& v);

struct IndexHeader {
  uint32_t magic = kIndexMagic, version = kIndexVersion;
  uint64_t count = 0;
  int64_t min_base = 0, max_base = 0, min_deadline = 0, max_deadline = 0;
  uint64_t segment_bytes = 0;  // the segment file's length when it was sealed
};
static_assert(sizeof(IndexHeader) == 56);

template <class T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

// One record as read back from a segment.
struct Parsed {
  uint64_t ckey, plate_key, id_hash;
  TimestampMs captured, base, deadline;
  std::string_view camera_id, json;
  std::size_t size;  // bytes of the record
};
inline bool parse_record(const char* p, std::size_t avail, Parsed& r) {
  if (avail < kRecordHead) return false;
  r.ckey = get<uint64_t>(p);
  r.plate_key = get<uint64_t>(p + 8);
  r.captured = get<int64_t>(p + 16);
  r.base = get<int64_t>(p + 24);
  r.deadline = get<int64_t>(p + 32);
  r.id_hash = get<uint64_t>(p + 40);
  const std::size_t cam = static_cast<unsigned char>(p[48]);
  const std::size_t json = get<uint32_t>(p + 49);
  if (avail - kRecordHead < cam || avail - kRecordHead - cam < json) return false;
  r.camera_id = std::string_view(p + kRecordHead, cam);
  r.json = std::string_view(p + kRecordHead + cam, json);
  r.size = kRecordHead + cam + json;
  return true;
}

// Appends one record (the layout above parse_record).
inline void put_record(std::string& out, uint64_t ckey, uint64_t plate_key, TimestampMs captured,
                TimestampMs base, TimestampMs deadline, uint64_t id_hash, std::string_view cam,
                std::string_view payload) {
  char head[kRecordHead];
  const int64_t c = captured, b = base, dl = deadline;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  std::memcpy(head, &ckey, 8);
  std::memcpy(head + 8, &plate_key, 8);
  std::memcpy(head + 16, &c, 8);
  std::memcpy(head + 24, &b, 8);
  std::memcpy(head + 32, &dl, 8);
  std::memcpy(head + 40, &id_hash, 8);
  head[48] = static_cast<char>(cam.size());
  std::memcpy(head + 49, &n, 4);
  out.append(head, kRecordHead);
  append_bytes(out, cam);
  append_bytes(out, payload);
}

// Fills in the header of a frame whose payload follows its first kFrameHead bytes.
void finish_frame(std::string& frame, uint32_t records);

// Calls f(parsed, offset) for every record of the whole frames in `data` (a segment file read
// from offset 0); returns the length of the valid prefix.
template <class F>
uint64_t scan_frames(std::string_view data, F&& f) {
  uint64_t pos = 0;
  while (data.size() - pos >= kFrameHead) {
    const char* h = data.data() + pos;
    if (get<uint32_t>(h) != kFrameMagic) break;
    const uint32_t records = get<uint32_t>(h + 4);
    const uint64_t bytes = get<uint64_t>(h + 8);
    if (bytes > data.size() - pos - kFrameHead) break;
    if (crc32c(h + kFrameHead, bytes) != get<uint32_t>(h + 16)) break;
    // Check the whole frame before handing out any of it.
    uint64_t at = 0;
    uint32_t n = 0;
    Parsed r{};  // (initialised: g++ 12 cannot tell that a whole frame sets r.size)
    while (at < bytes && parse_record(h + kFrameHead + at, bytes - at, r)) {
      at += r.size;
      ++n;
    }
    if (at != bytes || n != records) break;
    for (at = 0; at < bytes; at += r.size) {
      parse_record(h + kFrameHead + at, bytes - at, r);
      f(r, pos + kFrameHead + at);
    }
    pos += kFrameHead + bytes;
  }
  return pos;
}

}  // namespace anpr::store::detail
