// The studio's subjects and sessions as the front ends list and register them (the command line
// and the review station).
#pragma once

#include <string>
#include <vector>

#include "store/catalog.h"
#include "util/result.h"

namespace twinrig::usecases {

// Registers a subject; returns the new id (SUB-000001, SUB-000002 …).
Result<std::string> AddSubject(store::Catalog& catalog, const std::string& name);
// Every subject by id, each with their newest key's id ("" when none).
Result<std::vector<store::SubjectRow>> ListSubjects(store::Catalog& catalog);

// The studio's sessions: every one by id (limit 0), or the newest `limit`, newest first.
Result<std::vector<store::SessionRow>> ListSessions(store::Catalog& catalog, int limit = 0);

}  // namespace twinrig::usecases
