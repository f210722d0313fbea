// The configuration sections of the outside services the daemon talks to: storage, NATS, the
// database, the chain the auth plugin asks (web3), and the keys kept for services this release does
// not use yet (gRPC, Consul).
#include "config/core_config_sections.h"

namespace sg::config {

SectionSpec GrpcSection() {
  return {.name = "grpc",
          .title = "reserved",
          .keys = {
              {.path = "grpc.port",
               .type = Type::kPort,
               .default_value = "9090",
               .doc = "Reserved for gRPC. This release opens no gRPC listener: the services "
                      "talk over NATS. It still counts in the check that listeners do not "
                      "share a port, as a listener that is never open",
               .min = 0,
               .max = 65535,
               .listener = true},
          }};
}

SectionSpec ConsulSection() {
  return {.name = "consul",
          .title = "unused",
          .doc =
              "The consul section is validated, so that older files load, but is not used: "
              "service discovery runs on NATS, with the heartbeats described under "
              "MICROSERVICE MODE in streamgated(8)",
          .keys = {
              {.path = "consul.address",
               .type = Type::kHost,
               .default_value = "localhost",
               .doc = "Consul agent host. Not used: Consul is not available in this release"},
              {.path = "consul.port",
               .type = Type::kPort,
               .default_value = "8500",
               .doc = "Consul agent port. Not used: Consul is not available in this release",
               .min = 1,
               .max = 65535},
          }};
}

SectionSpec DatabaseSection() {
  return {.name = "database",
          .title = "PostgreSQL, for the shared state of microservice mode",
          .keys = {
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
               .doc = "PostgreSQL password; empty for none. Set it in the environment "
                      "('STREAMGATE_DATABASE_PASSWORD') rather than in a file that others "
                      "can read",
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
               .doc = "The libpq sslmode: whether and how the connection uses TLS",
               .choices = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
              {.path = "database.maxconns",
               .type = Type::kInt,
               .default_value = "20",
               .doc = "Most connections in the PostgreSQL pool",
               .min = 1,
               .max = 10000},
          }};
}

SectionSpec StorageSection() {
  return {.name = "storage",
          .title = "where media lives",
          .keys = {
              {.path = "storage.type",
               .type = Type::kEnum,
               .default_value = "local",
               .doc = "local keeps media on this machine's disk, under storage.path; minio "
                      "and s3 use an S3-compatible store at storage.endpoint, which needs "
                      "storage.accesskey and storage.secretkey",
               .choices = {"local", "minio", "s3"},
               .reload = Reload::kRestartDaemon},
              {.path = "storage.path",
               .type = Type::kString,
               .default_value = "/var/lib/streamgate/media",
               .doc = "Directory for media when storage.type is local",
               .min = 1,
               .reload = Reload::kRestartDaemon},
              {.path = "storage.endpoint",
               .type = Type::kHostPort,
               .default_value = "localhost:9000",
               .doc = "The S3-compatible endpoint, host:port, when storage.type is minio or "
                      "s3",
               .reload = Reload::kRestartDaemon},
              {.path = "storage.accesskey",
               .type = Type::kString,
               .default_value = "",
               .doc = "S3 access key id. It must be set when storage.type is not local",
               .secret = true,
               .weak = {"minioadmin"},
               .reload = Reload::kRestartDaemon},
              {.path = "storage.secretkey",
               .type = Type::kString,
               .default_value = "",
               .doc = "S3 secret key. It must be set when storage.type is not local",
               .secret = true,
               .weak = {"minioadmin"},
               .reload = Reload::kRestartDaemon},
              {.path = "storage.bucket",
               .type = Type::kString,
               .default_value = "streamgate",
               .doc = "S3 bucket",
               .min = 3,
               .max = 63,
               .reload = Reload::kRestartDaemon},
              {.path = "storage.region",
               .type = Type::kString,
               .default_value = "us-east-1",
               .doc = "S3 region",
               .min = 1,
               .reload = Reload::kRestartDaemon},
          }};
}

SectionSpec NatsSection() {
  return {.name = "nats",
          .title = "the event bus of microservice mode",
          .doc =
              "In microservice mode the services talk over a NATS server that the operator "
              "runs; see MICROSERVICE MODE in streamgated(8). A monolith does not use this "
              "section, though it is checked all the same. Each process reads it when it "
              "starts",
          .keys = {
              {.path = "nats.url",
               .type = Type::kUrl,
               .default_value = "nats://localhost:4222",
               .doc = "NATS server URL. A password in it is masked as '***' by 'streamgate "
                      "config show'; prefer nats.password or nats.token",
               .min = 1,
               .choices = {"nats", "tls"},
               .reload = Reload::kRestartDaemon},
              {.path = "nats.urls",
               .type = Type::kStringList,
               .default_value = "[]",
               .doc = "More servers of the same NATS cluster, tried after nats.url, such as "
                      "'[nats://nats2:4222, nats://nats3:4222]'. Each item is checked as "
                      "nats.url is: a URL with the scheme 'nats' or 'tls'. A password in "
                      "these URLs is not masked by 'streamgate config show': use "
                      "nats.password or nats.token instead",
               .reload = Reload::kRestartDaemon},
              {.path = "nats.user",
               .type = Type::kString,
               .default_value = "",
               .doc = "NATS user name; empty for none. It needs nats.password",
               .reload = Reload::kRestartDaemon},
              {.path = "nats.password",
               .type = Type::kString,
               .default_value = "",
               .doc = "The password of nats.user",
               .secret = true,
               .reload = Reload::kRestartDaemon},
              {.path = "nats.token",
               .type = Type::kString,
               .default_value = "",
               .doc = "NATS authentication token, instead of a user and password; empty for "
                      "none",
               .secret = true,
               .reload = Reload::kRestartDaemon},
              {.path = "nats.tls_ca",
               .type = Type::kString,
               .default_value = "",
               .doc = "CA certificate file, in PEM, that signed the servers' certificates; "
                      "empty for no TLS. Setting it turns TLS on, and the servers must then "
                      "offer TLS",
               .reload = Reload::kRestartDaemon},
              {.path = "nats.tls_cert",
               .type = Type::kString,
               .default_value = "",
               .doc = "Client certificate file, in PEM, for servers that verify their "
                      "clients. It needs nats.tls_key and nats.tls_ca",
               .reload = Reload::kRestartDaemon},
              {.path = "nats.tls_key",
               .type = Type::kString,
               .default_value = "",
               .doc = "The private key file of nats.tls_cert. It needs nats.tls_cert",
               .reload = Reload::kRestartDaemon},
              {.path = "nats.subject_prefix",
               .type = Type::kString,
               .default_value = "streamgate",
               .doc = "Every subject is put under this prefix and a dot, so that several "
                      "deployments can share a NATS server: with the default, the "
                      "heartbeats of the cache service go on 'streamgate.heartbeat.cache'. "
                      "It is not checked as a NATS subject: keep to letters, digits, '-' "
                      "and '_', with dots between tokens",
               .min = 1,
               .max = 64,
               .reload = Reload::kRestartDaemon},
              {.path = "nats.reconnect_wait",
               .type = Type::kDuration,
               .default_value = "1s",
               .doc = "Pause after each round of reconnect attempts over the servers, with "
                      "a small random jitter added (up to 100ms, 1s with TLS)",
               .min = 10,
               .max = 60 * kSecond,
               .reload = Reload::kRestartDaemon},
              {.path = "nats.max_reconnects",
               .type = Type::kInt,
               .default_value = "-1",
               .doc = "Reconnect attempts before giving up, after which the connection "
                      "stays closed until the process is restarted; -1 never gives up",
               .min = -1,
               .max = 1000000,
               .reload = Reload::kRestartDaemon},
              {.path = "nats.reconnect_buffer",
               .type = Type::kSize,
               .default_value = "8MiB",
               .doc = "How much of what a process publishes while disconnected is kept, and "
                      "sent on reconnect; past it, publishing fails. 0 means the library's "
                      "default, 8MiB",
               .min = 0,
               .max = 1024 * kMiB,
               .reload = Reload::kRestartDaemon},
              {.path = "nats.request_timeout",
               .type = Type::kDuration,
               .default_value = "2s",
               .doc = "Longest a call to another service over NATS, such as a cache call, "
                      "waits for its answer before it fails with a timeout",
               .min = 1,
               .max = 60 * kSecond,
               .reload = Reload::kRestartDaemon},
              {.path = "nats.heartbeat_interval",
               .type = Type::kDuration,
               .default_value = "2s",
               .doc = "How often each service announces itself on the bus. An instance not "
                      "heard from for more than two intervals is no longer alive, and the "
                      "deployment is degraded until it comes back or another instance of "
                      "its service runs",
               .min = 50,
               .max = 60 * kSecond,
               .reload = Reload::kRestartDaemon},
          }};
}

SectionSpec Web3Section() {
  return {.name = "web3",
          .title = "chain access for the auth plugin",
          .doc =
              "The auth plugin asks an Ethereum JSON-RPC node (eth_call only: it never sends "
              "a transaction) whether a signed-in wallet holds the gate's token before it "
              "hands out a gated video's playback URL, and whether a contract wallet "
              "(EIP-1271) accepts a Sign-In with Ethereum signature. With no RPC URL, gated "
              "videos play for their owner and the operator only. Read when the auth plugin "
              "starts",
          .keys = {
              {.path = "web3.ethereum_rpc",
               .type = Type::kUrl,
               .default_value = "",
               .doc = "Ethereum JSON-RPC URL (http or https; the auth plugin cannot use ws or "
                      "wss). Its path often holds an API key, so the whole value is a secret: "
                      "logs and errors name its host only",
               .choices = {"http", "https", "ws", "wss"},
               .secret = true,
               .reload = Reload::kRestartPlugin},
              {.path = "web3.rpc_fallbacks",
               .type = Type::kStringList,
               .default_value = "[]",
               .doc = "More JSON-RPC URLs of the same chain, tried in turn after "
                      "web3.ethereum_rpc when it cannot be reached, answers with an HTTP status "
                      "other than 200, or with a JSON-RPC error. Each item is checked as "
                      "web3.ethereum_rpc is. These URLs are not masked by 'streamgate config "
                      "show'",
               .reload = Reload::kRestartPlugin},
              {.path = "web3.rpc_timeout",
               .type = Type::kDuration,
               .default_value = "3s",
               .doc = "How long one JSON-RPC call to one URL may take, connection included, "
                      "before the next URL is tried",
               .min = 100,
               .max = 60 * kSecond,
               .reload = Reload::kRestartPlugin},
              {.path = "web3.solana_rpc",
               .type = Type::kUrl,
               .default_value = "",
               .doc = "Solana JSON-RPC URL. Not used in this release",
               .choices = {"http", "https", "ws", "wss"},
               .secret = true},
              {.path = "web3.chain_id",
               .type = Type::kInt,
               .default_value = "1",
               .doc = "EVM chain id: 1 for mainnet, 11155111 for Sepolia. A Sign-In with "
                      "Ethereum message for another chain is refused",
               .min = 1,
               .max = 4294967295LL,
               .reload = Reload::kRestartPlugin},
              {.path = "web3.gate_contract",
               .type = Type::kString,
               .default_value = "",
               .doc = "The gate of gated videos: the address (0x and 40 hex digits) of an "
                      "ERC-721 or ERC-1155 contract on web3.chain_id. A signed-in wallet whose "
                      "balance there is above zero may play them. Empty: no gate, and gated "
                      "videos play for their owner and the operator only",
               .reload = Reload::kRestartPlugin},
              {.path = "web3.gate_standard",
               .type = Type::kEnum,
               .default_value = "erc721",
               .doc = "The standard of web3.gate_contract: 'erc721' asks balanceOf(owner), "
                      "'erc1155' balanceOf(owner, web3.gate_token_id)",
               .choices = {"erc721", "erc1155"},
               .reload = Reload::kRestartPlugin},
              {.path = "web3.gate_token_id",
               .type = Type::kString,
               .default_value = "0",
               .doc = "For an ERC-1155 gate, the token id (decimal) a wallet must hold",
               .min = 1,
               .reload = Reload::kRestartPlugin},
              {.path = "web3.ownership_ttl",
               .type = Type::kDuration,
               .default_value = "60s",
               .doc = "How long the chain's answer to whether a wallet holds the gate's token "
                      "is kept, per contract and wallet: a token sold goes on playing for its "
                      "old holder this long at most. Errors are never kept: a chain that cannot "
                      "be reached refuses playback (503), it never allows it",
               .min = 0,
               .max = 24 * 3600 * kSecond,
               .reload = Reload::kRestartPlugin},
          }};
}

}  // namespace sg::config
