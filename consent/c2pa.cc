#include "consent/c2pa.h"

#include <sodium.h>

#include <array>
#include <vector>

#include "consent/cbor.h"
#include "consent/glb.h"
#include "consent/jumbf.h"
#include "util/check.h"

namespace twinrig::consent {
namespace {

constexpr std::string_view kActionsLabel = "c2pa.actions.v2";
constexpr std::string_view kConsentLabel = "org.twinrig.consent";
constexpr std::string_view kDataHashLabel = "c2pa.hash.data";
constexpr std::int64_t kCoseEs256 = -7;          // COSE algorithm ES256 (RFC 9053)
constexpr std::int64_t kCoseAlgHeader = 1;       // COSE header "alg"
constexpr std::int64_t kCoseX5ChainHeader = 33;  // COSE header "x5chain" (RFC 9360)
constexpr std::uint64_t kCoseSign1Tag = 18;
constexpr std::size_t kManifestOffset = 2;  // the APP11 segments go right after SOI

using Digest = std::array<std::uint8_t, crypto_hash_sha256_BYTES>;

Digest Sha256(std::span<const std::uint8_t> bytes) {
  Digest d{};
  crypto_hash_sha256(d.data(), bytes.data(), bytes.size());
  return d;
}

Bytes ActionsAssertion(const C2paManifestInput& in) {
  CborWriter w;
  w.Map(1).Text("actions").Array(1).Map(4);
  w.Text("action").Text("c2pa.created");
  w.Text("digitalSourceType").Text(in.digital_source_type);
  w.Text("softwareAgent").Map(1).Text("name").Text("twinrig");
  w.Text("description").Text(in.description);
  return w.Take();
}

Bytes ConsentAssertion(const C2paManifestInput& in) {
  CborWriter w;
  w.Map(4);
  w.Text("record_id").Text(in.record_id);
  w.Text("record_sha256").Text(in.record_sha256);
  w.Text("grant_id").Text(in.grant_id);
  w.Text("export_id").Text(in.export_id);
  return w.Take();
}

Bytes DataHashAssertion(std::uint64_t excluded_length, const Digest& hash) {
  CborWriter w;
  w.Map(5);
  w.Text("exclusions").Array(1).Map(2);
  w.Text("start").Uint(kManifestOffset);
  w.Text("length").Uint(excluded_length);
  w.Text("name").Text("jumbf manifest");
  w.Text("alg").Text("sha256");
  w.Text("hash").Bytes(hash);
  w.Text("pad").Bytes({});
  return w.Take();
}

struct Assertion {
  std::string_view label;
  Bytes box;  // the assertion's JUMBF superbox
};

// The claim (v2): what the manifest asserts, each assertion by URI and hash. C2PA hashes an
// assertion's superbox without its 8-byte box header.
Bytes Claim(const std::string& manifest_label, const std::string& title,
            const std::vector<Assertion>& assertions) {
  CborWriter w;
  w.Map(6);
  w.Text("instanceID").Text("xmp:iid:" + RandomUuid());
  w.Text("claim_generator_info").Map(1).Text("name").Text("twinrig");
  w.Text("signature").Text("self#jumbf=/c2pa/" + manifest_label + "/c2pa.signature");
  w.Text("created_assertions").Array(assertions.size());
  for (const auto& a : assertions) {
    const Digest hash = Sha256(std::span(a.box).subspan(8));
    w.Map(2);
    w.Text("url").Text("self#jumbf=c2pa.assertions/" + std::string(a.label));
    w.Text("hash").Bytes(hash);
  }
  w.Text("dc:title").Text(title);
  w.Text("alg").Text("sha256");
  return w.Take();
}

Bytes ProtectedHeader(const C2paSigner& signer) {
  CborWriter w;
  w.Map(2).Int(kCoseAlgHeader).Int(kCoseEs256);
  w.Int(kCoseX5ChainHeader);
  const auto& chain = signer.chain_der();
  if (chain.size() == 1) {
    w.Bytes(chain.front());  // one certificate is a bstr (RFC 9360), more an array of them
  } else {
    w.Array(chain.size());
    for (const auto& der : chain) w.Bytes(der);
  }
  return w.Take();
}

// COSE_Sign1 over the claim with a detached payload; `signature` is r || s.
Bytes CoseSign1(const Bytes& protected_header, std::span<const std::uint8_t> signature) {
  CborWriter w;
  w.Tag(kCoseSign1Tag).Array(4);
  w.Bytes(protected_header);
  w.Map(0);
  w.Null();
  w.Bytes(signature);
  return w.Take();
}

Bytes SigStructure(const Bytes& protected_header, const Bytes& claim) {
  CborWriter w;
  w.Array(4).Text("Signature1").Bytes(protected_header).Bytes({}).Bytes(claim);
  return w.Take();
}

// The manifest store with the given data hash, signed, or with a signature of zeros of the same
// size while sizes are measured.
Result<Bytes> ManifestStore(const std::string& label, const C2paManifestInput& in,
                            std::uint64_t excluded_length, const Digest& hash,
                            const C2paSigner& signer, bool sign) {
  std::vector<Assertion> assertions;
  assertions.push_back(
      {kActionsLabel, JumbfCborBox(kCborUuid, kActionsLabel, ActionsAssertion(in))});
  assertions.push_back(
      {kConsentLabel, JumbfCborBox(kCborUuid, kConsentLabel, ConsentAssertion(in))});
  assertions.push_back({kDataHashLabel, JumbfCborBox(kCborUuid, kDataHashLabel,
                                                     DataHashAssertion(excluded_length, hash))});
  const Bytes claim = Claim(label, in.title, assertions);
  const Bytes protected_header = ProtectedHeader(signer);
  Bytes sig(64, 0);
  if (sign) {
    TWINRIG_ASSIGN_OR_RETURN(sig, signer.SignEs256(SigStructure(protected_header, claim)));
  }
  std::vector<Bytes> boxes;
  boxes.reserve(assertions.size());
  for (const auto& a : assertions) boxes.push_back(a.box);
  const std::vector<Bytes> manifest = {
      JumbfSuperbox(kAssertionStoreUuid, "c2pa.assertions", boxes),
      JumbfCborBox(kClaimUuid, "c2pa.claim.v2", claim),
      JumbfCborBox(kSignatureUuid, "c2pa.signature", CoseSign1(protected_header, sig))};
  const std::vector<Bytes> store = {JumbfSuperbox(kManifestUuid, label, manifest)};
  return JumbfSuperbox(kManifestStoreUuid, "c2pa", store);
}

}  // namespace

Result<Bytes> EmbedC2paManifest(std::span<const std::uint8_t> jpeg, const C2paManifestInput& input,
                                const C2paSigner& signer, const std::string& where) {
  if (jpeg.size() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) {
    return MakeError("not a JPEG file (no SOI marker)", where, "re-render the image");
  }
  const std::string label = "urn:c2pa:" + RandomUuid();
  // The manifest's length is part of what it hashes (the exclusion range), and the length's
  // CBOR encoding can grow with it: measure until it stands still. ES256 signatures are always
  // 64 bytes, so signing later changes no size.
  std::uint64_t length = 0;
  for (int round = 0; round < 4; ++round) {
    TWINRIG_ASSIGN_OR_RETURN(const Bytes store,
                             ManifestStore(label, input, length, Digest{}, signer, false));
    const std::uint64_t measured = JpegApp11Segments(store).size();
    if (measured == length) break;
    length = measured;
  }
  // Every byte but the manifest's: exactly the bytes of the image before insertion.
  auto store = ManifestStore(label, input, length, Sha256(jpeg), signer, true);
  if (!store.ok()) return MakeError(store.error().what, where, store.error().todo);
  const Bytes segments = JpegApp11Segments(*store);
  TWINRIG_CHECK_EQ(segments.size(), length);
  Bytes out(jpeg.begin(), jpeg.begin() + kManifestOffset);
  out.insert(out.end(), segments.begin(), segments.end());
  out.insert(out.end(), jpeg.begin() + kManifestOffset, jpeg.end());
  return out;
}

Result<Bytes> StampJpeg(std::span<const std::uint8_t> jpeg, const std::string& title,
                        const Json& stamp, const C2paSigner& signer, const std::string& where) {
  const auto text = [&](const Json& object, const char* key) -> std::string {
    return object.is_object() && object.contains(key) && object[key].is_string()
               ? object[key].get<std::string>()
               : "";
  };
  const C2paManifestInput input{title,
                                text(stamp, "digital_source_type"),
                                text(stamp, "ai_label"),
                                text(stamp.value("consent_record", Json()), "record_id"),
                                text(stamp.value("consent_record", Json()), "sha256"),
                                text(stamp, "grant_id"),
                                text(stamp, "export_id")};
  TWINRIG_ASSIGN_OR_RETURN(
      const Bytes tagged,
      InsertJpegXmp(jpeg,
                    ProvenanceXmp(input.digital_source_type, input.record_id, input.record_sha256,
                                  input.grant_id, input.description),
                    where));
  return EmbedC2paManifest(tagged, input, signer, where);
}

}  // namespace twinrig::consent
