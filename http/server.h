// The processor's HTTP server: the API under /api/v1, the pages, /metrics, /healthz and
// /readyz, on one address (`http.listen`), HTTPS when a certificate is configured
// (docs/operations.md, docs/control-room.md).
//
// Every route names the roles it admits (http/auth.h). A request without a valid bearer token
// gets 401 with `WWW-Authenticate: Bearer`; a token of another role gets 403. Both are decided
// from the headers, before any body over kSmallBody is read, so an unauthenticated client cannot
// make the server hold more than kSmallBody of a body; so is 404 for a body sent to no route.
// Bodies are limited per route: `kSmallBody` (1 MiB) unless the route asks for `kLargeBody`
// (`http.max_body_bytes`, for list uploads); larger ones get 413 from their Content-Length, and
// a body of unknown length (chunked) on a small-body route gets 411. Errors are JSON:
//   {"error":"forbidden","detail":"role controlroom may not use POST /api/v1/lists"}
// A handler that throws HttpError (BadRequest, ...) answers its status with its message; any
// other exception answers 500 and is logged without the request's content.
//
// The edge (docs/design.md §6): no request without a valid token makes the server hold more than
// kSmallBody or a thread, and nothing holds a connection past its deadlines:
//   - 415 for a Content-Encoding other than identity (a compressed body is never inflated); 400
//     and the connection closed, before any body is read, for Content-Length together with
//     Transfer-Encoding, several Content-Length headers, a Transfer-Encoding other than exactly
//     `chunked`, a folded header line (obs-fold) or a malformed request; 431 for a request line
//     and headers over kMaxHeaderBytes.
//   - Each request's line and headers must arrive within `header_timeout_ms` of the connection's
//     start (the TLS handshake included) or of the end of the previous answer on the same
//     connection; its body within `body_timeout_ms` of the end of its headers; each answer must
//     be taken by the client within `write_timeout_ms`. Past a deadline the connection is closed.
//   - At most `max_connections_per_client` connections per client address and
//     `max_connections` in all; a connection over either limit is closed as soon as it is
//     accepted, unread (a client sees a reset or an empty answer).
//   - HTTPS: TLS 1.2 with forward-secret AEAD ciphers only (ECDHE with AES-GCM or
//     ChaCha20-Poly1305) and TLS 1.3; every HTTPS answer carries
//     `Strict-Transport-Security: max-age=31536000`.
//
// Threading (why Boost.Beast and not cpp-httplib: cpp-httplib gives every connection a worker
// thread for its whole life and times out each recv, not the whole header, so slow clients
// could hold every worker; its accept loop cannot limit connections per client):
//   - `io_threads` threads run Asio's event loop: accepting, TLS, reading headers and bodies,
//     writing answers. They never run a handler, so an idle or slow connection costs a socket
//     and a few KiB, not a thread.
//   - A complete request goes to a pool of `worker_threads` threads that run the handlers; its
//     queue holds at most one request per open connection (max_connections).
//   - A streamed answer (event streams) gets a thread of its own for as long as it is open, at
//     most `max_streams` of them (503 beyond): streams never take the workers that answer the
//     other requests, so /healthz and the API keep answering however many streams are open.
//
// Thread safety: add routes before start(); handlers run on the worker threads, stream
// providers on their stream's thread.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <regex>
#include <vector>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "http/auth.h"
#include "http/message.h"


