// Broken invariants throw: they are bugs, not expected failures (those are util/result.h).
//   TWINRIG_CHECK(index < size) << "index " << index;
// The message is built only when the check fails, and the exception carries file and line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace twinrig {

class CheckFailure : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace internal {
// Collects the streamed message, then throws from Throw(); never from a destructor.
class CheckMessage {
 public:
  CheckMessage(const char* file, int line, const char* condition);
  template <typename T>
  CheckMessage& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }
  [[noreturn]] void Throw() const;

 private:
  std::ostringstream stream_;
};

// Lets the macro end in `<< ...` and still throw: `Thrower{} & message << a << b`.
struct Thrower {
  [[noreturn]] void operator&(const CheckMessage& message) const { message.Throw(); }
};
}  // namespace internal

}  // namespace twinrig

#define TWINRIG_CHECK(condition)                 \
  (condition) ? (void)0                          \
              : ::twinrig::internal::Thrower{} & \
                    ::twinrig::internal::CheckMessage(__FILE__, __LINE__, #condition)

#define TWINRIG_CHECK_EQ(a, b) \
  TWINRIG_CHECK((a) == (b)) << #a " = " << (a) << ", " #b " = " << (b) << ". "
#define TWINRIG_CHECK_LT(a, b) \
  TWINRIG_CHECK((a) < (b)) << #a " = " << (a) << ", " #b " = " << (b) << ". "
#define TWINRIG_CHECK_LE(a, b) \
  TWINRIG_CHECK((a) <= (b)) << #a " = " << (a) << ", " #b " = " << (b) << ". "
