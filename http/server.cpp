#include "http/server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <variant>

#include "base/mutex.h"
#include "http/multipart.h"

#include "base/json_writer.h"
#include "logging/log.h"

namespace anpr::http {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

void send_json(Response& res, int status, std::string body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(std::move(body), "application/json");
}

void send_error(Response& res, int status, std::string_view code,
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

// ---- routes and the decisions from the headers ----

void Server::add_route(const std::string& method, const std::string& pattern, Roles roles,
                       std::size_t max_body, Handler h) {
  rules_.push_back(RouteRule{method, pattern, std::regex(pattern), roles,
                             max_body == kLargeBody ? options_.max_body_bytes
                                                    : std::min(max_body, options_.max_body_bytes),
                             std::move(h)});
}

std::vector<Server::RouteInfo> Server::routes() const {
  std::vector<RouteInfo> out;
  for (const RouteRule& r : rules_) out.push_back({r.method, r.text, r.roles, r.max_body});
  return out;
}

const Server::RouteRule* Server::route(const std::string& method, const std::string& path,
                                       std::vector<std::string>& matches) const {
  std::smatch m;
  for (const RouteRule& r : rules_)
    if (r.method == method && std::regex_match(path, m, r.pattern)) {
      matches.clear();
      for (const auto& g : m) matches.push_back(g.str());
      return &r;
    }
  return nullptr;
}

namespace {

void unauthorized(const Request& req, Response& res) {
  res.set_header("WWW-Authenticate", "Bearer realm=\"anpr\"");
  send_error(res, 401, "unauthorized",
             refusal_text(req.has_header("Authorization") ? Refusal::unknown : Refusal::missing));
}

bool iequals(std::string_view a, std::string_view b) { return header_name_equal(a, b); }

std::size_t header_count(const Request& req, std::string_view name) {
  std::size_t n = 0;
  for (const auto& h : req.headers) n += header_name_equal(h.first, name);
  return n;
}

}  // namespace

static bool refuse_framing(const Request& req, Response& res) {
  const auto refuse = [&](int status, std::string_view code, const std::string& detail) {
    send_error(res, status, code, detail);
    res.set_header("Connection", "close");
    return true;
  };
  // Framing and encodings: nothing ambiguous is read, nothing compressed inflated
  // (docs/design.md §6).
  if (req.has_header("Content-Encoding") &&
      !iequals(req.get_header_value("Content-Encoding"), "identity"))
    return refuse(415, "unsupported_media_type",
                  "compressed request bodies are not accepted (Content-Encoding: " +
                      req.get_header_value("Content-Encoding").substr(0, 64) +
                      "); send the body uncompressed");
  const std::size_t lengths = header_count(req, "Content-Length");
  const std::size_t encodings = header_count(req, "Transfer-Encoding");
  if (lengths > 1) return refuse(400, "bad_request", "several Content-Length headers");
  if (encodings > 1) return refuse(400, "bad_request", "several Transfer-Encoding headers");
  if (lengths && encodings)
    return refuse(400, "bad_request", "Content-Length together with Transfer-Encoding");
  if (encodings && !iequals(req.get_header_value("Transfer-Encoding"), "chunked"))
    return refuse(400, "bad_request", "the only Transfer-Encoding accepted is chunked");
  return false;
}

bool Server::refuse_early(const RouteRule* rule, const Request& req, Response& res) const {
  const auto refuse = [&](int status, std::string_view code, const std::string& detail) {
    send_error(res, status, code, detail);
    res.set_header("Connection", "close");
    return true;
  };
  // refuse_framing() has passed: at most one Content-Length, or Transfer-Encoding: chunked.
  const std::size_t lengths = header_count(req, "Content-Length");
  const std::size_t encodings = header_count(req, "Transfer-Encoding");
  const bool has_body = lengths ? req.get_header_value("Content-Length") != "0" : encodings > 0;
  uint64_t length = 0;
  const bool length_known = lengths > 0;
  if (length_known) {
    const std::string len = req.get_header_value("Content-Length");
    bool ok = !len.empty() && len.size() <= 19;
    for (char c : len) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) length = length * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok) return refuse(400, "bad_request", "the Content-Length header is not a number");
  }
  if (!rule) {
    // Nothing would take a body sent here: refuse it before reading it (close() drains up to
    // 1 MiB of what the client still sends, unbuffered, so that it receives the answer).
    if (!has_body) return false;
    return refuse(404, "not_found", "no such resource: " + req.method + " " + req.path);
  }
  // A request with a body is authenticated from its headers, before any of the body is read:
  // without a valid token nothing of it is held in memory (docs/design.md §6). The refusal
  // closes the connection; close() drains up to 1 MiB of what the client still sends, unbuffered,
  // so that it receives the answer rather than a reset.
  if (rule->roles && has_body) {
    const auto who = tokens_.authenticate(req.get_header_value("Authorization"));
    if (!who) {
      unauthorized(req, res);
      res.set_header("Connection", "close");
      return true;
    }
    if (!admits(rule->roles, who->role))
      return refuse(403, "forbidden",
                    "role " + std::string(role_name(who->role)) + " may not use " + req.method +
                        " " + req.path + " (needs " + roles_text(rule->roles) + ")");
  }
  if (has_body && !length_known && rule->max_body < options_.max_body_bytes)
    return refuse(411, "length_required",
                  "this resource needs a Content-Length of at most " +
                      std::to_string(rule->max_body) + " bytes");
  // Over the route's limit: a body of moderate size is read (and dropped) first, so the client,
  // which is still sending it, receives the 413 (answer() gives it); a larger one is refused
  // now and the connection closed.
  if (length_known && length > rule->max_body && length > kDrainBody)
    return refuse(413, "payload_too_large",
                  "request body too large: " + std::to_string(length) + " bytes, at most " +
                      std::to_string(rule->max_body) + " here");
  return false;
}

