#include "config/settings.h"
#include "config/settings_keys.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace anpr::config {

using namespace detail;

namespace {

[[noreturn]] void fail(Ctx& c) {
  std::stable_sort(c.errors.begin(), c.errors.end(),
                   [](const Error& a, const Error& b) { return a.line < b.line; });
  std::string msg;
  for (std::size_t i = 0; i < c.errors.size() && i < kMaxErrorsShown; ++i) {
    if (i) msg += '\n';
    msg += c.errors[i].text;
  }
  if (c.error_count > kMaxErrorsShown)
    msg += "\n" + c.name + ": " + std::to_string(c.error_count - kMaxErrorsShown) +
           " more error(s) not shown";
  throw ConfigError(msg);
}

toml::table parse_toml(std::string_view text, const std::string& name) {
  const auto syntax_error = [&](std::size_t line, std::string_view what) {
    return ConfigError(name + ":" + std::to_string(line == 0 ? 1 : line) +
                       ": invalid TOML: " + std::string(what));
  };
  const auto hazard = find_toml_hazard(text);
  // Only the statements before a hazard go to toml++; an error there is reported first.
  const std::string_view safe = hazard ? text.substr(0, hazard->offset) : text;
  toml::table doc;
  try {
    doc = toml::parse(safe, std::string_view(name));
  } catch (const toml::parse_error& e) {
    throw syntax_error(e.source().begin.line, e.description());
  } catch (const std::exception& e) {
    throw syntax_error(1, e.what());
  }
  if (hazard) throw syntax_error(hazard->line, hazard->what);
  return doc;
}

}  // namespace

// ---- public ----

const CountryPolicy* Settings::policy(CountryCode c) const {
  for (const CountryPolicy& p : countries)
    if (p.country == c) return &p;
  return nullptr;
}

std::string Settings::route_topic(CountryCode owner) const {
  return topics.route_prefix + lower(owner.str());
}

const RetentionPolicy* RetentionSettings::policy(CountryCode c) const {
  for (const RetentionPolicy& p : policies)
    if (p.country == c) return &p;
  return nullptr;
}

std::string RetentionSettings::passages_topic(CountryCode c) const {
  return topic_prefix + lower(c.str());
}

std::vector<RetentionPolicy> default_retention_policies() {
  // country, keep_passages, passage_days, hit_days, keep_images, order_after_days,
  // authorisation_pattern (docs/retention.md §5: NL a parketnummer such as 13/654321-26, BE a
  // notice number such as BR.26.L1.012345/26; LU none until its law exists)
  return {RetentionPolicy{kNL, true, 28, 365, false, 0, kNlAuthorisationPattern},
          RetentionPolicy{kBE, true, 365, 365, false, 30, kBeAuthorisationPattern},
          RetentionPolicy{kLU, false, 28, 28, false, 0, ""}};
}

std::vector<CountryPolicy> default_country_policies() {
  using C = Category;
  const uint32_t nl = bit(C::stolen_vehicle) | bit(C::stolen_plate) | bit(C::wanted_person) |
                      bit(C::missing_person) | bit(C::custodial_order) | bit(C::driving_ban) |
                      bit(C::unpaid_fine) | bit(C::uninsured) | bit(C::suspect) |
                      bit(C::serious_crime) | bit(C::terrorism);
  const uint32_t be = nl | bit(C::no_inspection) | bit(C::tax_debt);
  const uint32_t lu = bit(C::terrorism) | bit(C::serious_crime) | bit(C::stolen_vehicle) |
                      bit(C::stolen_plate) | bit(C::missing_person) | bit(C::wanted_person);
  return {CountryPolicy{kNL, {kBE}, nl}, CountryPolicy{kBE, {kNL}, be}, CountryPolicy{kLU, {}, lu}};
}

Settings parse_settings(std::string_view toml_text, const std::string& name,
                        const std::filesystem::path& base_dir) {
  if (toml_text.size() > kMaxConfigBytes)
    throw ConfigError(name + ": expected a config file of at most 1 MiB, got " +
                      std::to_string(toml_text.size()) + " bytes");
  Ctx c;
  c.name = name;
  c.base_dir = base_dir;
  c.s.file = name;
  c.s.countries = default_country_policies();
  c.s.retention.policies = default_retention_policies();
  const toml::table doc = parse_toml(toml_text, name);

  walk(c, doc);

  for (const KeyDecl& d : decls()) {
    if (!d.required || c.seen.count(std::string(d.doc.key))) continue;
    // The line of its table if the file has one, else 1.
    const auto parts = split_dots(d.doc.key);
    const toml::node* parent = doc.get(parts.front());
    std::size_t line = parent && parent->is_table() ? parent->source().begin.line : 0;
    c.error(line, std::string(d.doc.key),
            "expected " + std::string(d.expected) + " (the key is required), got nothing");
  }
  check_topics(c);
  finish_countries(c);
  finish_retention(c);
  finish_http(c);
  if (c.error_count) fail(c);
  return std::move(c.s);
}

