// The retention rules of one camera country, as the store applies them (docs/retention.md). The
// configuration builds them from its [retention.XX] tables (config/settings.h); the store takes
// them without knowing where they came from.
//
// Thread safety: a plain value.
#pragma once

#include <string>

#include "match/types.h"

namespace anpr::store {

struct RetentionPolicy {
  CountryCode country;
  bool keep_passages = false;  // no-hit passages are stored at all
  int passage_days = 28;       // max days after capture a passage is kept (when keep_passages)
  int hit_days = 0;            // max days after capture a hit is kept; 0 = hits are not kept
  bool keep_images = false;    // the reads' images are kept with the records
  // Searching data older than this many days needs a prosecutor's order reference; younger data
  // needs a justification (or the order reference). 0: the order reference always.
  int order_after_days = 0;
  // The format of this country's prosecution references (an ECMAScript regular expression the
  // whole reference must match), checked when a search authorisation is entered
  // (serve/authorisations.h). Empty: no authorisation can be entered for this country's data.
  // The store itself does not use it.
  std::string authorisation_pattern;
};

}  // namespace anpr::store
