// The yield figures over HTTP (serve/yield_book.h; docs/operators.md, "Yield of a list";
// docs/operations.md, "Misreads per camera"):
//
//   GET /api/v1/lists/yield     operator, engineer  {"window_days":N,"since":T|null,
//                               "generated_at":T,"lists":[LIST_YIELD...]}; ?list=ID: that list only
//   GET /api/v1/cameras/yield   engineer            {"window_days":N,"since":T|null,
//                               "generated_at":T,"cameras":[CAMERA_YIELD...]}
//
// LIST_YIELD: {"list_id","covert","hits","acknowledged","not_followed_up",
// "not_followed_up_share" (0..1, null without hits),"accepted","rejected","misreads",
// "rejected_by_reason":{CODE:N},"outcomes":{CODE:N},"median_ack_ms" (null when none)}.
// CAMERA_YIELD: {"camera_id","hits","acknowledged","dispositions","misreads",
// "misread_rate" (misreads / dispositions, null without dispositions)}.
//
// Covert lists: only an operator token gets their rows (they manage them, docs/operators.md);
// an engineer's answer has no row for them, and the cameras' figures leave covert hits out for
// everyone. The routes are registered before the list routes: GET /api/v1/lists/yield is this
// route, never the list named "yield".
#pragma once

#include <string>
#include <vector>

#include "serve/http_service.h"
#include "serve/yield_book.h"

namespace anpr::app {

// `book` must outlive the server.
void add_yield_routes(http::Server& server, const YieldBook& book);

// The JSON answers (also for tests).
std::string lists_yield_json(const YieldBook& book, bool with_covert, const std::string& only_list,
                             int64_t now_ms);
std::string cameras_yield_json(const YieldBook& book, int64_t now_ms);

}  // namespace anpr::app
