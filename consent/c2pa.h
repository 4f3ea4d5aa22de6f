// C2PA manifests (C2PA 2.1) in exported JPEG images, so a licensee's own C2PA tools read the
// image's provenance: one manifest with a v2 claim, three assertions and the studio's ES256
// signature.
//  - c2pa.actions.v2: c2pa.created with the IPTC digital source type (trainedAlgorithmicMedia or
//    compositeWithTrainedAlgorithmicMedia: the image shows a digital replica made by a model of
//    a real person) and the AI label as its description;
//  - org.twinrig.consent: which consent record (id and SHA-256), grant and export allowed it;
//  - c2pa.hash.data: SHA-256 of every byte of the file except the manifest's own APP11
//    segments (the exclusion range), so any changed byte of the image is a hash mismatch;
//  - the claim signed as COSE_Sign1 (ES256, detached payload), the signing certificate in the
//    protected x5chain header (C2paSigner).
// The manifest store goes into APP11 segments right after SOI.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "consent/c2pa_signer.h"
#include "consent/canonical_json.h"
#include "consent/crypto.h"
#include "util/result.h"

namespace twinrig::consent {

struct C2paManifestInput {
  std::string title;                // the file's name
  std::string digital_source_type;  // an IPTC digital source type URI
  std::string description;          // the visible AI label, repeated in the action
  std::string record_id;            // the consent record
  std::string record_sha256;
  std::string grant_id;
  std::string export_id;
};

// The JPEG `jpeg` with a signed C2PA manifest store inserted. `where` names the file in errors;
// a file that does not start with a JPEG SOI marker is refused.
Result<Bytes> EmbedC2paManifest(std::span<const std::uint8_t> jpeg, const C2paManifestInput& input,
                                const C2paSigner& signer, const std::string& where);

// Both provenance stamps of an exported JPEG named `title`: the XMP packet (IPTC digital source
// type, model release, consent reference: glb.h) and the signed C2PA manifest, from the export's
// stamp (what .glb files carry in asset.extras.twinrig: consent_record {record_id, sha256},
// grant_id, digital_source_type, ai_label, export_id).
Result<Bytes> StampJpeg(std::span<const std::uint8_t> jpeg, const std::string& title,
                        const Json& stamp, const C2paSigner& signer, const std::string& where);

}  // namespace twinrig::consent
