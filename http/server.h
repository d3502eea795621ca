// The processor's HTTP server (cpp-httplib): the API under /api/v1, the pages, /metrics,
// /healthz and /readyz, on one address (`http.listen`), HTTPS when a certificate is configured.
//
// Every route names the roles it admits (http/auth.h). A request without a valid bearer token
// gets 401 with `WWW-Authenticate: Bearer`; a token of another role gets 403. Both are decided
// from the headers, before any body is read, so an unauthenticated client cannot make the
// server hold a body in memory; so is 404 for a body sent to no route. Bodies are limited per
// route: `kSmallBody` (1 MiB) unless the route asks for `kLargeBody` (`http.max_body_bytes`, for
// list uploads); larger ones get 413 from their Content-Length, and a body of unknown length
// (chunked) on a small-body route gets 411. Errors are JSON:
//   {"error":"forbidden","detail":"role controlroom may not use POST /api/v1/lists"}
// A handler that throws BadRequest answers 400 with its message; any other exception answers
// 500 and is logged without the request's content.
//
// Thread safety: add routes before start(); handlers run on the server's worker threads.
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

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

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

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 = any free port
  std::filesystem::path tls_cert, tls_key;
  std::size_t max_body_bytes = std::size_t{256} << 20;
  int worker_threads = 32;  // long-lived event streams each hold one
};

class Server {
 public:
  using Handler =
      std::function<void(const httplib::Request&, httplib::Response&, const Principal&)>;
  using PublicHandler = std::function<void(const httplib::Request&, httplib::Response&)>;

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

  // The underlying server, for what the wrappers do not cover (event streams).
  httplib::Server& raw() { return *server_; }
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
  // Stops accepting and waits for the workers. Idempotent.
  void stop();

 private:
  Handler wrap(std::string method, std::string pattern, Roles roles, std::size_t max_body,
               Handler h);
  void add_route(const std::string& method, const std::string& pattern, Roles roles,
                 std::size_t max_body);
  // Decides 401/403/404/411/413 from the request line and headers (before the body is read).
  bool refuse_early(const httplib::Request& req, httplib::Response& res) const;

  struct RouteRule {
    std::string method;
    std::string text;
    std::regex pattern;
    Roles roles;         // 0: public
    std::size_t max_body;
  };
  std::vector<RouteRule> rules_;
  ServerOptions options_;
  TokenStore tokens_;
  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  int port_ = 0;
  std::thread thread_;
};

// Writes a JSON body with the given status.
void send_json(httplib::Response& res, int status, std::string body);
void send_error(httplib::Response& res, int status, std::string_view code,
                std::string_view detail);

}  // namespace anpr::http
