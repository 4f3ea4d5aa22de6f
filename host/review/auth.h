// Who may use the review station: a technician PIN for the studio, a subject PIN per session, and
// the session tokens a correct PIN buys. Wrong PINs are rate-limited per client address so six
// digits cannot be walked; tokens are 256 random bits held only in memory (a restarted station
// asks everyone for their PIN again).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace twinrig::review {

// `digits` random decimal digits from libsodium's randombytes (uniform, no modulo bias).
std::string RandomPin(int digits);
// 32 random bytes as 64 hex characters.
std::string RandomToken();

enum class Role { kTechnician, kSubject };

struct Principal {
  Role role = Role::kTechnician;
  std::string session_id;  // the only session a subject may see; empty for the technician
};

struct AccessOptions {
  int pin_digits = 6;
  int max_failures = 5;                               // wrong PINs per address per window
  std::chrono::seconds failure_window{60};            // the window those are counted in
  std::chrono::seconds token_lifetime{12 * 60 * 60};  // a working day
  std::string technician_pin;                         // empty: a random one
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct LoginOutcome {
  enum class Kind { kOk, kWrongPin, kRateLimited } kind = Kind::kWrongPin;
  std::string token;      // kOk
  Principal principal;    // kOk
  int retry_after_s = 0;  // kRateLimited
};

// Thread-safe: the HTTP threads share one Access.
class Access {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Access(AccessOptions options);

  [[nodiscard]] const std::string& technician_pin() const { return technician_pin_; }

  // A fresh PIN for the person scanned in `session_id`; replaces the session's previous PIN (the
  // tokens it already bought stay valid until revoked).
  std::string IssueSubjectPin(const std::string& session_id);
  // Ends every subject token and PIN of the session (after a rejection destroyed the capture).
  void RevokeSession(const std::string& session_id);

  // Checks a PIN typed from `client` (an IP address). Constant-time comparison; a wrong PIN counts
  // against the address; once it has `max_failures` in the window, every attempt (right or wrong)
  // is refused until the oldest failure leaves the window.
  LoginOutcome Login(const std::string& pin, const std::string& client, Clock::time_point now);
  LoginOutcome Login(const std::string& pin, const std::string& client) {
    return Login(pin, client, Clock::now());
  }

  [[nodiscard]] std::optional<Principal> Lookup(const std::string& token,
                                                Clock::time_point now) const;
  [[nodiscard]] std::optional<Principal> Lookup(const std::string& token) const {
    return Lookup(token, Clock::now());
  }
  void Logout(const std::string& token);

 private:
  struct TokenEntry {
    Principal principal;
    Clock::time_point expires;
  };
  AccessOptions options_;
  std::string technician_pin_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> subject_pins_;  // session -> PIN
  std::map<std::string, TokenEntry> tokens_;
  std::map<std::string, std::vector<Clock::time_point>> failures_;  // client -> times
};

// Equal-length-independent, data-independent comparison of two strings.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace twinrig::review
