// Every endpoint of the HTTP API, as `anpr run` assembles them: a missing or wrong token gets
// 401, every other role 403, a malformed body 400 with a message, an oversized body 413. The
// table below must name every authenticated route the server has, so a new endpoint cannot be
// added without being checked here.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <set>

#include "serve/control_room.h"
#include "serve/http_service.h"
#include "serve/lists_api.h"
#include "serve/search_api.h"
#include "serve/yield_api.h"
#include "http/auth.h"
#include "lists/registry.h"
#include "store/store.h"
#include "tests/temp_dir.h"

namespace anpr::app {
namespace {

namespace fs = std::filesystem;
using http::Role;

struct Endpoint {
  std::string method;
  std::string pattern;  // as registered
  std::string path;     // a concrete path
  Role role;            // the role it admits (every one admits exactly one, but /me)
  bool any_role = false;
  std::string malformed;  // a body it must answer 400 to ("" = takes no body)
  std::string content_type = "application/json";
  std::optional<Role> also;  // a second role it admits
};

const std::vector<Endpoint>& endpoints() {
  static const std::vector<Endpoint> all = {
      {"GET", "/api/v1/me", "/api/v1/me", Role::engineer, true},
      {"GET", "/api/v1/hits/stream", "/api/v1/hits/stream", Role::controlroom},
      {"POST", R"(/api/v1/hits/([0-9a-f]{1,64})/ack)", "/api/v1/hits/abc/ack", Role::controlroom,
       false, "{not json"},
      {"POST", R"(/api/v1/hits/([0-9a-f]{1,64})/disposition)", "/api/v1/hits/abc/disposition",
       Role::controlroom, false, "{\"disposition\":"},
      {"POST", R"(/api/v1/hits/([0-9a-f]{1,64})/outcome)", "/api/v1/hits/abc/outcome",
       Role::controlroom, false, "[\"intercepted\"]"},
      {"GET", "/api/v1/followup/codes", "/api/v1/followup/codes", Role::controlroom},
      {"GET", "/api/v1/lists", "/api/v1/lists", Role::operator_},
      {"GET", "/api/v1/lists/yield", "/api/v1/lists/yield", Role::operator_, false, "",
       "application/json", Role::engineer},
      {"GET", "/api/v1/cameras/yield", "/api/v1/cameras/yield", Role::engineer},
      {"GET", "", "/api/v1/lists/nl-x", Role::operator_},
      {"PUT", "", "/api/v1/lists/nl-x", Role::operator_, false, "not multipart", "text/plain"},
      {"POST", "/validate", "/api/v1/lists/nl-x/validate", Role::operator_, false,
       "not multipart", "text/plain"},
      {"POST", "/delta", "/api/v1/lists/nl-x/delta", Role::operator_, false, "not multipart",
       "text/plain"},
      {"POST", "/rollback", "/api/v1/lists/nl-x/rollback", Role::operator_, false, "[1,2"},
      {"DELETE", "", "/api/v1/lists/nl-x", Role::operator_},
      {"POST", "/api/v1/search", "/api/v1/search", Role::investigator, false, "{\"plate\":"},
      {"POST", "/api/v1/authorisations", "/api/v1/authorisations", Role::investigator, false,
       "{\"country\":"},
      {"GET", "/api/v1/authorisations", "/api/v1/authorisations", Role::investigator},
      {"GET", "", "/api/v1/authorisations/az-0123456789abcdef", Role::investigator},
      {"DELETE", "", "/api/v1/authorisations/az-0123456789abcdef", Role::investigator},
  };
  return all;
}

const std::map<Role, std::string> kTokens = {{Role::operator_, "op-token"},
                                             {Role::controlroom, "cr-token"},
                                             {Role::investigator, "inv-token"},
                                             {Role::engineer, "eng-token"}};

class ApiContract : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    std::string toml = "[cameras]\nregistry = \"c.csv\"\n[state]\ndir = \"" + dir_.string() +
                       "\"\n[kafka]\nbrokers = \"127.0.0.1:1\"\n[http]\nlisten = "
                       "\"127.0.0.1:0\"\nmax_body_bytes = 2097152\n";
    for (const auto& [role, token] : kTokens)
      toml += "[http.tokens." + token + "]\nrole = \"" + std::string(http::role_name(role)) +
              "\"\nsha256 = \"" + http::sha256_hex(token) + "\"\n" +
              (role == Role::controlroom ? "control_room = \"*\"\n" : "");
    settings_ = config::parse_settings(toml, "t.toml", dir_);
    store::Options o;
    o.dir = dir_ / "retention";
    store_ = std::make_unique<store::Store>(o, settings_.retention.policies);
    lists::Policy p;
    p.countries = settings_.countries;
    registry_ = std::make_unique<lists::Registry>(index_, p, dir_ / "lists");
    http_ = std::make_unique<HttpService>(settings_);
    room_ = std::make_unique<ControlRoom>(settings_, *http_);
    yield_ = std::make_unique<YieldBook>(YieldBook::Limits{}, default_yield_codes());
    add_yield_routes(http_->server(), *yield_);
    add_search_routes(*http_, *store_);
    add_list_routes(*http_, *registry_);
    http_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", http_->server().port());
    client_->set_read_timeout(10, 0);
  }
  void TearDown() override {
    client_.reset();
    room_->stop();
    http_->stop();
  }

