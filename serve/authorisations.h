// Search authorisations (docs/design.md §6; docs/retention.md §5): the legal ground a passage
// search names. An investigator enters the prosecutor's order (NL) or written decision (BE) as
// an authorisation; a search then names its id and must stay inside it.
//
// An authorisation holds:
//   id            generated ("az-" and 16 hex digits)
//   country       whose prosecution service issued it; `reference` must match that country's
//                 `retention.XX.authorisation_pattern` (whole match)
//   reference     the order's or decision's reference, printable ASCII without spaces
//   issued_by     the prosecutor or magistrate who issued it (printable text with letters)
//   plates        1..100 plates it covers, normalised like reads (canonical)
//   ocr_tolerant  whether OCR-tolerant searches of those plates are covered (default false)
//   from, to      the capture-time window it covers (each optional: unbounded on that side)
//   countries     the camera countries it covers (default: `country`)
//   valid_until   when it expires (must be in the future when entered)
//   entered_by, entered_at  the token name that entered it, and when
// Authorisations are kept in state.dir/authorisations.json (mode 0600, replaced atomically and
// synced on every change), so they survive a restart. Withdrawn ones are removed; expired ones
// stay listed for 30 days after expiry (a search with them is refused as expired), then go.
// Creation and withdrawal are audited by the routes (serve/search_api.h).
//
// Thread safety: every method of Authorisations may be called from any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_writer.h"
#include "config/settings.h"
#include "match/types.h"

namespace anpr::app {

struct Authorisation {
  std::string id;
  CountryCode country;
  std::string reference;
  std::string issued_by;
  std::vector<Plate> plates;
  bool ocr_tolerant = false;
  std::optional<TimestampMs> from, to;
  std::vector<CountryCode> countries;
  TimestampMs valid_until = 0;
  std::string entered_by;
  TimestampMs entered_at = 0;

  bool covers_plate(const Plate& p) const;
  bool covers_country(CountryCode c) const;
  // The authorisation as a JSON object (the API's and the file's form); with `now`, also
  // "expired" (whether valid_until has passed).
  void write(JsonWriter& w, std::optional<TimestampMs> now = std::nullopt) const;
};

inline constexpr std::size_t kMaxAuthorisationPlates = 100;
inline constexpr std::size_t kMaxAuthorisations = 10000;  // kept at once (expired included)
inline constexpr std::size_t kMaxReferenceBytes = 64;
inline constexpr std::size_t kMaxIssuerBytes = 200;

// Why `s` is not acceptable free text ("" when it is): ill-formed UTF-8, a control character
// (C0, DEL, C1; tabs and line breaks included) or an invisible or formatting character (zero-width
// spaces and joiners, bidirectional controls, soft hyphen, byte-order mark, variation selectors,
// tag characters, fillers).
std::string text_problem(std::string_view s);

// Why a justification is not meaningful ("" when it is): text_problem, or fewer than 3 words of
// at least 2 letters, or fewer than 15 letters in all. Letters are A-Z, a-z and the accented
// Latin letters (U+00C0..U+024F but × and ÷).
std::string justification_problem(std::string_view s);

// Parses an entry request (the JSON body of POST /api/v1/authorisations) against the country
// patterns of `settings`. Throws http::BadRequest naming the key and what was expected. The
// id, entered_by and entered_at are left empty.
Authorisation parse_authorisation(std::string_view body, const config::Settings& settings,
                                  TimestampMs now);

class Authorisations {
 public:
  // Loads `file` when it exists. Throws std::runtime_error naming the file when it cannot be
  // read or is not an authorisations file (the processor does not start on a damaged one rather
  // than forget the authorisations silently).
  Authorisations(std::filesystem::path file, std::function<TimestampMs()> clock);

  // Gives `a` a new id, stores it durably and returns it. Throws http::HttpError 409 when
  // kMaxAuthorisations are kept, std::runtime_error when the file cannot be written (nothing is
  // then added).
  Authorisation add(Authorisation a);
  // Removes the authorisation `id` when `who` entered it. Returns false when there is no such
  // authorisation, throws http::HttpError 403 `not_yours` when another investigator entered it.
  bool withdraw(const std::string& id, const std::string& who);
  std::optional<Authorisation> find(const std::string& id) const;
  // The authorisations `who` entered, in the order they were entered.
  std::vector<Authorisation> entered_by(const std::string& who) const;

  TimestampMs now() const { return clock_(); }
  const std::filesystem::path& path() const { return file_; }

 private:
  void save_locked(const std::vector<Authorisation>& all) const;  // throws
  std::vector<Authorisation> pruned_locked() const;  // without those expired > 30 days ago

  std::filesystem::path file_;
  std::function<TimestampMs()> clock_;
  mutable std::mutex mu_;
  std::vector<Authorisation> all_;
};

}  // namespace anpr::app
