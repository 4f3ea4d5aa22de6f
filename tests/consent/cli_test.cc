// The consent commands driven as a studio's script would: passphrases and texts from files,
// results read from stdout, exit codes checked.
#include <catch2/catch.hpp>

#include <utility>

#include "consent/canonical_json.h"
#include "tests/consent/consent_fixture.h"
#include "util/subprocess.h"

namespace twinrig::consent {
namespace {

class Cli {
 public:
  Cli() {
    Write("studio.pass", "studio passphrase\n");
    Write("tech.pass", "technician passphrase\n");
    Write("subject.pass", "subject passphrase\n");
    Write("wrong.pass", "not the passphrase\n");
  }
  void Write(const std::string& name, const std::string& text) {
    REQUIRE(WriteFileAtomic(dir_ / name, text).ok());
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path studio() const { return dir_ / "studio"; }

  SubprocessResult Run(std::vector<std::string> args) {
    std::vector<std::string> argv = {twinrig::testing::TwinrigBinary().string(), "--studio",
                                     studio().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunSubprocess(argv);
    REQUIRE(r.ok());
    return *r;
  }
  // Runs and requires success; returns the output.
  std::string Ok(std::vector<std::string> args) {
    auto r = Run(std::move(args));
    INFO(r.output);
    REQUIRE(r.succeeded());
    return r.output;
  }

 private:
  twinrig::testing::TempDir dir_;
};

TEST_CASE("the whole consent flow runs unattended from the command line", "[integration]") {
  Cli cli;
  cli.Ok({"keys", "init", "--name", "Test Studio", "--passphrase-file", cli.Path("studio.pass"),
          "--kdf", "interactive"});
  cli.Ok({"keys", "add-technician", "tech1", "--passphrase-file", cli.Path("tech.pass"), "--kdf",
          "interactive"});
  std::string subject = cli.Ok({"subject", "add", "--name", "Ada Example"});
  subject = subject.substr(0, subject.find('\n'));
  CHECK(subject == "SUB-000001");
  const std::string session = "S-20261128-0001";

  // No consent yet: the capture gate refuses with a reason and what to do.
  auto gate = cli.Run({"consent", "check-capture", "--subject", subject, "--session", session});
  CHECK(gate.exit_code == 1);
  CHECK(gate.output.find("no consent record") != std::string::npos);
  CHECK(gate.output.find("what to do") != std::string::npos);

  cli.Write("consent.txt", "I agree that the studio scans my face and body.\n");
  cli.Write("terms.json", testing::Terms().dump());
  auto out = cli.Ok({"consent", "new", "--subject", subject, "--session", session, "--technician",
                     "tech1", "--text", cli.Path("consent.txt"), "--text-version", "dtcr-text-1.3",
                     "--terms", cli.Path("terms.json"), "--subject-passphrase-file",
                     cli.Path("subject.pass"), "--kdf", "interactive"});
  CHECK(out.find("awaiting subject,technician,studio") != std::string::npos);
  // A wrong passphrase signs nothing.
  auto wrong = cli.Run({"consent", "sign", "--session", session, "--role", "subject",
                        "--passphrase-file", cli.Path("wrong.pass")});
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.output.find("wrong passphrase") != std::string::npos);
  cli.Ok({"consent", "sign", "--session", session, "--role", "subject", "--passphrase-file",
          cli.Path("subject.pass")});
  cli.Ok({"consent", "sign", "--session", session, "--role", "technician", "--passphrase-file",
          cli.Path("tech.pass")});
  out = cli.Ok({"consent", "sign", "--session", session, "--role", "studio", "--passphrase-file",
                cli.Path("studio.pass")});
  CHECK(out.find("complete yes") != std::string::npos);
  cli.Ok({"consent", "check-capture", "--subject", subject, "--session", session});

  // Capture happens (another part); the seal binds the files.
  const auto session_dir = cli.studio() / "sessions" / session;
  Json files = Json::array();
  for (int i = 0; i < 3; ++i) {
    const std::string rel = "images/CAM" + std::to_string(i) + "/0001.jpg";
    const std::string content = "pixels " + std::to_string(i);
    std::filesystem::create_directories((session_dir / rel).parent_path());
    REQUIRE(WriteFileAtomic(session_dir / rel, content).ok());
    files.push_back({{"path", rel}, {"size", content.size()}, {"sha256", Sha256Hex(content)}});
  }
  cli.Write("manifest.json", Json{{"files", files}}.dump());
  cli.Ok({"consent", "seal", "--session", session, "--technician", "tech1", "--manifest",
          cli.Path("manifest.json")});
  cli.Ok({"consent", "sign", "--session", session, "--role", "technician", "--passphrase-file",
          cli.Path("tech.pass")});
  cli.Ok({"consent", "sign", "--session", session, "--role", "studio", "--passphrase-file",
          cli.Path("studio.pass")});

  // The subject reviews and approves the twin, then grants one licensee.
  std::filesystem::create_directories(session_dir / "twin");
  REQUIRE(WriteFileAtomic(session_dir / "twin" / "twin.glb", testing::TriangleGlb()).ok());
  cli.Ok({"consent", "approve", "--session", session, "--note", "that is me"});
  cli.Ok({"consent", "sign", "--session", session, "--role", "subject", "--passphrase-file",
          cli.Path("subject.pass")});
  cli.Ok({"consent", "sign", "--session", session, "--role", "studio", "--passphrase-file",
          cli.Path("studio.pass")});
  cli.Write("grants.json", Json::array({testing::GrantJson("g1", "brand-a")}).dump());
  cli.Ok({"consent", "grant", "--session", session, "--grants", cli.Path("grants.json")});
  cli.Ok({"consent", "sign", "--session", session, "--role", "subject", "--passphrase-file",
          cli.Path("subject.pass")});
  cli.Ok({"consent", "sign", "--session", session, "--role", "studio", "--passphrase-file",
          cli.Path("studio.pass")});

  const auto out_dir = cli.studio().parent_path() / "delivery";
  out = cli.Ok({"export", session, "--licensee", "brand-a", "--purpose", "SS27 campaign imagery",
                "--medium", "social", "--territory", "EU", "--out", out_dir.string(),
                "--passphrase-file", cli.Path("studio.pass")});
  CHECK(out.find("grant_id g1") != std::string::npos);
  CHECK(std::filesystem::exists(out_dir / "twin.glb"));
  CHECK(std::filesystem::exists(out_dir / "provenance.json"));
  auto refused = cli.Run({"export", session, "--licensee", "brand-a", "--purpose",
                          "SS27 campaign imagery", "--medium", "billboard", "--out",
                          out_dir.string() + "-2", "--passphrase-file", cli.Path("studio.pass")});
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("medium \"billboard\"") != std::string::npos);

