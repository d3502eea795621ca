// `anpr search`: searches kept passages and hits through a running processor's API
// (POST /api/v1/search, serve/search_api.h), with the authorisation or justification the camera
// country requires; `anpr authorisations add|list|withdraw` enters, lists and withdraws the
// authorisations (/api/v1/authorisations). The token is read from a file or the ANPR_TOKEN
// environment variable, never from the command line (other users can see a process's arguments).
#include <httplib.h>
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/api_client.h"
#include "cli/token_file.h"
#include "base/json_writer.h"

namespace anpr::app {

namespace {

struct SearchArgs {
  std::string url;
  std::string token_file;
  std::string plate;
  bool ocr = false;
  std::string from, to;
  std::vector<std::string> cameras, countries, kinds;
  std::string authorisation, justification;
  int limit = 0;
  bool json = false;
  bool insecure = false;
};

std::string request_body(const SearchArgs& a) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("plate", a.plate);
  if (a.ocr) w.field("ocr_tolerant", true);
  if (!a.from.empty()) w.field("from", a.from);
  if (!a.to.empty()) w.field("to", a.to);
  const auto array = [&](std::string_view key, const std::vector<std::string>& v) {
    if (v.empty()) return;
    w.key(key);
    w.begin_array();
    for (const auto& s : v) w.value(s);
    w.end_array();
  };
  array("cameras", a.cameras);
  array("countries", a.countries);
  array("kinds", a.kinds);
  if (!a.authorisation.empty()) w.field("authorisation", a.authorisation);
  if (!a.justification.empty()) w.field("justification", a.justification);
  if (a.limit > 0) w.field("limit", a.limit);
  w.end_object();
  return body;
}

// One line per record: kind, camera country, capture time, camera, plate as read, deadline.
void print_table(const std::string& body) {
  simdjson::dom::parser p;
  simdjson::dom::element d;
  if (p.parse(body).get(d)) {
    std::cout << body << "\n";
    return;
  }
  std::printf("%-8s %-3s %-24s %-16s %-12s %s\n", "KIND", "CC", "CAPTURED", "CAMERA", "PLATE",
              "DELETED BY");
  simdjson::dom::array records;
  if (d["records"].get(records)) return;
  const auto str = [](simdjson::simdjson_result<simdjson::dom::element> e) {
    std::string_view v;
    if (e.get(v)) return std::string_view("-");
    return v;
  };
  for (auto r : records) {
    const std::string_view kind = str(r["kind"]), cc = str(r["camera_country"]),
                           captured = str(r["captured"]), deadline = str(r["deadline"]),
                           camera = str(r["record"]["camera_id"]), plate = str(r["record"]["plate"]);
    std::printf("%-8.*s %-3.*s %-24.*s %-16.*s %-12.*s %.*s\n", int(kind.size()), kind.data(),
                int(cc.size()), cc.data(), int(captured.size()), captured.data(),
                int(camera.size()), camera.data(), int(plate.size()), plate.data(),
                int(deadline.size()), deadline.data());
  }
  bool truncated = false;
  if (d["truncated"].get(truncated)) truncated = false;
  uint64_t count = 0;
  if (d["count"].get(count)) count = 0;
  std::fprintf(stderr, "anpr search: %llu records%s\n", static_cast<unsigned long long>(count),
               truncated ? " (more matched: narrow the search)" : "");
}

struct AuthorisationArgs {
  std::string url, token_file;
  bool json = false, insecure = false;
  std::string country, reference, issued_by, from, to, valid_until, id;
  std::vector<std::string> plates, covers;
  bool ocr = false;
};

std::string entry_body(const AuthorisationArgs& a) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("country", a.country);
  w.field("reference", a.reference);
  w.field("issued_by", a.issued_by);
  w.key("plates");
  w.begin_array();
  for (const auto& p : a.plates) w.value(p);
  w.end_array();
  if (a.ocr) w.field("ocr_tolerant", true);
  if (!a.from.empty()) w.field("from", a.from);
  if (!a.to.empty()) w.field("to", a.to);
  if (!a.covers.empty()) {
    w.key("countries");
    w.begin_array();
    for (const auto& c : a.covers) w.value(c);
    w.end_array();
  }
  w.field("valid_until", a.valid_until);
  w.end_object();
  return body;
}

