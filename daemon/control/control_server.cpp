#include "daemon/control/control_server.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/control_protocol.h"
#include "common/curve_keys.h"
#include "common/fd_limits.h"
#include "daemon/control/accept_guard.h"
#include "daemon/control/control_server_impl.h"
#include "daemon/control/curve_auth.h"

namespace sg::control {
namespace {

std::string IpcPath(const std::string& endpoint) {
  return endpoint.starts_with("ipc://") ? endpoint.substr(6) : std::string();
}

}  // namespace

std::string LogEndpointFor(const std::string& control_endpoint) {
  if (control_endpoint.starts_with("ipc://")) {
    const std::string path = IpcPath(control_endpoint);
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    const std::string logs = base == "control.sock" ? "logs.sock" : base + ".logs";
    return "ipc://" + dir + "/" + logs;
  }
  const size_t colon = control_endpoint.rfind(':');
  const int port = std::stoi(control_endpoint.substr(colon + 1));
  return control_endpoint.substr(0, colon + 1) + std::to_string(port + 1);
}

ControlServer::Impl::~Impl() {
  stopping = true;
  Wake();
  if (loop.joinable()) loop.join();
  // libzmq's I/O thread waits while a monitor's queue is full: empty the queues, then stop the
  // monitors, so that closing the sockets cannot wait on an event nobody reads.
  for (zmq::socket_t* monitor : {&router_monitor, &xpub_monitor}) {
    zmq::message_t event;
    while (monitor->recv(event, zmq::recv_flags::dontwait)) {
    }
  }
  (void)zmq_socket_monitor(router.handle(), nullptr, 0);
  (void)zmq_socket_monitor(xpub.handle(), nullptr, 0);
  if (listener != 0) logs.Ring().RemoveListener(listener);
  workers.join();
  if (wake_fd >= 0) close(wake_fd);
  for (const auto& path : {IpcPath(endpoint), IpcPath(log_endpoint)}) {
    if (!path.empty()) unlink(path.c_str());
  }
  if (guarded) {
    UnguardAccepts(endpoint);
    UnguardAccepts(log_endpoint);
  }
}

void ControlServer::Impl::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(wake_fd, &one, sizeof one);
}

Result<void> ControlServer::Impl::Monitor(zmq::socket_t& socket, zmq::socket_t& monitor,
                                          const char* name) {
  if (zmq_socket_monitor(socket.handle(), name, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
    return Fail(ErrorCode::kIo, fmt::format("zmq_socket_monitor: {}", zmq_strerror(zmq_errno())));
  }
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(name);
  return {};
}

Result<void> ControlServer::Impl::Bind() {
  endpoint = settings.endpoint;
  log_endpoint = LogEndpointFor(endpoint);
  wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) return Fail(ErrorCode::kIo, fmt::format("eventfd: {}", std::strerror(errno)));
  const bool tcp = endpoint.starts_with("tcp://");
  if (tcp) {
    if (settings.curve_server_key.empty() || settings.curve_authorized_keys.empty()) {
      return Fail(ErrorCode::kConfig,
                  fmt::format("control endpoint {}: a tcp endpoint is served only with CURVE "
                              "encryption; set control.curve_server_key and "
                              "control.curve_authorized_keys (make them with 'streamgate keys "
                              "generate'), or use an ipc:// endpoint",
                              endpoint));
    }
    auto keys = ReadKeyFile(settings.curve_server_key);
    if (!keys) return keys.error().Wrap("control.curve_server_key");
    if (keys->secret_key.empty()) {
      return Fail(ErrorCode::kConfig, fmt::format("control.curve_server_key: {} has no secret-key "
                                                  "line; the server needs its whole key pair",
                                                  settings.curve_server_key));
    }
    auto keys_allowed = ReadAuthorizedKeys(settings.curve_authorized_keys);
    if (!keys_allowed) return keys_allowed.error();
    authorized = std::move(keys_allowed).value();
    // The ZAP handler must exist before a CURVE socket binds.
    zap = std::make_unique<zmq::socket_t>(context, zmq::socket_type::rep);
    zap->bind("inproc://zeromq.zap.01");
    for (zmq::socket_t* s : {&router, &xpub}) {
      s->set(zmq::sockopt::curve_server, 1);
      s->set(zmq::sockopt::curve_secretkey, keys->secret_key);
      s->set(zmq::sockopt::zap_domain, "streamgate");
    }
  }
  for (zmq::socket_t* s : {&router, &xpub}) {
    s->set(zmq::sockopt::linger, 0);
    s->set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
    // Connections wait in the kernel's queue rather than in descriptors of ours, and one that
    // never speaks ZMTP is closed soon.
    s->set(zmq::sockopt::backlog, 32);
    s->set(zmq::sockopt::handshake_ivl, kHandshakeMs);
  }
  router.set(zmq::sockopt::sndhwm, 1000);
  router.set(zmq::sockopt::rcvhwm, 1000);
  // The log stream receives only subscriptions, of one byte: everything.
  xpub.set(zmq::sockopt::maxmsgsize, int64_t{256});
  // A reply the peer's queue cannot take is kept and sent later, never dropped by ZeroMQ.
  router.set(zmq::sockopt::router_mandatory, 1);
  // Each accepted connection is counted, and those over the limit closed, before libzmq can run
  // out of descriptors: it aborts the process when accept() on an ipc listener fails with EMFILE.
  max_connections = settings.max_connections > 0
                        ? static_cast<size_t>(settings.max_connections)
                        : static_cast<size_t>(ControlConnectionBudget(CurrentDescriptorLimit()));
  if (auto m = Monitor(router, router_monitor, "inproc://control-monitor"); !m) return m;
  if (auto m = Monitor(xpub, xpub_monitor, "inproc://logs-monitor"); !m) return m;
  xpub.set(zmq::sockopt::sndhwm, 10000);
  // Every subscribe and unsubscribe reaches us: each new reader gets a hello, and the count of
  // readers says whether records need queueing at all.
  xpub.set(zmq::sockopt::xpub_verboser, 1);
  GuardAccepts(endpoint);
  GuardAccepts(log_endpoint);
  guarded = true;
  for (const auto& [ep, socket] : {std::pair{endpoint, &router}, std::pair{log_endpoint, &xpub}}) {
    const std::string path = IpcPath(ep);
    // We hold the endpoint's pid file, so a socket file here is left from a dead daemon.
    if (!path.empty()) unlink(path.c_str());
    try {
      socket->bind(ep);
    } catch (const zmq::error_t& e) {
      return Fail(ErrorCode::kIo, fmt::format("control socket {}: {}", ep, e.what()));
    }
    if (!path.empty() && chmod(path.c_str(), 0600) != 0) {
      return Fail(ErrorCode::kIo, fmt::format("chmod 0600 {}: {}", path, std::strerror(errno)));
    }
  }
  StartLogListener();
  return {};
}