  httplib::Result call(const Endpoint& e, const httplib::Headers& h, const std::string& body,
                       const std::string& type) {
    if (e.method == "GET") return client_->Get(e.path, h);
    if (e.method == "DELETE") return client_->Delete(e.path, h, body, type);
    if (e.method == "PUT") return client_->Put(e.path, h, body, type);
    return client_->Post(e.path, h, body, type);
  }
  static httplib::Headers bearer(const std::string& t) { return {{"Authorization", "Bearer " + t}}; }

  testing::TempDir tmp_{"api"};  // first: removed last
  fs::path dir_;
  config::Settings settings_;
  LiveIndex index_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<lists::Registry> registry_;
  std::unique_ptr<HttpService> http_;
  std::unique_ptr<ControlRoom> room_;
  std::unique_ptr<YieldBook> yield_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ApiContract, TheTableNamesEveryAuthenticatedRoute) {
  std::set<std::string> listed;
  for (const Endpoint& e : endpoints()) listed.insert(e.method + " " + e.path);
  std::size_t checked = 0;
  for (const auto& r : http_->server().routes()) {
    if (r.roles == 0 || r.method == "HEAD") continue;
    // Find a listed path the route's pattern matches.
    bool found = false;
    for (const Endpoint& e : endpoints())
      found = found || (e.method == r.method && std::regex_match(e.path, std::regex(r.pattern)));
    EXPECT_TRUE(found) << r.method << " " << r.pattern << " is not in the table of endpoints";
    ++checked;
  }
  EXPECT_GE(checked, endpoints().size());
}

TEST_F(ApiContract, MissingOrWrongTokenIs401) {
  for (const Endpoint& e : endpoints()) {
    SCOPED_TRACE(e.method + " " + e.path);
    for (const httplib::Headers& h :
         {httplib::Headers{}, bearer("wrong"), httplib::Headers{{"Authorization", "op-token"}},
          httplib::Headers{{"Authorization", "Basic b3AtdG9rZW46"}}}) {
      auto r = call(e, h, e.malformed.empty() ? "" : "{}", e.content_type);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401);
      EXPECT_NE(r->body.find("\"error\":\"unauthorized\""), std::string::npos) << r->body;
    }
  }
}

TEST_F(ApiContract, OtherRolesAre403) {
  for (const Endpoint& e : endpoints()) {
    if (e.any_role) continue;
    for (const auto& [role, token] : kTokens) {
      if (role == e.role || role == e.also) continue;
      SCOPED_TRACE(e.method + " " + e.path + " as " + std::string(http::role_name(role)));
      auto r = call(e, bearer(token), e.malformed.empty() ? "" : "{}", e.content_type);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 403);
      EXPECT_NE(r->body.find("\"error\":\"forbidden\""), std::string::npos) << r->body;
    }
  }
}

TEST_F(ApiContract, MalformedBodiesAre400WithAMessage) {
  for (const Endpoint& e : endpoints()) {
    if (e.malformed.empty()) continue;
    SCOPED_TRACE(e.method + " " + e.path);
    auto r = call(e, bearer(kTokens.at(e.role)), e.malformed, e.content_type);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    ASSERT_FALSE(p.parse(r->body).get(doc)) << r->body;
    std::string_view detail;
    ASSERT_FALSE(doc["detail"].get(detail)) << r->body;
    EXPECT_FALSE(detail.empty());
  }
}

TEST_F(ApiContract, OversizedBodiesAre413) {
  for (const Endpoint& e : endpoints()) {
    if (e.malformed.empty()) continue;
    SCOPED_TRACE(e.method + " " + e.path);
    // Over the route's own limit: 1 MiB, or http.max_body_bytes (2 MiB here) for uploads.
    auto r = call(e, bearer(kTokens.at(e.role)), std::string((2 << 20) + 1, 'x'), e.content_type);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_NE(r->body.find("\"error\":\"payload_too_large\""), std::string::npos) << r->body;
  }
  // The small-body routes refuse more than 1 MiB even though uploads may be larger.
  const Endpoint& ack = endpoints()[2];
  auto r = call(ack, bearer("cr-token"), std::string((1 << 20) + 1, 'x'), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

}  // namespace
}  // namespace anpr::app
