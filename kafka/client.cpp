#include "kafka/client.h"

#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <string>

#include "logging/log.h"

namespace anpr::kafka {

namespace {

// librdkafka's own diagnostics (syslog levels) as the product's log lines, so `log.format =
// "json"` gives JSON Lines only. librdkafka's lines name brokers, topics and partitions, never
// message contents.
void log_line(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  const log::Level l = level <= 3 ? log::Level::error
                       : level == 4 ? log::Level::warn
                       : level <= 6 ? log::Level::info
                                    : log::Level::debug;
  if (!log::enabled(l)) return;
  const char* client = rk ? rd_kafka_name(rk) : "";
  log::write(l, "kafka", std::string(client) + ": " + facility + ": " + text,
             {{"client", client}, {"facility", facility}});
}

}  // namespace

rd_kafka_conf_t* make_conf(const Properties& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, &log_line);
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw KafkaError("Kafka property " + k + ": " + err);
    }
  }
  return conf;
}

Handle make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw KafkaError(std::string("cannot create the Kafka client: ") + err);
  }
  return Handle(rk);
}

Producer::Producer(const Properties& props, DeliveryFn on_delivery, Signer signer)
    : on_delivery_(std::move(on_delivery)), signer_(std::move(signer)) {
  rd_kafka_conf_t* conf = make_conf(props);
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_dr_msg_cb(conf, &Producer::on_dr);
  rk_ = make_client(RD_KAFKA_PRODUCER, conf);
}

Producer::~Producer() {
  if (rk_) rd_kafka_flush(rk_.get(), 10'000);
  for (auto& [name, rkt] : topics_) rd_kafka_topic_destroy(rkt);
}

std::vector<std::string> Producer::prepare_topics(const std::vector<std::string>& topics,
                                                  int timeout_ms) {
  std::vector<std::string> failed;
  // One budget for all topics: a cluster that cannot be reached costs `timeout_ms`, not that
  // much per topic.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (const std::string& t : topics) {
    bool known = false;
    for (const auto& [name, rkt] : topics_) known = known || name == t;
    if (known) continue;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), t.c_str(), nullptr);
    if (!rkt) {
      failed.push_back(t);
      continue;
    }
    const rd_kafka_metadata_t* md = nullptr;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0 ||
        rd_kafka_metadata(rk_.get(), 0, rkt, &md, static_cast<int>(left)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
      failed.push_back(t);
    if (md) rd_kafka_metadata_destroy(md);
    topics_.emplace_back(t, rkt);
  }
  return failed;
}

void Producer::on_dr(rd_kafka_t*, const rd_kafka_message_t* m, void* self) {
  auto* p = static_cast<Producer*>(self);
  if (p->on_delivery_) p->on_delivery_(m->err, m->_private, *m);
}

rd_kafka_resp_err_t Producer::produce(const std::string& topic, std::string_view key,
                                      std::string_view value, void* opaque, int32_t partition,
                                      int64_t timestamp_ms) {
  rd_kafka_topic_t* rkt = nullptr;
  for (const auto& [name, handle] : topics_)
    if (name == topic) rkt = handle;
  // A topic that was not prepared: a handle of its own for this call (librdkafka keeps one per
  // topic and counts references, so this is a lookup, not a new topic).
  rd_kafka_topic_t* own = rkt ? nullptr : rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr);
  if (!rkt) rkt = own;
  if (!rkt) return rd_kafka_last_error();
  // Signed once per call: the same bytes whatever the retries below.
  const std::string sig = signer_.enabled() ? signer_.sign(topic, key, value) : std::string();
  for (;;) {
    const rd_kafka_resp_err_t e =
        sig.empty()
            ? rd_kafka_producev(rk_.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
                                RD_KAFKA_V_END)
            // RD_KAFKA_V_HEADER copies the name and the value.
            : rd_kafka_producev(rk_.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
                                RD_KAFKA_V_HEADER(kSignatureHeader.data(), sig.data(),
                                                  static_cast<ssize_t>(sig.size())),
                                RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      if (own) rd_kafka_topic_destroy(own);
      return e;
    }
    rd_kafka_poll(rk_.get(), 50);  // serve delivery reports, which frees room
  }
}

Consumer::Consumer(const Properties& props) : Consumer(make_conf(props)) {}

Consumer::Consumer(rd_kafka_conf_t* conf) : rk_(make_client(RD_KAFKA_CONSUMER, conf)) {
  rd_kafka_poll_set_consumer(rk_.get());
}

Consumer& Consumer::operator=(Consumer&& other) noexcept {
  if (this != &other) {
    close();
    rk_ = std::move(other.rk_);
    closed_ = std::exchange(other.closed_, false);
  }
  return *this;
}

rd_kafka_resp_err_t Consumer::subscribe(const std::vector<std::string>& topics) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const std::string& t : topics)
    rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  return rd_kafka_subscribe(rk_.get(), list.get());
}

rd_kafka_resp_err_t Consumer::close() {
  if (!rk_ || closed_) return RD_KAFKA_RESP_ERR_NO_ERROR;
  closed_ = true;
  return rd_kafka_consumer_close(rk_.get());
}

EmbeddedBroker::EmbeddedBroker(int brokers) {
  // The handle only hosts the cluster's bookkeeping; it never connects anywhere.
  rk_ = make_client(RD_KAFKA_PRODUCER, make_conf({{"log_level", "3"}}));
  cluster_ = rd_kafka_mock_cluster_new(rk_.get(), brokers);
  if (!cluster_) throw KafkaError("cannot start the embedded broker");
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

EmbeddedBroker::~EmbeddedBroker() {
  if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
}

void EmbeddedBroker::create_topic(const std::string& name, int partitions) {
  rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw KafkaError("cannot create topic " + name + ": " + error_text(e));
}

void EmbeddedBroker::set_leader(const std::string& topic, int partition, int broker_id) {
  rd_kafka_resp_err_t e =
      rd_kafka_mock_partition_set_leader(cluster_, topic.c_str(), partition, broker_id);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw KafkaError("cannot set the leader of " + topic + ": " + error_text(e));
}

}  // namespace anpr::kafka
