#include "daemon/plugin_api/nats_connection.h"

#include <mutex>

#include <fmt/format.h>

namespace sg {

void OpenNatsLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { nats_Open(0); });
}
namespace {

// "nats://user:secret@host:4222" -> "nats://user:***@host:4222": messages and logs must not
// carry a password.
std::string Redacted(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t at = url.find('@', start);
  if (at == std::string::npos) return url;
  const size_t colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace

NatsConnection NatsConnectionFrom(const config::Config& config) {
  NatsConnection c;
  c.urls.push_back(config.String("nats.url"));
  for (const auto& u : config.List("nats.urls")) c.urls.push_back(u);
  c.user = config.String("nats.user");
  c.password = config.String("nats.password");
  c.token = config.String("nats.token");
  c.tls_ca = config.String("nats.tls_ca");
  c.tls_cert = config.String("nats.tls_cert");
  c.tls_key = config.String("nats.tls_key");
  return c;
}

Result<void> ApplyNatsConnection(natsOptions* opts, const NatsConnection& connection) {
  auto fail = [](natsStatus s, const std::string& what) -> Error {
    return Fail(ErrorCode::kConfig, fmt::format("nats: {}: {}", what, natsStatus_GetText(s)));
  };
  if (connection.urls.empty()) {
    return Fail(ErrorCode::kConfig, "nats: no server: set nats.url");
  }
  std::vector<const char*> urls;
  urls.reserve(connection.urls.size());
  for (const auto& u : connection.urls) urls.push_back(u.c_str());
  natsStatus s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  if (s != NATS_OK) return fail(s, "servers (nats.url, nats.urls) " + NatsServers(connection));
  if (!connection.user.empty()) {
    s = natsOptions_SetUserInfo(opts, connection.user.c_str(), connection.password.c_str());
  }
  if (s == NATS_OK && !connection.token.empty()) {
    s = natsOptions_SetToken(opts, connection.token.c_str());
  }
  if (s != NATS_OK) return fail(s, "credentials (nats.user, nats.password, nats.token)");
  if (!connection.tls_ca.empty()) {
    s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(opts, connection.tls_ca.c_str());
    if (s == NATS_OK && !connection.tls_cert.empty()) {
      s = natsOptions_LoadCertificatesChain(opts, connection.tls_cert.c_str(),
                                            connection.tls_key.c_str());
    }
    if (s != NATS_OK) return fail(s, "tls (nats.tls_ca, nats.tls_cert, nats.tls_key)");
  }
  return {};
}

std::string NatsServers(const NatsConnection& connection) {
  std::string out;
  for (const auto& u : connection.urls) {
    if (!out.empty()) out += ",";
    out += Redacted(u);
  }
  return out;
}

}  // namespace sg
