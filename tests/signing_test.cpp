// Signed Kafka records (kafka/signing.h, docs/kafka.md "Signed records"): the signature's exact
// format, checked against values computed independently of the product (Python's hmac module
// over the bytes docs/kafka.md describes), everything a forger could change, key rotation, and
// the key file of kafka.signing_key_file.
#include "kafka/signing.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <string>

#include "config/settings.h"
#include "tests/temp_dir.h"

namespace anpr {
namespace {

namespace fs = std::filesystem;

std::string unhex(std::string_view h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

const std::string kKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string kOtherHex = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string kAck =
    R"({"hit_id":"abc1","acknowledged_by":"rita","control_room":"R1","ts":"2026-12-06T10:00:00.000Z"})";

TEST(Signing, TheSignatureIsTheDocumentedHmacOfTopicKeyAndValue) {
  const kafka::Signer s({unhex(kKeyHex)});
  // Computed with Python: hmac.new(key, b"anpr-sig-v1\0" + len32(topic) + topic + len32(key) +
  // key + len32(value) + value, hashlib.sha256).hexdigest().
  EXPECT_EQ(s.sign("anpr.hit-acks", "abc1", kAck),
            "v1=9788739238183d091f68b1ecd26c11b117fb2c4f4047bc155ec2a3033c434f63");
  EXPECT_EQ(s.sign("anpr.hits", "", ""),
            "v1=8bc8ed0543d71a94ef06094da253994962ad81a197441bf5893d6665a55dbbfd");
  EXPECT_TRUE(s.verify("anpr.hit-acks", "abc1", kAck, s.sign("anpr.hit-acks", "abc1", kAck)));
}

TEST(Signing, EveryChangeAForgerCanMakeFailsVerification) {
  const kafka::Signer s({unhex(kKeyHex)});
  const std::string sig = s.sign("anpr.hit-acks", "abc1", kAck);
  std::string changed = kAck;
  changed.replace(changed.find("rita"), 4, "mall");
  EXPECT_FALSE(s.verify("anpr.hit-acks", "abc1", changed, sig)) << "a changed value";
  EXPECT_FALSE(s.verify("anpr.hit-acks", "abc2", kAck, sig)) << "a changed key";
  EXPECT_FALSE(s.verify("anpr.hits", "abc1", kAck, sig)) << "replayed onto another topic";
  // Field boundaries are lengths: moving bytes from the topic into the key changes the input.
  EXPECT_FALSE(s.verify("anpr.hit-ack", "sabc1", kAck, sig));
  EXPECT_FALSE(kafka::Signer({unhex(kOtherHex)}).verify("anpr.hit-acks", "abc1", kAck, sig))
      << "another key";
  std::string upper = sig;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string flipped = sig;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  for (const std::string& h :
       {std::string(), std::string("v1="), sig.substr(0, sig.size() - 2), sig + "00",
        "v2=" + sig.substr(3), upper, flipped, std::string(sig.size(), 'z'),
        std::string("v1=") + std::string(64, 'g'), std::string(4096, 'a')}) {
    SCOPED_TRACE(h.substr(0, 80));
    EXPECT_FALSE(s.verify("anpr.hit-acks", "abc1", kAck, h));
  }
  // Without a key nothing is signed and nothing verifies.
  const kafka::Signer none;
  EXPECT_FALSE(none.enabled());
  EXPECT_EQ(none.sign("anpr.hits", "k", "v"), "");
  EXPECT_FALSE(none.verify("anpr.hit-acks", "abc1", kAck, sig));
}

TEST(Signing, RotationSignsWithTheFirstKeyAndVerifiesWithEvery) {
  const std::string old_key = unhex(kKeyHex), new_key = unhex(kOtherHex);
  const kafka::Signer before({old_key});             // every instance before the rotation
  const kafka::Signer during({new_key, old_key});    // the new key first, the old one kept
  const kafka::Signer after({new_key});              // the old one removed
  const std::string by_old = before.sign("t", "k", "v");
  const std::string by_new = during.sign("t", "k", "v");
  EXPECT_EQ(by_new, after.sign("t", "k", "v"));
  EXPECT_TRUE(during.verify("t", "k", "v", by_old)) << "the second key verifies";
  EXPECT_TRUE(during.verify("t", "k", "v", by_new));
  EXPECT_FALSE(after.verify("t", "k", "v", by_old)) << "a removed key no longer verifies";
  EXPECT_FALSE(before.verify("t", "k", "v", by_new));
}

class SigningKeyFile : public ::testing::Test {
 protected:
  fs::path write(const std::string& text, mode_t mode = 0600) {
    const fs::path p = tmp_.path() / ("keys-" + std::to_string(++n_));
    std::ofstream(p, std::ios::binary) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }
  std::string refusal(const fs::path& p) {
    std::string why;
    auto keys = config::read_signing_keys(p, why);
    EXPECT_FALSE(keys) << p;
    EXPECT_FALSE(why.empty());
    EXPECT_NE(why.find(p.string()), std::string::npos) << why;  // names the file
    return why;
  }
  testing::TempDir tmp_{"keys"};
  int n_ = 0;
};

TEST_F(SigningKeyFile, KeysAreReadInOrderSkippingCommentsAndBlankLines) {
  std::string why;
  auto keys = config::read_signing_keys(
      write("# signing key, since 2026-12\r\n" + kOtherHex + "\r\n\n  # retired soon\n  " +
            kKeyHex + "  \n"),
      why);
  ASSERT_TRUE(keys) << why;
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0], unhex(kOtherHex));
  EXPECT_EQ((*keys)[1], unhex(kKeyHex));
  // Upper-case hex is the same key; 0400 is fine too.
  std::string upper = kKeyHex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  keys = config::read_signing_keys(write(upper + "\n", 0400), why);
  ASSERT_TRUE(keys) << why;
  EXPECT_EQ((*keys)[0], unhex(kKeyHex));
}

TEST_F(SigningKeyFile, BadFilesAreRefusedWithTheReasonAndNeverTheKey) {
  EXPECT_NE(refusal(write(kKeyHex + "\n", 0644)).find("chmod 600"), std::string::npos);
  EXPECT_NE(refusal(write(kKeyHex + "\n", 0620)).find("mode 0620"), std::string::npos);
  EXPECT_NE(refusal(tmp_.path() / "absent").find("No such file"), std::string::npos);
  refusal(tmp_.path());  // a folder
  EXPECT_NE(refusal(write("")).find("holds no key"), std::string::npos);
  EXPECT_NE(refusal(write("# only a comment\n\n")).find("holds no key"), std::string::npos);
  const std::string short_key = kKeyHex.substr(0, 62);
  std::string why = refusal(write(short_key + "\n"));
  EXPECT_NE(why.find(":1: expected a key of 64"), std::string::npos) << why;
  EXPECT_EQ(why.find(short_key), std::string::npos) << "the key is never quoted";
  why = refusal(write(kKeyHex + "\n" + kKeyHex.substr(0, 63) + "x\n"));
  EXPECT_NE(why.find(":2: a key holds only hex digits"), std::string::npos) << why;
  EXPECT_EQ(why.find(kKeyHex.substr(0, 40)), std::string::npos);
  refusal(write(kKeyHex + "0\n"));            // odd length
  refusal(write("key = " + kKeyHex + "\n"));  // not a bare key
  std::string many;
  for (int i = 0; i < 17; ++i) many += kKeyHex + "\n";
  EXPECT_NE(refusal(write(many)).find("more than 16 keys"), std::string::npos);
  refusal(write(std::string(70'000, 'a')));  // far too large to be a key file
}

TEST_F(SigningKeyFile, TheConfigKeyReadsTheFileRelativeToTheConfig) {
  write(kKeyHex + "\n");  // keys-1
  config::Settings s = config::parse_settings(
      "[kafka]\nsigning_key_file = \"keys-1\"\n[cameras]\nregistry = \"c.csv\"\n", "anpr.toml",
      tmp_.path());
  EXPECT_EQ(s.kafka.signing_key_file, tmp_.path() / "keys-1");
  ASSERT_EQ(s.kafka.signing_keys.size(), 1u);
  EXPECT_EQ(s.kafka.signing_keys[0], unhex(kKeyHex));
  write(kKeyHex + "\n", 0644);  // keys-2
  try {
    config::parse_settings(
        "[cameras]\nregistry = \"c.csv\"\n[kafka]\nsigning_key_file = \"keys-2\"\n", "anpr.toml",
        tmp_.path());
    FAIL() << "a key file readable by others was accepted";
  } catch (const config::ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("anpr.toml:4: kafka.signing_key_file: "), std::string::npos) << what;
    EXPECT_NE(what.find("chmod 600"), std::string::npos) << what;
  }
  // Not set: no keys, nothing signed.
  s = config::parse_settings("[cameras]\nregistry = \"c.csv\"\n", "anpr.toml", tmp_.path());
  EXPECT_TRUE(s.kafka.signing_keys.empty());
}

}  // namespace
}  // namespace anpr
