// The processor's configuration: one TOML file (`anpr run --config FILE`).
//
// Every key is declared once, in settings_keys.cpp's declaration table, with its type, default and
// meaning; parsing, validation, `anpr config keys` and docs/configuration.md all come from that
// table. Unknown keys are errors (a typo never passes silently). Errors name the file, the line,
// the key and what was expected:
//   anpr.toml:12: suppression.window_s: expected an integer 0..86400, got "five"
//
// Relative paths in the file (camera registry, lists) are relative to the config file's folder.
//
// Thread safety: pure functions; a Settings is a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "http/token.h"
#include "image/options.h"
#include "match/rules.h"
#include "match/types.h"
#include "store/policy.h"

namespace anpr::config {

// A configuration that cannot be used. what() is the full message, starting with "file:line: ".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct KafkaSettings {
  std::string brokers = "localhost:9092";  // bootstrap.servers
  std::string group_id = "anpr";           // consumer group of the processor instances
  // Static group membership (librdkafka `group.instance.id`): an instance restarted within the
  // session timeout gets its partitions back without a rebalance. Empty: dynamic membership.
  std::string instance_id;
  // With pipeline.exactly_once: the producer's transactional.id; "" = group_id + "-" +
  // instance_id, or + the host's name without one (pipeline/kafka_props.h). Stable across
  // restarts of one instance, unique per instance: a restarted instance then fences its previous
  // incarnation.
  std::string transactional_id;
  // librdkafka properties passed through unchanged (TLS, SASL, timeouts, ...): `common` to every
  // client, then `consumer` / `producer` on top of it.
  std::map<std::string, std::string> common;
  std::map<std::string, std::string> consumer;
  std::map<std::string, std::string> producer;
  // Not a configuration key: set by `anpr demo` and `anpr bench` when they run the embedded
  // broker, whose empty fetches are held for the whole fetch.wait.max.ms (pipeline/kafka_props.h).
  bool embedded_broker = false;
  // The processor asks the cluster for metadata every second; once no answer came for this long,
  // readiness turns 503 and a warning is logged (a stopped, unreachable or frozen broker).
  int64_t unanswered_after_ms = 15'000;
  // Signed records (docs/kafka.md, "Signed records"): the file named by kafka.signing_key_file
  // and the keys read from it at load (raw bytes, the first signs, every one verifies). No keys:
  // what the processor and the server write is unsigned and the control rooms' feed verifies
  // nothing.
  std::filesystem::path signing_key_file;
  std::vector<std::string> signing_keys;
};

struct TopicSettings {
  std::string reads = "anpr.reads";
  std::string hits = "anpr.hits";
  std::string deadletter = "anpr.deadletter";
  std::string route_prefix = "anpr.route.";  // + lower-case owner country: anpr.route.be
  std::string hit_acks = "anpr.hit-acks";    // control rooms' acknowledgements of hits
  std::string reflists = "anpr.reflists";    // compacted: reference-list entries (scale-out)
};

// How operators' list changes are checked and kept (docs/operators.md).
struct ListPolicySettings {
  double max_rejected_percent = 1.0;  // a load or delta rejecting more of its rows is refused
  std::size_t keep_versions = 5;      // versions kept per list (metadata and entries)
  bool follow_topic = false;          // read the lists from topics.reflists (every instance)
};

// What one camera country's law allows (docs/design.md §2): config builds match's type directly.
using CountryPolicy = CountryRule;

struct PipelineSettings {
  int threads = 0;                         // 0 = one per core
  std::size_t batch = 256;                 // reads consumed per pipeline token
  std::size_t max_message_bytes = 1 << 20; // larger reads go to the dead-letter topic
  std::size_t deadletter_payload_bytes = 4096;  // how much of a bad payload a dead letter keeps
  // A read whose capture time is later than the processor's clock by more than this is counted
  // as stamped in the future (anpr_reads_future_stamped_total); it is processed all the same,
  // its retention and legal tiers counting from the processor's time (docs/retention.md).
  int64_t max_clock_skew_ms = 300'000;
  // Consumption pauses while this many consumed reads are unfinished (their messages or their
  // kept records not yet durable): it bounds memory while the retention store or the brokers
  // cannot take writes. Hits keep flowing until then.
  std::size_t max_unfinished_reads = 2'000'000;
  // A stop (SIGTERM, SIGINT) waits at most this long for the reads in flight to be delivered and
  // stored; what is not finished by then is consumed again at the next start.
  int64_t shutdown_timeout_ms = 30'000;
  // Read-process-write transactions (docs/kafka.md "Exactly-once hits"): the messages produced
  // for the reads and their offsets are committed together, every commit_interval_ms.
  bool exactly_once = false;
  int64_t commit_interval_ms = 100;
};

