#include "daemon/control/control_server.h"

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/control_protocol.h"
#include "common/curve_keys.h"

namespace sg::control {
namespace {

constexpr size_t kMaxQueuedRecords = 10000;

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

struct ControlServer::Impl {
  Impl(const ServerSettings& s, Dispatcher& d, log::LogHub& l)
      : settings(s),
        dispatcher(d),
        logs(l),
        logger(l.Get("control")),
        workers(static_cast<size_t>(s.workers)) {}

  ~Impl() {
    stopping = true;
    Wake();
    if (loop.joinable()) loop.join();
    if (listener != 0) logs.Ring().RemoveListener(listener);
    workers.join();
    if (wake_fd >= 0) close(wake_fd);
    for (const auto& path : {IpcPath(endpoint), IpcPath(log_endpoint)}) {
      if (!path.empty()) unlink(path.c_str());
    }
  }

  void Wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(wake_fd, &one, sizeof one);
  }

  Result<void> Bind();
  void Run();
  void OnRequest();
  void Flush();
  void OnSubscription();
  void OnZap();

  const ServerSettings settings;
  Dispatcher& dispatcher;
  log::LogHub& logs;
  std::shared_ptr<spdlog::logger> logger;
  std::string endpoint;
  std::string log_endpoint;

  zmq::context_t context{1};
  zmq::socket_t router{context, zmq::socket_type::router};
  zmq::socket_t xpub{context, zmq::socket_type::xpub};
  std::unique_ptr<zmq::socket_t> zap;  // set when CURVE is on
  std::set<std::string> authorized;    // binary client public keys
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::thread loop;
  boost::asio::thread_pool workers;
  std::atomic<int> pending{0};
  std::atomic<int> subscribers{0};  // log stream readers, from XPUB's (un)subscribe messages
  int listener = 0;

  std::mutex mu;
  struct Outgoing {
    std::vector<std::string> envelope;  // routing id, and an empty delimiter for REQ peers
    std::string reply;
  };
  std::deque<Outgoing> replies;     // guarded by mu
  std::deque<log::Record> records;  // guarded by mu
  uint64_t records_dropped = 0;     // guarded by mu
};

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
    std::ifstream in(settings.curve_authorized_keys);
    if (!in) {
      return Fail(ErrorCode::kConfig, fmt::format("control.curve_authorized_keys: cannot read {}",
                                                  settings.curve_authorized_keys));
    }
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (line.empty() || line[0] == '#') continue;
      if (line.starts_with("public-key:")) line = line.substr(11);
      line.erase(0, line.find_first_not_of(" \t"));
      uint8_t binary[32];
      if (line.size() != 40 || zmq_z85_decode(binary, line.c_str()) == nullptr) {
        return Fail(ErrorCode::kConfig, fmt::format("control.curve_authorized_keys: {}:{}: not a "
                                                    "Z85 public key",
                                                    settings.curve_authorized_keys, number));
      }
      authorized.insert(std::string(reinterpret_cast<char*>(binary), 32));
    }
    if (authorized.empty()) {
      return Fail(ErrorCode::kConfig, fmt::format("control.curve_authorized_keys: {} lists no keys",
                                                  settings.curve_authorized_keys));
    }
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
  }
  router.set(zmq::sockopt::sndhwm, 1000);
  router.set(zmq::sockopt::rcvhwm, 1000);
  xpub.set(zmq::sockopt::sndhwm, 10000);
  // Every subscribe and unsubscribe reaches us: each new reader gets a hello, and the count of
  // readers says whether records need queueing at all.
  xpub.set(zmq::sockopt::xpub_verboser, 1);
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
  listener = logs.Ring().AddListener([this](const log::Record& record) {
    // Called under the ring's lock from whichever thread logged: queue it, never block or log.
    // Nobody reading the stream costs one atomic load; a burst costs one wake-up.
    if (subscribers.load(std::memory_order_relaxed) == 0) return;
    bool was_empty = false;
    {
      std::lock_guard lock(mu);
      if (records.size() >= kMaxQueuedRecords) {
        records.pop_front();
        ++records_dropped;
      }
      was_empty = records.empty();
      records.push_back(record);
    }
    if (was_empty) Wake();
  });
  return {};
}

void ControlServer::Impl::Run() {
  std::vector<zmq::pollitem_t> items = {
      {router.handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, wake_fd, ZMQ_POLLIN, 0},
      {xpub.handle(), 0, ZMQ_POLLIN, 0},
  };
  if (zap) items.push_back({zap->handle(), 0, ZMQ_POLLIN, 0});
  while (!stopping) {
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(-1));
      if (items[0].revents & ZMQ_POLLIN) OnRequest();
      if (items[1].revents & ZMQ_POLLIN) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = read(wake_fd, &count, sizeof count);
        Flush();
      }
      if (items[2].revents & ZMQ_POLLIN) OnSubscription();
      if (zap && (items[3].revents & ZMQ_POLLIN)) OnZap();
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      logger->error(log::With("Control socket error", {{"error", e.what()}}));
    }
  }
}