namespace anpr::http {

// Thrown by a handler: answered with `status` and {"error": code, "detail": what()}.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, std::string code, const std::string& detail)
      : std::runtime_error(detail), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

struct BadRequest : HttpError {
  explicit BadRequest(const std::string& detail) : HttpError(400, "bad_request", detail) {}
};
struct NotFound : HttpError {
  explicit NotFound(const std::string& detail) : HttpError(404, "not_found", detail) {}
};
struct Conflict : HttpError {
  explicit Conflict(const std::string& detail) : HttpError(409, "conflict", detail) {}
};

// Body limits of a route (see above).
inline constexpr std::size_t kSmallBody = std::size_t{1} << 20;
inline constexpr std::size_t kLargeBody = ~std::size_t{0};  // = ServerOptions::max_body_bytes
// Bodies over a route's limit but at most this are read and dropped before the 413, so that
// ordinary clients receive it; larger ones are refused unread (the connection is closed).
inline constexpr std::size_t kDrainBody = std::size_t{8} << 20;

// The request line and headers of one request.
inline constexpr std::size_t kMaxHeaderBytes = std::size_t{16} << 10;

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 = any free port
  std::filesystem::path tls_cert, tls_key;
  std::size_t max_body_bytes = std::size_t{256} << 20;
  int worker_threads = 16;  // run the handlers
  int io_threads = 2;       // accept, read and write
  int max_connections = 512;
  int max_connections_per_client = 16;
  int max_streams = 64;     // open streamed answers, one thread each
  int header_timeout_ms = 10'000;
  int body_timeout_ms = 60'000;
  int write_timeout_ms = 30'000;
};

class Server {
 public:
  using Handler = std::function<void(const Request&, Response&, const Principal&)>;
  using PublicHandler = std::function<void(const Request&, Response&)>;

  // Throws std::runtime_error when the certificate or key cannot be loaded.
  Server(ServerOptions options, TokenStore tokens);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // `pattern` is a regular expression matched against the whole path.
  void get(const std::string& pattern, Roles roles, Handler h);
  void post(const std::string& pattern, Roles roles, Handler h, std::size_t max_body = kSmallBody);
  void put(const std::string& pattern, Roles roles, Handler h, std::size_t max_body = kSmallBody);
  void del(const std::string& pattern, Roles roles, Handler h);
  // Routes anyone may call (health, metrics, the pages' static files).
  void get_public(const std::string& pattern, PublicHandler h);

  const TokenStore& tokens() const { return tokens_; }

  // Binds and serves on a background thread. Throws std::runtime_error naming the address when
  // it cannot bind.
  void start();
  // Every route: method, pattern and the roles it admits (0 = public). For tests that check
  // every endpoint.
  struct RouteInfo {
    std::string method, pattern;
    Roles roles;
    std::size_t max_body;
  };
  std::vector<RouteInfo> routes() const;

  // The bound port (after start()).
  int port() const { return port_; }
  bool tls() const { return tls_; }
  // Stops accepting, closes the connections and waits for the workers and the streams.
  // Idempotent.
  void stop();

  // Open connections and streams, and connections refused by the limits (tests, metrics).
  int open_connections() const;
  int open_streams() const;
  uint64_t refused_connections() const;

 private:
  struct Impl;
  template <class Stream>
  friend class Session;
  struct RouteRule {
    std::string method;
    std::string text;
    std::regex pattern;
    Roles roles;         // 0: public
    std::size_t max_body;
    Handler handler;
  };
  void add_route(const std::string& method, const std::string& pattern, Roles roles,
                 std::size_t max_body, Handler h);
  // The route of a method and decoded path, with the regular expression's groups.
  const RouteRule* route(const std::string& method, const std::string& path,
                         std::vector<std::string>& matches) const;
  // Decides 400/401/403/404/411/413/415 from the request line and headers (before the body is
  // read). True when `res` is the answer (the connection is then closed).
  bool refuse_early(const RouteRule* rule, const Request& req, Response& res) const;
  // Runs the route's checks and handler on a complete request.
  void answer(const RouteRule* rule, Request& req, Response& res) const;

  std::vector<RouteRule> rules_;
  ServerOptions options_;
  TokenStore tokens_;
  std::unique_ptr<Impl> impl_;
  bool tls_ = false;
  int port_ = 0;
};

// Writes a JSON body with the given status.
void send_json(Response& res, int status, std::string body);
void send_error(Response& res, int status, std::string_view code,
                std::string_view detail);

}  // namespace anpr::http
