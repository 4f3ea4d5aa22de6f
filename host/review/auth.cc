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
  if (backoff.count() < 1 || max_backoff < backoff) {
    problems.push_back("backoff must be at least 1 s and no longer than max_backoff");
  }
  if (station_max_failures < max_failures) {
    problems.push_back("station_max_failures must be at least max_failures");
  }
  if (failure_window.count() < 1) problems.push_back("failure_window must be at least 1 s");
  if (token_lifetime.count() < 60) problems.push_back("token_lifetime must be at least 60 s");
  if (subject_pin_lifetime.count() < 1) problems.push_back("subject_pin_lifetime must be >= 1 s");
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

std::string Access::IssueSubjectPin(const std::string& session_id, Clock::time_point now) {
  std::lock_guard lock(mu_);
  std::string pin;
  // A subject PIN never equals the technician's or another session's.
  for (int attempt = 0; attempt < 100; ++attempt) {
    pin = RandomPin(options_.pin_digits);
    bool clash = pin == technician_pin_;
    for (const auto& [session, other] : subject_pins_) clash = clash || other.pin == pin;
    if (!clash) break;
  }
  subject_pins_[session_id] = SubjectPin{pin, now + options_.subject_pin_lifetime};
  return pin;
}

void Access::EndSubjectPin(const std::string& session_id) {
  std::lock_guard lock(mu_);
  subject_pins_.erase(session_id);
}

void Access::RevokeSession(const std::string& session_id) {
  std::lock_guard lock(mu_);
  subject_pins_.erase(session_id);
  std::erase_if(tokens_, [&](const auto& entry) {
    return entry.second.principal.role == Role::kSubject &&
           entry.second.principal.session_id == session_id;
  });
}

void Access::PruneLocked(Clock::time_point now) {
  std::erase_if(tokens_, [&](const auto& e) { return e.second.expires <= now; });
  std::erase_if(subject_pins_, [&](const auto& e) { return e.second.expires <= now; });
  std::erase_if(devices_, [&](const auto& e) { return e.second <= now; });
  std::erase_if(failures_, [&](const auto& e) {
    return e.second.blocked_until <= now && now - e.second.last >= options_.failure_memory;
  });
  while (!station_failures_.empty() && now - station_failures_.front() >= options_.failure_window) {
    station_failures_.pop_front();
  }
}

void Access::Prune(Clock::time_point now) {
  std::lock_guard lock(mu_);
  PruneLocked(now);
}

size_t Access::token_count() const {
  std::lock_guard lock(mu_);
  return tokens_.size();
}

namespace {
int SecondsUntil(Access::Clock::time_point then, Access::Clock::time_point now) {
  return static_cast<int>(
      std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(then - now).count()));
}
}  // namespace

LoginOutcome Access::Login(const std::string& pin, const std::string& client,
                           const std::string& device, Clock::time_point now) {
  std::lock_guard lock(mu_);
  PruneLocked(now);
  const bool trusted = !device.empty() && devices_.count(device) != 0;
  const std::string identity = trusted ? "device " + device : "address " + client;
  LoginOutcome outcome;
  if (auto it = failures_.find(identity); it != failures_.end() && it->second.blocked_until > now) {
    outcome.kind = LoginOutcome::Kind::kRateLimited;
    outcome.retry_after_s = SecondsUntil(it->second.blocked_until, now);
    return outcome;
  }
  if (!trusted && static_cast<int>(station_failures_.size()) >= options_.station_max_failures) {
    outcome.kind = LoginOutcome::Kind::kRateLimited;
    outcome.retry_after_s = SecondsUntil(station_failures_.front() + options_.failure_window, now);
    return outcome;
  }
  std::optional<Principal> who;
  // Every PIN is compared (no early exit) so the time taken does not say which one was close.
  if (ConstantTimeEquals(pin, technician_pin_)) who = Principal{Role::kTechnician, ""};
  for (auto& [session, subject] : subject_pins_) {
    if (ConstantTimeEquals(pin, subject.pin)) {
      who = Principal{Role::kSubject, session};
      subject.expires = now + options_.subject_pin_lifetime;  // in use: not "unused" any more
    }
  }
  if (!who) {
    Failures& f = failures_[identity];
    ++f.count;
    f.last = now;
    if (f.count >= options_.max_failures) {
      // 2^n of the base wait, n the failures past the limit; the shift is bounded first.
      const int doublings = std::min(f.count - options_.max_failures, 20);
      const auto wait = std::min<std::chrono::seconds>(options_.max_backoff,
                                                       options_.backoff * (1LL << doublings));
      f.blocked_until = now + wait;
      outcome.retry_after_s = static_cast<int>(wait.count());
    }
    if (!trusted) station_failures_.push_back(now);
    outcome.kind = LoginOutcome::Kind::kWrongPin;
    return outcome;
  }
  failures_.erase(identity);
  outcome.kind = LoginOutcome::Kind::kOk;
  outcome.token = RandomToken();
  outcome.principal = *who;
  outcome.device = trusted ? device : RandomToken();
  devices_[outcome.device] = now + options_.device_lifetime;
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
