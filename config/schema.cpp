#include "config/schema.h"

#include <algorithm>
#include <cctype>

namespace sg::config {
namespace {

constexpr int64_t kSecond = 1000;  // durations are kept in milliseconds
constexpr int64_t kDay = int64_t{24} * 3600 * kSecond;
constexpr int64_t kMiB = int64_t{1024} * 1024;

std::vector<KeySpec> BuildSchema() {
  const std::vector<std::string_view> kLevels = {"trace", "debug",    "info", "warn",
                                                 "error", "critical", "off"};
  return {
      // app: the seed's application section.
      {.path = "app.name",
       .type = Type::kString,
       .default_value = "streamgate",
       .doc = "Name of this deployment; shown in logs as the service prefix",
       .min = 1,
       .max = 64},
      {.path = "app.mode",
       .type = Type::kEnum,
       .default_value = "monolith",
       .doc =
           "monolith runs every plugin in one process; microservice runs one service per process",
       .choices = {"monolith", "microservice"}},
      {.path = "app.port",
       .type = Type::kPort,
       .default_value = "8080",
       .doc = "Old name for server.port, kept for the seed's files; set server.port instead",
       .min = 0,
       .max = 65535,
       .alias_of = "server.port"},
      {.path = "app.debug",
       .type = Type::kBool,
       .default_value = "false",
       .doc = "When true and logging.level is not set, log at debug level"},

      // server: the api-gateway's HTTP listener.
      {.path = "server.host",
       .type = Type::kHost,
       .default_value = "0.0.0.0",
       .doc = "Address the HTTP listener binds; 0.0.0.0 for every IPv4 address, :: for IPv6 too"},
      {.path = "server.port",
       .type = Type::kPort,
       .default_value = "8080",
       .doc = "TCP port of the HTTP listener; 0 picks a free port",
       .min = 0,
       .max = 65535},
      {.path = "server.read_timeout",
       .type = Type::kDuration,
       .default_value = "30",
       .doc = "Longest time to read one request, headers and body",
       .min = 1,
       .max = kDay},
      {.path = "server.write_timeout",
       .type = Type::kDuration,
       .default_value = "30",
       .doc = "Longest time to write one response",
       .min = 1,
       .max = kDay},
      {.path = "server.idle_timeout",
       .type = Type::kDuration,
       .default_value = "60",
       .doc = "Longest a keep-alive connection may wait idle for its next request",
       .min = 1,
       .max = kDay},
      {.path = "server.io_threads",
       .type = Type::kInt,
       .default_value = "0",
       .doc = "HTTP I/O threads, each with its own listener; 0 for one per core",
       .min = 0,
       .max = 256},
      {.path = "server.max_header_bytes",
       .type = Type::kSize,
       .default_value = "16KiB",
       .doc = "Largest request line, header section and trailer section together; larger "
              "requests get 431. At most 60KiB, the largest field Beast stores",
       .min = 1024,
       .max = 60 * 1024},
      {.path = "server.max_header_fields",
       .type = Type::kInt,
       .default_value = "100",
       .doc = "Most header and trailer fields in one request; more get 431",
       .min = 1,
       .max = 10000},
      {.path = "server.max_body_bytes",
       .type = Type::kSize,
       .default_value = "10MiB",
       .doc = "Largest request body; larger requests get 413",
       .min = 0,
       .max = int64_t{64} * 1024 * kMiB},
      {.path = "server.max_connections",
       .type = Type::kInt,
       .default_value = "10000",
       .doc = "Most open HTTP connections; past it, new ones are closed at once",
       .min = 1,
       .max = 1000000},
      {.path = "server.access_log",
       .type = Type::kBool,
       .default_value = "true",
       .doc = "Log every request (method, path, status, bytes, duration, request id) as component "
              "access"},

      // grpc: reserved for service-to-service RPC.
      {.path = "grpc.port",
       .type = Type::kPort,
       .default_value = "9090",
       .doc = "Reserved for gRPC; this release opens no gRPC listener (services talk over NATS)",
       .min = 0,
       .max = 65535},

      // consul: validated for the seed's files; discovery runs on NATS instead.
      {.path = "consul.address",
       .type = Type::kHost,
       .default_value = "localhost",
       .doc = "Consul agent host; not used by this release (discovery runs on NATS)"},
      {.path = "consul.port",
       .type = Type::kPort,
       .default_value = "8500",
       .doc = "Consul agent port; not used by this release",
       .min = 1,
       .max = 65535},

      // database: PostgreSQL, for microservice mode's shared state.
      {.path = "database.host",
       .type = Type::kHost,
       .default_value = "localhost",
       .doc = "PostgreSQL host"},
      {.path = "database.port",
       .type = Type::kPort,
       .default_value = "5432",
       .doc = "PostgreSQL port",
       .min = 1,
       .max = 65535},
      {.path = "database.user",
       .type = Type::kString,
       .default_value = "streamgate",
       .doc = "PostgreSQL user",
       .min = 1},
      {.path = "database.password",
       .type = Type::kString,
       .default_value = "",
       .doc = "PostgreSQL password",
       .secret = true,
       .weak = {"postgres", "password", "streamgate"}},
      {.path = "database.database",
       .type = Type::kString,
       .default_value = "streamgate",
       .doc = "PostgreSQL database name",
       .min = 1},
      {.path = "database.sslmode",
       .type = Type::kEnum,
       .default_value = "prefer",
       .doc = "libpq sslmode",
       .choices = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
      {.path = "database.maxconns",
       .type = Type::kInt,
       .default_value = "20",
       .doc = "Most connections in the PostgreSQL pool",
       .min = 1,
       .max = 10000},

      // redis: the cache plugin's shared backend.
      {.path = "redis.host",
       .type = Type::kHost,
       .default_value = "localhost",
       .doc = "Redis host"},
      {.path = "redis.port",
       .type = Type::kPort,
       .default_value = "6379",
       .doc = "Redis port",
       .min = 1,
       .max = 65535},
      {.path = "redis.password",
       .type = Type::kString,
       .default_value = "",
       .doc = "Redis password (AUTH); empty for none",
       .secret = true},
      {.path = "redis.db",
       .type = Type::kInt,
       .default_value = "0",
       .doc = "Redis database number",
       .min = 0,
       .max = 15},
      {.path = "redis.poolsize",
       .type = Type::kInt,
       .default_value = "16",
       .doc = "Most connections in the Redis pool",
       .min = 1,
       .max = 10000},
      {.path = "redis.timeout",
       .type = Type::kDuration,
       .default_value = "1s",
       .doc = "Longest a Redis connect, command or wait for a pooled connection may take",
       .min = 1,
       .max = 60 * kSecond},

      // cache: the cache plugin.
      {.path = "cache.backend",
       .type = Type::kEnum,
       .default_value = "memory",
       .doc = "memory keeps entries in this process; redis shares them through the redis section's "
              "server",
       .choices = {"memory", "redis"}},
      {.path = "cache.max_bytes",
       .type = Type::kSize,
       .default_value = "64MiB",
       .doc = "Byte budget of the in-process cache (keys, values and 64 bytes an entry); LRU "
              "beyond it",
       .min = int64_t{64} * 1024,
       .max = int64_t{64} * 1024 * kMiB},
      {.path = "cache.default_ttl",
       .type = Type::kDuration,
       .default_value = "5m",
       .doc = "How long an entry lives when its setter names no TTL",
       .min = 1,
       .max = 365 * kDay},
      {.path = "cache.shards",
       .type = Type::kInt,
       .default_value = "16",
       .doc = "Independently locked parts of the in-process cache",
       .min = 1,
       .max = 1024},
      {.path = "cache.local_fallback",
       .type = Type::kBool,
       .default_value = "false",
       .doc = "With the redis backend, answer from an in-process cache while Redis is unreachable"},

      // storage: where media lives.
      {.path = "storage.type",
       .type = Type::kEnum,
       .default_value = "local",
       .doc = "local keeps media on this machine's disk; minio and s3 use an S3-compatible store",
       .choices = {"local", "minio", "s3"}},
      {.path = "storage.path",
       .type = Type::kString,
       .default_value = "/var/lib/streamgate/media",
       .doc = "Directory for media when storage.type is local",
       .min = 1},
      {.path = "storage.endpoint",
       .type = Type::kHostPort,
       .default_value = "localhost:9000",
       .doc = "S3-compatible endpoint, host:port, when storage.type is minio or s3"},
      {.path = "storage.accesskey",
       .type = Type::kString,
       .default_value = "",
       .doc = "S3 access key id",
       .secret = true,
       .weak = {"minioadmin"}},
      {.path = "storage.secretkey",
       .type = Type::kString,
       .default_value = "",
       .doc = "S3 secret key",
       .secret = true,
       .weak = {"minioadmin"}},
      {.path = "storage.bucket",
       .type = Type::kString,
       .default_value = "streamgate",
       .doc = "S3 bucket",
       .min = 3,
       .max = 63},
      {.path = "storage.region",
       .type = Type::kString,
       .default_value = "us-east-1",
       .doc = "S3 region",
       .min = 1},

      // nats: the event bus in microservice mode.
      {.path = "nats.url",
       .type = Type::kUrl,
       .default_value = "nats://localhost:4222",
       .doc = "NATS server URL (microservice mode); a password in it is redacted",
       .min = 1,
       .choices = {"nats", "tls"}},
      {.path = "nats.urls",
       .type = Type::kStringList,
       .default_value = "[]",
       .doc = "More NATS servers of the same cluster, tried after nats.url"},
      {.path = "nats.user", .type = Type::kString, .default_value = "", .doc = "NATS user name"},
      {.path = "nats.password",
       .type = Type::kString,
       .default_value = "",
       .doc = "NATS password",
       .secret = true},
      {.path = "nats.token",
       .type = Type::kString,
       .default_value = "",
       .doc = "NATS authentication token (instead of user and password)",
       .secret = true},
      {.path = "nats.tls_ca",
       .type = Type::kString,
       .default_value = "",
       .doc = "CA certificate file; setting it turns TLS on"},
      {.path = "nats.tls_cert",
       .type = Type::kString,
       .default_value = "",
       .doc = "Client certificate file for TLS, with nats.tls_key"},
      {.path = "nats.tls_key",
       .type = Type::kString,
       .default_value = "",
       .doc = "Client private key file for TLS"},
      {.path = "nats.subject_prefix",
       .type = Type::kString,
       .default_value = "streamgate",
       .doc = "Every subject is put under this prefix, so deployments can share a server",
       .min = 1,
       .max = 64},
      {.path = "nats.reconnect_wait",
       .type = Type::kDuration,
       .default_value = "1s",
       .doc = "Pause between reconnect attempts (with jitter)",
       .min = 10,
       .max = 60 * kSecond},
      {.path = "nats.max_reconnects",
       .type = Type::kInt,
       .default_value = "-1",
       .doc = "Reconnect attempts before giving up; -1 for never giving up",
       .min = -1,
       .max = 1000000},
      {.path = "nats.reconnect_buffer",
       .type = Type::kSize,
       .default_value = "8MiB",
       .doc = "Publishes kept while disconnected, sent on reconnect",
       .min = 0,
       .max = 1024 * kMiB},
      {.path = "nats.request_timeout",
       .type = Type::kDuration,
       .default_value = "2s",
       .doc = "Longest a call to another service over NATS waits for its answer",
       .min = 1,
       .max = 60 * kSecond},
      {.path = "nats.heartbeat_interval",
       .type = Type::kDuration,
       .default_value = "2s",
       .doc = "How often each service announces itself; one silent for two intervals is gone",
       .min = 50,
       .max = 60 * kSecond},

      // web3: chain access for the auth plugin.
      {.path = "web3.ethereum_rpc",
       .type = Type::kUrl,
       .default_value = "",
       .doc = "Ethereum JSON-RPC URL; its path often holds an API key, so it is redacted",
       .choices = {"http", "https", "ws", "wss"},
       .secret = true},
      {.path = "web3.solana_rpc",
       .type = Type::kUrl,
       .default_value = "",
       .doc = "Solana JSON-RPC URL",
       .choices = {"http", "https", "ws", "wss"},
       .secret = true},
      {.path = "web3.chain_id",
       .type = Type::kInt,
       .default_value = "1",
       .doc = "EVM chain id (1 mainnet, 11155111 Sepolia)",
       .min = 1,
       .max = 4294967295LL},

      // monitoring.
      {.path = "monitoring.prometheus_port",
       .type = Type::kPort,
       .default_value = "9100",
       .doc = "TCP port of the monitor plugin's /metrics listener; 0 picks a free port",
       .min = 0,
       .max = 65535},
      {.path = "monitoring.jaeger_endpoint",
       .type = Type::kUrl,
       .default_value = "",
       .doc = "Jaeger collector URL for traces; empty disables tracing (not yet implemented)",
       .choices = {"http", "https"}},
      {.path = "monitoring.log_level",
       .type = Type::kEnum,
       .default_value = "info",
       .doc = "Old name for logging.level, kept for the seed's files",
       .choices = kLevels,
       .alias_of = "logging.level"},

      // plugins.
      {.path = "plugins.enabled",
       .type = Type::kStringList,
       .default_value = "[]",
       .doc = "Plugins to run in monolith mode; empty runs every plugin the build has",
       .choices = {"api-gateway", "upload", "transcoder", "streaming", "metadata", "cache", "auth",
                   "worker", "monitor"}},

      {.path = "plugins.restart",
       .type = Type::kEnum,
       .default_value = "on-failure",
       .doc =
           "What the kernel does when a plugin fails: never restart it, or restart it with backoff",
       .choices = {"never", "on-failure"}},
      {.path = "plugins.restart_limit",
       .type = Type::kInt,
       .default_value = "5",
       .doc = "Restarts of a failed plugin before the kernel gives up",
       .min = 0,
       .max = 1000},
      {.path = "plugins.restart_backoff",
       .type = Type::kDuration,
       .default_value = "1s",
       .doc = "Delay before the first restart; it doubles with each further restart",
       .min = 1,
       .max = kDay},
      {.path = "plugins.restart_backoff_max",
       .type = Type::kDuration,
       .default_value = "60s",
       .doc = "Longest delay between restarts",
       .min = 1,
       .max = kDay},

      // logging: the daemon's own logs.
      {.path = "logging.level",
       .type = Type::kEnum,
       .default_value = "info",
       .doc = "Lowest level logged",
       .choices = kLevels},
      {.path = "logging.format",
       .type = Type::kEnum,
       .default_value = "prod",
       .doc = "dev (for people, coloured on a terminal), prod (tab-separated) or json (one object "
              "a line)",
       .choices = {"dev", "prod", "json"}},
      {.path = "logging.file",
       .type = Type::kString,
       .default_value = "",
       .doc = "Also write logs to this file, rotated by size; empty for none"},
      {.path = "logging.max_size",
       .type = Type::kSize,
       .default_value = "10MiB",
       .doc = "Size at which the log file is rotated",
       .min = 4096,
       .max = 1024 * kMiB},
      {.path = "logging.max_files",
       .type = Type::kInt,
       .default_value = "5",
       .doc = "Rotated log files kept",
       .min = 1,
       .max = 1000},
      {.path = "logging.ring_size",
       .type = Type::kInt,
       .default_value = "10000",
       .doc = "Recent log records kept in memory for streamgate logs",
       .min = 16,
       .max = 1000000},

      // control: the operator's control socket.
      {.path = "control.endpoint",
       .type = Type::kZmqEndpoint,
       .default_value = "",
       .doc = "Control socket; empty for ipc://$XDG_RUNTIME_DIR/streamgate/control.sock "
              "(/run/streamgate/control.sock for root)"},

      {.path = "control.curve_server_key",
       .type = Type::kString,
       .default_value = "",
       .doc = "Key file for a tcp:// control endpoint: the server's key pair for the daemon; its "
              "public key alone for the CLI"},
      {.path = "control.curve_authorized_keys",
       .type = Type::kString,
       .default_value = "",
       .doc = "File of client public keys, one a line, allowed on a tcp:// control endpoint"},
      {.path = "control.curve_client_key",
       .type = Type::kString,
       .default_value = "",
       .doc = "The CLI's own key pair file for a tcp:// control endpoint"},

      // daemon: the process itself.
      {.path = "daemon.shutdown_timeout",
       .type = Type::kDuration,
       .default_value = "30",
       .doc = "Longest graceful shutdown before the daemon exits anyway",
       .min = 1,
       .max = kDay},
      {.path = "daemon.plugin_timeout",
       .type = Type::kDuration,
       .default_value = "10",
       .doc = "Longest a plugin's init or start may take before it is marked failed",
       .min = 1,
       .max = kDay},
      {.path = "daemon.blocking_threads",
       .type = Type::kInt,
       .default_value = "8",
       .doc = "Threads for plugins' blocking work (disk, database, child processes), apart from "
              "the HTTP I/O threads; a restart applies a change",
       .min = 1,
       .max = 256},
      {.path = "daemon.blocking_queue",
       .type = Type::kInt,
       .default_value = "1024",
       .doc = "Most blocking jobs waiting for a thread; past it, new work is refused (503)",
       .min = 1,
       .max = 1000000},
      {.path = "daemon.health_timeout",
       .type = Type::kDuration,
       .default_value = "2",
       .doc = "Longest a plugin's health check may take before it counts as unhealthy",
       .min = 1,
       .max = 3600 * kSecond},
  };
}

}  // namespace

const std::vector<KeySpec>& Schema() {
  static const std::vector<KeySpec> schema = BuildSchema();
  return schema;
}

const KeySpec* FindKey(std::string_view path) {
  for (const auto& spec : Schema()) {
    if (spec.path == path) return &spec;
  }
  return nullptr;
}

const std::vector<std::string>& Sections() {
  static const std::vector<std::string> sections = [] {
    std::vector<std::string> out;
    for (const auto& spec : Schema()) {
      std::string section(spec.path.substr(0, spec.path.find('.')));
      if (std::find(out.begin(), out.end(), section) == out.end()) out.push_back(section);
    }
    return out;
  }();
  return sections;
}

std::vector<std::string> KeysOf(std::string_view section) {
  std::vector<std::string> out;
  for (const auto& spec : Schema()) {
    const size_t dot = spec.path.find('.');
    if (spec.path.substr(0, dot) == section) out.emplace_back(spec.path.substr(dot + 1));
  }
  return out;
}

std::string EnvName(std::string_view path) {
  std::string out = "STREAMGATE_";
  for (char c : path) {
    out += (c == '.' || c == '-') ? '_'
                                  : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

const std::vector<std::string>& ServiceNames() {
  static const std::vector<std::string> names = [] {
    const KeySpec* spec = FindKey("plugins.enabled");
    return std::vector<std::string>(spec->choices.begin(), spec->choices.end());
  }();
  return names;
}

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kBool:
      return "boolean";
    case Type::kInt:
      return "integer";
    case Type::kPort:
      return "port";
    case Type::kDuration:
      return "duration";
    case Type::kSize:
      return "size";
    case Type::kString:
      return "string";
    case Type::kEnum:
      return "enum";
    case Type::kUrl:
      return "url";
    case Type::kHost:
      return "host";
    case Type::kHostPort:
      return "host:port";
    case Type::kZmqEndpoint:
      return "endpoint";
    case Type::kStringList:
      return "list";
  }
  return "string";
}

}  // namespace sg::config