void Server::answer(const RouteRule* rule, Request& req, Response& res) const {
  try {
    if (!rule)
      return send_error(res, 404, "not_found", "no such resource: " + req.method + " " + req.path);
    Principal who;
    if (rule->roles) {
      const auto p = tokens_.authenticate(req.get_header_value("Authorization"));
      if (!p) return unauthorized(req, res);
      if (!admits(rule->roles, p->role))
        return send_error(res, 403, "forbidden",
                          "role " + std::string(role_name(p->role)) + " may not use " +
                              rule->method + " " + rule->text + " (needs " +
                              roles_text(rule->roles) + ")");
      who = *p;
    }
    if (req.body.size() > rule->max_body)
      return send_error(res, 413, "payload_too_large",
                        "request body too large: " + std::to_string(req.body.size()) +
                            " bytes, at most " + std::to_string(rule->max_body) + " here");
    const std::string type = req.get_header_value("Content-Type");
    if (is_multipart_form_data(type)) {
      auto parsed = parse_multipart(type, req.body);
      if (auto* why = std::get_if<std::string>(&parsed)) throw BadRequest(*why);
      req.parts = std::move(std::get<std::vector<FormPart>>(parsed));
      req.multipart = true;
    }
    rule->handler(req, res, who);
  } catch (const HttpError& e) {
    res.provider = nullptr;
    res.provider_done = nullptr;
    send_error(res, e.status(), e.code(), e.what());
  } catch (const std::exception& e) {
    log::error("http", req.method + " " + req.path + " failed: " + e.what(),
               {{"method", req.method}, {"path", req.path}, {"error", e.what()}});
    res.provider = nullptr;
    res.provider_done = nullptr;
    send_error(res, 500, "internal_error", "the request failed; see the processor's log");
  } catch (...) {
    log::error("http", req.method + " " + req.path + " failed",
               {{"method", req.method}, {"path", req.path}});
    res.provider = nullptr;
    res.provider_done = nullptr;
    send_error(res, 500, "internal_error", "the request failed; see the processor's log");
  }
}

void Server::get(const std::string& pattern, Roles roles, Handler h) {
  add_route("GET", pattern, roles, 0, h);
  add_route("HEAD", pattern, roles, 0, std::move(h));
}
void Server::post(const std::string& pattern, Roles roles, Handler h, std::size_t max_body) {
  add_route("POST", pattern, roles, max_body, std::move(h));
}
void Server::put(const std::string& pattern, Roles roles, Handler h, std::size_t max_body) {
  add_route("PUT", pattern, roles, max_body, std::move(h));
}
void Server::del(const std::string& pattern, Roles roles, Handler h) {
  add_route("DELETE", pattern, roles, kSmallBody, std::move(h));
}
void Server::get_public(const std::string& pattern, PublicHandler h) {
  Handler wrapped = [h = std::move(h)](const Request& req, Response& res, const Principal&) {
    h(req, res);
  };
  add_route("GET", pattern, 0, 0, wrapped);
  add_route("HEAD", pattern, 0, 0, std::move(wrapped));
}

// ---- the connections ----