// Diagnostics on stderr (logging/log.h).
struct LogSettings {
  std::string level = "info";   // debug | info | warn | error
  std::string format = "text";  // text | json (JSON Lines)
};

struct SuppressionSettings {
  int64_t window_ms = 300'000;                 // 0 = no suppression
  std::map<std::string, int64_t> per_list_ms;  // list id -> window
  // The window holds across the consumer group: hits other instances published suppress too
  // (pipeline/group_hits.h).
  bool across_instances = true;
};

// One bearer token of the HTTP API (http/token.h).
using TokenSettings = http::TokenSettings;

struct HttpSettings {
  std::string listen;  // "host:port"; "" = no HTTP server
  std::filesystem::path tls_cert, tls_key;  // both or neither: HTTPS
  std::size_t max_body_bytes = std::size_t{256} << 20;
  std::vector<TokenSettings> tokens;       // [http.tokens.NAME] of the config file
  std::filesystem::path tokens_file;       // "" = none; reread while running (http/auth.h)
  std::vector<TokenSettings> file_tokens;  // of tokens_file as load_settings() found it
  std::size_t feed_hits = 10000;  // recent hits the control-room page can show and resume from
  // The edge (http/server.h, docs/operations.md).
  int worker_threads = 16;
  int max_connections = 512;
  int max_connections_per_client = 16;
  int64_t header_timeout_ms = 10'000;
  int64_t body_timeout_ms = 60'000;
  int max_streams = 64;           // open hit streams in all
  int max_streams_per_room = 16;  // of one control room
  std::string metrics_token_sha256;  // "" = /metrics is public
  int64_t status_sample_ms = 10'000;  // the status page's history: one sample per interval
};

// How long one camera country's law lets passages and hits be kept, and who may search them
// (docs/design.md §2; docs/retention.md gives the legal sources). The law of the camera's country decides.
// The retention rules of one camera country (store/policy.h).
using RetentionPolicy = store::RetentionPolicy;

struct RetentionSettings {
  // Where passages and hits go: "store" (the embedded store under state.dir/retention), "kafka"
  // (passages to per-country topics `topic_prefix` + country; hits stay on the hits topic) or
  // "none" (nothing is kept).
  std::string sink = "store";
  int64_t purge_interval_ms = 600'000;
  std::string topic_prefix = "anpr.passages.";
  std::size_t max_results = 1000;  // a search returns at most this many records
  int input_hours = 24;  // how long the reads and dead-letter topics keep messages (topics plan)
  // NL, BE and LU have the defaults of docs/design.md §2; [retention.XX] overrides them or adds a
  // country. Cameras of a country without a policy keep nothing.
  std::vector<RetentionPolicy> policies;

  const RetentionPolicy* policy(CountryCode c) const;
  // The passages topic of a camera country (sink "kafka").
  std::string passages_topic(CountryCode c) const;
};

// Limits on passage search (docs/retention.md §5, "Search limits"; docs/design.md §6).
struct SearchSettings {
  // A search whose records hold more different plates than this is refused ("narrow the
  // search") and discloses nothing.
  std::size_t max_plates = 20;
  // Per investigator (token name): a token bucket of `burst` searches refilled at
  // `max_per_hour` an hour. Beyond it: 429 with Retry-After.
  int max_per_hour = 60;
  int burst = 10;
  // The investigator who searches with an authorisation must not be the one who entered it.
  bool four_eyes = false;
};

