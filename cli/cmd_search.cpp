// `anpr search`: searches kept passages and hits through a running processor's API
// (POST /api/v1/search, serve/search_api.h), with the legal reference the camera country requires.
// The token is read from a file or the ANPR_TOKEN environment variable, never from the command
// line (other users can see a process's arguments).
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
  std::string reference, justification;
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
  if (!a.reference.empty()) w.field("prosecutor_reference", a.reference);
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

}  // namespace

void add_search_command(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<SearchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "search",
      "Search kept passages and hits of one plate through a running processor's API (role "
      "investigator), with the legal reference the camera country requires. Every search, "
      "allowed or refused, is written to the processor's audit log.");
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
  cmd->add_option("--reference", a->reference,
                  "the prosecutor's order (NL) or decision (BE) reference");
  cmd->add_option("--justification", a->justification,
                  "why the search is needed (BE data of the last 30 days)");
  cmd->add_option("--limit", a->limit, "at most this many records (0: the server's limit)");
  cmd->add_flag("--json", a->json, "print the API's JSON answer");
  cmd->add_flag("--insecure", a->insecure, "HTTPS: do not verify the server's certificate");
  cmd->callback([a, &run] {
    run = [a] {
      std::string err;
      const std::string token = read_token(a->token_file, err);
      if (token.empty()) {
        std::cerr << "anpr search: " << err << "\n";
        return kExitUsage;
      }
      std::unique_ptr<httplib::Client> client;
      try {
        client = std::make_unique<httplib::Client>(a->url);
      } catch (const std::exception& e) {
        std::cerr << "anpr search: --url " << a->url << ": " << e.what() << "\n";
        return kExitUsage;
      }
      if (!client->is_valid()) {
        std::cerr << "anpr search: --url " << a->url << ": expected http://host:port or "
                  << "https://host:port\n";
        return kExitUsage;
      }
      if (a->insecure) client->enable_server_certificate_verification(false);
      client->set_connection_timeout(10);
      client->set_read_timeout(60);
      auto res = client->Post("/api/v1/search", {{"Authorization", "Bearer " + token}},
                              request_body(*a), "application/json");
      if (!res) {
        std::cerr << "anpr search: cannot reach " << a->url << ": " << describe(res.error())
                  << "\n";
        return kExitRuntime;
      }
      if (res->status != 200) {
        // {"error": code, "detail": text}; anything else is shown as it came.
        simdjson::dom::parser p;
        simdjson::dom::element doc;
        std::string_view error, detail = res->body;
        if (!p.parse(res->body).get(doc)) {
          if (doc["error"].get(error)) error = {};
          if (doc["detail"].get(detail)) detail = res->body;
        }
        std::cerr << "anpr search: " << a->url << ": refused (" << res->status
                  << (error.empty() ? "" : " ") << error << "): " << detail << "\n";
        if (a->json) std::cout << res->body << "\n";
        return res->status < 400 ? kExitRuntime : refusal_exit_code(res->status, error);
      }
      if (a->json)
        std::cout << res->body << "\n";
      else
        print_table(res->body);
      return kExitOk;
    };
  });
}

}  // namespace anpr::app
