#include "consent/glb.h"

#include <cstring>

#include "util/markup.h"

namespace twinrig::consent {
namespace {

constexpr std::uint32_t kMagic = 0x46546C67;      // "glTF"
constexpr std::uint32_t kJsonChunk = 0x4E4F534A;  // "JSON"
constexpr std::uint32_t kBinChunk = 0x004E4942;   // "BIN\0"

std::uint32_t ReadU32(std::span<const std::uint8_t> b, size_t at) {
  return static_cast<std::uint32_t>(b[at]) | (static_cast<std::uint32_t>(b[at + 1]) << 8) |
         (static_cast<std::uint32_t>(b[at + 2]) << 16) |
         (static_cast<std::uint32_t>(b[at + 3]) << 24);
}

void PutU32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

}  // namespace

Result<Glb> ParseGlb(std::span<const std::uint8_t> bytes, const std::string& where) {
  const auto bad = [&](const std::string& what) {
    return MakeError("not a valid .glb: " + what, where, "re-export the twin");
  };
  if (bytes.size() < 20) return bad("too short");
  if (ReadU32(bytes, 0) != kMagic) return bad("no glTF magic");
  if (ReadU32(bytes, 4) != 2) return bad("glTF version is not 2");
  if (ReadU32(bytes, 8) != bytes.size()) return bad("declared length differs from file size");
  Glb glb;
  size_t at = 12;
  bool has_json = false;
  while (at < bytes.size()) {
    if (bytes.size() - at < 8) return bad("truncated chunk header");
    const std::uint32_t length = ReadU32(bytes, at);
    const std::uint32_t type = ReadU32(bytes, at + 4);
    at += 8;
    if (length > bytes.size() - at || length % 4 != 0) return bad("bad chunk length");
    const auto data = bytes.subspan(at, length);
    if (!has_json) {
      if (type != kJsonChunk) return bad("the first chunk is not JSON");
      try {
        glb.json = Json::parse(data.begin(), data.end());
      } catch (const Json::exception& e) {
        return bad(std::string("JSON chunk: ") + e.what());
      }
      if (!glb.json.is_object() || !glb.json.contains("asset")) return bad("no asset object");
      has_json = true;
    } else if (type == kBinChunk && !glb.has_bin) {
      glb.bin.assign(data.begin(), data.end());
      glb.has_bin = true;
    }  // other chunk types are ignored, as the specification says
    at += length;
  }
  if (!has_json) return bad("no JSON chunk");
  return glb;
}

std::vector<std::uint8_t> WriteGlb(const Glb& glb) {
  std::string json = glb.json.dump();
  while (json.size() % 4 != 0) json += ' ';  // JSON chunk padding is spaces
  std::vector<std::uint8_t> bin = glb.bin;
  while (bin.size() % 4 != 0) bin.push_back(0);  // BIN chunk padding is zeros
  const size_t total = 12 + 8 + json.size() + (glb.has_bin ? 8 + bin.size() : 0);
  std::vector<std::uint8_t> out;
  out.reserve(total);
  PutU32(out, kMagic);
  PutU32(out, 2);
  PutU32(out, static_cast<std::uint32_t>(total));
  PutU32(out, static_cast<std::uint32_t>(json.size()));
  PutU32(out, kJsonChunk);
  out.insert(out.end(), json.begin(), json.end());
  if (glb.has_bin) {
    PutU32(out, static_cast<std::uint32_t>(bin.size()));
    PutU32(out, kBinChunk);
    out.insert(out.end(), bin.begin(), bin.end());
  }
  return out;
}

std::string ProvenanceXmp(const std::string& digital_source_type, const std::string& record_id,
                          const std::string& record_sha256, const std::string& grant_id,
                          const std::string& label) {
  return "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
         "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
         " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
         "  <rdf:Description rdf:about=\"\"\n"
         "    xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n"
         "    xmlns:plus=\"http://ns.useplus.org/ldf/xmp/1.0/\"\n"
         "    xmlns:twinrig=\"https://twinrig.org/ns/consent/1.0/\"\n"
         "    Iptc4xmpExt:DigitalSourceType=\"" +
         EscapeMarkup(digital_source_type) +
         "\"\n"
         "    plus:ModelReleaseStatus=\"http://ns.useplus.org/ldf/vocab/MR-LMR\"\n"
         "    twinrig:ConsentRecordId=\"" +
         EscapeMarkup(record_id) + "\"\n    twinrig:ConsentRecordSha256=\"" +
         EscapeMarkup(record_sha256) + "\"\n    twinrig:GrantId=\"" + EscapeMarkup(grant_id) +
         "\"\n    twinrig:AiLabel=\"" + EscapeMarkup(label) +
         "\">\n"
         "   <plus:ModelReleaseID><rdf:Seq><rdf:li>" +
         EscapeMarkup(record_id) +
         "</rdf:li></rdf:Seq></plus:ModelReleaseID>\n"
         "  </rdf:Description>\n"
         " </rdf:RDF>\n"
         "</x:xmpmeta>\n"
         "<?xpacket end=\"r\"?>";
}

Result<std::vector<std::uint8_t>> InsertJpegXmp(std::span<const std::uint8_t> jpeg,
                                                const std::string& xmp, const std::string& where) {
  if (jpeg.size() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) {
    return MakeError("not a JPEG file (no SOI marker)", where, "re-render the image");
  }
  static constexpr char kNs[] = "http://ns.adobe.com/xap/1.0/";
  const size_t payload = sizeof(kNs) + xmp.size();  // the namespace ends with its NUL
  if (payload + 2 > 0xFFFF) return MakeError("the XMP packet is too large", where);
  std::vector<std::uint8_t> out(jpeg.begin(), jpeg.begin() + 2);
  out.push_back(0xFF);
  out.push_back(0xE1);
  out.push_back(static_cast<std::uint8_t>((payload + 2) >> 8));
  out.push_back(static_cast<std::uint8_t>((payload + 2) & 0xFF));
  out.insert(out.end(), kNs, kNs + sizeof(kNs));
  out.insert(out.end(), xmp.begin(), xmp.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

}  // namespace twinrig::consent
