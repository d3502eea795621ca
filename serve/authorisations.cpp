#include "serve/authorisations.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "base/utf8.h"
#include "http/server.h"
#include "match/plate.h"
#include "match/time.h"

namespace anpr::app {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxCountries = 10;
constexpr TimestampMs kKeepExpiredMs = 30 * kMsPerDay;
constexpr uint64_t kMaxFileBytes = uint64_t{64} << 20;

// Code points that show nothing or change how the text around them shows.
bool invisible(int32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) ||                       // C1 controls
         cp == 0xA0 || cp == 0xAD || cp == 0x34F || cp == 0x61C || cp == 0x115F ||
         cp == 0x1160 || cp == 0x17B4 || cp == 0x17B5 || (cp >= 0x180B && cp <= 0x180F) ||
         (cp >= 0x2000 && cp <= 0x200F) ||                     // odd spaces, zero-width, marks
         (cp >= 0x2028 && cp <= 0x202F) ||                     // separators, bidi, narrow space
         (cp >= 0x205F && cp <= 0x206F) ||                     // word joiner, invisible operators
         cp == 0x3000 || cp == 0x3164 || (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF ||
         cp == 0xFFA0 || (cp >= 0xFFF0 && cp <= 0xFFFF) || (cp >= 0xE000 && cp <= 0xF8FF) ||
         (cp >= 0x1BCA0 && cp <= 0x1BCA3) || (cp >= 0x1D173 && cp <= 0x1D17A) ||
         (cp >= 0xE0000 && cp <= 0xE0FFF) || cp >= 0xF0000;    // tags, private use planes
}

bool latin_letter(int32_t cp) {
  return (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
         (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7);
}

// Calls f(code point) for each; returns false on ill-formed UTF-8.
template <class F>
bool for_each_code_point(std::string_view s, F f) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    int32_t cp = *p;
    int len = 1;
    if (cp >= 0x80) {
      cp = decode_utf8(p, end, len);
      if (cp < 0) return false;
    }
    f(cp);
    p += len;
  }
  return true;
}

std::string text_field(simdjson::dom::element v, std::string_view key, std::size_t max) {
  std::string_view s;
  if (v.get(s)) throw http::BadRequest(std::string(key) + ": expected a string");
  if (s.size() > max)
    throw http::BadRequest(std::string(key) + ": expected at most " + std::to_string(max) +
                           " bytes");
  if (const std::string why = text_problem(s); !why.empty())
    throw http::BadRequest(std::string(key) + ": " + why);
  return std::string(s);
}

TimestampMs time_field(simdjson::dom::element v, std::string_view key) {
  auto t = parse_rfc3339(text_field(v, key, 64));
  if (!t) throw http::BadRequest(std::string(key) + ": expected an RFC 3339 time");
  return *t;
}

CountryCode country_field(simdjson::dom::element v, std::string_view key) {
  const std::string t = text_field(v, key, 2);
  auto c = CountryCode::parse(t);
  if (!c)
    throw http::BadRequest(std::string(key) + ": expected " + std::string(CountryCode::kRule) +
                           ", got " + CountryCode::why_not(t));
  return *c;
}

