#include "export/deadletter.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace anpr {
namespace {

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& s) {
  simdjson::dom::element e;
  EXPECT_FALSE(p.parse(s).get(e)) << s;
  return e;
}

TEST(DeadLetter, CarriesReasonSourceAndPayload) {
  std::string out;
  append_deadletter_json(out, "missing_plate", "required field plate is missing",
                         {"anpr.reads", 3, 1042, "cam-1"}, R"({"event_id":"e"})", 4096, 0);
  simdjson::dom::parser p;
  auto d = parse(p, out);
  EXPECT_EQ(std::string_view(d["reason"]), "missing_plate");
  EXPECT_EQ(int64_t(d["source"]["partition"]), 3);
  EXPECT_EQ(int64_t(d["source"]["offset"]), 1042);
  EXPECT_EQ(std::string_view(d["source"]["topic"]), "anpr.reads");
  EXPECT_EQ(std::string_view(d["key"]), "cam-1");
  EXPECT_EQ(std::string_view(d["payload"]), R"({"event_id":"e"})");
  EXPECT_EQ(std::string_view(d["payload_encoding"]), "text");
  EXPECT_FALSE(bool(d["payload_truncated"]));
}

TEST(DeadLetter, BinaryPayloadIsBase64AndLargeOnesAreCut) {
  std::string out;
  const std::string bin("\xff\xfe\x00\x01garbage", 11);
  append_deadletter_json(out, "invalid_utf8", "d", {"t", 0, 0, ""}, bin, 4096, 0);
  simdjson::dom::parser p;
  auto d = parse(p, out);
  EXPECT_EQ(std::string_view(d["payload_encoding"]), "base64");
  EXPECT_EQ(std::string_view(d["payload"]), "//4AAWdhcmJhZ2U=");
  EXPECT_EQ(uint64_t(d["payload_bytes"]), 11u);

  out.clear();
  const std::string big(10 << 20, 'x');
  append_deadletter_json(out, "too_large", "d", {"t", 0, 0, ""}, big, 100, 0);
  EXPECT_LT(out.size(), 1000u);
  auto d2 = parse(p, out);
  EXPECT_TRUE(bool(d2["payload_truncated"]));
  EXPECT_EQ(std::string_view(d2["payload"]).size(), 100u);
  EXPECT_EQ(uint64_t(d2["payload_bytes"]), uint64_t{10} << 20);
}

TEST(DeadLetter, CutInsideAUtf8SequenceStaysText) {
  std::string out;
  const std::string s = "ab\xc3\xa9\xc3\xa9";  // "abéé", cut after 3 bytes splits the first é
  append_deadletter_json(out, "r", "d", {"t", 0, 0, ""}, s, 3, 0);
  simdjson::dom::parser p;
  auto d = parse(p, out);
  EXPECT_EQ(std::string_view(d["payload_encoding"]), "text");
  EXPECT_EQ(std::string_view(d["payload"]), "ab");
}

TEST(DeadLetter, Base64Vectors) {  // RFC 4648 §10
  const std::pair<const char*, const char*> v[] = {{"", ""},         {"f", "Zg=="},
                                                   {"fo", "Zm8="},   {"foo", "Zm9v"},
                                                   {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (auto [in, want] : v) {
    std::string out;
    append_base64(out, in);
    EXPECT_EQ(out, want);
  }
}

}  // namespace
}  // namespace anpr
