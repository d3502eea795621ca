#include "http/server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "base/json_writer.h"
#include "logging/log.h"

namespace anpr::http {

void send_json(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(std::move(body), "application/json");
}

void send_error(httplib::Response& res, int status, std::string_view code,
                std::string_view detail) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("error", code);
  w.field("detail", detail);
  w.end_object();
  send_json(res, status, std::move(body));
}

namespace {

std::string roles_text(Roles set) {
  std::string out;
  for (Role r : {Role::operator_, Role::controlroom, Role::investigator, Role::engineer})
    if (admits(set, r)) out += (out.empty() ? "" : " or ") + std::string(role_name(r));
  return out;
}

std::string_view reason_code(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    default: return status >= 500 ? "internal_error" : "error";
  }
}

}  // namespace

Server::Server(ServerOptions options, TokenStore tokens)
    : options_(std::move(options)), tokens_(std::move(tokens)) {
  if (!options_.tls_cert.empty()) {
    auto s = std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(),
                                                  options_.tls_key.c_str());
    if (!s->is_valid())
      throw std::runtime_error("cannot load the TLS certificate " + options_.tls_cert.string() +
                               " with its key " + options_.tls_key.string());
    server_ = std::move(s);
    tls_ = true;
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  const int threads = options_.worker_threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(options_.max_body_bytes);
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which would let a second
  // processor share the port silently instead of failing to start.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->set_read_timeout(30, 0);
  server_->set_write_timeout(30, 0);
  server_->set_default_headers({{"X-Content-Type-Options", "nosniff"},
                                {"Referrer-Policy", "no-referrer"},
                                {"X-Frame-Options", "DENY"}});
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return refuse_early(req, res) ? httplib::Server::HandlerResponse::Handled
                                  : httplib::Server::HandlerResponse::Unhandled;
  });
  server_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler wrote its own error
    std::string detail;
    if (res.status == 404)
      detail = "no such resource: " + req.method + " " + req.path;
    else if (res.status == 413)
      detail = "request body too large";
    else if (res.status == 400)
      detail = "malformed HTTP request";
    else
      detail = "HTTP status " + std::to_string(res.status);
    send_error(res, res.status, reason_code(res.status), detail);
  });
  server_->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const HttpError& e) {
          return send_error(res, e.status(), e.code(), e.what());
        } catch (const std::exception& e) {
          log::error("http", req.method + " " + req.path + " failed: " + e.what(),
                     {{"method", req.method}, {"path", req.path}, {"error", e.what()}});
        } catch (...) {
          log::error("http", req.method + " " + req.path + " failed",
                     {{"method", req.method}, {"path", req.path}});
        }
        send_error(res, 500, "internal_error", "the request failed; see the processor's log");
      });
}

Server::~Server() { stop(); }

Server::Handler Server::wrap(std::string method, std::string pattern, Roles roles,
                             std::size_t max_body, Handler h) {
  max_body = max_body == kLargeBody ? options_.max_body_bytes
                                    : std::min(max_body, options_.max_body_bytes);
  return [this, method = std::move(method), pattern = std::move(pattern), roles, max_body,
          h = std::move(h)](const httplib::Request& req, httplib::Response& res,
                            const Principal&) {
    const auto who = tokens_.authenticate(req.get_header_value("Authorization"));
    if (!who) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"anpr\"");
      return send_error(res, 401, "unauthorized",
                        req.has_header("Authorization")
                            ? "the bearer token is not valid"
                            : "this resource needs an Authorization: Bearer <token> header");
    }
    if (!admits(roles, who->role))
      return send_error(res, 403, "forbidden",
                        "role " + std::string(role_name(who->role)) + " may not use " + method +
                            " " + pattern + " (needs " + roles_text(roles) + ")");
    if (req.body.size() > max_body)
      return send_error(res, 413, "payload_too_large",
                        "request body too large: " + std::to_string(req.body.size()) +
                            " bytes, at most " + std::to_string(max_body) + " here");
    h(req, res, *who);
  };
}

void Server::add_route(const std::string& method, const std::string& pattern, Roles roles,
                       std::size_t max_body) {
  rules_.push_back(RouteRule{method, pattern, std::regex(pattern), roles,
                             max_body == kLargeBody ? options_.max_body_bytes
                                                    : std::min(max_body, options_.max_body_bytes)});
}

std::vector<Server::RouteInfo> Server::routes() const {
  std::vector<RouteInfo> out;
  for (const RouteRule& r : rules_) out.push_back({r.method, r.text, r.roles, r.max_body});
  return out;
}

