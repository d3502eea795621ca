// Passage and hit search (docs/design.md §2, §6; docs/retention.md §5): `POST /api/v1/search`,
// role investigator, over the retention store, and the search authorisations it names
// (serve/authorisations.h).
//
// Request (JSON object; unknown keys are refused):
//   plate          required: the plate as written (normalised like a read's)
//   ocr_tolerant   optional boolean: also plates that differ within OCR confusion classes
//   from, to       optional RFC 3339 bounds of the capture time (inclusive)
//   cameras        optional array of camera ids (at most 100)
//   countries      optional array of camera countries (default: every country kept, or the
//                  authorisation's)
//   kinds          optional array of "passage", "hit" (default both)
//   authorisation  the id of an authorisation (POST /api/v1/authorisations)
//   justification  why the search is needed (BE data younger than order_after_days): at least
//                  3 words and 15 letters, no control or invisible characters (else 400)
//   limit          optional, at most retention.max_results
// `prosecutor_reference` is refused (400): references are entered as authorisations.
//
// In this order, each refusal audited before it is answered:
//   429 rate_limited            more than search.burst in a row / search.max_per_hour an hour
//                               for this investigator (token name); Retry-After in seconds
//   400 bad_request             malformed request
//   403 unknown_authorisation   no such authorisation (withdrawn, or pruned 30 days after expiry)
//   403 authorisation_expired   now >= its valid_until (the store's clock)
//   403 same_person             search.four_eyes and the searcher entered it
//   403 outside_authorisation   another plate, OCR-tolerant when it does not say so, a camera
//                               country or a time outside its window. Countries and time bounds
//                               the search leaves open are narrowed to the authorisation's.
//   403 authorisation_required  per camera country in scope: data older than its
//                               `order_after_days` (always, when 0: NL) needs an authorisation;
//                               younger data a justification or an authorisation
//   422 narrow_the_search       the records found hold more than search.max_plates different
//                               plates: nothing is returned
// The audit record of every search holds who, role, when, the authorisation (id, reference,
// issuer, who entered it) or justification, the query, `plates_searched` (the canonical plate),
// `ocr_key` for OCR-tolerant searches (the plate folded to its confusion classes' representatives:
// every plate the search can find has it), `plates_disclosed` (the distinct canonical plates of
// the records returned; [] when refused), the outcome and the result count.
//
// Response 200: {"count":n,"truncated":bool,"records":[{"kind":"passage"|"hit",
//   "camera_country":"NL","captured":"...","deadline":"...","record":{...}}]}
// Only records within their deadline are returned.
//
// Authorisations (role investigator; an engineer, operator or control room cannot enter one):
//   POST   /api/v1/authorisations       enter one (body: serve/authorisations.h); 201 with it,
//                                       id included; 400 for a reference that does not match
//                                       the country's authorisation_pattern. Audited
//                                       (authorisation.add), refused ones too.
//   GET    /api/v1/authorisations       those the caller entered, each with "expired"
//   GET    /api/v1/authorisations/{id}  one, to any investigator who knows its id (four eyes:
//                                       the colleague who searches)
//   DELETE /api/v1/authorisations/{id}  withdraw; only by who entered it. Audited
//                                       (authorisation.withdraw) before it takes effect.
//
// Thread safety: the routes run on the server's threads; the store, the authorisations, the
// rate limiter and the audit log are thread-safe.
#pragma once

#include "serve/http_service.h"
#include "store/store.h"

namespace anpr::app {

// Adds the search and authorisation routes. The authorisations are kept in
// state.dir/authorisations.json; the store's clock decides expiry and pacing. Throws
// std::runtime_error when that file exists but cannot be read.
void add_search_routes(HttpService& http, store::Store& store);

}  // namespace anpr::app