// One line per authorisation: id, country, reference, valid until, state, plates.
void print_authorisations(const std::string& body) {
  simdjson::dom::parser p;
  simdjson::dom::element d;
  simdjson::dom::array all;
  if (p.parse(body).get(d) || d["authorisations"].get(all)) {
    std::cout << body << "\n";
    return;
  }
  std::printf("%-19s %-3s %-24s %-24s %-8s %s\n", "ID", "CC", "REFERENCE", "VALID UNTIL",
              "STATE", "PLATES");
  for (auto a : all) {
    const auto str = [&](const char* k) {
      std::string_view v;
      if (a[k].get(v)) v = "-";
      return std::string(v);
    };
    bool expired = false;
    if (a["expired"].get(expired)) expired = false;
    std::string plates;
    simdjson::dom::array arr;
    if (!a["plates"].get(arr))
      for (auto x : arr) {
        std::string_view v;
        if (x.get(v)) continue;
        plates += (plates.empty() ? "" : ",") + std::string(v);
      }
    std::printf("%-19s %-3s %-24s %-24s %-8s %s\n", str("id").c_str(), str("country").c_str(),
                str("reference").c_str(), str("valid_until").c_str(),
                expired ? "expired" : "valid", plates.c_str());
  }
}

// Where and how to call the API, for one command ("search", "authorisations add").
struct Conn {
  std::string cmd, url, token_file;
  bool insecure = false;
};

// Sends one request. Returns -1 with the answer in `body` when it is 2xx; otherwise prints
// "anpr <cmd>: ..." on stderr (the answer on stdout too with --json) and returns the exit code
// (README.md, "Command-line conventions").
int call_api(const Conn& c, const std::string& method, const std::string& path,
             const std::string& request, bool json, std::string& body) {
  std::string err;
  const std::string token = read_token(c.token_file, err);
  if (token.empty()) {
    std::cerr << "anpr " << c.cmd << ": " << err << "\n";
    return kExitUsage;
  }
  std::unique_ptr<httplib::Client> client;
  try {
    client = std::make_unique<httplib::Client>(c.url);
  } catch (const std::exception& e) {
    std::cerr << "anpr " << c.cmd << ": --url " << c.url << ": " << e.what() << "\n";
    return kExitUsage;
  }
  if (!client->is_valid()) {
    std::cerr << "anpr " << c.cmd << ": --url " << c.url << ": expected http://host:port or "
              << "https://host:port\n";
    return kExitUsage;
  }
  if (c.insecure) client->enable_server_certificate_verification(false);
  client->set_connection_timeout(10);
  client->set_read_timeout(60);
  const httplib::Headers headers = {{"Authorization", "Bearer " + token}};
  httplib::Result res = method == "GET"      ? client->Get(path, headers)
                        : method == "DELETE" ? client->Delete(path, headers)
                                             : client->Post(path, headers, request, "application/json");
  if (!res) {
    std::cerr << "anpr " << c.cmd << ": cannot reach " << c.url << ": " << describe(res.error())
              << "\n";
    return kExitRuntime;
  }
  if (res->status < 200 || res->status >= 300) {
    // {"error": code, "detail": text}; anything else is shown as it came.
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    std::string_view error, detail = res->body;
    if (!p.parse(res->body).get(doc)) {
      if (doc["error"].get(error)) error = {};
      if (doc["detail"].get(detail)) detail = res->body;
    }
    std::cerr << "anpr " << c.cmd << ": " << c.url << ": refused (" << res->status
              << (error.empty() ? "" : " ") << error << "): " << detail;
    if (res->status == 429 && res->has_header("Retry-After"))
      std::cerr << " (Retry-After: " << res->get_header_value("Retry-After") << " s)";
    std::cerr << "\n";
    if (json) std::cout << res->body << "\n";
    return res->status < 400 ? kExitRuntime : refusal_exit_code(res->status, error);
  }
  body = res->body;
  return -1;
}

}  // namespace

void add_search_command(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<SearchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "search",
      "Search kept passages and hits of one plate through a running processor's API (role "
      "investigator), with the authorisation or justification the camera country requires. "
      "Every search, allowed or refused, is written to the processor's audit log.");
  add_url_option(cmd, a->url);
  cmd->add_option("--token-file", a->token_file,
                  "file whose first line is a bearer token of role investigator (else "
                  "$ANPR_TOKEN)");
  cmd->add_option("--plate", a->plate, "the plate, as written (e.g. AB-123-C)")->required();
  cmd->add_flag("--ocr", a->ocr, "also plates that differ within OCR confusion classes (0/O/D/Q, 1/I, ...)");
  cmd->add_option("--from", a->from, "earliest capture time, RFC 3339 (2026-11-01T00:00:00Z)");
  cmd->add_option("--to", a->to, "latest capture time, RFC 3339");
  cmd->add_option("--camera", a->cameras, "only this camera (repeatable)");
  cmd->add_option("--country", a->countries, "only this camera country, e.g. NL (repeatable)");
  cmd->add_option("--kind", a->kinds, "passage or hit (repeatable)")
      ->default_str("both")
      ->check(CLI::IsMember({"passage", "hit"}));
  cmd->add_option("--authorisation", a->authorisation,
                  "id of the authorisation the search falls under (anpr authorisations add)");
  cmd->add_option("--justification", a->justification,
                  "why the search is needed (BE data of the last 30 days): at least 3 words");
  cmd->add_option("--limit", a->limit, "at most this many records (0: the server's limit)");
  cmd->add_flag("--json", a->json, "print the API's JSON answer");
  cmd->add_flag("--insecure", a->insecure, "HTTPS: do not verify the server's certificate");
  cmd->callback([a, &run] {
    run = [a] {
      const Conn c{"search", a->url, a->token_file, a->insecure};
      std::string body;
      const int code = call_api(c, "POST", "/api/v1/search", request_body(*a), a->json, body);
      if (code >= 0) return code;
      if (a->json)
        std::cout << body << "\n";
      else
        print_table(body);
      return kExitOk;
    };
  });
}

