// Each owner's schema steps, in the order they shipped. Never edit a step that has shipped: add a
// new one with the next free version number (the numbers are shared by all owners: one catalog).
#pragma once

#include <vector>

#include "store/catalog.h"

namespace twinrig::store {

// studio_meta, subjects, cameras, sessions (store/sessions_schema.cc).
const std::vector<Migration>& SessionsMigrations();
// public keys, consent records, audit log and checkpoints, usage (store/consent_schema.cc).
const std::vector<Migration>& ConsentMigrations();

}  // namespace twinrig::store
