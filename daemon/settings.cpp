#include "daemon/settings.h"

namespace sg::daemon {

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

kernel::RestartPolicy PolicyFrom(const config::Config& config) {
  kernel::RestartPolicy policy;
  policy.mode = config.String("plugins.restart") == "never"
                    ? kernel::RestartPolicy::Mode::kNever
                    : kernel::RestartPolicy::Mode::kOnFailure;
  policy.limit = static_cast<int>(config.Int("plugins.restart_limit"));
  policy.backoff = config.Duration("plugins.restart_backoff");
  policy.max_backoff = config.Duration("plugins.restart_backoff_max");
  return policy;
}

bus::NatsOptions NatsOptionsFrom(const config::Config& config, const std::string& name) {
  bus::NatsOptions nats;
  static_cast<NatsConnection&>(nats) = NatsConnectionFrom(config);
  nats.subject_prefix = config.String("nats.subject_prefix");
  nats.reconnect_wait = config.Duration("nats.reconnect_wait");
  nats.max_reconnects = static_cast<int>(config.Int("nats.max_reconnects"));
  nats.reconnect_buffer_bytes = static_cast<int>(config.Int("nats.reconnect_buffer"));
  nats.name = name;
  return nats;
}

control::ServerSettings ControlSettingsFrom(const config::Config& config,
                                            const std::string& endpoint) {
  control::ServerSettings settings;
  settings.endpoint = endpoint;
  settings.curve_server_key = config.String("control.curve_server_key");
  settings.curve_authorized_keys = config.String("control.curve_authorized_keys");
  return settings;
}

}  // namespace sg::daemon
