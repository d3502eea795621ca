// The multipart/form-data parser of the list uploads (http/multipart.h): well-formed bodies as
// browsers and curl send them, and malformed and hostile ones, each refused with a reason.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "http/multipart.h"

namespace anpr::http {
namespace {

constexpr std::string_view kType = "multipart/form-data; boundary=XyZ";

std::vector<FormPart> parts_of(std::string_view type, std::string_view body) {
  auto r = parse_multipart(type, body);
  if (auto* why = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << "refused: " << *why;
    return {};
  }
  return std::get<std::vector<FormPart>>(r);
}

std::string refusal(std::string_view type, std::string_view body) {
  auto r = parse_multipart(type, body);
  if (auto* why = std::get_if<std::string>(&r)) return *why;
  return "";
}

TEST(Multipart, ParsesPartsWithNamesFilenamesAndTypes) {
  const std::string body =
      "preamble ignored\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"sidecar\"; filename=\"l.toml\"\r\n"
      "Content-Type: application/toml\r\n"
      "\r\n"
      "id = \"x\"\r\n"
      "\r\n"
      "--XyZ\r\n"
      "content-disposition: form-data; name=rows; filename=\"a \\\"b\\\".csv\"\r\n"
      "\r\n"
      "plate,reference\r\nP1,r\r\n"
      "--XyZ--\r\n"
      "epilogue ignored";
  const auto parts = parts_of(kType, body);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "sidecar");
  EXPECT_EQ(parts[0].filename, "l.toml");
  EXPECT_EQ(parts[0].content_type, "application/toml");
  EXPECT_EQ(parts[0].content, "id = \"x\"\r\n");
  EXPECT_EQ(parts[1].name, "rows");
  EXPECT_EQ(parts[1].filename, "a \"b\".csv");
  EXPECT_EQ(parts[1].content, "plate,reference\r\nP1,r");
}

TEST(Multipart, QuotedBoundaryAndEmptyContent) {
  const auto parts = parts_of("Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"",
                              "--a b:c\r\nContent-Disposition: form-data; name=x\r\n\r\n"
                              "\r\n--a b:c--");
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].content, "");
}

TEST(Multipart, ContentMayHoldTheBoundaryTextNotAfterALineEnd) {
  const auto parts = parts_of(kType,
                              "--XyZ\r\nContent-Disposition: form-data; name=x\r\n\r\n"
                              "a--XyZ b\r\n-XyZ\r\n--XyZ--");
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].content, "a--XyZ b\r\n-XyZ");
  // After a line end the delimiter may not appear in content at all (RFC 2046), not even as the
  // start of a longer line: such a body is refused, not split somewhere else.
  EXPECT_NE(refusal(kType, "--XyZ\r\nContent-Disposition: form-data; name=x\r\n\r\n"
                           "a\r\n--XyZx\r\n--XyZ--"),
            "");
}

TEST(Multipart, MalformedContentTypesAreRefused) {
  const std::string body = "--XyZ\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n--XyZ--";
  EXPECT_NE(refusal("text/plain", body), "");
  EXPECT_NE(refusal("multipart/form-data", body).find("boundary"), std::string::npos);
  EXPECT_NE(refusal("multipart/form-data; boundary=", body), "");
  EXPECT_NE(refusal("multipart/form-data; boundary=\"XyZ", body), "");
  EXPECT_NE(refusal("multipart/form-data; boundary=" + std::string(71, 'a'), body), "");
  EXPECT_NE(refusal("multipart/form-data; boundary=a\x01" "b", body), "");
  EXPECT_NE(refusal("multipart/form-data; boundary=\"ab \"", body), "");
  EXPECT_NE(refusal("multipart/form-data; =x", body), "");
}

TEST(Multipart, MalformedBodiesAreRefused) {
  const std::string disp = "Content-Disposition: form-data; name=x\r\n";
  const auto refused = [&](const std::string& body) { return !refusal(kType, body).empty(); };
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused("no delimiter at all"));
  EXPECT_TRUE(refused("--XyZ\r\n" + disp + "\r\nv"));                     // no close delimiter
  EXPECT_TRUE(refused("--XyZ\r\n" + disp + "\r\nv\r\n--XyZ"));           // nor here
  EXPECT_TRUE(refused("--XyZ" + disp + "\r\nv\r\n--XyZ--"));             // no line end
  EXPECT_TRUE(refused("--XyZ\r\n" + disp + "v\r\n--XyZ--"));             // headers not ended
  EXPECT_TRUE(refused("--XyZ\r\n\r\nv\r\n--XyZ--"));                     // no disposition
  EXPECT_TRUE(refused("--XyZ\r\nContent-Disposition: attachment; name=x\r\n\r\nv\r\n--XyZ--"));
  EXPECT_TRUE(refused("--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--"));
  EXPECT_TRUE(refused("--XyZ\r\nContent-Disposition: form-data; name=\"x\r\n\r\nv\r\n--XyZ--"));
  EXPECT_TRUE(refused("--XyZ\r\n" + disp + disp + "\r\nv\r\n--XyZ--"));  // two dispositions
  EXPECT_TRUE(refused("--XyZ\r\n" + disp + "no colon\r\n\r\nv\r\n--XyZ--"));
  EXPECT_TRUE(refused("--XyZ\r\n" + disp + " folded\r\n\r\nv\r\n--XyZ--"));
  EXPECT_TRUE(refused("--XyZ\r\n" + disp + ": empty name\r\n\r\nv\r\n--XyZ--"));
}

TEST(Multipart, HostileBodiesHitTheBounds) {
  // Too many parts.
  std::string many;
  for (std::size_t i = 0; i <= kMaxParts; ++i)
    many += "--XyZ\r\nContent-Disposition: form-data; name=p" + std::to_string(i) + "\r\n\r\nv\r\n";
  many += "--XyZ--";
  EXPECT_NE(refusal(kType, many).find("parts"), std::string::npos);
  // Too many header lines in a part.
  std::string lines = "--XyZ\r\nContent-Disposition: form-data; name=x\r\n";
  for (std::size_t i = 0; i < kMaxPartHeaders; ++i) lines += "X-A: b\r\n";
  EXPECT_NE(refusal(kType, lines + "\r\nv\r\n--XyZ--").find("header lines"), std::string::npos);
  // Headers too long, and a header block that never ends, in a large body.
  const std::string big(kMaxPartHeaderBytes + 10, 'a');
  EXPECT_NE(refusal(kType, "--XyZ\r\nContent-Disposition: form-data; name=x\r\nX-A: " + big +
                               "\r\n\r\nv\r\n--XyZ--"),
            "");
  EXPECT_NE(refusal(kType, "--XyZ\r\n" + std::string(std::size_t{1} << 20, 'h')), "");
  // Exactly the limits are accepted.
  std::string most;
  for (std::size_t i = 0; i < kMaxParts; ++i)
    most += "--XyZ\r\nContent-Disposition: form-data; name=p" + std::to_string(i) + "\r\n\r\nv\r\n";
  EXPECT_EQ(parts_of(kType, most + "--XyZ--").size(), kMaxParts);
}

}  // namespace
}  // namespace anpr::http