namespace {

std::string read_config_text(const std::filesystem::path& file, std::string_view what) {
  const std::string name = file.string();
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ConfigError(name + ": cannot read: " + std::strerror(errno));
  std::string text;
  std::array<char, 65536> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw ConfigError(name + ": cannot read: " + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes) {
      ::close(fd);
      throw ConfigError(name + ": cannot read: larger than 1 MiB (" +
                        std::to_string(kMaxConfigBytes) + " bytes), the limit for " +
                        std::string(what));
    }
  }
  ::close(fd);
  return text;
}

}  // namespace

std::vector<TokenSettings> parse_tokens(std::string_view text, const std::string& name) {
  if (text.size() > kMaxConfigBytes)
    throw ConfigError(name + ": expected a tokens file of at most 1 MiB, got " +
                      std::to_string(text.size()) + " bytes");
  Ctx c;
  c.name = name;
  c.token_prefix = "";
  const toml::table doc = parse_toml(text, name);
  walk_under(c, doc, {"http", "tokens"});
  std::vector<TokenSettings> out;
  finish_tokens(c, out);
  if (c.error_count) {
    // The file's tables are [NAME], not [http.tokens.NAME]: name keys as the file writes them.
    for (Error& e : c.errors) {
      const std::string from = ": http.tokens.";
      if (const auto at = e.text.find(from); at != std::string::npos)
        e.text.replace(at, from.size(), ": ");
    }
    fail(c);
  }
  return out;
}

std::vector<TokenSettings> load_tokens(const std::filesystem::path& file) {
  return parse_tokens(read_config_text(file, "a tokens file"), file.string());
}

std::vector<TokenSettings> merge_tokens(const std::vector<TokenSettings>& config_tokens,
                                        const std::vector<TokenSettings>& file_tokens,
                                        const std::string& file_name) {
  std::vector<TokenSettings> out = config_tokens;
  for (const TokenSettings& t : file_tokens) {
    for (const TokenSettings& c : config_tokens) {
      if (c.name == t.name)
        throw ConfigError(file_name + ": token " + quote(t.name) +
                          ": expected a name of its own, got the name of a token of the config "
                          "file (rename one of them)");
      if (c.sha256 == t.sha256)
        throw ConfigError(file_name + ": token " + quote(t.name) +
                          ": expected a token of its own, got the hash of the config file's "
                          "token " + quote(c.name));
    }
    out.push_back(t);
  }
  return out;
}

Settings load_settings(const std::filesystem::path& file) {
  const std::string name = file.string();
  const std::string text = read_config_text(file, "a config file");
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(file, ec).parent_path();
  if (ec) dir = file.parent_path();
  Settings s = parse_settings(text, name, dir);
  s.file = file;
  if (!s.http.tokens_file.empty()) {
    s.http.file_tokens = load_tokens(s.http.tokens_file);
    merge_tokens(s.http.tokens, s.http.file_tokens, s.http.tokens_file.string());
  }
  return s;
}

const std::vector<KeyDoc>& key_docs() {
  static const std::vector<KeyDoc> docs = [] {
    std::vector<KeyDoc> out;
    for (const KeyDecl& d : decls()) out.push_back(d.doc);
    return out;
  }();
  return docs;
}

std::string keys_markdown() {
  const auto cell = [](std::string_view s) {
    std::string out;
    for (char c : s) {
      if (c == '|') out += '\\';
      out += c;
    }
    return out;
  };
  std::string md = "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const KeyDoc& d : key_docs()) {
    std::string def;
    if (d.default_value.empty())
      def = "—";
    else if (d.default_value.front() == '(')  // "(required)"
      def = "**" + std::string(d.default_value.substr(1, d.default_value.size() - 2)) + "**";
    else if (d.default_value.find_first_of("` ") == std::string_view::npos)  // a TOML value
      def = "`" + cell(d.default_value) + "`";
    else
      def = cell(d.default_value);
    md += "| `" + std::string(d.key) + "` | " + cell(d.type) + " | " + def + " | " +
          cell(d.meaning) + " |\n";
  }
  return md;
}

}  // namespace anpr::config
