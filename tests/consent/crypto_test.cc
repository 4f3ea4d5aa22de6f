// Known answers (RFC 8032), passphrase sealing, encryption at rest and canonical JSON.
#include <catch2/catch.hpp>

#include <sodium.h>
#include <unistd.h>

#include <fstream>

#include "consent/canonical_json.h"
#include "consent/crypto.h"
#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::consent {
namespace {

struct Kat {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 section 7.1, TEST 1, 2 and 3.
constexpr Kat kRfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST_CASE("Ed25519 matches the RFC 8032 known answers", "[unit]") {
  for (const Kat& kat : kRfc8032) {
    CAPTURE(kat.public_key);
    const Bytes seed = HexDecode(kat.secret).value();
    const Bytes message = HexDecode(kat.message).value();
    const SecretKey key = SecretKey::FromSeed(std::span<const std::uint8_t, 32>(seed.data(), 32));
    CHECK(HexEncode(key.public_key()) == kat.public_key);
    const Signature sig = key.Sign(message);
    CHECK(HexEncode(sig) == kat.signature);
    CHECK(VerifySignature(key.public_key(), message, sig));
    // One flipped bit in the signature, the message or the key is rejected.
    Signature bad = sig;
    bad[10] ^= 0x01;
    CHECK_FALSE(VerifySignature(key.public_key(), message, bad));
    Bytes other = message;
    other.push_back(0);
    CHECK_FALSE(VerifySignature(key.public_key(), other, sig));
    PublicKey wrong = key.public_key();
    wrong[0] ^= 0x01;
    CHECK_FALSE(VerifySignature(wrong, message, sig));
  }
}

TEST_CASE("a sealed key opens only with its passphrase and context", "[unit]") {
  const Bytes secret = ToBytes("0123456789abcdef0123456789abcdef");
  const SealedSecret sealed =
      SealWithPassphrase(secret, "correct horse", "ctx-a", KdfStrength::kInteractive);
  CHECK(sealed.opslimit == crypto_pwhash_OPSLIMIT_INTERACTIVE);
  auto opened = OpenWithPassphrase(sealed, "correct horse", "ctx-a");
  REQUIRE(opened.ok());
  CHECK(*opened == secret);
  auto wrong = OpenWithPassphrase(sealed, "correct horsf", "ctx-a");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().what.find("wrong passphrase") != std::string::npos);
  CHECK_FALSE(OpenWithPassphrase(sealed, "correct horse", "ctx-b").ok());
  SealedSecret flipped = sealed;
  flipped.ciphertext[3] ^= 0x80;
  CHECK_FALSE(OpenWithPassphrase(flipped, "correct horse", "ctx-a").ok());
  SealedSecret weakened = sealed;
  weakened.opslimit = 0;  // an attacker lowering the cost is refused
  CHECK_FALSE(OpenWithPassphrase(weakened, "correct horse", "ctx-a").ok());
}

TEST_CASE("passphrases come from a file or a file descriptor", "[unit]") {
  twinrig::testing::TempDir dir;
  REQUIRE(WriteFileAtomic(dir / "pass", std::string_view("s3cret\nignored\n")).ok());
  CHECK(ReadPassphrase((dir / "pass").string()).value() == "s3cret");
  REQUIRE(WriteFileAtomic(dir / "empty", std::string_view("\n")).ok());
  CHECK_FALSE(ReadPassphrase((dir / "empty").string()).ok());
  CHECK_FALSE(ReadPassphrase((dir / "missing").string()).ok());
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], "from-fd\n", 8) == 8);
  ::close(fds[1]);
  CHECK(ReadPassphrase("fd:" + std::to_string(fds[0])).value() == "from-fd");
  ::close(fds[0]);
}

// Encrypts `size` bytes and returns the ciphertext.
Bytes EncryptedBytes(const DataKey& key, const twinrig::testing::TempDir& dir, size_t size) {
  Bytes plain(size);
  for (size_t i = 0; i < size; ++i) plain[i] = static_cast<std::uint8_t>(i * 7);
  REQUIRE(WriteFileAtomic(dir / "plain", plain).ok());
  REQUIRE(EncryptFile(key, "SUB-1", dir / "plain", dir / "cipher").ok());
  return ReadFileBytes(dir / "cipher").value();
}