namespace {

std::string status_line(int status) {
  std::string reason(bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(status))));
  if (reason.empty() || reason == "<unknown-status>") reason = "Status";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
}

std::string hex(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

}  // namespace

struct Server::Impl {
  explicit Impl(Server& s) : server(s) {}

  Server& server;
  // Connection and stream counts: declared first, so they outlive every session.
  mutable Mutex mu;
  std::map<std::string, int> per_client GUARDED_BY(mu);
  int connections GUARDED_BY(mu) = 0;
  std::atomic<uint64_t> refused{0};
  std::condition_variable streams_ended;
  int streams GUARDED_BY(mu) = 0;
  std::atomic<bool> stopping{false};

  std::optional<ssl::context> tls;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<net::thread_pool> workers;
  std::vector<std::thread> io;

  void load_tls(const std::filesystem::path& cert, const std::filesystem::path& key) {
    tls.emplace(ssl::context::tls_server);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use | SSL_OP_NO_COMPRESSION |
                     SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX* ctx = tls->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // TLS 1.2: forward-secret AEAD only. TLS 1.3 suites are all AEAD with (EC)DHE: OpenSSL's.
    SSL_CTX_set_cipher_list(ctx,
                            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      throw std::runtime_error("cannot load the TLS certificate " + cert.string() +
                               " with its key " + key.string());
    }
  }

  // Counts a new connection; false when over a limit.
  bool admit(const std::string& client) {
    MutexLock lock(mu);
    int& n = per_client[client];
    if (n >= server.options_.max_connections_per_client ||
        connections >= server.options_.max_connections) {
      if (n == 0) per_client.erase(client);
      refused.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    ++n;
    ++connections;
    return true;
  }
  void release(const std::string& client) {
    MutexLock lock(mu);
    auto it = per_client.find(client);
    if (it != per_client.end() && --it->second <= 0) per_client.erase(it);
    --connections;
  }
  bool acquire_stream() {
    MutexLock lock(mu);
    if (stopping || streams >= server.options_.max_streams) return false;
    ++streams;
    return true;
  }
  void release_stream() {
    MutexLock lock(mu);
    --streams;
    streams_ended.notify_all();
  }

  void accept();
  template <class Stream>
  void start_session(tcp::socket socket, std::string client);
};

// One connection: reads a request's headers, decides from them, reads the body, hands the
// request to a worker, writes the answer; again while the client keeps the connection open.
// Everything but the handler and a stream's provider runs on the connection's strand.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  Session(Server::Impl& impl, std::string client, Args&&... args)
      : impl_(impl), server_(impl.server), client_(std::move(client)),
        stream_(std::forward<Args>(args)...), buffer_(std::size_t{1} << 20) {}
  ~Session() { impl_.release(client_); }

