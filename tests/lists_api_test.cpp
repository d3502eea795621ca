// The operators' list API (serve/lists_api.h) over HTTP, its audit records, and the `anpr lists`
// commands that call it.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "serve/lists_api.h"
#include "config/settings.h"
#include "http/audit.h"
#include "http/auth.h"
#include "http/server.h"
#include "lists/registry.h"
#include "match/plate.h"
#include "tests/index_refs.h"
#include "tests/it_support.h"
#include "tests/temp_dir.h"

namespace anpr::app {
namespace {

namespace fs = std::filesystem;

const char* kSidecar = "id = \"nl-test\"\nowner_country = \"NL\"\ncategory = \"stolen_vehicle\"\n";

using testing::slurp;

class ListsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = tmp_.path();
    lists::Policy p;
    p.countries = config::default_country_policies();
    registry = std::make_unique<lists::Registry>(live, p, dir / "lists");
    audit = std::make_unique<http::AuditLog>(dir / "audit.jsonl");
    http::TokenStore t;
    t.add({"olga", http::Role::operator_, "*"}, http::sha256_hex("op-token"));
    t.add({"carl", http::Role::controlroom, "*"}, http::sha256_hex("cr-token"));
    t.add({"eve", http::Role::engineer, "*"}, http::sha256_hex("eng-token"));
    http::ServerOptions o;
    o.max_body_bytes = 64 * 1024;
    server = std::make_unique<http::Server>(o, std::move(t));
    add_list_routes(*server, *audit, *registry);
    server->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
  }
  void TearDown() override {
    server->stop();
  }

  static httplib::Headers bearer(const std::string& token = "op-token") {
    return {{"Authorization", "Bearer " + token}};
  }
  httplib::Result put_list(const std::string& rows, const std::string& id = "nl-test",
                           const std::string& sidecar = kSidecar,
                           const std::string& rows_name = "list.csv") {
    httplib::MultipartFormDataItems items = {{"sidecar", sidecar, "list.toml", "application/toml"},
                                             {"rows", rows, rows_name, ""}};
    return client->Put(("/api/v1/lists/" + id).c_str(), bearer(), items);
  }
  static simdjson::dom::element json(simdjson::dom::parser& p, const httplib::Result& r) {
    simdjson::dom::element e;
    EXPECT_EQ(p.parse(r->body).get(e), simdjson::SUCCESS) << r->body;
    return e;
  }
  static std::string str(simdjson::dom::element e) {
    std::string_view s;
    if (e.get_string().get(s)) return "<not a string>";
    return std::string(s);
  }
  static uint64_t num(simdjson::dom::element e) {
    uint64_t n = 0;
    if (e.get_uint64().get(n)) return ~uint64_t{0};
    return n;
  }
  std::vector<std::string> refs(std::string_view plate) {
    return testing::matched_references(live, plate, lists::system_now());
  }
  // The audit records of outcomes; with `requests`, also the ".requested" record written before
  // each change.
  std::vector<std::string> audit_lines(bool requests = false) {
    std::vector<std::string> out;
    std::istringstream in(slurp(dir / "audit.jsonl"));
    for (std::string l; std::getline(in, l);)
      if (requests || l.find(".requested\"") == std::string::npos) out.push_back(l);
    return out;
  }

  testing::TempDir tmp_{"lists-api"};  // first: removed last
  fs::path dir;
  LiveIndex live;
  std::unique_ptr<lists::Registry> registry;
  std::unique_ptr<http::AuditLog> audit;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<httplib::Client> client;
};

