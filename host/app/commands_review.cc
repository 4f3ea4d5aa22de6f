// `twinrig review`: the review station. Prints its address and the technician PIN, serves the
// dashboard and the model's view until SIGINT or SIGTERM, then stops cleanly (a running job is
// stopped with it).
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <iostream>

#include "host/app/command.h"
#include "host/review/server.h"

namespace twinrig::app {

void AddReview(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  struct Args {
    review::ReviewOptions options;
    std::string web;
  };
  static Args args;
  auto* cmd = parent.add_subcommand(
      "review", "the review station: technician's dashboard and the model's view in a browser");
  cmd->add_option("--listen", args.options.listen, "ADDR:PORT (default 127.0.0.1:8440)");
  cmd->add_option("--web", args.web, "the built front end (default: share/twinrig/web)")
      ->transform(UserPath());
  // The service reads its settings from a file (/etc/twinrig/review.toml): one line per option,
  // `listen = "127.0.0.1:8440"`; options given on the command line win.
  cmd->set_config("--config", "", "settings file (TOML: the options below without their dashes)");
  cmd->add_option("--consent-text", args.options.consent_text,
                  "the exact consent text the model reads and signs")
      ->transform(UserPath())
      ->required();
  cmd->add_option("--text-version", args.options.text_version, "its version")->required();
  cmd->add_option("--terms", args.options.terms, "consent terms JSON (as `consent new --terms`)")
      ->transform(UserPath())
      ->required();
  cmd->add_option("--technician", args.options.technician, "the witnessing technician's id")
      ->required();
  cmd->add_option("--kdf", args.options.kdf, "Argon2id cost of new subject keys")
      ->check(CLI::IsMember({"moderate", "interactive"}));
  cmd->add_option("--technician-pin", args.options.access.technician_pin,
                  "a fixed technician PIN (6+ digits; default: a random one per start)");
  cmd->callback([&global, &exit_code] {
    review::ReviewOptions options = args.options;
    options.studio = global.studio;
    options.web_root =
        args.web.empty() ? review::DefaultWebRoot() : std::filesystem::path(args.web);
    char self[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
      PrintError("cannot find the twinrig binary", "/proc/self/exe", "run twinrig by its path");
      exit_code = 1;
      return;
    }
    options.twinrig_binary.assign(self, static_cast<size_t>(n));
    // Block the stop signals before any thread starts so only sigwait below receives them.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    auto server = review::ReviewServer::Start(
        options, [](const std::string& line) { std::cout << line << std::endl; });
    if (!server.ok()) {
      PrintError(server.error().what, server.error().where, server.error().todo);
      exit_code = 1;
      return;
    }
    std::cout << "review station on http://" << (*server)->address() << "/\n"
              << "technician PIN " << (*server)->technician_pin() << std::endl;
    int sig = 0;
    sigwait(&stop, &sig);
    std::cout << "stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")" << std::endl;
    (*server)->Stop();
    exit_code = 0;
  });
}

}  // namespace twinrig::app
