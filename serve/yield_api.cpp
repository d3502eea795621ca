#include "serve/yield_api.h"

#include <chrono>

#include "base/json_writer.h"
#include "match/ids.h"
#include "match/time.h"

namespace anpr::app {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void head(JsonWriter& w, const YieldBook& book, int64_t now) {
  const YieldBook::Stats s = book.stats();
  w.field("window_days", static_cast<int64_t>(book.limits().window_ms / kMsPerDay));
  w.key("since");
  if (s.oldest_hit_ms > 0) w.value(format_rfc3339(s.oldest_hit_ms)); else w.null();
  w.field("generated_at", format_rfc3339(now));
  w.field("hits_held", static_cast<uint64_t>(s.hits_held));
  w.field("hits_held_max", static_cast<uint64_t>(book.limits().max_hits));
}

// `part` / `whole` under `name`, or null when `whole` is 0 (no share of nothing).
void share(JsonWriter& w, std::string_view name, uint64_t part, uint64_t whole) {
  w.key(name);
  if (whole) w.value(static_cast<double>(part) / static_cast<double>(whole));
  else w.null();
}

void counts(JsonWriter& w, std::string_view name, const std::map<std::string, uint64_t>& m) {
  w.key(name);
  w.begin_object();
  for (const auto& [k, n] : m) w.field(k, n);
  w.end_object();
}

}  // namespace

std::string lists_yield_json(const YieldBook& book, bool with_covert, const std::string& only_list,
                             int64_t now) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  head(w, book, now);
  w.key("lists");
  w.begin_array();
  for (const ListYield& y : book.lists(with_covert)) {
    if (!only_list.empty() && y.list_id != only_list) continue;
    w.begin_object();
    w.field("list_id", y.list_id);
    w.field("covert", y.covert);
    w.field("hits", y.hits);
    w.field("acknowledged", y.acknowledged);
    w.field("not_followed_up", y.not_followed_up);
    share(w, "not_followed_up_share", y.not_followed_up, y.hits);
    w.field("accepted", y.accepted);
    w.field("rejected", y.rejected);
    w.field("misreads", y.misreads);
    counts(w, "rejected_by_reason", y.rejected_by_reason);
    counts(w, "outcomes", y.outcomes);
    w.key("median_ack_ms");
    if (y.median_ack_ms) w.value(*y.median_ack_ms); else w.null();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return body;
}

std::string cameras_yield_json(const YieldBook& book, int64_t now) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  head(w, book, now);
  w.key("cameras");
  w.begin_array();
  for (const CameraYield& c : book.cameras()) {
    w.begin_object();
    w.field("camera_id", c.camera_id);
    w.field("hits", c.hits);
    w.field("acknowledged", c.acknowledged);
    w.field("dispositions", c.dispositions);
    w.field("misreads", c.misreads);
    share(w, "misread_rate", c.misreads, c.dispositions);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return body;
}

void add_yield_routes(http::Server& server, const YieldBook& book) {
  const YieldBook* b = &book;
  server.get("/api/v1/lists/yield", http::Role::operator_ | http::Role::engineer,
             [b](const http::Request& req, http::Response& res, const http::Principal& who) {
               std::string only;
               if (req.has_param("list")) {
                 only = req.get_param_value("list");
                 if (!ListId::valid(only))
                   throw http::BadRequest("'list' is not a list id: expected " +
                                          std::string(ListId::kRule));
               }
               // Covert lists: for those who manage them only (serve/yield_api.h).
               const bool with_covert = who.role == http::Role::operator_;
               http::send_json(res, 200, lists_yield_json(*b, with_covert, only, now_ms()));
             });
  server.get("/api/v1/cameras/yield", http::roles(http::Role::engineer),
             [b](const http::Request&, http::Response& res, const http::Principal&) {
               http::send_json(res, 200, cameras_yield_json(*b, now_ms()));
             });
}

}  // namespace anpr::app
