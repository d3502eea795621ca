// Dead-letter records (docs/design.md §3): what the processor publishes for every input it cannot use.
//
//   {"reason":"missing_plate","detail":"required field plate is missing",
//    "source":{"topic":"anpr.reads","partition":3,"offset":1042},"key":"nl-a2-hmr-01",
//    "payload_bytes":117,"payload_truncated":false,"payload_encoding":"text",
//    "payload":"{\"event_id\":\"e-1\", ...}","processed_at":"2026-11-24T09:12:01.123Z"}
//
// `payload` holds the first `max_payload_bytes` of the original message: as text when those bytes
// are valid UTF-8 (payload_encoding "text"), else base64 (payload_encoding "base64"), so the
// record is always valid JSON and the original bytes are recoverable.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "match/types.h"

namespace anpr {

struct DeadLetterSource {
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string_view key;
};

// Appends one dead-letter record as a single-line JSON object.
void append_deadletter_json(std::string& out, std::string_view reason, std::string_view detail,
                            const DeadLetterSource& src, std::string_view payload,
                            std::size_t max_payload_bytes, TimestampMs processed_at);

// Standard base64 (RFC 4648, with padding).
void append_base64(std::string& out, std::string_view bytes);

}  // namespace anpr
