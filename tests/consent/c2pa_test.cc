// The C2PA writer: the CBOR encoder against RFC 8949's examples, JUMBF boxes and their APP11
// segments, the studio's ES256 certificates, and an export whose JPEG two independent C2PA
// implementations from npm (c2pa-rs in WebAssembly and c2pa-ts) accept, and reject after one
// changed byte of the image data.
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <turbojpeg.h>

#include <catch2/catch.hpp>
#include <iostream>

#include "consent/c2pa.h"
#include "consent/cbor.h"
#include "consent/jumbf.h"
#include "tests/consent/export_request.h"
#include "util/subprocess.h"

namespace twinrig::consent {
namespace {

std::string Hex(const std::vector<std::uint8_t>& b) { return HexEncode(b); }

// A real baseline JPEG (libturbojpeg) of a colour gradient.
Bytes GradientJpeg(int width, int height) {
  std::vector<unsigned char> rgb(static_cast<std::size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      unsigned char* p = &rgb[(static_cast<std::size_t>(y) * width + x) * 3];
      p[0] = static_cast<unsigned char>(x * 255 / width);
      p[1] = static_cast<unsigned char>(y * 255 / height);
      p[2] = static_cast<unsigned char>((x + y) % 256);
    }
  }
  tjhandle tj = tjInitCompress();
  REQUIRE(tj != nullptr);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  REQUIRE(tjCompress2(tj, rgb.data(), width, 0, height, TJPF_RGB, &out, &size, TJSAMP_420, 90, 0) ==
          0);
  Bytes jpeg(out, out + size);
  tjFree(out);
  tjDestroy(tj);
  return jpeg;
}

std::string CborHex(const std::function<void(CborWriter&)>& write) {
  CborWriter w;
  write(w);
  return Hex(w.bytes());
}

std::uint32_t U32(const Bytes& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
X509Ptr FromDer(const Bytes& der) {
  const unsigned char* p = der.data();
  return {d2i_X509(nullptr, &p, static_cast<long>(der.size())), &X509_free};
}

// A stand-in for a commercial CA: a root, an intermediate, and a leaf issued for the public key
// of the studio's certificate request, as a CA would.
struct TestCa {
  using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
  KeyPtr root_key{EVP_EC_gen("P-256"), &EVP_PKEY_free};
  KeyPtr intermediate_key{EVP_EC_gen("P-256"), &EVP_PKEY_free};
  X509Ptr root = Issue("Test CA root", root_key.get(), nullptr, root_key.get(), true);
  X509Ptr intermediate =
      Issue("Test CA signing", intermediate_key.get(), root.get(), root_key.get(), true);

  static X509Ptr Issue(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                       bool ca) {
    X509Ptr cert(X509_new(), &X509_free);
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ca ? 1 : 2);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * 365);
    X509_set_pubkey(cert.get(), key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509* signer = issuer != nullptr ? issuer : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
    const std::vector<std::pair<int, std::string>> exts =
        ca ? std::vector<std::pair<int, std::string>>{{NID_basic_constraints, "critical,CA:TRUE"},
                                                      {NID_key_usage, "critical,keyCertSign"},
                                                      {NID_subject_key_identifier, "hash"},
                                                      {NID_authority_key_identifier, "keyid"}}
           : std::vector<std::pair<int, std::string>>{{NID_basic_constraints, "critical,CA:FALSE"},
                                                      {NID_key_usage, "critical,digitalSignature"},
                                                      {NID_ext_key_usage, "emailProtection"},
                                                      {NID_subject_key_identifier, "hash"},
                                                      {NID_authority_key_identifier, "keyid"}};
    for (const auto& [nid, value] : exts) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      REQUIRE(ext != nullptr);
      X509_add_ext(cert.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
    REQUIRE(X509_sign(cert.get(), issuer_key, EVP_sha256()) != 0);
    return cert;
  }

  static std::string Pem(X509* cert) {
    std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new(BIO_s_mem()), &BIO_free_all);
    REQUIRE(PEM_write_bio_X509(bio.get(), cert) == 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(n)};
  }

  // The leaf for the request's key, then the intermediate: what the studio installs.
  std::string ChainFor(const std::string& request_pem) {
    std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(
        BIO_new_mem_buf(request_pem.data(), static_cast<int>(request_pem.size())), &BIO_free_all);
    std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(
        PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr), &X509_REQ_free);
    REQUIRE(req);
    EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
    REQUIRE(X509_REQ_verify(req.get(), key) == 1);  // the studio holds the key it asks for
    X509Ptr leaf =
        Issue("Studio Ltd C2PA signing", key, intermediate.get(), intermediate_key.get(), false);
    return Pem(leaf.get()) + Pem(intermediate.get());
  }
};

}  // namespace

