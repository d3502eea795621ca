// Hits for people: a short, readable block per hit, for the demo and `--format text`.
#pragma once

#include <string>

#include "export/hit_json.h"

namespace anpr::app {

// Appends a two-line description of a hit (no trailing newline).
void append_hit_text(std::string& out, const HitReadView& r, const Snapshot& s,
                     const IndexHit& h);

}  // namespace anpr::app
