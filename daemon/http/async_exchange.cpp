#include "daemon/http/async_exchange.h"

namespace sg::http {

bool StreamChannel::Write(std::string data) {
  {
    std::lock_guard lock(mu_);
    if (gone_ || ended_ || queued_.size() + data.size() > kMaxQueued) return false;
    if (data.empty()) return true;
    queued_ += data;
  }
  kick_();
  return true;
}

void StreamChannel::End() {
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    ended_ = true;
  }
  kick_();
}

std::string StreamChannel::Take(bool& ended) {
  std::lock_guard lock(mu_);
  ended = ended_;
  return std::exchange(queued_, std::string());
}

void StreamChannel::MarkGone() { gone_ = true; }

std::shared_ptr<HttpStream> AsyncExchange::StartStream(HttpResponse head,
                                                       std::chrono::milliseconds heartbeat) {
  if (gone_ || sent_.exchange(true)) return nullptr;
  DeliverStream deliver;
  {
    std::lock_guard lock(mu_);
    deliver = std::move(deliver_stream_);
    deliver_ = nullptr;
  }
  if (!deliver) return nullptr;
  auto channel = make_channel_();
  deliver(std::move(head), channel, heartbeat);
  return channel;
}

void AsyncExchange::Send(HttpResponse response) {
  if (sent_.exchange(true)) return;
  Deliver deliver;
  {
    std::lock_guard lock(mu_);
    deliver = std::move(deliver_);
    deliver_stream_ = nullptr;
  }
  if (deliver) deliver(std::move(response));
}

void AsyncExchange::OnClientGone(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (!gone_) {
      on_gone_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void AsyncExchange::MarkGone() {
  std::vector<std::function<void()>> callbacks;
  Deliver released;
  {
    std::lock_guard lock(mu_);
    if (gone_) return;
    gone_ = true;
    callbacks.swap(on_gone_);
    released = std::move(deliver_);  // lets go of the session outside the lock
    deliver_stream_ = nullptr;
  }
  for (auto& fn : callbacks) fn();
}

void BodyPump::Read(ChunkFn fn) {
  std::unique_lock lock(mu_);
  if (!finished_ && !pending_) {
    pending_ = std::move(fn);
    lock.unlock();
    return kick_();
  }
  Error refused =
      finished_ ? *finished_
                : Error{ErrorCode::kFailedPrecondition, "a Read of this body is already pending"};
  lock.unlock();
  fn(Result<HttpBodyChunk>(std::move(refused)));
}

HttpBodyReader::ChunkFn BodyPump::Take() {
  std::lock_guard lock(mu_);
  return std::exchange(pending_, nullptr);
}

void BodyPump::Finish(Error error) {
  ChunkFn pending;
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = error;
    pending = std::exchange(pending_, nullptr);
  }
  if (pending) pending(Result<HttpBodyChunk>(std::move(error)));
}

}  // namespace sg::http
