#include "store/format.h"

#include <algorithm>

#include "base/hash.h"

namespace anpr::store {

std::string_view to_string(Kind k) { return k == Kind::passage ? "passage" : "hit"; }

void append_bytes(std::string& out, std::string_view bytes) { out.append(bytes.data(), bytes.size()); }

namespace {
// 8 bytes at a time (ids are 20-60 bytes; a byte-wise hash would cost a multiply per byte).
uint64_t hash_bytes(std::string_view s, uint64_t h) {
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix64(h ^ v) + 0x9e3779b97f4a7c15ULL;
  }
  uint64_t v = n;  // the length of the tail tells "ab" from "ab\0"
  std::memcpy(reinterpret_cast<char*>(&v) + 1, p, n);
  return mix64(h ^ v);
}
}  // namespace

uint64_t id_hash(std::string_view id, std::string_view more) {
  uint64_t h = hash_bytes(id, 0x243f6a8885a308d3ULL);
  if (!more.empty()) h = hash_bytes(more, h ^ 0x2f);
  return h | 1;
}

std::string& RecordBatch::add(Kind kind, CountryCode camera_country, TimestampMs captured,
                              const Plate& plate, uint64_t hash, std::string_view camera_id,
                              uint32_t tag) {
  const std::size_t cam = std::min<std::size_t>(camera_id.size(), 255);
  heads_.push_back(Head{kind, camera_country, captured, plate, hash ? hash : 1, tag,
                        static_cast<uint32_t>(cam), bytes_.size()});
  append_bytes(bytes_, camera_id.substr(0, cam));
  return bytes_;
}

void RecordBatch::add(const Record& r) {
  add(r.kind, r.camera_country, r.captured, r.plate, r.id_hash ? r.id_hash : id_hash(r.id),
      r.camera_id)
      .append(r.json);
}

namespace detail {

void sort_by_key(std::vector<IndexEntry>& v) {
  if (v.size() < 2) return;
  std::vector<IndexEntry> tmp(v.size());
  std::vector<uint32_t> count(1 << 16);
  for (int shift = 0; shift < 64; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    for (const IndexEntry& e : v) ++count[(e.ckey >> shift) & 0xffff];
    if (count[(v[0].ckey >> shift) & 0xffff] == v.size()) continue;  // one digit: nothing to do
    uint32_t sum = 0;
    for (uint32_t& c : count) {
      const uint32_t n = c;
      c = sum;
      sum += n;
    }
    for (const IndexEntry& e : v) tmp[count[(e.ckey >> shift) & 0xffff]++] = e;
    v.swap(tmp);
  }
}

void finish_frame(std::string& frame, uint32_t records) {
  const uint64_t bytes = frame.size() - kFrameHead;
  const uint32_t crc = crc32c(frame.data() + kFrameHead, bytes);
  char* h = frame.data();
  std::memcpy(h, &kFrameMagic, 4);
  std::memcpy(h + 4, &records, 4);
  std::memcpy(h + 8, &bytes, 8);
  std::memcpy(h + 16, &crc, 4);
  std::memset(h + 20, 0, 4);
}

}  // namespace detail
}  // namespace anpr::store
