#include "daemon/control/control_server.h"

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/control_protocol.h"
#include "common/curve_keys.h"
#include "common/fd_limits.h"
#include "daemon/control/accept_guard.h"

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

  void Wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(wake_fd, &one, sizeof one);
  }

  struct Outgoing {
    std::vector<std::string> envelope;  // routing id, and an empty delimiter for REQ peers
    std::string reply;
  };
  struct Job {
    std::vector<std::string> envelope;
    std::string frame;
  };
  // What the daemon holds for one peer, by routing id. Loop thread only.
  struct Peer {
    std::deque<Job> waiting;  // requests not yet given to a worker
    size_t waiting_bytes = 0;
    int running = 0;             // requests at the workers
    std::deque<Outgoing> unsent;  // replies ZeroMQ could not take yet: the peer is not reading
    size_t unsent_bytes = 0;
    bool in_turn = false;  // listed in `turns`
    bool held = false;     // left out of `turns` for having its share of the workers running
    bool warned = false;   // dropped-request warning logged
  };

  Result<void> Bind();
  Result<void> Monitor(zmq::socket_t& socket, zmq::socket_t& monitor, const char* name);
  void Run();
  void OnRequest();
  void Enqueue(const std::string& routing_id, Peer& peer, Outgoing out, bool counted);
  void TakeReplies();
  void SendUnsent();
  void Dispatch();
  void Forget(const std::string& routing_id);
  void Flush();
  void OnSubscription();
  void OnZap();
  void OnMonitor(zmq::socket_t& monitor);
  bool OurConnection(int fd) const;

  const ServerSettings settings;
  Dispatcher& dispatcher;
  log::LogHub& logs;
  std::shared_ptr<spdlog::logger> logger;
  std::string endpoint;
  std::string log_endpoint;
  size_t max_connections = 0;
  bool guarded = false;  // GuardAccepts called for both endpoints

  zmq::context_t context{1};
  zmq::socket_t router{context, zmq::socket_type::router};
  zmq::socket_t xpub{context, zmq::socket_type::xpub};
  zmq::socket_t router_monitor{context, zmq::socket_type::pair};
  zmq::socket_t xpub_monitor{context, zmq::socket_type::pair};
  std::unique_ptr<zmq::socket_t> zap;  // set when CURVE is on
  std::set<std::string> authorized;    // binary client public keys
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::thread loop;
  boost::asio::thread_pool workers;
  std::atomic<int> subscribers{0};  // log stream readers, from XPUB's (un)subscribe messages
  int listener = 0;

  // Loop thread only.
  std::map<std::string, Peer> peers;
  std::deque<std::string> turns;  // peers with waiting requests, served round robin
  int running = 0;                // requests at the workers, at most settings.workers
  int large_running = 0;          // of those, the ones over kSmallRequestBytes
  size_t all_waiting_bytes = 0;
  size_t unsent_peers = 0;       // peers with unsent replies: retried every few milliseconds
  std::set<int> connections;     // descriptors of accepted connections, both sockets
  std::set<int> refused;         // of those, the ones being closed for being over the limit
  std::chrono::steady_clock::time_point last_refusal_log{};
  uint64_t refusals = 0;           // over max_connections
  uint64_t reported_refusals = 0;  // refusals of both kinds in the last warning

  std::mutex mu;
  struct Done {
    std::string routing_id;
    bool large = false;  // over kSmallRequestBytes
    Outgoing out;
  };
  std::deque<Done> done;            // guarded by mu: replies from the workers
  std::deque<log::Record> records;  // guarded by mu
  uint64_t records_dropped = 0;     // guarded by mu
};

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
      {router_monitor.handle(), 0, ZMQ_POLLIN, 0}, {xpub_monitor.handle(), 0, ZMQ_POLLIN, 0},
      {router.handle(), 0, ZMQ_POLLIN, 0},         {nullptr, wake_fd, ZMQ_POLLIN, 0},
      {xpub.handle(), 0, ZMQ_POLLIN, 0},
  };
  if (zap) items.push_back({zap->handle(), 0, ZMQ_POLLIN, 0});
  while (!stopping) {
    try {
      // Replies a peer could not take yet are retried every few milliseconds.
      const auto timeout = unsent_peers > 0 ? std::chrono::milliseconds(5)
                                             : std::chrono::milliseconds(-1);
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

void ControlServer::Impl::OnRequest() {
  // Drain what is there, a bounded batch at a time; each message is [routing id] ([empty])
  // [request]. ROUTER reads its peers in turn, so one busy peer does not starve the others.
  // The batch also ends after a couple of milliseconds, so that replies and new work are not
  // held up behind a flood of large frames.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
  for (int budget = 0; budget < 1000 && std::chrono::steady_clock::now() < until; ++budget) {
    std::vector<zmq::message_t> frames;
    auto got = zmq::recv_multipart(router, std::back_inserter(frames), zmq::recv_flags::dontwait);
    if (!got) return;
    const std::string routing_id = frames[0].to_string();
    Peer& peer = peers[routing_id];
    Outgoing out;
    out.envelope.push_back(routing_id);
    size_t body = 1;
    if (frames.size() == 3 && frames[1].size() == 0) {
      out.envelope.emplace_back();
      body = 2;
    }
    if (frames.size() != body + 1) {
      const std::string id =
          frames.size() > body ? PeekRequestId(frames[body].to_string_view()) : std::string();
      out.reply = EncodeError(id, kBadRequest, "a request is one frame of JSON");
      Enqueue(routing_id, peer, std::move(out), false);
      continue;
    }
    const size_t size = frames[body].size();
    if (peer.waiting.size() >= kMaxWaitingRequests ||
        peer.waiting_bytes + size > kMaxWaitingBytes ||
        all_waiting_bytes + size > kMaxAllWaitingBytes) {
      out.reply = EncodeError(PeekRequestId(frames[body].to_string_view()), kBusy,
                              "the daemon is handling too many control requests; retry");
      Enqueue(routing_id, peer, std::move(out), false);
      continue;
    }
    peer.waiting.push_back(Job{std::move(out.envelope), frames[body].to_string()});
    peer.waiting_bytes += size;
    all_waiting_bytes += size;
    if (!peer.in_turn) {
      peer.in_turn = true;
      turns.push_back(routing_id);
    }
  }
}

// Queues a reply for a peer. One the daemon answered itself (`counted` false: busy, or a
// malformed message) is dropped when the peer already has kMaxUnreadBusyBytes unread: a peer
// that sends without ever reading cannot grow the daemon's memory.
void ControlServer::Impl::Enqueue(const std::string& routing_id, Peer& peer, Outgoing out,
                                  bool counted) {
  if (!counted && peer.unsent_bytes >= kMaxUnreadBusyBytes) {
    if (!peer.warned) {
      peer.warned = true;
      logger->warn(log::With("Dropping control requests of a client that does not read its "
                             "replies",
                             {{"unread_bytes", static_cast<int64_t>(peer.unsent_bytes)}}));
    }
    if (peer.waiting.empty() && peer.running == 0 && peer.unsent.empty()) peers.erase(routing_id);
    return;
  }
  if (peer.unsent.empty()) ++unsent_peers;
  peer.unsent_bytes += out.reply.size();
  peer.unsent.push_back(std::move(out));
}

void ControlServer::Impl::TakeReplies() {
  std::deque<Done> replies;
  {
    std::lock_guard lock(mu);
    replies.swap(done);
  }
  for (auto& d : replies) {
    --running;
    if (d.large) --large_running;
    Peer& peer = peers[d.routing_id];
    --peer.running;
    if (peer.held && !peer.in_turn && !peer.waiting.empty()) {
      peer.in_turn = true;
      turns.push_back(d.routing_id);
    }
    peer.held = false;
    Enqueue(d.routing_id, peer, std::move(d.out), true);
  }
}

void ControlServer::Impl::SendUnsent() {
  if (unsent_peers == 0) return;
  for (auto it = peers.begin(); it != peers.end();) {
    Peer& peer = it->second;
    const bool had = !peer.unsent.empty();
    bool gone = false;
    while (!peer.unsent.empty()) {
      const Outgoing& o = peer.unsent.front();
      try {
        // With ROUTER_MANDATORY the first frame says whether the peer's queue has room (else
        // EAGAIN: try again later) and whether the peer is still there (else EHOSTUNREACH).
        bool sent = true;
        for (size_t i = 0; i < o.envelope.size() && sent; ++i) {
          sent = router
                     .send(zmq::buffer(o.envelope[i]),
                           zmq::send_flags::sndmore | zmq::send_flags::dontwait)
                     .has_value();
        }
        if (!sent) break;
        (void)router.send(zmq::buffer(o.reply), zmq::send_flags::dontwait);
      } catch (const zmq::error_t& e) {
        if (e.num() != EHOSTUNREACH) throw;
        gone = true;
      }
      if (gone) break;
      peer.unsent_bytes -= o.reply.size();
      peer.unsent.pop_front();
    }
    if (gone) {
      // The peer went away: what it asked for is no use to anyone.
      all_waiting_bytes -= peer.waiting_bytes;
      peer.waiting.clear();
      peer.waiting_bytes = 0;
      peer.unsent.clear();
      peer.unsent_bytes = 0;
    }
    if (had && peer.unsent.empty()) --unsent_peers;
    if (peer.unsent_bytes < kMaxUnreadBytes && !peer.waiting.empty() && !peer.in_turn) {
      peer.in_turn = true;
      turns.push_back(it->first);
    }
    if (peer.waiting.empty() && peer.running == 0 && peer.unsent.empty()) {
      it = peers.erase(it);
    } else {
      ++it;
    }
  }
}

void ControlServer::Impl::Dispatch() {
  const int large_workers = std::max(1, settings.workers - 1);
  while (running < settings.workers && !turns.empty()) {
    // Leave out the peers that cannot go now: one that does not read its replies waits until it
    // does (SendUnsent puts it back), one that has its share of the workers waits for one of its
    // requests to end (TakeReplies puts it back), so others always find a worker soon.
    std::erase_if(turns, [&](const std::string& routing_id) {
      auto it = peers.find(routing_id);
      if (it == peers.end()) return true;
      Peer& peer = it->second;
      if (!peer.waiting.empty() && peer.unsent_bytes < kMaxUnreadBytes &&
          peer.running < kMaxRunningPerPeer) {
        return false;
      }
      peer.in_turn = false;
      peer.held = peer.running >= kMaxRunningPerPeer;
      return true;
    });
    // Small requests go first, and large ones never take the last worker: a command such as
    // status is handled at once however many large frames wait.
    auto small = [&](const std::string& routing_id) {
      return peers[routing_id].waiting.front().frame.size() <= kSmallRequestBytes;
    };
    auto pick = std::find_if(turns.begin(), turns.end(), small);
    if (pick == turns.end() && !turns.empty() && large_running < large_workers) {
      pick = turns.begin();
    }
    if (pick == turns.end()) return;
    const std::string routing_id = std::move(*pick);
    turns.erase(pick);
    Peer& peer = peers[routing_id];
    peer.in_turn = false;
    Job job = std::move(peer.waiting.front());
    peer.waiting.pop_front();
    peer.waiting_bytes -= job.frame.size();
    all_waiting_bytes -= job.frame.size();
    const bool large = job.frame.size() > kSmallRequestBytes;
    ++peer.running;
    ++running;
    if (large) ++large_running;
    if (!peer.waiting.empty()) {
      peer.in_turn = true;
      turns.push_back(routing_id);
    }
    boost::asio::post(workers, [this, routing_id, large, job = std::move(job)]() mutable {
      Done d{routing_id, large, Outgoing{std::move(job.envelope), dispatcher.Handle(job.frame)}};
      if (logger->should_log(spdlog::level::debug)) {
        logger->debug(
            log::With("Control request", {{"bytes", static_cast<int64_t>(job.frame.size())}}));
      }
      {
        std::lock_guard lock(mu);
        done.push_back(std::move(d));
      }
      Wake();
    });
  }
}

void ControlServer::Impl::Flush() {
  std::deque<log::Record> recs;
  uint64_t dropped = 0;
  {
    std::lock_guard lock(mu);
    recs.swap(records);
    std::swap(dropped, records_dropped);
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

// Counts connections from the monitors' ACCEPTED and DISCONNECTED events, which carry the
// descriptor; one accepted over the limit is shut down at once, and libzmq then closes it.
void ControlServer::Impl::OnMonitor(zmq::socket_t& monitor) {
  for (int budget = 0; budget < 10000; ++budget) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(monitor, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      break;
    }
    if (frames.empty() || frames[0].size() < 6) continue;
    uint16_t event = 0;
    uint32_t value = 0;
    std::memcpy(&event, frames[0].data(), sizeof event);
    std::memcpy(&value, static_cast<const char*>(frames[0].data()) + 2, sizeof value);
    const int fd = static_cast<int>(value);
    if (event == ZMQ_EVENT_DISCONNECTED) {
      connections.erase(fd);
      refused.erase(fd);
      continue;
    }
    if (event != ZMQ_EVENT_ACCEPTED) continue;
    connections.insert(fd);
    if (connections.size() <= max_connections) continue;
    // Only a descriptor that is still a connection to one of our endpoints: by the time the
    // event is read, a closed one's number may be in use again.
    if (refused.insert(fd).second && OurConnection(fd)) (void)shutdown(fd, SHUT_RDWR);
    ++refusals;
  }
  // At most one warning every 10 seconds, with the totals so far.
  const uint64_t total = refusals + AcceptsRefusedForDescriptors();
  const auto now = std::chrono::steady_clock::now();
  if (total > reported_refusals && now - last_refusal_log >= std::chrono::seconds(10)) {
    last_refusal_log = now;
    reported_refusals = total;
    logger->warn(log::With("Refused control connections over the limit",
                           {{"limit", static_cast<int64_t>(max_connections)},
                            {"refused", static_cast<int64_t>(refusals)},
                            {"out_of_descriptors",
                             static_cast<int64_t>(AcceptsRefusedForDescriptors())}}));
  }
}

bool ControlServer::Impl::OurConnection(int fd) const {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  return BoundTo(fd, endpoint) || BoundTo(fd, log_endpoint);
}

void ControlServer::Impl::OnSubscription() {
  for (;;) {
    zmq::message_t message;
    if (!xpub.recv(message, zmq::recv_flags::dontwait)) return;
    if (message.size() == 0) continue;
    const bool subscribe = *message.data<uint8_t>() == 1;
    if (message.size() > 1) {
      // Readers subscribe to everything. Any other prefix would be kept by libzmq for as long as
      // the reader stays, however many it sends: such a reader is disconnected.
      const int fd = zmq_msg_get(message.handle(), ZMQ_SRCFD);
      if (subscribe && fd >= 0 && OurConnection(fd)) {
        (void)shutdown(fd, SHUT_RDWR);
        logger->warn("Disconnected a log reader that subscribed to a prefix; readers subscribe "
                     "to everything");
      }
      continue;
    }
    if (!subscribe) {  // an unsubscribe, or a reader gone
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
