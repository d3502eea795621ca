// The operators' HTTP API for reference lists (docs/design.md §3, §6), under /api/v1/lists, on the
// processor's server (serve/http_service.h). Every route needs a bearer token of role `operator`
// (401 without a valid token, 403 for another role). docs/operators.md documents it with examples.
//
//   GET    /api/v1/lists                 {"lists":[LIST...]}
//   GET    /api/v1/lists/ID              LIST with "versions" (newest first)            404
//   PUT    /api/v1/lists/ID              full load (multipart: sidecar, rows)   200 / 400 / 409 / 422
//   POST   /api/v1/lists/ID/validate     dry run of a full load: {"report":REPORT}      200 / 400
//   POST   /api/v1/lists/ID/delta        multipart: add and/or remove           200 / 400 / 404 / 422
//   POST   /api/v1/lists/ID/rollback     optional JSON {"to":SEQ}               200 / 404 / 409
//   DELETE /api/v1/lists/ID              the list stops matching; history kept  200 / 404
//
// Multipart parts: `sidecar` (the list's TOML metadata), `rows` (CSV, or JSON Lines when the part's
// file name ends in .jsonl or its content type is application/x-ndjson), `add` and `remove` (a
// delta's rows, same format rules). A change answers {"list":LIST,"version":VERSION,
// "report":REPORT}; a refused or invalid one {"error":CODE,"detail":TEXT,"report":REPORT}.
// Error codes: bad_request (400: not multipart, a part missing), invalid_list (400: metadata or
// header unusable), not_found (404), conflict (409: no version to roll back to), id_mismatch
// (409: the sidecar names another list), refused (422: too many rejected rows), read_only (409:
// lists come from the reflists topic on this instance).
//
// Every change, applied or not, is written to the audit log before the answer: who, role,
// action (list.load, list.delta, list.delete, list.rollback), list id, outcome, version, checksum
// and counts.
//
// Thread safety: handlers run on the server's threads; the Registry serialises changes.
#pragma once

#include "serve/http_service.h"
#include "lists/registry.h"

namespace anpr::app {

// Adds the routes; `registry` must outlive the server. `read_only`: changes answer 409 (the
// instance follows the reflists topic).
void add_list_routes(HttpService& service, lists::Registry& registry, bool read_only = false);
// The same on a bare server (tests).
void add_list_routes(http::Server& server, http::AuditLog& audit, lists::Registry& registry,
                     bool read_only = false);

}  // namespace anpr::app
