#include <unistd.h>

#include <iostream>

#include "app/command.h"
#include "host/doctor/doctor.h"

namespace twinrig::app {

void AddDoctor(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* cmd = parent.add_subcommand("doctor", "what this host has, what is missing, what to do");
  cmd->callback([&global, &exit_code] {
    doctor::Options options;
    options.studio = global.studio;
    std::cout << "twinrig doctor: studio " << std::filesystem::absolute(global.studio).string()
              << "\n";
    auto findings = doctor::Examine(options);
    std::cout << doctor::FormatReport(findings, isatty(STDOUT_FILENO) != 0);
    exit_code = doctor::AnyFailed(findings) ? kExitFailed : kExitOk;
  });
}

}  // namespace twinrig::app
