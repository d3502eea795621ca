#include "config/settings_keys.h"

#include <array>
#include <cctype>

namespace anpr::config::detail {

// ---- checks across keys ----

void check_topics(Ctx& c) {
  const std::array<std::pair<std::string_view, const std::string*>, 5> named = {{
      {"reads", &c.s.topics.reads},
      {"hits", &c.s.topics.hits},
      {"deadletter", &c.s.topics.deadletter},
      {"hit_acks", &c.s.topics.hit_acks},
      {"reflists", &c.s.topics.reflists},
  }};
  const auto line_of = [&](std::string_view k) {
    auto f = c.topic_lines.find(std::string(k));
    return f == c.topic_lines.end() ? std::size_t{0} : f->second;
  };
  for (std::size_t i = 0; i < named.size(); ++i) {
    for (std::size_t j = i + 1; j < named.size(); ++j) {
      if (*named[i].second != *named[j].second) continue;
      // Report on the key the file gave (the later one if both).
      const bool j_given = line_of(named[j].first) >= line_of(named[i].first);
      const auto& a = j_given ? named[j] : named[i];
      const auto& b = j_given ? named[i] : named[j];
      c.error(line_of(a.first), "topics." + std::string(a.first),
              "expected a topic different from topics." + std::string(b.first) + ", got " +
                  quote(*a.second) + " for both");
    }
  }
  const std::string& prefix = c.s.topics.route_prefix;
  for (const auto& [key, value] : named) {
    if (value->size() != prefix.size() + 2 || !value->starts_with(prefix)) continue;
    const char x = (*value)[prefix.size()], y = (*value)[prefix.size() + 1];
    if (x < 'a' || x > 'z' || y < 'a' || y > 'z') continue;
    const bool prefix_later = line_of("route_prefix") > line_of(key);
    c.error(prefix_later ? line_of("route_prefix") : line_of(key),
            prefix_later ? "topics.route_prefix" : "topics." + std::string(key),
            "expected topics." + std::string(key) + " not to be a route topic (route_prefix " +
                quote(prefix) + " + a country code), got " + quote(*value));
  }
}

void finish_countries(Ctx& c) {
  std::vector<CountryPolicy> out = default_country_policies();
  for (auto& entry : c.countries) {
    const CountryCode code = entry.first;  // not a structured binding: lambdas capture it
    const CountryOverride& o = entry.second;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const CountryPolicy& p) { return p.country == code; });
    if (it == out.end()) {
      if (!o.categories) {
        if (!o.categories_given)
          c.error(o.line, "countries." + code.str() + ".categories",
                  "expected the categories allowed on " + code.str() +
                      "'s cameras (a country without defaults needs them), got nothing");
        continue;
      }
      out.push_back(CountryPolicy{code, {}, 0});
      it = out.end() - 1;
    }
    if (o.accepts) it->accepts = *o.accepts;
    if (o.categories) it->categories = *o.categories;
  }
  std::sort(out.begin() + 3, out.end(),
            [](const CountryPolicy& a, const CountryPolicy& b) { return a.country < b.country; });
  c.s.countries = std::move(out);
}

void finish_retention(Ctx& c) {
  std::vector<RetentionPolicy> out = default_retention_policies();
  for (auto& entry : c.retention) {
    const CountryCode code = entry.first;
    const RetentionOverride& o = entry.second;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const RetentionPolicy& p) { return p.country == code; });
    const bool builtin = it != out.end();
    if (!builtin) {
      out.push_back(RetentionPolicy{code});
      it = out.end() - 1;
    }
    if (o.keep_passages) it->keep_passages = *o.keep_passages;
    if (o.passage_days) it->passage_days = *o.passage_days;
    if (o.hit_days) it->hit_days = *o.hit_days;
    if (o.keep_images) it->keep_images = *o.keep_images;
    if (o.order_after_days) it->order_after_days = *o.order_after_days;
    if (o.authorisation_pattern) it->authorisation_pattern = *o.authorisation_pattern;
    if (!builtin && it->keep_passages && !o.passage_days)
      c.error(o.line, "retention." + code.str() + ".passage_days",
              "expected how many days " + code.str() +
                  "'s passages are kept (a country without defaults that keeps passages needs "
                  "it), got nothing");
  }
  std::sort(out.begin() + 3, out.end(), [](const RetentionPolicy& a, const RetentionPolicy& b) {
    return a.country < b.country;
  });
  c.s.retention.policies = std::move(out);
}

void finish_tokens(Ctx& c, std::vector<TokenSettings>& out) {
  std::set<std::string> hashes;
  for (auto& [name, t] : c.tokens) {
    const std::string key = c.token_prefix + name;
    const bool name_ok = !name.empty() && name.size() <= 64 &&
                         std::all_of(name.begin(), name.end(), [](char ch) {
                           return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                                  ch == '_' || ch == '-' || ch == '@';
                         });
    if (!name_ok) {
      c.error(t.second, key,
              "expected a token name of 1..64 characters of A-Z a-z 0-9 . _ - @, got " +
                  quote(name));
      continue;
    }
    if (t.first.role.empty())
      c.error(t.second, key + ".role", "expected the token's role (the key is required), got nothing");
    if (t.first.sha256.empty())
      c.error(t.second, key + ".sha256",
              "expected the token's SHA-256 (the key is required), got nothing");
    else if (!hashes.insert(t.first.sha256).second)
      c.error(t.second, key + ".sha256", "expected a token of its own, got the hash of another");
    if (t.first.role == "controlroom" && t.first.control_room.empty())
      c.error(t.second, key + ".control_room",
              "expected the control room whose hits the token sees (a control_room of the camera "
              "registry), or \"*\" for every room (the key is required for controlroom tokens: "
              "add control_room = \"ROOM\" to the token " + quote(name) + "), got nothing");
    if (t.first.control_room.empty()) t.first.control_room = "*";
    out.push_back(t.first);
  }
}

void finish_http(Ctx& c) {
  finish_tokens(c, c.s.http.tokens);
  if (c.s.http.tls_cert.empty() != c.s.http.tls_key.empty())
    c.error(1, c.s.http.tls_cert.empty() ? "http.tls_cert" : "http.tls_key",
            "expected http.tls_cert and http.tls_key together, got only one");
  if (c.s.state_dir.empty()) c.s.state_dir = c.resolve("state");
}

}  // namespace anpr::config::detail
