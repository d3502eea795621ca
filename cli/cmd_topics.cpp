// `anpr topics plan|apply --config FILE`: the Kafka topic settings that bound the age of data by
// the retention policies, and the compacted reflists topic (cli/topics_plan.h), printed, or applied to a cluster through the
// Admin API (CreateTopics for missing topics, AlterConfigs for existing ones).
#include <cstdio>
#include <iostream>
#include <set>

#include "cli/commands.h"
#include "cli/topics_plan.h"
#include "config/settings.h"
#include "base/json_writer.h"
#include "kafka/client.h"
#include "pipeline/kafka_props.h"
#include "match/time.h"

namespace anpr::app {

namespace {

struct TopicsArgs {
  std::string config;
  std::string brokers;
  bool json = false;
  int partitions = 6;
  int replication = -1;
  int timeout_s = 30;
};

std::string days_text(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f d", static_cast<double>(ms) / static_cast<double>(kMsPerDay));
  return buf;
}

void print_plan(const std::vector<TopicPlan>& plan, bool json) {
  if (json) {
    std::string out;
    JsonWriter w(out);
    w.begin_array();
    for (const auto& p : plan) {
      w.begin_object();
      w.field("topic", p.topic);
      w.field("why", p.why);
      w.key("max_age_ms");
      if (p.bound_ms > 0)
        w.value(p.bound_ms);
      else
        w.null();  // compacted: no age bound
      if (p.partitions > 0) w.field("partitions", p.partitions);
      w.key("configs");
      w.begin_object();
      for (const auto& [k, v] : p.configs) w.field(k, v);
      w.end_object();
      w.end_object();
    }
    w.end_array();
    std::cout << out << "\n";
    return;
  }
  std::printf("%-24s %14s %11s %9s  %s\n", "TOPIC", "retention.ms", "segment.ms", "MAX AGE",
              "BOUNDED BY");
  for (const auto& p : plan) {
    std::string ret, seg;
    for (const auto& [k, v] : p.configs) {
      if (k == "retention.ms") ret = v;
      if (k == "segment.ms") seg = v;
    }
    if (seg.empty()) seg = "-";
    std::printf("%-24s %14s %11s %9s  %s\n", p.topic.c_str(), ret.c_str(), seg.c_str(),
                p.bound_ms > 0 ? days_text(p.bound_ms).c_str() : "none", p.why.c_str());
  }
  std::printf("every topic also gets cleanup.policy=delete, retention.bytes=-1, "
              "message.timestamp.type=CreateTime;\ncompacted topics (MAX AGE none) get "
              "cleanup.policy=compact, retention.bytes=-1 and one partition\n");
}

struct AdminResult {
  std::string topic;
  std::string action;  // created | altered
  std::string error;   // "" = ok
};

// Waits for one admin result event on `q`.
rd_kafka_event_t* wait_event(rd_kafka_queue_t* q, rd_kafka_event_type_t type, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 200);
    if (!ev) continue;
    if (rd_kafka_event_type(ev) == type) return ev;
    rd_kafka_event_destroy(ev);
  }
  return nullptr;
}

std::string no_answer(const TopicsArgs& a) {
  return "no answer from the cluster's controller within " + std::to_string(a.timeout_s) +
         " s (the embedded broker, `anpr broker`, takes no Admin requests)";
}

