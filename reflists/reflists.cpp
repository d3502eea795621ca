#include "reflists/reflists.h"

#include <simdjson.h>
#include <unistd.h>

#include <iostream>
#include <mutex>
#include <sstream>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "base/json_writer.h"
#include "match/ids.h"
#include "match/time.h"

namespace anpr::app {

namespace {

std::string country_text(CountryCode c) { return c.known() ? c.str() : "-"; }

// Reads every partition of `topic` from its beginning, calling `on_record` for each record
// (value nullptr for a tombstone) and `at_end` each time every partition has reached its end;
// stops when `at_end` returns true or `stop` is set. Throws kafka::KafkaError.
void read_topic(const kafka::Properties& props, const std::string& topic,
                const std::function<void(std::string_view key, const char* value,
                                         std::size_t len)>& on_record,
                const std::function<bool()>& at_end, const std::atomic<bool>& stop,
                std::ostream& log, bool wait_for_topic) {
  kafka::Properties p = props;
  // No subscription, so no group membership: the id only satisfies librdkafka.
  p.emplace_back("group.id", "anpr-reflists-" + std::to_string(::getpid()));
  p.emplace_back("enable.auto.commit", "false");
  p.emplace_back("enable.auto.offset.store", "false");
  p.emplace_back("enable.partition.eof", "true");
  p.emplace_back("auto.offset.reset", "earliest");
  p.emplace_back("fetch.wait.max.ms", "100");
  kafka::Consumer rk(p);  // closed when it goes out of scope, however the reading ends

  // The topic's partitions (it may not exist yet: wait for it, a little at a time).
  int partitions = 0;
  for (int attempt = 0; partitions == 0 && !stop.load(); ++attempt) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk.get(), 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        partitions = md->topics[0].partition_cnt;
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (partitions == 0) {
      if (attempt == 0) log << "anpr: reflists: waiting for the topic " << topic << "\n";
      if (attempt >= 20 && !wait_for_topic)
        throw kafka::KafkaError("the topic " + topic + " cannot be found (create it with one "
                                "partition; compacted on a real cluster)");
      for (int i = 0; i < 5 && !stop.load(); ++i) ::usleep(100'000);
    }
  }
  if (partitions == 0) return;
  kafka::PartitionList assignment(rd_kafka_topic_partition_list_new(partitions));
  for (int i = 0; i < partitions; ++i)
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), i)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  if (rd_kafka_resp_err_t e = rk.assign(assignment.get()))
    throw kafka::KafkaError("cannot read " + topic + ": " + kafka::error_text(e));

  std::vector<bool> eof(static_cast<std::size_t>(partitions), false);
  std::size_t at_eof = 0;
  bool errors_logged = false;
  while (!stop.load()) {
    const kafka::Message m = rk.poll(100);
    if (!m) continue;
    const auto part = static_cast<std::size_t>(m->partition);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (part < eof.size() && !eof[part]) {
        eof[part] = true;
        ++at_eof;
      }
      if (at_eof == eof.size() && at_end()) break;
      continue;
    }
    if (m->err) {
      if (!errors_logged) log << "anpr: reflists: " << rd_kafka_message_errstr(m.get()) << "\n";
      errors_logged = true;
      continue;
    }
    if (part < eof.size() && eof[part]) {
      eof[part] = false;
      --at_eof;
    }
    on_record(std::string_view(static_cast<const char*>(m->key), m->key_len),
              m->len == 0 ? nullptr : static_cast<const char*>(m->payload), m->len);
  }
}

// Parses an entry record; nullopt when malformed.
std::optional<ListEntry> parse_entry(simdjson::dom::parser& parser, const char* value,
                                     std::size_t len) {
  simdjson::dom::element doc;
  if (parser.parse(value, len, true).get(doc) != simdjson::SUCCESS || !doc.is_object())
    return std::nullopt;
  std::string_view plate, country, category, action, reference, note, until;
  uint64_t priority = 0;
  if (doc["plate"].get_string().get(plate) || doc["plate_country"].get_string().get(country) ||
      doc["category"].get_string().get(category) || doc["action"].get_string().get(action) ||
      doc["priority"].get_uint64().get(priority) || doc["reference"].get_string().get(reference) ||
      doc["note"].get_string().get(note))
    return std::nullopt;
  ListEntry e;
  auto p = Plate::from_normalized(plate);
  auto c = country == "-" ? std::optional<CountryCode>(CountryCode{}) : CountryCode::parse(country);
  auto cat = parse_category(category);
  auto act = parse_action(action);
  if (!p || !c || !cat || !act || priority > kMaxPriority) return std::nullopt;
  e.plate = *p;
  e.country = *c;
  e.category = *cat;
  e.action = *act;
  e.priority = static_cast<uint8_t>(priority);
  auto u = doc["valid_until"];
  if (!u.error() && !u.is_null()) {
    if (u.get_string().get(until)) return std::nullopt;
    auto t = parse_rfc3339(until);
    if (!t) return std::nullopt;
    e.valid_until = *t;
  }
  e.reference = reference;
  e.note = note;
  // Optional (absent before operators' exceptions existed): true when the row was accepted by
  // its registry_exception (docs/operators.md).
  auto x = doc["registry_exception"];
  if (!x.error() && x.get_bool().get(e.registry_exception)) return std::nullopt;
  return e;
}

}  // namespace