TEST_CASE("CBOR encoding matches RFC 8949 Appendix A", "[unit]") {
  CHECK(CborHex([](auto& w) { w.Uint(0); }) == "00");
  CHECK(CborHex([](auto& w) { w.Uint(23); }) == "17");
  CHECK(CborHex([](auto& w) { w.Uint(24); }) == "1818");
  CHECK(CborHex([](auto& w) { w.Uint(100); }) == "1864");
  CHECK(CborHex([](auto& w) { w.Uint(1000); }) == "1903e8");
  CHECK(CborHex([](auto& w) { w.Uint(1000000); }) == "1a000f4240");
  CHECK(CborHex([](auto& w) { w.Uint(1000000000000); }) == "1b000000e8d4a51000");
  CHECK(CborHex([](auto& w) { w.Int(-1); }) == "20");
  CHECK(CborHex([](auto& w) { w.Int(-7); }) == "26");
  CHECK(CborHex([](auto& w) { w.Int(-100); }) == "3863");
  CHECK(CborHex([](auto& w) { w.Int(-1000); }) == "3903e7");
  CHECK(CborHex([](auto& w) { w.Int(INT64_MIN); }) == "3b7fffffffffffffff");
  CHECK(CborHex([](auto& w) { w.Text(""); }) == "60");
  CHECK(CborHex([](auto& w) { w.Text("IETF"); }) == "6449455446");
  CHECK(CborHex([](auto& w) { w.Bytes(Bytes{1, 2, 3, 4}); }) == "4401020304");
  CHECK(CborHex([](auto& w) {
          w.Array(3).Uint(1).Array(2).Uint(2).Uint(3).Array(2).Uint(4).Uint(5);
        }) == "8301820203820405");
  CHECK(CborHex([](auto& w) { w.Map(2).Text("a").Uint(1).Text("b").Array(2).Uint(2).Uint(3); }) ==
        "a26161016162820203");
  CHECK(CborHex([](auto& w) { w.Null().Bool(true).Bool(false); }) == "f6f5f4");
  CHECK(CborHex([](auto& w) { w.Tag(18).Array(0); }) == "d280");
  // A 24-character text takes the one-byte length form.
  CHECK(CborHex([](auto& w) { w.Text(std::string(24, 'a')); }).substr(0, 4) == "7818");
}

TEST_CASE("JUMBF boxes, C2PA type UUIDs and APP11 segments", "[unit]") {
  CHECK(Hex(Bytes(kManifestStoreUuid.begin(), kManifestStoreUuid.end())) ==
        "6332706100110010800000aa00389b71");
  CHECK(Hex(JumbfBox("cbor", Bytes{0xA0})) ==
        "00000009"
        "63626f72"
        "a0");
  const Bytes super = JumbfCborBox(kCborUuid, "c2pa.hash.data", Bytes{0xA0});
  // jumb header, jumd header, UUID, toggles (requestable, labelled), label and its NUL, cbor box.
  const Bytes label = ToBytes("c2pa.hash.data");
  REQUIRE(super.size() == 8 + 8 + 16 + 1 + label.size() + 1 + 9);
  CHECK(U32(super, 0) == super.size());
  CHECK(std::string(super.begin() + 4, super.begin() + 8) == "jumb");
  CHECK(std::string(super.begin() + 12, super.begin() + 16) == "jumd");
  CHECK(super[32] == 0x03);
  CHECK(super[33 + label.size()] == 0);

  SECTION("a small manifest store is one segment") {
    const Bytes seg = JpegApp11Segments(super);
    REQUIRE(seg.size() == 2 + 2 + 2 + 2 + 4 + super.size());
    CHECK(Hex(Bytes(seg.begin(), seg.begin() + 12)).substr(0, 4) == "ffeb");
    CHECK(((seg[2] << 8) | seg[3]) == static_cast<int>(seg.size() - 2));
    CHECK(std::string(seg.begin() + 4, seg.begin() + 6) == "JP");
    CHECK(Hex(Bytes(seg.begin() + 6, seg.begin() + 12)) == "000100000001");
    CHECK(Bytes(seg.begin() + 12, seg.end()) == super);
  }
  SECTION("a large one is split, the superbox header repeated in each segment") {
    const Bytes payload(200000, 0x5A);
    const Bytes big = JumbfBox("jumb", payload);
    const Bytes segs = JpegApp11Segments(big);
    Bytes body;
    std::size_t at = 0;
    std::uint32_t expected_sequence = 1;
    while (at < segs.size()) {
      REQUIRE(segs[at] == 0xFF);
      REQUIRE(segs[at + 1] == 0xEB);
      const std::size_t length = (segs[at + 2] << 8) | segs[at + 3];
      REQUIRE(length <= 0xFFFF);
      CHECK(U32(segs, at + 8) == expected_sequence++);
      const auto segment = std::span(segs).subspan(at, 2 + length);
      CHECK(Bytes(segment.begin() + 12, segment.begin() + 20) ==
            Bytes(big.begin(), big.begin() + 8));
      body.insert(body.end(), segment.begin() + 20, segment.end());
      at += segment.size();
    }
    CHECK(expected_sequence == 5);  // 200 kB in four segments of at most 64 kB
    CHECK(body == payload);
  }
}

