// `twinrig review`: the review station. Prints its address and the technician PIN (and, under TLS,
// the certificate's fingerprint for the tablets to check), serves the dashboard and the model's
// view until SIGINT or SIGTERM, then stops cleanly (a running job is stopped with it). A fixed
// technician PIN comes from a file or stdin, never from the command line, where `ps` shows it.
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <iostream>

#include "app/command.h"
#include "consent/crypto.h"
#include "host/review/server.h"

namespace twinrig::app {
namespace {

// Options whose values are files: a relative one in the settings file is taken from its folder.
bool IsPathOption(const std::string& name) {
  return name == "web" || name == "consent-text" || name == "terms" ||
         name == "technician-pin-file" || name == "tls-cert" || name == "tls-key";
}

// Gives each option of CMD that the command line left unset its value from the TOML settings FILE
// (`name = value` per line, the option's long name without dashes). An unknown name, a section or
// an unreadable file is an error naming the file and the line's key.
Status ApplySettingsFile(CLI::App& cmd, const std::filesystem::path& file) {
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(file.string());
  } catch (const CLI::Error&) {
    return MakeError("cannot read the settings file", file.string(),
                     "check that it exists, is readable, and holds `name = value` lines");
  }
  const std::filesystem::path folder = file.parent_path();
  for (const CLI::ConfigItem& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // section markers
    const std::string key = item.fullname();
    CLI::Option* option = item.parents.empty() && key != "config"
                              ? cmd.get_option_no_throw("--" + item.name)
                              : nullptr;
    if (option == nullptr || option->get_group().empty()) {
      return MakeError("unknown setting '" + key + "'", file.string(),
                       "use the names of `twinrig review --help` without their dashes");
    }
    if (option->count() > 0) continue;  // the command line wins
    std::vector<std::string> values = item.inputs;
    if (IsPathOption(item.name)) {
      for (std::string& value : values) {
        if (!value.empty() && std::filesystem::path(value).is_relative()) {
          value = (folder / value).lexically_normal().string();
        }
      }
    }
    option->add_result(values);
    try {
      option->run_callback();
    } catch (const CLI::Error& e) {
      return MakeError("setting '" + key + "' is not valid: " + e.what(), file.string(),
                       "correct it as `twinrig review --help` describes the option");
    }
  }
  return OkStatus();
}

}  // namespace

void AddReview(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  struct Args {
    review::ReviewOptions options;
    std::string web;
    std::string technician_pin_file;
    std::string technician_pin_argv;  // refused: only to explain why
    std::string config;
  };
  static Args args;
  auto* cmd = parent.add_subcommand(
      "review", "the review station: technician's dashboard and the model's view in a browser");
  cmd->add_option("--listen", args.options.listen, "ADDR:PORT (default 127.0.0.1:8440)");
  cmd->add_option("--web", args.web, "the built front end (default: share/twinrig/web)")
      ->transform(UserPath());
  // The service reads its settings from a file (/etc/twinrig/review.toml): one line per option,
  // `listen = "127.0.0.1:8440"`; options given on the command line win. CLI11 reads a config file
  // only for the top-level command, so the callback applies it (ApplySettingsFile).
  cmd->add_option("--config", args.config,
                  "settings file (TOML: the options below without their dashes; relative paths "
                  "in it are taken from its folder)")
      ->transform(UserPath());
  cmd->add_option("--consent-text", args.options.consent_text,
                  "the exact consent text the model reads and signs")
      ->transform(UserPath());
  cmd->add_option("--text-version", args.options.text_version, "its version");
  cmd->add_option("--terms", args.options.terms, "consent terms JSON (as `consent new --terms`)")
      ->transform(UserPath());
  cmd->add_option("--technician", args.options.technician, "the witnessing technician's id");
  cmd->add_option("--kdf", args.options.kdf, "Argon2id cost of new subject keys")
      ->check(CLI::IsMember({"moderate", "interactive"}));
  cmd->add_option("--technician-pin-file", args.technician_pin_file,
                  "a fixed technician PIN (6+ digits) from FILE, - for stdin or fd:N "
                  "(default: a random one per start)")
      ->transform(UserPath());
  cmd->add_option("--technician-pin", args.technician_pin_argv)->group("");  // see the callback
  cmd->add_flag("--tls", args.options.tls.enabled,
                "HTTPS with the station's own certificate (made once in <studio>/review/tls/; its "
                "fingerprint is printed for the tablets to check)");
  cmd->add_option("--tls-cert", args.options.tls.cert, "HTTPS with this PEM certificate (chain)")
      ->transform(UserPath());
  cmd->add_option("--tls-key", args.options.tls.key, "the certificate's PEM key")
      ->transform(UserPath());
  cmd->add_option(
      "--host-name", args.options.host_names,
      "a DNS name tablets use for the station (IP addresses and localhost always work)");
  cmd->callback([cmd, &global, &exit_code] {
    if (!args.config.empty()) {
      if (Status applied = ApplySettingsFile(*cmd, args.config); !applied.ok()) {
        PrintError(applied.error().what, applied.error().where, applied.error().todo);
        exit_code = kExitUsage;
        return;
      }
    }
    for (const char* name : {"--consent-text", "--text-version", "--terms", "--technician"}) {
      if (cmd->get_option(name)->count() == 0) {
        PrintError(std::string(name) + " is required", "twinrig review",
                   std::string("give it on the command line or as `") + (name + 2) +
                       " = ...` in the --config file");
        exit_code = kExitUsage;
        return;
      }
    }
    review::ReviewOptions options = args.options;
    options.studio = global.studio;
    if (!args.technician_pin_argv.empty()) {
      PrintError(
          "--technician-pin on the command line is refused: every user of this computer "
          "sees it in `ps`",
          "twinrig review",
          "put the PIN in a file readable only by you and pass "
          "--technician-pin-file FILE (or - to read it from stdin)");
      exit_code = kExitUsage;
      return;
    }
    if (!args.technician_pin_file.empty()) {
      auto pin = consent::ReadPassphrase(args.technician_pin_file);
      if (!pin.ok()) {
        PrintError(pin.error().what, pin.error().where, pin.error().todo);
        exit_code = kExitUsage;
        return;
      }
      options.access.technician_pin = *pin;
    }
    if (!options.tls.cert.empty() || !options.tls.key.empty()) options.tls.enabled = true;
    options.web_root =
        args.web.empty() ? review::DefaultWebRoot() : std::filesystem::path(args.web);
    char self[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
      PrintError("cannot find the twinrig binary", "/proc/self/exe", "run twinrig by its path");
      exit_code = kExitFailed;
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
      exit_code = kExitFailed;
      return;
    }
    const bool tls = (*server)->tls();
    std::cout << "review station on " << (tls ? "https://" : "http://") << (*server)->address()
              << "/\n";
    if (tls) {
      std::cout << "certificate SHA-256 fingerprint " << (*server)->certificate_fingerprint()
                << "\n"
                << "public key pin (SHA-256, base64) " << (*server)->public_key_pin() << "\n";
    }
    std::cout << "technician PIN " << (*server)->technician_pin() << std::endl;
    int sig = 0;
    sigwait(&stop, &sig);
    std::cout << "stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")" << std::endl;
    (*server)->Stop();
    exit_code = kExitOk;
  });
}

}  // namespace twinrig::app
