#include "daemon/http/server.h"

#include <future>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fd_limits.h"
#include "common/logging.h"

namespace sg::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Worker = Generation::Worker;
using Session = BasicSession<TcpStream>;

namespace {

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

Result<asio::ip::address> Resolve(const std::string& host) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return address;
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty()) {
    return Fail(ErrorCode::kIo,
                fmt::format("resolve {}: {}", host, ec ? ec.message() : "no address"));
  }
  return results.begin()->endpoint().address();
}

// A plain bind (no SO_REUSEPORT): fails when any other socket holds the address.
Result<void> ProbeBind(const std::string& host, const asio::ip::address& address, uint16_t port) {
  asio::io_context io;
  tcp::acceptor probe(io);
  beast::error_code ec;
  const tcp::endpoint endpoint(address, port);
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("listen {}:{}: {}", host, port, ec.message()));
  return {};
}

struct AcceptContext {
  Worker* worker;
  tcp::acceptor* acceptor;
  Generation* generation;
  SessionEnv env;
  std::atomic<uint64_t>* total;
  std::atomic<uint64_t>* limit;
};

void DoAccept(AcceptContext c) {
  c.acceptor->async_accept(c.worker->io, [c](beast::error_code ec, TcpSocket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      if (!c.acceptor->is_open()) return;
      // Out of descriptors, say: back off a little rather than spin.
      c.env.rejects->Add(RejectReason::kAcceptFailed);
      if (c.worker->ShouldWarn("accept", RejectReason::kAcceptFailed)) {
        c.env.logger->warn(
            log::With("Accept failed; retrying in 50 ms",
                      {{"error", ec.message()},
                       {"hint",
                        "raise the descriptor limit (LimitNOFILE=, ulimit -n) or lower "
                        "server.max_connections"}}));
      }
      auto timer =
          std::make_unique<asio::steady_timer>(c.worker->io, std::chrono::milliseconds(50));
      timer->async_wait([c](beast::error_code wait_ec) {
        if (!wait_ec) DoAccept(c);
      });
      c.worker->retries.push_back(std::move(timer));
      if (c.worker->retries.size() > 16) c.worker->retries.erase(c.worker->retries.begin());
      return;
    }
    const auto settings = c.generation->Settings();
    if (c.total->load() >= std::min<uint64_t>(settings->max_connections, c.limit->load())) {
      c.env.rejects->Add(RejectReason::kConnections);
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(TcpStream(std::move(socket)), *c.worker, *c.generation, c.env,
                                *c.total)
          ->Run();
    }
    // A socket accepted just before the listener was handed over is served above all the same;
    // only a listener this worker still holds accepts again.
    if (c.acceptor->is_open()) DoAccept(c);
  });
}

// Runs `fn` on each worker's thread and waits for all of them.
template <class Fn>
void OnEachWorker(Generation& generation, Fn fn) {
  std::vector<std::future<void>> done;
  for (auto& w : generation.workers) {
    auto task =
        std::make_shared<std::packaged_task<void()>>([worker = w.get(), fn] { fn(*worker); });
    done.push_back(task->get_future());
    asio::post(w->io, [task] { (*task)(); });
  }
  for (auto& f : done) f.wait();
}