TEST_CASE(
    "the studio's C2PA certificates: made once from the studio key, kept, a CA:FALSE "
    "signing certificate issued by the studio's own root",
    "[unit]") {
  testing::Studio s;
  // keys init made them with the studio key.
  REQUIRE(std::filesystem::exists(C2paRootCertificatePath(s.root)));
  REQUIRE(std::filesystem::exists(C2paSigningCertificatePath(s.root)));
  auto first = C2paSigner::LoadOrCreate(s.root, s.studio_key, "Test Studio");
  REQUIRE(first.ok());
  auto again = C2paSigner::LoadOrCreate(s.root, s.studio_key, "Test Studio");
  REQUIRE(again.ok());
  CHECK(again->certificate_der() == first->certificate_der());
  CHECK(again->root_der() == first->root_der());

  auto leaf = FromDer(first->certificate_der());
  auto root = FromDer(first->root_der());
  REQUIRE(leaf);
  REQUIRE(root);
  CHECK(X509_verify(leaf.get(), X509_get0_pubkey(root.get())) == 1);
  CHECK(X509_check_ca(leaf.get()) == 0);
  CHECK(X509_check_ca(root.get()) == 1);
  CHECK((X509_get_key_usage(leaf.get()) & KU_DIGITAL_SIGNATURE) != 0);
  CHECK((X509_get_extended_key_usage(leaf.get()) & XKU_SMIME) != 0);
  CHECK(first->RootFingerprint() == Sha256Hex(first->root_der()));

  SECTION("an ES256 signature is 64 bytes of r and s") {
    auto sig = first->SignEs256(ToBytes("claim"));
    REQUIRE(sig.ok());
    CHECK(sig->size() == 64);
  }
  SECTION("a removed signing certificate is issued again for the same key") {
    std::filesystem::remove(C2paSigningCertificatePath(s.root));
    auto remade = C2paSigner::LoadOrCreate(s.root, s.studio_key, "Test Studio");
    REQUIRE(remade.ok());
    auto cert = FromDer(remade->certificate_der());
    CHECK(EVP_PKEY_eq(X509_get0_pubkey(cert.get()), X509_get0_pubkey(leaf.get())) == 1);
    CHECK(remade->root_der() == first->root_der());
  }
  SECTION("another studio key gets certificates of its own") {
    auto other = C2paSigner::LoadOrCreate(s.root, SecretKey::Generate(), "Test Studio");
    REQUIRE(other.ok());
    CHECK(other->root_der() != first->root_der());
    CHECK(other->certificate_der() != first->certificate_der());
  }
  SECTION("a certificate installed from a CA is used, with its intermediate, never replaced") {
    TestCa ca;
    auto request = C2paCertificateRequest(s.studio_key, "Studio Ltd");
    REQUIRE(request.ok());
    const std::string chain = ca.ChainFor(*request);
    REQUIRE(WriteFileAtomic(C2paInstalledCertificatePath(s.root), chain).ok());
    auto installed = C2paSigner::LoadOrCreate(s.root, s.studio_key, "Test Studio");
    REQUIRE(installed.ok());
    REQUIRE(installed->chain_der().size() == 2);
    auto cert = FromDer(installed->certificate_der());
    CHECK(X509_verify(cert.get(), X509_get0_pubkey(ca.intermediate.get())) == 1);
    CHECK(EVP_PKEY_eq(X509_get0_pubkey(cert.get()), X509_get0_pubkey(leaf.get())) == 1);
    CHECK(ReadFileText(C2paInstalledCertificatePath(s.root)).value() == chain);

    // A certificate for another key is refused, naming the file, not silently replaced.
    auto other = C2paSigner::LoadOrCreate(s.root, SecretKey::Generate(), "Test Studio");
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().where == C2paInstalledCertificatePath(s.root).string());
    CHECK(other.error().what.find("not for the studio's C2PA signing key") != std::string::npos);
    CHECK(ReadFileText(C2paInstalledCertificatePath(s.root)).value() == chain);
  }
  SECTION("a damaged certificate file is replaced") {
    REQUIRE(WriteFileAtomic(C2paSigningCertificatePath(s.root), "not a certificate").ok());
    auto remade = C2paSigner::LoadOrCreate(s.root, s.studio_key, "Test Studio");
    REQUIRE(remade.ok());
  }
}