void add_authorisations_command(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<AuthorisationArgs>();
  CLI::App* cmd = app.add_subcommand(
      "authorisations",
      "Enter, list and withdraw search authorisations on a running processor (role "
      "investigator): the prosecutor's order or decision a search names with --authorisation "
      "(docs/retention.md). Entries and withdrawals are written to the audit log.");
  cmd->require_subcommand(1);
  const auto common = [a](CLI::App* c) {
    add_url_option(c, a->url);
    c->add_option("--token-file", a->token_file,
                  "file whose first line is a bearer token of role investigator (else "
                  "$ANPR_TOKEN)");
    c->add_flag("--json", a->json, "print the API's JSON answer");
    c->add_flag("--insecure", a->insecure, "HTTPS: do not verify the server's certificate");
  };

  CLI::App* add = cmd->add_subcommand(
      "add", "Enter an authorisation; prints its id (give it to `anpr search --authorisation`).");
  add->add_option("--country", a->country,
                  "country whose prosecution service issued it (its reference format applies)")
      ->required();
  add->add_option("--reference", a->reference,
                  "the order's or decision's reference, e.g. 13/654321-26 (NL), "
                  "BR.26.L1.012345/26 (BE)")
      ->required();
  add->add_option("--issued-by", a->issued_by, "the prosecutor or magistrate who issued it")
      ->required();
  add->add_option("--plate", a->plates, "a plate it covers (repeatable, at most 100)")->required();
  add->add_flag("--ocr", a->ocr, "it also covers OCR-tolerant searches of those plates");
  add->add_option("--from", a->from, "earliest capture time it covers, RFC 3339")
      ->default_str("unbounded");
  add->add_option("--to", a->to, "latest capture time it covers, RFC 3339")
      ->default_str("unbounded");
  add->add_option("--covers", a->covers, "a camera country it covers (repeatable)")
      ->default_str("--country");
  add->add_option("--valid-until", a->valid_until, "when it expires, RFC 3339")->required();
  common(add);
  add->callback([a, &run] {
    run = [a] {
      const Conn c{"authorisations add", a->url, a->token_file, a->insecure};
      std::string body;
      const int code = call_api(c, "POST", "/api/v1/authorisations", entry_body(*a), a->json, body);
      if (code >= 0) return code;
      if (a->json) {
        std::cout << body << "\n";
        return kExitOk;
      }
      simdjson::dom::parser p;
      simdjson::dom::element d;
      std::string_view id;
      if (p.parse(body).get(d) || d["id"].get(id)) {
        std::cerr << "anpr authorisations add: " << a->url << ": an answer without an id: "
                  << body << "\n";
        return kExitRuntime;
      }
      std::cout << id << "\n";
      return kExitOk;
    };
  });

  CLI::App* list = cmd->add_subcommand("list", "List the authorisations you entered.");
  common(list);
  list->callback([a, &run] {
    run = [a] {
      const Conn c{"authorisations list", a->url, a->token_file, a->insecure};
      std::string body;
      const int code = call_api(c, "GET", "/api/v1/authorisations", "", a->json, body);
      if (code >= 0) return code;
      if (a->json)
        std::cout << body << "\n";
      else
        print_authorisations(body);
      return kExitOk;
    };
  });

  CLI::App* withdraw = cmd->add_subcommand(
      "withdraw", "Withdraw an authorisation you entered: no search can name it any more.");
  withdraw->add_option("id", a->id, "the authorisation's id (az-...)")->required();
  common(withdraw);
  withdraw->callback([a, &run] {
    run = [a] {
      const Conn c{"authorisations withdraw", a->url, a->token_file, a->insecure};
      std::string body;
      const int code =
          call_api(c, "DELETE", "/api/v1/authorisations/" + a->id, "", a->json, body);
      if (code >= 0) return code;
      if (a->json) std::cout << body << "\n";
      else std::cerr << "anpr authorisations withdraw: " << a->id << " withdrawn\n";
      return kExitOk;
    };
  });
}

}  // namespace anpr::app
