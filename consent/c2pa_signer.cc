#include "consent/c2pa_signer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include <array>
#include <utility>
#include <vector>

#include "util/check.h"
#include "util/files.h"

namespace twinrig::consent {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_clear_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX, BN_CTX_free>>;
using GroupPtr = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP, EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT, EC_POINT_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

constexpr char kKdfContext[] = "twrgc2pa";  // libsodium KDF contexts are 8 characters
constexpr std::uint64_t kRootSubkey = 1;
constexpr std::uint64_t kSigningSubkey = 2;
constexpr long kDay = 24L * 60 * 60;
constexpr long kRootDays = 3650;
constexpr long kSigningDays = 730;
constexpr long kRenewDays = 30;

Error OpenSslError(const std::string& what, const std::filesystem::path& where) {
  return MakeError(what, where.string(), "check the OpenSSL installation (libssl3)");
}

// A P-256 key whose private scalar is derived from the studio key's seed: the same studio key
// always gives the same C2PA keys, and nothing but the sealed studio key needs keeping.
Result<KeyPtr> DeriveP256Key(const SecretKey& studio_key, std::uint64_t subkey,
                             const std::filesystem::path& where) {
  std::array<std::uint8_t, 32> scalar{};
  crypto_kdf_derive_from_key(scalar.data(), scalar.size(), subkey, kKdfContext,
                             studio_key.seed().data());
  GroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  BnCtxPtr ctx(BN_CTX_new());
  BnPtr priv(BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), nullptr));
  sodium_memzero(scalar.data(), scalar.size());
  if (!group || !ctx || !priv) return OpenSslError("cannot derive the C2PA key", where);
  // Reduced modulo the group order (a bias of about 2^-32, irrelevant for a signing key).
  if (BN_nnmod(priv.get(), priv.get(), EC_GROUP_get0_order(group.get()), ctx.get()) != 1 ||
      BN_is_zero(priv.get()) == 1) {
    return OpenSslError("cannot derive the C2PA key", where);
  }
  PointPtr pub(EC_POINT_new(group.get()));
  std::array<unsigned char, 65> pub_bytes{};
  if (!pub || EC_POINT_mul(group.get(), pub.get(), priv.get(), nullptr, nullptr, ctx.get()) != 1 ||
      EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED, pub_bytes.data(),
                         pub_bytes.size(), ctx.get()) != pub_bytes.size()) {
    return OpenSslError("cannot compute the C2PA public key", where);
  }
  ParamBldPtr build(OSSL_PARAM_BLD_new());
  if (!build ||
      OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, pub_bytes.data(),
                                       pub_bytes.size()) != 1) {
    return OpenSslError("cannot build the C2PA key", where);
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(build.get()));
  PkeyCtxPtr pctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !pctx || EVP_PKEY_fromdata_init(pctx.get()) != 1 ||
      EVP_PKEY_fromdata(pctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return OpenSslError("cannot build the C2PA key", where);
  }
  return KeyPtr(raw);
}

// Every certificate in a PEM file, in order (a leaf and its intermediates); at least one.
Result<std::vector<X509Ptr>> ReadCertificates(const std::filesystem::path& path) {
  auto text = ReadFileText(path);
  if (!text.ok()) return text.error();
  std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>> bio(
      BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  std::vector<X509Ptr> chain;
  while (bio && chain.size() < 8) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    chain.push_back(std::move(cert));
  }
  if (chain.empty()) {
    return MakeError("not a PEM certificate", path.string(),
                     "restore it, or remove it: the studio's own is then made from the studio key");
  }
  return chain;
}

Result<Bytes> Der(X509* cert, const std::filesystem::path& where) {
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert, &der);
  if (n <= 0) return OpenSslError("cannot encode the certificate", where);
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

Status WritePemCertificate(X509* cert, const std::filesystem::path& path) {
  std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("cannot encode the certificate", path);
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return WriteFileAtomic(path, std::string_view(data, static_cast<std::size_t>(n)));
}

void SetSubject(X509_NAME* name, const std::string& organisation, const std::string& common_name) {
  for (const auto& [field, value] : {std::pair{"O", organisation}, std::pair{"CN", common_name}}) {
    X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  }
}

std::string Organisation(const std::string& studio_name) {
  return studio_name.empty() ? "twinrig studio" : studio_name;
}

struct CertificateSpec {
  std::string common_name;
  std::string organisation;
  long days = 0;
  std::vector<std::pair<int, std::string>> extensions;
};

