// The metrics of `anpr run` (docs/operations.md): scrape-time collectors of the processor's
// counters, histograms and consumer lag, and of the reference index. HttpService registers them
// for GET /metrics; nothing is computed between scrapes.
//
// Thread safety: the collectors run on the HTTP threads; the processor and the index must outlive
// the returned Collector (destroy it first).
#pragma once

#include "config/settings.h"
#include "match/index.h"
#include "metrics/metrics.h"

namespace anpr::store {
class Store;
}

namespace anpr::app {

class Processor;

// anpr_reads_total{country}, anpr_hits_total{list,category,match_kind}, anpr_suppressed_total{list},
// anpr_deadletter_total{reason}, anpr_reads_future_stamped_total, anpr_route_copies_total, anpr_not_applicable_total,
// anpr_delivery_retries_total, anpr_kafka_producer_replaced_total,
// anpr_transactions_total{outcome}, anpr_reads_unfinished, anpr_partitions_assigned,
// anpr_consumer_lag{topic,partition}, anpr_match_batch_seconds, anpr_read_to_hit_seconds.
[[nodiscard]] metrics::Collector collect_processor(const Processor& p, std::string reads_topic);

// anpr_reference_entries{list}, anpr_reference_list_info{list,version,owner,match_mode},
// anpr_reference_index_bytes, anpr_reference_index_swaps_total.
// Entries per list are counted once per published snapshot.
[[nodiscard]] metrics::Collector collect_index(const LiveIndex& index);

// anpr_retention_records_stored_total{country}, anpr_retention_records_skipped_total{country},
// anpr_retention_records_purged_total{country}, anpr_retention_oldest_record_age_seconds{country},
// anpr_retention_max_age_seconds{country,kind}, anpr_retention_buckets{country}.
[[nodiscard]] metrics::Collector collect_retention(const store::Store& store,
                                                   const config::Settings& settings);

}  // namespace anpr::app
