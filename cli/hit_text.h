// Hits for people: a short, readable block per hit, for the demo and `--format text`.
#pragma once

#include <string>

#include "export/hit_json.h"

namespace anpr::app {

// Appends a two-line description of a hit (no trailing newline).
void append_hit_text(std::string& out, const HitReadView& r, const Snapshot& s,
                     const IndexHit& h);

}  // namespace anpr::app

namespace anpr::app {

// The same description rendered from a hit message as published on the hits topic (docs/design.md §3).
// Returns false (and leaves `out` unchanged) when `json` is not a hit.
bool append_hit_text_from_json(std::string& out, std::string_view json);

}  // namespace anpr::app
