// The web pages' files (web/), built into the binary by cmake/embed_assets.cmake.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace anpr::app {

struct WebAsset {
  std::string_view path;          // "/control-room.js"
  std::string_view content_type;
  const char* data;
  std::size_t size;
};

const std::vector<WebAsset>& web_assets();

}  // namespace anpr::app
