// The studio's C2PA signing identity: ES256 (ECDSA P-256, SHA-256) keys with X.509 certificates,
// as C2PA requires (the studio's Ed25519 key signs records, not C2PA manifests).
//  - Both P-256 private keys (a studio C2PA root and a signing key) are derived from the studio
//    key's seed (libsodium KDF, context "twrgc2pa"), so they are exactly as protected as
//    keys/studio.key (sealed under the studio passphrase) and never written to disk.
//  - keys/c2pa-root.pem: the studio's own root certificate (CA, self-signed, 10 years); licensees
//    who want "trusted" rather than "untrusted" add it to their verifier's trust anchors, after
//    checking its fingerprint against the studio-signed provenance.json.
//  - keys/c2pa-signing.pem: the signing certificate the root issues (CA:FALSE, critical
//    keyUsage digitalSignature, extendedKeyUsage emailProtection, 2 years; issued again when it
//    nears its end or belongs to another key). It travels in every manifest's x5chain.
//  - keys/c2pa-ca-signing.pem: a certificate for the same signing key from a CA the licensees
//    trust, followed by the CA's intermediate certificates, when the studio installs one
//    (C2paCertificateRequest makes the request the CA signs). It is then used instead of the
//    studio's own, never replaced, and an expired or mismatching one is an error.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "consent/crypto.h"
#include "store/catalog.h"
#include "util/result.h"

namespace twinrig::consent {

std::filesystem::path C2paRootCertificatePath(const std::filesystem::path& studio);
std::filesystem::path C2paSigningCertificatePath(const std::filesystem::path& studio);
std::filesystem::path C2paInstalledCertificatePath(const std::filesystem::path& studio);

// A PKCS#10 certificate signing request (PEM) for the studio's C2PA signing key, for a CA.
Result<std::string> C2paCertificateRequest(const SecretKey& studio_key,
                                           const std::string& studio_name);

class C2paSigner {
 public:
  // Loads the studio's C2PA certificates, making the root and the signing certificate when they
  // are missing (existing studios get them at their first export), or the signing certificate
  // again when it expires within 30 days or does not match the key. `studio_name` goes into the
  // certificates' subject names (empty: "twinrig studio"). An installed CA certificate is used
  // instead of the studio's own signing certificate when there is one.
  static Result<C2paSigner> LoadOrCreate(const std::filesystem::path& studio,
                                         const SecretKey& studio_key,
                                         const std::string& studio_name);
  // LoadOrCreate for the catalog's studio, under its name.
  static Result<C2paSigner> ForStudio(store::Catalog& catalog, const SecretKey& studio_key);

  // The signing certificate, then the CA's intermediates when it was installed from a CA: the
  // COSE x5chain.
  [[nodiscard]] const std::vector<Bytes>& chain_der() const { return chain_der_; }
  [[nodiscard]] const Bytes& certificate_der() const { return chain_der_.front(); }
  [[nodiscard]] const Bytes& root_der() const { return root_der_; }
  [[nodiscard]] std::string RootPem() const;  // keys/c2pa-root.pem, for licensees
  // SHA-256 of the root certificate's DER, hex: what provenance.json and the key ring publish.
  [[nodiscard]] std::string RootFingerprint() const;
  // An ES256 signature as COSE wants it: r and s, 32 bytes each.
  [[nodiscard]] Result<Bytes> SignEs256(std::span<const std::uint8_t> message) const;

 private:
  std::shared_ptr<void> key_;  // EVP_PKEY of the signing key
  std::vector<Bytes> chain_der_;
  Bytes root_der_;
};

}  // namespace twinrig::consent