// Stops a generation's listeners and drains its sessions until the deadline, then joins it.
// A shutdown closes idle keep-alive connections at once; a rebind lets them send one more
// request, answered with Connection: close, so that a client racing the reload is not cut off.
void Retire(Generation& generation, Deadline deadline, bool close_idle) {
  generation.draining = true;
  for (auto& w : generation.workers) {
    asio::post(w->io, [worker = w.get(), close_idle] {
      beast::error_code ec;
      for (auto& a : worker->acceptors) a->close(ec);
      for (auto& t : worker->retries) t->cancel();
      // Drain may close a session, which removes it from the set: iterate over a copy.
      std::vector<SessionBase*> sessions(worker->sessions.begin(), worker->sessions.end());
      for (SessionBase* s : sessions) {
        if (worker->sessions.contains(s)) s->Drain(close_idle);
      }
    });
  }
  while (generation.connections.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // in-flight requests finishing
  }
  for (auto& w : generation.workers) {
    asio::post(w->io, [worker = w.get()] {
      std::vector<SessionBase*> sessions(worker->sessions.begin(), worker->sessions.end());
      for (SessionBase* s : sessions) {
        if (worker->sessions.contains(s)) s->Close();
      }
    });
  }
  for (auto& w : generation.workers) {
    // Let the closes run, then end the loop.
    asio::post(w->io, [worker = w.get()] { worker->io.stop(); });
  }
  for (auto& w : generation.workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace

Result<void> CheckBindable(const std::string& host, uint16_t port) {
  auto address = Resolve(host);
  if (!address) return address.error();
  return ProbeBind(host, *address, port);
}

Result<void> CheckAddressChange(const ServerSettings& current, const ServerSettings& next) {
  if (next.port == 0 || (next.port == current.port && next.host == current.host)) return {};
  return CheckBindable(next.host, next.port);
}

HttpServer::HttpServer(RouteTable& routes, std::shared_ptr<spdlog::logger> logger,
                       std::shared_ptr<log::AccessLog> access_log)
    : routes_(routes), logger_(std::move(logger)), access_log_(std::move(access_log)) {}

HttpServer::~HttpServer() { Stop(Clock::now()); }

bool HttpServer::running() const { return port_.load() != 0; }

void HttpServer::UpdateConnectionLimit(const ServerSettings& settings) {
  const uint64_t budget = HttpConnectionBudget(CurrentDescriptorLimit());
  connection_limit_ = std::min<uint64_t>(settings.max_connections, budget);
  if (budget < settings.max_connections) {
    const auto limit = CurrentDescriptorLimit();
    logger_->warn(log::With(
        "server.max_connections is more than the descriptor limit leaves room for",
        {{"max_connections", static_cast<int64_t>(settings.max_connections)},
         {"descriptor_limit", static_cast<int64_t>(limit.soft)},
         {"reserved", static_cast<int64_t>(kReservedDescriptors + CachedFileBudget(limit))},
         {"serving_at_most", static_cast<int64_t>(budget)},
         {"hint", fmt::format("raise LimitNOFILE= (ulimit -n) to at least {}, or lower "
                              "server.max_connections to {}",
                              DescriptorsFor(settings.max_connections), budget)}}));
  }
}

Result<void> HttpServer::Start(const std::shared_ptr<const ServerSettings>& settings) {
  return Bind(settings, true);
}

Result<void> HttpServer::Bind(const std::shared_ptr<const ServerSettings>& settings, bool exclusive,
                              std::vector<int> listeners, uint16_t bound_port) {
  auto address = Resolve(settings->host);
  if (!address) return address.error();
  auto generation = std::make_shared<Generation>();
  generation->settings = settings;
  const int threads = settings->io_threads > 0
                          ? settings->io_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Threads added beside sockets taken over listen on the port those hold, even with port 0.
  uint16_t port = bound_port != 0 ? bound_port : settings->port;
  if (port != 0 && exclusive && listeners.empty()) {
    // SO_REUSEPORT would let us share a port another process listens on, each getting part of
    // the traffic: make sure nobody does, with a plain bind first.
    if (auto free = ProbeBind(settings->host, *address, port); !free) return free;
  }
  for (int i = 0; i < threads; ++i) generation->workers.push_back(std::make_unique<Worker>());
  // Sockets handed over from the generation before keep listening: spread them over the new
  // threads (a thread may serve several), so that nothing waiting in their queues is lost.
  for (size_t i = 0; i < listeners.size(); ++i) {
    auto& worker = *generation->workers[i % generation->workers.size()];
    auto acceptor = std::make_unique<tcp::acceptor>(worker.io);
    beast::error_code ec;
    acceptor->assign(address->is_v6() ? tcp::v6() : tcp::v4(), listeners[i], ec);
    if (ec) {
      ::close(listeners[i]);
      return Fail(ErrorCode::kIo, fmt::format("take over listener: {}", ec.message()));
    }
    worker.acceptors.push_back(std::move(acceptor));
  }
  for (size_t i = listeners.size(); i < generation->workers.size(); ++i) {
    auto& worker = *generation->workers[i];
    auto acceptor = std::make_unique<tcp::acceptor>(worker.io);
    beast::error_code ec;
    const tcp::endpoint endpoint(*address, port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->set_option(ReusePort(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(4096, ec);
    if (ec) {
      return Fail(ErrorCode::kIo,
                  fmt::format("listen {}:{}: {}", settings->host, port, ec.message()));
    }
    // With port 0 the first acceptor picks the port and the others share it.
    port = acceptor->local_endpoint().port();
    worker.acceptors.push_back(std::move(acceptor));
  }
  if (port == 0 && !generation->workers.front()->acceptors.empty()) {
    port = generation->workers.front()->acceptors.front()->local_endpoint().port();
  }
  UpdateConnectionLimit(*settings);
  const SessionEnv env{&routes_, logger_.get(), access_log_.get(), &rejects_};
  for (auto& w : generation->workers) {
    for (auto& a : w->acceptors) {
      DoAccept(AcceptContext{w.get(), a.get(), generation.get(), env, &connections_,
                             &connection_limit_});
    }
    w->thread =
        std::thread([worker = w.get(), this] { RunIoLoop(worker->io, *logger_, rejects_); });
  }
  std::lock_guard lock(mu_);
  generation_ = std::move(generation);
  port_ = port;
  return {};
}

void HttpServer::BeginDrain() {
  std::lock_guard lock(mu_);
  if (generation_) generation_->draining = true;
}

void HttpServer::Stop(Deadline deadline) {
  std::shared_ptr<Generation> current;
  std::vector<std::thread> retirers;
  {
    std::lock_guard lock(mu_);
    current = std::move(generation_);
    retirers = std::move(retirers_);
    port_ = 0;
  }
  if (current) Retire(*current, deadline, true);
  for (auto& t : retirers) t.join();
}

Result<void> HttpServer::Update(const std::shared_ptr<const ServerSettings>& settings) {
  std::shared_ptr<Generation> current;
  {
    std::lock_guard lock(mu_);
    current = generation_;
  }
  if (!current) return {};
  const auto old = current->Settings();
  const bool same_address =
      old->host == settings->host && (old->port == settings->port || settings->port == 0);
  if (same_address && old->io_threads == settings->io_threads) {
    std::lock_guard lock(current->settings_mu);
    current->settings = settings;  // sessions pick it up at their next request
    UpdateConnectionLimit(*settings);
    return {};
  }
  std::vector<int> listeners;
  if (same_address) {
    // Another thread count on the same address: take the listening sockets out of the old
    // threads (their pending accepts end) and give them to the new ones. The sockets never
    // close, so connections the kernel queued meanwhile are accepted by the new threads.
    std::mutex taken_mu;
    OnEachWorker(*current, [&](Worker& worker) {
      for (auto& a : worker.acceptors) {
        beast::error_code ec;
        const int fd = a->release(ec);
        if (!ec && fd >= 0) {
          std::lock_guard lock(taken_mu);
          listeners.push_back(fd);
        }
      }
      // The released acceptors stay (closed, harmless) until the worker goes: a completion
      // already queued for one of them still refers to it.
    });
  }
  // A new address: listen there first, then let the old listeners drain in the background.
  const uint16_t bound_port = same_address ? port_.load() : 0;
  if (auto started = Bind(settings, !same_address, std::move(listeners), bound_port); !started) {
    return started;
  }
  std::lock_guard lock(mu_);
  retirers_.emplace_back(
      [current, deadline = Clock::now() + old->read_timeout + old->write_timeout] {
        Retire(*current, deadline, false);
      });
  return {};
}

std::vector<std::pair<std::string_view, uint64_t>> HttpServer::Rejections() const {
  std::vector<std::pair<std::string_view, uint64_t>> out;
  for (size_t i = 0; i < static_cast<size_t>(RejectReason::kCount); ++i) {
    out.emplace_back(RejectReasonName(static_cast<RejectReason>(i)),
                     rejects_.counts[i].load(std::memory_order_relaxed));
  }
  return out;
}

const std::vector<double>& HttpServer::LatencyBounds() const { return http::LatencyBounds(); }

std::vector<HttpRouteStats> HttpServer::Snapshot() const { return routes_.Snapshot(); }

}  // namespace sg::http
