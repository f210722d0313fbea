// What a session hands an asynchronous handler (AsyncExchange, an HttpResponder) and the channel
// of a streamed response (StreamChannel, an HttpStream): the thread-safe meeting point between a
// plugin's threads and the session's I/O thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "daemon/plugin_api/http.h"

namespace sg::http {

/// The stream a handler writes to: a queue the session's I/O thread drains.
class StreamChannel final : public HttpStream {
 public:
  static constexpr size_t kMaxQueued = size_t{1} << 20;
  using Kick = std::function<void()>;  // wakes the session's writer on its I/O thread
  explicit StreamChannel(Kick kick) : kick_(std::move(kick)) {}
  bool Write(std::string data) override;
  void End() override;
  bool ClientGone() const override { return gone_.load(); }
  /// The session's side: everything queued, and whether the handler ended the stream.
  std::string Take(bool& ended);
  void MarkGone();

 private:
  std::mutex mu_;
  std::string queued_;  // guarded by mu_
  bool ended_ = false;  // guarded by mu_
  std::atomic<bool> gone_{false};
  Kick kick_;
};

/// The responder a session hands an asynchronous handler: Send from any thread delivers the
/// answer to the session's I/O thread; the session marks it gone when the client leaves or the
/// deadline passes.
class AsyncExchange final : public HttpResponder {
 public:
  using Deliver = std::function<void(HttpResponse)>;
  /// Hands a started stream (its head and channel) to the session.
  using DeliverStream = std::function<void(HttpResponse, std::shared_ptr<StreamChannel>,
                                           std::chrono::milliseconds heartbeat)>;
  AsyncExchange(Deliver deliver, DeliverStream deliver_stream,
                std::function<std::shared_ptr<StreamChannel>()> make_channel,
                boost::asio::any_io_executor executor = {})
      : deliver_(std::move(deliver)),
        deliver_stream_(std::move(deliver_stream)),
        make_channel_(std::move(make_channel)),
        executor_(std::move(executor)) {}
  void Send(HttpResponse response) override;
  std::shared_ptr<HttpStream> StartStream(HttpResponse head,
                                          std::chrono::milliseconds heartbeat) override;
  bool ClientGone() const override { return gone_.load(); }
  void OnClientGone(std::function<void()> fn) override;
  boost::asio::any_io_executor executor() const override { return executor_; }
  /// The session's side, on its I/O thread: the answer can no longer be delivered.
  void MarkGone();

 private:
  std::mutex mu_;
  std::atomic<bool> sent_{false};
  std::atomic<bool> gone_{false};
  Deliver deliver_;               // guarded by mu_
  DeliverStream deliver_stream_;  // guarded by mu_
  std::function<std::shared_ptr<StreamChannel>()> make_channel_;
  std::vector<std::function<void()>> on_gone_;   // guarded by mu_
  const boost::asio::any_io_executor executor_;  // the session's I/O thread
};

/// The body reader a session hands a streaming handler: Read from any thread asks the session's
/// I/O thread for the next piece; the session answers each ask once.
class BodyPump final : public HttpBodyReader {
 public:
  using Kick = std::function<void()>;  // wakes the session's body reader on its I/O thread
  BodyPump(std::optional<uint64_t> content_length, Kick kick)
      : content_length_(content_length), kick_(std::move(kick)) {}
  std::optional<uint64_t> ContentLength() const override { return content_length_; }
  void Read(ChunkFn fn) override;
  /// The session's side: the pending ask, if any.
  ChunkFn Take();
  /// The session's side: nothing more will be read; a pending ask and every later one fail
  /// with `error`.
  void Finish(Error error);

 private:
  const std::optional<uint64_t> content_length_;
  std::mutex mu_;
  ChunkFn pending_;                // guarded by mu_
  std::optional<Error> finished_;  // guarded by mu_
  Kick kick_;
};

}  // namespace sg::http
