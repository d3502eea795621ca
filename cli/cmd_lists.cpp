// `anpr lists ...`: reference lists for operators (docs/operators.md).
//   validate FILE...      offline validation report (no server needed)
//   load FILE             full load through the HTTP API of a running processor
//   delta ID --add/--remove FILE
//   show [ID]             the lists, or one list with its versions
//   rollback ID [--to SEQ]
//   delete ID
//   yield [ID]            hits and what came of them, per list (serve/yield_api.h)
//   publish FILE          writes a list to the reflists topic (reflists/reflists.h), audited in
//                         state.dir/audit.jsonl (or --audit-log)
// API commands take the server from --url (or ANPR_SERVER, default http://127.0.0.1:8080; --server
// is its old, hidden name) and the bearer token from --token-file (or ANPR_TOKEN; never from the
// command line, where `ps` and the shell history would show it). Exit codes (README.md,
// "Command-line conventions", cli/api_client.h): 0 done, 1 input (partly) rejected or refused,
// 2 usage error, a file that cannot be read or a token the server does not accept, 3 the server
// cannot be reached or failed.
#include <httplib.h>
#include <simdjson.h>

#include <cerrno>
#include <cstdio>
#include <iomanip>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/api_client.h"
#include "pipeline/offline.h"
#include "cli/token_file.h"
#include "reflists/reflists.h"
#include "config/settings.h"
#include "base/json_writer.h"
#include "lists/registry.h"
#include "match/ids.h"

