#include "rig/boards/fake/fake_hal.h"

#include <algorithm>

namespace twinrig::rig::fake {

void FakeHal::SetLine(std::uint8_t port, Line line, bool closed, std::uint64_t tick,
                      std::uint32_t capture_id) {
  lines.push_back({port, line, closed, tick, capture_id});
}

void FakeHal::Send(const std::uint8_t* data, std::size_t size, const Peer& to,
                   std::size_t tx_stamp_offset) {
  sent.push_back({std::vector<std::uint8_t>(data, data + size), to, tx_stamp_offset});
}

std::size_t FakeHal::LoadConfig(std::uint8_t* data, std::size_t capacity) {
  const std::size_t n = std::min(capacity, stored_config.size());
  std::copy_n(stored_config.begin(), n, data);
  return n;
}

bool FakeHal::SaveConfig(const std::uint8_t* data, std::size_t size) {
  stored_config.assign(data, data + size);
  return true;
}

}  // namespace twinrig::rig::fake