// A certificate for `key`, issued (signed) by `issuer_key` under `issuer` (nullptr: self-signed).
Result<X509Ptr> IssueCertificate(const CertificateSpec& spec, EVP_PKEY* key, X509* issuer,
                                 EVP_PKEY* issuer_key, const std::filesystem::path& where) {
  X509Ptr cert(X509_new());
  std::array<unsigned char, 16> serial{};
  if (!cert || RAND_bytes(serial.data(), serial.size()) != 1) {
    return OpenSslError("cannot make a certificate", where);
  }
  serial[0] &= 0x7f;  // a positive serial number
  BnPtr bn(BN_bin2bn(serial.data(), serial.size(), nullptr));
  X509_set_version(cert.get(), 2);
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60L * 60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.days * kDay);
  X509_set_pubkey(cert.get(), key);
  SetSubject(X509_get_subject_name(cert.get()), spec.organisation, spec.common_name);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : spec.extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) return OpenSslError("cannot add " + value + " to a certificate", where);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) {
    return OpenSslError("cannot sign a certificate", where);
  }
  return cert;
}

// The certificate at `path` when it is for `key`, issued by `issuer_key` and valid for more than
// `renew_days`; nullptr when it must be made (again).
X509Ptr UsableCertificate(const std::filesystem::path& path, EVP_PKEY* key, EVP_PKEY* issuer_key,
                          long renew_days) {
  if (!std::filesystem::exists(path)) return nullptr;
  auto chain = ReadCertificates(path);
  if (!chain.ok()) return nullptr;
  X509* c = chain->front().get();
  const bool ours = EVP_PKEY_eq(X509_get0_pubkey(c), key) == 1 && X509_verify(c, issuer_key) == 1;
  const bool lasting =
      X509_cmp_time(X509_get0_notAfter(c), nullptr) > 0 &&
      X509_cmp_timeframe(nullptr, X509_get0_notBefore(c), X509_get0_notAfter(c)) == 0 && [&] {
        int days = 0;
        int seconds = 0;
        return ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(c)) == 1 &&
               days >= renew_days;
      }();
  return ours && lasting ? std::move(chain->front()) : nullptr;
}

// The certificate a CA issued for the signing key, with its intermediates, checked.
Result<std::vector<X509Ptr>> InstalledChain(const std::filesystem::path& path, EVP_PKEY* key) {
  TWINRIG_ASSIGN_OR_RETURN(auto chain, ReadCertificates(path));
  X509* leaf = chain.front().get();
  if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key) != 1) {
    return MakeError("the installed C2PA certificate is not for the studio's C2PA signing key",
                     path.string(),
                     "install the certificate the CA issued for `twinrig keys c2pa-request`, or "
                     "remove the file to sign with the studio's own certificate");
  }
  if (X509_cmp_timeframe(nullptr, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf)) != 0) {
    return MakeError("the installed C2PA certificate is expired or not yet valid", path.string(),
                     "install a current certificate from the CA, or remove the file to sign "
                     "with the studio's own certificate");
  }
  return chain;
}

}  // namespace

std::filesystem::path C2paRootCertificatePath(const std::filesystem::path& studio) {
  return studio / "keys" / "c2pa-root.pem";
}

std::filesystem::path C2paSigningCertificatePath(const std::filesystem::path& studio) {
  return studio / "keys" / "c2pa-signing.pem";
}

std::filesystem::path C2paInstalledCertificatePath(const std::filesystem::path& studio) {
  return studio / "keys" / "c2pa-ca-signing.pem";
}

