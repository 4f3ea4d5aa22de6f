#include "util/check.h"

namespace twinrig::internal {

CheckMessage::CheckMessage(const char* file, int line, const char* condition) {
  stream_ << file << ":" << line << ": check failed: " << condition << ". ";
}

void CheckMessage::Throw() const { throw CheckFailure(stream_.str()); }

}  // namespace twinrig::internal
