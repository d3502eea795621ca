#include "cli/run_services.h"

#include <chrono>

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
  http_->context().cameras = &s.cameras;
  control_room_ = std::make_unique<ControlRoom>(s.settings, *http_);
  add_hit_filter_routes(*http_);
  add_status_routes(*http_, history_, s.settings.http.status_sample_ms, &control_room_->feed());
  sampler_ = std::make_unique<StatusSampler>(
      history_,
      [&p] {
        return sample_processor(p, std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
      },
      s.settings.http.status_sample_ms);
  if (store::Store* st = p.retention_store()) add_search_routes(*http_, *st);
  // The codes the control rooms record with (followup.*), so the figures count what they record.
  yield_ = std::make_unique<YieldBook>(
      YieldBook::Limits{},
      YieldCodes{s.settings.followup.reject_reasons, s.settings.followup.outcomes},
      s.settings.retention.policies);
  // Before the list routes: GET /api/v1/lists/yield is not the list named "yield".
  add_yield_routes(http_->server(), *yield_);
  add_list_routes(*http_, *s.registry, /*read_only=*/s.settings.list_policy.follow_topic);
  control_room_->start();
  yield_->start(s.settings);
  yield_metrics_ = collect_yield(*yield_);
  http_->start();
  sampler_->start();
}

RunServices::~RunServices() { stop(); }

void RunServices::stop() {
  if (sampler_) sampler_->stop();
  if (control_room_) control_room_->stop();
  yield_metrics_.reset();
  if (yield_) yield_->stop();
  if (http_) http_->stop();
}

}  // namespace anpr::app
