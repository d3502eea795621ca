#include "cli/run_services.h"

#include "cli/signals.h"
#include "serve/lists_api.h"
#include "pipeline/processor.h"
#include "serve/search_api.h"
#include "serve/yield_api.h"

namespace anpr::app {

RunServices::RunServices(RunSetup& s, Processor& p) {
  http_ = std::make_unique<HttpService>(s.settings, reload_requests);
  http_->context().index = s.index.get();
  http_->context().processor = &p;
  control_room_ = std::make_unique<ControlRoom>(s.settings, *http_);
  if (store::Store* st = p.retention_store()) add_search_routes(*http_, *st);
  yield_ = std::make_unique<YieldBook>(YieldBook::Limits{}, default_yield_codes(),
                                       s.settings.retention.policies);
  // Before the list routes: GET /api/v1/lists/yield is not the list named "yield".
  add_yield_routes(http_->server(), *yield_);
  add_list_routes(*http_, *s.registry, /*read_only=*/s.settings.list_policy.follow_topic);
  control_room_->start();
  yield_->start(s.settings);
  yield_metrics_ = collect_yield(*yield_);
  http_->start();
}

RunServices::~RunServices() { stop(); }

void RunServices::stop() {
  if (control_room_) control_room_->stop();
  yield_metrics_.reset();
  if (yield_) yield_->stop();
  if (http_) http_->stop();
}

}  // namespace anpr::app
