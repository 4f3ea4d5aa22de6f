// Who may use the review station: a technician PIN for the studio, a subject PIN per session, and
// the session tokens a correct PIN buys. Tokens are 256 random bits held only in memory (a
// restarted station asks everyone for their PIN again).
//
// Wrong PINs are throttled so six digits cannot be walked, and so that a stranger cannot turn the
// throttle against the technician: every client identity has its own count and backoff. A browser
// that has once typed a right PIN carries a device cookie and is that identity (the technician's
// tablet keeps working while a stranger on the same address is made to wait); any other client is
// its address. Clients without a device cookie also share one station-wide budget of wrong PINs.
// Subject PINs expire when unused and die with their session's review; a rejection ends its
// tokens too.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
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
  int max_failures = 5;                          // wrong PINs one client may type before waiting
  std::chrono::seconds backoff{30};              // the first wait; doubles with each further one
  std::chrono::seconds max_backoff{15 * 60};     // the longest wait
  std::chrono::seconds failure_memory{60 * 60};  // a quiet client's count is forgotten after this
  int station_max_failures = 30;                 // wrong PINs of all clients without a device
  std::chrono::seconds failure_window{10 * 60};  // cookie together, per this window
  std::chrono::seconds token_lifetime{12 * 60 * 60};        // a working day
  std::chrono::seconds subject_pin_lifetime{15 * 60};       // an unused subject PIN expires
  std::chrono::seconds device_lifetime{30 * 24 * 60 * 60};  // a trusted browser's cookie
  std::string technician_pin;                               // empty: a random one
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct LoginOutcome {
  enum class Kind { kOk, kWrongPin, kRateLimited } kind = Kind::kWrongPin;
  std::string token;      // kOk
  std::string device;     // kOk: the device cookie's value (new or the one presented)
  Principal principal;    // kOk
  int retry_after_s = 0;  // kRateLimited, and kWrongPin when this failure starts a wait
};

// Thread-safe: the HTTP threads share one Access.
class Access {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Access(AccessOptions options);

  [[nodiscard]] const std::string& technician_pin() const { return technician_pin_; }

  // A fresh PIN for the person scanned in `session_id`; replaces the session's previous PIN. It
  // expires `subject_pin_lifetime` after it was issued or last used.
  std::string IssueSubjectPin(const std::string& session_id, Clock::time_point now);
  std::string IssueSubjectPin(const std::string& session_id) {
    return IssueSubjectPin(session_id, Clock::now());
  }
  // Ends the session's subject PIN: no new sign-in with it (the twin was approved; a later grant
  // to sign needs a new PIN from the technician). Tokens already bought stay.
  void EndSubjectPin(const std::string& session_id);
  // Ends the session's subject PIN and every subject token it bought (the twin was rejected and
  // the capture destroyed: nothing is left for the person to do at the station).
  void RevokeSession(const std::string& session_id);

  // Checks a PIN typed by `client` (an IP address) whose browser presented `device` (empty when
  // none). Constant-time comparison of every PIN. A throttled client is refused, right PIN or not.
  LoginOutcome Login(const std::string& pin, const std::string& client, const std::string& device,
                     Clock::time_point now);
  LoginOutcome Login(const std::string& pin, const std::string& client,
                     const std::string& device = {}) {
    return Login(pin, client, device, Clock::now());
  }

  [[nodiscard]] std::optional<Principal> Lookup(const std::string& token,
                                                Clock::time_point now) const;
  [[nodiscard]] std::optional<Principal> Lookup(const std::string& token) const {
    return Lookup(token, Clock::now());
  }
  void Logout(const std::string& token);
  // Forgets expired tokens, PINs, devices and failure counts (Login calls it too).
  void Prune(Clock::time_point now);
  [[nodiscard]] size_t token_count() const;

 private:
  struct TokenEntry {
    Principal principal;
    Clock::time_point expires;
  };
  struct SubjectPin {
    std::string pin;
    Clock::time_point expires;
  };
  struct Failures {
    int count = 0;
    Clock::time_point last;
    Clock::time_point blocked_until;
  };
  void PruneLocked(Clock::time_point now);

  AccessOptions options_;
  std::string technician_pin_;
  mutable std::mutex mu_;
  std::map<std::string, SubjectPin> subject_pins_;  // session -> PIN
  std::map<std::string, TokenEntry> tokens_;
  std::map<std::string, Clock::time_point> devices_;  // device cookie -> expiry
  std::map<std::string, Failures> failures_;          // "address …" or "device …"
  std::deque<Clock::time_point> station_failures_;    // wrong PINs without a device cookie
};

// Equal-length-independent, data-independent comparison of two strings.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace twinrig::review
