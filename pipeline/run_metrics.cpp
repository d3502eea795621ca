#include "pipeline/run_metrics.h"

#include <memory>
#include <mutex>

#include "pipeline/processor.h"
#include "store/store.h"

namespace anpr::app {

metrics::Collector collect_processor(const Processor& p, std::string reads_topic) {
  return metrics::add_collector([&p, topic = std::move(reads_topic)](metrics::Families& out) {
    const ProcessorCounters c = p.counters();
    {
      auto f = out.counter("anpr_reads_total",
                           "Reads processed, by the country of their camera (unknown: not decoded "
                           "or camera not registered)");
      for (const auto& [country, n] : c.reads_by_country)
        f.add({{"country", country}}, static_cast<double>(n));
    }
    {
      auto f = out.counter("anpr_hits_total", "Hits published, by list, category and match kind");
      for (const auto& [key, n] : c.hits_by_list)
        f.add({{"list", std::get<0>(key)},
               {"category", std::get<1>(key)},
               {"match_kind", std::get<2>(key)}},
              static_cast<double>(n));
    }
    {
      auto f = out.counter("anpr_suppressed_total",
                           "Hits not published because the same plate hit the same list within "
                           "the suppression window, by list");
      for (const auto& [list, n] : c.suppressed_by_list)
        f.add({{"list", list}}, static_cast<double>(n));
    }
    {
      auto f = out.counter("anpr_deadletter_total", "Reads sent to the dead-letter topic, by reason");
      for (const auto& [reason, n] : c.deadletter_reasons)
        f.add({{"reason", reason}}, static_cast<double>(n));
    }
    {
      auto f = out.counter("anpr_image_errors_total",
                           "Images that could not be used (the hit went out with image_error, a "
                           "kept passage without the image), by reason");
      for (const auto& [reason, n] : c.image_error_reasons)
        f.add({{"reason", reason}}, static_cast<double>(n));
    }
    out.counter("anpr_image_decodes_total",
                "Images decoded (or refused while trying): those of reads with a hit, and of "
                "passages kept with their images")
        .add({}, static_cast<double>(c.image_decodes));
    out.counter("anpr_reads_future_stamped_total",
                "Reads whose capture time was later than the processor's clock by more than "
                "pipeline.max_clock_skew_ms (processed; kept by the processor's time)")
        .add({}, static_cast<double>(c.future_stamped));
    out.counter("anpr_route_copies_total", "Hits also published to a partner country's route topic")
        .add({}, static_cast<double>(c.route_copies));
    out.counter("anpr_not_applicable_total",
                "Index matches dropped because the camera country's rules do not apply the list "
                "or the entry's category")
        .add({}, static_cast<double>(c.not_applicable));
    {
      // Not the hits it recorded: those include covert lists' hits, whose count must not show
      // (docs/operators.md, "Covert lists").
      auto f = out.counter("anpr_suppression_records_ignored_total",
                           "Records of the hits topic that suppression across instances ignored, "
                           "by reason (unsigned, malformed, future)");
      f.add({{"reason", "unsigned"}}, static_cast<double>(c.group_hits.unsigned_));
      f.add({{"reason", "malformed"}}, static_cast<double>(c.group_hits.malformed));
      f.add({{"reason", "future"}}, static_cast<double>(c.group_hits.future));
    }
    out.counter("anpr_delivery_retries_total",
                "Messages produced again after a failed delivery report")
        .add({}, static_cast<double>(c.delivery_retries));
    out.counter("anpr_kafka_producer_replaced_total",
                "Kafka producers that failed for good (librdkafka's fatal error) and were "
                "replaced; their undelivered messages were sent again")
        .add({}, static_cast<double>(c.producers_replaced));
    out.counter("anpr_transactions_total",
                "Transactions of pipeline.exactly_once, by outcome (committed, aborted: processed "
                "again)")
        .add({{"outcome", "committed"}}, static_cast<double>(c.transactions_committed))
        .add({{"outcome", "aborted"}}, static_cast<double>(c.transactions_aborted));
    out.counter("anpr_reads_consumed_total", "Messages consumed from the reads topic")
        .add({}, static_cast<double>(c.reads));
    out.gauge("anpr_reads_unfinished",
              "Consumed reads whose outputs are not all delivered yet (their offsets wait)")
        .add({}, static_cast<double>(c.unfinished));
    out.gauge("anpr_partitions_assigned", "Partitions of the reads topic assigned to this instance")
        .add({}, static_cast<double>(p.assigned_partitions()));
    const ProcessorHealth h = p.health();
    out.gauge("anpr_kafka_unanswered_seconds",
              "Seconds since the Kafka cluster last answered the processor's probe (a metadata "
              "request every second)")
        .add({}, h.broker_unanswered_seconds);
    out.gauge("anpr_consumption_paused",
              "1 while consumption is paused because pipeline.max_unfinished_reads reads are "
              "unfinished")
        .add({}, h.consumption_paused ? 1.0 : 0.0);
    if (p.retention_store()) {
      out.gauge("anpr_retention_store_failing",
                "1 while the retention store cannot write (its last write failed: disk full, "
                "read-only, I/O error); hits are still published, the kept reads' offsets wait")
          .add({}, h.store_failing ? 1.0 : 0.0);
      out.counter("anpr_retention_write_failures_total",
                  "Writes of the retention store that failed (each is tried again)")
          .add({}, static_cast<double>(h.store_failed_writes));
      out.gauge("anpr_retention_pending_records",
                "Records handed to the retention store and not yet durable")
          .add({}, static_cast<double>(h.store_pending_records));
    }
    {
      auto f = out.gauge("anpr_consumer_lag",
                         "Reads waiting in a partition: high watermark minus the offset this "
                         "instance would resume from");
      for (const PartitionLag& l : p.consumer_lag())
        f.add({{"topic", topic}, {"partition", std::to_string(l.partition)}},
              static_cast<double>(l.lag));
    }
    out.histogram("anpr_match_batch_seconds",
                  "Time to decode, normalise, match and encode one batch of reads "
                  "(pipeline.batch reads at most)")
        .add({}, p.batch_seconds().snapshot());
    out.histogram("anpr_read_to_hit_seconds",
                  "From a read's camera timestamp to the delivery report of its hit")
        .add({}, p.read_to_hit_seconds().snapshot());
  });
}

metrics::Collector collect_index(const LiveIndex& index) {
  struct Cache {
    std::weak_ptr<const Snapshot> snap;  // weak: an old version is freed as soon as it is replaced
    std::vector<uint64_t> per_list;
  };
  auto cache = std::make_shared<Cache>();
  return metrics::add_collector([&index, cache](metrics::Families& out) {
    // Scrapes run one at a time (metrics.h), so the cache needs no lock of its own.
    const std::shared_ptr<const Snapshot> snap = index.current();
    if (!snap) return;
    const bool same = !cache->snap.expired() && !cache->snap.owner_before(snap) &&
                      !snap.owner_before(cache->snap);
    if (!same) {
      cache->per_list.assign(snap->list_count(), 0);
      for (uint32_t e = 0; e < snap->entry_count(); ++e) ++cache->per_list[snap->entry_list(e)];
      cache->snap = snap;
    }
    auto entries = out.gauge("anpr_reference_entries", "Entries of each loaded reference list");
    auto info = out.gauge("anpr_reference_list_info",
                          "Always 1: the active version, owner and match mode of each list");
    for (uint16_t l = 0; l < snap->list_count(); ++l) {
      const ListMeta& m = snap->list(l);
      // Covert lists are never named in metrics (docs/operators.md, "Covert lists").
      if (m.covert) continue;
      entries.add({{"list", m.id}}, static_cast<double>(cache->per_list[l]));
      info.add({{"list", m.id},
                {"version", m.version},
                {"owner", m.owner.str()},
                {"match_mode", std::string(to_string(m.mode))}},
               1);
    }
    out.gauge("anpr_reference_index_bytes", "Memory of the active reference index")
        .add({}, static_cast<double>(snap->stats().index_bytes));
    out.counter("anpr_reference_index_swaps_total",
                "Reference index versions published since start (list loads and updates)")
        .add({}, static_cast<double>(index.version_count()));
  });
}

metrics::Collector collect_retention(const store::Store& store, const config::Settings& settings) {
  return metrics::add_collector([&store, &settings](metrics::Families& out) {
    const auto stats = store.stats();
    const TimestampMs now = store.now();
    auto stored = out.counter("anpr_retention_records_stored_total",
                              "Passages and hits written to the retention store, by camera country");
    auto skipped = out.counter("anpr_retention_records_skipped_total",
                               "Records not written: the country's policy keeps nothing of their "
                               "kind, or they were already past their deadline");
    auto purged = out.counter("anpr_retention_records_purged_total",
                              "Records deleted by purges");
    auto oldest = out.gauge("anpr_retention_oldest_record_age_seconds",
                            "Age of the oldest record held (from its retention base); compare "
                            "with anpr_retention_max_age_seconds");
    auto buckets = out.gauge("anpr_retention_buckets", "Live time buckets of the store");
    for (const auto& [country, s] : stats) {
      const metrics::Labels l{{"country", country.str()}};
      stored.add(l, static_cast<double>(s.stored));
      skipped.add(l, static_cast<double>(s.skipped));
      purged.add(l, static_cast<double>(s.purged));
      buckets.add(l, static_cast<double>(s.buckets));
      if (s.oldest_base > 0)
        oldest.add(l, static_cast<double>(std::max<TimestampMs>(0, now - s.oldest_base)) / 1000.0);
    }
    auto limit = out.gauge("anpr_retention_max_age_seconds",
                           "The longest a record may be kept by the policy in force, by camera "
                           "country and kind (passage, hit)");
    for (const config::RetentionPolicy& p : settings.retention.policies) {
      if (p.keep_passages)
        limit.add({{"country", p.country.str()}, {"kind", "passage"}}, p.passage_days * 86400.0);
      if (p.hit_days > 0)
        limit.add({{"country", p.country.str()}, {"kind", "hit"}}, p.hit_days * 86400.0);
    }
  });
}

}  // namespace anpr::app
