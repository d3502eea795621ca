#include "serve/lists_api.h"

#include <simdjson.h>

#include "base/json_writer.h"
#include "match/ids.h"

namespace anpr::app {

namespace {

// Any path segment of a bounded length (std::regex matches recursively, so an unbounded one
// would let a long path exhaust the stack); whether it is a list id is ListId's to say.
constexpr const char* kId = R"(/api/v1/lists/([^/]{1,128}))";

// The list id of the path, or 404 naming the rule (docs/operators.md, section 10).
std::string list_id(const http::Request& req) {
  std::string id = req.matches[1];
  if (!ListId::valid(id))
    throw http::NotFound("'" + id + "' is not a list id: expected " + std::string(ListId::kRule));
  return id;
}

lists::Actor actor(const http::Principal& p) {
  return lists::Actor{p.name, std::string(http::role_name(p.role))};
}

void need_multipart(const http::Request& req) {
  if (!req.is_multipart_form_data())
    throw http::BadRequest(
        "expected a multipart/form-data body (curl -F sidecar=@LIST.toml -F rows=@LIST.csv)");
}

lists::Format format_of(const http::FormPart& p) {
  if (auto f = lists::format_of_name(p.filename)) return *f;
  if (auto f = lists::format_of_name(p.content_type)) return *f;
  return lists::Format::csv;
}

std::string name_of(const http::FormPart& p) {
  return p.filename.empty() ? p.name : p.filename;
}

// {"list":...,"version":...,"report":...} or {"error":...,"detail":...,"report":...}.
void answer(http::Response& res, const lists::Registry& reg, std::string_view id,
            const lists::ChangeResult& r) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  int status = 200;
  if (!r.applied()) {
    std::string_view code = to_string(r.error);
    switch (r.error) {
      case lists::ChangeError::refused:
        status = 422;
        break;
      case lists::ChangeError::invalid:
        status = 400;
        code = "invalid_list";
        break;
      case lists::ChangeError::not_found:
        status = 404;
        break;
      case lists::ChangeError::mismatch:
        status = 409;
        code = "id_mismatch";
        break;
      default:
        status = 409;
    }
    w.field("error", code);
    w.field("detail", r.detail);
  } else {
    w.key("list");
    if (auto v = reg.show(id))
      lists::write_list_json(w, *v, false);
    else
      w.null();
    w.key("version");
    lists::write_version_json(w, *r.version);
  }
  w.key("report");
  lists::write_report_json(w, r.report);
  w.end_object();
  http::send_json(res, status, std::move(body));
}

// Recorded before the change is made: if the audit log cannot be written, the change is not
// made (the request fails), so no change goes unrecorded; the outcome follows in its own record.
void intend(http::AuditLog& log, const http::Principal& who, std::string_view action,
            std::string_view id) {
  log.record(who.name, http::role_name(who.role), std::string(action) + ".requested",
             [&](JsonWriter& w) { w.field("list_id", id); });
}

void audit(http::AuditLog& log, const http::Principal& who, std::string_view action,
           std::string_view id, const lists::ChangeResult& r) {
  log.record(who.name, http::role_name(who.role), action, [&](JsonWriter& w) {
    w.field("list_id", id);
    w.field("outcome", r.applied() ? std::string_view("applied") : to_string(r.error));
    if (!r.applied()) w.field("detail", r.detail);
    if (r.version) {
      w.field("seq", r.version->seq);
      w.field("version", r.version->version);
      w.field("checksum", r.version->checksum);
      w.field("entries", r.version->entries);
      w.field("added", r.version->added);
      w.field("updated", r.version->updated);
      w.field("removed", r.version->removed);
      if (r.version->restored_seq) w.field("restored_seq", r.version->restored_seq);
    }
    w.field("source", r.report.file);
    w.field("rows", r.report.rows);
    w.field("accepted", r.report.accepted);
    w.field("rejected", r.report.rejected);
    // Rows accepted against a registry's issuing rules, by the operator's exception.
    w.field("registry_exceptions", r.report.registry_exceptions);
    if (!r.report.registry_exception_rows.empty()) {
      w.key("registry_exception_rows");
      w.begin_array();
      for (const RowError& e : r.report.registry_exception_rows) {
        w.begin_object();
        w.field("line", e.line);
        w.field("reason", e.reason);
        w.end_object();
      }
      w.end_array();
    }
  });
}

void refuse_if_read_only(bool read_only) {
  if (read_only)
    throw http::HttpError(409, "read_only",
                          "this instance takes its lists from the reflists topic "
                          "(lists.follow_topic): publish with `anpr lists publish` instead");
}

}  // namespace

