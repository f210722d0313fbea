// ControlServer's request queue: requests read from the ROUTER socket wait per peer, are handed
// to the workers in turn (small ones first, a share per peer), and their replies are sent as the
// peers take them.
#include <algorithm>

#include <boost/asio/post.hpp>
#include <zmq_addon.hpp>

#include "common/control_protocol.h"
#include "daemon/control/control_server_impl.h"

namespace sg::control {

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
      logger->warn(
          log::With("Dropping control requests of a client that does not read its "
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

}  // namespace sg::control
