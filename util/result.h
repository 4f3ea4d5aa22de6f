// Expected failures as values: a camera that is busy, a file that is corrupt, a COLMAP step that
// failed. Broken invariants are not Results; they throw through TWINRIG_CHECK (util/check.h).
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace twinrig {

// What went wrong, where, and what the person at the station should do about it.
struct Error {
  std::string what;   // "camera CAM0012 did not answer GetObject within 5 s"
  std::string where;  // the thing concerned: a camera serial, node, file path, session id
  std::string todo;   // what to do: "check the cable, then run `twinrig preflight`"

  // One line for logs and terminals: "where: what (todo)".
  [[nodiscard]] std::string Describe() const;
};

[[nodiscard]] Error MakeError(std::string what, std::string where = {}, std::string todo = {});

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Accessing the wrong alternative is a programming error: it aborts with the error text.
  T& value() & { return std::get<0>(Checked()); }
  const T& value() const& { return std::get<0>(const_cast<Result*>(this)->Checked()); }
  T&& value() && { return std::get<0>(std::move(Checked())); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  [[nodiscard]] const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error>& Checked();
  std::variant<T, Error> state_;
};

// A Result with no value: success, or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  [[nodiscard]] const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

inline Status OkStatus() { return {}; }

[[noreturn]] void AbortOnWrongAccess(const Error& error);

template <typename T>
std::variant<T, Error>& Result<T>::Checked() {
  if (!ok()) AbortOnWrongAccess(std::get<1>(state_));
  return state_;
}

}  // namespace twinrig

// Returns the error of `expr` (a Status or Result) from the enclosing function.
#define TWINRIG_RETURN_IF_ERROR(expr)                          \
  do {                                                         \
    auto twinrig_status_ = (expr);                             \
    if (!twinrig_status_.ok()) return twinrig_status_.error(); \
  } while (false)

#define TWINRIG_CONCAT_INNER_(a, b) a##b
#define TWINRIG_CONCAT_(a, b) TWINRIG_CONCAT_INNER_(a, b)

// Declares or assigns `lhs` from the value of `expr` (a Result), or returns its error from the
// enclosing function: `TWINRIG_ASSIGN_OR_RETURN(const auto rig, ReadRigFile(path));`.
#define TWINRIG_ASSIGN_OR_RETURN(lhs, expr) \
  TWINRIG_ASSIGN_OR_RETURN_IMPL_(TWINRIG_CONCAT_(twinrig_result_, __LINE__), lhs, expr)
#define TWINRIG_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                   \
  if (!result.ok()) return result.error();                \
  lhs = std::move(result).value()
