// Everything `anpr run` and `anpr demo` serve over HTTP beside the pipeline: health and metrics
// (serve/http_service.h), the control rooms' feed and acknowledgements (serve/control_room.h), the
// operators' list API (serve/lists_api.h), the yield figures (serve/yield_api.h), the status
// page's history and map and the hit filters (serve/status_api.h) and the investigators' search
// (serve/search_api.h, when
// the processor keeps passages). One place assembles them, so the demo serves what production
// serves.
#pragma once

#include <memory>

#include "serve/control_room.h"
#include "serve/http_service.h"
#include "serve/yield_book.h"
#include "serve/status_api.h"
#include "cli/run_setup.h"

namespace anpr::app {

class Processor;

class RunServices {
 public:
  // Builds every route and starts serving on settings.http.listen. `setup` and `processor` must
  // outlive this object. Throws std::runtime_error (cannot listen, bad certificate, ...).
  RunServices(RunSetup& setup, Processor& processor);
  ~RunServices();
  RunServices(const RunServices&) = delete;
  RunServices& operator=(const RunServices&) = delete;

  HttpService& http() { return *http_; }
  // Stops the feed, then the server (its handlers use the feed). Idempotent.
  void stop();

 private:
  std::unique_ptr<HttpService> http_;
  std::unique_ptr<ControlRoom> control_room_;
  std::unique_ptr<YieldBook> yield_;
  metrics::Collector yield_metrics_;
  StatusHistory history_;
  std::unique_ptr<StatusSampler> sampler_;  // the status page's history of the processor
};

}  // namespace anpr::app
