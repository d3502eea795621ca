// The HTTP side of `anpr run` (http.listen): one server for the API, the pages, /metrics,
// /healthz and /readyz, and the audit log every change and search is written to.
//
// Each capability adds its routes in its own file (add_*_routes); this file owns the server,
// the audit log and the health endpoints:
//   GET /healthz  200 while the process serves requests
//   GET /readyz   200 {"ready":true,...} once reference lists are loaded, the consumer owns
//                 partitions of the reads topic, the Kafka cluster answers (within
//                 kafka.unanswered_after_ms) and the retention store can write; 503 with the
//                 reason otherwise
//   GET /metrics  every metric in the Prometheus text format (metrics/metrics.h; the processor's
//                 and the index's collectors are registered by start() from the context).
//                 Public like the health routes: it holds counts, list ids and versions, never
//                 personal data.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "config/settings.h"
#include "http/audit.h"
#include "http/server.h"
#include "match/index.h"
#include "metrics/metrics.h"

namespace anpr {
class CameraRegistry;
}

namespace anpr::app {

class Processor;
class TokenFileWatcher;

// What the routes may look at. Members may be null when the feature is not running.
struct ServiceContext {
  const config::Settings* settings = nullptr;
  LiveIndex* index = nullptr;
  const Processor* processor = nullptr;
  const CameraRegistry* cameras = nullptr;  // the camera registry (status map, hit filters)
};

class HttpService {
 public:
  // Opens the audit log (state.dir/audit.jsonl) and builds the server; throws std::runtime_error.
  // With http.tokens_file, the file is reread while running (serve/token_reload.h): when
  // `reload_requests` changes (SIGHUP) and when the file changes.
  explicit HttpService(const config::Settings& settings,
                       std::function<uint64_t()> reload_requests = {});
  ~HttpService();

  http::Server& server() { return *server_; }
  http::AuditLog& audit() { return *audit_; }
  ServiceContext& context() { return ctx_; }

  // Adds the health and metrics routes and starts serving. Throws std::runtime_error when it cannot listen.
  void start();
  // Stops serving and unregisters the collectors. Idempotent.
  void stop();

 private:
  ServiceContext ctx_;
  std::unique_ptr<http::AuditLog> audit_;
  std::unique_ptr<http::Server> server_;
  std::vector<metrics::Collector> collectors_;  // of the context's processor and index
  std::unique_ptr<TokenFileWatcher> token_watcher_;
};

}  // namespace anpr::app
