#include "consent/audit.h"

#include <sodium.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <sstream>

#include "util/files.h"

namespace twinrig::consent {
namespace {

using Hash = std::array<std::uint8_t, 32>;

void PutU64(Bytes& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

Hash EntryHash(const Hash& prev, std::string_view payload) {
  Bytes input = ToBytes("audit-v1");
  input.insert(input.end(), prev.begin(), prev.end());
  PutU64(input, payload.size());
  input.insert(input.end(), payload.begin(), payload.end());
  Hash out{};
  crypto_hash_sha256(out.data(), input.data(), input.size());
  return out;
}

Bytes CheckpointInput(std::int64_t count, const std::string& head_hex) {
  Bytes input = ToBytes("twinrig/audit-checkpoint/v1");
  input.push_back(0);
  PutU64(input, static_cast<std::uint64_t>(count));
  input.insert(input.end(), head_hex.begin(), head_hex.end());
  return input;
}

struct Head {
  std::int64_t count = 0;
  Hash hash{};
};

Result<Head> StoredHead(store::Catalog& catalog) {
  TWINRIG_ASSIGN_OR_RETURN(const auto tail, catalog.AuditTail());
  Head head;
  if (!tail) return head;
  head.count = tail->seq;
  auto bytes = HexDecode(tail->hash);
  if (!bytes.ok() || bytes->size() != 32) {
    return MakeError("the audit log's last entry is damaged", catalog.path().string(),
                     "run `twinrig audit verify`");
  }
  std::copy(bytes->begin(), bytes->end(), head.hash.begin());
  return head;
}

// One line per checkpoint: {"at","count","head","kid","sig"}.
Status AppendAnchorLine(const std::filesystem::path& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError(std::string("cannot open the audit anchor: ") + std::strerror(errno),
                     path.string(), "check the studio folder's permissions");
  }
  const std::string text = line + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!written) {
    return MakeError(std::string("cannot write the audit anchor: ") + std::strerror(error),
                     path.string(), "free disk space, then run `twinrig audit checkpoint`");
  }
  return OkStatus();
}

Status CheckSignedHead(const KeyRing& keys, const std::string& kid, const std::string& sig_hex,
                       std::int64_t count, const std::string& head,
                       const std::vector<std::string>& chain, const std::string& what,
                       const std::string& where) {
  const KeyInfo* key = keys.Find(kid);
  if (key == nullptr || key->role != kRoleStudio) {
    return MakeError(what + " is signed by an unknown key", where,
                     "only the studio key signs checkpoints; the log was tampered with");
  }
  auto sig_bytes = HexDecode(sig_hex);
  Signature sig{};
  if (!sig_bytes.ok() || sig_bytes->size() != sig.size()) {
    return MakeError(what + " has a malformed signature", where);
  }
  std::copy(sig_bytes->begin(), sig_bytes->end(), sig.begin());
  if (!VerifySignature(key->public_key, CheckpointInput(count, head), sig)) {
    return MakeError(what + " has a bad signature", where,
                     "the checkpoint was altered; restore studio.db from a backup");
  }
  const auto entries = static_cast<std::int64_t>(chain.size());
  if (count > entries) {
    return MakeError("the audit log was truncated: " + what + " covers " + std::to_string(count) +
                         " entries but only " + std::to_string(entries) + " remain",
                     where, "restore studio.db from a backup");
  }
  if (count > 0 && chain[static_cast<size_t>(count) - 1] != head) {
    return MakeError("the audit log was rewritten: entry " + std::to_string(count) +
                         " differs from the one signed in " + what,
                     where, "restore studio.db from a backup");
  }
  return OkStatus();
}

}  // namespace

std::filesystem::path AuditAnchorPath(store::Catalog& catalog) {
  return catalog.path().parent_path() / "audit.anchor";
}

Result<std::string> AuditReceipt(store::Catalog& catalog) {
  auto head = StoredHead(catalog);
  if (!head.ok()) return head.error();
  return std::to_string(head->count) + ":" + HexEncode(head->hash);
}