TEST_F(ListsApi, MissingOrWrongTokenIs401AndOtherRolesAre403) {
  for (const char* path : {"/api/v1/lists", "/api/v1/lists/nl-test"}) {
    auto r = client->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"anpr\"");
    r = client->Get(path, bearer("not-a-token"));
    EXPECT_EQ(r->status, 401) << path;
    r = client->Get(path, bearer("cr-token"));
    EXPECT_EQ(r->status, 403) << path;
    r = client->Get(path, bearer("eng-token"));
    EXPECT_EQ(r->status, 403) << path;
  }
  httplib::MultipartFormDataItems items = {{"sidecar", kSidecar, "l.toml", ""},
                                           {"rows", "plate,reference\nP1,r\n", "l.csv", ""}};
  auto r = client->Put("/api/v1/lists/nl-test", bearer("cr-token"), items);
  EXPECT_EQ(r->status, 403);
  r = client->Put("/api/v1/lists/nl-test", items);
  EXPECT_EQ(r->status, 401);
  r = client->Delete("/api/v1/lists/nl-test", bearer("cr-token"));
  EXPECT_EQ(r->status, 403);
  r = client->Post("/api/v1/lists/nl-test/rollback", bearer("bad"), "", "application/json");
  EXPECT_EQ(r->status, 401);
  r = client->Post("/api/v1/lists/nl-test/delta", bearer("eng-token"), items);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(registry->lists().empty()) << "a refused request changed something";
  EXPECT_TRUE(audit_lines().empty());
}

TEST_F(ListsApi, LoadShowDeltaRollbackDeleteWithAuditRecords) {
  simdjson::dom::parser p;
  auto r = put_list("plate,reference\nP1,v1\nP2,v1\n");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto doc = json(p, r);
  EXPECT_EQ(num(doc["version"]["seq"]), 1u);
  EXPECT_EQ(str(doc["version"]["who"]), "olga");
  EXPECT_EQ(num(doc["list"]["entries"]), 2u);
  EXPECT_EQ(num(doc["report"]["accepted"]), 2u);
  const std::string checksum1 = str(doc["version"]["checksum"]);
  EXPECT_EQ(refs("P1"), std::vector<std::string>{"v1"});

  r = put_list("{\"plate\":\"P1\",\"reference\":\"v2\"}\n", "nl-test", kSidecar, "list.jsonl");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(refs("P1"), std::vector<std::string>{"v2"});
  EXPECT_TRUE(refs("P2").empty());

  httplib::MultipartFormDataItems delta = {{"add", "plate,reference\nP3,d\n", "add.csv", ""},
                                           {"remove", "plate\nP1\n", "remove.csv", ""}};
  r = client->Post("/api/v1/lists/nl-test/delta", bearer(), delta);
  ASSERT_EQ(r->status, 200) << r->body;
  doc = json(p, r);
  EXPECT_EQ(num(doc["version"]["added"]), 1u);
  EXPECT_EQ(num(doc["version"]["removed"]), 1u);
  EXPECT_TRUE(refs("P1").empty());
  EXPECT_EQ(refs("P3"), std::vector<std::string>{"d"});

  r = client->Get("/api/v1/lists", bearer());
  ASSERT_EQ(r->status, 200);
  doc = json(p, r);
  simdjson::dom::array arr;
  ASSERT_EQ(doc["lists"].get_array().get(arr), simdjson::SUCCESS);
  ASSERT_EQ(arr.size(), 1u);
  EXPECT_EQ(str(arr.at(0)["id"]), "nl-test");
  EXPECT_EQ(num(arr.at(0)["current"]["seq"]), 3u);

  r = client->Get("/api/v1/lists/nl-test", bearer());
  ASSERT_EQ(r->status, 200);
  doc = json(p, r);
  ASSERT_EQ(doc["versions"].get_array().get(arr), simdjson::SUCCESS);
  EXPECT_EQ(arr.size(), 3u);
  EXPECT_EQ(str(arr.at(0)["kind"]), "delta");

  r = client->Post("/api/v1/lists/nl-test/rollback", bearer(), "{\"to\":1}", "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(refs("P1"), std::vector<std::string>{"v1"});
  EXPECT_EQ(str(json(p, r)["version"]["checksum"]), checksum1);
  r = client->Post("/api/v1/lists/nl-test/rollback", bearer(), "", "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(refs("P3"), std::vector<std::string>{"d"});

  r = client->Delete("/api/v1/lists/nl-test", bearer());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(refs("P3").empty());
  r = client->Delete("/api/v1/lists/nl-test", bearer());
  EXPECT_EQ(r->status, 404);

  // Every change, with who, when, what, checksum and counts.
  const auto lines = audit_lines();
  ASSERT_EQ(lines.size(), 7u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"list.load", "applied"},     {"list.load", "applied"},     {"list.delta", "applied"},
      {"list.rollback", "applied"}, {"list.rollback", "applied"}, {"list.delete", "applied"},
      {"list.delete", "not_found"}};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    simdjson::dom::parser ap;
    simdjson::dom::element a;
    ASSERT_EQ(ap.parse(lines[i]).get(a), simdjson::SUCCESS) << lines[i];
    EXPECT_EQ(str(a["who"]), "olga");
    EXPECT_EQ(str(a["role"]), "operator");
    EXPECT_EQ(str(a["action"]), expected[i].first) << lines[i];
    EXPECT_EQ(str(a["outcome"]), expected[i].second) << lines[i];
    EXPECT_EQ(str(a["list_id"]), "nl-test");
    EXPECT_FALSE(str(a["ts"]).empty());
    if (expected[i].second == "applied") {
      EXPECT_EQ(str(a["checksum"]).size(), expected[i].first == "list.delete" ? 0u : 16u)
          << lines[i];
      EXPECT_NE(num(a["seq"]), ~uint64_t{0});
      EXPECT_NE(num(a["entries"]), ~uint64_t{0});
    }
    EXPECT_NE(num(a["rows"]), ~uint64_t{0});
    EXPECT_NE(num(a["rejected"]), ~uint64_t{0});
    EXPECT_EQ(lines[i].find("\"P1\""), std::string::npos) << "a plate in the audit log";
  }
  // Each outcome follows the record of its request, written before the change was made.
  const auto all = audit_lines(true);
  ASSERT_EQ(all.size(), 2 * lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_NE(all[2 * i].find("\"action\":\"" + expected[i].first + ".requested\""),
              std::string::npos)
        << all[2 * i];
    EXPECT_EQ(all[2 * i + 1], lines[i]);
  }
  simdjson::dom::element first;
  ASSERT_EQ(p.parse(lines[0]).get(first), simdjson::SUCCESS);
  EXPECT_EQ(str(first["checksum"]), checksum1);
  EXPECT_EQ(num(first["rows"]), 2u);
}

