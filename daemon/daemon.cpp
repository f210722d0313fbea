#include "daemon/daemon.h"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include "common/build_info.h"
#include "common/exit_codes.h"
#include "common/logging.h"

namespace sg::daemon {
namespace {

log::Options LogOptionsFrom(const config::Config& config, const std::string& service) {
  log::Options options;
  options.level = log::ParseLevel(config.String("logging.level")).value_or(spdlog::level::info);
  options.format = log::ParseFormat(config.String("logging.format")).value_or(log::Format::kProd);
  options.file = config.String("logging.file");
  options.max_file_bytes = static_cast<size_t>(config.Int("logging.max_size"));
  options.max_files = static_cast<size_t>(config.Int("logging.max_files"));
  options.ring_size = static_cast<size_t>(config.Int("logging.ring_size"));
  options.service = service;
  return options;
}

void PrintDiagnostics(const config::LoadResult& result) {
  for (const auto& d : result.diagnostics) std::cerr << d.Format() << '\n';
}

}  // namespace

int RunDaemon(const Options& options) {
  config::LoadOptions load;
  load.path = options.config_path;
  load.env = config::ProcessEnvironment();
  load.overrides = options.overrides;
  config::LoadResult loaded = config::Load(load);
  if (!loaded.Ok()) {
    PrintDiagnostics(loaded);
    std::cerr << "streamgated: " << config::Summary(loaded, false) << '\n';
    return kExitConfig;
  }
  const config::Config& config = loaded.config;
  const std::string mode = config.String("app.mode");
  const std::string service =
      mode == "monolith" ? config.String("app.name") + "-monolith"
                         : config.String("app.name") + "-" + (options.service.empty() ? "all" : options.service);

  auto hub = log::LogHub::Create(LogOptionsFrom(config, service));
  if (!hub) {
    std::cerr << "streamgated: " << hub.error().message << '\n';
    return kExitFailure;
  }
  auto logger = (*hub)->Get("daemon");
  logger->info(log::With(mode == "monolith" ? "Starting StreamGate Monolithic Mode..."
                                            : "Starting StreamGate Microservice Mode...",
                         {{"version", SG_VERSION}, {"pid", static_cast<int64_t>(getpid())}}));
  for (const auto& d : loaded.diagnostics) logger->warn(d.Format());
  logger->info(log::With("Configuration loaded",
                         {{"mode", mode},
                          {"port", config.Int("server.port")},
                          {"file", config.file().empty() ? "built-in defaults" : config.file()}}));

  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  int exit_code = kExitOk;
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    logger->info(log::With("Shutting down", {{"signal", strsignal(signo)}}));
    sd_notify(0, "STOPPING=1");
    io.stop();
  });
  logger->info("StreamGate started successfully");
  sd_notify(0, "READY=1\nSTATUS=running");
  io.run();
  logger->info("StreamGate stopped");
  return exit_code;
}

}  // namespace sg::daemon