bool Server::refuse_early(const httplib::Request& req, httplib::Response& res) const {
  const RouteRule* rule = nullptr;
  for (const RouteRule& r : rules_)
    if (r.method == req.method && std::regex_match(req.path, r.pattern)) {
      rule = &r;
      break;
    }
  const bool has_body = req.has_header("Content-Length")
                            ? req.get_header_value("Content-Length") != "0"
                            : req.has_header("Transfer-Encoding");
  if (!rule) {
    // Nothing would take a body sent here: refuse a large one before reading it (a small one is
    // read, then answered 404 as usual, so the client sees the answer).
    if (!has_body) return false;
    if (req.has_header("Content-Length")) {
      const std::string len = req.get_header_value("Content-Length");
      if (len.size() < 7 && std::all_of(len.begin(), len.end(), [](char c) {
            return c >= '0' && c <= '9';
          }) && std::stoul(len.empty() ? "0" : len) <= kSmallBody)
        return false;
    }
    send_error(res, 404, "not_found", "no such resource: " + req.method + " " + req.path);
    res.set_header("Connection", "close");
    return true;
  }
  // A body of at most kSmallBody is read and then refused by the handler (wrap), so that the
  // client, which is still sending it, receives the answer; a larger one is refused now, before
  // it is read, and the connection is closed.
  uint64_t length = 0;
  bool length_known = false;
  if (req.has_header("Content-Length")) {
    const std::string len = req.get_header_value("Content-Length");
    bool ok = !len.empty() && len.size() <= 19;
    for (char c : len) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) length = length * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok) {
      send_error(res, 400, "bad_request", "the Content-Length header is not a number");
      res.set_header("Connection", "close");
      return true;
    }
    length_known = true;
  }
  const bool small = !has_body || (length_known && length <= kSmallBody);
  if (rule->roles && !small) {
    const auto who = tokens_.authenticate(req.get_header_value("Authorization"));
    if (!who) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"anpr\"");
      send_error(res, 401, "unauthorized",
                 req.has_header("Authorization")
                     ? "the bearer token is not valid"
                     : "this resource needs an Authorization: Bearer <token> header");
      res.set_header("Connection", "close");
      return true;
    }
    if (!admits(rule->roles, who->role)) {
      send_error(res, 403, "forbidden",
                 "role " + std::string(role_name(who->role)) + " may not use " + req.method +
                     " " + req.path + " (needs " + roles_text(rule->roles) + ")");
      res.set_header("Connection", "close");
      return true;
    }
  }
  if (has_body && !length_known && rule->max_body < options_.max_body_bytes) {
    send_error(res, 411, "length_required",
               "this resource needs a Content-Length of at most " +
                   std::to_string(rule->max_body) + " bytes");
    res.set_header("Connection", "close");
    return true;
  }
  // Over the route's limit: a body of moderate size is read (and dropped) first, so the client,
  // which is still sending it, receives the 413 (wrap() answers it); a larger one is refused now
  // and the connection closed.
  if (length_known && length > rule->max_body && length <= kDrainBody) return false;
  if (length_known && length > rule->max_body) {
    send_error(res, 413, "payload_too_large",
               "request body too large: " + std::to_string(length) + " bytes, at most " +
                   std::to_string(rule->max_body) + " here");
    res.set_header("Connection", "close");
    return true;
  }
  return false;
}

namespace {
template <class Reg>
void add(Reg reg, Server::Handler h) {
  reg([h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
    static const Principal none;
    h(req, res, none);
  });
}
}  // namespace

void Server::get(const std::string& pattern, Roles roles, Handler h) {
  add_route("GET", pattern, roles, 0);
  add_route("HEAD", pattern, roles, 0);
  add([&](auto f) { server_->Get(pattern, std::move(f)); }, wrap("GET", pattern, roles, kSmallBody, std::move(h)));
}
void Server::post(const std::string& pattern, Roles roles, Handler h, std::size_t max_body) {
  add_route("POST", pattern, roles, max_body);
  add([&](auto f) { server_->Post(pattern, std::move(f)); },
      wrap("POST", pattern, roles, max_body, std::move(h)));
}
void Server::put(const std::string& pattern, Roles roles, Handler h, std::size_t max_body) {
  add_route("PUT", pattern, roles, max_body);
  add([&](auto f) { server_->Put(pattern, std::move(f)); }, wrap("PUT", pattern, roles, max_body, std::move(h)));
}
void Server::del(const std::string& pattern, Roles roles, Handler h) {
  add_route("DELETE", pattern, roles, kSmallBody);
  add([&](auto f) { server_->Delete(pattern, std::move(f)); },
      wrap("DELETE", pattern, roles, kSmallBody, std::move(h)));
}
void Server::get_public(const std::string& pattern, PublicHandler h) {
  add_route("GET", pattern, 0, 0);
  add_route("HEAD", pattern, 0, 0);
  server_->Get(pattern, std::move(h));
}

void Server::start() {
  const auto colon = options_.listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("http.listen: expected host:port");
  std::string host = options_.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const int port = std::stoi(options_.listen.substr(colon + 1));
  if (port == 0)
    port_ = server_->bind_to_any_port(host);
  else
    port_ = server_->bind_to_port(host, port) ? port : -1;
  if (port_ <= 0)
    throw std::runtime_error("cannot listen on " + options_.listen +
                             " (address in use, or not an address of this machine)");
  auto ended = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([this, ended] {
    server_->listen_after_bind();
    ended->store(true);
  });
  while (!server_->is_running() && !ended->load())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void Server::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace anpr::http