std::optional<std::int64_t> UtcSeconds(const std::string& at) {
  std::tm tm{};
  if (strptime(at.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string HoursAfter(const std::string& at, int hours) {
  const auto start = UtcSeconds(at);
  if (!start) return "";
  const auto t = static_cast<std::time_t>(*start + std::int64_t{hours} * 3600);
  std::tm out{};
  gmtime_r(&t, &out);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &out);
  return buf;
}

std::string NowUtc() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

Result<std::int64_t> AuditAppend(store::Catalog& catalog, const std::string& event,
                                 const Json& details) {
  Json entry = details.is_object() ? details : Json{{"details", details}};
  entry["at"] = NowUtc();
  entry["event"] = event;
  auto payload = Canonical(entry);
  if (!payload.ok()) return payload.error();
  std::int64_t seq = 0;
  Status status = catalog.Transaction([&]() -> Status {
    TWINRIG_ASSIGN_OR_RETURN(const Head head, StoredHead(catalog));
    seq = head.count + 1;
    return catalog.AppendAuditEntry({seq, *payload, HexEncode(EntryHash(head.hash, *payload))});
  });
  if (!status.ok()) return status.error();
  return seq;
}

Status CheckAuditReceipt(const AuditReport& report, const std::string& receipt) {
  const auto colon = receipt.find(':');
  std::int64_t count = 0;
  try {
    count = colon == std::string::npos ? 0 : std::stoll(receipt.substr(0, colon));
  } catch (const std::exception&) {
    count = 0;
  }
  if (count <= 0) {
    return MakeError("the receipt \"" + receipt + "\" is not COUNT:HEAD", "",
                     "give the receipt as printed when the record was signed");
  }
  const std::string head = receipt.substr(colon + 1);
  if (count > static_cast<std::int64_t>(report.chain.size())) {
    return MakeError("the audit log was truncated: the receipt counts " + std::to_string(count) +
                         " entries but only " + std::to_string(report.chain.size()) + " remain",
                     "receipt " + receipt, "restore studio.db from a backup");
  }
  if (report.chain[static_cast<size_t>(count) - 1] != head) {
    return MakeError("the audit log was rewritten: entry " + std::to_string(count) +
                         " is not the one the receipt names",
                     "receipt " + receipt, "restore studio.db from a backup");
  }
  return OkStatus();
}

Status AuditCheckpoint(store::Catalog& catalog, const SecretKey& studio_key) {
  auto head = StoredHead(catalog);
  if (!head.ok()) return head.error();
  const std::string head_hex = HexEncode(head->hash);
  const Signature sig = studio_key.Sign(CheckpointInput(head->count, head_hex));
  TWINRIG_RETURN_IF_ERROR(catalog.InsertAuditCheckpoint(
      {0, head->count, head_hex, NowUtc(), KeyId(studio_key.public_key()), HexEncode(sig)}));
  // The same checkpoint outside studio.db: whoever edits the catalog still meets this file.
  const Json line = {{"at", NowUtc()},
                     {"count", head->count},
                     {"head", head_hex},
                     {"kid", KeyId(studio_key.public_key())},
                     {"sig", HexEncode(sig)}};
  return AppendAnchorLine(AuditAnchorPath(catalog), line.dump());
}

Result<AuditReport> AuditVerify(store::Catalog& catalog, const KeyRing& keys) {
  const std::string where = catalog.path().string() + " (audit_log)";
  TWINRIG_ASSIGN_OR_RETURN(const auto entries, catalog.AuditEntries());
  std::vector<std::string> chain;  // recomputed hash of entry i+1
  Hash prev{};
  for (const auto& entry : entries) {
    const std::int64_t seq = entry.seq;
    if (seq != static_cast<std::int64_t>(chain.size()) + 1) {
      return MakeError("audit entry " + std::to_string(chain.size() + 1) + " is missing (next is " +
                           std::to_string(seq) + ")",
                       where, "the log was edited; restore studio.db from a backup");
    }
    prev = EntryHash(prev, entry.payload);
    const std::string recomputed = HexEncode(prev);
    if (recomputed != entry.hash) {
      return MakeError("audit entry " + std::to_string(seq) +
                           " does not match its hash: it was edited after it was written",
                       where, "the log was tampered with; restore studio.db from a backup");
    }
    chain.push_back(recomputed);
  }
  AuditReport report;
  report.entries = static_cast<std::int64_t>(chain.size());
  report.head = chain.empty() ? "" : chain.back();

  TWINRIG_ASSIGN_OR_RETURN(const auto checkpoints, catalog.AuditCheckpoints());
  for (const auto& cp : checkpoints) {
    const std::int64_t count = cp.count;
    TWINRIG_RETURN_IF_ERROR(CheckSignedHead(keys, cp.kid, cp.signature, count, cp.head, chain,
                                            "audit checkpoint " + std::to_string(cp.id), where));
    report.checkpoints++;
    report.covered = std::max(report.covered, count);
  }
  // The anchor file beside studio.db: cutting the log together with its checkpoints in the
  // catalog leaves lines here that count more entries than remain.
  const auto anchor = AuditAnchorPath(catalog);
  std::error_code ec;
  if (!std::filesystem::exists(anchor, ec)) {
    if (report.checkpoints > 0) {
      return MakeError("the audit anchor is missing, though studio.db holds " +
                           std::to_string(report.checkpoints) + " checkpoints",
                       anchor.string(),
                       "restore it from a backup; a studio that predates anchors starts one with "
                       "`twinrig audit checkpoint`");
    }
  } else {
    auto text = ReadFileText(anchor);
    if (!text.ok()) return text.error();
    std::istringstream lines(*text);
    std::string line;
    int number = 0;
    while (std::getline(lines, line)) {
      ++number;
      const std::string what = "line " + std::to_string(number) + " of the audit anchor";
      auto json = ParseStrict(line, anchor.string());
      if (!json.ok() || !json->is_object() || !(*json)["count"].is_number_integer() ||
          !(*json)["head"].is_string() || !(*json)["kid"].is_string() ||
          !(*json)["sig"].is_string()) {
        return MakeError(what + " is malformed", anchor.string(), "restore it from a backup");
      }
      const std::int64_t count = (*json)["count"].get<std::int64_t>();
      TWINRIG_RETURN_IF_ERROR(CheckSignedHead(
          keys, (*json)["kid"].get<std::string>(), (*json)["sig"].get<std::string>(), count,
          (*json)["head"].get<std::string>(), chain, what, anchor.string()));
      report.anchored = std::max(report.anchored, count);
    }
  }
  report.chain = std::move(chain);
  return report;
}

}  // namespace twinrig::consent
