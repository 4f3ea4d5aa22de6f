// What a use case returns: its value, or a failure that says what kind of failure it is, so the
// command line (exit code 1 and the three-part message) and the review station (an HTTP status)
// report the same refusal the same way.
#pragma once

#include <utility>
#include <variant>

#include "util/result.h"

namespace twinrig::usecases {

enum class Why {
  kBadRequest,  // the request itself is malformed (which grant?)
  kDenied,      // a passphrase did not unseal the key
  kNotFound,    // no such session, subject or grant
  kConflict,    // the chain is not in the state the step needs (already reviewed, nothing to sign)
  kRefused,     // the consent rules refuse it (passphrase too short, a grant outside consent …)
  kInternal,    // the catalog, the disk or the station's own setup failed
};

struct Failure {
  Why why;
  Error error;
};

inline Failure Fails(Why why, Error error) { return {why, std::move(error)}; }
inline Failure Fails(Why why, std::string what, std::string where = {}, std::string todo = {}) {
  return {why, MakeError(std::move(what), std::move(where), std::move(todo))};
}

template <typename T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : state_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Outcome(Failure failure) : state_(std::move(failure)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return state_.index() == 0; }
  T& operator*() { return std::get<0>(state_); }
  T* operator->() { return &std::get<0>(state_); }
  [[nodiscard]] const Failure& failure() const { return std::get<1>(state_); }
  [[nodiscard]] const Error& error() const { return failure().error; }

 private:
  std::variant<T, Failure> state_;
};

}  // namespace twinrig::usecases

// Returns the failure of `expr` (an Outcome) from the enclosing use case, or assigns its value.
#define TWINRIG_ASSIGN_OR_FAIL(lhs, expr) \
  TWINRIG_ASSIGN_OR_FAIL_IMPL_(TWINRIG_CONCAT_(twinrig_outcome_, __LINE__), lhs, expr)
#define TWINRIG_ASSIGN_OR_FAIL_IMPL_(outcome, lhs, expr) \
  auto outcome = (expr);                                 \
  if (!outcome.ok()) return outcome.failure();           \
  lhs = std::move(*outcome)
