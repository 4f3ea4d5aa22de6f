#include "host/usecases/studio.h"

namespace twinrig::usecases {

Result<std::string> AddSubject(store::Catalog& catalog, const std::string& name) {
  return catalog.InsertSubject(name);
}

Result<std::vector<store::SubjectRow>> ListSubjects(store::Catalog& catalog) {
  return catalog.Subjects();
}

Result<std::vector<store::SessionRow>> ListSessions(store::Catalog& catalog, int limit) {
  return limit > 0 ? catalog.RecentSessions(limit) : catalog.Sessions();
}

}  // namespace twinrig::usecases
