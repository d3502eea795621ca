// Everything `anpr run` and `anpr demo` serve over HTTP beside the pipeline: health and metrics
// (app/http_service.h), the control rooms' feed and acknowledgements (app/control_room.h), the
// operators' list API (app/lists_api.h) and the investigators' search (app/search_api.h, when
// the processor keeps passages). One place assembles them, so the demo serves what production
// serves.
#pragma once

#include <memory>

#include "app/control_room.h"
#include "app/http_service.h"
#include "app/run_setup.h"

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
};

}  // namespace anpr::app
