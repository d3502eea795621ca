// Helpers shared by the end-to-end tests that run `anpr` as a process against a broker: the
// binary, running a command, files, a free port, waiting for a condition, the wall clock,
// producing and reading with kcat, and the committed offsets of a consumer group asked with a
// client of the test's own.
#pragma once

#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "kafka/client.h"
#include "match/types.h"
#include "tests/process.h"

namespace anpr::testing {

inline void write_file(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What a command printed and how it ended.
struct CmdRun {
  int exit_code = -1;
  std::string out, err;
};

// Runs `env anpr args` through the shell, its stdout and stderr into files of `dir`.
inline CmdRun run_anpr(const std::string& args, const std::filesystem::path& dir,
                       const std::string& env = "") {
  const std::string cmd = env + " " + kAnpr + " " + args + " >" + (dir / "out").string() + " 2>" +
                          (dir / "err").string();
  CmdRun r;
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  return r;
}

// A port of the loopback interface nobody listens on right now.
inline int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("no free port");
  ::close(s);
  return ntohs(a.sin_port);
}

inline TimestampMs wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Polls `done` every 100 ms for up to `seconds`; true once it holds. The bound only tells a hang
// from progress: it is no timing threshold.
template <class F>
bool eventually(F done, int seconds = 60) {
  for (int i = 0; i < seconds * 10; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

// Checks `done` until it holds or `seconds` of wall time have passed, sleeping `poll_ms` between
// checks; true once it holds. Unlike eventually(), whose bound counts polls, the bound holds
// when each check takes a while itself (asking the cluster, reading topics with kcat). It only
// tells a hang from progress: it is no timing threshold.
template <class F>
bool within(int seconds, F done, int poll_ms = 100) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return done();
}

// Committed offset of each of `partitions` partitions of `topic` for `group` (-1: none); empty
// when the cluster did not answer.
inline std::map<int, int64_t> committed_offsets(const std::string& bootstrap,
                                                const std::string& group,
                                                const std::string& topic, int partitions) {
  kafka::Consumer c({{"bootstrap.servers", bootstrap}, {"group.id", group}, {"log_level", "0"}});
  kafka::PartitionList l(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), p);
  std::map<int, int64_t> out;
  if (rd_kafka_committed(c.get(), l.get(), 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR)
    for (int i = 0; i < l->cnt; ++i) out[l->elems[i].partition] = l->elems[i].offset;
  return out;  // c is closed here
}

// Produces the lines of `file` (key, a tab, value) to `topic` with kcat; what kcat printed (empty
// when all went well). `options`: more kcat arguments.
inline std::string kcat_produce(const std::string& bootstrap, const std::string& topic,
                                const std::filesystem::path& file, const std::string& options = "") {
  return shell("kcat -P -b " + bootstrap + " -t " + topic + " -K '\t' " +
               (options.empty() ? "" : options + " ") + "-l " + file.string() + " 2>&1");
}

// The event_id of every message on `topic` (read from the beginning with kcat), once per message.
inline std::multiset<std::string> topic_event_ids(const std::string& bootstrap,
                                                  const std::string& topic) {
  const std::string out = shell("kcat -C -b " + bootstrap + " -t " + topic +
                                " -o beginning -e -q -f '%s\\n' 2>/dev/null");
  std::multiset<std::string> ids;
  std::istringstream in(out);
  std::string line;
  simdjson::dom::parser parser;
  while (std::getline(in, line)) {
    simdjson::dom::element d;
    std::string_view id;
    if (!parser.parse(line).get(d) && !d["event_id"].get(id)) ids.insert(std::string(id));
  }
  return ids;
}

}  // namespace anpr::testing
