// Passage and hit search (docs/design.md §2, §6; docs/retention.md): `POST /api/v1/search`, role
// investigator, over the retention store.
//
// Request (JSON object; unknown keys are refused):
//   plate                 required: the plate as written (normalised like a read's)
//   ocr_tolerant          optional boolean: also plates that differ within OCR confusion classes
//   from, to              optional RFC 3339 bounds of the capture time (inclusive)
//   cameras               optional array of camera ids (at most 100)
//   countries             optional array of camera countries (default: every country kept)
//   kinds                 optional array of "passage", "hit" (default both)
//   prosecutor_reference  the prosecutor's order (NL) or decision (BE) reference
//   justification         why the search is needed (BE data younger than order_after_days)
//   limit                 optional, at most retention.max_results
// Legal gating, per camera country in scope: a search that reaches data older than that
// country's `order_after_days` (always, when it is 0: NL) needs `prosecutor_reference`; a search
// of younger data needs a `justification` (or the reference). Missing: 403
// {"error":"legal_reference_required"}. Every search, allowed or refused (400 and 403 too), is
// written to the audit log before the answer: who, role, when, legal reference, justification,
// the query, the outcome and the result count.
//
// Response 200: {"count":n,"truncated":bool,"records":[{"kind":"passage"|"hit",
//   "camera_country":"NL","captured":"...","deadline":"...","record":{...}}]}
// Only records within their deadline are returned.
//
// Thread safety: the routes run on the server's threads; the store and audit log are
// thread-safe.
#pragma once

#include "serve/http_service.h"
#include "store/store.h"

namespace anpr::app {

void add_search_routes(HttpService& http, store::Store& store);

}  // namespace anpr::app