void add_list_routes(http::Server& server, http::AuditLog& audit_log, lists::Registry& registry,
                     bool read_only) {
  const http::Roles op = http::roles(http::Role::operator_);
  lists::Registry* reg = &registry;
  http::AuditLog* log = &audit_log;

  server.get("/api/v1/lists", op,
             [reg](const http::Request&, http::Response& res, const http::Principal&) {
               std::string body;
               JsonWriter w(body);
               w.begin_object();
               w.key("lists");
               w.begin_array();
               for (const lists::ListView& v : reg->lists()) lists::write_list_json(w, v, false);
               w.end_array();
               w.end_object();
               http::send_json(res, 200, std::move(body));
             });

  server.get(kId, op, [reg](const http::Request& req, http::Response& res,
                            const http::Principal&) {
    const std::string id = list_id(req);
    auto v = reg->show(id);
    if (!v) throw http::NotFound("no list '" + id + "'");
    std::string body;
    JsonWriter w(body);
    lists::write_list_json(w, *v, true);
    http::send_json(res, 200, std::move(body));
  });

  server.put(kId, op, [reg, log, read_only](const http::Request& req, http::Response& res,
                                            const http::Principal& who) {
    refuse_if_read_only(read_only);
    const std::string id = list_id(req);
    need_multipart(req);
    if (!req.has_file("sidecar") || !req.has_file("rows"))
      throw http::BadRequest("a full load needs the parts 'sidecar' (TOML) and 'rows' (CSV or "
                             "JSON Lines)");
    const auto side = req.get_file_value("sidecar");
    const auto rows = req.get_file_value("rows");
    lists::ListInput in{side.content, rows.content, format_of(rows), name_of(rows)};
    intend(*log, who, "list.load", id);
    lists::ChangeResult r = reg->load(in, actor(who), id);
    audit(*log, who, "list.load", id, r);
    answer(res, *reg, id, r);
  }, http::kLargeBody);

  server.post(std::string(kId) + "/validate", op,
              [reg](const http::Request& req, http::Response& res, const http::Principal&) {
                const std::string id = list_id(req);
                need_multipart(req);
                if (!req.has_file("sidecar") || !req.has_file("rows"))
                  throw http::BadRequest(
                      "validation needs the parts 'sidecar' (TOML) and 'rows' (CSV or JSON "
                      "Lines)");
                const auto side = req.get_file_value("sidecar");
                const auto rows = req.get_file_value("rows");
                lists::Report r = reg->validate(
                    lists::ListInput{side.content, rows.content, format_of(rows), name_of(rows)});
                std::string body;
                JsonWriter w(body);
                w.begin_object();
                w.key("report");
                lists::write_report_json(w, r);
                w.end_object();
                http::send_json(res, r.fatal ? 400 : 200, std::move(body));
              }, http::kLargeBody);

  server.post(std::string(kId) + "/delta", op,
              [reg, log, read_only](const http::Request& req, http::Response& res,
                                    const http::Principal& who) {
                refuse_if_read_only(read_only);
                const std::string id = list_id(req);
                need_multipart(req);
                if (!req.has_file("add") && !req.has_file("remove"))
                  throw http::BadRequest("a delta needs a part 'add', 'remove' or both");
                http::FormPart add, remove;
                lists::DeltaInput in;
                if (req.has_file("add")) {
                  add = req.get_file_value("add");
                  in.add = add.content;
                  in.add_format = format_of(add);
                  in.add_name = name_of(add);
                }
                if (req.has_file("remove")) {
                  remove = req.get_file_value("remove");
                  in.remove = remove.content;
                  in.remove_format = format_of(remove);
                  in.remove_name = name_of(remove);
                }
                intend(*log, who, "list.delta", id);
                lists::ChangeResult r = reg->delta(id, in, actor(who));
                audit(*log, who, "list.delta", id, r);
                answer(res, *reg, id, r);
              }, http::kLargeBody);

  server.post(std::string(kId) + "/rollback", op,
              [reg, log, read_only](const http::Request& req, http::Response& res,
                                    const http::Principal& who) {
                refuse_if_read_only(read_only);
                const std::string id = list_id(req);
                uint64_t to = 0;
                if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
                  simdjson::dom::parser p;
                  simdjson::dom::element doc;
                  simdjson::dom::object obj;
                  if (p.parse(req.body).get(doc) != simdjson::SUCCESS ||
                      doc.get_object().get(obj) != simdjson::SUCCESS)
                    throw http::BadRequest("expected an empty body or a JSON object {\"to\":SEQ}");
                  for (auto [k, v] : obj) {
                    if (k != "to" || v.get_uint64().get(to) != simdjson::SUCCESS || to == 0)
                      throw http::BadRequest(
                          "expected an empty body or a JSON object {\"to\":SEQ} with SEQ a "
                          "version number from GET /api/v1/lists/" + id);
                  }
                }
                intend(*log, who, "list.rollback", id);
                lists::ChangeResult r = reg->rollback(id, to, actor(who));
                audit(*log, who, "list.rollback", id, r);
                answer(res, *reg, id, r);
              });

  server.del(kId, op, [reg, log, read_only](const http::Request& req, http::Response& res,
                                            const http::Principal& who) {
    refuse_if_read_only(read_only);
    const std::string id = list_id(req);
    intend(*log, who, "list.delete", id);
    lists::ChangeResult r = reg->remove(id, actor(who));
    audit(*log, who, "list.delete", id, r);
    answer(res, *reg, id, r);
  });
}

void add_list_routes(HttpService& service, lists::Registry& registry, bool read_only) {
  add_list_routes(service.server(), service.audit(), registry, read_only);
}

}  // namespace anpr::app
