#include "util/colmap_banner.h"

#include <regex>

#include "util/subprocess.h"

namespace twinrig {

ColmapBanner ParseColmapBanner(std::string_view help_output) {
  ColmapBanner banner;
  static const std::regex kVersion(R"(COLMAP\s+([0-9]+(\.[0-9]+)*)[^\n]*)");
  static const std::regex kCuda(R"(\b(with|without)\s+CUDA\b)");
  std::string text(help_output);
  std::smatch match;
  if (!std::regex_search(text, match, kVersion)) return banner;
  banner.recognised = true;
  banner.version = match[1];
  if (std::regex_search(text, match, kCuda)) banner.cuda = match[1] == "with";
  return banner;
}

ColmapBanner ProbeColmap(const std::string& program, std::chrono::seconds timeout) {
  if (!ProgramExists(program)) return {};
  SubprocessOptions run;
  run.timeout = timeout;
  auto help = RunSubprocess({program, "-h"}, run);
  return help.ok() ? ParseColmapBanner(help->output) : ColmapBanner{};
}

}  // namespace twinrig
