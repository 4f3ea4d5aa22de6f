#include "host/review/tls.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/asio/ip/address.hpp>
#include <cstdio>
#include <functional>

namespace twinrig::review {
namespace fs = std::filesystem;

namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

std::string HexColons(const unsigned char* bytes, unsigned n) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    if (i > 0) out += ':';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

Result<TlsIdentity> Describe(X509* cert, const fs::path& cert_file, const fs::path& key_file) {
  TlsIdentity id{cert_file, key_file, {}, {}};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &n) != 1) {
    return MakeError("cannot take the certificate's fingerprint", cert_file.string(),
                     "check that it is a PEM X.509 certificate");
  }
  id.fingerprint = HexColons(digest, n);
  unsigned char* spki = nullptr;
  const int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
  if (spki_len <= 0) {
    return MakeError("cannot read the certificate's public key", cert_file.string(),
                     "check that it is a PEM X.509 certificate");
  }
  unsigned char spki_hash[32];
  EVP_Digest(spki, static_cast<size_t>(spki_len), spki_hash, &n, EVP_sha256(), nullptr);
  OPENSSL_free(spki);
  unsigned char b64[64];
  const int len = EVP_EncodeBlock(b64, spki_hash, 32);
  id.public_key_pin.assign(reinterpret_cast<char*>(b64), static_cast<size_t>(len));
  return id;
}

Status WritePem(const fs::path& file, mode_t mode, const std::function<bool(FILE*)>& write) {
  const fs::path partial = file.string() + ".partial";
  const mode_t old = umask(0077);
  FilePtr f(std::fopen(partial.c_str(), "w"));
  umask(old);
  if (!f)
    return MakeError("cannot write " + partial.string(), file.parent_path().string(),
                     "check that the studio folder is writable");
  const bool ok = write(f.get()) && std::fflush(f.get()) == 0;
  f.reset();
  ::chmod(partial.c_str(), mode);
  std::error_code ec;
  if (ok) fs::rename(partial, file, ec);
  if (!ok || ec) {
    fs::remove(partial, ec);
    return MakeError("cannot write " + file.string(), file.parent_path().string(),
                     "check the disk and the folder's permissions");
  }
  return {};
}

}  // namespace

Result<TlsIdentity> LoadTlsIdentity(const fs::path& cert_file, const fs::path& key_file) {
  FilePtr cf(std::fopen(cert_file.c_str(), "r"));
  if (!cf) {
    return MakeError("cannot open the TLS certificate", cert_file.string(),
                     "give a readable PEM file with --tls-cert");
  }
  X509Ptr cert(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return MakeError("the TLS certificate is not a PEM X.509 certificate", cert_file.string(),
                     "give the certificate (-----BEGIN CERTIFICATE-----) with --tls-cert");
  }
  FilePtr kf(std::fopen(key_file.c_str(), "r"));
  if (!kf) {
    return MakeError("cannot open the TLS key", key_file.string(),
                     "give a readable PEM key with --tls-key");
  }
  KeyPtr key(PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return MakeError("the TLS key is not an unencrypted PEM private key", key_file.string(),
                     "give the key (-----BEGIN PRIVATE KEY-----) with --tls-key");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return MakeError("the TLS key does not belong to the certificate", key_file.string(),
                     "give the key the certificate was made for");
  }
  return Describe(cert.get(), cert_file, key_file);
}

Result<TlsIdentity> EnsureSelfSigned(const fs::path& folder,
                                     const std::vector<std::string>& names) {
  const fs::path cert_file = folder / "cert.pem";
  const fs::path key_file = folder / "key.pem";
  if (fs::exists(cert_file) && fs::exists(key_file)) return LoadTlsIdentity(cert_file, key_file);
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) {
    return MakeError("cannot create " + folder.string(), folder.string(),
                     "check that the studio folder is writable");
  }
  KeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) return MakeError("cannot make a key pair", folder.string(), "check OpenSSL");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) {
    return MakeError("no randomness for the certificate", folder.string(), "check OpenSSL");
  }
  serial[0] &= 0x7f;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60L * 60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 2L * 365 * 24 * 60 * 60);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("twinrig"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("twinrig review station"), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  for (const auto& n : names) {
    boost::system::error_code bad;
    boost::asio::ip::make_address(n, bad);
    if (n.empty() || n == "0.0.0.0" || n == "::" || n.find(',') != std::string::npos) continue;
    san += (bad ? ",DNS:" : ",IP:") + n;
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] :
       std::vector<std::pair<int, std::string>>{{NID_subject_alt_name, san},
                                                {NID_basic_constraints, "critical,CA:FALSE"},
                                                {NID_key_usage, "critical,digitalSignature"},
                                                {NID_ext_key_usage, "serverAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) {
      return MakeError("cannot name " + value + " in the certificate", folder.string(),
                       "give host names of letters, digits, '-' and '.'");
    }
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return MakeError("cannot sign the certificate", folder.string(), "check OpenSSL");
  }
  // The key first: a certificate without its key would be reused and fail at every start.
  if (auto s = WritePem(key_file, 0600,
                        [&](FILE* f) {
                          return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr,
                                                      nullptr) == 1;
                        });
      !s.ok()) {
    return s.error();
  }
  if (auto s =
          WritePem(cert_file, 0644, [&](FILE* f) { return PEM_write_X509(f, cert.get()) == 1; });
      !s.ok()) {
    return s.error();
  }
  return Describe(cert.get(), cert_file, key_file);
}

Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(const TlsIdentity& identity) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  if (!ec) ctx->use_certificate_chain_file(identity.cert.string(), ec);
  if (ec) {
    return MakeError("the TLS certificate cannot be used", identity.cert.string(),
                     "give a PEM certificate (and its chain) with --tls-cert");
  }
  ctx->use_private_key_file(identity.key.string(), ssl::context::pem, ec);
  if (ec) {
    return MakeError("the TLS key cannot be used", identity.key.string(),
                     "give the certificate's unencrypted PEM key with --tls-key");
  }
  return ctx;
}

}  // namespace twinrig::review