int apply(const config::Settings& s, const TopicsArgs& a) {
  const std::vector<TopicPlan> plan = plan_topics(s);
  kafka::Handle rk = kafka::make_client(
      RD_KAFKA_PRODUCER, kafka::make_conf(kafka_properties(s.kafka, KafkaRole::common, "3")));
  const int timeout_ms = a.timeout_s * 1000;

  // Which topics exist.
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_resp_err_t e = rd_kafka_metadata(rk.get(), 1, nullptr, &md, timeout_ms)) {
    std::cerr << "anpr topics: cannot read the cluster's topics at " << s.kafka.brokers << ": "
              << rd_kafka_err2str(e) << "\n";
    return kExitRuntime;
  }
  std::set<std::string> existing;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (!md->topics[i].err) existing.insert(md->topics[i].topic);
  rd_kafka_metadata_destroy(md);

  std::vector<AdminResult> results;
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> q(rd_kafka_queue_new(rk.get()),
                                                                   rd_kafka_queue_destroy);
  char errbuf[512];
  // Create what is missing, with its settings.
  std::vector<rd_kafka_NewTopic_t*> create;
  std::vector<std::string> create_names;
  for (const auto& p : plan) {
    if (existing.count(p.topic)) continue;
    rd_kafka_NewTopic_t* t =
        rd_kafka_NewTopic_new(p.topic.c_str(), p.partitions > 0 ? p.partitions : a.partitions,
                              a.replication, errbuf, sizeof errbuf);
    if (!t) {
      results.push_back({p.topic, "created", errbuf});
      continue;
    }
    for (const auto& [k, v] : p.configs) rd_kafka_NewTopic_set_config(t, k.c_str(), v.c_str());
    create.push_back(t);
    create_names.push_back(p.topic);
  }
  if (!create.empty()) {
    rd_kafka_AdminOptions_t* o = rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, errbuf, sizeof errbuf);
    rd_kafka_CreateTopics(rk.get(), create.data(), create.size(), o, q.get());
    rd_kafka_event_t* ev = wait_event(q.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout_ms + 5000);
    if (!ev) {
      for (const auto& t : create_names) results.push_back({t, "created", no_answer(a)});
    } else if (rd_kafka_event_error(ev)) {
      for (const auto& t : create_names)
        results.push_back({t, "created", rd_kafka_event_error_string(ev)});
    } else {
      size_t n = 0;
      const rd_kafka_topic_result_t** r =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      for (size_t i = 0; i < n; ++i) {
        const char* msg = rd_kafka_topic_result_error_string(r[i]);
        results.push_back({rd_kafka_topic_result_name(r[i]), "created",
                           rd_kafka_topic_result_error(r[i]) ? (msg ? msg : "error") : ""});
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy_array(create.data(), create.size());
  }
  // Alter the settings of what exists (AlterConfigs replaces the topic's dynamic settings).
  std::vector<rd_kafka_ConfigResource_t*> alter;
  for (const auto& p : plan) {
    if (!existing.count(p.topic)) continue;
    rd_kafka_ConfigResource_t* c = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, p.topic.c_str());
    for (const auto& [k, v] : p.configs) rd_kafka_ConfigResource_set_config(c, k.c_str(), v.c_str());
    alter.push_back(c);
  }
  if (!alter.empty()) {
    rd_kafka_AdminOptions_t* o = rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, errbuf, sizeof errbuf);
    rd_kafka_AlterConfigs(rk.get(), alter.data(), alter.size(), o, q.get());
    rd_kafka_event_t* ev = wait_event(q.get(), RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, timeout_ms + 5000);
    if (!ev) {
      for (auto* c : alter) results.push_back({rd_kafka_ConfigResource_name(c), "altered", no_answer(a)});
    } else if (rd_kafka_event_error(ev)) {
      for (auto* c : alter)
        results.push_back({rd_kafka_ConfigResource_name(c), "altered", rd_kafka_event_error_string(ev)});
    } else {
      size_t n = 0;
      const rd_kafka_ConfigResource_t** r =
          rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
      for (size_t i = 0; i < n; ++i) {
        const char* msg = rd_kafka_ConfigResource_error_string(r[i]);
        results.push_back({rd_kafka_ConfigResource_name(r[i]), "altered",
                           rd_kafka_ConfigResource_error(r[i]) ? (msg ? msg : "error") : ""});
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy_array(alter.data(), alter.size());
  }

  int failed = 0;
  if (a.json) {
    std::string out;
    JsonWriter w(out);
    w.begin_array();
    for (const auto& r : results) {
      w.begin_object();
      w.field("topic", r.topic);
      w.field("action", r.action);
      w.field("ok", r.error.empty());
      if (!r.error.empty()) w.field("error", r.error);
      w.end_object();
    }
    w.end_array();
    std::cout << out << "\n";
  }
  for (const auto& r : results) {
    if (!a.json)
      std::printf("%-24s %-8s %s\n", r.topic.c_str(), r.action.c_str(),
                  r.error.empty() ? "ok" : ("FAILED: " + r.error).c_str());
    failed += !r.error.empty();
  }
  if (failed)
    std::fprintf(stderr, "anpr topics: %d of %zu topics could not be set up (see above)\n", failed,
                 results.size());
  return failed ? kExitRuntime : kExitOk;
}

}  // namespace

void add_topics_command(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<TopicsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "topics",
      "Kafka topic settings that bound how long data stays on the cluster by the retention "
      "policies (retention.ms, segment.ms): print them (plan) or set them (apply).");
  cmd->require_subcommand(1);
  CLI::App* plan = cmd->add_subcommand("plan", "Print the settings of every topic the processor uses.");
  CLI::App* apply_cmd = cmd->add_subcommand(
      "apply", "Create the missing topics with these settings and alter the existing ones, "
               "through the cluster's Admin API.");
  for (CLI::App* c : {plan, apply_cmd}) {
    c->add_option("--config", a->config, "configuration file (docs/configuration.md)")->required();
    c->add_flag("--json", a->json, "JSON output");
  }
  apply_cmd->add_option("--brokers", a->brokers, "bootstrap servers, overriding kafka.brokers");
  apply_cmd->add_option("--partitions", a->partitions,
                        "partitions of topics it creates (the reflists topic always gets one)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  apply_cmd->add_option("--replication", a->replication,
                        "replication factor of topics it creates (-1: the broker's default)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 32));
  apply_cmd->add_option("--timeout", a->timeout_s, "seconds to wait for the cluster")
      ->capture_default_str()
      ->check(CLI::Range(1, 600));
  const auto load = [a](config::Settings& s) {
    try {
      s = config::load_settings(a->config);
    } catch (const config::ConfigError& e) {
      std::cerr << "anpr topics: " << e.what() << "\n";
      return false;
    }
    if (!a->brokers.empty()) s.kafka.brokers = a->brokers;
    return true;
  };
  plan->callback([a, &run, load] {
    run = [a, load] {
      config::Settings s;
      if (!load(s)) return kExitUsage;
      print_plan(plan_topics(s), a->json);
      return kExitOk;
    };
  });
  apply_cmd->callback([a, &run, load] {
    run = [a, load] {
      config::Settings s;
      if (!load(s)) return kExitUsage;
      try {
        return apply(s, *a);
      } catch (const std::exception& e) {
        std::cerr << "anpr topics: " << e.what() << "\n";
        return kExitRuntime;
      }
    };
  });
}

}  // namespace anpr::app