Result<std::string> C2paCertificateRequest(const SecretKey& studio_key,
                                           const std::string& studio_name) {
  TWINRIG_ASSIGN_OR_RETURN(KeyPtr key, DeriveP256Key(studio_key, kSigningSubkey, ""));
  std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>> req(X509_REQ_new());
  std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>> bio(BIO_new(BIO_s_mem()));
  if (!req || !bio) return OpenSslError("cannot make a certificate request", "");
  const std::string org = Organisation(studio_name);
  X509_REQ_set_version(req.get(), 0);
  SetSubject(X509_REQ_get_subject_name(req.get()), org, org + " C2PA signing");
  X509_REQ_set_pubkey(req.get(), key.get());
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) == 0 ||
      PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) {
    return OpenSslError("cannot sign the certificate request", "");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Result<C2paSigner> C2paSigner::LoadOrCreate(const std::filesystem::path& studio,
                                            const SecretKey& studio_key,
                                            const std::string& studio_name) {
  const auto root_path = C2paRootCertificatePath(studio);
  const auto signing_path = C2paSigningCertificatePath(studio);
  TWINRIG_ASSIGN_OR_RETURN(KeyPtr root_key, DeriveP256Key(studio_key, kRootSubkey, root_path));
  TWINRIG_ASSIGN_OR_RETURN(KeyPtr key, DeriveP256Key(studio_key, kSigningSubkey, signing_path));
  const std::string org = Organisation(studio_name);
  X509Ptr root = UsableCertificate(root_path, root_key.get(), root_key.get(), kRenewDays);
  if (!root) {
    TWINRIG_ASSIGN_OR_RETURN(root,
                             IssueCertificate({org + " C2PA root",
                                               org,
                                               kRootDays,
                                               {{NID_basic_constraints, "critical,CA:TRUE"},
                                                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                                {NID_subject_key_identifier, "hash"}}},
                                              root_key.get(), nullptr, root_key.get(), root_path));
    TWINRIG_RETURN_IF_ERROR(WritePemCertificate(root.get(), root_path));
  }
  C2paSigner signer;
  const auto installed_path = C2paInstalledCertificatePath(studio);
  std::vector<X509Ptr> chain;
  if (std::filesystem::exists(installed_path)) {
    TWINRIG_ASSIGN_OR_RETURN(chain, InstalledChain(installed_path, key.get()));
  } else {
    chain.push_back(UsableCertificate(signing_path, key.get(), root_key.get(), kRenewDays));
  }
  X509Ptr& cert = chain.front();
  if (!cert) {
    TWINRIG_ASSIGN_OR_RETURN(cert,
                             IssueCertificate({org + " C2PA signing",
                                               org,
                                               kSigningDays,
                                               {{NID_basic_constraints, "critical,CA:FALSE"},
                                                {NID_key_usage, "critical,digitalSignature"},
                                                {NID_ext_key_usage, "emailProtection"},
                                                {NID_subject_key_identifier, "hash"},
                                                {NID_authority_key_identifier, "keyid:always"}}},
                                              key.get(), root.get(), root_key.get(), signing_path));
    TWINRIG_RETURN_IF_ERROR(WritePemCertificate(cert.get(), signing_path));
  }
  for (const auto& c : chain) {
    TWINRIG_ASSIGN_OR_RETURN(Bytes der, Der(c.get(), signing_path));
    signer.chain_der_.push_back(std::move(der));
  }
  TWINRIG_ASSIGN_OR_RETURN(signer.root_der_, Der(root.get(), root_path));
  signer.key_ = std::shared_ptr<void>(key.release(),
                                      [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
  return signer;
}

Result<C2paSigner> C2paSigner::ForStudio(store::Catalog& catalog, const SecretKey& studio_key) {
  TWINRIG_ASSIGN_OR_RETURN(const std::string name, catalog.StudioName());
  return LoadOrCreate(catalog.studio(), studio_key, name);
}

std::string C2paSigner::RootFingerprint() const { return Sha256Hex(root_der_); }

std::string C2paSigner::RootPem() const {
  X509Ptr root = [&] {
    const unsigned char* p = root_der_.data();
    return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(root_der_.size())));
  }();
  std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>> bio(BIO_new(BIO_s_mem()));
  TWINRIG_CHECK(root && bio && PEM_write_bio_X509(bio.get(), root.get()) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(n)};
}

Result<Bytes> C2paSigner::SignEs256(std::span<const std::uint8_t> message) const {
  MdCtxPtr md(EVP_MD_CTX_new());
  auto* key = static_cast<EVP_PKEY*>(key_.get());
  std::size_t len = 0;
  if (!md || key == nullptr ||
      EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &len, message.data(), message.size()) != 1) {
    return OpenSslError("cannot sign the C2PA claim", "");
  }
  Bytes der(len);
  if (EVP_DigestSign(md.get(), der.data(), &len, message.data(), message.size()) != 1) {
    return OpenSslError("cannot sign the C2PA claim", "");
  }
  const unsigned char* p = der.data();
  SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  Bytes raw(64);
  if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + 32, 32) != 32) {
    return OpenSslError("cannot encode the C2PA signature", "");
  }
  return raw;
}

}  // namespace twinrig::consent
