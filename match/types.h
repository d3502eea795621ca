// Domain types shared by every part of the product: country codes, normalised plates and their
// 64-bit keys, the reference-list vocabulary (categories, actions, match modes) and a small
// error-as-value result type for hot paths.
//
// Thread safety: every type here is a value type; const access from any number of threads is safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace anpr {

// A value or an error code, for paths where a failure is an expected outcome (bad input) and an
// exception would be too slow or too far-reaching. `E` is a small enum.
template <class T, class E>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Expected(E error) : v_(std::in_place_index<1>, error) {}              // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  E error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

// ISO 3166-1 alpha-2 country code packed into 10 bits. The zero value means "unknown" on a read
// and "any country" on a reference-list entry.
class CountryCode {
 public:
  static constexpr unsigned kBits = 10;
  constexpr CountryCode() = default;

  // The one rule for a country code from outside (configuration, list sidecars and rows, the
  // camera registry, camera reads, the APIs): exactly two ASCII letters forming an officially
  // assigned ISO 3166-1 alpha-2 code, or XK (Kosovo), which the EU and vehicle registration
  // authorities use. Lower case is accepted and normalised ("nl" gives NL); anything else,
  // including "", "XX", "NLD", " NL" and non-ASCII lookalikes, gives nullopt.
  static std::optional<CountryCode> parse(std::string_view s);
  // The same, except that "" gives the unknown code: for a list row's or a read's plate_country,
  // where empty means "any country" or "unknown".
  static std::optional<CountryCode> parse_or_unknown(std::string_view s);
  // What parse accepts, for error messages: "... expected <kRule>".
  static constexpr std::string_view kRule = "an ISO 3166-1 alpha-2 code such as NL, BE or LU";
  // Why `s` is not accepted by parse, to follow "got ": "\"XX\", which is not an assigned ISO
  // 3166-1 alpha-2 code", "\"NLD\" (not two letters)". Non-printable bytes are shown as \xNN.
  static std::string why_not(std::string_view s);
  // True if parse accepts the code's letters. Any two letters can be packed (from_letters); only
  // assigned codes come from outside.
  bool assigned() const;
  static constexpr CountryCode from_letters(char a, char b) {
    return CountryCode(static_cast<uint16_t>((a - 'A') * 26 + (b - 'A') + 1));
  }
  static constexpr CountryCode from_raw(uint16_t raw) { return CountryCode(raw); }

  constexpr uint16_t raw() const { return v_; }
  constexpr bool known() const { return v_ != 0; }
  // "NL", or "" when unknown.
  std::string str() const;

  friend constexpr bool operator==(CountryCode a, CountryCode b) { return a.v_ == b.v_; }
  friend constexpr bool operator!=(CountryCode a, CountryCode b) { return a.v_ != b.v_; }
  friend constexpr bool operator<(CountryCode a, CountryCode b) { return a.v_ < b.v_; }

 private:
  constexpr explicit CountryCode(uint16_t v) : v_(v) {}
  uint16_t v_ = 0;
};

inline constexpr CountryCode kNL = CountryCode::from_letters('N', 'L');
inline constexpr CountryCode kBE = CountryCode::from_letters('B', 'E');
inline constexpr CountryCode kLU = CountryCode::from_letters('L', 'U');
inline constexpr CountryCode kAnyCountry{};

// A normalised plate: 1..10 characters of [A-Z0-9]. Only `normalize()` (plate.h) and
// `Plate::from_normalized()` make one, so holding a Plate means the text is valid.
class Plate {
 public:
  static constexpr std::size_t kMaxLen = 10;
  static constexpr unsigned kKeyBits = 53;  // 37^10 < 2^53
  static constexpr uint64_t kKeyMask = (uint64_t{1} << kKeyBits) - 1;

