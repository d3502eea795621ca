// `anpr replay READS.jsonl --topic T`: produces a file of camera reads into a topic, one message
// per non-blank line, keyed by the read's camera_id (as cameras do), so the reads of one camera
// stay in order. Lines are sent as they are, bad ones included: replaying a file of broken
// events is how the dead-letter path is exercised.
#include <atomic>
#include <fstream>
#include <iostream>

#include <simdjson.h>

#include "cli/commands.h"
#include "kafka/client.h"

namespace anpr::app {

namespace {
struct ReplayArgs {
  std::string file;
  std::string topic = "anpr.reads";
  std::string brokers = "localhost:9092";
  std::vector<std::string> props;
  int timeout_s = 30;
};

// The camera_id of a JSON line, or "" when the line has none.
std::string camera_key(simdjson::dom::parser& parser, const std::string& line) {
  simdjson::dom::element doc;
  if (parser.parse(line).get(doc)) return {};
  std::string_view id;
  if (doc["camera_id"].get(id)) return {};
  return std::string(id);
}
}  // namespace

void add_replay_command(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "replay", "Produce a JSON Lines file of camera reads into a Kafka topic (one message per "
                "line, keyed by camera_id).");
  cmd->add_option("file", args->file, "JSON Lines file of reads ('-' for stdin)")->required();
  cmd->add_option("--topic", args->topic, "topic to produce to");
  cmd->add_option("--brokers", args->brokers, "bootstrap servers");
  cmd->add_option("-X", args->props, "librdkafka property name=value (repeatable)");
  cmd->add_option("--timeout", args->timeout_s,
                  "seconds to wait for the cluster to answer, and for each read to be delivered; "
                  "then exit 3")
      ->check(CLI::Range(1, 3600));
  cmd->callback([args, &run] {
    run = [args] {
      const int timeout_ms = args->timeout_s * 1000;
      // A read not delivered within the timeout fails (and is reported) instead of waiting for
      // a cluster that does not come back.
      kafka::Properties props{{"bootstrap.servers", args->brokers},
                              {"enable.idempotence", "true"},
                              {"linger.ms", "5"},
                              {"log_level", "3"},
                              {"message.timeout.ms", std::to_string(timeout_ms)}};
      for (const auto& p : args->props) {
        const auto eq = p.find('=');
        if (eq == std::string::npos || eq == 0) {
          std::cerr << "anpr replay: -X " << p << ": expected name=value\n";
          return kExitUsage;
        }
        props.emplace_back(p.substr(0, eq), p.substr(eq + 1));
      }
      std::ifstream file;
      std::istream* in = &std::cin;
      if (args->file != "-") {
        file.open(args->file, std::ios::binary);
        if (!file) {
          std::cerr << "anpr replay: " << args->file << ": cannot open\n";
          return kExitUsage;
        }
        in = &file;
      }
      std::atomic<uint64_t> failed{0};
      kafka::Producer producer(props, [&](rd_kafka_resp_err_t e, void*, const rd_kafka_message_t&) {
        if (e) failed.fetch_add(1);
      });
      // Ask the cluster first: an unreachable one is a clear error, not a hang.
      {
        rd_kafka_topic_t* rkt = rd_kafka_topic_new(producer.get(), args->topic.c_str(), nullptr);
        const rd_kafka_metadata_t* md = nullptr;
        const rd_kafka_resp_err_t e = rd_kafka_metadata(producer.get(), 0, rkt, &md, timeout_ms);
        // A topic the cluster does not know yet may be created by the first message (where the
        // cluster allows that); any other error of the topic is reported.
        const rd_kafka_resp_err_t te = e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1
                                           ? md->topics[0].err
                                           : RD_KAFKA_RESP_ERR_NO_ERROR;
        const bool refused = te != RD_KAFKA_RESP_ERR_NO_ERROR &&
                             te != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        const std::string topic_error = refused ? kafka::error_text(te) : std::string();
        if (md) rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
          std::cerr << "anpr replay: the Kafka cluster at " << args->brokers
                    << " did not answer within " << args->timeout_s << " s ("
                    << kafka::error_text(e) << "); nothing was produced\n";
          return kExitRuntime;
        }
        if (refused) {
          std::cerr << "anpr replay: topic " << args->topic << ": " << topic_error
                    << "; nothing was produced\n";
          return kExitRuntime;
        }
      }
      simdjson::dom::parser parser;
      std::string line;
      uint64_t sent = 0;
      while (std::getline(*in, line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const std::string key = camera_key(parser, line);
        if (rd_kafka_resp_err_t e = producer.produce(args->topic, key, line)) {
          std::cerr << "anpr replay: cannot produce: " << kafka::error_text(e) << "\n";
          return kExitRuntime;
        }
        ++sent;
        producer.poll(0);
      }
      // Every message fails by itself after message.timeout.ms; the margin covers the last ones.
      if (!producer.flush(timeout_ms + 10'000)) {
        std::cerr << "anpr replay: not every read was delivered within " << args->timeout_s
                  << " s\n";
        return kExitRuntime;
      }
      if (failed) {
        std::cerr << "anpr replay: " << failed << " of " << sent << " reads were not delivered\n";
        return kExitRuntime;
      }
      std::cerr << "anpr replay: " << sent << " reads produced to " << args->topic << "\n";
      return kExitOk;
    };
  });
}

}  // namespace anpr::app