namespace anpr::app {

namespace {

struct ListsArgs {
  std::vector<std::string> files;
  std::string file;
  std::string id;
  std::string add, remove;
  std::string config;
  std::string url;
  std::string token;
  std::string brokers;
  uint64_t to = 0;
  double max_rejected_percent = -1;
  bool json = false;
};

// Optional fields of the server's answers: absent ones keep their defaults.
void ignore(simdjson::error_code) {}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

int validate(const ListsArgs& a) {
  lists::Policy p;
  try {
    p = offline_list_policy(a.config, a.max_rejected_percent);
  } catch (const config::ConfigError& e) {
    std::cerr << "anpr lists validate: " << e.what() << "\n";
    return kExitUsage;
  }
  bool unreadable = false;
  std::size_t rejected = 0;
  std::string out;
  JsonWriter w(out);
  if (a.json) w.begin_array();
  for (const std::string& f : a.files) {
    // A file that cannot be read is a usage error (exit 2), reported on stderr; the reports
    // (stdout) are of the files that were read.
    if (!list_files_readable(f, "anpr lists validate", std::cerr)) {
      unreadable = true;
      continue;
    }
    lists::Report r = lists::validate_file(f, p, lists::system_now());
    rejected += r.fatal || r.rejected > 0 || r.over_threshold;
    if (a.json)
      lists::write_report_json(w, r);
    else
      lists::write_report_text(std::cout, r);
  }
  if (a.json) {
    w.end_array();
    std::cout << out << "\n";
  }
  if (rejected > 0)
    std::cerr << "anpr lists validate: " << rejected << " of " << a.files.size()
              << " files with rejected rows or refused (the reports are on stdout)\n";
  return unreadable ? kExitUsage : rejected > 0 ? kExitRejected : kExitOk;
}

// ---- API client ----

struct Api {
  std::unique_ptr<httplib::Client> cli;
  httplib::Headers headers;
  std::string url;
};

std::optional<Api> connect(const ListsArgs& a, const char* cmd) {
  std::string err;
  const std::string token = read_token(a.token, err);
  if (token.empty()) {
    std::cerr << "anpr lists " << cmd << ": " << err << " (a token of role operator)\n";
    return std::nullopt;
  }
  Api api;
  api.url = a.url;
  try {
    api.cli = std::make_unique<httplib::Client>(a.url);
  } catch (const std::exception& e) {
    std::cerr << "anpr lists " << cmd << ": --url " << a.url << ": " << e.what() << "\n";
    return std::nullopt;
  }
  if (!api.cli->is_valid()) {
    std::cerr << "anpr lists " << cmd << ": --url " << a.url
              << ": expected http://host:port or https://host:port\n";
    return std::nullopt;
  }
  api.cli->set_connection_timeout(10, 0);
  api.cli->set_read_timeout(900, 0);  // a 10 M-row load takes a while
  api.cli->set_write_timeout(900, 0);
  api.headers = {{"Authorization", "Bearer " + token}};
  return api;
}

void print_rows(simdjson::dom::element report) {
  simdjson::dom::array rows;
  if (report["rejected_rows"].get_array().get(rows) != simdjson::SUCCESS) return;
  for (auto r : rows) {
    std::string_view file, column, reason, detail;
    uint64_t line = 0;
    ignore(r["file"].get_string().get(file));
    ignore(r["line"].get_uint64().get(line));
    ignore(r["column"].get_string().get(column));
    ignore(r["reason"].get_string().get(reason));
    ignore(r["detail"].get_string().get(detail));
    std::cerr << file << ":" << line << ": " << (column.empty() ? "" : std::string(column) + ": ")
              << reason << ": " << detail << "\n";
  }
  bool truncated = false;
  uint64_t rejected = 0;
  if (report["rejected_rows_truncated"].get_bool().get(truncated) == simdjson::SUCCESS &&
      truncated && report["rejected"].get_uint64().get(rejected) == simdjson::SUCCESS)
    std::cerr << "(" << rejected - rows.size() << " more rejected rows not listed)\n";
}

void print_list(simdjson::dom::element l, bool versions) {
  std::string_view id, window, version, kind, who, at;
  uint64_t entries = 0, expiring = 0, seq = 0;
  bool active = false;
  ignore(l["id"].get_string().get(id));
  ignore(l["active"].get_bool().get(active));
  ignore(l["entries"].get_uint64().get(entries));
  ignore(l["expiring_24h"].get_uint64().get(expiring));
  ignore(l["window"].get_string().get(window));
  ignore(l["version"].get_string().get(version));
  auto cur = l["current"];
  ignore(cur["seq"].get_uint64().get(seq));
  ignore(cur["kind"].get_string().get(kind));
  ignore(cur["who"].get_string().get(who));
  ignore(cur["at"].get_string().get(at));
  std::cout << id << "  " << (active ? "active" : "deleted") << "  version " << seq;
  if (active) std::cout << " (" << version << ")  " << entries << " entries, " << expiring
                        << " expiring within 24 h, window " << window;
  std::cout << "  last change: " << kind << " by " << who << " at " << at << "\n";
  simdjson::dom::array arr;
  if (versions && l["versions"].get_array().get(arr) == simdjson::SUCCESS)
    for (auto v : arr) {
      std::string_view k, w, t, c;
      uint64_t s = 0, e = 0, rows = 0, rej = 0;
      bool stored = false;
      ignore(v["seq"].get_uint64().get(s));
      ignore(v["kind"].get_string().get(k));
      ignore(v["who"].get_string().get(w));
      ignore(v["at"].get_string().get(t));
      ignore(v["checksum"].get_string().get(c));
      ignore(v["entries"].get_uint64().get(e));
      ignore(v["rows"].get_uint64().get(rows));
      ignore(v["rejected"].get_uint64().get(rej));
      ignore(v["stored"].get_bool().get(stored));
      std::cout << "  " << s << "  " << k << "  " << t << "  " << w << "  checksum " << c << "  "
                << e << " entries  (" << rows << " rows, " << rej << " rejected)"
                << (stored ? "" : "  [not stored]") << "\n";
    }
}

// Prints the answer and returns the exit code.
int finish(const char* cmd, const Api& api, const httplib::Result& r, bool json) {
  if (!r) {
    std::cerr << "anpr lists " << cmd << ": cannot reach " << api.url << ": "
              << describe(r.error()) << "\n";
    return kExitRuntime;
  }
  if (json) std::cout << r->body << "\n";
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(r->body).get(doc) != simdjson::SUCCESS) {
    std::cerr << "anpr lists " << cmd << ": " << api.url << ": HTTP " << r->status
              << " without a JSON answer\n";
    return r->status < 400 ? kExitRuntime : refusal_exit_code(r->status, "");
  }
  std::string_view error, detail;
  const bool failed = doc["error"].get_string().get(error) == simdjson::SUCCESS;
  auto report = doc["report"];
  if (!report.error()) print_rows(report.value_unsafe());
  if (failed) {
    ignore(doc["detail"].get_string().get(detail));
    std::cerr << "anpr lists " << cmd << ": " << api.url << ": refused (" << r->status << " "
              << error << "): " << detail << "\n";
    return refusal_exit_code(r->status, error);
  }
  uint64_t rejected = 0;
  if (!report.error()) ignore(report["rejected"].get_uint64().get(rejected));
  if (!json) {
    simdjson::dom::array arr;
    if (doc["lists"].get_array().get(arr) == simdjson::SUCCESS) {
      for (auto l : arr) print_list(l, false);
    } else if (!doc["list"].error()) {
      auto l = doc["list"];
      if (!l.is_null()) print_list(l.value_unsafe(), false);
      uint64_t rows = 0, accepted = 0;
      ignore(report["rows"].get_uint64().get(rows));
      ignore(report["accepted"].get_uint64().get(accepted));
      std::cerr << "anpr lists " << cmd << ": done: " << rows << " rows, " << accepted
                << " accepted, " << rejected << " rejected\n";
    } else {
      print_list(doc, true);
    }
  }
  return rejected > 0 ? kExitRejected : kExitOk;
}

std::string list_path(const std::string& id) { return "/api/v1/lists/" + id; }

bool valid_id(const std::string& id, const char* cmd) {
  if (ListId::valid(id)) return true;
  std::cerr << "anpr lists " << cmd << ": '" << id << "' is not a list id: expected "
            << ListId::kRule << "\n";
  return false;
}

httplib::MultipartFormData file_part(const std::string& name, const std::string& path,
                                     std::string content) {
  const auto fmt = lists::format_of_name(path);
  return {name, std::move(content), std::filesystem::path(path).filename().string(),
          fmt == lists::Format::jsonl ? "application/x-ndjson" : "text/csv"};
}

int load(const ListsArgs& a) {
  std::string rows, side;
  const std::string side_path = sidecar_path(a.file).string();
  if (!list_files_readable(a.file, "anpr lists load", std::cerr)) return kExitUsage;
  if (!read_file(a.file, rows) || !read_file(side_path, side)) {
    std::cerr << "anpr lists load: cannot read " << a.file << " or its sidecar " << side_path
              << "\n";
    return kExitUsage;
  }
  SidecarParse meta = parse_sidecar(side, side_path);
  if (meta.error) {
    std::cerr << "anpr lists load: " << to_string(*meta.error) << "\n";
    return kExitRejected;
  }
  auto api = connect(a, "load");
  if (!api) return kExitUsage;
  httplib::MultipartFormDataItems items = {
      {"sidecar", side, std::filesystem::path(side_path).filename().string(), "application/toml"},
      file_part("rows", a.file, std::move(rows))};
  return finish("load", *api, api->cli->Put(list_path(meta.meta->id).c_str(), api->headers, items),
                a.json);
}

int delta(const ListsArgs& a) {
  if (!valid_id(a.id, "delta")) return kExitUsage;
  if (a.add.empty() && a.remove.empty()) {
    std::cerr << "anpr lists delta: give --add FILE, --remove FILE or both\n";
    return kExitUsage;
  }
  httplib::MultipartFormDataItems items;
  for (const auto& [name, path] : {std::pair{"add", a.add}, std::pair{"remove", a.remove}}) {
    if (path.empty()) continue;
    std::string content;
    if (!read_file(path, content)) {
      std::cerr << "anpr lists delta: " << path << ": cannot read: " << std::strerror(errno)
                << "\n";
      return kExitUsage;
    }
    items.push_back(file_part(name, path, std::move(content)));
  }
  auto api = connect(a, "delta");
  if (!api) return kExitUsage;
  return finish("delta", *api, api->cli->Post((list_path(a.id) + "/delta").c_str(), api->headers, items),
                a.json);
}

int show(const ListsArgs& a) {
  if (!a.id.empty() && !valid_id(a.id, "show")) return kExitUsage;
  auto api = connect(a, "show");
  if (!api) return kExitUsage;
  const std::string path = a.id.empty() ? "/api/v1/lists" : list_path(a.id);
  return finish("show", *api, api->cli->Get(path.c_str(), api->headers), a.json);
}

int rollback(const ListsArgs& a) {
  if (!valid_id(a.id, "rollback")) return kExitUsage;
  auto api = connect(a, "rollback");
  if (!api) return kExitUsage;
  const std::string body = a.to ? "{\"to\":" + std::to_string(a.to) + "}" : "";
  return finish("rollback", *api,
                api->cli->Post((list_path(a.id) + "/rollback").c_str(), api->headers, body,
                               "application/json"),
                a.json);
}

int remove(const ListsArgs& a) {
  if (!valid_id(a.id, "delete")) return kExitUsage;
  auto api = connect(a, "delete");
  if (!api) return kExitUsage;
  return finish("delete", *api, api->cli->Delete(list_path(a.id).c_str(), api->headers), a.json);
}

// "12 s", "3 min 05 s", "2 h 10 min" for a duration in ms; "-" for none.
std::string duration_text(std::optional<int64_t> ms) {
  if (!ms) return "-";
  const int64_t s = *ms / 1000;
  char buf[64];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%lld.%01lld s", static_cast<long long>(s),
                  static_cast<long long>((*ms % 1000) / 100));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lld min %02lld s", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld h %02lld min", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  return buf;
}

