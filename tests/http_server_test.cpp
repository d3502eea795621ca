// The HTTP server's authentication, roles, limits and error bodies (http/server.h), the token
// store (http/auth.h) and the audit log (http/audit.h).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <httplib.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/settings.h"
#include "http/audit.h"
#include "http/auth.h"
#include "http/server.h"

namespace anpr::http {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(NewToken, LongRandomAndUrlSafe) {
  const std::string a = new_token(), b = new_token();
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, b);
  for (char c : a) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
}

TEST(TokenStore, AuthenticatesOnlyWellFormedBearerHeadersOfKnownTokens) {
  TokenStore t;
  t.add({"alice", Role::operator_, "*"}, sha256_hex("secret-1"));
  ASSERT_TRUE(t.authenticate("Bearer secret-1"));
  EXPECT_EQ(t.authenticate("Bearer secret-1")->name, "alice");
  EXPECT_TRUE(t.authenticate("bearer secret-1"));  // the scheme is case-insensitive
  EXPECT_FALSE(t.authenticate(""));
  EXPECT_FALSE(t.authenticate("Bearer "));
  EXPECT_FALSE(t.authenticate("Bearer secret-2"));
  EXPECT_FALSE(t.authenticate("Basic secret-1"));
  EXPECT_FALSE(t.authenticate("Bearersecret-1"));
  EXPECT_FALSE(t.authenticate("secret-1"));
  EXPECT_FALSE(t.authenticate("Bearer " + std::string(5000, 'x')));
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TokenStore t;
    t.add({"olga", Role::operator_, "*"}, sha256_hex("op-token"));
    t.add({"carl", Role::controlroom, "Driebergen"}, sha256_hex("cr-token"));
    ServerOptions o;
    o.max_body_bytes = 4096;
    server = std::make_unique<Server>(o, std::move(t));
    server->post("/api/v1/things", roles(Role::operator_),
                 [](const Request& req, Response& res, const Principal& who) {
                   if (req.body == "bad") throw BadRequest("the body is bad");
                   if (req.body == "boom") throw std::runtime_error("internal detail");
                   send_json(res, 201, "{\"by\":\"" + who.name + "\"}");
                 });
    server->get("/api/v1/things", Role::operator_ | Role::controlroom,
                [](const Request&, Response& res, const Principal& who) {
                  send_json(res, 200, "{\"room\":\"" + who.control_room + "\"}");
                });
    server->get_public("/healthz", [](const Request&, Response& res) {
      res.set_content("ok", "text/plain");
    });
    server->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
  }

  static httplib::Headers bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }
  static std::string error_of(const httplib::Result& r) {
    simdjson::dom::parser p;
    auto doc = p.parse(r->body);
    std::string_view e;
    if (doc["error"].get(e)) return "<not json: " + r->body + ">";
    std::string_view d;
    EXPECT_FALSE(doc["detail"].get(d));
    EXPECT_FALSE(d.empty());
    return std::string(e);
  }

  std::unique_ptr<Server> server;
  std::unique_ptr<httplib::Client> client;
};

TEST_F(ServerTest, MissingTokenIs401WithChallenge) {
  auto r = client->Get("/api/v1/things");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"anpr\"");
  EXPECT_EQ(error_of(r), "unauthorized");
}

