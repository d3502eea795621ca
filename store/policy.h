// The retention rules of one camera country, as the store applies them (docs/retention.md). The
// configuration builds them from its [retention.XX] tables (config/settings.h); the store takes
// them without knowing where they came from.
//
// Thread safety: a plain value.
#pragma once

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
};

}  // namespace anpr::store
