#include "export/deadletter.h"

#include <simdjson.h>

#include "base/json_writer.h"
#include "match/time.h"

namespace anpr {

void append_base64(std::string& out, std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (b(i) << 16) | (b(i + 1) << 8) | b(i + 2);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    const uint32_t v = b(i) << 16;
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (rest == 2) {
    const uint32_t v = (b(i) << 16) | (b(i + 1) << 8);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
}

void append_deadletter_json(std::string& out, std::string_view reason, std::string_view detail,
                            const DeadLetterSource& src, std::string_view payload,
                            std::size_t max_payload_bytes, TimestampMs processed_at) {
  const bool truncated = payload.size() > max_payload_bytes;
  std::string_view kept = payload.substr(0, max_payload_bytes);
  bool text = simdjson::validate_utf8(kept.data(), kept.size());
  if (!text && truncated) {
    // The cut may have split a UTF-8 sequence: drop up to 3 trailing bytes and try again.
    for (int drop = 1; drop <= 3 && !text && kept.size() > 0; ++drop) {
      std::string_view k = kept.substr(0, kept.size() - 1);
      kept = k;
      text = simdjson::validate_utf8(kept.data(), kept.size());
    }
    if (!text) kept = payload.substr(0, max_payload_bytes);
  }
  JsonWriter w(out);
  w.begin_object();
  w.field("reason", reason);
  w.field("detail", detail);
  w.key("source");
  w.begin_object();
  w.field("topic", src.topic);
  w.field("partition", static_cast<int64_t>(src.partition));
  w.field("offset", static_cast<int64_t>(src.offset));
  w.end_object();
  w.field("key", src.key);
  w.field("payload_bytes", static_cast<uint64_t>(payload.size()));
  w.field("payload_truncated", truncated);
  w.field("payload_encoding", text ? "text" : "base64");
  if (text) {
    w.field("payload", kept);
  } else {
    std::string b64;
    append_base64(b64, kept);
    w.field("payload", std::string_view(b64));
  }
  w.field("processed_at", format_rfc3339(processed_at));
  w.end_object();
}

}  // namespace anpr
