#include "util/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

namespace twinrig {

ContextLogger ContextLogger::With(std::string_view key, std::string_view value) const {
  ContextLogger copy = *this;
  if (!copy.fields_.empty()) copy.fields_ += ' ';
  copy.fields_.append(key).append("=").append(value);
  copy.prefix_ = "[" + copy.fields_ + "] ";
  return copy;
}

void ContextLogger::Write(spdlog::level::level_enum level, const std::string& message) const {
  spdlog::log(level, "{}{}", prefix_, message);
}

const ContextLogger& Log() {
  static const ContextLogger root;
  return root;
}

void ConfigureLogging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("twinrig");
  logger->set_pattern("%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  std::string chosen(level);
  if (const char* env = std::getenv("TWINRIG_LOG")) chosen = env;
  spdlog::set_level(spdlog::level::from_str(chosen));
}

}  // namespace twinrig
