// Every algorithm's settings are an Options struct with in-class defaults and a Validate() that
// lists every problem at once, so a bad configuration is one clear message, not a crash later:
//
//   struct Options {
//     int threads = 2;          // worker threads
//     std::vector<std::string> Validate() const;   // empty when valid
//   };
//   TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "capture options"));
#pragma once

#include <concepts>
#include <string>
#include <vector>

#include "util/result.h"

namespace twinrig {

template <typename T>
concept ValidatedOptions = requires(const T& options) {
  { options.Validate() } -> std::convertible_to<std::vector<std::string>>;
};

// Collects the problems into one Error that names `what` (e.g. "render options").
Status ProblemsToStatus(const std::vector<std::string>& problems, const std::string& what);

template <ValidatedOptions T>
Status ValidateOptions(const T& options, const std::string& what) {
  return ProblemsToStatus(options.Validate(), what);
}

}  // namespace twinrig
