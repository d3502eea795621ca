#include "pipeline/topic_follower.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <utility>

#include "kafka/signing.h"
#include "logging/log.h"
#include "pipeline/kafka_props.h"

namespace anpr::app {

namespace {

// How often a topic that could not be assigned yet is tried again.
constexpr auto kAssignEvery = std::chrono::seconds(2);
// At most one log line per topic in this time about records without a valid signature.
constexpr auto kUnsignedLogEvery = std::chrono::minutes(1);
constexpr int kPollMs = 200;

using SteadyClock = std::chrono::steady_clock;

// The follower's thread: owns the consumer and closes it when run() ends.
class Loop {
 public:
  Loop(kafka::Consumer rk, TopicFollower::Options o, TopicFollower::Callbacks cb,
       kafka::Signer signer)
      : rk_(std::move(rk)), o_(std::move(o)), cb_(std::move(cb)), signer_(std::move(signer)),
        assigned_(o_.topics.size(), false), unlogged_(o_.topics.size(), 0),
        last_log_(o_.topics.size(), SteadyClock::time_point::min()) {}

  void run(const std::atomic<bool>& stop) {
    auto next_check = SteadyClock::now();
    const auto caught_up_by = SteadyClock::now() + o_.caught_up_at_most;
    bool caught_up_told = !cb_.on_caught_up;
    while (!stop.load()) {
      if (SteadyClock::now() >= next_check) {
        next_check = SteadyClock::now() + kAssignEvery;
        for (std::size_t t = 0; t < o_.topics.size(); ++t)
          if (!assigned_[t]) assigned_[t] = assign(t);
      }
      if (!caught_up_told) {
        const bool all = std::all_of(assigned_.begin(), assigned_.end(), [](bool b) { return b; });
        if ((all && ends_.empty()) || SteadyClock::now() >= caught_up_by) {
          caught_up_told = true;
          cb_.on_caught_up();
        }
      }
      const kafka::Message m = rk_.poll(kPollMs);
      if (!m || m->err) {
        if (cb_.on_idle) cb_.on_idle();
        continue;
      }
      const std::string_view name = rd_kafka_topic_name(m->rkt);
      const auto at = std::find(o_.topics.begin(), o_.topics.end(), name);
      if (at == o_.topics.end()) continue;  // not assigned by this follower: cannot happen
      FollowedRecord r;
      r.topic = static_cast<std::size_t>(at - o_.topics.begin());
      r.partition = m->partition;
      r.offset = m->offset;
      r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
      r.message = m.get();
      rd_kafka_timestamp_type_t type;
      if (const int64_t published = rd_kafka_message_timestamp(m.get(), &type);
          type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && published >= 0)
        r.published_ms = published;
      // Read up to where the partition ended at assignment, whatever the record says.
      if (auto end = ends_.find({r.topic, r.partition});
          end != ends_.end() && r.offset + 1 >= end->second)
        ends_.erase(end);
      if (signer_.enabled() && !signer_.verify(*m)) {
        log_unsigned(r);
        if (cb_.on_unsigned) cb_.on_unsigned(r);
        continue;
      }
      // Published before a `since` start: skipped unread.
      if (o_.start.kind == FollowerStart::Kind::since && r.published_ms &&
          *r.published_ms < o_.start.since_ms)
        continue;
      if (cb_.on_record) cb_.on_record(r);
    }
    rk_.close();
  }

