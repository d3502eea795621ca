// The HTTP server's edge (http/server.h, docs/design.md §6) against hostile clients, on loopback
// with raw sockets: compressed bodies and ambiguous framing refused unread, the header deadline,
// the connection limits per client, the stream slots, TLS ciphers and HSTS, the /metrics token
// and the memory a client without a token can make the server hold.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "config/settings.h"
#include "http/server.h"
#include "serve/http_service.h"

namespace anpr::http {
namespace {

using namespace std::chrono_literals;

// A connection to the server on loopback, optionally from another loopback address.
int connect_to(int port, const char* from = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (from) {
    sockaddr_in b{};
    b.sin_family = AF_INET;
    ::inet_pton(AF_INET, from, &b.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&b), sizeof b) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// What the server sends until it closes the connection (or 10 s pass); `closed` says which.
std::string read_to_close(int fd, bool* closed = nullptr) {
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      got.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (closed) *closed = n == 0 || errno == ECONNRESET;
    return got;
  }
}

// The answer's status line, read up to its first line end.
std::string status_line(int fd) {
  std::string got;
  char c;
  while (got.find("\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) got += c;
  return got.substr(0, got.find("\r\n"));
}

// Resident memory of this process (which runs the server), in KiB.
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::string get(int port, const std::string& path, const char* from = nullptr) {
  const int fd = connect_to(port, from);
  if (fd < 0) return "<no connection>";
  send_all(fd, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string got = read_to_close(fd);
  ::close(fd);
  return got;
}

class HttpEdge : public ::testing::Test {
 protected:
  void start(ServerOptions o = {}) {
    TokenStore t;
    t.add({"olga", Role::operator_, "*"}, sha256_hex("op-token"));
    if (o.max_body_bytes == ServerOptions{}.max_body_bytes) o.max_body_bytes = 64 << 20;
    server = std::make_unique<Server>(o, std::move(t));
    const auto count = [this](const Request& req, Response& res, const Principal&) {
      bodies_read += req.body.size();
      send_json(res, 200, "{}");
    };
    server->post("/api/v1/small", roles(Role::operator_), count);
    server->put("/api/v1/big", roles(Role::operator_), count, kLargeBody);
    server->get_public("/healthz", [](const Request&, Response& res) {
      res.set_content("ok", "text/plain");
    });
    server->start();
    port = server->port();
  }
  void TearDown() override {
    if (server) server->stop();
  }
  std::unique_ptr<Server> server;
  int port = 0;
  std::atomic<std::size_t> bodies_read{0};
};

// About 1 GiB of zeros, gzip-compressed (about 1 MiB).
const std::string& gzip_bomb() {
  static const std::string bomb = [] {
    z_stream z{};
    deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
    std::string out;
    const std::string zeros(std::size_t{1} << 20, '\0');
    std::string buf(1 << 16, '\0');
    for (int i = 0; i < 1024; ++i) {
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
      z.avail_in = static_cast<uInt>(zeros.size());
      const int flush = i == 1023 ? Z_FINISH : Z_NO_FLUSH;
      do {
        z.next_out = reinterpret_cast<Bytef*>(buf.data());
        z.avail_out = static_cast<uInt>(buf.size());
        deflate(&z, flush);
        out.append(buf.data(), buf.size() - z.avail_out);
      } while (z.avail_out == 0);
    }
    deflateEnd(&z);
    return out;
  }();
  return bomb;
}

TEST_F(HttpEdge, GzipBombIs415WithAndWithoutATokenAndNeverInflated) {
  start();
  const std::string& bomb = gzip_bomb();
  ASSERT_LT(bomb.size(), std::size_t{4} << 20);
  const long before = rss_kib();
  for (const std::string auth : {"", "Authorization: Bearer op-token\r\n"}) {
    for (const std::string path : {"/api/v1/big", "/api/v1/small"}) {
      const int fd = connect_to(port);
      ASSERT_GE(fd, 0);
      const std::string method = path == "/api/v1/big" ? "PUT" : "POST";
      send_all(fd, method + " " + path + " HTTP/1.1\r\nHost: x\r\n" + auth +
                       "Content-Encoding: gzip\r\nContent-Type: text/csv\r\nContent-Length: " +
                       std::to_string(bomb.size()) + "\r\n\r\n");
      EXPECT_EQ(status_line(fd), "HTTP/1.1 415 Unsupported Media Type") << auth << path;
      send_all(fd, bomb);  // fails once the server has closed: it reads none of it
      ::close(fd);
    }
  }
  EXPECT_EQ(bodies_read.load(), 0u);
  EXPECT_LT(rss_kib() - before, 16 * 1024) << "KiB grown";
}

TEST_F(HttpEdge, AmbiguousFramingIs400AndClosedBeforeAnyBodyIsRead) {
  start();
  const std::string op = "Authorization: Bearer op-token\r\n";
  const struct {
    const char* what;
    std::string headers, detail;
  } cases[] = {
      {"CL+TE", op + "Content-Length: 100\r\nTransfer-Encoding: chunked\r\n",
       "Content-Length together with Transfer-Encoding"},
      {"TE+CL", op + "Transfer-Encoding: chunked\r\nContent-Length: 100\r\n",
       "Content-Length together with Transfer-Encoding"},
      {"two CL", op + "Content-Length: 100\r\nContent-Length: 100\r\n",
       "several Content-Length headers"},
      {"TE gzip, chunked", op + "Transfer-Encoding: gzip, chunked\r\n",
       "the only Transfer-Encoding accepted is chunked"},
      {"TE obs-fold", op + "Transfer-Encoding:\r\n chunked\r\n", "obs-fold"},
      {"no auth CL+TE", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
       "Content-Length together with Transfer-Encoding"},
  };
  // A chunked body far larger than the socket buffers: the server must close before it is sent.
  std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
  for (const auto& c : cases) {
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    send_all(fd, "PUT /api/v1/big HTTP/1.1\r\nHost: x\r\n" + c.headers + "\r\n");
    const std::string status = status_line(fd);
    EXPECT_EQ(status, "HTTP/1.1 400 Bad Request") << c.what;
    std::size_t sent = 0;
    const std::size_t total = std::size_t{256} << 20;
    while (sent < total && send_all(fd, chunk)) sent += chunk.size();
    EXPECT_LT(sent, total) << c.what << ": the server read the whole body";
    bool closed = false;
    const std::string rest = read_to_close(fd, &closed);
    EXPECT_TRUE(closed) << c.what;
    EXPECT_NE(rest.find(c.detail), std::string::npos) << c.what << ": " << rest;
    ::close(fd);
  }
  EXPECT_EQ(bodies_read.load(), 0u);
}

TEST_F(HttpEdge, OtherContentEncodingsAndIdentity) {
  start();
  const std::string op = "Authorization: Bearer op-token\r\n";
  for (const char* enc : {"deflate", "br", "identity, gzip", "x"}) {
    const int fd = connect_to(port);
    send_all(fd, "POST /api/v1/small HTTP/1.1\r\nHost: x\r\n" + op + "Content-Encoding: " + enc +
                     "\r\nContent-Length: 2\r\n\r\nab");
    EXPECT_EQ(status_line(fd), "HTTP/1.1 415 Unsupported Media Type") << enc;
    ::close(fd);
  }
  const int fd = connect_to(port);
  send_all(fd, "POST /api/v1/small HTTP/1.1\r\nHost: x\r\n" + op +
                   "Content-Encoding: identity\r\nContent-Length: 2\r\n\r\nab");
  EXPECT_EQ(status_line(fd), "HTTP/1.1 200 OK");
  ::close(fd);
}

TEST_F(HttpEdge, OversizedHeadersAre431) {
  start();
  const int fd = connect_to(port);
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(kMaxHeaderBytes, 'a') +
                   "\r\n\r\n");
  EXPECT_EQ(status_line(fd), "HTTP/1.1 431 Request Header Fields Too Large");
  ::close(fd);
}

TEST_F(HttpEdge, SlowHeadersAreCutAtTheDeadlineWhileHealthzAnswers) {
  ServerOptions o;
  o.header_timeout_ms = 1000;
  o.max_connections_per_client = 200;
  o.worker_threads = 2;
  start(o);
  constexpr int kSlow = 64;
  std::vector<int> fds;
  for (int i = 0; i < kSlow; ++i) {
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /healthz HTTP/1.1\r\n");
    fds.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> closed{0};
  std::thread slow([&] {
    std::vector<bool> done(fds.size(), false);
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (!stop && closed < kSlow && std::chrono::steady_clock::now() < give_up) {
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (done[i]) continue;
        char c;
        const ssize_t n = ::recv(fds[i], &c, 1, MSG_DONTWAIT);
        const bool gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                          ::send(fds[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL | MSG_DONTWAIT) < 0;
        if (gone) {
          done[i] = true;
          ++closed;
        }
      }
      std::this_thread::sleep_for(200ms);
    }
  });
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(30, 0);
  c.set_read_timeout(30, 0);
  for (int i = 0; i < 10; ++i) {
    auto r = c.Get("/healthz");
    ASSERT_TRUE(r) << "healthz did not answer while slow clients were connected";
    EXPECT_EQ(r->status, 200);
  }
  slow.join();
  EXPECT_EQ(closed.load(), kSlow) << "slow connections the server did not close";
  for (int fd : fds) ::close(fd);
}

TEST_F(HttpEdge, ConnectionsPerClientAreLimited) {
  ServerOptions o;
  o.max_connections_per_client = 4;
  start(o);
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect_to(port));
  for (int i = 0; i < 500 && server->open_connections() < 4; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server->open_connections(), 4);
  // The fifth from the same address is closed at once, unanswered.
  const int fifth = connect_to(port);
  ASSERT_GE(fifth, 0);
  send_all(fifth, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  const std::string got = read_to_close(fifth, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(got.find("200 OK"), std::string::npos) << got;
  ::close(fifth);
  EXPECT_GE(server->refused_connections(), 1u);
  // Another client is not affected.
  EXPECT_NE(get(port, "/healthz", "127.0.0.2").find("HTTP/1.1 200 OK"), std::string::npos);
  // Once one of the idle ones is gone, the first client may connect again.
  ::close(idle.back());
  idle.pop_back();
  for (int i = 0; i < 500 && server->open_connections() >= 4; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_NE(get(port, "/healthz").find("HTTP/1.1 200 OK"), std::string::npos);
  for (int fd : idle) ::close(fd);
}

TEST_F(HttpEdge, TotalConnectionsAreLimited) {
  ServerOptions o;
  o.max_connections = 3;
  start(o);
  std::vector<int> idle;
  for (const char* from : {"127.0.0.3", "127.0.0.4", "127.0.0.5"}) idle.push_back(connect_to(port, from));
  for (int i = 0; i < 500 && server->open_connections() < 3; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server->open_connections(), 3);
  EXPECT_EQ(get(port, "/healthz", "127.0.0.6").find("200 OK"), std::string::npos);
  for (int fd : idle) ::close(fd);
}

TEST_F(HttpEdge, LargeContentLengthWithoutTokenIsRefusedUnread) {
  start();
  const long before = rss_kib();
  const int fd = connect_to(port);
  send_all(fd, "POST /api/v1/small HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                   std::to_string(std::size_t{200} << 20) + "\r\n\r\n");
  const std::string status = status_line(fd);
  EXPECT_TRUE(status == "HTTP/1.1 401 Unauthorized" || status == "HTTP/1.1 413 Payload Too Large")
      << status;
  const std::string block(1 << 20, 'x');
  std::size_t sent = 0;
  while (sent < (std::size_t{200} << 20) && send_all(fd, block)) sent += block.size();
  EXPECT_LT(sent, std::size_t{200} << 20) << "the server read the whole body";
  ::close(fd);
  EXPECT_EQ(bodies_read.load(), 0u);
  EXPECT_LT(rss_kib() - before, 16 * 1024) << "KiB grown";
}

// A body within the small-body limit is not read either before the token is checked: the 401
// comes from the headers alone, so many such requests cannot make the server hold their bodies.
TEST_F(HttpEdge, SmallBodyWithoutTokenIsAnsweredBeforeItIsSent) {
  ServerOptions o;
  o.body_timeout_ms = 2000;  // a server waiting for the body gives up soon: the test then fails
  start(o);
  const int fd = connect_to(port);
  send_all(fd, "POST /api/v1/small HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                   std::to_string(std::size_t{1} << 20) + "\r\n\r\n");
  // Not a byte of the body is sent: the answer can only come from the headers.
  EXPECT_EQ(status_line(fd), "HTTP/1.1 401 Unauthorized");
  ::close(fd);
  EXPECT_EQ(bodies_read.load(), 0u);
}

TEST_F(HttpEdge, StreamsHaveTheirOwnThreadsAndACap) {
  ServerOptions o;
  o.worker_threads = 1;
  o.max_streams = 3;
  TokenStore t;
  server = std::make_unique<Server>(o, std::move(t));
  std::atomic<int> ended{0};
  server->get_public("/stream", [&ended](const Request&, Response& res) {
    res.set_chunked_content_provider(
        "text/event-stream",
        [](std::size_t, DataSink& sink) {
          static const std::string tick = ": tick\n\n";
          std::this_thread::sleep_for(50ms);
          return sink.write(tick.data(), tick.size()) && sink.is_writable();
        },
        [&ended](bool) { ++ended; });
  });
  server->get_public("/healthz", [](const Request&, Response& res) {
    res.set_content("ok", "text/plain");
  });
  server->start();
  port = server->port();
  std::vector<int> streams;
  for (int i = 0; i < 3; ++i) {
    const int fd = connect_to(port);
    send_all(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_line(fd), "HTTP/1.1 200 OK");
    streams.push_back(fd);
  }
  // Three open streams, one worker: the worker is free.
  for (int i = 0; i < 5; ++i)
    EXPECT_NE(get(port, "/healthz").find("HTTP/1.1 200 OK"), std::string::npos);
  const std::string fourth = get(port, "/stream");
  EXPECT_NE(fourth.find("HTTP/1.1 503"), std::string::npos) << fourth;
  EXPECT_NE(fourth.find("too many open streams"), std::string::npos) << fourth;
  // A closed stream's slot comes back.
  ::close(streams.back());
  streams.pop_back();
  for (int i = 0; i < 1000 && server->open_streams() >= 3; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_LT(server->open_streams(), 3);
  const int again = connect_to(port);
  send_all(again, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_line(again), "HTTP/1.1 200 OK");
  ::close(again);
  for (int fd : streams) ::close(fd);
  server->stop();
  // Every provider's end ran once: the four streams and the one refused.
  EXPECT_EQ(ended.load(), 5);
}

// ---- TLS ----

struct Tls {
  std::filesystem::path dir;
  std::string cert, key;
  Tls() {
    dir = std::filesystem::temp_directory_path() / ("anpr-edge-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    cert = (dir / "cert.pem").string();
    key = (dir / "key.pem").string();
    EXPECT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " +
                           cert + " -days 1 -subj /CN=localhost 2>/dev/null")
                              .c_str()),
              0);
  }
  ~Tls() { std::filesystem::remove_all(dir); }
};

// Handshakes with the given TLS 1.2 cipher list (or OpenSSL's defaults) and, when it succeeds,
// sends GET /healthz and returns the answer; "" when the handshake fails.
std::string tls_get(int port, const char* tls12_ciphers) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (tls12_ciphers) {
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, tls12_ciphers);
  }
  SSL* ssl = SSL_new(ctx);
  const int fd = connect_to(port);
  SSL_set_fd(ssl, fd);
  std::string got;
  if (SSL_connect(ssl) == 1) {
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    SSL_write(ssl, req.data(), static_cast<int>(req.size()));
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return got;
}

TEST_F(HttpEdge, TlsOffersOnlyForwardSecretCiphersAndSendsHsts) {
  Tls files;
  ServerOptions o;
  o.tls_cert = files.cert;
  o.tls_key = files.key;
  start(o);
  ASSERT_TRUE(server->tls());
  for (const char* weak : {"AES128-SHA256", "AES128-GCM-SHA256", "AES256-SHA", "DHE-RSA-AES128-SHA",
                           "ECDHE-RSA-AES128-SHA"})
    EXPECT_EQ(tls_get(port, weak), "") << weak << " was accepted";
  const std::string tls12 = tls_get(port, "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_NE(tls12.find("HTTP/1.1 200 OK"), std::string::npos) << tls12;
  const std::string tls13 = tls_get(port, nullptr);
  EXPECT_NE(tls13.find("HTTP/1.1 200 OK"), std::string::npos) << tls13;
  EXPECT_NE(tls13.find("Strict-Transport-Security: max-age=31536000\r\n"), std::string::npos)
      << tls13;
  // A TLS client that never finishes its handshake is cut at the header deadline too.
  server->stop();
  o.header_timeout_ms = 500;
  start(o);
  const int fd = connect_to(port);
  send_all(fd, std::string("\x16\x03\x01", 3));  // the start of a ClientHello, then nothing
  bool closed = false;
  read_to_close(fd, &closed);
  EXPECT_TRUE(closed);
  ::close(fd);
}

TEST(HttpEdgeMetrics, MetricsTokenWhenConfigured) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("anpr-edge-metrics-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  config::Settings s;
  s.state_dir = dir;
  s.http.listen = "127.0.0.1:0";
  s.http.metrics_token_sha256 = sha256_hex("scrape-me");
  {
    app::HttpService svc(s);
    svc.start();
    httplib::Client c("127.0.0.1", svc.server().port());
    auto none = c.Get("/metrics");
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401);
    auto wrong = c.Get("/metrics", httplib::Headers{{"Authorization", "Bearer nope"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    auto ok = c.Get("/metrics", httplib::Headers{{"Authorization", "Bearer scrape-me"}});
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    auto health = c.Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
  }
  s.http.metrics_token_sha256.clear();
  {
    app::HttpService svc(s);
    svc.start();
    httplib::Client c("127.0.0.1", svc.server().port());
    auto open = c.Get("/metrics");
    ASSERT_TRUE(open);
    EXPECT_EQ(open->status, 200);
  }
  std::filesystem::remove_all(dir);
}

TEST(HttpEdgeSettings, EdgeKeysAreParsedAndChecked) {
  const std::string hash(64, 'b');
  const auto s = config::parse_settings(
      "[cameras]\nregistry = \"c.csv\"\n[http]\nlisten = \"127.0.0.1:8080\"\n"
      "worker_threads = 4\nmax_connections = 100\nmax_connections_per_client = 5\n"
      "header_timeout_ms = 2000\nbody_timeout_ms = 30000\nmax_streams = 10\n"
      "max_streams_per_room = 3\nmetrics_token_sha256 = \"" + hash + "\"\n",
      "t.toml", "/tmp");
  EXPECT_EQ(s.http.worker_threads, 4);
  EXPECT_EQ(s.http.max_connections, 100);
  EXPECT_EQ(s.http.max_connections_per_client, 5);
  EXPECT_EQ(s.http.header_timeout_ms, 2000);
  EXPECT_EQ(s.http.body_timeout_ms, 30000);
  EXPECT_EQ(s.http.max_streams, 10);
  EXPECT_EQ(s.http.max_streams_per_room, 3);
  EXPECT_EQ(s.http.metrics_token_sha256, hash);
  const auto error_of = [](const std::string& http) -> std::string {
    try {
      config::parse_settings("[cameras]\nregistry = \"c.csv\"\n[http]\n" + http, "t.toml", "/tmp");
    } catch (const config::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of("metrics_token_sha256 = \"ABC\"\n").find("http.metrics_token_sha256"),
            std::string::npos);
  EXPECT_NE(error_of("metrics_token_sha256 = \"" + std::string(64, 'G') + "\"\n"), "");
  EXPECT_NE(error_of("metrics_token_sha256 = 5\n"), "");
  EXPECT_NE(error_of("header_timeout_ms = 0\n").find("http.header_timeout_ms"), std::string::npos);
  EXPECT_NE(error_of("max_connections_per_client = 0\n"), "");
  EXPECT_NE(error_of("worker_threads = 100000\n"), "");
  EXPECT_NE(error_of("max_streams = \"many\"\n"), "");
  EXPECT_EQ(error_of("metrics_token_sha256 = \"\"\n"), "");
}

}  // namespace
}  // namespace anpr::http
