// The one rule per id (match/ids.h) and per country code (CountryCode::parse, match/types.h), and
// that every reader of outside input applies it: the configuration, list sidecars and rows, the
// camera registry and camera reads refuse the same values, each naming file, line and key.
#include "match/ids.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "config/settings.h"
#include "ingest/cameras.h"
#include "ingest/list_file.h"
#include "ingest/read_event.h"
#include "match/types.h"

namespace anpr {
namespace {

// Ids and codes that no reader may accept. Ids may become folder names in state.dir
// (docs/operators.md), so path tricks come first.
const std::vector<std::string> kBadListIds = {
    "",
    std::string(65, 'a'),
    ".",
    "..",
    "../etc",
    "a/b",
    "a\\b",
    "/abs",
    ".hidden",
    "-flag",
    "_x",
    "Upper",
    "nl stolen",
    std::string("nl\0x", 4),
    "nl\n",
    "nl\t",
    "caf\xC3\xA9",              // non-ASCII
    "n\xD0\xBE",                // Cyrillic o, looks like "no"
    "\xEF\xBD\x8E\xEF\xBD\x8C",  // fullwidth "nl"
    "nl\xE2\x80\x8B",           // zero-width space
    "\xFF",
};

const std::vector<std::string> kBadCountries = {
    "",    "XX",  "ZZ", "QQ",         "AA",         "NLD",       "N",         "N1", " NL",
    "NL ", "N L", "N-", "\xC3\x9F" "A", "\xD0\x9D" "L" /* Cyrillic N */, std::string("N\0", 2),
    "\xEF\xBC\xAE\xEF\xBC\xAC" /* fullwidth NL */,
};

TEST(ListId, AcceptsTheDocumentedAlphabet) {
  for (std::string_view s : {"a", "0", "nl-stolen-vehicles", "be.wanted", "lu_serious_crime",
                             "9-lives", "a..b", "a.", "a-"}) {
    EXPECT_TRUE(ListId::valid(s)) << s;
    ASSERT_TRUE(ListId::parse(s).has_value()) << s;
    EXPECT_EQ(ListId::parse(s)->str(), s);
  }
  EXPECT_TRUE(ListId::valid(std::string(64, 'z')));
}

TEST(ListId, RefusesMalformedAndHostileIds) {
  for (const std::string& s : kBadListIds) {
    EXPECT_FALSE(ListId::valid(s)) << s;
    EXPECT_FALSE(ListId::parse(s).has_value()) << s;
  }
}

TEST(CameraId, AcceptsUtf8TextWithoutControls) {
  for (std::string_view s : {"cam-nl-0042", "NL A2 km 42", "caf\xC3\xA9", "a/b", "."})
    EXPECT_TRUE(CameraId::valid(s)) << s;
  EXPECT_TRUE(CameraId::valid(std::string(64, 'c')));
  ASSERT_TRUE(CameraId::parse("cam-1").has_value());
  EXPECT_EQ(CameraId::parse("cam-1")->str(), "cam-1");
}

TEST(CameraId, RefusesMalformedAndHostileIds) {
  for (const std::string& s :
       {std::string(), std::string(65, 'c'), std::string("cam\0", 4), std::string("cam\n1"),
        std::string("cam\x7f"), std::string("\xC3"), std::string("\xC0\xAF"),
        std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80")}) {
    EXPECT_FALSE(CameraId::valid(s)) << s;
    EXPECT_FALSE(CameraId::parse(s).has_value()) << s;
  }
}

TEST(CountryCodeParse, AcceptsAssignedCodesAndNormalisesLowerCase) {
  for (std::string_view s : {"NL", "BE", "LU", "DE", "FR", "GB", "XK", "ZW", "AD"})
    EXPECT_EQ(CountryCode::parse(s)->str(), s);
  EXPECT_EQ(CountryCode::parse("nl"), kNL);
  EXPECT_EQ(CountryCode::parse("Be"), kBE);
  // 249 assigned codes plus XK.
  int n = 0;
  for (char a = 'A'; a <= 'Z'; ++a)
    for (char b = 'A'; b <= 'Z'; ++b) n += CountryCode::parse(std::string{a, b}).has_value();
  EXPECT_EQ(n, 250);
}

TEST(CountryCodeParse, RefusesUnassignedMalformedAndHostileCodes) {
  for (const std::string& s : kBadCountries) {
    EXPECT_FALSE(CountryCode::parse(s).has_value()) << s;
    if (!s.empty()) {
      EXPECT_FALSE(CountryCode::parse_or_unknown(s).has_value()) << s;
    }
  }
  EXPECT_EQ(CountryCode::parse_or_unknown(""), kAnyCountry);
  EXPECT_EQ(CountryCode::why_not("XX"), "\"XX\", which is not an assigned ISO 3166-1 alpha-2 code");
  EXPECT_EQ(CountryCode::why_not("NLD"), "\"NLD\" (not two letters)");
  EXPECT_EQ(CountryCode::why_not(std::string("N\0", 2)), "\"N\\x00\" (not two letters)");
}

// ---- every reader agrees ----

std::string config_error(const std::string& text) {
  try {
    // The one required key first, on line 1, so that line numbers below count from line 2.
    (void)config::parse_settings("cameras.registry = \"c.csv\"\n" + text, "t.toml", "/cfg");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::string sidecar_error(const std::string& text) {
  const SidecarParse p = parse_sidecar(text, "x.toml");
  return p.error ? to_string(*p.error) : "";
}

std::string camera_error(const std::string& text) {
  try {
    (void)CameraRegistry::parse(text, "cameras.csv", 1000);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// TOML basic-string escape of a test value, so that hostile bytes reach the parser as themselves.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

bool toml_safe(const std::string& s) {
  // TOML strings are UTF-8: a file with a stray byte is refused before any key is read, which
  // says nothing about the id rule.
  return valid_utf8(s);
}

TEST(IdsAgree, ConfigAndSidecarRefuseTheSameListIds) {
  for (const std::string& id : kBadListIds) {
    if (!toml_safe(id)) continue;
    const std::string cfg = config_error("[suppression.lists]\n" + toml_string(id) + " = 60\n");
    EXPECT_NE(cfg.find("t.toml:3: suppression.lists."), std::string::npos) << id << ": " << cfg;
    EXPECT_NE(cfg.find("expected a list id (1..64 characters of a-z 0-9 . _ -, starting with a "
                       "letter or digit)"),
              std::string::npos)
        << id << ": " << cfg;
    const std::string side =
        sidecar_error("owner_country = \"NL\"\nid = " + toml_string(id) + "\n");
    EXPECT_NE(side.find("x.toml:2:"), std::string::npos) << id << ": " << side;
    EXPECT_NE(side.find("is not a list id: expected 1..64 characters of a-z 0-9 . _ -, starting "
                        "with a letter or digit"),
              std::string::npos)
        << id << ": " << side;
  }
  // And accept the same ids.
  for (const char* id : {"nl-stolen", "be.wanted", "9_x"}) {
    EXPECT_EQ(config_error(std::string("[suppression.lists]\n\"") + id + "\" = 60\n"), "") << id;
    EXPECT_EQ(sidecar_error(std::string("id = \"") + id + "\"\nowner_country = \"NL\"\n"), "") << id;
  }
}

TEST(IdsAgree, ConfigSidecarCamerasRowsAndReadsRefuseTheSameCountries) {
  ReadEventDecoder dec;
  for (const std::string& c : kBadCountries) {
    if (c.empty()) continue;  // empty is "unknown" on rows and reads; refused elsewhere, below
    if (toml_safe(c)) {
      const std::string cfg = config_error("[countries.NL]\naccepts = [" + toml_string(c) + "]\n");
      EXPECT_NE(cfg.find("t.toml:3: countries.NL.accepts[0]: expected an ISO 3166-1 alpha-2 code "
                         "such as NL, BE or LU, got "),
                std::string::npos)
          << c << ": " << cfg;
      const std::string side =
          sidecar_error("id = \"a\"\nowner_country = " + toml_string(c) + "\n");
      EXPECT_NE(side.find("x.toml:2:"), std::string::npos) << c << ": " << side;
      EXPECT_NE(side.find("is not an ISO 3166-1 alpha-2 code: expected an ISO 3166-1 alpha-2 "
                          "code such as NL, BE or LU"),
                std::string::npos)
          << c << ": " << side;
    }
    if (c.find_first_of(std::string(",\"\n\0", 4)) == std::string::npos &&
        c.find_first_not_of(' ') != std::string::npos && c.front() != ' ' && c.back() != ' ') {
      const std::string cam =
          camera_error("camera_id,country,site,lat,lon,control_room\ncam-1," + c + ",Site,,,\n");
      EXPECT_NE(cam.find("cameras.csv:2: country: expected an ISO 3166-1 alpha-2 code such as "
                         "NL, BE or LU, got "),
                std::string::npos)
          << c << ": " << cam;
      ListMeta meta;
      meta.id = "a";
      meta.owner = kNL;
      meta.default_category = Category::suspect;
      const ListLoad rows = load_list_text("plate,plate_country,reference\nAB12CD," + c + ",r\n",
                                           "x.csv", meta);
      ASSERT_EQ(rows.rejected.size(), 1u) << c;
      EXPECT_EQ(rows.rejected[0].line, 2u);
      EXPECT_EQ(rows.rejected[0].reason, "country_invalid") << c;
    }
    if (toml_safe(c)) {
      std::string json = R"({"event_id":"e","camera_id":"c","ts":"2026-11-23T19:31:49.123Z",)"
                         R"("plate":"AB12CD","plate_country":)";
      json += toml_string(c) + "}";  // a TOML basic string of these values is a JSON string
      ReadEvent ev;
      DecodeError err;
      EXPECT_FALSE(dec.decode(json, ev, err)) << c;
      EXPECT_EQ(err.reason, "bad_country") << c;
    }
  }
  // Lower case is read as upper case by all of them.
  EXPECT_EQ(config_error("[countries.NL]\naccepts = [\"be\"]\n"), "");
  const SidecarParse side = parse_sidecar("id = \"a\"\nowner_country = \"be\"\n", "x.toml");
  ASSERT_TRUE(side.meta);
  EXPECT_EQ(side.meta->owner, kBE);
  const CameraRegistry reg =
      CameraRegistry::parse("camera_id,country,site,lat,lon,control_room\ncam-1,lu,Site,,,\n",
                            "cameras.csv", 10);
  ASSERT_NE(reg.find("cam-1"), nullptr);
  EXPECT_EQ(reg.find("cam-1")->country, kLU);
  // Empty: unknown on rows and reads, refused where a country is required.
  EXPECT_NE(sidecar_error("id = \"a\"\nowner_country = \"\"\n").find("is not an ISO 3166-1"),
            std::string::npos);
  EXPECT_NE(camera_error("camera_id,country,site,lat,lon,control_room\ncam-1,,Site,,,\n")
                .find("cameras.csv:2: country: expected an ISO 3166-1 alpha-2 code"),
            std::string::npos);
}

TEST(IdsAgree, CameraRegistryAndReadsRefuseTheSameCameraIds) {
  ReadEventDecoder dec;
  for (const std::string& id : {std::string(65, 'c'), std::string("cam\x01"), std::string("cam\x7f")}) {
    const std::string cam =
        camera_error("camera_id,country,site,lat,lon,control_room\n" + id + ",NL,Site,,,\n");
    EXPECT_NE(cam.find("cameras.csv:2: camera_id: expected 1..64 bytes of UTF-8 text without "
                       "control characters"),
              std::string::npos)
        << cam;
    std::string json = R"({"event_id":"e","camera_id":)" + toml_string(id) +
                       R"(,"ts":"2026-11-23T19:31:49.123Z","plate":"AB12CD"})";
    ReadEvent ev;
    DecodeError err;
    EXPECT_FALSE(dec.decode(json, ev, err)) << id;
    EXPECT_TRUE(err.reason == "bad_id" || err.reason == "field_too_long") << err.reason;
  }
}

}  // namespace
}  // namespace anpr
