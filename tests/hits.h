// Hit records as the processor publishes them, for the tests of the control rooms' feed
// (hit_feed_test, control_room_test).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "match/time.h"

namespace anpr::testing {

inline int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A hit of a `camera_country` camera (NL: hits kept 365 days by default) for control room `room`,
// captured at `ts_ms` (now by default).
inline std::string hit_json(const std::string& id, const std::string& room, int priority = 20,
                            const std::string& camera_country = "NL", int64_t ts_ms = -1) {
  return R"({"hit_id":")" + id + R"(","camera_id":"c1","camera_country":")" + camera_country +
         R"(","control_room":")" + room + R"(","ts":")" +
         format_rfc3339(ts_ms < 0 ? system_now() : ts_ms) + R"(","plate":"AB12CD","priority":)" +
         std::to_string(priority) + "}";
}

}  // namespace anpr::testing
