// A follower of Kafka topics without a consumer group (ARCHITECTURE.md, "Followers of the hits
// topic"): a plain consumer that assigns every partition of the topics it is given, starts each at
// the position its user asks for, checks the records' signatures (docs/kafka.md, "Signed records")
// and hands each record to its user's callbacks, on a thread of its own. Nothing is committed:
// every instance reads everything, whichever instance wrote it.
//
// Its users, each with a follower of its own (see ARCHITECTURE.md for why not one for all three):
//   - the control rooms' feed (serve/hit_feed.h): hits and acknowledgements, from the last
//     `capacity` records of each partition, told when the start's refill is read;
//   - the yield figures (serve/yield_book.h): hits and acknowledgements, from the beginning;
//   - suppression across instances (pipeline/group_hits.h): hits, from the first one published
//     within the longest window, read committed only.
//
// What it does, the same for every user:
//   - Assignment: every partition of each topic once the topic's metadata names them, tried
//     again every 2 s for a topic that is not there yet (a topic created after the start is
//     followed from then on); a topic that cannot be assigned is logged and tried again.
//   - Start position (FollowerStart): the beginning, the last N records of each partition, or the
//     first record published at or after a time (Kafka's lookup by time; a partition with none,
//     or a broker that cannot say, from its end as an offset; the embedded broker answers no
//     lookup by time, so there the last FollowerStart::kEmbeddedTail records). With `since`,
//     records published before that time are skipped after their signature check.
//   - Signatures: with keys (kafka.signing_key_file), a record whose `anpr-sig` header does not
//     verify for its topic, key and value (unsigned, another key, signed for another topic,
//     changed since) never reaches on_record: on_unsigned gets it instead, and with
//     `unsigned_log` set a warning naming the topic, partition and offset, never the content, is
//     logged at most once a minute per topic. Without keys every record is taken.
//   - Catch-up: with on_caught_up set, the ends of the partitions at assignment are noted, and
//     on_caught_up is called once when every topic is assigned and every partition has been read
//     up to that end, or after `caught_up_at_most`, whichever comes first.
//   - Records that are not messages (librdkafka errors and events) count as an empty poll.
//
// What a user decides: its topics, start, consumer properties (group.id prefix, fetch wait,
// isolation level), what it does with a record, with an unsigned one and with nothing.
//
// Thread safety: start() and stop() from one thread; the callbacks run on the follower's thread,
// one at a time, never after stop() returned.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/settings.h"
#include "kafka/client.h"

namespace anpr::app {

// Where a follower starts in each partition of its topics.
struct FollowerStart {
  // The embedded broker answers no lookup by time: a `since` start there begins this many
  // records before the end of each partition.
  static constexpr int64_t kEmbeddedTail = 1000;

  enum class Kind { beginning, tail, since };
  Kind kind = Kind::beginning;
  int64_t tail = 0;      // tail: the last `tail` records of each partition
  int64_t since_ms = 0;  // since: the first record published at or after this (ms since epoch)

  static FollowerStart beginning() { return {}; }
  static FollowerStart last(int64_t records) { return {Kind::tail, records, 0}; }
  static FollowerStart published_since(int64_t ms) { return {Kind::since, 0, ms}; }
};

// A record the follower hands to its user.
struct FollowedRecord {
  std::size_t topic = 0;            // index into TopicFollower::Options::topics
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view value;           // valid during the callback only
  std::optional<int64_t> published_ms;  // the message's time, when the broker gave one
  const rd_kafka_message_t* message = nullptr;  // valid during the callback only
};

class TopicFollower {
 public:
  struct Options {
    std::string name;          // in logs: "hit feed", "yield", "suppression"
    std::string group_prefix;  // group.id = prefix + "-" + the process id (for ACLs; nothing joins)
    std::vector<std::string> topics;
    FollowerStart start;
    // Consumer properties: `defaults` an operator's kafka.consumer.* may change, `fixed` what
    // none may (after group.id, enable.auto.commit=false, enable.auto.offset.store=false).
    kafka::Properties defaults, fixed;
    // Whether ignored unsigned records are logged (at most once a minute per topic), and what the
    // line says they cause ("" for nothing more).
    std::optional<std::string> unsigned_log;
    // on_caught_up is called at the latest this long after the start.
    std::chrono::milliseconds caught_up_at_most{30'000};
  };
  struct Callbacks {
    // A record whose signature verified (or any record without keys).
    std::function<void(const FollowedRecord&)> on_record;
    // A record without a valid signature (only with keys); it is not given to on_record.
    std::function<void(const FollowedRecord&)> on_unsigned;
    // A poll that brought no record (an empty poll, an error or an event).
    std::function<void()> on_idle;
    // See the header comment; unset: the ends are not looked up.
    std::function<void()> on_caught_up;
  };

  TopicFollower() = default;
  ~TopicFollower() { stop(); }
  TopicFollower(const TopicFollower&) = delete;
  TopicFollower& operator=(const TopicFollower&) = delete;

  // Creates the consumer from `kafka` (brokers, kafka.properties, kafka.consumer, signing keys)
  // and starts following on a thread of its own; a running follower is stopped first. Throws
  // kafka::KafkaError when the consumer cannot be made (nothing runs then).
  void start(const config::KafkaSettings& kafka, Options options, Callbacks callbacks);
  // Ends the thread (after the callback running, if any) and closes the consumer. Idempotent.
  void stop();
  bool running() const { return thread_.joinable(); }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace anpr::app
