#include <iostream>

#include "app/command.h"
#include "store/catalog.h"

namespace twinrig::app {

void AddStudio(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* cmd = parent.add_subcommand(
      "studio", "open the studio catalog (create or migrate it) and show its state");
  cmd->callback([&global, &exit_code] {
    auto catalog = store::Catalog::Open(global.studio);
    if (!catalog.ok()) {
      PrintError(catalog.error().what, catalog.error().where, catalog.error().todo);
      exit_code = kExitFailed;
      return;
    }
    const auto& report = catalog->report();
    std::cout << "studio   " << std::filesystem::absolute(global.studio).string() << "\n"
              << "catalog  " << store::Catalog::DatabasePath(global.studio).string() << ", schema "
              << report.version;
    if (report.created) std::cout << " (created)";
    if (!report.backup.empty()) {
      std::cout << " (migrated from " << report.found_version << "; old copy at "
                << report.backup.string() << ")";
    }
    std::cout << "\n";
    exit_code = kExitOk;
  });
}

}  // namespace twinrig::app
