#include "util/datagram.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "util/clock.h"

namespace twinrig {

std::optional<StampedDatagram> ReceiveStamped(int fd, std::span<std::uint8_t> buffer) {
  StampedDatagram out;
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
  msghdr message{};
  message.msg_name = &out.peer;
  message.msg_namelen = sizeof(out.peer);
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  const ssize_t n = recvmsg(fd, &message, MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  out.size = static_cast<std::size_t>(n);
  const std::int64_t now = MonotonicNowNs();
  out.arrival_ns = now;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec stamp{};
      std::memcpy(&stamp, CMSG_DATA(c), sizeof(stamp));
      const std::int64_t realtime =
          static_cast<std::int64_t>(stamp.tv_sec) * 1'000'000'000 + stamp.tv_nsec;
      out.arrival_ns = std::min(now, realtime - RealtimeMinusMonotonicNs());
    }
  }
  return out;
}

}  // namespace twinrig