TEST_CASE("encryption at rest round-trips and refuses every alteration", "[unit]") {
  twinrig::testing::TempDir dir;
  const DataKey key = GenerateDataKey();
  const size_t chunk = 64 * 1024 + 17;  // ciphertext chunk: plaintext chunk + ABYTES
  const Bytes cipher = EncryptedBytes(key, dir, 3 * 64 * 1024 + 100);
  const Bytes plain = ReadFileBytes(dir / "plain").value();
  CHECK(cipher.size() > plain.size());
  REQUIRE(DecryptFile(key, "SUB-1", dir / "cipher", dir / "back").ok());
  CHECK(ReadFileBytes(dir / "back").value() == plain);

  auto refuses = [&](const Bytes& altered, const DataKey& k = GenerateDataKey(),
                     bool same_key = true, const char* context = "SUB-1") {
    REQUIRE(WriteFileAtomic(dir / "altered", altered).ok());
    std::filesystem::remove(dir / "out");
    Status s = DecryptFile(same_key ? key : k, context, dir / "altered", dir / "out");
    CHECK_FALSE(s.ok());
    CHECK_FALSE(std::filesystem::exists(dir / "out"));  // no partial plaintext left behind
  };
  const size_t header = 8 + 24;
  SECTION("one bit flipped anywhere") {
    for (size_t at : {size_t{0}, size_t{9}, header + 5, header + chunk + 3, cipher.size() - 1}) {
      Bytes b = cipher;
      b[at] ^= 0x04;
      refuses(b);
    }
  }
  SECTION("last chunk dropped") {
    refuses(Bytes(cipher.begin(), cipher.begin() + static_cast<long>(header + 3 * chunk)));
  }
  SECTION("chunks swapped") {
    Bytes b = cipher;
    std::swap_ranges(b.begin() + static_cast<long>(header),
                     b.begin() + static_cast<long>(header + chunk),
                     b.begin() + static_cast<long>(header + chunk));
    refuses(b);
  }
  SECTION("bytes appended after the final chunk") {
    Bytes b = cipher;
    b.push_back(0);
    refuses(b);
  }
  SECTION("wrong key") { refuses(cipher, GenerateDataKey(), false); }
  SECTION("wrong context (another subject)") { refuses(cipher, key, true, "SUB-2"); }
}

TEST_CASE("an empty file encrypts and decrypts", "[unit]") {
  twinrig::testing::TempDir dir;
  const DataKey key = GenerateDataKey();
  EncryptedBytes(key, dir, 0);
  REQUIRE(DecryptFile(key, "SUB-1", dir / "cipher", dir / "back").ok());
  CHECK(ReadFileBytes(dir / "back").value().empty());
}

TEST_CASE("canonical JSON is strict", "[unit]") {
  CHECK(Canonical(Json::parse(R"({"b":1,"a":[true,null,"x\n"]})")).value() ==
        R"({"a":[true,null,"x\n"],"b":1})");
  CHECK(ParseCanonical(R"({"a":1,"b":"c"})", "t").ok());
  CHECK_FALSE(ParseCanonical(R"({"b":"c","a":1})", "t").ok());    // keys out of order
  CHECK_FALSE(ParseCanonical(R"({"a": 1,"b":"c"})", "t").ok());   // whitespace
  CHECK_FALSE(ParseStrict(R"({"a":1,"a":2})", "t").ok());         // duplicate key
  CHECK_FALSE(ParseStrict(R"({"x":{"a":1,"a":2}})", "t").ok());   // nested duplicate
  CHECK(ParseStrict(R"({"x":{"a":1},"y":{"a":2}})", "t").ok());   // same key, other objects
  CHECK_FALSE(ParseStrict(R"({"a":1.5})", "t").ok());             // floats
  CHECK_FALSE(ParseStrict("{\"\xc3\xa9\":1}", "t").ok());         // non-ASCII key
  CHECK_FALSE(ParseStrict("{\"a\":\"\xff\"}", "t").ok());         // invalid UTF-8
  CHECK(ParseCanonical("{\"a\":\"\xc3\xa9\"}", "t").ok());        // UTF-8 values as is
  CHECK_FALSE(ParseStrict(std::string(100, ' '), "t", 10).ok());  // size limit
}

}  // namespace
}  // namespace twinrig::consent