TEST_F(ListsApi, RefusedLoadIs422WithTheReportAndKeepsTheActiveVersion) {
  ASSERT_EQ(put_list("plate,reference\nP1,v1\n")->status, 200);
  auto r = put_list("plate,plate_country,reference\nP1,,v2\nAAAAAA,NL,x\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  simdjson::dom::parser p;
  auto doc = json(p, r);
  EXPECT_EQ(str(doc["error"]), "refused");
  EXPECT_EQ(num(doc["report"]["rejected"]), 1u);
  EXPECT_EQ(str(doc["report"]["rejected_rows"].at(0)["reason"]), "plate_format");
  EXPECT_EQ(num(doc["report"]["rejected_rows"].at(0)["line"]), 3u);
  EXPECT_EQ(str(doc["report"]["rejected_rows"].at(0)["column"]), "plate");
  EXPECT_EQ(refs("P1"), std::vector<std::string>{"v1"});
  const auto lines = audit_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("\"outcome\":\"refused\""), std::string::npos) << lines[1];
}

// A change whose audit record cannot be written is not made.
TEST_F(ListsApi, NoChangeWhenTheAuditLogCannotBeWritten) {
  http::AuditLog full("/dev/full");  // every write fails: no space left
  http::TokenStore t;
  t.add({"olga", http::Role::operator_, "*"}, http::sha256_hex("op-token"));
  http::Server other(http::ServerOptions{}, std::move(t));
  add_list_routes(other, full, *registry);
  other.start();
  httplib::Client c("127.0.0.1", other.port());
  httplib::MultipartFormDataItems items = {{"sidecar", kSidecar, "list.toml", "application/toml"},
                                           {"rows", "plate,reference\nP7,r7\n", "list.csv", ""}};
  auto r = c.Put("/api/v1/lists/nl-test", bearer(), items);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_TRUE(refs("P7").empty()) << "the list was loaded without an audit record";
  other.stop();
}