std::string new_id() {
  unsigned char raw[8];
  std::size_t got = 0;
  while (got < sizeof raw) {
    const ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("cannot read random bytes for an authorisation id");
    }
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "az-";
  for (unsigned char b : raw) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

[[noreturn]] void io_fail(const std::string& what, const fs::path& p, int err) {
  throw std::runtime_error("authorisations: cannot " + what + " " + p.string() + ": " +
                           std::strerror(err));
}

// One stored authorisation; throws std::runtime_error on anything unexpected.
Authorisation load_one(simdjson::dom::element e) {
  Authorisation a;
  const auto str = [&](const char* k) {
    std::string_view s;
    if (e[k].get(s)) throw std::runtime_error(std::string("\"") + k + "\" missing");
    return std::string(s);
  };
  const auto time = [&](const char* k) {
    auto t = parse_rfc3339(str(k));
    if (!t) throw std::runtime_error(std::string("\"") + k + "\" is not a time");
    return *t;
  };
  const auto country = [](std::string_view s) {
    auto c = CountryCode::parse(s);
    if (!c) throw std::runtime_error("a country is not a country code");
    return *c;
  };
  a.id = str("id");
  a.country = country(str("country"));
  a.reference = str("reference");
  a.issued_by = str("issued_by");
  simdjson::dom::array arr;
  if (e["plates"].get(arr)) throw std::runtime_error("\"plates\" missing");
  for (auto p : arr) {
    std::string_view s;
    std::optional<Plate> plate;
    if (p.get(s) || !(plate = Plate::from_normalized(s)))
      throw std::runtime_error("a plate is not a normalised plate");
    a.plates.push_back(*plate);
  }
  if (e["ocr_tolerant"].get(a.ocr_tolerant)) a.ocr_tolerant = false;
  std::string_view t;
  if (!e["from"].get(t)) a.from = time("from");
  if (!e["to"].get(t)) a.to = time("to");
  if (e["countries"].get(arr)) throw std::runtime_error("\"countries\" missing");
  for (auto c : arr) {
    std::string_view s;
    if (c.get(s)) throw std::runtime_error("a country is not a string");
    a.countries.push_back(country(s));
  }
  a.valid_until = time("valid_until");
  a.entered_by = str("entered_by");
  a.entered_at = time("entered_at");
  return a;
}

}  // namespace

std::string text_problem(std::string_view s) {
  bool bad_char = false;
  const bool utf8 = for_each_code_point(s, [&](int32_t cp) {
    bad_char = bad_char || cp < 0x20 || cp == 0x7F || invisible(cp);
  });
  if (!utf8) return "expected UTF-8 text";
  if (bad_char)
    return "expected printable text, without control or invisible characters (zero-width "
           "spaces, joiners, direction marks, non-breaking or other special spaces)";
  return "";
}

std::string justification_problem(std::string_view s) {
  if (std::string why = text_problem(s); !why.empty()) return why;
  std::size_t letters = 0, words = 0, run = 0;
  const auto end_word = [&] {
    words += run >= 2;
    run = 0;
  };
  for_each_code_point(s, [&](int32_t cp) {
    if (latin_letter(cp)) {
      ++letters;
      ++run;
    } else {
      end_word();
    }
  });
  end_word();
  if (words < 3 || letters < 15)
    return "expected a meaningful justification: at least 3 words and 15 letters (why this "
           "plate is searched, e.g. \"stolen car seen near the border crossing\")";
  return "";
}

bool Authorisation::covers_plate(const Plate& p) const {
  return std::find(plates.begin(), plates.end(), p) != plates.end();
}

bool Authorisation::covers_country(CountryCode c) const {
  return std::find(countries.begin(), countries.end(), c) != countries.end();
}

void Authorisation::write(JsonWriter& w, std::optional<TimestampMs> now) const {
  w.begin_object();
  w.field("id", id);
  w.field("country", country.str());
  w.field("reference", reference);
  w.field("issued_by", issued_by);
  w.key("plates");
  w.begin_array();
  for (const Plate& p : plates) w.value(p.view());
  w.end_array();
  w.field("ocr_tolerant", ocr_tolerant);
  if (from) w.field("from", format_rfc3339(*from));
  if (to) w.field("to", format_rfc3339(*to));
  w.key("countries");
  w.begin_array();
  for (CountryCode c : countries) w.value(c.str());
  w.end_array();
  w.field("valid_until", format_rfc3339(valid_until));
  w.field("entered_by", entered_by);
  w.field("entered_at", format_rfc3339(entered_at));
  if (now) w.field("expired", *now >= valid_until);
  w.end_object();
}

