#include "serve/http_service.h"

#include "pipeline/processor.h"
#include "serve/token_reload.h"
#include "pipeline/run_metrics.h"
#include "base/json_writer.h"

namespace anpr::app {

HttpService::HttpService(const config::Settings& settings,
                         std::function<uint64_t()> reload_requests) {
  ctx_.settings = &settings;
  audit_ = std::make_unique<http::AuditLog>(
      settings.state_dir / "audit.jsonl",
      settings.audit_key_file.empty() ? std::string() : http::read_audit_key(settings.audit_key_file));
  http::ServerOptions o;
  o.listen = settings.http.listen;
  o.tls_cert = settings.http.tls_cert;
  o.tls_key = settings.http.tls_key;
  o.max_body_bytes = settings.http.max_body_bytes;
  o.worker_threads = settings.http.worker_threads;
  o.max_connections = settings.http.max_connections;
  o.max_connections_per_client = settings.http.max_connections_per_client;
  o.header_timeout_ms = static_cast<int>(settings.http.header_timeout_ms);
  o.body_timeout_ms = static_cast<int>(settings.http.body_timeout_ms);
  o.max_streams = settings.http.max_streams;
  const bool file = !settings.http.tokens_file.empty();
  http::TokenStore tokens(
      file ? config::merge_tokens(settings.http.tokens, settings.http.file_tokens,
                                  settings.http.tokens_file.string())
           : settings.http.tokens);
  // The engineer learns from the audit log which expired token is still in use.
  tokens.on_expired([audit = audit_.get()](const http::Principal& who) {
    audit->record(who.name, http::role_name(who.role), "auth.expired_token");
  });
  if (file)
    token_watcher_ = std::make_unique<TokenFileWatcher>(
        tokens, settings.http.tokens, settings.http.tokens_file, std::move(reload_requests));
  server_ = std::make_unique<http::Server>(std::move(o), std::move(tokens));
}

HttpService::~HttpService() {
  stop();
  token_watcher_.reset();
}

void HttpService::start() {
  server_->get_public("/healthz", [](const http::Request&, http::Response& res) {
    http::send_json(res, 200, R"({"status":"ok"})");
  });
  server_->get_public("/readyz", [this](const http::Request&, http::Response& res) {
    const std::size_t lists = ctx_.index ? ctx_.index->read()->list_count() : 0;
    const int parts = ctx_.processor ? ctx_.processor->assigned_partitions() : 0;
    const ProcessorHealth h = ctx_.processor ? ctx_.processor->health() : ProcessorHealth{};
    // The first reason that applies, most urgent first.
    std::string reason;
    if (lists == 0) reason = "no reference list is loaded";
    else if (!h.broker_answering)
      reason = "the Kafka cluster has not answered for " +
               std::to_string(static_cast<int64_t>(h.broker_unanswered_seconds)) + " s";
    else if (h.store_failing)
      reason = "the retention store cannot write (" + h.store_error +
               "); hits are still published, the kept reads' offsets wait";
    else if (parts == 0) reason = "no partition of the reads topic is assigned yet";
    const bool ready = reason.empty();
    std::string body;
    JsonWriter w(body);
    w.begin_object();
    w.field("ready", ready);
    w.field("lists", static_cast<uint64_t>(lists));
    w.field("partitions", parts);
    if (ctx_.processor) {
      w.field("kafka_answering", h.broker_answering);
      if (ctx_.processor->retention_store()) w.field("retention_store_writing", !h.store_failing);
      if (h.consumption_paused) w.field("consumption_paused", true);
    }
    if (!ready) w.field("reason", reason);
    w.end_object();
    http::send_json(res, ready ? 200 : 503, std::move(body));
  });
  if (ctx_.processor) {
    collectors_.push_back(collect_processor(*ctx_.processor, ctx_.settings->topics.reads));
    if (const store::Store* st = ctx_.processor->retention_store())
      collectors_.push_back(collect_retention(*st, *ctx_.settings));
  }
  if (ctx_.index) collectors_.push_back(collect_index(*ctx_.index));
  // With http.metrics_token_sha256 set, /metrics needs that token (its counts per list and per
  // camera country say what is watched); unset, it is public (docs/operations.md).
  auto scrapers = std::make_shared<http::TokenStore>();
  if (!ctx_.settings->http.metrics_token_sha256.empty())
    scrapers->add({"metrics", http::Role::engineer, "*"}, ctx_.settings->http.metrics_token_sha256);
  server_->get_public("/metrics", [scrapers](const http::Request& req, http::Response& res) {
    if (!scrapers->empty() && !scrapers->authenticate(req.get_header_value("Authorization"))) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"anpr\"");
      return http::send_error(res, 401, "unauthorized",
                              "/metrics needs the bearer token of http.metrics_token_sha256");
    }
    res.status = 200;
    res.set_content(metrics::scrape(), metrics::kContentType);
  });
  server_->start();
}

void HttpService::stop() {
  if (server_) server_->stop();
  collectors_.clear();
}

}  // namespace anpr::app