TEST_CASE(
    "a C2PA manifest goes into APP11 right after SOI and leaves the image bytes as they "
    "were",
    "[unit]") {
  testing::Studio s;
  auto signer = C2paSigner::LoadOrCreate(s.root, s.studio_key, "Test Studio");
  REQUIRE(signer.ok());
  const Bytes jpeg = GradientJpeg(64, 48);
  C2paManifestInput in{"texture.jpg",
                       "http://cv.iptc.org/newscodes/digitalsourcetype/"
                       "trainedAlgorithmicMedia",
                       "AI-generated",
                       "urn:uuid:r",
                       "abc",
                       "g1",
                       "exp-1"};
  auto out = EmbedC2paManifest(jpeg, in, *signer, "texture.jpg");
  REQUIRE(out.ok());
  REQUIRE(out->size() > jpeg.size());
  CHECK((*out)[2] == 0xFF);
  CHECK((*out)[3] == 0xEB);
  // Without its APP11 segments the file is the original, byte for byte.
  std::size_t at = 2;
  while ((*out)[at] == 0xFF && (*out)[at + 1] == 0xEB) {
    at += 2 + (((*out)[at + 2] << 8) | (*out)[at + 3]);
  }
  Bytes rest(out->begin(), out->begin() + 2);
  rest.insert(rest.end(), out->begin() + static_cast<std::ptrdiff_t>(at), out->end());
  CHECK(rest == jpeg);

  auto refused = EmbedC2paManifest(ToBytes("GIF89a...."), in, *signer, "twin/texture.jpg");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().where == "twin/texture.jpg");
  CHECK(refused.error().what.find("not a JPEG") != std::string::npos);
}