TEST_F(ServerTest, WrongTokenIs401) {
  auto r = client->Post("/api/v1/things", bearer("nope"), "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(error_of(r), "unauthorized");
}

TEST_F(ServerTest, WrongRoleIs403AndNamesTheRoleNeeded) {
  auto r = client->Post("/api/v1/things", bearer("cr-token"), "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(error_of(r), "forbidden");
  EXPECT_NE(r->body.find("needs operator"), std::string::npos) << r->body;
}

TEST_F(ServerTest, RightRoleReachesTheHandlerWithItsPrincipal) {
  auto r = client->Post("/api/v1/things", bearer("op-token"), "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{\"by\":\"olga\"}");
  r = client->Get("/api/v1/things", bearer("cr-token"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"room\":\"Driebergen\"}");
}

TEST_F(ServerTest, OversizedBodyIs413) {
  auto r = client->Post("/api/v1/things", bearer("op-token"), std::string(5000, 'x'),
                        "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(error_of(r), "payload_too_large");
}

TEST_F(ServerTest, BadRequestIs400WithTheMessage) {
  auto r = client->Post("/api/v1/things", bearer("op-token"), "bad", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r), "bad_request");
  EXPECT_NE(r->body.find("the body is bad"), std::string::npos);
}

TEST_F(ServerTest, HandlerFailureIs500WithoutInternalDetail) {
  auto r = client->Post("/api/v1/things", bearer("op-token"), "boom", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(error_of(r), "internal_error");
  EXPECT_EQ(r->body.find("internal detail"), std::string::npos);
}

TEST_F(ServerTest, UnknownPathIs404Json) {
  auto r = client->Get("/api/v1/nothing-here", bearer("op-token"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "not_found");
}

TEST_F(ServerTest, PublicRouteNeedsNoToken) {
  auto r = client->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
}

TEST(ServerStart, BusyPortIsAClearError) {
  ServerOptions o;
  Server a(o, TokenStore{});
  a.start();
  o.listen = "127.0.0.1:" + std::to_string(a.port());
  Server b(o, TokenStore{});
  try {
    b.start();
    FAIL() << "a second server bound the same port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:"), std::string::npos);
  }
}

TEST(AuditLog, AppendsOneJsonObjectPerRecord) {
  const auto dir = std::filesystem::temp_directory_path() / ("anpr-audit-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    AuditLog log(dir / "sub" / "audit.jsonl");
    log.record("olga", "operator", "list.load", [](JsonWriter& w) {
      w.field("list_id", "nl-stolen");
      w.field("rows", uint64_t{3});
    });
    log.record("carl", "controlroom", "hit.ack\"quote");
  }
  std::ifstream in(dir / "sub" / "audit.jsonl");
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  simdjson::dom::parser p;
  auto doc = p.parse(lines[0]);
  EXPECT_EQ(std::string_view(doc["who"]), "olga");
  EXPECT_EQ(std::string_view(doc["action"]), "list.load");
  EXPECT_EQ(uint64_t(doc["rows"]), 3u);
  EXPECT_EQ(std::string_view(doc["ts"]).size(), 24u);
  auto doc2 = p.parse(lines[1]);
  EXPECT_EQ(std::string_view(doc2["action"]), "hit.ack\"quote");
  EXPECT_EQ(std::filesystem::status(dir / "sub" / "audit.jsonl").permissions() &
                std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  std::filesystem::remove_all(dir);
}

TEST(AuditLog, UnwritablePlaceIsAClearError) {
  EXPECT_THROW(AuditLog("/proc/no-such-dir/audit.jsonl"), std::runtime_error);
}

TEST(HttpSettings, TokensAreParsedAndValidated) {
  const std::string hash(64, 'a');
  auto s = config::parse_settings(
      "[cameras]\nregistry = \"c.csv\"\n[http]\nlisten = \"127.0.0.1:8080\"\n"
      "[http.tokens.alice]\nrole = \"operator\"\nsha256 = \"" + hash + "\"\n",
      "t.toml", "/tmp");
  ASSERT_EQ(s.http.tokens.size(), 1u);
  EXPECT_EQ(s.http.tokens[0].name, "alice");
  EXPECT_EQ(s.http.tokens[0].control_room, "*");
  EXPECT_EQ(s.state_dir, std::filesystem::path("/tmp/state"));
  const auto error_of = [](const std::string& toml) -> std::string {
    try {
      config::parse_settings("[cameras]\nregistry = \"c.csv\"\n" + toml, "t.toml", "/tmp");
    } catch (const config::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of("[http.tokens.bob]\nrole = \"admin\"\nsha256 = \"" + hash + "\"\n")
                .find("t.toml:4: http.tokens.bob.role: expected one of"),
            std::string::npos);
  EXPECT_NE(error_of("[http.tokens.bob]\nrole = \"operator\"\nsha256 = \"ABC\"\n")
                .find("http.tokens.bob.sha256: expected 64 lower-case hex digits"),
            std::string::npos);
  EXPECT_NE(error_of("[http.tokens.bob]\nrole = \"operator\"\n").find("(the key is required)"),
            std::string::npos);
  EXPECT_NE(error_of("[http.tokens.a]\nrole = \"operator\"\nsha256 = \"" + hash +
                     "\"\n[http.tokens.b]\nrole = \"engineer\"\nsha256 = \"" + hash + "\"\n")
                .find("a token of its own"),
            std::string::npos);
  EXPECT_NE(error_of("[http.tokens.cr]\nrole = \"controlroom\"\nsha256 = \"" + hash + "\"\n")
                .find("http.tokens.cr.control_room: expected the control room"),
            std::string::npos);
  EXPECT_NE(error_of("[http]\nlisten = \"8080\"\n").find("http.listen: expected"),
            std::string::npos);
  EXPECT_NE(error_of("[http]\nlisten = \"h:99999\"\n").find("http.listen: expected"),
            std::string::npos);
  EXPECT_NE(error_of("[http]\ntls_cert = \"c.pem\"\n").find("together"), std::string::npos);
  EXPECT_NE(error_of("[http.tokens.\"a b\"]\nrole = \"operator\"\nsha256 = \"" + hash + "\"\n")
                .find("expected a token name"),
            std::string::npos);
}

}  // namespace
}  // namespace anpr::http

namespace anpr::http {
namespace {

TEST(ServerTls, ServesHttpsWithTheConfiguredCertificate) {
  const auto dir = std::filesystem::temp_directory_path() / ("anpr-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " +
                         cert + " -days 1 -subj /CN=localhost 2>/dev/null")
                            .c_str()),
            0);
  ServerOptions o;
  o.tls_cert = cert;
  o.tls_key = key;
  TokenStore t;
  t.add({"eve", Role::engineer, "*"}, sha256_hex("eng"));
  Server s(o, std::move(t));
  s.get("/api/v1/x", roles(Role::engineer),
        [](const Request&, Response& res, const Principal&) {
          send_json(res, 200, "{}");
        });
  s.start();
  EXPECT_TRUE(s.tls());
  httplib::SSLClient c("127.0.0.1", s.port());
  c.enable_server_certificate_verification(false);
  auto r = c.Get("/api/v1/x", httplib::Headers{{"Authorization", "Bearer eng"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // Plain HTTP on the HTTPS port gets nothing useful.
  httplib::Client plain("127.0.0.1", s.port());
  plain.set_read_timeout(2, 0);
  auto p = plain.Get("/api/v1/x");
  EXPECT_TRUE(!p || p->status != 200);
  s.stop();
  // A missing or mismatched certificate is a clear error at start.
  ServerOptions bad = o;
  bad.tls_cert = dir / "missing.pem";
  EXPECT_THROW(Server(bad, TokenStore{}), std::runtime_error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace anpr::http

namespace anpr::http {
namespace {

// Sends a request line and headers only (no body) on a raw connection and returns the status
// line of the answer, or "" when none came within 5 s: the server must decide from the headers.
std::string status_for_headers(int port, const std::string& head) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  std::string got;
  char buf[4096];
  ssize_t n;
  while (got.find("\r\n") == std::string::npos && (n = ::recv(fd, buf, sizeof buf, 0)) > 0)
    got.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return got.substr(0, got.find("\r\n"));
}

class EarlyRefusal : public ::testing::Test {
 protected:
  void SetUp() override {
    TokenStore t;
    t.add({"olga", Role::operator_, "*"}, sha256_hex("op-token"));
    t.add({"carl", Role::controlroom, "R1"}, sha256_hex("cr-token"));
    ServerOptions o;
    o.max_body_bytes = std::size_t{64} << 20;
    server = std::make_unique<Server>(o, std::move(t));
    const auto ok = [](const Request& req, Response& res, const Principal&) {
      send_json(res, 200, "{\"bytes\":" + std::to_string(req.body.size()) + "}");
    };
    server->put("/api/v1/big", roles(Role::operator_), ok, kLargeBody);
    server->post("/api/v1/small", roles(Role::operator_), ok);
    server->start();
  }
  std::string head(const std::string& method, const std::string& path, const std::string& extra) {
    return method + " " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
  }
  std::unique_ptr<Server> server;
};

TEST_F(EarlyRefusal, UnauthenticatedLargeBodyIsRefusedBeforeItIsRead) {
  const std::string big = "Content-Length: 60000000\r\n";
  EXPECT_EQ(status_for_headers(server->port(), head("PUT", "/api/v1/big", big)),
            "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(status_for_headers(server->port(),
                               head("PUT", "/api/v1/big", big + "Authorization: Bearer nope\r\n")),
            "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(status_for_headers(server->port(), head("PUT", "/api/v1/big",
                                                    big + "Authorization: Bearer cr-token\r\n")),
            "HTTP/1.1 403 Forbidden");
}

TEST_F(EarlyRefusal, LargeBodyToNoRouteIs404BeforeItIsRead) {
  EXPECT_EQ(status_for_headers(server->port(),
                               head("POST", "/api/v1/nothing", "Content-Length: 60000000\r\n")),
            "HTTP/1.1 404 Not Found");
}

TEST_F(EarlyRefusal, BodyLimitsArePerRoute) {
  const std::string op = "Authorization: Bearer op-token\r\n";
  // Far over the limit: refused from the headers, unread.
  EXPECT_EQ(status_for_headers(server->port(), head("POST", "/api/v1/small",
                                                    op + "Content-Length: 20000000\r\n")),
            "HTTP/1.1 413 Payload Too Large");
  // Somewhat over it: read and dropped, then refused, so an ordinary client gets the answer.
  httplib::Client small("127.0.0.1", server->port());
  auto over = small.Post("/api/v1/small", httplib::Headers{{"Authorization", "Bearer op-token"}},
                         std::string(2 << 20, 'x'), "text/plain");
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 413);
  EXPECT_EQ(status_for_headers(server->port(), head("PUT", "/api/v1/big",
                                                    op + "Content-Length: 70000000\r\n")),
            "HTTP/1.1 413 Payload Too Large");
  EXPECT_EQ(status_for_headers(server->port(), head("POST", "/api/v1/small",
                                                    op + "Transfer-Encoding: chunked\r\n")),
            "HTTP/1.1 411 Length Required");
  EXPECT_EQ(status_for_headers(server->port(), head("POST", "/api/v1/small",
                                                    op + "Content-Length: 12x\r\n")),
            "HTTP/1.1 400 Bad Request");
  // A large body within the route's limit is accepted.
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Put("/api/v1/big", httplib::Headers{{"Authorization", "Bearer op-token"}},
                 std::string(3 << 20, 'x'), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"bytes\":3145728}");
}

TEST_F(EarlyRefusal, SmallBodyWithoutTokenGetsTheAnswerAfterSendingIt) {
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Post("/api/v1/small", std::string(500000, 'x'), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

}  // namespace
}  // namespace anpr::http