// What control rooms record about a hit and when an unacknowledged one is escalated
// (docs/design.md §10, docs/control-room.md).
struct FollowupSettings {
  // Reasons a hit may be rejected for (`other` needs a note) and outcomes of an accepted hit.
  std::vector<std::string> reject_reasons = {"misread",     "wrong_vehicle", "duplicate",
                                             "out_of_area", "no_capacity",   "other"};
  std::vector<std::string> outcomes = {"intercepted", "observed", "not_found", "owner_notified",
                                       "no_action"};
  int escalate_priority = 20;      // hits of priority <= this are escalated ...
  int64_t escalate_after_s = 60;   // ... when not acknowledged this long after they arrived
  bool escalation_sound = false;   // the control-room page plays a short tone
};

// The default authorisation_pattern of NL (a parketnummer, 13/654321-26) and BE (a notice
// number, BR.26.L1.012345/26): docs/retention.md §5.
inline constexpr const char* kNlAuthorisationPattern = "[0-9]{2}/[0-9]{6}-[0-9]{2}";
inline constexpr const char* kBeAuthorisationPattern =
    "[A-Z]{2}\\.[0-9]{2}\\.[A-Z0-9]{2}\\.[0-9]{6}/[0-9]{2}";

struct Settings {
  std::filesystem::path file;  // the config file itself
  // Where the processor keeps its own files (audit log, list versions, retention store).
  std::filesystem::path state_dir;
  // HMAC key of the audit log's hash chain (http/audit.h); empty: plain SHA-256.
  std::filesystem::path audit_key_file;
  HttpSettings http;
  KafkaSettings kafka;
  TopicSettings topics;
  std::filesystem::path cameras;            // camera registry CSV (required)
  std::vector<std::filesystem::path> lists; // reference lists loaded at start (CSV + sidecar)
  ListPolicySettings list_policy;
  PipelineSettings pipeline;
  SuppressionSettings suppression;
  LogSettings log;
  image::Options images;  // [images]: limits, thumbnails, blurring, which images are kept
  // NL, BE and LU have the defaults of docs/design.md §2; [countries.XX] overrides them or adds a country.
  std::vector<CountryPolicy> countries;
  RetentionSettings retention;
  SearchSettings search;
  FollowupSettings followup;

  const CountryPolicy* policy(CountryCode c) const;
  // The route topic for hits on lists of `owner` seen by another country's cameras.
  std::string route_topic(CountryCode owner) const;
};

// Reads and validates a config file, and its tokens file (http.tokens_file) if it names one.
// Throws ConfigError.
Settings load_settings(const std::filesystem::path& file);

// The tokens of a tokens file (http.tokens_file): TOML with one [NAME] table per token and the
// keys of [http.tokens.NAME]. Throws ConfigError naming the file, line and key.
std::vector<TokenSettings> parse_tokens(std::string_view toml, const std::string& name);
std::vector<TokenSettings> load_tokens(const std::filesystem::path& file);
// The config file's tokens followed by the tokens file's; throws ConfigError when a name or a
// token is in both.
std::vector<TokenSettings> merge_tokens(const std::vector<TokenSettings>& config_tokens,
                                        const std::vector<TokenSettings>& file_tokens,
                                        const std::string& file_name);
// The same from text; `name` is used in messages and relative paths resolve against `base_dir`.
Settings parse_settings(std::string_view toml, const std::string& name,
                        const std::filesystem::path& base_dir);

// The default per-country policies of docs/design.md §2 (NL, BE, LU).
std::vector<CountryPolicy> default_country_policies();

// Reads a signing key file (docs/kafka.md, "Signed records"): one key a line as hex digits, at
// least 32 bytes (64 digits) each; blank lines and lines starting with '#' are skipped. The file
// must not be readable or writable by group or others (mode 0600 or 0400). Returns the raw keys,
// first line first, or nothing with `why` set (never quoting a key).
std::optional<std::vector<std::string>> read_signing_keys(const std::filesystem::path& file,
                                                          std::string& why);

// The default retention policies of docs/design.md §2: NL passages 28 days, BE 365 days, LU not kept;
// hits NL 365, BE 365, LU 28 days; no images.
std::vector<RetentionPolicy> default_retention_policies();

// One declared key, for documentation.
struct KeyDoc {
  std::string_view key;      // dotted; "*" stands for a name of the operator's choice
  std::string_view type;
  std::string_view default_value;
  std::string_view meaning;
};
const std::vector<KeyDoc>& key_docs();
// docs/configuration.md's key reference, generated from key_docs().
std::string keys_markdown();

}  // namespace anpr::config