void ControlServer::Impl::Run() {
  std::vector<zmq::pollitem_t> items = {
      {router_monitor.handle(), 0, ZMQ_POLLIN, 0}, {xpub_monitor.handle(), 0, ZMQ_POLLIN, 0},
      {router.handle(), 0, ZMQ_POLLIN, 0},         {nullptr, wake_fd, ZMQ_POLLIN, 0},
      {xpub.handle(), 0, ZMQ_POLLIN, 0},
  };
  if (zap) items.push_back({zap->handle(), 0, ZMQ_POLLIN, 0});
  while (!stopping) {
    try {
      // Replies a peer could not take yet are retried every few milliseconds.
      const auto timeout =
          unsent_peers > 0 ? std::chrono::milliseconds(5) : std::chrono::milliseconds(-1);
      zmq::poll(items.data(), items.size(), timeout);
      if (items[0].revents & ZMQ_POLLIN) OnMonitor(router_monitor);
      if (items[1].revents & ZMQ_POLLIN) OnMonitor(xpub_monitor);
      if (items[2].revents & ZMQ_POLLIN) OnRequest();
      if (items[3].revents & ZMQ_POLLIN) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = read(wake_fd, &count, sizeof count);
        TakeReplies();
        Flush();
      }
      SendUnsent();
      Dispatch();
      if (items[4].revents & ZMQ_POLLIN) OnSubscription();
      if (zap && (items[5].revents & ZMQ_POLLIN)) OnZap();
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      logger->error(log::With("Control socket error", {{"error", e.what()}}));
    }
  }
}

void ControlServer::Impl::OnZap() { AnswerZap(*zap, authorized, *logger); }

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlServer::~ControlServer() = default;

Result<std::unique_ptr<ControlServer>> ControlServer::Create(const ServerSettings& settings,
                                                             Dispatcher& dispatcher,
                                                             log::LogHub& logs) {
  auto impl = std::make_unique<Impl>(settings, dispatcher, logs);
  try {
    if (auto bound = impl->Bind(); !bound) return bound.error();
  } catch (const zmq::error_t& e) {
    return Fail(ErrorCode::kIo, fmt::format("control socket {}: {}", settings.endpoint, e.what()));
  }
  impl->loop = std::thread([raw = impl.get()] { raw->Run(); });
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

const std::string& ControlServer::endpoint() const { return impl_->endpoint; }
const std::string& ControlServer::log_endpoint() const { return impl_->log_endpoint; }

}  // namespace sg::control
