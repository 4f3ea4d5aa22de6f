// Logging that carries its context. A camera worker logs through
//   auto log = Log().With("camera", serial).With("session", session_id);
//   log.Warn("GetObject timed out after {} ms", ms);
// and every line reads "[camera=CAM0012 session=S0003] GetObject timed out after 5000 ms", so a
// technician can grep one camera's story out of a 200-camera log.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>
#include <utility>

namespace twinrig {

class ContextLogger {
 public:
  ContextLogger() = default;

  // A copy of this logger with one more key=value in its context.
  [[nodiscard]] ContextLogger With(std::string_view key, std::string_view value) const;
  [[nodiscard]] const std::string& context() const { return prefix_; }

  template <typename... Args>
  void Debug(fmt::format_string<Args...> format, Args&&... args) const {
    Write(spdlog::level::debug, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Info(fmt::format_string<Args...> format, Args&&... args) const {
    Write(spdlog::level::info, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Warn(fmt::format_string<Args...> format, Args&&... args) const {
    Write(spdlog::level::warn, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Error(fmt::format_string<Args...> format, Args&&... args) const {
    Write(spdlog::level::err, fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  void Write(spdlog::level::level_enum level, const std::string& message) const;
  std::string prefix_;  // "[camera=CAM0012 session=S0003] " or empty
  std::string fields_;  // "camera=CAM0012 session=S0003"
};

// The process-wide root logger (no context).
const ContextLogger& Log();

// Logs go to stderr so that a command's stdout stays machine-readable; `level` is one of
// trace, debug, info, warn, error, off (TWINRIG_LOG overrides it).
void ConfigureLogging(std::string_view level);

}  // namespace twinrig
