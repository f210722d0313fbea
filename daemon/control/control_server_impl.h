// The state behind ControlServer, shared by the files that implement it by concept:
// control_server.cpp (binding, the loop, CURVE), control_server_requests.cpp (the fair request
// queue and the workers), control_server_log_stream.cpp (the XPUB log stream) and
// control_server_connections.cpp (the connection limit). Private to daemon/control.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <zmq.hpp>

#include "daemon/control/control_server.h"

namespace sg::control {

struct ControlServer::Impl {
  Impl(const ServerSettings& s, Dispatcher& d, log::LogHub& l)
      : settings(s),
        dispatcher(d),
        logs(l),
        logger(l.Get("control")),
        workers(static_cast<size_t>(s.workers)) {}

  ~Impl();  // stops the loop and the workers, closes the sockets, removes the ipc files

  /// Wakes the loop thread: replies or log records are waiting. Any thread.
  void Wake();

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
    int running = 0;              // requests at the workers
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
  void StartLogListener();
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
  size_t unsent_peers = 0;    // peers with unsent replies: retried every few milliseconds
  std::set<int> connections;  // descriptors of accepted connections, both sockets
  std::set<int> refused;      // of those, the ones being closed for being over the limit
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

}  // namespace sg::control
