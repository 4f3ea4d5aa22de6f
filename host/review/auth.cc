#include "host/review/auth.h"

#include <sodium.h>

#include <algorithm>

#include "consent/crypto.h"
#include "util/check.h"

namespace twinrig::review {

std::string RandomPin(int digits) {
  TWINRIG_CHECK(digits >= 6 && digits <= 32) << "PIN length " << digits;
  consent::InitSodium();
  std::string pin;
  pin.reserve(static_cast<size_t>(digits));
  for (int i = 0; i < digits; ++i) {
    pin.push_back(static_cast<char>('0' + randombytes_uniform(10)));
  }
  return pin;
}

std::string RandomToken() {
  consent::InitSodium();
  std::uint8_t bytes[32];
  randombytes_buf(bytes, sizeof(bytes));
  return consent::HexEncode(bytes);
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  // Compare digests of equal length so neither the length nor the content leaks through timing.
  consent::InitSodium();
  unsigned char da[crypto_generichash_BYTES];
  unsigned char db[crypto_generichash_BYTES];
  crypto_generichash(da, sizeof(da), reinterpret_cast<const unsigned char*>(a.data()), a.size(),
                     nullptr, 0);
  crypto_generichash(db, sizeof(db), reinterpret_cast<const unsigned char*>(b.data()), b.size(),
                     nullptr, 0);
  return sodium_memcmp(da, db, sizeof(da)) == 0;
}

std::vector<std::string> AccessOptions::Validate() const {
  std::vector<std::string> problems;
  if (pin_digits < 6 || pin_digits > 32) problems.push_back("pin_digits must be 6..32");
  if (max_failures < 1) problems.push_back("max_failures must be at least 1");
  if (failure_window.count() < 1) problems.push_back("failure_window must be at least 1 s");
  if (token_lifetime.count() < 60) problems.push_back("token_lifetime must be at least 60 s");
  if (!technician_pin.empty()) {
    if (technician_pin.size() < 6 || !std::all_of(technician_pin.begin(), technician_pin.end(),
                                                  [](char c) { return c >= '0' && c <= '9'; })) {
      problems.push_back("technician_pin must be 6 or more digits");
    }
  }
  return problems;
}

Access::Access(AccessOptions options) : options_(std::move(options)) {
  technician_pin_ =
      options_.technician_pin.empty() ? RandomPin(options_.pin_digits) : options_.technician_pin;
}

std::string Access::IssueSubjectPin(const std::string& session_id) {
  std::lock_guard lock(mu_);
  std::string pin;
  // A subject PIN never equals the technician's or another session's.
  for (int attempt = 0; attempt < 100; ++attempt) {
    pin = RandomPin(options_.pin_digits);
    bool clash = pin == technician_pin_;
    for (const auto& [session, other] : subject_pins_) clash = clash || other == pin;
    if (!clash) break;
  }
  subject_pins_[session_id] = pin;
  return pin;
}

void Access::RevokeSession(const std::string& session_id) {
  std::lock_guard lock(mu_);
  subject_pins_.erase(session_id);
  std::erase_if(tokens_, [&](const auto& entry) {
    return entry.second.principal.role == Role::kSubject &&
           entry.second.principal.session_id == session_id;
  });
}

LoginOutcome Access::Login(const std::string& pin, const std::string& client,
                           Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto& times = failures_[client];
  std::erase_if(times, [&](Clock::time_point t) { return now - t >= options_.failure_window; });
  LoginOutcome outcome;
  if (static_cast<int>(times.size()) >= options_.max_failures) {
    outcome.kind = LoginOutcome::Kind::kRateLimited;
    const auto wait = times.front() + options_.failure_window - now;
    outcome.retry_after_s = static_cast<int>(
        std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(wait).count()));
    return outcome;
  }
  std::optional<Principal> who;
  // Every PIN is compared (no early exit) so the time taken does not say which one was close.
  if (ConstantTimeEquals(pin, technician_pin_)) who = Principal{Role::kTechnician, ""};
  for (const auto& [session, subject_pin] : subject_pins_) {
    if (ConstantTimeEquals(pin, subject_pin)) who = Principal{Role::kSubject, session};
  }
  if (!who) {
    times.push_back(now);
    outcome.kind = LoginOutcome::Kind::kWrongPin;
    return outcome;
  }
  if (times.empty()) failures_.erase(client);
  outcome.kind = LoginOutcome::Kind::kOk;
  outcome.token = RandomToken();
  outcome.principal = *who;
  tokens_[outcome.token] = TokenEntry{*who, now + options_.token_lifetime};
  return outcome;
}

std::optional<Principal> Access::Lookup(const std::string& token, Clock::time_point now) const {
  if (token.size() != 64) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end() || it->second.expires <= now) return std::nullopt;
  return it->second.principal;
}

void Access::Logout(const std::string& token) {
  std::lock_guard lock(mu_);
  tokens_.erase(token);
}

}  // namespace twinrig::review
