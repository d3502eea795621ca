#include "cli/run_services.h"

#include "cli/signals.h"
#include "serve/lists_api.h"
#include "pipeline/processor.h"
#include "serve/search_api.h"

namespace anpr::app {

RunServices::RunServices(RunSetup& s, Processor& p) {
  http_ = std::make_unique<HttpService>(s.settings, reload_requests);
  http_->context().index = s.index.get();
  http_->context().processor = &p;
  control_room_ = std::make_unique<ControlRoom>(s.settings, *http_);
  if (store::Store* st = p.retention_store()) add_search_routes(*http_, *st);
  add_list_routes(*http_, *s.registry, /*read_only=*/s.settings.list_policy.follow_topic);
  control_room_->start();
  http_->start();
}

RunServices::~RunServices() { stop(); }

void RunServices::stop() {
  if (control_room_) control_room_->stop();
  if (http_) http_->stop();
}

}  // namespace anpr::app
