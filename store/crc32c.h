// CRC-32C (Castagnoli) of the retention store's frames: the SSE 4.2 instruction where the CPU
// has it (8 bytes per instruction), a table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace anpr::store {

uint32_t crc32c(const void* data, std::size_t n, uint32_t crc = 0);

}  // namespace anpr::store