std::string reflist_entry_key(std::string_view list_id, CountryCode country, const Plate& plate) {
  std::string k = "e/";
  k += list_id;
  k += '/';
  k += country_text(country);
  k += '/';
  k += plate.view();
  return k;
}

std::string reflist_marker_key(std::string_view list_id) {
  return "v/" + std::string(list_id);
}

std::string reflist_entry_json(const ListEntry& e) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("plate", e.plate.view());
  w.field("plate_country", country_text(e.country));
  w.field("category", to_string(e.category));
  w.field("action", to_string(e.action));
  w.field("priority", static_cast<unsigned>(e.priority));
  w.key("valid_until");
  if (e.valid_until == kNoExpiry)
    w.null();
  else
    w.value(format_rfc3339(e.valid_until));
  w.field("reference", e.reference);
  w.field("note", e.note);
  if (e.registry_exception) w.field("registry_exception", true);
  w.end_object();
  return out;
}

namespace {

// Writes the entries, tombstones and marker of the loaded version `f`; fills `out`. Throws
// kafka::KafkaError when the topic cannot be read.
void write_version(const kafka::Properties& props, const std::string& topic,
                   const lists::FileLoad& f, const std::string& who, PublishResult& out) {
  const std::string id = f.list->meta.id;
  const std::string prefix = "e/" + id + "/";

  // The entries the list has on the topic now.
  std::set<std::string> live;
  std::atomic<bool> never{false};
  std::ostringstream ignored;
  read_topic(
      props, topic,
      [&](std::string_view key, const char* value, std::size_t) {
        if (!key.starts_with(prefix)) return;
        if (value)
          live.emplace(key);
        else
          live.erase(std::string(key));
      },
      [] { return true; }, never, ignored, /*wait_for_topic=*/false);

  kafka::Properties pp = props;
  pp.emplace_back("enable.idempotence", "true");
  pp.emplace_back("acks", "all");
  pp.emplace_back("linger.ms", "5");
  std::atomic<std::size_t> failed{0};
  std::string first_error;
  std::mutex mu;
  kafka::Producer producer(pp, [&](rd_kafka_resp_err_t err, void*, const rd_kafka_message_t&) {
    if (!err) return;
    if (failed++ == 0) {
      std::lock_guard lk(mu);
      first_error = kafka::error_text(err);
    }
  });
  const auto send = [&](const std::string& key, std::string_view value) {
    if (rd_kafka_resp_err_t e = producer.produce(topic, key, value, nullptr, 0)) {
      if (failed++ == 0) first_error = kafka::error_text(e);
    }
  };
  for (const ListEntry& e : f.list->entries) {
    std::string key = reflist_entry_key(id, e.country, e.plate);
    live.erase(key);
    send(key, reflist_entry_json(e));
    ++out.entries;
  }
  for (const std::string& key : live) {
    send(key, std::string_view{});
    ++out.tombstones;
  }
  std::string marker;
  JsonWriter w(marker);
  w.begin_object();
  w.field("type", "version");
  w.field("list_id", id);
  w.field("sidecar", f.sidecar);
  w.field("checksum", f.checksum);
  w.field("entries", f.list->entries.size());
  w.field("by", who);
  w.field("at", format_rfc3339(lists::system_now()));
  w.end_object();
  send(reflist_marker_key(id), marker);
  if (!producer.flush(120'000)) {
    out.error = "the broker did not acknowledge every record within 120 s";
    return;
  }
  if (failed.load() > 0) {
    out.error = std::to_string(failed.load()) + " records were not written (" + first_error + ")";
    return;
  }
  out.published = true;
}

}  // namespace


PublishResult publish_list(const kafka::Properties& props, const std::string& topic,
                           const std::filesystem::path& file, const lists::Policy& policy,
                           const std::string& who, http::AuditLog* audit) {
  PublishResult out;
  lists::FileLoad f = lists::load_file(file, policy, lists::system_now());
  out.report = f.report;
  out.checksum = f.checksum;
  // Recorded before anything is written: when it cannot be, nothing is (the caller gets the
  // exception); the outcome follows in its own record.
  if (audit)
    audit->record(who, "publisher", "list.publish.requested", [&](JsonWriter& w) {
      w.field("list_id", f.report.list_id);
      w.field("topic", topic);
      w.field("source", f.report.file);
    });
  const auto outcome = [&](std::string_view what) {
    if (!audit) return;
    audit->record(who, "publisher", "list.publish", [&](JsonWriter& w) {
      w.field("list_id", f.report.list_id);
      w.field("topic", topic);
      w.field("outcome", what);
      if (!out.error.empty()) w.field("detail", out.error);
      if (f.list) {
        w.field("version", f.list->meta.version.empty() ? f.checksum : f.list->meta.version);
        w.field("checksum", f.checksum);
        w.field("entries", f.list->entries.size());
        w.field("written", out.entries);
        w.field("tombstones", out.tombstones);
      }
      w.field("source", f.report.file);
      w.field("rows", f.report.rows);
      w.field("accepted", f.report.accepted);
      w.field("rejected", f.report.rejected);
      // Rows accepted against a registry's issuing rules, by the operator's exception.
      w.field("registry_exceptions", f.report.registry_exceptions);
      if (!f.report.registry_exception_rows.empty()) {
        w.key("registry_exception_rows");
        w.begin_array();
        for (const RowError& e : f.report.registry_exception_rows) {
          w.begin_object();
          w.field("line", e.line);
          w.field("reason", e.reason);
          w.end_object();
        }
        w.end_array();
      }
    });
  };
  if (f.report.fatal) {
    out.error = to_string(*f.report.fatal);
    outcome("invalid");
    return out;
  }
  if (f.report.over_threshold) {
    out.error = "too many rows rejected: nothing was published";
    outcome("refused");
    return out;
  }
  try {
    write_version(props, topic, f, who, out);
  } catch (const std::exception& e) {
    out.error = e.what();
    outcome("failed");
    throw;
  }
  outcome(out.published ? "published" : "failed");
  return out;
}

// ---- follower ----

ReflistApplier::ReflistApplier(std::string topic, lists::Registry& registry, std::ostream& log,
                               http::AuditLog* audit)
    : topic_(std::move(topic)), registry_(registry), log_(log), audit_(audit) {}

void ReflistApplier::apply(const std::string& id, const Marker& m) {
  const std::string by = m.by.empty() ? "unknown" : m.by;
  // The outcome's record; `r` null when the version was refused before reaching the registry.
  const auto outcome = [&](std::string_view what, std::string_view detail,
                           const lists::ChangeResult* r) {
    if (!audit_) return;
    audit_->record(by, "publisher", "list.apply_published", [&](JsonWriter& w) {
      w.field("list_id", id);
      w.field("topic", topic_);
      w.field("outcome", what);
      if (!detail.empty()) w.field("detail", detail);
      if (!m.deleted) {
        w.field("checksum", m.checksum);
        w.field("marker_entries", m.entries);
      }
      if (r && r->version) {
        w.field("seq", r->version->seq);
        w.field("version", r->version->version);
        w.field("entries", r->version->entries);
        w.field("added", r->version->added);
        w.field("updated", r->version->updated);
        w.field("removed", r->version->removed);
      }
    });
  };
  // Recorded before the change: when the intent cannot be recorded, nothing is applied.
  const auto intend = [&] {
    if (!audit_) return;
    audit_->record(by, "publisher", "list.apply_published.requested", [&](JsonWriter& w) {
      w.field("list_id", id);
      w.field("topic", topic_);
      w.field("deleted", m.deleted);
      if (!m.deleted) {
        w.field("checksum", m.checksum);
        w.field("marker_entries", m.entries);
      }
    });
  };

  lists::ChangeResult r;
  if (m.deleted) {
    auto v = registry_.show(id);
    if (!v || !v->active) return;  // a list this instance does not hold: nothing to delete
    intend();
    r = registry_.apply_published(id, std::nullopt, "", lists::Actor{by, "publisher"});
  } else {
    SidecarParse side = parse_sidecar(m.sidecar, "reflists:" + id);
    if (side.error || side.meta->id != id) {
      log_ << "anpr: reflists: the version marker of a list has unusable metadata; skipped\n";
      intend();
      ++refused_;
      outcome("invalid", "the version marker's metadata cannot be used", nullptr);
      return;
    }
    ReferenceList list;
    list.meta = std::move(*side.meta);
    if (list.meta.version.empty()) list.meta.version = m.checksum;
    list.meta.source = "topic " + topic_;
    auto& entries = lists_[id];
    intend();
    if (entries.size() != m.entries) {
      // Entries of another version (a publish cut short, or one still being written): applying
      // would mix two versions. The active version stays until a complete one arrives.
      const std::string detail = std::to_string(entries.size()) +
                                 " entries on the topic, the version marker says " +
                                 std::to_string(m.entries);
      log_ << "anpr: reflists: list " << id << ": " << detail
           << "; not applied, the active version stays\n";
      ++refused_;
      outcome("refused", detail, nullptr);
      return;
    }
    list.entries.reserve(entries.size());
    for (const auto& [key, e] : entries) list.entries.push_back(e);
    r = registry_.apply_published(id, std::move(list), m.checksum, lists::Actor{by, "publisher"});
  }
  if (!r.applied())
    log_ << "anpr: reflists: list " << id << ": " << r.detail << "\n";
  else
    ++applied_;
  outcome(r.applied() ? std::string_view("applied") : to_string(r.error), r.detail, &r);
}

// A version that cannot be applied (the state folder or the audit log cannot be written, ...) is
// reported and skipped; the follower goes on with the next one instead of stopping.
void ReflistApplier::apply_safely(const std::string& id, const Marker& m) {
  try {
    apply(id, m);
  } catch (const std::exception& e) {
    log_ << "anpr: reflists: list " << id << ": cannot apply the published version: " << e.what()
         << "\n";
  }
}

void ReflistApplier::on_record(std::string_view key, const char* value, std::size_t len) {
  if (key.starts_with("e/")) {
    const std::size_t slash = key.find('/', 2);
    if (slash == std::string_view::npos) return void(++malformed_);
    const std::string id(key.substr(2, slash - 2));
    // The topic is outside input: an id that is not a ListId ("..", "a/b") names no list.
    if (!ListId::valid(id)) return void(++malformed_);
    if (!value) {
      auto it = lists_.find(id);
      if (it != lists_.end()) it->second.erase(std::string(key));
      return;
    }
    auto e = parse_entry(parser_, value, len);
    if (!e) return void(++malformed_);
    lists_[id][std::string(key)] = std::move(*e);
  } else if (key.starts_with("v/")) {
    const std::string id(key.substr(2));
    if (!ListId::valid(id)) return void(++malformed_);
    Marker m;
    if (!value) {
      m.deleted = true;
      lists_.erase(id);
    } else {
      simdjson::dom::element doc;
      std::string_view side, sum, by;
      uint64_t n = 0;
      if (parser_.parse(value, len, true).get(doc) || doc["sidecar"].get_string().get(side) ||
          doc["checksum"].get_string().get(sum) || doc["entries"].get_uint64().get(n))
        return void(++malformed_);
      if (doc["by"].get_string().get(by)) by = "publisher";
      m.sidecar = side;
      m.checksum = sum;
      m.by = by;
      m.entries = n;
    }
    if (caught_up_.load())
      apply_safely(id, m);
    else
      pending_[id] = std::move(m);
  } else {
    ++malformed_;
  }
}

void ReflistApplier::on_end() {
  if (caught_up_.load()) return;
  for (const auto& [id, m] : pending_) apply_safely(id, m);
  pending_.clear();
  caught_up_ = true;
  log_ << "anpr: reflists: read " << topic_ << " to its end; " << applied_.load()
       << " lists applied" << (refused_.load() ? ", some versions refused" : "")
       << (malformed_ ? ", some malformed records skipped" : "") << "\n";
}

ReflistFollower::ReflistFollower(kafka::Properties props, std::string topic,
                                 lists::Registry& registry, std::ostream& log,
                                 http::AuditLog* audit)
    : props_(std::move(props)), topic_(topic), log_(log),
      applier_(std::move(topic), registry, log, audit) {}

ReflistFollower::~ReflistFollower() { stop(); }

void ReflistFollower::start() {
  thread_ = std::thread([this] {
    try {
      run();
    } catch (const std::exception& e) {
      log_ << "anpr: reflists: " << e.what() << "\n";
    }
  });
}

void ReflistFollower::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ReflistFollower::run() {
  read_topic(
      props_, topic_,
      [&](std::string_view key, const char* value, std::size_t len) {
        applier_.on_record(key, value, len);
      },
      [&] {
        applier_.on_end();
        return false;  // keep following
      },
      stop_, log_, /*wait_for_topic=*/true);
}

}  // namespace anpr::app
