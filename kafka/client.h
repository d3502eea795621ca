// Kafka clients as RAII types over librdkafka's C API (docs/design.md §7: a plain Kafka client, so a real
// cluster works unchanged), and the embedded Kafka-protocol broker used by the demo and the tests.
//
// Properties are librdkafka's (CONFIGURATION.md of librdkafka); they pass through unchanged, so
// TLS and SASL settings work. A property librdkafka rejects is a start-up error naming it.
//
// Thread safety: librdkafka handles are thread-safe; the wrappers add no state of their own except
// where noted.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/signing.h"

struct rd_kafka_mock_cluster_s;  // rdkafka_mock.h

namespace anpr::kafka {

using Properties = std::vector<std::pair<std::string, std::string>>;

// A client could not be created or configured; what() names the property or the cause.
class KafkaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// A configuration object with `props` set in order; throws KafkaError naming a bad property.
rd_kafka_conf_t* make_conf(const Properties& props);

// Creates a client of `type` from `conf` (which it takes over). Throws KafkaError.
Handle make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf);

// A producer whose delivery reports go to one callback. `poll()` serves them; the destructor
// flushes (up to 10 s) before destroying the handle.
class Producer {
 public:
  // Called for every delivered or failed message: (error, the message's opaque, the message).
  using DeliveryFn = std::function<void(rd_kafka_resp_err_t, void*, const rd_kafka_message_t&)>;

  // `signer`: when it holds a key, every message produced carries the `anpr-sig` header over its
  // topic, key and value (kafka/signing.h), messages sent again included.
  Producer(const Properties& props, DeliveryFn on_delivery, Signer signer = Signer());
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Looks up the metadata of `topics` now (waiting up to `timeout_ms` in all) and keeps a handle for
  // each, so the first message to them is not held back until librdkafka's next metadata
  // refresh (up to a second). Call before producing, from one thread. Returns the topics whose
  // metadata could not be fetched.
  std::vector<std::string> prepare_topics(const std::vector<std::string>& topics, int timeout_ms);

  // Enqueues a copy of `value` for `topic` with `key`. While the local queue is full, serves
  // delivery reports and retries (back-pressure). Returns the error for anything else.
  // `timestamp_ms` is the message's CreateTime (0 = now).
  rd_kafka_resp_err_t produce(const std::string& topic, std::string_view key,
                              std::string_view value, void* opaque = nullptr,
                              int32_t partition = RD_KAFKA_PARTITION_UA, int64_t timestamp_ms = 0);
  int poll(int timeout_ms) { return rd_kafka_poll(rk_.get(), timeout_ms); }
  // Waits for every enqueued message's delivery report; false on timeout.
  bool flush(int timeout_ms) { return rd_kafka_flush(rk_.get(), timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR; }
  int outstanding() const { return rd_kafka_outq_len(rk_.get()); }
  rd_kafka_t* get() const { return rk_.get(); }

 private:
  static void on_dr(rd_kafka_t*, const rd_kafka_message_t* m, void* self);
  DeliveryFn on_delivery_;
  const Signer signer_;
  Handle rk_;
  std::vector<std::pair<std::string, rd_kafka_topic_t*>> topics_;  // read-only once prepared
};

// A consumer that is closed before it is destroyed. The constructor sends the main queue's events
// to the consumer's queue (rd_kafka_poll_set_consumer), so `poll()` serves them all, callbacks
// included.
//
// `close()` leaves the group: librdkafka revokes the assignment (the rebalance callback runs),
// commits what was stored when enable.auto.commit is on, and stops fetching. Call it where the
// order of a shutdown matters (the processor does, before its producer closes). The destructor
// closes a consumer that was not closed yet, then destroys the handle. It does so always,
// subscribed, assigned or neither: rd_kafka_destroy() would close a consumer with a group.id
// anyway, so this only makes that step the same, and visible, for every consumer. The destructor
// ignores the close's error; `close()` returns it.
//
// Move-only; a default-constructed or moved-from Consumer holds no handle (`get()` is null).
// Thread safety: `poll()`, `subscribe()` and `assign()` as librdkafka's; `close()`, moves and the
// destructor from one thread, with no other call running.
class Consumer {
 public:
  Consumer() = default;
  // A consumer with `props` (make_conf). Throws KafkaError.
  explicit Consumer(const Properties& props);
  // A consumer from `conf`, which it takes over (for callers that set an opaque or callbacks on
  // the configuration first). Throws KafkaError.
  explicit Consumer(rd_kafka_conf_t* conf);
  ~Consumer() { close(); }
  Consumer(Consumer&& other) noexcept
      : rk_(std::move(other.rk_)), closed_(std::exchange(other.closed_, false)) {}
  // Closes and destroys the consumer this one held, then takes over `other`'s.
  Consumer& operator=(Consumer&& other) noexcept;
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  rd_kafka_t* get() const { return rk_.get(); }
  explicit operator bool() const { return rk_ != nullptr; }

  // Joins the consumer group for `topics` (rd_kafka_subscribe); librdkafka's error, if any.
  rd_kafka_resp_err_t subscribe(const std::vector<std::string>& topics);
  // Reads exactly `partitions` from their offsets, without the group (rd_kafka_assign).
  rd_kafka_resp_err_t assign(const rd_kafka_topic_partition_list_t* partitions) {
    return rd_kafka_assign(rk_.get(), partitions);
  }
  // The next message or event, or null after `timeout_ms` (rd_kafka_consumer_poll).
  Message poll(int timeout_ms) { return Message(rd_kafka_consumer_poll(rk_.get(), timeout_ms)); }
  // rd_kafka_consumer_close() once: later calls, and calls on an empty Consumer, do nothing and
  // return no error. The handle stays until the destructor (librdkafka allows queries after close).
  rd_kafka_resp_err_t close();

 private:
  Handle rk_;
  bool closed_ = false;
};

// Librdkafka's Kafka-protocol test broker (rdkafka_mock.h), running on localhost threads inside
// this process. Limits (docs/design.md §7): each partition keeps at most 5 MiB / 100 000 message sets
// and silently drops older data; no compaction; no time retention.
class EmbeddedBroker {
 public:
  explicit EmbeddedBroker(int brokers = 1);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT,..." for bootstrap.servers.
  const std::string& bootstrap() const { return bootstrap_; }
  // Creates a topic with `partitions` partitions (replication factor 1). Throws KafkaError.
  void create_topic(const std::string& name, int partitions);
  // Makes broker `broker_id` (1..brokers) the partition's leader; -1 leaves it without a leader,
  // so nobody can read or write it until a leader is set again (tests). Throws KafkaError.
  void set_leader(const std::string& topic, int partition, int broker_id);

 private:
  Handle rk_;  // owns the cluster's bookkeeping (rdkafka_mock.h)
  ::rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstrap_;
};

// librdkafka's text for an error code.
inline std::string error_text(rd_kafka_resp_err_t e) { return rd_kafka_err2str(e); }

}  // namespace anpr::kafka
