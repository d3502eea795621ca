// One command-line convention across every `anpr` sub-command (README.md, "Command-line
// conventions"), checked against the built binary: exit codes 0 success, 1 input (partly)
// rejected, 2 usage or configuration error (a file named on the command line that cannot be read,
// a token the server refuses), 3 runtime failure (a server that cannot be reached); data on
// stdout, diagnostics on stderr starting "anpr <sub-command>: " and naming the file or URL; every
// --help shows defaults the same way.
//
// One table, one row per behaviour. The servers are a stand-in HTTP server in this process that
// answers as the processor's API does (http/server.cpp: 401 "unauthorized", 403 "forbidden";
// serve/search_api.cpp: 403 "authorisation_required", 429 "rate_limited") and a closed port; no
// broker is needed.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/process.h"

namespace anpr {
namespace {

namespace fs = std::filesystem;

using testing::kAnpr;
const std::string kSamples = std::string(ANPR_SOURCE_DIR) + "/samples";
const std::string kClosed = "http://127.0.0.1:1";  // nothing listens on port 1

enum class Stream { err, out };

struct Row {
  std::string args;      // after `anpr`; {dir}, {samples}, {server} and {closed} are replaced
  int exit_code;
  std::string expect;    // a substring of stderr (or stdout)
  Stream where = Stream::err;
  std::string absent;    // a path ({dir}...) that must not exist afterwards
  bool no_stdout = false;  // nothing may be written to stdout (no data from refused input)
  std::string cwd;       // working directory ({dir}...), default the test's folder
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

class CliConventions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("anpr-cli-conventions-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "empty");
    const fs::path d = dir_;
    std::ofstream(d / "op.token") << "operator\n";
    std::ofstream(d / "cr.token") << "controlroom\n";
    std::ofstream(d / "inv.token") << "investigator\n";
    std::ofstream(d / "wrong.token") << "wrong\n";
    std::ofstream(d / "reads.jsonl")
        << R"({"event_id":"a","camera_id":"c","ts":"2026-01-01T00:00:00.000Z","plate":"GB123X","plate_country":"NL"})"
        << "\n";
    // good.csv: a clean list. half.csv: 1 row of 2 rejected, over the 1 % threshold.
    // noheader.csv: no reference column, unusable as a whole. lonely.csv: no sidecar.
    const std::string side = "owner_country = \"NL\"\ncategory = \"stolen_vehicle\"\n";
    std::ofstream(d / "good.toml") << "id = \"good\"\n" << side;
    std::ofstream(d / "good.csv") << "plate,reference\nGB-123-X,R1\n";
    std::ofstream(d / "half.toml") << "id = \"half\"\n" << side;
    std::ofstream(d / "half.csv") << "plate,reference\nGB-123-X,R1\nAAAAAAAAAAAAAAAA,R2\n";
    std::ofstream(d / "noheader.toml") << "id = \"noheader\"\n" << side;
    std::ofstream(d / "noheader.csv") << "plate\nGB-123-X\n";
    std::ofstream(d / "lonely.csv") << "plate,reference\nGB-123-X,R1\n";
    fs::copy_file(kSamples + "/cameras.csv", d / "cameras.csv");
    // A configuration whose second list cannot be loaded, and one without its camera registry.
    std::ofstream(d / "badlist.toml") << "[cameras]\nregistry = \"cameras.csv\"\n[state]\n"
                                         "dir = \"state\"\n[lists]\nfiles = [\"good.csv\", "
                                         "\"noheader.csv\"]\n";
    std::ofstream(d / "nocameras.toml") << "[state]\ndir = \"state2\"\n\n[cameras]\n"
                                           "registry = \"no-such-cameras.csv\"\n";

    // The processor's API as far as these commands see it.
    server_.Get(R"(/api/v1/lists.*)", [](const httplib::Request& req, httplib::Response& res) {
      answer(req, res, "operator", [&] {
        if (req.path == "/api/v1/lists") {
          res.set_content(R"({"lists":[]})", "application/json");
        } else if (req.path == "/api/v1/lists/yield") {
          res.set_content(R"({"window_days":30,"since":null,"generated_at":"2026-01-01T00:00:00.000Z","lists":[]})",
                          "application/json");
        } else {
          res.status = 404;
          res.set_content(R"({"error":"not_found","detail":"no list nope"})", "application/json");
        }
      });
    });
    server_.Post("/api/v1/search", [](const httplib::Request& req, httplib::Response& res) {
      answer(req, res, "investigator", [&] {
        if (req.body.find("az-busy") != std::string::npos) {
          res.status = 429;
          res.set_header("Retry-After", "42");
          res.set_content(R"({"error":"rate_limited","detail":"too many searches"})",
                          "application/json");
        } else if (req.body.find("\"authorisation\"") == std::string::npos) {
          res.status = 403;
          res.set_content(R"({"error":"authorisation_required","detail":"NL needs an authorisation"})",
                          "application/json");
        } else {
          res.set_content(R"({"count":0,"truncated":false,"records":[]})", "application/json");
        }
      });
    });
    server_.Post("/api/v1/authorisations", [](const httplib::Request& req, httplib::Response& res) {
      answer(req, res, "investigator", [&] {
        if (req.body.find("\"reference\":\"abc\"") != std::string::npos) {
          res.status = 400;
          res.set_content(R"({"error":"bad_request","detail":"reference: expected NL's prosecution reference format"})",
                          "application/json");
        } else {
          res.status = 201;
          res.set_content(R"({"id":"az-0123456789abcdef","country":"NL"})", "application/json");
        }
      });
    });
    server_.Get("/api/v1/authorisations", [](const httplib::Request& req, httplib::Response& res) {
      answer(req, res, "investigator", [&] {
        res.set_content(R"({"authorisations":[{"id":"az-0123456789abcdef","country":"NL","reference":"13/654321-26","plates":["AB123C"],"valid_until":"2026-12-31T00:00:00.000Z","expired":false}]})",
                        "application/json");
      });
    });
    server_.Delete(R"(/api/v1/authorisations/(.*))", [](const httplib::Request& req, httplib::Response& res) {
      answer(req, res, "investigator", [&] {
        if (req.matches[1] == "az-0123456789abcdef") {
          res.set_content(R"({"withdrawn":"az-0123456789abcdef"})", "application/json");
        } else {
          res.status = 404;
          res.set_content(R"({"error":"not_found","detail":"no authorisation"})", "application/json");
        }
      });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([] { server_.listen_after_bind(); });
    // Bound and listening now: connections wait in the backlog until the thread accepts them.
  }
  static void TearDownTestSuite() {
    server_.stop();
    thread_.join();
    fs::remove_all(dir_);
  }

  // 401 for an unknown token, 403 "forbidden" for another role, else `ok`.
  template <class F>
  static void answer(const httplib::Request& req, httplib::Response& res, const std::string& role,
                     F ok) {
    const std::string auth = req.get_header_value("Authorization");
    const std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
    if (token != "operator" && token != "controlroom" && token != "investigator") {
      res.status = 401;
      res.set_content(R"({"error":"unauthorized","detail":"unknown token"})", "application/json");
    } else if (token != role) {
      res.status = 403;
      res.set_content(R"({"error":"forbidden","detail":"this needs role )" + role + "\"}",
                      "application/json");
    } else {
      ok();
    }
  }

  std::string expand(const std::string& s) const {
    std::string r = replace_all(s, "{dir}", dir_.string());
    r = replace_all(r, "{samples}", kSamples);
    r = replace_all(r, "{server}", "http://127.0.0.1:" + std::to_string(port_));
    return replace_all(r, "{closed}", kClosed);
  }

  static inline fs::path dir_;
  static inline httplib::Server server_;
  static inline std::thread thread_;
  static inline int port_ = 0;
};

const std::vector<Row>& table() {
  static const std::vector<Row> rows = {
      // ---- the command itself ----
      {"--help", 0, "Usage: ", Stream::out},
      {"--version", 0, "anpr 0.1.0", Stream::out},
      {"", 2, "see anpr --help"},
      {"frobnicate", 2, "anpr: unknown command 'frobnicate'; see anpr --help"},      // (5)
      {"--bogus", 2, "anpr: The following argument was not expected: --bogus"},
      {"lists frobnicate", 2, "anpr lists: unknown command 'frobnicate'; see anpr lists --help"},
      {"topics frobnicate", 2, "anpr topics: unknown command 'frobnicate'"},
      {"token frobnicate", 2, "anpr token: unknown command 'frobnicate'"},
      {"lists", 2, "anpr lists: "},

      // ---- --help on stdout, exit 0, defaults shown as TYPE=default everywhere (4) ----
      {"match --help", 0, "--format TEXT:{json,text}=json", Stream::out},
      {"match --help", 0, "--max-rejected-percent FLOAT:FLOAT in [0 - 100]=1, or the configuration's",
       Stream::out},
      {"run --help", 0, "--config TEXT REQUIRED", Stream::out},
      {"demo --help", 0, "--rate FLOAT:FLOAT in [1 - 1e+06]=200", Stream::out},
      {"demo --help", 0, "--samples TEXT:DIR=samples", Stream::out},
      {"broker --help", 0, "--partitions INT:INT in [1 - 256]=4", Stream::out},
      {"replay --help", 0, "--topic TEXT=anpr.reads", Stream::out},
      {"replay --help", 0, "--timeout INT:INT in [1 - 3600]=30", Stream::out},
      {"token new --help", 0, "--valid-days", Stream::out},
      {"lists validate --help", 0,
       "--max-rejected-percent FLOAT:FLOAT in [0 - 100]=1, or the configuration's", Stream::out},
      {"lists load --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},
      {"lists delta --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},
      {"lists show --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},
      {"lists rollback --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},
      {"lists delete --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},
      {"lists publish --help", 0, "--by TEXT=$USER", Stream::out},
      {"lists yield --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},
      {"search --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},     // (3)
      {"authorisations add --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},
      {"authorisations list --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},
      {"authorisations withdraw --help", 0, "--url TEXT=http://127.0.0.1:8080", Stream::out},
      {"topics plan --help", 0, "--config TEXT REQUIRED", Stream::out},
      {"topics apply --help", 0, "--partitions INT:INT in [1 - 10000]=6", Stream::out},
      {"bench --help", 0, "--reads UINT:UINT in [1000 - 100000000]=400000", Stream::out},

      // ---- an unknown option: 2, named, with the sub-command ----
      {"match --bogus", 2, "anpr match: The following argument was not expected: --bogus"},
      {"run --bogus", 2, "anpr run: The following argument was not expected: --bogus"},
      {"demo --bogus", 2, "anpr demo: The following argument was not expected: --bogus"},
      {"broker --bogus", 2, "anpr broker: The following argument was not expected: --bogus"},
      {"replay x --bogus", 2, "anpr replay: The following argument was not expected: --bogus"},
      {"token new --bogus", 2, "anpr token new: The following argument was not expected: --bogus"},
      {"lists validate x --bogus", 2, "anpr lists validate: The following argument was not expected: --bogus"},
      {"lists load x --bogus", 2, "anpr lists load: The following argument was not expected: --bogus"},
      {"lists delta x --bogus", 2, "anpr lists delta: The following argument was not expected: --bogus"},
      {"lists show --bogus", 2, "anpr lists show: The following argument was not expected: --bogus"},
      {"lists rollback x --bogus", 2, "anpr lists rollback: The following argument was not expected: --bogus"},
      {"lists delete x --bogus", 2, "anpr lists delete: The following argument was not expected: --bogus"},
      {"lists publish x --bogus", 2, "anpr lists publish: The following argument was not expected: --bogus"},
      {"search --plate X --bogus", 2, "anpr search: The following argument was not expected: --bogus"},
      {"authorisations list --bogus", 2, "anpr authorisations list: The following argument was not expected: --bogus"},
      {"topics plan --bogus", 2, "anpr topics plan: The following argument was not expected: --bogus"},
      {"topics apply --bogus", 2, "anpr topics apply: The following argument was not expected: --bogus"},
      {"bench --bogus", 2, "anpr bench: The following argument was not expected: --bogus"},

      // ---- a required input missing: 2, named ----
      {"match --reads x", 2, "anpr match: --list is required"},
      {"run", 2, "anpr run: --config is required"},
      {"replay", 2, "anpr replay: file is required"},
      {"token new --role operator", 2, "anpr token new: --name is required"},
      // A controlroom token names its room, "*" written out for every room; expiry is optional.
      {"token new --name carl --role controlroom", 2,
       "anpr token new: --control-room: a controlroom token needs --control-room ROOM", Stream::err,
       "", true},
      {"token new --name carl --role controlroom --control-room '*'", 0, "control_room = \"*\""},
      {"token new --name carl --role controlroom --control-room R1 --expires 2027-03-01T00:00:00Z",
       0, "expires = 2027-03-01T00:00:00.000Z"},
      {"token new --name olga --role operator --valid-days 30", 0, "expires = 20"},
      {"token new --name olga --role operator --control-room R1", 2,
       "only controlroom tokens have a control room", Stream::err, "", true},
      {"token new --name olga --role operator --expires soon", 2, "expected an RFC 3339 timestamp",
       Stream::err, "", true},
      {"token new --name olga --role operator --valid-days 0", 2, "--valid-days", Stream::err, "",
       true},
      {"lists validate", 2, "anpr lists validate: files is required"},
      {"lists load", 2, "anpr lists load: file is required"},
      {"lists delta", 2, "anpr lists delta: id is required"},
      {"lists rollback", 2, "anpr lists rollback: id is required"},
      {"lists delete", 2, "anpr lists delete: id is required"},
      {"lists publish", 2, "anpr lists publish: file is required"},
      {"search", 2, "anpr search: --plate is required"},
      {"topics plan", 2, "anpr topics plan: --config is required"},
      {"topics apply", 2, "anpr topics apply: --config is required"},

      // ---- a file named on the command line that cannot be read: 2, named (1) ----
      {"lists validate {dir}/missing.csv", 2, "anpr lists validate: {dir}/missing.csv: cannot read"},
      {"lists validate {dir}/lonely.csv", 2, "anpr lists validate: {dir}/lonely.toml: cannot read"},
      {"match --list {dir}/missing.csv --reads {dir}/reads.jsonl", 2,
       "anpr match: {dir}/missing.csv: cannot read", Stream::err, "", true},
      {"match --list {dir}/lonely.csv --reads {dir}/reads.jsonl", 2,
       "anpr match: {dir}/lonely.toml: cannot read", Stream::err, "", true},
      {"match --list {dir}/good.csv --reads {dir}/missing.jsonl", 2,
       "anpr match: {dir}/missing.jsonl: cannot open"},
      {"lists load {dir}/missing.csv --url {closed}", 2, "anpr lists load: {dir}/missing.csv: cannot read"},
      {"lists delta good --add {dir}/missing.csv --url {closed}", 2,
       "anpr lists delta: {dir}/missing.csv: cannot read"},
      {"lists publish {dir}/missing.csv --brokers 127.0.0.1:1", 2,
       "anpr lists publish: {dir}/missing.csv: cannot read"},
      {"replay {dir}/missing.jsonl --brokers 127.0.0.1:1", 2, "anpr replay: {dir}/missing.jsonl: cannot open"},
      {"run --config {dir}/missing.toml", 2, "anpr run: error: {dir}/missing.toml: cannot read"},
      {"topics plan --config {dir}/missing.toml", 2, "anpr topics: {dir}/missing.toml: cannot read"},
      {"demo --samples {dir}/missing", 2, "anpr demo: --samples: Directory does not exist: {dir}/missing"},
      {"bench --image {dir}/missing.jpg", 2, "anpr bench: --image: File does not exist: {dir}/missing.jpg"},
      {"lists show --url {server} --token-file {dir}/missing.token", 2,
       "anpr lists show: cannot read the token file {dir}/missing.token"},
      {"search --url {server} --token-file {dir}/missing.token --plate X", 2,
       "anpr search: cannot read the token file {dir}/missing.token"},

      // ---- the demo outside the repository: the folder and --samples named (6) ----
      {"demo --offline", 2, "anpr demo: samples: not found", Stream::err, "", false, "{dir}/empty"},
      {"demo --offline", 2, "give --samples DIR", Stream::err, "", false, "{dir}/empty"},
      {"demo", 2, "give --samples DIR", Stream::err, "", false, "{dir}/empty"},
      {"demo --offline --samples {samples}", 0, "hits", Stream::out},

      // ---- a server that cannot be reached: 3, its URL named (7) ----
      {"lists show --url {closed} --token-file {dir}/op.token", 3,
       "anpr lists show: cannot reach http://127.0.0.1:1: cannot connect"},
      {"lists load {dir}/good.csv --url {closed} --token-file {dir}/op.token", 3,
       "anpr lists load: cannot reach http://127.0.0.1:1"},
      {"lists delta good --add {dir}/good.csv --url {closed} --token-file {dir}/op.token", 3,
       "anpr lists delta: cannot reach http://127.0.0.1:1"},
      {"lists rollback good --url {closed} --token-file {dir}/op.token", 3,
       "anpr lists rollback: cannot reach http://127.0.0.1:1"},
      {"lists delete good --url {closed} --token-file {dir}/op.token", 3,
       "anpr lists delete: cannot reach http://127.0.0.1:1"},
      {"lists yield --url {closed} --token-file {dir}/op.token", 3,
       "anpr lists yield: cannot reach http://127.0.0.1:1: cannot connect"},
      {"search --url {closed} --token-file {dir}/inv.token --plate X", 3,
       "anpr search: cannot reach http://127.0.0.1:1"},
      // The old spelling --server still works for both (3).
      {"lists show --server {closed} --token-file {dir}/op.token", 3,
       "anpr lists show: cannot reach http://127.0.0.1:1"},
      {"search --server {closed} --token-file {dir}/inv.token --plate X", 3,
       "anpr search: cannot reach http://127.0.0.1:1"},

      // ---- one rule for refusals by the server (2) ----
      {"lists show --url {server} --token-file {dir}/op.token", 0, ""},
      {"lists show --url {server} --token-file {dir}/cr.token", 2, "refused (403 forbidden)"},
      {"search --url {server} --token-file {dir}/cr.token --plate X --authorisation az-1", 2,
       "refused (403 forbidden)"},
      {"lists show --url {server} --token-file {dir}/wrong.token", 2, "refused (401 unauthorized)"},
      {"lists yield --url {server} --token-file {dir}/op.token", 0, "(no hits)", Stream::out},
      {"lists yield --url {server} --token-file {dir}/cr.token", 2, "refused (403 forbidden)"},
      {"lists yield --url {server} --token-file {dir}/wrong.token", 2, "refused (401 unauthorized)"},
      {"lists yield --bogus", 2, "anpr lists yield: The following argument was not expected: --bogus"},
      {"lists yield 'Bad Id' --url {server} --token-file {dir}/op.token", 2,
       "anpr lists yield: 'Bad Id' is not a list id"},
      {"search --url {server} --token-file {dir}/wrong.token --plate X --authorisation az-1", 2,
       "refused (401 unauthorized)"},
      // Refused for its content: 1.
      {"search --url {server} --token-file {dir}/inv.token --plate X", 1,
       "anpr search: {server}: refused (403 authorisation_required): NL needs"},
      {"search --url {server} --token-file {dir}/inv.token --plate X --authorisation az-busy", 1,
       "anpr search: {server}: refused (429 rate_limited): too many searches (Retry-After: 42 s)"},
      {"authorisations add --url {server} --token-file {dir}/inv.token --country NL "
       "--reference abc --issued-by X --plate AB123C --valid-until 2026-12-31T00:00:00Z", 1,
       "anpr authorisations add: {server}: refused (400 bad_request): reference: expected NL's",
       Stream::err, "", true},
      {"authorisations add --url {server} --token-file {dir}/inv.token --country NL "
       "--reference 13/654321-26 --issued-by X --plate AB123C --valid-until 2026-12-31T00:00:00Z",
       0, "az-0123456789abcdef", Stream::out},
      {"authorisations add --url {server} --token-file {dir}/cr.token --country NL "
       "--reference 13/654321-26 --issued-by X --plate AB123C --valid-until 2026-12-31T00:00:00Z",
       2, "refused (403 forbidden)"},
      {"authorisations add --url {server} --token-file {dir}/inv.token --country NL", 2,
       "anpr authorisations add: --reference is required"},
      {"authorisations list --url {server} --token-file {dir}/inv.token", 0, "13/654321-26",
       Stream::out},
      {"authorisations list --url {closed} --token-file {dir}/inv.token", 3,
       "anpr authorisations list: cannot reach http://127.0.0.1:1"},
      {"authorisations withdraw az-nope --url {server} --token-file {dir}/inv.token", 1,
       "anpr authorisations withdraw: {server}: refused (404 not_found)"},
      {"authorisations withdraw az-0123456789abcdef --url {server} --token-file {dir}/inv.token",
       0, "az-0123456789abcdef withdrawn"},
      {"authorisations withdraw --url {server} --token-file {dir}/inv.token", 2,
       "anpr authorisations withdraw: id is required"},
      {"lists show nope --url {server} --token-file {dir}/op.token", 1,
       "anpr lists show: {server}: refused (404 not_found)"},
      {"search --url {server} --token-file {dir}/inv.token --plate X --authorisation az-1", 0, "0 records"},

      // ---- `anpr match` refuses what `anpr lists validate` refuses, with the same report (10) ----
      {"lists validate {dir}/half.csv", 1, "{dir}/half.csv: refused: more than 1 %", Stream::out},
      {"match --list {dir}/half.csv --reads {dir}/reads.jsonl", 1,
       "anpr match: {dir}/half.csv: refused: more than 1 %", Stream::err, "", true},
      {"match --list {dir}/half.csv --reads {dir}/reads.jsonl", 1,
       "anpr match: {dir}/half.csv:3: plate: plate_too_long"},
      {"lists validate {dir}/noheader.csv", 1, "{dir}/noheader.csv: not loadable", Stream::out},
      {"match --list {dir}/noheader.csv --reads {dir}/reads.jsonl", 1,
       "anpr match: {dir}/noheader.csv: not loadable", Stream::err, "", true},
      {"match --list {dir}/half.csv --max-rejected-percent 50 --reads {dir}/reads.jsonl", 1,
       "\"reference\":\"R1\"", Stream::out},
      {"match --list {dir}/good.csv --reads {dir}/reads.jsonl", 0, "\"reference\":\"R1\"", Stream::out},

      // ---- `anpr run` start-up errors: 2, file:line: key, nothing written to state.dir ----
      {"run --config {dir}/badlist.toml", 2,
       "badlist.toml:6: lists.files: a reference list could not be loaded, nothing was started or "
       "stored: {dir}/noheader.csv:1: missing required column 'reference'",
       Stream::err, "{dir}/state"},                                                  // (8)
      {"run --config {dir}/nocameras.toml", 2,
       "nocameras.toml:5: cameras.registry: {dir}/no-such-cameras.csv: cannot open",
       Stream::err, "{dir}/state2"},                                                 // (9)
  };
  return rows;
}

TEST_F(CliConventions, EveryCommandFollowsTheConventions) {
  const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
  for (const Row& row : table()) {
    const std::string args = expand(row.args);
    const std::string cwd = row.cwd.empty() ? dir_.string() : expand(row.cwd);
    // No server or token from the environment of whoever runs the tests.
    const std::string cmd = "cd '" + cwd + "' && env -u ANPR_SERVER -u ANPR_TOKEN " + kAnpr + " " +
                            args + " </dev/null >" + out.string() + " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const std::string o = slurp(out), e = slurp(err);
    const std::string context = "anpr " + args + "\n--- stdout:\n" + o + "--- stderr:\n" + e;
    EXPECT_EQ(rc, row.exit_code) << context;
    const std::string& text = row.where == Stream::out ? o : e;
    EXPECT_NE(text.find(expand(row.expect)), std::string::npos)
        << "expected on " << (row.where == Stream::out ? "stdout" : "stderr") << ": "
        << expand(row.expect) << "\n" << context;
    if (args.find("--help") != std::string::npos) {
      EXPECT_TRUE(e.empty()) << "--help writes to stdout only\n" << context;
    }
    if (row.no_stdout) {
      EXPECT_TRUE(o.empty()) << "nothing may be matched\n" << context;
    }
    if (!row.absent.empty()) {
      EXPECT_FALSE(fs::exists(expand(row.absent))) << expand(row.absent) << " was written\n"
                                                    << context;
    }
    if (rc != 0) {  // the verdict, stderr's last line, names the command
      const std::size_t last = e.rfind('\n', e.size() >= 2 ? e.size() - 2 : 0);
      EXPECT_EQ(e.compare(last == std::string::npos ? 0 : last + 1, 4, "anpr"), 0)
          << "stderr's last line must start with \"anpr\"\n" << context;
    }
  }
}

}  // namespace
}  // namespace anpr