TEST_F(ListsApi, ValidateIsADryRun) {
  httplib::MultipartFormDataItems items = {{"sidecar", kSidecar, "l.toml", ""},
                                           {"rows", "plate,reference\nP1,r\n!!,x\n", "l.csv", ""}};
  auto r = client->Post("/api/v1/lists/nl-test/validate", bearer(), items);
  ASSERT_EQ(r->status, 200) << r->body;
  simdjson::dom::parser p;
  auto doc = json(p, r);
  EXPECT_EQ(num(doc["report"]["rejected"]), 1u);
  bool over = false;
  EXPECT_EQ(doc["report"]["over_threshold"].get_bool().get(over), simdjson::SUCCESS);
  EXPECT_TRUE(over);
  EXPECT_TRUE(registry->lists().empty());
  EXPECT_TRUE(audit_lines().empty());
}

TEST_F(ListsApi, MalformedAndHostileRequests) {
  simdjson::dom::parser p;
  // Not multipart.
  auto r = client->Put("/api/v1/lists/nl-test", bearer(), "plate,reference\nP1,r\n", "text/csv");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(str(json(p, r)["error"]), "bad_request");
  // A part missing.
  httplib::MultipartFormDataItems only_rows = {{"rows", "plate,reference\nP1,r\n", "l.csv", ""}};
  r = client->Put("/api/v1/lists/nl-test", bearer(), only_rows);
  EXPECT_EQ(r->status, 400);
  // A broken multipart body.
  r = client->Put("/api/v1/lists/nl-test", bearer(), "--xyz\r\nContent-Disposition: form-da",
                  "multipart/form-data; boundary=xyz");
  EXPECT_EQ(r->status, 400);
  // Unusable sidecar: 400 invalid_list with the report's fatal problem.
  r = put_list("plate,reference\nP1,r\n", "nl-test", "id = \"nl-test\"\n[table]\n");
  EXPECT_EQ(r->status, 400);
  auto doc = json(p, r);
  EXPECT_EQ(str(doc["error"]), "invalid_list");
  EXPECT_FALSE(doc["report"]["fatal"].is_null());
  // The sidecar names another list.
  r = put_list("plate,reference\nP1,r\n", "other-list");
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(str(json(p, r)["error"]), "id_mismatch");
  // Not a list id in the path; ids that would name a folder outside the state folder.
  r = client->Get("/api/v1/lists/BAD%20ID", bearer());
  EXPECT_EQ(r->status, 404);
  for (const char* id : {"..", ".", ".hidden"}) {
    r = put_list("plate,reference\nP1,r\n", id,
                 std::string("id = \"") + id + "\"\nowner_country = \"NL\"\ncategory = \"suspect\"\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << id;
  }
  r = put_list("plate,reference\nP1,r\n", "x..",
               "id = \"..\"\nowner_country = \"NL\"\ncategory = \"suspect\"\n");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(str(json(p, r)["error"]), "invalid_list");
  EXPECT_FALSE(fs::exists(dir / "versions.json"));
  EXPECT_TRUE(registry->lists().empty());
  // Oversized body: 413 before the handler.
  r = put_list("plate,reference\n" + std::string(70 * 1024, 'x'));
  EXPECT_EQ(r->status, 413);
  // Rollback bodies.
  ASSERT_EQ(put_list("plate,reference\nP1,v1\n")->status, 200);
  for (const char* body : {"{\"to\":\"one\"}", "[1]", "{\"to\":0}", "{\"from\":1}", "{"}) {
    r = client->Post("/api/v1/lists/nl-test/rollback", bearer(), body, "application/json");
    EXPECT_EQ(r->status, 400) << body;
  }
  r = client->Post("/api/v1/lists/nl-test/rollback", bearer(), "", "application/json");
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(str(json(p, r)["error"]), "conflict");
  r = client->Post("/api/v1/lists/nope/rollback", bearer(), "", "application/json");
  EXPECT_EQ(r->status, 404);
  // Delta without parts, and on an unknown list.
  httplib::MultipartFormDataItems nothing = {{"other", "x", "x.csv", ""}};
  r = client->Post("/api/v1/lists/nl-test/delta", bearer(), nothing);
  EXPECT_EQ(r->status, 400);
  httplib::MultipartFormDataItems add = {{"add", "plate,reference\nP2,r\n", "a.csv", ""}};
  r = client->Post("/api/v1/lists/nope/delta", bearer(), add);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(refs("P1"), std::vector<std::string>{"v1"});
}

TEST_F(ListsApi, ReadOnlyInstanceRefusesChanges) {
  http::TokenStore t;
  t.add({"olga", http::Role::operator_, "*"}, http::sha256_hex("op-token"));
  http::Server ro(http::ServerOptions{}, std::move(t));
  add_list_routes(ro, *audit, *registry, /*read_only=*/true);
  ro.start();
  httplib::Client c("127.0.0.1", ro.port());
  httplib::MultipartFormDataItems items = {{"sidecar", kSidecar, "l.toml", ""},
                                           {"rows", "plate,reference\nP1,r\n", "l.csv", ""}};
  auto r = c.Put("/api/v1/lists/nl-test", bearer(), items);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("read_only"), std::string::npos);
  EXPECT_EQ(c.Get("/api/v1/lists", bearer())->status, 200);
  ro.stop();
}