// "misread 3, other 1" of a {"code":N} object, "-" when empty.
std::string code_counts(simdjson::dom::element obj) {
  simdjson::dom::object o;
  if (obj.get_object().get(o) != simdjson::SUCCESS) return "-";
  std::string out;
  for (auto [k, v] : o) {
    uint64_t n = 0;
    ignore(v.get_uint64().get(n));
    if (!out.empty()) out += ", ";
    out += std::string(k) + " " + std::to_string(n);
  }
  return out.empty() ? "-" : out;
}

int yield(const ListsArgs& a) {
  if (!a.id.empty() && !valid_id(a.id, "yield")) return kExitUsage;
  auto api = connect(a, "yield");
  if (!api) return kExitUsage;
  const std::string path = "/api/v1/lists/yield" + (a.id.empty() ? "" : "?list=" + a.id);
  const httplib::Result r = api->cli->Get(path.c_str(), api->headers);
  if (!r) {
    std::cerr << "anpr lists yield: cannot reach " << api->url << ": " << describe(r.error())
              << "\n";
    return kExitRuntime;
  }
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(r->body).get(doc) != simdjson::SUCCESS) {
    std::cerr << "anpr lists yield: " << api->url << ": HTTP " << r->status
              << " without a JSON answer\n";
    return r->status < 400 ? kExitRuntime : refusal_exit_code(r->status, "");
  }
  std::string_view error, detail;
  if (r->status != 200) {
    ignore(doc["error"].get_string().get(error));
    ignore(doc["detail"].get_string().get(detail));
    std::cerr << "anpr lists yield: " << api->url << ": refused (" << r->status << " " << error
              << "): " << detail << "\n";
    return refusal_exit_code(r->status, error);
  }
  if (a.json) {
    std::cout << r->body << "\n";
    return kExitOk;
  }
  std::string_view since = "-", generated;
  uint64_t days = 0;
  ignore(doc["since"].get_string().get(since));
  ignore(doc["generated_at"].get_string().get(generated));
  ignore(doc["window_days"].get_uint64().get(days));
  std::cout << "Hits of the last " << days << " days (oldest held: " << since << "), at "
            << generated << "\n";
  std::cout << std::left << std::setw(28) << "list" << std::right << std::setw(7) << "hits"
            << std::setw(7) << "acked" << std::setw(12) << "not f-up" << std::setw(9)
            << "accepted" << std::setw(9) << "rejected" << std::setw(9) << "misreads"
            << std::setw(16) << "median to ack" << "  outcomes / rejected by reason\n";
  simdjson::dom::array lists;
  std::size_t rows = 0;
  if (doc["lists"].get_array().get(lists) == simdjson::SUCCESS)
    for (auto l : lists) {
      std::string_view id;
      uint64_t hits = 0, acked = 0, nfu = 0, acc = 0, rej = 0, mis = 0;
      bool covert = false;
      ignore(l["list_id"].get_string().get(id));
      ignore(l["covert"].get_bool().get(covert));
      ignore(l["hits"].get_uint64().get(hits));
      ignore(l["acknowledged"].get_uint64().get(acked));
      ignore(l["not_followed_up"].get_uint64().get(nfu));
      ignore(l["accepted"].get_uint64().get(acc));
      ignore(l["rejected"].get_uint64().get(rej));
      ignore(l["misreads"].get_uint64().get(mis));
      std::optional<int64_t> median;
      if (int64_t m = 0; l["median_ack_ms"].get_int64().get(m) == simdjson::SUCCESS) median = m;
      char share[32] = "-";
      if (hits) std::snprintf(share, sizeof share, "%llu (%.0f%%)",
                              static_cast<unsigned long long>(nfu), 100.0 * nfu / hits);
      std::cout << std::left << std::setw(28)
                << (std::string(id) + (covert ? " (covert)" : "")) << std::right
                << std::setw(7) << hits << std::setw(7) << acked << std::setw(12) << share
                << std::setw(9) << acc << std::setw(9) << rej << std::setw(9) << mis
                << std::setw(16) << duration_text(median) << "  "
                << code_counts(l["outcomes"].value_unsafe()) << " / "
                << code_counts(l["rejected_by_reason"].value_unsafe()) << "\n";
      ++rows;
    }
  if (rows == 0) std::cout << "(no hits" << (a.id.empty() ? "" : " of " + a.id) << ")\n";
  return kExitOk;
}

