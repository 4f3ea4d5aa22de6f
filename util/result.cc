#include "util/result.h"

#include <cstdio>

namespace twinrig {

std::string Error::Describe() const {
  std::string line;
  if (!where.empty()) line += where + ": ";
  line += what;
  if (!todo.empty()) line += " (" + todo + ")";
  return line;
}

Error MakeError(std::string what, std::string where, std::string todo) {
  return Error{std::move(what), std::move(where), std::move(todo)};
}

void AbortOnWrongAccess(const Error& error) {
  std::fprintf(stderr, "twinrig: value() of a failed Result: %s\n", error.Describe().c_str());
  std::abort();
}

}  // namespace twinrig
