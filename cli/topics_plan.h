// Kafka topic settings that bound how long data stays on a cluster by the retention policies
// (docs/design.md §2; docs/retention.md, "Kafka"): `anpr topics plan` prints them, `anpr topics apply`
// creates or alters the topics through the Admin API.
//
// Kafka deletes a log segment once its newest record is older than `retention.ms`; a segment
// spans at most `segment.ms` of record time, and the broker looks for expired segments every
// `log.retention.check.interval.ms` (5 minutes by default). So the oldest record of a topic is
// at most retention.ms + segment.ms + that interval old. For a bound of D this plan sets
//   segment.ms   = D / 28, between 1 hour and 1 day
//   retention.ms = D - segment.ms - 5 minutes
// with `message.timestamp.type=CreateTime` (the record's time is the capture time the processor
// gives it), `cleanup.policy=delete` and no size limit.
//
// Topics and their bounds:
//   passages topics (sink "kafka", per country that keeps passages)  passage_days
//   reads and dead-letter topics (every read, kept or not)           retention.input_hours
//   hits, route and acknowledgement topics (hits of every country)   the shortest hit_days
//
// The reflists topic (topics.reflists) is the exception: it is the reference lists' source of
// truth, keyed per entry and per list (reflists/reflists.h), so it is compacted rather than aged out:
// `cleanup.policy=compact`, no time or size limit, and one partition (its records' order
// matters). A removed entry leaves the topic once compaction has passed its tombstone.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/settings.h"

namespace anpr::app {

struct TopicPlan {
  std::string topic;
  std::string why;          // which policy bounds it
  int64_t bound_ms = 0;     // the longest any record may stay; 0: no bound (compacted)
  std::vector<std::pair<std::string, std::string>> configs;
  int partitions = 0;       // partitions to create it with; 0: as the operator chooses
};

inline constexpr int64_t kRetentionCheckMs = 300'000;  // log.retention.check.interval.ms

std::vector<TopicPlan> plan_topics(const config::Settings& s);

// The settings of one topic for a bound of `bound_ms`.
std::vector<std::pair<std::string, std::string>> topic_configs(int64_t bound_ms);
// The settings of the compacted reflists topic.
std::vector<std::pair<std::string, std::string>> compacted_topic_configs();

}  // namespace anpr::app
