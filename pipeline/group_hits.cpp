#include "pipeline/group_hits.h"

#include <librdkafka/rdkafka.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "kafka/client.h"
#include "kafka/signing.h"
#include "logging/log.h"
#include "match/ids.h"
#include "match/time.h"
#include "pipeline/kafka_props.h"

namespace anpr::app {

namespace {

// How much earlier than the longest window the follower starts: hits are published some time
// after their capture (consumer lag), so a hit captured within the window may have been published
// a little later than its capture time.
constexpr int64_t kStartMarginMs = 60'000;
// The embedded broker (librdkafka's test broker) cannot look offsets up by time: there the
// follower starts this many records before the end of each partition.
constexpr int64_t kEmbeddedTail = 1000;
// At most one log line in this time about records without a valid signature.
constexpr auto kUnsignedLogEvery = std::chrono::minutes(1);

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Assigns every partition of `topic` from the first message at or after `from_ms` (its time), or
// from its current end when there is none or the broker cannot say. False when the topic's
// partitions are not known yet.
bool assign_from(kafka::Consumer& rk, const std::string& topic, int64_t from_ms) {
  rd_kafka_topic_t* th = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  bool ok = false;
  if (rd_kafka_metadata(rk.get(), 0, th, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
    const int n = md->topics[0].partition_cnt;
    bool embedded = false;
    if (char* cluster = rd_kafka_clusterid(rk.get(), 2000)) {
      embedded = std::string_view(cluster).starts_with("mockCluster");
      rd_kafka_mem_free(rk.get(), cluster);
    }
    kafka::PartitionList parts(rd_kafka_topic_partition_list_new(n));
    for (int p = 0; p < n; ++p)
      rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), md->topics[0].partitions[p].id)
          ->offset = from_ms;
    const rd_kafka_resp_err_t by_time = rd_kafka_offsets_for_times(rk.get(), parts.get(), 5000);
    for (int i = 0; i < parts->cnt; ++i) {
      rd_kafka_topic_partition_t& tp = parts->elems[i];
      if (by_time == RD_KAFKA_RESP_ERR_NO_ERROR && !tp.err && tp.offset >= 0) continue;
      // No hit since then (or no answer): from the partition's current end, as an offset, so a
      // hit published between this question and the assignment is not skipped. The embedded
      // broker answers every lookup by time so: there, the last kEmbeddedTail records, of which
      // the thread skips those published before `from_ms`.
      int64_t low = 0, high = 0;
      tp.err = RD_KAFKA_RESP_ERR_NO_ERROR;
      tp.offset = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), tp.partition, &low,
                                                   &high, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR
                      ? (embedded ? std::max(low, high - kEmbeddedTail) : high)
                      : RD_KAFKA_OFFSET_END;
    }
    if (const rd_kafka_resp_err_t e = rk.assign(parts.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR)
      log::warn("run",
                "suppression: cannot follow " + topic + ": " + rd_kafka_err2str(e),
                {{"topic", topic}, {"error", rd_kafka_err2str(e)}});
    else
      ok = true;
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(th);
  return ok;
}

}  // namespace

std::optional<GroupHit> parse_group_hit(std::string_view json) {
  if (json.size() > kMaxHitRecordBytes) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) || !doc.is_object()) return std::nullopt;
  std::string_view list, plate, country, ts;
  if (doc["list_id"].get_string().get(list) || !ListId::valid(list)) return std::nullopt;
  if (doc["matched_plate"].get_string().get(plate)) return std::nullopt;
  if (doc["matched_country"].get_string().get(country)) return std::nullopt;
  if (doc["ts"].get_string().get(ts)) return std::nullopt;
  const std::optional<Plate> p = Plate::from_normalized(plate);
  const std::optional<CountryCode> c = CountryCode::parse_or_unknown(country);
  const std::optional<TimestampMs> t = parse_rfc3339(ts);
  if (!p || !c || !t) return std::nullopt;
  // The same key as the processor's ReadOutput::entry_key for the entry (pipeline/read_matcher.cpp).
  return GroupHit{std::string(list), (p->key() << CountryCode::kBits) | c->raw(), *t};
}

