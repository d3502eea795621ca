#include "kafka/signing.h"

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>

namespace anpr::kafka {

namespace {

constexpr std::string_view kDomain{"anpr-sig-v1\0", 12};
constexpr std::size_t kMacBytes = 32;

using Mac = std::array<unsigned char, kMacBytes>;

void put_u32(std::string& out, std::size_t n) {
  const auto v = static_cast<uint32_t>(n);
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

// The HMAC of one record under one key; false if OpenSSL fails (never expected).
bool mac(const std::string& k, std::string_view topic, std::string_view key,
         std::string_view value, Mac& out) {
  std::string prefix(kDomain);
  put_u32(prefix, topic.size());
  prefix += topic;
  put_u32(prefix, key.size());
  prefix += key;
  put_u32(prefix, value.size());
  // OpenSSL's HMAC implementation, fetched once (the handle may be shared by threads).
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!hmac) return false;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac);
  if (!ctx) return false;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  std::size_t len = 0;
  const bool ok =
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(k.data()), k.size(), params) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(prefix.data()), prefix.size()) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(value.data()), value.size()) == 1 &&
      EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == kMacBytes;
  EVP_MAC_CTX_free(ctx);
  return ok;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not the format
}

}  // namespace

Signer::Signer(std::vector<std::string> keys) : keys_(std::move(keys)) {}

std::string Signer::sign(std::string_view topic, std::string_view key,
                         std::string_view value) const {
  if (keys_.empty()) return {};
  Mac m{};
  if (!mac(keys_.front(), topic, key, value, m)) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kSignatureVersion);
  for (unsigned char c : m) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool Signer::verify(std::string_view topic, std::string_view key, std::string_view value,
                    std::string_view header) const {
  if (keys_.empty() || header.size() != kSignatureVersion.size() + 2 * kMacBytes ||
      header.substr(0, kSignatureVersion.size()) != kSignatureVersion)
    return false;
  Mac given{};
  const std::string_view hex = header.substr(kSignatureVersion.size());
  for (std::size_t i = 0; i < kMacBytes; ++i) {
    const int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    given[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  bool ok = false;
  for (const std::string& k : keys_) {
    Mac want{};
    // Every key is tried, whichever matches: the time taken does not tell which one did.
    if (mac(k, topic, key, value, want) && CRYPTO_memcmp(want.data(), given.data(), kMacBytes) == 0)
      ok = true;
  }
  return ok;
}

std::string_view signature_header(const rd_kafka_message_t& m) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(&m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs) return {};
  const void* v = nullptr;
  size_t n = 0;
  const std::string name(kSignatureHeader);
  if (rd_kafka_header_get_last(hdrs, name.c_str(), &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
    return {};
  return {static_cast<const char*>(v), n};
}

bool Signer::verify(const rd_kafka_message_t& m) const {
  const char* topic = m.rkt ? rd_kafka_topic_name(m.rkt) : "";
  const std::string_view key =
      m.key ? std::string_view(static_cast<const char*>(m.key), m.key_len) : std::string_view{};
  const std::string_view value = m.payload ? std::string_view(static_cast<const char*>(m.payload), m.len)
                                           : std::string_view{};
  return verify(topic, key, value, signature_header(m));
}

}  // namespace anpr::kafka
