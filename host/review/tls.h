// The station's TLS: a server context from a PEM certificate and key, a self-signed certificate
// the station makes once when the studio has none, and the fingerprints a tablet pins.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "util/result.h"

namespace twinrig::review {

struct TlsIdentity {
  std::filesystem::path cert;
  std::filesystem::path key;
  std::string fingerprint;     // SHA-256 of the certificate (DER), AB:CD:… upper-case hex
  std::string public_key_pin;  // base64 SHA-256 of the SubjectPublicKeyInfo (DER)
};

// The certificate in `folder` (cert.pem, key.pem), made there first if missing: an ECDSA P-256
// key (mode 0600) and a certificate valid for 2 years naming localhost, 127.0.0.1, ::1 and
// `names` (IP addresses or DNS names).
Result<TlsIdentity> EnsureSelfSigned(const std::filesystem::path& folder,
                                     const std::vector<std::string>& names);

// Reads a PEM certificate and key, checks that they belong together, and says what to pin.
Result<TlsIdentity> LoadTlsIdentity(const std::filesystem::path& cert,
                                    const std::filesystem::path& key);

// A TLS 1.2+ server context with that certificate and key.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(const TlsIdentity& identity);

}  // namespace twinrig::review