  void run() {
    tcp_().expires_after(std::chrono::milliseconds(server_.options_.header_timeout_ms));
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) self->read_header();
                              });
    } else {
      read_header();
    }
  }

 private:
  beast::tcp_stream& tcp_() { return beast::get_lowest_layer(stream_); }

  // Reads until the empty line that ends the headers (it may already be buffered: a pipelined
  // request), at most kMaxHeaderBytes.
  void read_header() {
    if (impl_.stopping) return;
    const std::string_view have(static_cast<const char*>(buffer_.data().data()),
                                std::min(buffer_.size(), kMaxHeaderBytes));
    if (const std::size_t end = have.find("\r\n\r\n"); end != std::string_view::npos)
      return on_header({}, end + 4);
    if (buffer_.size() >= kMaxHeaderBytes) return on_header(net::error::not_found, 0);
    stream_.async_read_some(
        buffer_.prepare(std::min<std::size_t>(4096, kMaxHeaderBytes - buffer_.size())),
        [self = this->shared_from_this()](beast::error_code ec, std::size_t got) {
          self->buffer_.commit(got);
          if (ec) return self->on_header(ec, 0);
          self->read_header();
        });
  }

  void on_header(beast::error_code ec, std::size_t n) {
    if (ec == net::error::not_found)
      return refuse(431, "request_header_fields_too_large",
                    "the request line and headers are over " + std::to_string(kMaxHeaderBytes) +
                        " bytes");
    if (ec) return;  // closed, timed out or stopping: nothing to answer
    const std::string_view raw(static_cast<const char*>(buffer_.data().data()), n);
    // A folded header line (obs-fold) could hide a header from one reader and not another.
    for (std::size_t p = raw.find("\r\n"); p != std::string_view::npos && p + 2 < n;
         p = raw.find("\r\n", p + 2))
      if (raw[p + 2] == ' ' || raw[p + 2] == '\t')
        return refuse(400, "bad_request", "a header line is folded (obs-fold)");
    req_ = Request{};
    res_ = Response{};
    req_.remote_addr = client_;
    // Our own reading of the header lines first, so that the framing is judged (and answered
    // with a clear message) before the HTTP parser sees anything.
    {
      std::string_view lines = raw.substr(0, n - 4);
      const std::size_t first = lines.find("\r\n");
      lines = first == std::string_view::npos ? std::string_view() : lines.substr(first + 2);
      while (!lines.empty()) {
        const std::size_t eol = lines.find("\r\n");
        const std::string_view line = lines.substr(0, eol);
        lines = eol == std::string_view::npos ? std::string_view() : lines.substr(eol + 2);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
          return refuse(400, "bad_request", "a header line has no name and colon");
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
          value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
          value.remove_suffix(1);
        req_.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
      }
    }
    if (refuse_framing(req_, res_)) return write(false);
    head_.emplace();
    head_->header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
    head_->eager(false);
    // The body's limit is decided from the headers (refuse_early), not by the parser here.
    head_->body_limit(std::numeric_limits<std::uint64_t>::max());
    head_->put(net::buffer(raw.data(), n), ec);
    if (ec || !head_->is_header_done())
      return refuse(400, "bad_request", "malformed HTTP request (" + ec.message() + ")");
    buffer_.consume(n);
    const auto& h = head_->get();
    req_.method = std::string(h.method_string());
    const std::string_view target(h.target().data(), h.target().size());
    if (target.empty() || target.front() != '/')
      return refuse(400, "bad_request", "the request target must be a path");
    const std::size_t q = target.find('?');
    req_.path = url_decode(target.substr(0, q), false);
    if (q != std::string_view::npos) req_.params = parse_query(target.substr(q + 1));
    keep_alive_ = h.keep_alive();
    rule_ = server_.route(req_.method, req_.path, req_.matches);
    if (server_.refuse_early(rule_, req_, res_)) return write(false);
    if (head_->is_done()) return dispatch();
    // The body: its limit is its announced length (refuse_early checked it) or, chunked, the
    // route's limit.
    body_.emplace(std::move(*head_));
    head_.reset();
    const std::string len = req_.get_header_value("Content-Length");
    body_->body_limit(!len.empty() ? std::stoull(len)
                                   : (rule_ ? rule_->max_body : static_cast<uint64_t>(kSmallBody)));
    tcp_().expires_after(std::chrono::milliseconds(server_.options_.body_timeout_ms));
    bhttp::async_read(stream_, buffer_, *body_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        self->on_body(ec);
                      });
  }

  void on_body(beast::error_code ec) {
    if (ec == bhttp::error::body_limit)
      return refuse(413, "payload_too_large",
                    "request body too large: more than " +
                        std::to_string(rule_ ? rule_->max_body : kSmallBody) + " bytes here");
    if (ec == beast::error::timeout || ec == net::error::eof || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || impl_.stopping)
      return;
    if (ec) return refuse(400, "bad_request", "malformed request body (" + ec.message() + ")");
    req_.body = std::move(body_->get().body());
    body_.reset();
    dispatch();
  }

  // The handler runs on a worker; the answer is written back on this connection's strand.
  void dispatch() {
    head_.reset();
    // A connection waits for its answer before reading on: no deadline meanwhile.
    tcp_().expires_never();
    net::post(*impl_.workers, [self = this->shared_from_this()] {
      self->server_.answer(self->rule_, self->req_, self->res_);
      if (self->res_.provider && (self->req_.method == "HEAD" || !self->impl_.acquire_stream())) {
        if (self->res_.provider_done) self->res_.provider_done(false);
        self->res_.provider = nullptr;
        self->res_.provider_done = nullptr;
        if (self->req_.method != "HEAD")
          send_error(self->res_, 503, "unavailable",
                     "too many open streams on this server (at most " +
                         std::to_string(self->server_.options_.max_streams) + "); try again later");
      }
      net::post(self->stream_.get_executor(), [self] { self->write(self->keep_alive_); });
    });
  }

  void refuse(int status, std::string_view code, const std::string& detail) {
    req_.method.clear();
    res_ = Response{};
    send_error(res_, status, code, detail);
    write(false);
  }

  void write(bool keep_alive) {
    const bool stream = static_cast<bool>(res_.provider);
    close_after_ = !keep_alive || stream || impl_.stopping ||
                   iequals(res_.get_header_value("Connection"), "close");
    std::string& out = out_;
    out = status_line(res_.status);
    out += "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
           "X-Frame-Options: DENY\r\n";
    if (kTls) out += "Strict-Transport-Security: max-age=31536000\r\n";
    for (const auto& [k, v] : res_.headers) {
      if (iequals(k, "Connection") || iequals(k, "Content-Length") ||
          iequals(k, "Transfer-Encoding"))
        continue;
      out += k + ": " + v + "\r\n";
    }
    if (stream) out += "Transfer-Encoding: chunked\r\n";
    else out += "Content-Length: " + std::to_string(res_.body.size()) + "\r\n";
    if (close_after_) out += "Connection: close\r\n";
    out += "\r\n";
    if (!stream && req_.method != "HEAD") out += res_.body;
    res_.body.clear();
    tcp_().expires_after(std::chrono::milliseconds(server_.options_.write_timeout_ms));
    net::async_write(stream_, net::buffer(out_),
                     [self = this->shared_from_this(), stream](beast::error_code ec, std::size_t) {
                       self->out_.clear();
                       self->out_.shrink_to_fit();
                       if (stream) return self->start_stream(!ec);
                       if (ec) return;
                       if (self->close_after_) return self->close();
                       self->tcp_().expires_after(
                           std::chrono::milliseconds(self->server_.options_.header_timeout_ms));
                       self->read_header();
                     });
  }

  // Ends the connection: TLS close_notify, then the TCP send side; what the client still sends
  // (the rest of a refused body) is read and dropped for a moment so that it receives the answer
  // rather than a reset.
  void close() {
    if constexpr (kTls) {
      tcp_().expires_after(std::chrono::seconds(1));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        self->tcp_().socket().shutdown(tcp::socket::shutdown_both, ignored);
      });
    } else {
      beast::error_code ignored;
      tcp_().socket().shutdown(tcp::socket::shutdown_send, ignored);
      tcp_().expires_after(std::chrono::seconds(1));
      drained_ = 0;
      drain();
    }
  }
  void drain() {
    buffer_.clear();
    tcp_().async_read_some(buffer_.prepare(4096), [self = this->shared_from_this()](
                                                      beast::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (!ec && self->drained_ < (std::size_t{1} << 20)) self->drain();
    });
  }

  // ---- streams: a thread of their own pulls from the provider; writes go through the strand.
  class Sink : public DataSink {
   public:
    explicit Sink(std::shared_ptr<Session> s) : s_(std::move(s)) {
      fd_ = s_->tcp_().socket().native_handle();
    }
    bool write(const char* data, std::size_t size) override {
      if (failed_ || size == 0) return !failed_;
      std::string chunk = hex(size) + "\r\n";
      chunk.append(data, size);
      chunk += "\r\n";
      failed_ = !s_->write_blocking(std::move(chunk));
      return !failed_;
    }
    bool is_writable() const override {
      if (failed_ || s_->impl_.stopping) return false;
      // The client closed its side: recv sees the end (0) or an error other than "no data".
      char c;
      const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
    }
    void done() override { done_ = true; }
    bool finished() const { return done_ || failed_; }
    bool ended_well() const { return done_ && !failed_; }
    void end() {
      if (!failed_) failed_ = !s_->write_blocking("0\r\n\r\n");
    }

   private:
    std::shared_ptr<Session> s_;
    int fd_ = -1;
    bool failed_ = false, done_ = false;
  };

  // Called on a stream's thread: queues the bytes on the strand and waits for them to be sent.
  bool write_blocking(std::string bytes) {
    auto data = std::make_shared<std::string>(std::move(bytes));
    auto result = std::make_shared<std::promise<bool>>();
    auto sent = result->get_future();
    net::post(stream_.get_executor(), [self = this->shared_from_this(), data, result] {
      self->tcp_().expires_after(std::chrono::milliseconds(self->server_.options_.write_timeout_ms));
      net::async_write(self->stream_, net::buffer(*data),
                       [data, result](beast::error_code ec, std::size_t) { result->set_value(!ec); });
    });
    while (sent.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready)
      if (impl_.stopping) return false;
    return sent.get();
  }

  void start_stream(bool header_sent) {
    ContentProvider provider = std::move(res_.provider);
    ContentProviderDone on_done = std::move(res_.provider_done);
    res_ = Response{};
    tcp_().expires_never();
    Server::Impl& impl = impl_;
    std::thread([self = this->shared_from_this(), provider = std::move(provider),
                 on_done = std::move(on_done), header_sent, &impl]() mutable {
      {
        bool well = false;
        if (header_sent) {
          Sink sink(self);
          std::size_t offset = 0;
          while (!sink.finished() && !impl.stopping) {
            bool more = false;
            try {
              more = provider(offset, sink);
            } catch (const std::exception& e) {
              log::error("http", std::string("a stream failed: ") + e.what(), {{"error", e.what()}});
            }
            if (!more) break;
          }
          if (sink.ended_well()) sink.end();
          well = sink.ended_well();
        }
        if (on_done) on_done(well);
        net::post(self->stream_.get_executor(), [self] { self->close(); });
        self.reset();
      }
      impl.release_stream();
    }).detach();
  }

  Server::Impl& impl_;
  const Server& server_;
  std::string client_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> head_;
  std::optional<bhttp::request_parser<bhttp::string_body>> body_;
  const Server::RouteRule* rule_ = nullptr;
  Request req_;
  Response res_;
  std::string out_;
  bool keep_alive_ = false;
  bool close_after_ = false;
  std::size_t drained_ = 0;
};

