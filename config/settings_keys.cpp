#include "config/settings_keys.h"
#include "match/time.h"

#include <regex>

namespace anpr::config::detail {

// ---- the declaration table ----

namespace {

// An array of follow-up codes (followup.reject_reasons, followup.outcomes): 1..32 characters of
// a-z 0-9 _, each once, at least one.
void set_codes(Ctx& c, const Item& it, std::vector<std::string>& into) {
  constexpr std::string_view kExpected = "a code of 1..32 characters a-z 0-9 _";
  std::vector<std::string> out;
  bool ok = true;
  for_each_element(c, it, "codes", [&](const Item& e) {
    auto v = c.string(e, kExpected);
    if (!v) {
      ok = false;
      return;
    }
    const bool shape = !v->empty() && v->size() <= 32 &&
                       v->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") ==
                           std::string::npos;
    if (!shape) {
      ok = false;
      return c.error(e, std::string(kExpected));
    }
    if (std::find(out.begin(), out.end(), *v) != out.end()) {
      ok = false;
      return c.error(e.line, e.path(), "expected each code once, got " + quote(*v) + " again");
    }
    out.push_back(*v);
  });
  if (!it.node.is_array()) return;
  if (out.empty() && ok) return c.error(it, "at least one code");
  if (ok) into = std::move(out);
}

}  // namespace

const std::vector<KeyDecl>& decls() {
  static const std::vector<KeyDecl> table = {
      {.doc = {"kafka.brokers", "string", "\"localhost:9092\"",
               "Kafka bootstrap servers, `host:port[,host:port...]` (librdkafka "
               "`bootstrap.servers`)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "a non-empty list of brokers such as \"host:9092\""))
               c.s.kafka.brokers = *v;
           }},
      {.doc = {"kafka.group_id", "string", "\"anpr\"",
               "Consumer group shared by all processor instances (librdkafka `group.id`)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "a non-empty consumer group name"))
               c.s.kafka.group_id = *v;
           }},
      {.doc = {"kafka.instance_id", "string", "\"\"",
               "This instance's static member name in the consumer group (librdkafka "
               "`group.instance.id`), unique per instance and kept across its restarts (`anpr run "
               "--instance-id` sets it per instance). A restarted instance gets its partitions "
               "back at once, without a rebalance; a stopped one keeps them until "
               "`session.timeout.ms` (10 s) has passed. Empty: dynamic membership (docs/kafka.md, "
               "failover)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.string(it, "an instance name such as \"anpr-1\" (\"\": none)"))
               c.s.kafka.instance_id = *v;
           }},
      {.doc = {"kafka.transactional_id", "string", "`group_id`-`instance_id`, else `group_id`-host name",
               "With `pipeline.exactly_once`: the producer's `transactional.id`. Give each "
               "instance its own, the same at every restart of that instance (the default is "
               "that when `kafka.instance_id` is set, or when one instance runs per host): a "
               "restarted instance then aborts what its previous incarnation left open and "
               "fences it (docs/kafka.md, \"Exactly-once hits\")."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "a non-empty transactional id"))
               c.s.kafka.transactional_id = *v;
           }},
      {.doc = {"kafka.unanswered_after_ms", "integer 1000..3600000", "15000",
               "The processor asks the Kafka cluster for metadata every second; once it has not "
               "answered for this long (stopped, unreachable or frozen), `/readyz` answers 503 and "
               "a warning is logged. Nothing is lost meanwhile."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.kafka.unanswered_after_ms); },
       .lo = 1000,
       .hi = 3'600'000},
      {.doc = {"kafka.signing_key_file", "path", "",
               "A file (mode 0600) of keys that sign what the processor and the control-room "
               "server write to Kafka (hits, route copies, dead letters, acknowledgements: an "
               "HMAC-SHA256 in the header `anpr-sig`) and verify the hits and acknowledgements the "
               "control rooms' feed reads; unsigned or wrongly signed ones are ignored and "
               "counted. One key a line, 64 or more hex digits (`openssl rand -hex 32`); the "
               "first line signs, every line verifies (key rotation). Without it nothing is "
               "signed or verified and `anpr run` warns at start: a deployment must set it "
               "(docs/kafka.md, \"Signed records\")."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of a key file")) {
               c.s.kafka.signing_key_file = c.resolve(*v);
               std::string why;
               if (auto keys = read_signing_keys(c.s.kafka.signing_key_file, why))
                 c.s.kafka.signing_keys = std::move(*keys);
               else
                 c.error(it.line, it.path(), why);
             }
           }},
      {.doc = {"kafka.properties.*", "string, integer, float or boolean", "",
               "Any librdkafka property (TLS, SASL, timeouts, ...) for every client, passed "
               "through as text. Not `bootstrap.servers`, `group.id`, `group.instance.id` or "
               "`transactional.id` (use `brokers`, `group_id`, `instance_id`, "
               "`transactional_id`)."},
       .set = [](Ctx& c, const Item& it) { c.property(it, c.s.kafka.common); },
       .flatten = true},
      {.doc = {"kafka.consumer.*", "string, integer, float or boolean", "",
               "A librdkafka property for the consumer only, applied after `kafka.properties`."},
       .set = [](Ctx& c, const Item& it) { c.property(it, c.s.kafka.consumer); },
       .flatten = true},
      {.doc = {"kafka.producer.*", "string, integer, float or boolean", "",
               "A librdkafka property for the producer only, applied after `kafka.properties`."},
       .set = [](Ctx& c, const Item& it) { c.property(it, c.s.kafka.producer); },
       .flatten = true},
      {.doc = {"topics.reads", "string (topic name)", "\"anpr.reads\"",
               "Input: camera read events, keyed by camera id."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.reads = *v;
           }},
      {.doc = {"topics.hits", "string (topic name)", "\"anpr.hits\"",
               "Output: hits for the control rooms."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.hits = *v;
           }},
      {.doc = {"topics.deadletter", "string (topic name)", "\"anpr.deadletter\"",
               "Output: input that was rejected, with the reason."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.deadletter = *v;
           }},
      {.doc = {"topics.hit_acks", "string (topic name)", "\"anpr.hit-acks\"",
               "Output: control rooms' acknowledgements of hits (who, when), shared by every "
               "instance's control-room page."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.hit_acks = *v;
           }},
      {.doc = {"topics.reflists", "string (topic name)", "\"anpr.reflists\"",
               "Compacted topic of reference-list entries, keyed by list/country/plate, with "
               "version markers (`anpr lists publish`, `lists.follow_topic`). One partition."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.topic(it)) c.s.topics.reflists = *v;
           }},
      {.doc =
           {"topics.route_prefix", "string", "\"anpr.route.\"",
            "Route topic of a country = this prefix + its lower-case code (`anpr.route.be`): hits "
            "on that country's lists seen by another country's cameras."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected =
                 "a topic name prefix (0..247 characters of A-Z a-z 0-9 . _ -)";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (v->size() > kMaxTopicBytes - 2 || !(v->empty() || valid_topic(*v + "xx")))
               return c.error(it, std::string(kExpected));
             c.topic_lines["route_prefix"] = it.line;
             c.s.topics.route_prefix = *v;
           }},
      {.doc =
           {"cameras.registry", "path", "(required)",
            "Camera registry CSV (camera id, country, site, location, control room). Relative to "
            "the config file's folder."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of the camera registry CSV"))
               c.s.cameras = c.resolve(*v);
           },
       .required = true,
       .expected = "the path of the camera registry CSV"},
      {.doc = {"lists.files", "array of paths", "[]",
               "Reference lists (`.csv`, each with its `.toml` sidecar beside it) loaded at start. "
               "Relative to the config file's folder."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "the path of a reference list ending in .csv";
             for_each_element(c, it, "paths", [&](const Item& e) {
               auto v = c.name_value(e, kExpected);
               if (!v) return;
               if (v->size() < 5 || lower(v->substr(v->size() - 4)) != ".csv" || v->back() == '/')
                 return c.error(e, std::string(kExpected));
               const std::filesystem::path p = c.resolve(*v);
               const auto dup = std::find(c.s.lists.begin(), c.s.lists.end(), p);
               if (dup != c.s.lists.end())
                 return c.error(e.line, e.path(),
                                "expected each list once, got " + quote(*v) + " again (also " +
                                    it.path() + "[" + std::to_string(dup - c.s.lists.begin()) +
                                    "])");
               c.s.lists.push_back(p);
             });
           }},
      {.doc = {"lists.max_rejected_percent", "number 0..100", "1",
               "A list load or delta whose rejected rows exceed this percentage of its rows is "
               "refused and the active version stays (docs/operators.md)."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "a number 0..100";
             double v = -1;
             if (const auto* i = it.node.as_integer()) v = static_cast<double>(i->get());
             if (const auto* f = it.node.as_floating_point()) v = f->get();
             if (!(v >= 0 && v <= 100)) return c.error(it, std::string(kExpected));
             c.s.list_policy.max_rejected_percent = v;
           }},
      {.doc = {"lists.keep_versions", "integer 1..1000", "5",
               "Versions kept per list in `state.dir/lists` (metadata and entries): how far back "
               "a rollback can go."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.list_policy.keep_versions); },
       .lo = 1,
       .hi = 1000},
      {.doc = {"lists.follow_topic", "boolean", "false",
               "Read the reference lists from `topics.reflists` (written by `anpr lists publish`): "
               "every instance reads the whole topic, builds its index at the end and follows "
               "updates. For several instances sharing the reads."},
       .set = [](Ctx& c, const Item& it) { c.set_boolean(it, c.s.list_policy.follow_topic); }},
      {.doc = {"pipeline.threads", "integer 0..256", "0", "Matching threads; 0 = one per core."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.pipeline.threads); },
       .lo = 0,
       .hi = 256},
      {.doc = {"pipeline.batch", "integer 1..65536", "256", "Reads consumed per pipeline step."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.pipeline.batch); },
       .lo = 1,
       .hi = 65536},
      {.doc = {"pipeline.max_message_bytes", "integer 1024..67108864", "1048576",
               "Larger read messages go to the dead-letter topic."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.pipeline.max_message_bytes); },
       .lo = 1024,
       .hi = 64 << 20},
      {.doc = {"pipeline.deadletter_payload_bytes", "integer 0..1048576", "4096",
               "How many bytes of a rejected payload its dead letter keeps."},
       .set =
           [](Ctx& c, const Item& it) {
             c.set_integer(it, c.s.pipeline.deadletter_payload_bytes);
           },
       .lo = 0,
       .hi = 1 << 20},
      {.doc = {"pipeline.max_clock_skew_ms", "integer 0..86400000", "300000",
               "How far ahead of the processor's clock a read's capture time may be before the "
               "read counts as stamped in the future (`anpr_reads_future_stamped_total`). Such a "
               "read still alerts; its deadline and its legal tier count from when the processor "
               "kept it, never from the later capture time (docs/retention.md, \"Deadline\")."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.pipeline.max_clock_skew_ms); },
       .lo = 0,
       .hi = 86'400'000},
      {.doc = {"pipeline.max_unfinished_reads", "integer 1000..100000000", "2000000",
               "Consumption pauses while this many consumed reads are unfinished (a hit not yet "
               "acknowledged by the brokers, or a kept passage not yet durable in the retention "
               "store). Until then hits keep flowing to the control rooms while the retention "
               "store cannot write; the bound keeps memory in check (a few hundred bytes per "
               "read)."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.pipeline.max_unfinished_reads); },
       .lo = 1000,
       .hi = 100'000'000},
      {.doc = {"pipeline.shutdown_timeout_ms", "integer 1000..600000", "30000",
               "How long a stop (SIGTERM, SIGINT) waits for the reads in flight to be delivered "
               "and stored before the processor commits what is finished and exits. Unfinished "
               "reads are consumed again at the next start."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.pipeline.shutdown_timeout_ms); },
       .lo = 1000,
       .hi = 600'000},
      {.doc = {"pipeline.exactly_once", "boolean", "false",
               "Read-process-write transactions: the hits, route copies, dead letters and kept "
               "passages (`retention.sink = \"kafka\"`) of a group of reads are committed in one "
               "Kafka transaction with the reads' offsets, so consumers reading with "
               "`isolation.level = read_committed` see each hit exactly once, also across "
               "crashes. Needs a cluster with transactions (Apache Kafka; not the embedded "
               "broker). docs/kafka.md, \"Exactly-once hits\"."},
       .set = [](Ctx& c, const Item& it) { c.set_boolean(it, c.s.pipeline.exactly_once); }},
      {.doc = {"pipeline.commit_interval_ms", "integer 10..60000", "100",
               "With `pipeline.exactly_once`: how often the open transaction is committed. Hits "
               "reach read_committed consumers only then: shorter is quicker alerting, longer is "
               "fewer commits."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.pipeline.commit_interval_ms); },
       .lo = 10,
       .hi = 60'000},
      {.doc = {"log.level", "string", "\"info\"",
               "Least severe diagnostics written to stderr: `debug`, `info`, `warn` or `error`. "
               "`anpr run --log-level` overrides it."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "one of \"debug\", \"info\", \"warn\", \"error\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (*v != "debug" && *v != "info" && *v != "warn" && *v != "error")
               return c.error(it, std::string(kExpected));
             c.s.log.level = *v;
           }},
      {.doc = {"log.format", "string", "\"text\"",
               "`text`: one sentence per line; `json`: JSON Lines with `ts`, `level`, "
               "`component`, `msg` and the message's fields. Plates never appear in either. "
               "`anpr run --log-format` overrides it."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "\"text\" or \"json\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (*v != "text" && *v != "json") return c.error(it, std::string(kExpected));
             c.s.log.format = *v;
           }},
      {.doc =
           {"suppression.window_s", "integer 0..86400", "300",
            "Seconds during which the same plate on the same list is not alerted again (suppressed "
            "hits are counted, not published); 0 = off."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.suppression.window_ms = *v * 1000;
           },
       .lo = 0,
       .hi = 86400},
      {.doc = {"suppression.across_instances", "boolean", "true",
               "The window holds across every instance of `kafka.group_id`: each instance also "
               "reads the hits topic, and a hit any instance published suppresses the same plate "
               "on the same list everywhere (docs/matching.md, \"Repeated hits\"). `false`: each "
               "instance suppresses only its own repeats."},
       .set = [](Ctx& c, const Item& it) { c.set_boolean(it, c.s.suppression.across_instances); }},
      {.doc = {"suppression.lists.*", "integer 0..86400", "`window_s`",
               "The window of one list, by list id (`\"nl-stolen-vehicles\" = 600`), in seconds."},
       .set =
           [](Ctx& c, const Item& it) {
             const std::string& id = it.wild.back();
             if (!ListId::valid(id))
               return c.error(it.line, it.path(),
                              "expected a list id (" + std::string(ListId::kRule) + "), got " +
                                  quote(id));
             if (auto v = c.integer(it)) c.s.suppression.per_list_ms[id] = *v * 1000;
           },
       .lo = 0,
       .hi = 86400,
       .flatten = true},
      {.doc = {"state.dir", "path", "`state` beside the config file",
               "Folder for the processor's own files: the audit log, reference-list versions "
               "and the retention store. Created if missing."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of a folder")) c.s.state_dir = c.resolve(*v);
           }},
      {.doc = {"audit.key_file", "path", "",
               "File holding the key (at least 16 bytes) with which the audit log's records "
               "are chained (HMAC-SHA256), so that only a holder of the key can write a chain "
               "that `anpr audit verify` accepts. Keep it readable by the processor and "
               "unreadable by whoever can edit the log. Empty: the records are chained with "
               "plain SHA-256 (docs/operators.md §11)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of a key file"))
               c.s.audit_key_file = c.resolve(*v);
           }},
      {.doc = {"http.listen", "string", "\"\"",
               "Address of the HTTP API, pages and `/metrics`, as `host:port` (`0.0.0.0:8080` "
               "for every interface). Empty: no HTTP server."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "\"host:port\" with a port 0..65535, or \"\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (v->empty()) return void(c.s.http.listen.clear());
             const auto colon = v->rfind(':');
             int port = -1;
             if (colon != std::string::npos && colon > 0 && colon + 1 < v->size() &&
                 colon + 6 >= v->size()) {
               port = 0;
               for (char ch : v->substr(colon + 1))
                 port = (ch >= '0' && ch <= '9' && port >= 0) ? port * 10 + (ch - '0') : -1;
             }
             if (port < 0 || port > 65535) return c.error(it, std::string(kExpected));
             c.s.http.listen = *v;
           }},
      {.doc = {"http.tls_cert", "path", "",
               "PEM certificate (chain) for HTTPS; give `tls_key` too. Without both, plain HTTP."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of a PEM certificate"))
               c.s.http.tls_cert = c.resolve(*v);
           }},
      {.doc = {"http.tls_key", "path", "", "PEM private key of `tls_cert`."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of a PEM private key"))
               c.s.http.tls_key = c.resolve(*v);
           }},
      {.doc = {"http.max_body_bytes", "integer 1024..4294967296", "268435456",
               "Largest request body accepted (list uploads); larger requests get 413."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.max_body_bytes); },
       .lo = 1024,
       .hi = int64_t{1} << 32},
      {.doc = {"http.feed_hits", "integer 1..1000000", "10000",
               "Recent hits (and acknowledgements) the control-room page shows and a "
               "reconnecting page resumes from."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.feed_hits); },
       .lo = 1,
       .hi = 1000000},
      {.doc = {"http.worker_threads", "integer 1..1024", "16",
               "Threads that run the API's and pages' handlers. Connections waiting for their "
               "headers or body, and open hit streams, hold none of them."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.worker_threads); },
       .lo = 1,
       .hi = 1024},
      {.doc = {"http.max_connections", "integer 1..1000000", "512",
               "Open connections in all; a connection over the limit is closed as soon as it "
               "is accepted."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.max_connections); },
       .lo = 1,
       .hi = 1000000},
      {.doc = {"http.max_connections_per_client", "integer 1..1000000", "16",
               "Open connections from one client address; a connection over the limit is "
               "closed as soon as it is accepted. Raise it when many clients share one address "
               "(a proxy or NAT)."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.max_connections_per_client); },
       .lo = 1,
       .hi = 1000000},
      {.doc = {"http.header_timeout_ms", "integer 100..600000", "10000",
               "Time a client has to send a request's line and headers (the TLS handshake "
               "included), counted from the connection's start or the end of the previous "
               "answer on it. Past it the connection is closed."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.header_timeout_ms); },
       .lo = 100,
       .hi = 600000},
      {.doc = {"http.body_timeout_ms", "integer 1000..3600000", "60000",
               "Time a client has to send a request's body after its headers. Past it the "
               "connection is closed."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.body_timeout_ms); },
       .lo = 1000,
       .hi = 3600000},
      {.doc = {"http.max_streams", "integer 1..10000", "64",
               "Open hit streams (control-room pages) in all, each with a thread of its own; "
               "beyond it a new stream gets 503."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.max_streams); },
       .lo = 1,
       .hi = 10000},
      {.doc = {"http.max_streams_per_room", "integer 1..10000", "16",
               "Open hit streams of one control room's tokens; beyond it a new stream of that "
               "room gets 503, so one room cannot take the slots of the others."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.max_streams_per_room); },
       .lo = 1,
       .hi = 10000},
      {.doc = {"http.status_sample_ms", "integer 100..600000", "10000",
               "How often the status page's history samples the processor's figures (reads/s, "
               "hits/s, dead letters/s, consumer lag); it keeps the newest 360 samples, the last "
               "hour at the default."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.http.status_sample_ms); },
       .lo = 100,
       .hi = 600000},
      {.doc = {"http.metrics_token_sha256", "string", "\"\"",
               "Lower-case hex SHA-256 of a token that `/metrics` then requires "
               "(`Authorization: Bearer <token>`, 401 without it). Empty: `/metrics` is public."},
       .set =
           [](Ctx& c, const Item& it) {
             auto v = c.string(it, "64 lower-case hex digits, or \"\"");
             if (!v) return;
             const bool hex = v->size() == 64 &&
                              v->find_first_not_of("0123456789abcdef") == std::string::npos;
             if (!v->empty() && !hex)
               return c.error(it, "64 lower-case hex digits (a SHA-256), or \"\"");
             c.s.http.metrics_token_sha256 = *v;
           }},
      {.doc = {"http.tokens.*.role", "string", "(required)",
               "Role of the bearer token named by the table (`[http.tokens.alice]`): "
               "`operator`, `controlroom`, `investigator` or `engineer`."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected =
                 "one of \"operator\", \"controlroom\", \"investigator\", \"engineer\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (*v != "operator" && *v != "controlroom" && *v != "investigator" &&
                 *v != "engineer")
               return c.error(it, std::string(kExpected));
             c.token(it).role = *v;
           }},
      {.doc = {"http.tokens.*.sha256", "string", "(required)",
               "Lower-case hex SHA-256 of the token (`anpr token new` makes a token and prints "
               "it); the token itself is never stored."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "64 lower-case hex digits (a SHA-256)";
             auto v = c.string(it, kExpected);
             if (!v) return;
             const bool hex = v->size() == 64 && std::all_of(v->begin(), v->end(), [](char ch) {
                                return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
                              });
             if (!hex) return c.error(it, std::string(kExpected));
             c.token(it).sha256 = *v;
           }},
      {.doc = {"http.tokens.*.control_room", "string", "required for `controlroom` tokens",
               "`controlroom` tokens: the control room (of the camera registry) whose hits the "
               "token sees; `\"*\"` = every room, which must be written out."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "a control room name or \"*\""))
               c.token(it).control_room = *v;
           }},
      {.doc = {"http.tokens.*.expires", "offset date-time", "",
               "From this instant on the token is refused (401), e.g. `2027-03-01T00:00:00Z` (a "
               "TOML date-time with its UTC offset, or the same as a string). Unset: the token "
               "never expires."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected =
                 "an offset date-time such as 2027-03-01T00:00:00Z";
             std::optional<TimestampMs> t;
             if (const auto* s = it.node.as_string()) {
               if (s->get().size() > 10) t = parse_rfc3339(s->get());  // a full timestamp only
             } else if (const auto* dt = it.node.as_date_time()) {
               const toml::date_time x = dt->get();
               if (x.offset) {
                 const int64_t days = days_from_civil(x.date.year, x.date.month, x.date.day);
                 const int64_t secs =
                     int64_t{x.time.hour} * 3600 + x.time.minute * 60 + x.time.second;
                 t = days * 86'400'000 + secs * 1000 + x.time.nanosecond / 1'000'000 -
                     int64_t{x.offset->minutes} * 60'000;
               }
             }
             if (!t || *t <= 0) return c.error(it, std::string(kExpected));
             c.token(it).expires_ms = *t;
           }},
      {.doc = {"http.tokens_file", "path", "",
               "A file of further tokens, reread without a restart: on SIGHUP and within a few "
               "seconds of a change. TOML with one `[NAME]` table per token and the keys of "
               "`[http.tokens.NAME]`. A new version with an error is refused (logged) and the "
               "tokens in force stay; a token taken out is refused from its next request on. "
               "Keep it readable by the processor only (mode 0600)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of a tokens file"))
               c.s.http.tokens_file = c.resolve(*v);
           }},
      {.doc = {"images.enabled", "boolean", "true",
               "Whether read images are used at all. `false`: images are never decoded and hits "
               "carry none."},
       .set = [](Ctx& c, const Item& it) { c.set_boolean(it, c.s.images.enabled); }},
      {.doc = {"images.max_bytes", "integer 1024..67108864", "1048576",
               "Largest JPEG (after base64) that is decoded; larger ones give `image_error` "
               "`too_large` without being decoded."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.images.limits.max_bytes); },
       .lo = 1024,
       .hi = 64 << 20},
      {.doc = {"images.max_width", "integer 1..65535", "8192",
               "Widest image decoded, checked from the JPEG header before decoding."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.images.limits.max_width); },
       .lo = 1,
       .hi = 65535},
      {.doc = {"images.max_height", "integer 1..65535", "8192",
               "Tallest image decoded, checked from the JPEG header before decoding."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.images.limits.max_height); },
       .lo = 1,
       .hi = 65535},
      {.doc = {"images.max_pixels", "integer 1..1073741824", "16000000",
               "Most pixels (width x height) decoded, checked from the JPEG header: a small file "
               "declaring a huge image (a decompression bomb) costs nothing."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.images.limits.max_pixels); },
       .lo = 1,
       .hi = int64_t{1} << 30},
      {.doc = {"images.max_scans", "integer 1..1000", "32",
               "Most scans of a progressive JPEG (each costs a pass of the decoder)."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.images.limits.max_scans); },
       .lo = 1,
       .hi = 1000},
      {.doc = {"images.thumbnail_width", "integer 16..2048", "240",
               "Width in pixels of a hit's plate thumbnail (`thumbnail_jpeg`); the height keeps "
               "the aspect ratio."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.images.thumbnail_width); },
       .lo = 16,
       .hi = 2048},
      {.doc = {"images.thumbnail_quality", "integer 1..100", "80", "JPEG quality of thumbnails."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.images.thumbnail_quality); },
       .lo = 1,
       .hi = 100},
      {.doc = {"images.overview_quality", "integer 1..100", "80",
               "JPEG quality of whole images that leave or are kept (see "
               "`retention.*.keep_images`)."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.images.overview_quality); },
       .lo = 1,
       .hi = 100},
      {.doc = {"images.blur_faces", "boolean", "true",
               "Blur faces in overview images before they leave the processor."},
       .set = [](Ctx& c, const Item& it) { c.set_boolean(it, c.s.images.blur_faces); }},
      {.doc = {"images.face_cascade", "path",
               "`/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml`",
               "OpenCV cascade that finds faces (Debian package `opencv-data`). Relative to the "
               "config file's folder."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.name_value(it, "the path of an OpenCV cascade XML file"))
               c.s.images.face_cascade = c.resolve(*v).string();
           }},
      {.doc =
           {"countries.*.accepts", "array of country codes",
            "NL: `[\"BE\"]`, BE: `[\"NL\"]`, LU and others: `[]`",
            "Partner countries whose lists apply to this country's cameras (its own lists always "
            "do). ISO 3166-1 alpha-2 codes (lower case is read as upper case)."},
       .set =
           [](Ctx& c, const Item& it) {
             CountryOverride& o = c.country(it);
             const CountryCode self = *parse_country_table(it.wild.front());
             std::vector<CountryCode> out;
             bool ok = true;
             const std::string expected(CountryCode::kRule);
             for_each_element(c, it, "country codes", [&](const Item& e) {
               const auto* v = e.node.as_string();
               const auto code = v ? CountryCode::parse(v->get()) : std::nullopt;
               if (!code) {
                 ok = false;
                 if (v)
                   c.error(e.line, e.path(),
                           "expected " + expected + ", got " + CountryCode::why_not(v->get()));
                 else
                   c.error(e, expected);
                 return;
               }
               if (*code != self && std::find(out.begin(), out.end(), *code) == out.end())
                 out.push_back(*code);
             });
             if (it.node.is_array() && ok) o.accepts = std::move(out);
           }},
      {.doc = {"countries.*.categories", "array of categories",
               "built in for NL, BE, LU; required for others",
               "Reference-list categories allowed on this country's cameras; entries of other "
               "categories are not applied to its reads."},
       .set =
           [](Ctx& c, const Item& it) {
             CountryOverride& o = c.country(it);
             uint32_t bits = 0;
             bool ok = true;
             for_each_element(c, it, "categories", [&](const Item& e) {
               const auto* v = e.node.as_string();
               const auto cat = v ? parse_category(v->get()) : std::nullopt;
               if (!cat) {
                 ok = false;
                 c.error(e, "a category (" + all_categories() + ")");
                 return;
               }
               bits |= bit(*cat);
             });
             o.categories_given = true;
             if (it.node.is_array() && ok) o.categories = bits;
           }},
      {.doc = {"retention.sink", "string", "\"store\"",
               "Where kept passages and hits go: `store` (the embedded retention store in "
               "`state.dir/retention`, searchable), `kafka` (passages to one topic per camera "
               "country, `topic_prefix` + country; see docs/retention.md) or `none`."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected = "one of \"store\", \"kafka\", \"none\"";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (*v != "store" && *v != "kafka" && *v != "none")
               return c.error(it, std::string(kExpected));
             c.s.retention.sink = *v;
           }},
      {.doc = {"retention.purge_interval_s", "integer 1..86400", "600",
               "Seconds between purges of expired records. Reads never return a record past its "
               "deadline, however late the purge."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.s.retention.purge_interval_ms = *v * 1000;
           },
       .lo = 1,
       .hi = 86400},
      {.doc = {"retention.topic_prefix", "string", "\"anpr.passages.\"",
               "Sink `kafka`: the passages topic of a camera country is this prefix + its "
               "lower-case code (`anpr.passages.nl`)."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected =
                 "a topic name prefix (1..247 characters of A-Z a-z 0-9 . _ -)";
             auto v = c.string(it, kExpected);
             if (!v) return;
             if (v->empty() || v->size() > kMaxTopicBytes - 2 || !valid_topic(*v + "xx"))
               return c.error(it, std::string(kExpected));
             c.s.retention.topic_prefix = *v;
           }},
      {.doc = {"retention.max_results", "integer 1..100000", "1000",
               "Most records one search returns (there is no bulk export of passages)."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.retention.max_results); },
       .lo = 1,
       .hi = 100000},
      {.doc = {"retention.input_hours", "integer 1..672", "24",
               "Hours the reads and dead-letter topics keep messages (`anpr topics plan`): they "
               "hold every read, passages of countries that keep none included, so keep this "
               "short."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.retention.input_hours); },
       .lo = 1,
       .hi = 672},
      {.doc = {"retention.*.keep_passages", "boolean", "NL, BE: `true`; LU and others: `false`",
               "Whether no-hit passages of this camera country are kept (`[retention.NL]`)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.boolean(it)) c.retention_of(it).keep_passages = *v;
           }},
      {.doc = {"retention.*.passage_days", "integer 1..3650",
               "NL: 28, BE: 365; required for others that keep passages",
               "Days after capture a kept passage is deleted (a hard ceiling: never served after "
               "it). Check the country's law before raising it."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.retention_of(it).passage_days = static_cast<int>(*v);
           },
       .lo = 1,
       .hi = 3650},
      {.doc = {"retention.*.hit_days", "integer 0..3650", "NL: 365, BE: 365, LU: 28; others: 0",
               "Days after capture a hit is kept; 0 = hits are not kept."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.retention_of(it).hit_days = static_cast<int>(*v);
           },
       .lo = 0,
       .hi = 3650},
      {.doc = {"retention.*.keep_images", "boolean", "false",
               "Whether the reads' images are kept: hits then carry the overview image "
               "(`overview_jpeg`, faces blurred) besides the plate thumbnail, and kept passages "
               "keep their images (plate image re-encoded, overview blurred; metadata removed "
               "from both). Off unless a policy explicitly allows it."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.boolean(it)) c.retention_of(it).keep_images = *v;
           }},
      {.doc = {"retention.*.order_after_days", "integer 0..3650", "NL: 0, BE: 30, others: 0",
               "A search reaching data older than this many days needs an authorisation (the "
               "prosecutor's order or written decision, docs/retention.md §5); younger data needs "
               "a justification or an authorisation. 0 = an authorisation for every search."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.integer(it)) c.retention_of(it).order_after_days = static_cast<int>(*v);
           },
       .lo = 0,
       .hi = 3650},
      {.doc = {"retention.*.authorisation_pattern", "string (regular expression)",
               "NL: `[0-9]{2}/[0-9]{6}-[0-9]{2}` (a parketnummer, 13/654321-26); BE: "
               "`[A-Z]{2}\\.[0-9]{2}\\.[A-Z0-9]{2}\\.[0-9]{6}/[0-9]{2}` (a notice number, "
               "BR.26.L1.012345/26); others: none",
               "The format of this country's prosecution references: the whole `reference` of a "
               "search authorisation for this country must match it (ECMAScript syntax, at most "
               "200 characters). Empty: no authorisation can be entered for this country. "
               "References with spaces, control or invisible characters are refused whatever "
               "the pattern."},
       .set =
           [](Ctx& c, const Item& it) {
             constexpr std::string_view kExpected =
                 "a regular expression (ECMAScript syntax) of at most 200 printable ASCII "
                 "characters";
             auto v = c.string(it, kExpected);
             if (!v) return;
             const bool ascii = std::all_of(v->begin(), v->end(), [](char ch) {
               return ch >= 0x20 && ch < 0x7f;
             });
             if (v->size() > 200 || !ascii) return c.error(it, std::string(kExpected));
             try {
               std::regex re(*v, std::regex::ECMAScript);
             } catch (const std::regex_error& e) {
               return c.error(it.line, it.path(),
                              "expected " + std::string(kExpected) + ", got " + quote(*v) +
                                  " (" + e.what() + ")");
             }
             c.retention_of(it).authorisation_pattern = *v;
           }},
      {.doc = {"search.max_plates", "integer 1..1000", "20",
               "A search (OCR-tolerant ones above all) whose records hold more different plates "
               "than this is refused with `narrow_the_search` and discloses nothing."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.search.max_plates); },
       .lo = 1,
       .hi = 1000},
      {.doc = {"search.max_per_hour", "integer 1..100000", "60",
               "Searches one investigator (token) may make per hour, on average; beyond "
               "`search.burst` in a row the answer is 429 with `Retry-After`."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.search.max_per_hour); },
       .lo = 1,
       .hi = 100000},
      {.doc = {"search.burst", "integer 1..1000", "10",
               "Searches one investigator may make in a row before `search.max_per_hour` "
               "paces them."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.search.burst); },
       .lo = 1,
       .hi = 1000},
      {.doc = {"search.four_eyes", "boolean", "false",
               "When true, the investigator who searches with an authorisation must not be the "
               "one who entered it (`same_person`)."},
       .set =
           [](Ctx& c, const Item& it) {
             if (auto v = c.boolean(it)) c.s.search.four_eyes = *v;
           }},
      {.doc = {"followup.reject_reasons", "array of codes",
               "`[\"misread\", \"wrong_vehicle\", \"duplicate\", \"out_of_area\", "
               "\"no_capacity\", \"other\"]`",
               "The reasons a control room may give for rejecting a hit (docs/control-room.md). "
               "Codes of 1..32 characters `a-z 0-9 _`, each once; `other` requires a note. "
               "Keep `misread` for hits where the camera read another plate: the yield figures "
               "count it apart."},
       .set = [](Ctx& c, const Item& it) { set_codes(c, it, c.s.followup.reject_reasons); }},
      {.doc = {"followup.outcomes", "array of codes",
               "`[\"intercepted\", \"observed\", \"not_found\", \"owner_notified\", "
               "\"no_action\"]`",
               "What may be recorded as the outcome of an accepted hit (docs/control-room.md). "
               "Codes of 1..32 characters `a-z 0-9 _`, each once."},
       .set = [](Ctx& c, const Item& it) { set_codes(c, it, c.s.followup.outcomes); }},
      {.doc = {"followup.escalate_priority", "integer 0..100", "20",
               "Hits of this priority or a more urgent one (a lower number) are escalated when "
               "no one acknowledges them within `followup.escalate_after_s`."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.followup.escalate_priority); },
       .lo = 0,
       .hi = 100},
      {.doc = {"followup.escalate_after_s", "integer 1..86400", "60",
               "Seconds after a hit arrived (was published) without an acknowledgement before "
               "it is escalated: the control-room page marks it, and each instance counts the "
               "escalations it shows in `anpr_hits_escalated_total`."},
       .set = [](Ctx& c, const Item& it) { c.set_integer(it, c.s.followup.escalate_after_s); },
       .lo = 1,
       .hi = 86400},
      {.doc = {"followup.escalation_sound", "boolean", "false",
               "When true, the control-room page plays a short tone when a hit is escalated."},
       .set = [](Ctx& c, const Item& it) { c.set_boolean(it, c.s.followup.escalation_sound); }},
  };
  return table;
}

std::vector<std::string_view> split_dots(std::string_view key) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = key.find('.', start);
    out.push_back(key.substr(start, dot == key.npos ? key.npos : dot - start));
    if (dot == key.npos) return out;
    start = dot + 1;
  }
}

// Whether the pattern's first segs.size() segments match segs ("*" matches any one segment).
bool prefix_matches(const std::vector<std::string_view>& pattern,
                    const std::vector<std::string>& segs) {
  if (segs.size() > pattern.size()) return false;
  for (std::size_t i = 0; i < segs.size(); ++i)
    if (pattern[i] != "*" && pattern[i] != segs[i]) return false;
  return true;
}

}  // namespace anpr::config::detail
