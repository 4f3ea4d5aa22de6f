// Passphrases and private keys for the commands that sign, encrypt or decrypt. Every such command
// runs unattended: the passphrase comes from a file named on the command line ("-" for stdin,
// "fd:N" for a descriptor), never from a prompt or an argument.
#pragma once

#include <string>
#include <string_view>

#include "consent/crypto.h"
#include "consent/keys.h"
#include "store/catalog.h"
#include "util/result.h"

namespace twinrig::app {

// The passphrase from `source`; an Error saying which flag to pass when none was given.
inline Result<std::string> Passphrase(const std::string& source, const std::string& whose) {
  if (source.empty()) {
    return MakeError("no passphrase given for the " + whose, "",
                     "pass --passphrase-file FILE (or - for stdin, fd:N for a descriptor)");
  }
  return consent::ReadPassphrase(source);
}

// Unseals the private key of (role, owner) with the passphrase read from `passphrase_source`.
inline Result<consent::SecretKey> Unseal(store::Catalog& catalog, std::string_view role,
                                         const std::string& owner,
                                         const std::string& passphrase_source) {
  auto pass = Passphrase(passphrase_source, std::string(role) + " key");
  if (!pass.ok()) return pass.error();
  return consent::UnsealKey(catalog, role, owner, *pass);
}

}  // namespace twinrig::app