Server::Server(ServerOptions options, TokenStore tokens)
    : options_(std::move(options)), tokens_(std::move(tokens)) {
  impl_ = std::make_unique<Impl>(*this);
  if (!options_.tls_cert.empty()) {
    impl_->load_tls(options_.tls_cert, options_.tls_key);
    tls_ = true;
  }
}

Server::~Server() { stop(); }

template <class Stream>
void Server::Impl::start_session(tcp::socket socket, std::string client) {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>)
    std::make_shared<Session<Stream>>(*this, std::move(client), std::move(socket))->run();
  else
    std::make_shared<Session<Stream>>(*this, std::move(client), std::move(socket), *tls)->run();
}

void Server::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping || ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or the like: try again shortly instead of spinning.
      auto t = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(50));
      return t->async_wait([this, t](beast::error_code) { accept(); });
    }
    beast::error_code e;
    const auto peer = socket.remote_endpoint(e);
    std::string client = e ? std::string("?") : peer.address().to_string();
    if (!admit(client)) {
      socket.close(e);  // over a limit: closed unread
    } else {
      socket.set_option(tcp::no_delay(true), e);
      if (tls)
        start_session<beast::ssl_stream<beast::tcp_stream>>(std::move(socket), std::move(client));
      else
        start_session<beast::tcp_stream>(std::move(socket), std::move(client));
    }
    accept();
  });
}