GroupHitFollower::Outcome GroupHitFollower::take(std::string_view json, int64_t now_ms,
                                                 int64_t max_skew_ms, GroupHits& hits) {
  const std::optional<GroupHit> h = parse_group_hit(json);
  if (!h) return Outcome::malformed;
  // A capture time far ahead would move the sweep's "now" and push every real hit out.
  if (h->ts > now_ms + max_skew_ms) return Outcome::future;
  return hits.record(h->list_id, h->entry_key, h->ts) ? Outcome::recorded : Outcome::not_recorded;
}

void GroupHitFollower::start(const config::Settings& s, GroupHits& hits, int64_t max_window_ms) {
  stop();
  stop_ = false;
  // No consumer group: every instance reads every hit and commits nothing.
  kafka::Consumer consumer(kafka_properties(
      s.kafka, KafkaRole::consumer, "4", {{"fetch.wait.max.ms", "10"}},
      {{"group.id", "anpr-suppression-" + std::to_string(::getpid())},
       {"enable.auto.commit", "false"},
       {"enable.auto.offset.store", "false"},
       {"enable.partition.eof", "false"},
       // A hit of an aborted transaction (pipeline.exactly_once) never reached a control room.
       {"isolation.level", "read_committed"}}));
  const int64_t from = wall_ms() - max_window_ms - kStartMarginMs;
  thread_ = std::thread([this, rk = std::move(consumer), topic = s.topics.hits,
                         signer = kafka::Signer(s.kafka.signing_keys),
                         skew = s.pipeline.max_clock_skew_ms, from, &hits]() mutable {
    bool assigned = false;
    auto next_try = std::chrono::steady_clock::now();
    auto last_log = std::chrono::steady_clock::time_point::min();
    uint64_t unlogged = 0;
    while (!stop_.load()) {
      if (!assigned && std::chrono::steady_clock::now() >= next_try) {
        assigned = assign_from(rk, topic, from);
        next_try = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      }
      const kafka::Message m = rk.poll(200);
      if (!m || m->err) continue;
      if (signer.enabled() && !signer.verify(*m)) {
        unsigned_.fetch_add(1);
        ++unlogged;
        if (const auto now = std::chrono::steady_clock::now();
            last_log == std::chrono::steady_clock::time_point::min() ||
            now - last_log >= kUnsignedLogEvery) {
          // Where the record is, never what it says.
          log::warn("run",
                    "suppression: ignored " + std::to_string(unlogged) + " record(s) of " + topic +
                        " without a valid signature (latest at partition " +
                        std::to_string(m->partition) + " offset " + std::to_string(m->offset) +
                        "); they suppress nothing. See docs/kafka.md, \"Signed records\"",
                    {{"topic", topic},
                     {"records", unlogged},
                     {"partition", static_cast<int64_t>(m->partition)},
                     {"offset", static_cast<int64_t>(m->offset)}});
          last_log = now;
          unlogged = 0;
        }
        continue;
      }
      // Published before the start of the last window: it can suppress nothing.
      rd_kafka_timestamp_type_t type;
      if (const int64_t published = rd_kafka_message_timestamp(m.get(), &type);
          type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && published >= 0 && published < from)
        continue;
      const std::string_view value(static_cast<const char*>(m->payload), m->len);
      switch (take(value, wall_ms(), skew, hits)) {
        case Outcome::recorded: recorded_.fetch_add(1); break;
        case Outcome::malformed: malformed_.fetch_add(1); break;
        case Outcome::future: future_.fetch_add(1); break;
        case Outcome::not_recorded: not_recorded_.fetch_add(1); break;
      }
    }
    rk.close();
  });
}

void GroupHitFollower::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

GroupHitCounters GroupHitFollower::counters() const {
  return {recorded_.load(), unsigned_.load(), malformed_.load(), future_.load(),
          not_recorded_.load()};
}

}  // namespace anpr::app