void ControlServer::Impl::OnRequest() {
  // Drain what is there; each message is [routing id] ([empty]) [request].
  for (int budget = 0; budget < 1000; ++budget) {
    std::vector<zmq::message_t> frames;
    auto got = zmq::recv_multipart(router, std::back_inserter(frames), zmq::recv_flags::dontwait);
    if (!got) return;
    Outgoing out;
    out.envelope.push_back(frames[0].to_string());
    size_t body = 1;
    if (frames.size() == 3 && frames[1].size() == 0) {
      out.envelope.emplace_back();
      body = 2;
    }
    if (frames.size() != body + 1) {
      out.reply = EncodeError("", kBadRequest, "a request is one frame of JSON");
    } else if (pending >= settings.max_pending) {
      out.reply =
          EncodeError("", "busy", "the daemon is handling too many control requests; retry");
    } else {
      ++pending;
      boost::asio::post(
          workers, [this, out = std::move(out), request = frames[body].to_string()]() mutable {
            out.reply = dispatcher.Handle(request);
            if (logger->should_log(spdlog::level::debug)) {
              logger->debug(
                  log::With("Control request", {{"bytes", static_cast<int64_t>(request.size())}}));
            }
            {
              std::lock_guard lock(mu);
              replies.push_back(std::move(out));
            }
            --pending;
            Wake();
          });
      continue;
    }
    std::lock_guard lock(mu);
    replies.push_back(std::move(out));
    Wake();
  }
}

void ControlServer::Impl::Flush() {
  std::deque<Outgoing> out;
  std::deque<log::Record> recs;
  uint64_t dropped = 0;
  {
    std::lock_guard lock(mu);
    out.swap(replies);
    recs.swap(records);
    std::swap(dropped, records_dropped);
  }
  for (auto& o : out) {
    for (const auto& part : o.envelope) {
      if (!router.send(zmq::buffer(part), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
        break;
    }
    // A peer that went away is no error: ROUTER drops what it cannot route.
    (void)router.send(zmq::buffer(o.reply), zmq::send_flags::dontwait);
  }
  const std::string service = logs.options().service;
  for (const auto& r : recs) {
    // PUB drops for readers past their high-water mark; they see the gap in the sequence.
    (void)xpub.send(
        zmq::buffer(
            log::ToJson(r, service).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)),
        zmq::send_flags::dontwait);
  }
  if (dropped > 0) {
    const std::string notice = nlohmann::json{{"type", "dropped"}, {"count", dropped}}.dump();
    (void)xpub.send(zmq::buffer(notice), zmq::send_flags::dontwait);
  }
}

void ControlServer::Impl::OnSubscription() {
  for (;;) {
    zmq::message_t message;
    if (!xpub.recv(message, zmq::recv_flags::dontwait)) return;
    if (message.size() == 0) continue;
    if (*message.data<uint8_t>() == 0) {  // an unsubscribe, or a reader gone
      if (subscribers.load() > 0) --subscribers;
      continue;
    }
    ++subscribers;
    // Tell the new reader where the live stream starts, so it can join history without a gap.
    const std::string hello =
        nlohmann::json{{"type", "hello"}, {"next_seq", logs.Ring().NextSeq()}}.dump();
    (void)xpub.send(zmq::buffer(hello), zmq::send_flags::dontwait);
  }
}

void ControlServer::Impl::OnZap() {
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(*zap, std::back_inserter(frames), zmq::recv_flags::dontwait)) return;
  // version, request id, domain, address, identity, mechanism, credentials...
  std::string status = "400";
  std::string text = "client key not authorized";
  if (frames.size() >= 7 && frames[5].to_string() == "CURVE" && frames[6].size() == 32 &&
      authorized.contains(frames[6].to_string())) {
    status = "200";
    text = "OK";
  } else {
    logger->warn(log::With("Refused a control client",
                           {{"address", frames.size() > 3 ? frames[3].to_string() : ""}}));
  }
  // The request id must outlive the send: a buffer only points at it.
  const std::string request_id = frames.size() > 1 ? frames[1].to_string() : std::string();
  std::array<zmq::const_buffer, 6> reply = {zmq::str_buffer("1.0"), zmq::buffer(request_id),
                                            zmq::buffer(status),    zmq::buffer(text),
                                            zmq::str_buffer(""),    zmq::str_buffer("")};
  (void)zmq::send_multipart(*zap, reply);
}

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
