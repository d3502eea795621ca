// The reflists follower's bookkeeping without a broker (reflists/reflists.h, ReflistApplier): records
// are fed in topic order as the follower reads them. A version marker whose entry count does not
// match the entries on the topic is refused (no mix of two versions) and audited as refused; the
// previous version stays active until a complete marker arrives.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "reflists/reflists.h"
#include "config/settings.h"
#include "base/json_writer.h"
#include "http/audit.h"
#include "lists/registry.h"
#include "match/plate.h"
#include "tests/index_refs.h"

namespace anpr::app {
namespace {

namespace fs = std::filesystem;

const std::string kSidecar =
    "id = \"shared\"\nowner_country = \"NL\"\ncategory = \"stolen_vehicle\"\n";

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() /
               ("anpr-reflists-unit-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

ListEntry entry(std::string_view plate, const std::string& reference) {
  ListEntry e;
  e.plate = *Plate::from_normalized(plate);
  e.reference = reference;
  return e;
}

std::string marker(std::size_t entries, const std::string& checksum, const std::string& by) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("type", "version");
  w.field("list_id", "shared");
  w.field("sidecar", kSidecar);
  w.field("checksum", checksum);
  w.field("entries", entries);
  w.field("by", by);
  w.field("at", "2026-11-24T10:00:00.000Z");
  w.end_object();
  return out;
}

struct Follower {
  LiveIndex live;
  std::ostringstream log;
  std::unique_ptr<lists::Registry> registry;
  std::unique_ptr<http::AuditLog> audit;
  std::unique_ptr<ReflistApplier> applier;