void api_options(CLI::App* c, ListsArgs& a) {
  add_url_option(c, a.url);
  c->add_option("--token-file", a.token,
                "file whose first line is a bearer token of role operator (else $ANPR_TOKEN)");
  c->add_flag("--json", a.json, "print the server's JSON answer on stdout");
}

}  // namespace

void add_lists_command(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<ListsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "lists", "Reference lists: validate files offline; load, change, show and roll back the "
               "lists of a running processor; publish to the reflists topic (docs/operators.md).");
  cmd->require_subcommand(1);

  CLI::App* v = cmd->add_subcommand(
      "validate", "Validate list files (CSV or JSON Lines, each with its .toml sidecar) and print "
                  "the report: every rejected row with line, column and reason, then counts.\n"
                  "Exit code: 0 every row valid, 1 some row or list rejected, 2 usage error or a "
                  "file (list or sidecar) that cannot be read.");
  v->add_option("files", a->files, "list files (.csv or .jsonl)")->required();
  v->add_option("--config", a->config,
                "processor configuration: its country policies and lists.max_rejected_percent");
  v->add_option("--max-rejected-percent", a->max_rejected_percent,
                "refusal threshold to report against")
      ->default_str("1, or the configuration's")
      ->check(CLI::Range(0.0, 100.0));
  v->add_flag("--json", a->json, "print the reports as a JSON array on stdout");
  v->callback([a, &run] { run = [a] { return validate(*a); }; });

  CLI::App* l = cmd->add_subcommand(
      "load", "Replace a list (or add a new one) on a running processor: the whole file becomes "
              "the list's next version unless too many rows are rejected.");
  l->add_option("file", a->file, "list file (.csv or .jsonl) with its .toml sidecar")->required();
  api_options(l, *a);
  l->callback([a, &run] { run = [a] { return load(*a); }; });

  CLI::App* d = cmd->add_subcommand(
      "delta", "Add, replace or remove rows of an active list (a new version).");
  d->add_option("id", a->id, "list id")->required();
  d->add_option("--add", a->add, "rows to add or replace (.csv or .jsonl, the list's columns)");
  d->add_option("--remove", a->remove,
                "rows to remove (.csv or .jsonl with plate and optionally plate_country)");
  api_options(d, *a);
  d->callback([a, &run] { run = [a] { return delta(*a); }; });

  CLI::App* s = cmd->add_subcommand("show", "Show the lists, or one list with its versions.");
  s->add_option("id", a->id, "list id")->default_str("every list");
  api_options(s, *a);
  s->callback([a, &run] { run = [a] { return show(*a); }; });

  CLI::App* r = cmd->add_subcommand(
      "rollback", "Make an earlier version of a list active again (by default the one before "
                  "the active version).");
  r->add_option("id", a->id, "list id")->required();
  r->add_option("--to", a->to, "version number (seq) to return to");
  api_options(r, *a);
  r->callback([a, &run] { run = [a] { return rollback(*a); }; });

  CLI::App* x = cmd->add_subcommand(
      "delete", "Stop matching a list; its versions stay for rollback.");
  x->add_option("id", a->id, "list id")->required();
  api_options(x, *a);
  x->callback([a, &run] { run = [a] { return remove(*a); }; });

  CLI::App* y = cmd->add_subcommand(
      "yield", "Hits of the lists and what came of them (docs/operators.md, \"Yield of a "
               "list\"): acknowledged, not followed up, accepted, rejected by reason (misreads "
               "apart), outcomes, the median time to acknowledge. A token of role operator (or "
               "engineer: covert lists left out).\n"
               "Exit code: 0 shown, 1 refused, 2 usage error or a token the server does not "
               "accept, 3 the server cannot be reached or failed.");
  y->add_option("id", a->id, "list id")->default_str("every list with hits");
  add_url_option(y, a->url);
  y->add_option("--token-file", a->token,
                "file whose first line is a bearer token of role operator or engineer (else "
                "$ANPR_TOKEN)");
  y->add_flag("--json", a->json, "print the server's JSON answer on stdout");
  y->callback([a, &run] { run = [a] { return yield(*a); }; });

  add_lists_publish_command(cmd, run);

}

}  // namespace anpr::app