Authorisation parse_authorisation(std::string_view body, const config::Settings& settings,
                                  TimestampMs now) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc))
    throw http::BadRequest("the body is not valid JSON");
  simdjson::dom::object obj;
  if (doc.get(obj)) throw http::BadRequest("the body must be a JSON object");
  Authorisation a;
  std::set<std::string_view> seen;
  bool have_country = false, have_until = false;
  std::string reference;
  for (auto [key, v] : obj) {
    if (!seen.insert(key).second) throw http::BadRequest(std::string(key) + ": given twice");
    if (key == "country") {
      a.country = country_field(v, key);
      have_country = true;
    } else if (key == "reference") {
      std::string_view s;
      if (v.get(s)) throw http::BadRequest("reference: expected a string");
      const bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
      if (s.empty() || s.size() > kMaxReferenceBytes || !ascii)
        throw http::BadRequest("reference: expected 1.." + std::to_string(kMaxReferenceBytes) +
                               " printable ASCII characters without spaces (no control or "
                               "invisible characters)");
      a.reference = std::string(s);
    } else if (key == "issued_by") {
      a.issued_by = text_field(v, key, kMaxIssuerBytes);
      std::size_t letters = 0;
      for_each_code_point(a.issued_by, [&](int32_t cp) { letters += latin_letter(cp); });
      if (letters < 2 || a.issued_by.front() == ' ' || a.issued_by.back() == ' ')
        throw http::BadRequest("issued_by: expected the name of the prosecutor or magistrate "
                               "who issued it (at least 2 letters, no leading or trailing "
                               "spaces)");
    } else if (key == "plates") {
      simdjson::dom::array arr;
      if (v.get(arr)) throw http::BadRequest("plates: expected an array of plates");
      for (auto p : arr) {
        const std::string t = text_field(p, "plates[]", 64);
        auto plate = normalize(t);
        if (!plate)
          throw http::BadRequest("plates[]: cannot be normalised to 1..10 characters A-Z 0-9 (" +
                                 std::string(to_string(plate.error())) + ")");
        if (!a.covers_plate(*plate)) a.plates.push_back(*plate);
        if (a.plates.size() > kMaxAuthorisationPlates)
          throw http::BadRequest("plates: at most " + std::to_string(kMaxAuthorisationPlates));
      }
    } else if (key == "ocr_tolerant") {
      if (v.get(a.ocr_tolerant)) throw http::BadRequest("ocr_tolerant: expected true or false");
    } else if (key == "from") {
      a.from = time_field(v, key);
    } else if (key == "to") {
      a.to = time_field(v, key);
    } else if (key == "countries") {
      simdjson::dom::array arr;
      if (v.get(arr)) throw http::BadRequest("countries: expected an array of country codes");
      for (auto c : arr) {
        const CountryCode code = country_field(c, "countries[]");
        if (!a.covers_country(code)) a.countries.push_back(code);
        if (a.countries.size() > kMaxCountries)
          throw http::BadRequest("countries: at most " + std::to_string(kMaxCountries));
      }
    } else if (key == "valid_until") {
      a.valid_until = time_field(v, key);
      have_until = true;
    } else {
      throw http::BadRequest(std::string(key) + ": unknown key");
    }
  }
  if (!have_country)
    throw http::BadRequest("country: required (whose prosecution service issued it)");
  if (a.reference.empty()) throw http::BadRequest("reference: required");
  if (a.issued_by.empty()) throw http::BadRequest("issued_by: required");
  if (a.plates.empty()) throw http::BadRequest("plates: required (1.." +
                                               std::to_string(kMaxAuthorisationPlates) +
                                               " plates)");
  if (!have_until) throw http::BadRequest("valid_until: required (when it expires)");
  if (a.valid_until <= now) throw http::BadRequest("valid_until: expected a time in the future");
  if (a.from && a.to && *a.from > *a.to) throw http::BadRequest("from: after to");
  if (a.countries.empty()) a.countries.push_back(a.country);
  const config::RetentionPolicy* policy = settings.retention.policy(a.country);
  const std::string cc = a.country.str();
  if (!policy || policy->authorisation_pattern.empty())
    throw http::BadRequest("country: " + cc + " has no authorisation_pattern (retention." + cc +
                           ".authorisation_pattern): no authorisation can be entered for it");
  bool matches = false;
  try {
    matches = std::regex_match(a.reference,
                               std::regex(policy->authorisation_pattern, std::regex::ECMAScript));
  } catch (const std::regex_error&) {
    matches = false;  // checked when the configuration was read; refuse rather than accept
  }
  if (!matches)
    throw http::BadRequest("reference: expected " + cc + "'s prosecution reference format " +
                           policy->authorisation_pattern + " (retention." + cc +
                           ".authorisation_pattern)");
  return a;
}

