// The ids of the product, each with one rule checked in one place: list ids and camera ids.
// (Country codes are `CountryCode` in match/types.h, with the same kind of `parse`.)
//
// Every part that takes an id from outside (the configuration, list sidecars, `anpr lists`, the
// list API, the reflists topic, the camera registry, camera reads) checks it here, so a value one
// of them accepts is never refused by another.
//
// Thread safety: value types and pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace anpr {

// The id of a reference list: 1..64 characters of a-z 0-9 . _ -, starting with a letter or digit.
// Ids name folders of the state folder (docs/operators.md), so ".", "..", hidden names, path
// separators and upper case (which would name the same folder twice on some file systems) are out.
class ListId {
 public:
  static constexpr std::size_t kMaxBytes = 64;
  // What an id may be, for error messages: "... expected <kRule>".
  static constexpr std::string_view kRule =
      "1..64 characters of a-z 0-9 . _ -, starting with a letter or digit";

  static bool valid(std::string_view s);
  static std::optional<ListId> parse(std::string_view s);

  const std::string& str() const { return s_; }
  friend bool operator==(const ListId&, const ListId&) = default;

 private:
  explicit ListId(std::string s) : s_(std::move(s)) {}
  std::string s_;
};

// The id of a camera: 1..64 bytes of UTF-8 text without control characters (docs/operators.md).
// Camera ids are only ever looked up, never turned into file names.
class CameraId {
 public:
  static constexpr std::size_t kMaxBytes = 64;
  static constexpr std::string_view kRule =
      "1..64 bytes of UTF-8 text without control characters";

  static bool valid(std::string_view s);
  static std::optional<CameraId> parse(std::string_view s);

  const std::string& str() const { return s_; }
  friend bool operator==(const CameraId&, const CameraId&) = default;

 private:
  explicit CameraId(std::string s) : s_(std::move(s)) {}
  std::string s_;
};

// True if `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace anpr