  explicit Follower(const fs::path& dir) {
    lists::Policy p;
    p.countries = config::default_country_policies();
    registry = std::make_unique<lists::Registry>(live, p, dir / "lists");
    audit = std::make_unique<http::AuditLog>(dir / "audit.jsonl");
    applier = std::make_unique<ReflistApplier>("anpr.reflists", *registry, log, audit.get());
  }
  void put(const ListEntry& e) {
    const std::string key = reflist_entry_key("shared", e.country, e.plate);
    const std::string value = reflist_entry_json(e);
    applier->on_record(key, value.data(), value.size());
  }
  void remove(std::string_view plate) {
    applier->on_record(reflist_entry_key("shared", {}, *Plate::from_normalized(plate)), nullptr, 0);
  }
  void mark(std::size_t entries, const std::string& checksum, const std::string& by = "olga") {
    const std::string v = marker(entries, checksum, by);
    applier->on_record(reflist_marker_key("shared"), v.data(), v.size());
  }
  std::vector<std::string> refs(std::string_view plate) {
    return testing::matched_references(live, plate, lists::system_now());
  }
  std::string active_checksum() {
    auto v = registry->show("shared");
    return v && v->active ? v->current.checksum : std::string();
  }
};

// The audit records of one action, as lines.
std::vector<std::string> records(const fs::path& file, std::string_view action) {
  std::vector<std::string> out;
  for (const std::string& l : lines_of(file)) {
    simdjson::dom::parser parser;
    simdjson::dom::element d;
    EXPECT_FALSE(parser.parse(l).get(d)) << l;
    std::string_view a;
    if (!d["action"].get_string().get(a) && a == action) out.push_back(l);
  }
  return out;
}

// A string field of a record ("<absent>" when it has none).
std::string text(const std::string& record, const char* key) {
  simdjson::dom::parser parser;
  std::string_view v;
  if (parser.parse(record)[key].get_string().get(v)) return "<absent>";
  return std::string(v);
}

// A number field of a record (-1 when it has none).
int64_t number(const std::string& record, const char* key) {
  simdjson::dom::parser parser;
  int64_t v = 0;
  if (parser.parse(record)[key].get_int64().get(v)) return -1;
  return v;
}

TEST(ReflistApplier, RefusesAMarkerWhoseEntryCountDoesNotMatchAndKeepsTheActiveVersion) {
  const fs::path dir = fresh_dir("mismatch");
  Follower f(dir);

  // Version 1, read while catching up: applied at the end of the topic.
  f.put(entry("P100001", "v1-1"));
  f.put(entry("P100002", "v1-2"));
  f.mark(2, "00000000000000a1");
  EXPECT_EQ(f.applier->applied(), 0u) << "applied before the end of the topic";
  f.applier->on_end();
  ASSERT_TRUE(f.applier->caught_up());
  EXPECT_EQ(f.applier->applied(), 1u) << f.log.str();
  EXPECT_EQ(f.refs("P100001"), std::vector<std::string>{"v1-1"});
  EXPECT_EQ(f.active_checksum(), "00000000000000a1");

  // Version 2 cut short: one entry re-tagged, one removed, one new, and a marker that claims
  // four entries where the topic holds two. Applying it would mix the versions: refused.
  f.put(entry("P100001", "v2-1"));
  f.remove("P100002");
  f.put(entry("P100003", "v2-3"));
  f.mark(4, "00000000000000a2");
  EXPECT_EQ(f.applier->applied(), 1u);
  EXPECT_EQ(f.applier->refused(), 1u);
  EXPECT_EQ(f.active_checksum(), "00000000000000a1") << "the refused version became active";
  EXPECT_EQ(f.refs("P100001"), std::vector<std::string>{"v1-1"});
  EXPECT_EQ(f.refs("P100002"), std::vector<std::string>{"v1-2"});
  EXPECT_TRUE(f.refs("P100003").empty());
  EXPECT_NE(f.log.str().find("2 entries on the topic, the version marker says 4"),
            std::string::npos)
      << f.log.str();
  EXPECT_EQ(f.log.str().find("P10000"), std::string::npos) << "a plate in the log: " << f.log.str();

  // A marker claiming fewer entries than the topic holds is refused as well.
  f.mark(1, "00000000000000a3");
  EXPECT_EQ(f.applier->refused(), 2u);
  EXPECT_EQ(f.active_checksum(), "00000000000000a1");

  // The rest of version 2 arrives, then its complete marker: applied at once.
  f.put(entry("P100004", "v2-4"));
  f.put(entry("P100005", "v2-5"));
  f.mark(4, "00000000000000a4", "piet");
  EXPECT_EQ(f.applier->applied(), 2u) << f.log.str();
  EXPECT_EQ(f.applier->refused(), 2u);
  EXPECT_EQ(f.active_checksum(), "00000000000000a4");
  EXPECT_EQ(f.refs("P100001"), std::vector<std::string>{"v2-1"});
  EXPECT_TRUE(f.refs("P100002").empty());
  EXPECT_EQ(f.refs("P100005"), std::vector<std::string>{"v2-5"});
  EXPECT_EQ(f.live.read()->entry_count(), 4u);

  // Audit: an intent before every attempt, then the outcome; refused ones say so and why.
  const fs::path log = dir / "audit.jsonl";
  EXPECT_EQ(records(log, "list.apply_published.requested").size(), 4u);
  const auto outcomes = records(log, "list.apply_published");
  ASSERT_EQ(outcomes.size(), 4u);
  const std::vector<std::string> want = {"applied", "refused", "refused", "applied"};
  const std::vector<std::string> sums = {"00000000000000a1", "00000000000000a2",
                                         "00000000000000a3", "00000000000000a4"};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(text(outcomes[i], "outcome"), want[i]) << i;
    EXPECT_EQ(text(outcomes[i], "checksum"), sums[i]) << i;
    EXPECT_EQ(text(outcomes[i], "list_id"), "shared");
    EXPECT_EQ(text(outcomes[i], "topic"), "anpr.reflists");
    EXPECT_EQ(text(outcomes[i], "role"), "publisher");
  }
  EXPECT_EQ(text(outcomes[1], "detail"), "2 entries on the topic, the version marker says 4");
  EXPECT_EQ(number(outcomes[1], "marker_entries"), 4);
  EXPECT_EQ(number(outcomes[1], "seq"), -1) << "a refused version got a sequence number";
  EXPECT_EQ(text(outcomes[3], "who"), "piet");
  EXPECT_EQ(number(outcomes[3], "entries"), 4);
  EXPECT_EQ(number(outcomes[3], "seq"), 2);
  for (const std::string& l : lines_of(log)) EXPECT_EQ(l.find("P10000"), std::string::npos) << l;
}

TEST(ReflistApplier, AMismatchedMarkerReadWhileCatchingUpIsRefusedAtTheEnd) {
  const fs::path dir = fresh_dir("catchup");
  Follower f(dir);
  f.put(entry("P100001", "v1-1"));
  f.mark(3, "00000000000000b1");
  f.applier->on_end();
  EXPECT_TRUE(f.applier->caught_up());
  EXPECT_EQ(f.applier->applied(), 0u);
  EXPECT_EQ(f.applier->refused(), 1u);
  EXPECT_EQ(f.active_checksum(), "");
  EXPECT_TRUE(f.refs("P100001").empty());
  EXPECT_NE(f.log.str().find("some versions refused"), std::string::npos) << f.log.str();
  // The publish is completed: its marker comes again, now matching.
  f.put(entry("P100002", "v1-2"));
  f.put(entry("P100003", "v1-3"));
  f.mark(3, "00000000000000b1");
  EXPECT_EQ(f.applier->applied(), 1u) << f.log.str();
  EXPECT_EQ(f.refs("P100003"), std::vector<std::string>{"v1-3"});
}

// No change without its record: when the intent cannot be written (a full disk: /dev/full), the
// version is not applied, the follower says so and goes on.
TEST(ReflistApplier, NothingIsAppliedWhenTheIntentCannotBeAudited) {
  const fs::path dir = fresh_dir("noaudit");
  Follower f(dir);
  f.audit = std::make_unique<http::AuditLog>("/dev/full");
  f.applier = std::make_unique<ReflistApplier>("anpr.reflists", *f.registry, f.log, f.audit.get());
  f.put(entry("P100001", "v1-1"));
  f.mark(1, "00000000000000c1");
  f.applier->on_end();
  EXPECT_TRUE(f.applier->caught_up());
  EXPECT_EQ(f.applier->applied(), 0u);
  EXPECT_EQ(f.active_checksum(), "");
  EXPECT_TRUE(f.refs("P100001").empty());
  EXPECT_NE(f.log.str().find("cannot apply the published version"), std::string::npos)
      << f.log.str();
}

}  // namespace
}  // namespace anpr::app