#if defined(TWINRIG_NODE) && defined(TWINRIG_SOURCE_DIR)
// What a licensee's tools say: both verifiers run on the exported image, then on a copy with one
// byte of the entropy-coded image data changed. The studio's certificate is its own (issued by
// keys/c2pa-root.pem, in no public trust list), so without --trust c2pa-rs reports it
// "untrusted" (state Valid, signingCredential.untrusted): the signature and hashes are right but
// nobody vouches for the signer. With the studio's root as a trust anchor it is "Trusted".
TEST_CASE(
    "an exported JPEG's C2PA manifest is accepted by c2pa-rs (WebAssembly) and c2pa-ts, "
    "and rejected after a one-byte change",
    "[integration]") {
  testing::Studio s;
  const std::string sess = s.session;
  s.NewConsent(sess, {"subject", "technician", "studio"});
  REQUIRE(SealCapture(s.catalog, sess, "tech1", s.CaptureFiles(sess, 2), s.SessionDir(sess)).ok());
  s.SignAs(sess, "technician");
  s.SignAs(sess, "studio");
  std::filesystem::create_directories(s.SessionDir(sess) / "twin");
  REQUIRE(WriteFileAtomic(s.SessionDir(sess) / "twin" / "twin.glb", testing::TriangleGlb()).ok());
  const Bytes texture = GradientJpeg(256, 192);
  REQUIRE(WriteFileAtomic(s.SessionDir(sess) / "twin" / "texture.jpg", texture).ok());
  REQUIRE(ReviewTwin(s.catalog, sess, true, "that is me").ok());
  s.SignAs(sess, "subject");
  s.SignAs(sess, "studio");
  REQUIRE(
      AddGrants(s.catalog, sess, "grant", Json::array({testing::GrantJson("g1", "brand-a")})).ok());
  s.SignAs(sess, "subject");
  s.SignAs(sess, "studio");
  ExportRequest request = testing::ExportTo(s, "delivery");
  request.generative = true;
  auto exported = Export(s.catalog, request, s.studio_key);
  INFO((exported.ok() ? "" : exported.error().Describe()));
  REQUIRE(exported.ok());
  const auto image = request.out / "texture.jpg";
  const auto root = request.out / "c2pa-root.pem";
  REQUIRE(std::filesystem::exists(root));
  REQUIRE(VerifyProvenance(exported->sidecar, KeyRing::FromCatalog(s.catalog).value()).ok());

  auto verify = [&](const std::filesystem::path& file, const std::filesystem::path& anchor) {
    const bool trusted = !anchor.empty();
    std::vector<std::string> argv = {
        TWINRIG_NODE, std::string(TWINRIG_SOURCE_DIR) + "/tests/consent/c2pa_verify.mjs",
        "--source", TWINRIG_SOURCE_DIR};
    if (trusted) argv.insert(argv.end(), {"--trust", anchor.string()});
    argv.push_back(file.string());
    SubprocessOptions options;
    options.timeout = std::chrono::seconds(120);
    auto run = RunSubprocess(argv, options);
    REQUIRE(run.ok());
    std::cout << "$ node c2pa_verify.mjs"
              << (trusted ? " --trust " + anchor.filename().string() + " " : " ")
              << file.filename().string() << "\n"
              << run->output;  // the verdicts, for the test log
    return *run;
  };
  SECTION("accepted as exported") {
    auto run = verify(image, {});
    CHECK(run.exit_code == 0);
    CHECK(run.output.find("c2pa-wasm accepted Valid") != std::string::npos);
    CHECK(run.output.find("signingCredential.untrusted") != std::string::npos);
    CHECK(run.output.find("c2pa-ts accepted") != std::string::npos);
    // Labelled as AI-generated media for the licensee's tools.
    CHECK(run.output.find("action c2pa.created digitalSourceType http://cv.iptc.org/newscodes/"
                          "digitalsourcetype/trainedAlgorithmicMedia") != std::string::npos);
    auto trusted = verify(image, root);
    CHECK(trusted.exit_code == 0);
    CHECK(trusted.output.find("c2pa-wasm accepted Trusted") != std::string::npos);
  }
  SECTION("signed with a certificate the studio installed from a CA: Trusted under that CA") {
    TestCa ca;
    const std::string chain = ca.ChainFor(C2paCertificateRequest(s.studio_key, "").value());
    REQUIRE(WriteFileAtomic(C2paInstalledCertificatePath(s.root), chain).ok());
    REQUIRE(WriteFileAtomic(s.dir / "ca-root.pem", TestCa::Pem(ca.root.get())).ok());
    ExportRequest again = testing::ExportTo(s, "delivery-ca");
    auto via_ca = Export(s.catalog, again, s.studio_key);
    REQUIRE(via_ca.ok());
    auto run = verify(again.out / "texture.jpg", s.dir / "ca-root.pem");
    CHECK(run.exit_code == 0);
    CHECK(run.output.find("c2pa-wasm accepted Trusted") != std::string::npos);
    CHECK(run.output.find("c2pa-ts accepted") != std::string::npos);
  }
  // The exported image with the byte at `at` flipped, as both verifiers see it: both reject it,
  // and c2pa-rs names `code`.
  auto flip_and_verify = [&](std::size_t at, const std::string& code) {
    auto bytes = ReadFileBytes(image).value();
    bytes[at] ^= 0x01;
    const auto changed = request.out / ("changed-" + std::to_string(at) + ".jpg");
    REQUIRE(WriteFileAtomic(changed, bytes).ok());
    auto run = verify(changed, {});
    CHECK(run.exit_code == 1);
    CHECK(run.output.find("c2pa-wasm rejected") != std::string::npos);
    CHECK(run.output.find("c2pa-ts rejected") != std::string::npos);
    CHECK(run.output.find(code) != std::string::npos);
  };
  SECTION("rejected after one byte of the image data changed") {
    // A byte in the middle of the entropy-coded scan, well after every header.
    flip_and_verify(std::filesystem::file_size(image) - 100, "assertion.dataHash.mismatch");
  }
  SECTION("rejected after one byte of the signed claim changed") {
    const std::string text = ReadFileText(image).value();
    const auto title = text.find("texture.jpg", text.find("dc:title"));
    REQUIRE(title != std::string::npos);
    // "texture.jpg" becomes "uexture.jpg" inside the claim.
    flip_and_verify(title, "claimSignature.mismatch");
  }
}
#endif

}  // namespace twinrig::consent