void Server::start() {
  const auto colon = options_.listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("http.listen: expected host:port");
  std::string host = options_.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port = options_.listen.substr(colon + 1);
  const auto fail = [&] {
    return std::runtime_error("cannot listen on " + options_.listen +
                              " (address in use, or not an address of this machine)");
  };
  beast::error_code ec;
  tcp::resolver resolver(impl_->ioc);
  const auto found = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || found.empty()) throw fail();
  const tcp::endpoint at = found.begin()->endpoint();
  tcp::acceptor& a = impl_->acceptor;
  a.open(at.protocol(), ec);
  // SO_REUSEADDR only (no SO_REUSEPORT): a second processor on the port fails to start.
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(at, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    a.close(ec);
    throw fail();
  }
  port_ = a.local_endpoint().port();
  impl_->workers = std::make_unique<net::thread_pool>(std::max(1, options_.worker_threads));
  impl_->accept();
  for (int i = 0; i < std::max(1, options_.io_threads); ++i)
    impl_->io.emplace_back([this] { impl_->ioc.run(); });
}

void Server::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  Impl& i = *impl_;
  net::post(i.ioc, [&i] {
    beast::error_code ec;
    i.acceptor.close(ec);
  });
  {
    // Streams notice within a second or so (their providers wait at most that long).
    MutexLock lock(i.mu);
    i.streams_ended.wait(lock.native(), [&i]() REQUIRES(i.mu) { return i.streams == 0; });
  }
  if (i.workers) i.workers->join();
  i.ioc.stop();
  for (std::thread& t : i.io) t.join();
  i.io.clear();
}

int Server::open_connections() const {
  MutexLock lock(impl_->mu);
  return impl_->connections;
}
int Server::open_streams() const {
  MutexLock lock(impl_->mu);
  return impl_->streams;
}
uint64_t Server::refused_connections() const { return impl_->refused.load(); }

}  // namespace anpr::http