 private:
  // Assigns every partition of topics[t] at the start position; false when its partitions are not
  // known yet or the assignment failed.
  bool assign(std::size_t t) {
    const std::string& topic = o_.topics[t];
    rd_kafka_topic_t* th = rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    bool ok = false;
    if (rd_kafka_metadata(rk_.get(), 0, th, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
      const int n = md->topics[0].partition_cnt;
      int64_t offset = RD_KAFKA_OFFSET_BEGINNING;
      if (o_.start.kind == FollowerStart::Kind::tail)
        offset = RD_KAFKA_OFFSET_TAIL(o_.start.tail);
      else if (o_.start.kind == FollowerStart::Kind::since)
        offset = o_.start.since_ms;  // a time, until resolve_times()
      kafka::PartitionList parts(rd_kafka_topic_partition_list_new(n));
      for (int p = 0; p < n; ++p)
        rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(),
                                          md->topics[0].partitions[p].id)
            ->offset = offset;
      if (o_.start.kind == FollowerStart::Kind::since) resolve_times(topic, parts.get());
      // Where each partition ends now: read up to there, the start is caught up.
      std::map<std::pair<std::size_t, int32_t>, int64_t> ends;
      if (cb_.on_caught_up)
        for (int i = 0; i < parts->cnt; ++i) {
          int64_t low = 0, high = 0;
          const int32_t id = parts->elems[i].partition;
          if (rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), id, &low, &high, 2000) ==
                  RD_KAFKA_RESP_ERR_NO_ERROR &&
              high > low)
            ends[{t, id}] = high;
        }
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_.get(), parts.get())) {
        log::warn("run", o_.name + ": cannot follow " + topic + ": " + rd_kafka_error_string(e),
                  {{"topic", topic}, {"error", rd_kafka_error_string(e)}});
        rd_kafka_error_destroy(e);
      } else {
        ends_.merge(ends);
        ok = true;
      }
    }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(th);
    return ok;
  }

  // Turns the times in `parts` (offsets holding since_ms) into offsets: the first message at or
  // after the time, else the partition's current end as an offset (so a record published between
  // this question and the assignment is not skipped); on the embedded broker, which answers every
  // lookup by time so, the last kEmbeddedTail records, of which run() skips those published
  // before since_ms.
  void resolve_times(const std::string& topic, rd_kafka_topic_partition_list_t* parts) {
    bool embedded = false;
    if (char* cluster = rd_kafka_clusterid(rk_.get(), 2000)) {
      embedded = std::string_view(cluster).starts_with("mockCluster");
      rd_kafka_mem_free(rk_.get(), cluster);
    }
    const rd_kafka_resp_err_t by_time = rd_kafka_offsets_for_times(rk_.get(), parts, 5000);
    for (int i = 0; i < parts->cnt; ++i) {
      rd_kafka_topic_partition_t& tp = parts->elems[i];
      if (by_time == RD_KAFKA_RESP_ERR_NO_ERROR && !tp.err && tp.offset >= 0) continue;
      int64_t low = 0, high = 0;
      tp.err = RD_KAFKA_RESP_ERR_NO_ERROR;
      tp.offset = rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), tp.partition, &low,
                                                   &high, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR
                      ? (embedded ? std::max(low, high - FollowerStart::kEmbeddedTail) : high)
                      : RD_KAFKA_OFFSET_END;
    }
  }

  void log_unsigned(const FollowedRecord& r) {
    if (!o_.unsigned_log) return;
    const std::size_t t = r.topic;
    ++unlogged_[t];
    const auto now = SteadyClock::now();
    if (last_log_[t] != SteadyClock::time_point::min() && now - last_log_[t] < kUnsignedLogEvery)
      return;
    // Where the record is, never what it says: it may be anybody's text.
    const bool has_sig = !kafka::signature_header(*r.message).empty();
    const std::string& topic = o_.topics[t];
    log::warn("run",
              o_.name + ": ignored " + std::to_string(unlogged_[t]) + " record(s) of " + topic +
                  " without a valid signature (" + (has_sig ? "wrong signature" : "unsigned") +
                  ", latest at partition " + std::to_string(r.partition) + " offset " +
                  std::to_string(r.offset) + ")" + *o_.unsigned_log +
                  "; see docs/kafka.md, \"Signed records\"",
              {{"topic", topic},
               {"records", unlogged_[t]},
               {"partition", static_cast<int64_t>(r.partition)},
               {"offset", static_cast<int64_t>(r.offset)},
               {"reason", has_sig ? "wrong_signature" : "unsigned"}});
    last_log_[t] = now;
    unlogged_[t] = 0;
  }

  kafka::Consumer rk_;
  const TopicFollower::Options o_;
  const TopicFollower::Callbacks cb_;
  const kafka::Signer signer_;
  std::vector<bool> assigned_;
  // (topic, partition) -> where it ended at assignment, until read up to there (on_caught_up).
  std::map<std::pair<std::size_t, int32_t>, int64_t> ends_;
  std::vector<uint64_t> unlogged_;
  std::vector<SteadyClock::time_point> last_log_;
};

}  // namespace

void TopicFollower::start(const config::KafkaSettings& kafka, Options options,
                          Callbacks callbacks) {
  stop();
  // No consumer group: nothing joins it and nothing is committed; the id only names the client
  // for ACLs (docs/kafka.md).
  kafka::Properties fixed{{"group.id", options.group_prefix + "-" + std::to_string(::getpid())},
                          {"enable.auto.commit", "false"},
                          {"enable.auto.offset.store", "false"}};
  fixed.insert(fixed.end(), options.fixed.begin(), options.fixed.end());
  kafka::Consumer consumer(
      kafka_properties(kafka, KafkaRole::consumer, "4", options.defaults, fixed));
  stop_ = false;
  auto loop = std::make_unique<Loop>(std::move(consumer), std::move(options),
                                     std::move(callbacks), kafka::Signer(kafka.signing_keys));
  thread_ = std::thread([this, loop = std::move(loop)] { loop->run(stop_); });
}

void TopicFollower::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace anpr::app
