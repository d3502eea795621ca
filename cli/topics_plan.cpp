#include "cli/topics_plan.h"

#include <algorithm>

#include "match/time.h"

namespace anpr::app {

namespace {
constexpr int64_t kHourMs = 3'600'000;
}  // namespace

std::vector<std::pair<std::string, std::string>> topic_configs(int64_t bound_ms) {
  const int64_t segment = std::clamp<int64_t>(bound_ms / 28, kHourMs, kMsPerDay);
  const int64_t retention = std::max<int64_t>(bound_ms - segment - kRetentionCheckMs, 60'000);
  return {{"cleanup.policy", "delete"},
          {"retention.ms", std::to_string(retention)},
          {"segment.ms", std::to_string(segment)},
          {"retention.bytes", "-1"},
          {"message.timestamp.type", "CreateTime"}};
}

std::vector<std::pair<std::string, std::string>> compacted_topic_configs() {
  return {{"cleanup.policy", "compact"}, {"retention.ms", "-1"}, {"retention.bytes", "-1"}};
}

std::vector<TopicPlan> plan_topics(const config::Settings& s) {
  std::vector<TopicPlan> out;
  const auto add = [&](std::string topic, std::string why, int64_t bound) {
    for (const auto& p : out)
      if (p.topic == topic) return;
    out.push_back(TopicPlan{std::move(topic), std::move(why), bound, topic_configs(bound)});
  };
  const int64_t input = s.retention.input_hours * kHourMs;
  add(s.topics.reads, "every read: retention.input_hours = " +
                          std::to_string(s.retention.input_hours),
      input);
  add(s.topics.deadletter, "rejected reads: retention.input_hours = " +
                               std::to_string(s.retention.input_hours),
      input);
  // The hits, route and acknowledgement topics carry hits of every camera country, so they are
  // bounded by the strictest (shortest) hit policy: no country's hits stay longer than its law
  // allows. They are transport to the control rooms; the retention store keeps each country's
  // hits for its own period.
  int hit_days = 0;
  std::string strictest;
  for (const auto& p : s.retention.policies)
    if (p.hit_days > 0 && (hit_days == 0 || p.hit_days < hit_days)) {
      hit_days = p.hit_days;
      strictest = p.country.str();
    }
  if (hit_days > 0) {
    const std::string why = "hits: the strictest hit policy (" + strictest + ", " +
                            std::to_string(hit_days) + " days)";
    add(s.topics.hits, why, hit_days * kMsPerDay);
    for (const auto& c : s.countries) add(s.route_topic(c.country), why, hit_days * kMsPerDay);
    add(s.topics.hit_acks, "acknowledgements of hits: " + why.substr(6), hit_days * kMsPerDay);
  }
  // The lists' source of truth: compacted (the latest record of every entry and list stays),
  // never aged out, one partition.
  if (std::none_of(out.begin(), out.end(),
                   [&](const TopicPlan& p) { return p.topic == s.topics.reflists; }))
    out.push_back(TopicPlan{s.topics.reflists,
                            "reference lists: compacted, the latest version of every list",
                            0, compacted_topic_configs(), 1});
  if (s.retention.sink == "kafka")
    for (const auto& p : s.retention.policies)
      if (p.keep_passages)
        add(s.retention.passages_topic(p.country),
            p.country.str() + " passages: at most " + std::to_string(p.passage_days) +
                " days after capture",
            p.passage_days * kMsPerDay);
  return out;
}

}  // namespace anpr::app