  // The licensee verifies offline with what the delivery holds.
  out = cli.Ok({"consent", "verify", "--dir", (out_dir / "consent").string(), "--keys",
                (out_dir / "keyring.json").string(), "--json"});
  auto report = Json::parse(out);
  CHECK(report["valid"] == true);
  CHECK(report["records"].size() == 4);
  out = cli.Ok({"consent", "verify", "--session", session});
  CHECK(out.find("capture files: match the seal") != std::string::npos);

  out = cli.Ok({"consent", "usage", "--licensee", "brand-a", "--json"});
  auto usage = Json::parse(out);
  REQUIRE(usage.size() == 1);
  CHECK(usage[0]["uses"] == 1);
  CHECK(usage[0]["amount_minor"] == 40000);

  // Withdrawal is one command for the subject; then erasure crypto-shreds the data.
  cli.Write("raw.bin", "raw capture bytes");
  cli.Ok({"subject", "encrypt", subject, "--in", cli.Path("raw.bin"), "--out", cli.Path("raw.enc"),
          "--passphrase-file", cli.Path("studio.pass")});
  cli.Ok({"subject", "decrypt", subject, "--in", cli.Path("raw.enc"), "--out", cli.Path("raw.dec"),
          "--passphrase-file", cli.Path("studio.pass")});
  CHECK(ReadFileText(cli.Path("raw.dec")).value() == "raw capture bytes");
  cli.Ok({"consent", "revoke", "--session", session, "--erase", "--passphrase-file",
          cli.Path("subject.pass")});
  refused = cli.Run({"export", session, "--licensee", "brand-a", "--purpose",
                     "SS27 campaign imagery", "--medium", "social", "--out",
                     out_dir.string() + "-3", "--passphrase-file", cli.Path("studio.pass")});
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("revoked") != std::string::npos);
  out = cli.Ok({"subject", "erase", subject, "--passphrase-file", cli.Path("studio.pass")});
  CHECK(out.find("destruction_recorded " + session) != std::string::npos);
  auto gone = cli.Run({"subject", "decrypt", subject, "--in", cli.Path("raw.enc"), "--out",
                       cli.Path("raw.dec2"), "--passphrase-file", cli.Path("studio.pass")});
  CHECK(gone.exit_code == 1);
  CHECK_FALSE(std::filesystem::exists(cli.Path("raw.dec2")));

  out = cli.Ok({"audit", "verify"});
  CHECK(out.find("valid") != std::string::npos);
  out = cli.Ok({"consent", "status", "--session", session});
  CHECK(Json::parse(out)["destroyed"] == true);
}

}  // namespace
}  // namespace twinrig::consent
