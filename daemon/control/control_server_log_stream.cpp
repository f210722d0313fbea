// ControlServer's log stream: records from the ring are queued while anyone reads the XPUB
// socket and published from the loop thread; each new reader gets a hello with the next sequence.
#include "common/control_protocol.h"
#include "daemon/control/control_server_impl.h"

namespace sg::control {
namespace {

// Records waiting for the loop thread; past this the oldest are dropped and counted.
constexpr size_t kMaxQueuedRecords = 10000;

}  // namespace

void ControlServer::Impl::StartLogListener() {
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
        logger->warn(
            "Disconnected a log reader that subscribed to a prefix; readers subscribe "
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

}  // namespace sg::control
