// `anpr broker`: the embedded Kafka-protocol broker (librdkafka's test broker) for the demo, the
// tests and trying the product without a Kafka cluster.
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/signals.h"
#include "kafka/client.h"

namespace anpr::app {

namespace {
struct BrokerArgs {
  int partitions = 4;
  int brokers = 1;
  std::vector<std::string> topics = {"anpr.reads",    "anpr.hits",     "anpr.deadletter",
                                     "anpr.route.nl", "anpr.route.be", "anpr.route.lu",
                                     "anpr.hit-acks"};
  std::vector<std::string> extra;
};
}  // namespace

void add_broker_command(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<BrokerArgs>();
  CLI::App* cmd = app.add_subcommand(
      "broker",
      "Start the embedded Kafka-protocol broker, create the product's topics and print the "
      "bootstrap servers on stdout; runs until SIGINT/SIGTERM. For tests and trials only: each "
      "partition keeps at most 5 MiB (older data is dropped), no compaction, no time retention.");
  cmd->add_option("--partitions", args->partitions, "partitions per topic")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--brokers", args->brokers, "number of brokers in the cluster")
      ->check(CLI::Range(1, 16));
  cmd->add_option("--topic", args->extra, "another topic to create (repeatable)");
  cmd->callback([args, &run] {
    run = [args] {
      install_stop_signals();
      kafka::EmbeddedBroker broker(args->brokers);
      for (const auto& t : args->topics) broker.create_topic(t, args->partitions);
      for (const auto& t : args->extra) broker.create_topic(t, args->partitions);
      broker.create_topic("anpr.reflists", 1);  // one partition: its records' order matters
      std::cout << broker.bootstrap() << std::endl;
      std::cerr << "anpr broker: listening on " << broker.bootstrap() << " (" << args->partitions
                << " partitions per topic); Ctrl-C to stop\n";
      while (!stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return kExitOk;
    };
  });
}

}  // namespace anpr::app
