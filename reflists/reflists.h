// Reference lists distributed through the compacted Kafka topic `anpr.reflists` (topics.reflists),
// so that every processor instance holds every list (docs/design.md §3, scale-out).
//
// Records (all on partition 0, so their order is the order they were written):
//   key "e/LIST/CC/PLATE"  (CC = plate_country, "-" for any country; PLATE normalised)
//     value: one entry as JSON {"plate","plate_country","category","action","priority",
//            "valid_until" (RFC 3339 or null),"reference","note"[,"registry_exception":true]};
//            null value = tombstone (the entry was removed)
//   key "v/LIST"  the version marker, written after the version's entries and tombstones:
//     {"type":"version","list_id","sidecar" (the list's TOML metadata),"checksum","entries" (how
//      many the version has),"by","at"}; null value = the list was deleted
// Compaction keeps the last record of every key: the latest entry of every plate, the latest
// marker of every list.
//
// Publisher (`anpr lists publish FILE`): validates the file like a load (threshold included),
// reads the topic to learn which entries the list has there now, writes every entry of the new
// version, a tombstone for every entry no longer in it, then the marker, and waits until the
// broker has acknowledged all of it.
//
// Follower (`anpr run` with lists.follow_topic): reads the whole topic from the beginning on
// every partition, without joining a consumer group (each instance reads everything). Entries
// accumulate per list; nothing reaches the index until the list's marker. Once the follower has
// reached the end of the topic it hands every list with a marker to the Registry (one version
// each); after that every new marker replaces its list at once (Registry::apply_published: one
// snapshot swap, readers never see a half-published version). A malformed record is logged
// (without its content) and skipped. A marker whose entry count differs from the entries the
// topic holds for its list (a publish cut short, or one still being written) is refused: the
// active version stays until a complete version's marker arrives.
//
// Audit (http/audit.h, state.dir/audit.jsonl, the same file as the HTTP API's records): the
// publisher records `list.publish.requested` before it writes anything and `list.publish` with
// the outcome (published, refused, invalid, failed), the version (checksum), entries and
// tombstones. A follower records `list.apply_published.requested` before it hands a version to
// the registry and `list.apply_published` with the outcome (applied, refused when the entry
// count does not match, or the registry's error). Who: the publisher's --by name, role
// "publisher". When the intent cannot be recorded nothing is written or applied.
//
// Thread safety: ReflistFollower runs on a thread of its own; start()/stop() from one thread;
// caught_up() and applied() from any thread. ReflistApplier: one thread feeds it; caught_up(),
// applied() and refused() from any thread.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>

#include <simdjson.h>

#include "http/audit.h"
#include "kafka/client.h"
#include "lists/registry.h"

namespace anpr::app {

std::string reflist_entry_key(std::string_view list_id, CountryCode country, const Plate& plate);
std::string reflist_marker_key(std::string_view list_id);
// The entry's record value (see above).
std::string reflist_entry_json(const ListEntry& e);

struct PublishResult {
  lists::Report report;
  bool published = false;
  std::size_t entries = 0;     // entry records written
  std::size_t tombstones = 0;  // entries of the previous version removed
  std::string checksum;
  std::string error;  // why nothing (or not everything) was published
};

// Publishes `file` (with its sidecar) to `topic`. `props` are the Kafka client properties
// (bootstrap.servers, TLS, ...). Nothing is written when the file is refused. With `audit`, the
// publish is recorded (see above); throws std::runtime_error when the intent cannot be recorded
// (nothing is written then).
PublishResult publish_list(const kafka::Properties& props, const std::string& topic,
                           const std::filesystem::path& file, const lists::Policy& policy,
                           const std::string& who, http::AuditLog* audit = nullptr);

// The follower's bookkeeping without Kafka: feed it the topic's records in their order and tell
// it each time the end of the topic is reached; it hands complete versions to the registry.
class ReflistApplier {
 public:
  // `topic` only names the source of the versions; `audit` may be null (nothing recorded).
  ReflistApplier(std::string topic, lists::Registry& registry, std::ostream& log,
                 http::AuditLog* audit = nullptr);
  // One record; `value` nullptr for a tombstone.
  void on_record(std::string_view key, const char* value, std::size_t len);
  // The end of the topic was reached: the first time, applies the markers read so far.
  void on_end();

  bool caught_up() const { return caught_up_.load(); }
  // Versions (and deletions) handed to the registry and applied so far.
  uint64_t applied() const { return applied_.load(); }
  // Markers refused because the topic's entries did not match their count.
  uint64_t refused() const { return refused_.load(); }

 private:
  struct Marker {
    bool deleted = false;
    std::string sidecar, checksum, by;
    std::size_t entries = 0;
  };
  void apply(const std::string& id, const Marker& m);
  void apply_safely(const std::string& id, const Marker& m);

  std::string topic_;
  lists::Registry& registry_;
  std::ostream& log_;
  http::AuditLog* audit_;
  std::map<std::string, std::unordered_map<std::string, ListEntry>> lists_;
  std::map<std::string, Marker> pending_;  // markers not yet applied (before the first end)
  simdjson::dom::parser parser_;
  std::size_t malformed_ = 0;
  std::atomic<bool> caught_up_{false};
  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> refused_{0};
};

class ReflistFollower {
 public:
  // `audit` may be null (nothing recorded); it must outlive the follower.
  ReflistFollower(kafka::Properties props, std::string topic, lists::Registry& registry,
                  std::ostream& log, http::AuditLog* audit = nullptr);
  ~ReflistFollower();
  ReflistFollower(const ReflistFollower&) = delete;
  ReflistFollower& operator=(const ReflistFollower&) = delete;

  // Starts the thread. Throws kafka::KafkaError when the consumer cannot be created.
  void start();
  void stop();
  // The end of the topic was reached once and what was there is in the index.
  bool caught_up() const { return applier_.caught_up(); }
  // Versions (and deletions) handed to the registry so far.
  uint64_t applied() const { return applier_.applied(); }
  // Markers refused (entry count mismatch).
  uint64_t refused() const { return applier_.refused(); }

 private:
  void run();

  kafka::Properties props_;
  std::string topic_;
  std::ostream& log_;
  ReflistApplier applier_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace anpr::app
