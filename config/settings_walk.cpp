#include "config/settings_keys.h"

namespace anpr::config::detail {
namespace {

// ---- the walk over the parsed document ----

class Walker {
 public:
  explicit Walker(Ctx& c) : c_(c) {
    for (const KeyDecl& d : decls()) patterns_.push_back(split_dots(d.doc.key));
  }

  void table(const toml::table& t, std::vector<std::string>& segs) {
    for (auto&& [k, node] : t) {
      segs.emplace_back(k.str());
      std::size_t line = k.source().begin.line;
      if (line == 0) line = node.source().begin.line;
      entry(node, line, segs);
      segs.pop_back();
    }
  }

 private:
  void entry(const toml::node& node, std::size_t line, std::vector<std::string>& segs) {
    for (std::size_t i = 0; i < patterns_.size(); ++i) {
      const auto& p = patterns_[i];
      if (p.size() == segs.size() && prefix_matches(p, segs))
        return leaf(decls()[i], node, line, segs);
    }
    bool is_table = false;
    for (const auto& p : patterns_) is_table = is_table || prefix_matches(p, segs);
    if (!is_table) return unknown(line, segs);
    // `retention.x = 1`: a misspelt setting rather than a country table.
    if (!node.is_table() && segs.size() == 2 && segs[0] == "retention")
      return unknown(line, segs);
    if (!node.is_table())
      return c_.error(line, show_path(segs), "expected a table, got " + describe(node));
    if (segs.size() == 2 && segs[0] == "countries" && !enter_country(node, line, segs)) return;
    if (segs.size() == 2 && segs[0] == "retention" && !enter_retention(node, line, segs)) return;
    table(*node.as_table(), segs);
  }

  void leaf(const KeyDecl& d, const toml::node& node, std::size_t line,
            std::vector<std::string>& segs) {
    if (d.flatten && node.is_table()) {
      // `a.b = 1` in a table of free-form names: the name "a.b".
      for (auto&& [k, child] : *node.as_table()) {
        std::string saved = segs.back();
        segs.back() += '.';
        segs.back() += k.str();
        std::size_t l = k.source().begin.line;
        leaf(d, child, l ? l : line, segs);
        segs.back() = std::move(saved);
      }
      return;
    }
    c_.seen.insert(std::string(d.doc.key));
    const auto pattern = split_dots(d.doc.key);
    Item it{d, node, line, segs, {}};
    for (std::size_t i = 0; i < pattern.size(); ++i)
      if (pattern[i] == "*") it.wild.push_back(segs[i]);
    d.set(c_, it);
  }

  // [countries.XX]: XX must be a country; records the table for the checks at the end.
  bool enter_country(const toml::node& node, std::size_t line,
                     const std::vector<std::string>& segs) {
    return enter_country_table(node, line, segs, c_.countries);
  }

  // [retention.XX]: XX must be a country.
  bool enter_retention(const toml::node& node, std::size_t line,
                       const std::vector<std::string>& segs) {
    return enter_country_table(node, line, segs, c_.retention);
  }

  // A table named by a country (segs[1]): recorded in `tables` with its line, or an error.
  template <class Tables>
  bool enter_country_table(const toml::node& node, std::size_t line,
                           const std::vector<std::string>& segs, Tables& tables) {
    const auto code = parse_country_table(segs[1]);
    if (!code) {
      c_.error(line, show_path(segs),
               "expected a table named by an upper-case ISO 3166-1 alpha-2 code such as NL, BE "
               "or LU, got " +
                   why_not_country_table(segs[1]));
      return false;
    }
    const std::size_t at = node.source().begin.line;
    tables[*code].line = at ? at : line;
    return true;
  }

  void unknown(std::size_t line, const std::vector<std::string>& segs) {
    const std::string shown = show_path(segs);
    std::string joined;
    for (std::size_t i = 0; i < segs.size(); ++i) joined += (i ? "." : "") + segs[i];
    // The closest declared key or table, with "*" standing for the name written there.
    std::string best;
    std::size_t best_d = 3;
    std::set<std::string> tried;
    for (const auto& p : patterns_) {
      for (std::size_t len = 1; len <= p.size(); ++len) {
        std::string cand;
        for (std::size_t i = 0; i < len; ++i) {
          if (i) cand += '.';
          cand += p[i] == "*" ? (i < segs.size() ? segs[i] : std::string("*")) : std::string(p[i]);
        }
        if (cand == joined || !tried.insert(cand).second) continue;
        const std::size_t diff =
            cand.size() > joined.size() ? cand.size() - joined.size() : joined.size() - cand.size();
        if (diff >= best_d) continue;
        const std::size_t d = edit_distance(joined, cand);
        if (d < best_d && d < joined.size()) {
          best_d = d;
          best = cand;
        }
      }
    }
    if (!best.empty()) return c_.error(line, shown, "unknown key; did you mean " + best + "?");
    // Else name what may stand here.
    std::vector<std::string> parent(segs.begin(), segs.end() - 1);
    std::vector<std::string> names;
    for (const auto& p : patterns_) {
      if (p.size() <= parent.size() || !prefix_matches(p, parent)) continue;
      const std::string name = p[parent.size()] == "*" ? std::string("XX (a country code)")
                                                        : std::string(p[parent.size()]);
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    std::string list;
    for (std::size_t i = 0; i < names.size(); ++i) list += (i ? ", " : "") + names[i];
    c_.error(line, shown,
             "unknown key; expected one of " +
                 (parent.empty() ? std::string("the tables ")
                                 : "the keys of [" + show_path(parent) + "]: ") +
                 list);
  }

  Ctx& c_;
  std::vector<std::vector<std::string_view>> patterns_;
};

}  // namespace

void walk(Ctx& c, const toml::table& doc) {
  std::vector<std::string> segs;
  Walker(c).table(doc, segs);
}

void walk_under(Ctx& c, const toml::table& doc, std::vector<std::string> prefix) {
  Walker(c).table(doc, prefix);
}

}  // namespace anpr::config::detail