// ---- the command line ----

using testing::CmdRun;
CmdRun anpr(const std::string& args, const fs::path& dir, const std::string& env = "") {
  return testing::run_anpr(args, dir, env);
}

TEST_F(ListsApi, CommandLineValidateLoadDeltaShowRollbackDelete) {
  std::ofstream(dir / "good.csv") << "plate,reference\nP1,v1\nP2,v1\n";
  std::ofstream(dir / "good.toml") << kSidecar;
  std::ofstream(dir / "bad.jsonl") << "{\"plate\":\"P1\",\"reference\":\"v2\"}\n{\"plate\":1}\n";
  std::ofstream(dir / "bad.toml") << kSidecar;
  std::ofstream(dir / "add.csv") << "plate,reference\nP3,d\n";
  std::ofstream(dir / "rm.csv") << "plate\nP2\n";

  CmdRun v = anpr("lists validate " + (dir / "good.csv").string(), dir);
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("2 rows, 2 accepted, 0 rejected"), std::string::npos) << v.out;
  v = anpr("lists validate " + (dir / "bad.jsonl").string() + " --json", dir);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.out.find("\"reason\":\"field_type\""), std::string::npos) << v.out;
  v = anpr("lists validate " + (dir / "missing.csv").string(), dir);
  EXPECT_EQ(v.exit_code, 2) << "a file that cannot be read is a usage error (README.md)";
  v = anpr("lists validate", dir);
  EXPECT_EQ(v.exit_code, 2);

  const std::string srv = " --server http://127.0.0.1:" + std::to_string(server->port());
  std::ofstream(dir / "op.token") << "op-token\n";
  std::ofstream(dir / "wrong.token") << "wrong\n";
  CmdRun r = anpr("lists load " + (dir / "good.csv").string() + srv + " --token-file " + (dir / "op.token").string(), dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(refs("P1"), std::vector<std::string>{"v1"});
  // No token, a wrong token: 2; a refused load exits 1 and prints the rejected rows.
  r = anpr("lists load " + (dir / "bad.jsonl").string() + srv, dir);
  EXPECT_EQ(r.exit_code, 2) << "no token: " << r.err;
  r = anpr("lists load " + (dir / "good.csv").string() + srv + " --token-file " + (dir / "wrong.token").string(), dir);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = anpr("lists load " + (dir / "bad.jsonl").string() + srv + " --token-file " + (dir / "op.token").string(), dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.jsonl:2: plate: field_type"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  r = anpr("lists delta nl-test --add " + (dir / "add.csv").string() + " --remove " +
               (dir / "rm.csv").string() + srv + " --token-file " + (dir / "op.token").string(),
           dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(refs("P3"), std::vector<std::string>{"d"});
  EXPECT_TRUE(refs("P2").empty());
  r = anpr("lists show" + srv + " --token-file " + (dir / "op.token").string(), dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("nl-test  active  version 2"), std::string::npos) << r.out;
  r = anpr("lists show nl-test --json" + srv + " --token-file " + (dir / "op.token").string(), dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"versions\":["), std::string::npos) << r.out;
  r = anpr("lists show" + srv, dir, "ANPR_TOKEN=op-token");  // the token from the environment
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = anpr("lists rollback nl-test" + srv + " --token-file " + (dir / "op.token").string(), dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(refs("P2"), std::vector<std::string>{"v1"});
  r = anpr("lists delete nl-test" + srv + " --token-file " + (dir / "op.token").string(), dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(refs("P1").empty());
  r = anpr("lists show nope" + srv + " --token-file " + (dir / "op.token").string(), dir);
  EXPECT_EQ(r.exit_code, 1);
  r = anpr("lists show --server http://127.0.0.1:1 --token-file " + (dir / "op.token").string(),
           dir);
  EXPECT_EQ(r.exit_code, 3);
  // A token is never taken from the command line, where ps and the shell history show it.
  r = anpr("lists show" + srv + " --token op-token", dir);
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace anpr::app

namespace anpr::app {
namespace {

// Covert lists (docs/operators.md, "Covert lists"): operators manage them and see them, with
// their rooms; no other role lists them; the mark survives a restart from state.dir.
TEST_F(ListsApi, ACovertListIsShownToOperatorsOnlyAndKeepsItsMarkAcrossARestart) {
  const std::string sidecar = std::string(kSidecar) + "covert = true\nrooms = [\"R-SECRET\"]\n";
  auto r = put_list("plate,reference\nP1,v1\n", "nl-test", sidecar);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  simdjson::dom::parser p;
  r = client->Get("/api/v1/lists", bearer());
  ASSERT_EQ(r->status, 200);
  auto e = json(p, r);
  bool covert = false;
  ASSERT_EQ(e["lists"].at(0)["covert"].get(covert), simdjson::SUCCESS) << r->body;
  EXPECT_TRUE(covert);
  EXPECT_EQ(str(e["lists"].at(0)["rooms"].at(0)), "R-SECRET");
  for (const char* token : {"cr-token", "eng-token"}) {
    for (const char* path : {"/api/v1/lists", "/api/v1/lists/nl-test"}) {
      r = client->Get(path, bearer(token));
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 403) << token << " " << path;
      EXPECT_EQ(r->body.find("nl-test"), std::string::npos) << r->body;
    }
  }
  // A delta keeps the mark; so does a restart that reads the versions back from state.dir.
  httplib::MultipartFormDataItems items = {{"add", "plate,reference\nP2,v2\n", "d.csv", ""}};
  r = client->Post("/api/v1/lists/nl-test/delta", bearer(), items);
  ASSERT_EQ(r->status, 200) << r->body;
  LiveIndex live2;
  lists::Policy pol;
  pol.countries = config::default_country_policies();
  lists::Registry again(live2, pol, dir / "lists");
  std::ostringstream restore_log;
  ASSERT_EQ(again.restore(restore_log), 1u) << restore_log.str();
  const auto views = again.lists();
  ASSERT_EQ(views.size(), 1u);
  ASSERT_TRUE(views[0].meta);
  EXPECT_TRUE(views[0].meta->covert);
  EXPECT_EQ(views[0].meta->rooms, std::vector<std::string>{"R-SECRET"});
  EXPECT_TRUE(live2.read()->list(0).covert) << "the index the matcher uses carries it";
}

}  // namespace
}  // namespace anpr::app
