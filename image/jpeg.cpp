#include "image/jpeg.h"

#include <cstring>

namespace anpr::image {

namespace {

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

bool is_sof(uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

}  // namespace

Expected<JpegInfo, ImageError> probe_jpeg(std::span<const uint8_t> bytes, const Limits& limits) {
  const std::size_t n = bytes.size();
  const uint8_t* b = bytes.data();
  if (n == 0) return ImageError::empty;
  if (n > limits.max_bytes) return ImageError::too_large;
  if (n < 3 || b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF) return ImageError::not_jpeg;
  JpegInfo info;
  bool sof = false;
  std::size_t pos = 2;
  for (;;) {
    if (pos >= n) return ImageError::truncated;
    if (b[pos] != 0xFF) return ImageError::corrupt;
    while (pos < n && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) return ImageError::truncated;
    const uint8_t m = b[pos++];
    if (m == 0xD9) {  // EOI
      if (!sof || info.scans == 0) return ImageError::corrupt;
      return info;
    }
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // standalone markers
    if (m == 0x00 || m == 0xD8) return ImageError::corrupt;
    if (pos + 2 > n) return ImageError::truncated;
    const std::size_t len = be16(b + pos);
    if (len < 2) return ImageError::corrupt;
    if (pos + len > n) return ImageError::truncated;
    const uint8_t* seg = b + pos + 2;
    const std::size_t seglen = len - 2;
    if (is_sof(m)) {
      if (sof) return ImageError::corrupt;
      sof = true;
      // Baseline, extended sequential and progressive Huffman only.
      if (m != 0xC0 && m != 0xC1 && m != 0xC2) return ImageError::unsupported;
      if (seglen < 6) return ImageError::corrupt;
      if (seg[0] != 8) return ImageError::unsupported;  // 12-bit samples
      info.height = be16(seg + 1);
      info.width = be16(seg + 3);
      info.components = seg[5];
      if (info.components != 1 && info.components != 3 && info.components != 4)
        return ImageError::unsupported;
      if (seglen < 6 + 3 * std::size_t{info.components}) return ImageError::corrupt;
      // Height 0 would be given later by a DNL segment: refused, the size must be known now.
      if (info.width == 0 || info.height == 0 || info.width > limits.max_width ||
          info.height > limits.max_height ||
          uint64_t{info.width} * info.height > limits.max_pixels)
        return ImageError::too_many_pixels;
      info.progressive = m == 0xC2;
    } else if (m == 0xDE || m == 0xDF) {
      return ImageError::unsupported;  // hierarchical
    } else if ((m >= 0xE1 && m <= 0xEF) || m == 0xFE) {
      info.metadata_bytes += len + 2;
      if (m == 0xE1 && seglen >= 6 && std::memcmp(seg, "Exif\0\0", 6) == 0) info.has_exif = true;
    } else if (m == 0xDA) {  // SOS: the entropy-coded data follows up to the next marker
      if (!sof) return ImageError::corrupt;
      if (++info.scans > limits.max_scans) return ImageError::too_many_scans;
      std::size_t p = pos + len;
      for (;;) {
        const void* ff = p < n ? std::memchr(b + p, 0xFF, n - p) : nullptr;
        if (!ff) return ImageError::truncated;
        p = static_cast<std::size_t>(static_cast<const uint8_t*>(ff) - b);
        if (p + 1 >= n) return ImageError::truncated;
        const uint8_t c = b[p + 1];
        if (c == 0x00 || (c >= 0xD0 && c <= 0xD7)) {
          p += 2;  // stuffed byte or restart marker
        } else if (c == 0xFF) {
          p += 1;  // fill byte before a marker
        } else {
          break;
        }
      }
      pos = p;
      continue;
    }
    pos += len;
  }
}

namespace {

constexpr std::array<int8_t, 256> make_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(a[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kDecode = make_table();
constexpr char kEncode[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

Expected<std::size_t, ImageError> base64_decode(std::string_view in, std::vector<uint8_t>& out,
                                                std::size_t max_bytes) {
  out.clear();
  std::size_t n = in.size();
  if (n > 0 && in[n - 1] == '=') --n;
  if (n > 0 && in[n - 1] == '=') --n;
  if (n != in.size() && in.size() % 4 != 0) return ImageError::bad_base64;
  if (n % 4 == 1) return ImageError::bad_base64;
  const std::size_t size = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
  if (size > max_bytes) return ImageError::too_large;
  out.resize(size);
  const auto* s = reinterpret_cast<const uint8_t*>(in.data());
  uint8_t* o = out.data();
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const int a = kDecode[s[i]], b = kDecode[s[i + 1]], c = kDecode[s[i + 2]], d = kDecode[s[i + 3]];
    if ((a | b | c | d) < 0) return ImageError::bad_base64;
    const uint32_t v = static_cast<uint32_t>(a << 18 | b << 12 | c << 6 | d);
    *o++ = static_cast<uint8_t>(v >> 16);
    *o++ = static_cast<uint8_t>(v >> 8);
    *o++ = static_cast<uint8_t>(v);
  }
  if (const std::size_t rest = n - i; rest) {
    uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const int d = k < rest ? kDecode[s[i + k]] : 0;
      if (d < 0) return ImageError::bad_base64;
      v = v << 6 | static_cast<uint32_t>(d);
    }
    *o++ = static_cast<uint8_t>(v >> 16);
    if (rest == 3) *o++ = static_cast<uint8_t>(v >> 8);
  }
  return size;
}

void base64_append(std::span<const uint8_t> bytes, std::string& out) {
  const std::size_t n = bytes.size();
  const std::size_t start = out.size();
  out.resize(start + (n + 2) / 3 * 4);
  char* o = out.data() + start;
  const uint8_t* s = bytes.data();
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = static_cast<uint32_t>(s[i] << 16 | s[i + 1] << 8 | s[i + 2]);
    *o++ = kEncode[v >> 18];
    *o++ = kEncode[(v >> 12) & 63];
    *o++ = kEncode[(v >> 6) & 63];
    *o++ = kEncode[v & 63];
  }
  if (n - i == 1) {
    const uint32_t v = static_cast<uint32_t>(s[i] << 16);
    *o++ = kEncode[v >> 18];
    *o++ = kEncode[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (n - i == 2) {
    const uint32_t v = static_cast<uint32_t>(s[i] << 16 | s[i + 1] << 8);
    *o++ = kEncode[v >> 18];
    *o++ = kEncode[(v >> 12) & 63];
    *o++ = kEncode[(v >> 6) & 63];
    *o++ = '=';
  }
}

}  // namespace anpr::image