Authorisations::Authorisations(fs::path file, std::function<TimestampMs()> clock)
    : file_(std::move(file)), clock_(std::move(clock)) {
  std::error_code ec;
  if (!fs::exists(file_, ec)) return;
  std::ifstream in(file_, std::ios::binary);
  if (!in) io_fail("read", file_, errno);
  std::string text;
  {
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  if (text.size() > kMaxFileBytes)
    throw std::runtime_error("authorisations: " + file_.string() + ": larger than 64 MiB");
  try {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::array arr;
    if (parser.parse(text).get(doc) || doc["authorisations"].get(arr))
      throw std::runtime_error("not an authorisations file");
    for (auto e : arr) all_.push_back(load_one(e));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("authorisations: " + file_.string() + ": " + e.what() +
                             " (restore it from a backup or remove it; the audit log has "
                             "every authorisation entered)");
  }
}

std::vector<Authorisation> Authorisations::pruned_locked() const {
  const TimestampMs now = clock_();
  std::vector<Authorisation> out;
  for (const Authorisation& a : all_)
    if (a.valid_until + kKeepExpiredMs > now) out.push_back(a);
  return out;
}

void Authorisations::save_locked(const std::vector<Authorisation>& all) const {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.key("authorisations");
  w.begin_array();
  for (const Authorisation& a : all) a.write(w);
  w.end_array();
  w.end_object();
  body += '\n';
  std::error_code ec;
  fs::create_directories(file_.parent_path(), ec);
  const fs::path tmp = file_.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) io_fail("create", tmp, errno);
  const auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    io_fail(what, tmp, err);
  };
  if (::fchmod(fd, 0600) != 0) fail("set the mode of");
  std::size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = ::write(fd, body.data() + done, body.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("sync");
  ::close(fd);
  if (::rename(tmp.c_str(), file_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail("replace", file_, err);
  }
  const int dfd = ::open(file_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    const int err = errno;
    ::close(dfd);
    if (rc != 0) io_fail("sync the folder of", file_, err);
  }
}

Authorisation Authorisations::add(Authorisation a) {
  std::lock_guard lock(mu_);
  std::vector<Authorisation> next = pruned_locked();
  if (next.size() >= kMaxAuthorisations)
    throw http::HttpError(409, "too_many_authorisations",
                          "at most " + std::to_string(kMaxAuthorisations) +
                              " authorisations are kept; withdraw those no longer needed");
  a.id = new_id();
  next.push_back(a);
  save_locked(next);
  all_ = std::move(next);
  return a;
}

bool Authorisations::withdraw(const std::string& id, const std::string& who) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(all_.begin(), all_.end(), [&](const Authorisation& a) { return a.id == id; });
  if (it == all_.end()) return false;
  if (it->entered_by != who)
    throw http::HttpError(403, "not_yours",
                          "only the investigator who entered an authorisation may withdraw it");
  std::vector<Authorisation> next;
  for (const Authorisation& a : all_)
    if (a.id != id) next.push_back(a);
  save_locked(next);
  all_ = std::move(next);
  return true;
}

std::optional<Authorisation> Authorisations::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  for (const Authorisation& a : all_)
    if (a.id == id) return a;
  return std::nullopt;
}

std::vector<Authorisation> Authorisations::entered_by(const std::string& who) const {
  std::lock_guard lock(mu_);
  std::vector<Authorisation> out;
  for (const Authorisation& a : all_)
    if (a.entered_by == who) out.push_back(a);
  return out;
}

}  // namespace anpr::app