  constexpr Plate() = default;
  // Accepts exactly [A-Z0-9]{1,10}; anything else gives nullopt. Does not normalise.
  static std::optional<Plate> from_normalized(std::string_view s);
  // Inverse of key(). The key must come from key().
  static Plate from_key(uint64_t key);

  std::string_view view() const { return {c_.data(), n_}; }
  std::string str() const { return std::string(view()); }
  std::size_t size() const { return n_; }
  char operator[](std::size_t i) const { return c_[i]; }

  // Injective packing into 53 bits: base 37 with digit 0 reserved for "no character", so plates
  // of different lengths never share a key. Non-zero for every valid plate.
  uint64_t key() const {
    uint64_t k = 0;
    for (std::size_t i = 0; i < n_; ++i) k = k * 37 + code(c_[i]);
    return k;
  }
  // Symbol code 1..36 of a plate character ('0'..'9' -> 1..10, 'A'..'Z' -> 11..36).
  // A table lookup: letters and digits alternate unpredictably on plates, so a branch here costs
  // a misprediction per character on the lookup path.
  static constexpr unsigned code(char c) { return kCodes[static_cast<unsigned char>(c)]; }
  static constexpr char symbol(unsigned code) {
    return code <= 10 ? static_cast<char>('0' + code - 1) : static_cast<char>('A' + code - 11);
  }

  friend bool operator==(const Plate& a, const Plate& b) { return a.view() == b.view(); }

 private:
  static constexpr std::array<uint8_t, 256> kCodes = [] {
    std::array<uint8_t, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<uint8_t>(c - '0' + 1);
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = static_cast<uint8_t>(c - 'A' + 11);
    return t;
  }();

 public:
  friend bool operator!=(const Plate& a, const Plate& b) { return !(a == b); }
  friend bool operator<(const Plate& a, const Plate& b) { return a.view() < b.view(); }

 private:
  friend class PlateBuilder;
  std::array<char, kMaxLen> c_{};
  uint8_t n_ = 0;
};

// Appends characters to a Plate; used by the normaliser and by fuzzy variant generation. The
// caller guarantees [A-Z0-9] and the length bound.
class PlateBuilder {
 public:
  bool push(char c) {
    if (p_.n_ >= Plate::kMaxLen) return false;
    p_.c_[p_.n_++] = c;
    return true;
  }
  std::size_t size() const { return p_.n_; }
  const Plate& plate() const { return p_; }

 private:
  Plate p_;
};

// ---- Reference-list vocabulary (docs/design.md §3) ----

enum class Category : uint8_t {
  stolen_vehicle,
  stolen_plate,
  wanted_person,
  missing_person,
  custodial_order,
  driving_ban,
  unpaid_fine,
  uninsured,
  no_inspection,
  tax_debt,
  suspect,
  serious_crime,
  terrorism,
};
inline constexpr int kCategoryCount = 13;

enum class Action : uint8_t { intercept, observe, notify };
inline constexpr int kActionCount = 3;

// How a list tolerates OCR misreads (docs/matching.md).
enum class MatchMode : uint8_t { exact, ocr, ocr_edit };

// How a hit was made; ordered best first.
enum class MatchKind : uint8_t { exact, ocr, edit };

std::string_view to_string(Category c);
// Every category name, comma-separated, for messages ("stolen_vehicle, wanted_person, ...").
std::string all_categories();
std::string_view to_string(Action a);
std::string_view to_string(MatchMode m);  // "exact", "ocr", "ocr+edit"
std::string_view to_string(MatchKind k);
std::optional<Category> parse_category(std::string_view s);
std::optional<Action> parse_action(std::string_view s);
std::optional<MatchMode> parse_match_mode(std::string_view s);

// Milliseconds since the Unix epoch, UTC. Reads carry millisecond timestamps.
using TimestampMs = int64_t;
inline constexpr TimestampMs kNoExpiry = INT64_MAX;
inline constexpr TimestampMs kNoStart = INT64_MIN;

}  // namespace anpr
