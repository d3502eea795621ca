// Signed Kafka records (docs/kafka.md, "Signed records"): an HMAC-SHA256 over the topic, the key
// and the value of a record, in the record's header `anpr-sig`, so a consumer holding the key
// can tell a record the processor or the control-room server wrote from one written by anybody
// else with access to the topic, and a signed record copied onto another topic fails.
//
// What is signed, byte for byte (the format docs/kafka.md gives to writers of other clients):
//
//   "anpr-sig-v1" 0x00
//   uint32 big-endian length of the topic name, the topic name (UTF-8)
//   uint32 big-endian length of the record key, the key (a record without key: length 0)
//   uint32 big-endian length of the value,      the value
//
// The header's value is ASCII: "v1=" followed by the 64 lower-case hex digits of the HMAC.
// Several keys may verify (key rotation); the first signs.
//
// Thread safety: a Signer is immutable once made; every member may be called from any thread.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace anpr::kafka {

inline constexpr std::string_view kSignatureHeader = "anpr-sig";
inline constexpr std::string_view kSignatureVersion = "v1=";
inline constexpr std::size_t kMinSigningKeyBytes = 32;

class Signer {
 public:
  // `keys`: raw key bytes; the first signs, every one verifies. No key: sign() gives "" and
  // verify() accepts nothing.
  explicit Signer(std::vector<std::string> keys = {});

  bool enabled() const { return !keys_.empty(); }
  std::size_t key_count() const { return keys_.size(); }

  // The header value for a record of `topic` with `key` and `value` ("" when no key is set).
  std::string sign(std::string_view topic, std::string_view key, std::string_view value) const;

  // Whether `header` is a valid signature of the record under any of the keys. Compares in
  // constant time (CRYPTO_memcmp).
  bool verify(std::string_view topic, std::string_view key, std::string_view value,
              std::string_view header) const;

  // The same for a consumed message: its topic, key, value and its last `anpr-sig` header.
  bool verify(const rd_kafka_message_t& m) const;

 private:
  std::vector<std::string> keys_;
};

// The record's last `anpr-sig` header, or "" when it has none.
std::string_view signature_header(const rd_kafka_message_t& m);

}  // namespace anpr::kafka
