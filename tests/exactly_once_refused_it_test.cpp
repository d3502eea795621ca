// pipeline.exactly_once on the embedded broker: librdkafka's test broker accepts transactions
// without keeping them (read_committed consumers would see aborted hits, and no offset committed
// in a transaction is kept; docs/design.md §7), so `anpr run` refuses to start there with exit
// code 2 and says why, instead of running without the guarantee or hanging. Always the embedded
// broker (`anpr broker`), whatever ANPR_TEST_KAFKA says: exactly_once_kafka_test.cpp covers
// Apache Kafka.
#include <gtest/gtest.h>

#include <string>

#include "tests/it_support.h"
#include "tests/pipeline_fixture.h"
#include "tests/process.h"

namespace anpr::testing {
namespace {

class ExactlyOnceRefused : public PipelineFixture {
 protected:
  void SetUp() override {
    dir_ = fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    broker_process_ =
        Child({kAnpr, "broker", "--partitions", "1"}, true, (dir_ / "broker.err").string());
    bootstrap_ = broker_process_.read_line(20'000);
    ASSERT_FALSE(bootstrap_.empty()) << "the embedded broker printed no bootstrap servers";
    make_data("exactly_once = true\n");
  }
  Child broker_process_;
};

TEST_F(ExactlyOnceRefused, OnTheEmbeddedBrokerRunStopsWithAConfigurationError) {
  Child proc = start_processor();
  EXPECT_EQ(proc.wait(60'000), 2) << slurp(dir_ / "run.err");
  const std::string log = slurp(dir_ / "run.err");
  EXPECT_NE(log.find("pipeline.exactly_once: the cluster at " + bootstrap_ +
                     " is the embedded broker"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("set pipeline.exactly_once = false"), std::string::npos) << log;
}

}  // namespace
}  // namespace anpr::testing
