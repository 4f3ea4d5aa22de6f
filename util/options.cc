#include "util/options.h"

namespace twinrig {

Status ProblemsToStatus(const std::vector<std::string>& problems, const std::string& what) {
  if (problems.empty()) return OkStatus();
  std::string text = "invalid " + what + ": ";
  for (size_t i = 0; i < problems.size(); ++i) {
    if (i > 0) text += "; ";
    text += problems[i];
  }
  return MakeError(text, what, "correct the settings named above");
}

}  // namespace twinrig
