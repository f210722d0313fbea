// BasicSession's members for asynchronous handlers: the exchange, its deadline,
// the client leaving, and streamed (SSE) answers. Included by session.h only.
#pragma once

#include "daemon/http/session.h"

namespace sg::http {

template <class Stream>
void BasicSession<Stream>::HandleAsync(const RouteTable::Route& route, const HttpRequest& request,
                                       bool /*head*/) {
  // Many asynchronous handlers answer before they return (a playlist whose video's state is
  // known): such an answer is taken at once, with no deadline timer, close watch or post.
  auto exchange = BeginExchange(route.stats, /*watch_close=*/true, /*arm=*/false);
  BasicSession*& inline_session = InlineSession();
  BasicSession* const outer = inline_session;
  inline_session = this;
  try {
    route.async_handler(request, exchange);
  } catch (const std::exception& e) {
    FailHandler(route, *exchange, e);
  }
  inline_session = outer;
  if (inline_answer_) {
    HttpResponse response = std::move(*inline_answer_);
    inline_answer_.reset();
    return OnAsyncAnswer(std::move(response), head_request_);
  }
  if (exchange_ != nullptr) WaitForAnswer(/*watch_close=*/true);
}

template <class Stream>
void BasicSession<Stream>::FailHandler(const RouteTable::Route& route, AsyncExchange& exchange,
                                       const std::exception& e) {
  env_.logger->error(
      log::With("Route handler threw",
                {{"route", route.pattern}, {"request_id", request_id_}, {"error", e.what()}}));
  HttpResponse failed;
  failed.status = 500;
  failed.body = R"({"error":"internal error"})";
  exchange.Send(std::move(failed));
}

template <class Stream>
std::shared_ptr<AsyncExchange> BasicSession<Stream>::BeginExchange(
    std::shared_ptr<RouteStats> stats, bool watch_close, bool arm) {
  // The deadline timer and the close watch keep the session alive while it waits; the
  // exchange holds it weakly, so an exchange kept by a handler holds nothing up.
  auto weak = this->weak_from_this();
  auto executor = stream_.get_executor();
  const bool head = head_request_;
  auto exchange = std::make_shared<AsyncExchange>(
      [weak, executor, head](HttpResponse response) {
        if (auto session = weak.lock(); session && InlineSession() == session.get()) {
          session->inline_answer_ = std::move(response);  // its handler is still running here
          return;
        }
        boost::asio::post(executor, [weak, head, response = std::move(response)]() mutable {
          if (auto session = weak.lock()) session->OnAsyncAnswer(std::move(response), head);
        });
      },
      [weak, executor](HttpResponse response, std::shared_ptr<StreamChannel> channel,
                       std::chrono::milliseconds heartbeat) {
        boost::asio::post(executor, [weak, response = std::move(response),
                                     channel = std::move(channel), heartbeat]() mutable {
          if (auto session = weak.lock()) {
            session->OnStreamStart(std::move(response), std::move(channel), heartbeat);
          } else {
            channel->MarkGone();
          }
        });
      },
      [weak, executor] {
        return std::make_shared<StreamChannel>([weak, executor] {
          boost::asio::post(executor, [weak] {
            if (auto session = weak.lock()) session->PumpStream();
          });
        });
      },
      boost::asio::any_io_executor(executor));
  exchange_ = exchange;
  async_stats_ = std::move(stats);
  if (arm) WaitForAnswer(watch_close);
  return exchange;
}

template <class Stream>
void BasicSession<Stream>::WaitForAnswer(bool watch_close) {
  if (!async_timer_) {
    async_timer_ = std::make_unique<boost::asio::steady_timer>(stream_.get_executor());
  }
  exchange_armed_ = true;
  ArmDeadline();
  watching_close_ = watch_close;
  if (watch_close) {
    Ops::WatchClose(stream_, [self = this->shared_from_this()](bool gone) {
      if (gone) self->OnClientGone();
    });
  }
}

template <class Stream>
void BasicSession<Stream>::ArmDeadline() {
  async_timer_->expires_after(settings_->write_timeout);
  async_timer_->async_wait(
      [self = this->shared_from_this(), head = head_request_](boost::beast::error_code ec) {
        if (!ec) self->OnAsyncDeadline(head);
      });
}

template <class Stream>
std::shared_ptr<AsyncExchange> BasicSession<Stream>::EndExchange() {
  auto exchange = std::move(exchange_);
  if (exchange && exchange_armed_) {
    if (async_timer_) async_timer_->cancel();
    Ops::CancelWatch(stream_);
  }
  exchange_armed_ = false;
  return exchange;
}

template <class Stream>
void BasicSession<Stream>::OnStreamStart(HttpResponse response,
                                         std::shared_ptr<StreamChannel> channel,
                                         std::chrono::milliseconds heartbeat) {
  auto exchange = EndExchange();
  if (!exchange) return channel->MarkGone();
  FinishBody({ErrorCode::kFailedPrecondition, "the response was already started"});
  stream_exchange_ = std::move(exchange);
  channel_ = std::move(channel);
  heartbeat_ = heartbeat;
  stats_ = std::move(async_stats_);
  status_ = response.status;
  close_after_ = CloseAfter();
  if (cors_) AddCorsHeaders(*cors_, response.headers);
  response.headers.emplace_back("Transfer-Encoding", "chunked");
  response.headers.emplace_back("Cache-Control", "no-cache");
  ResponseHead::Build(head_, response.status, request_id_, response.content_type, response.headers,
                      std::nullopt, close_after_);
  body_bytes_ = 0;
  writing_ = true;
  Ops::ExpireAfter(stream_, settings_->write_timeout);
  boost::asio::async_write(stream_, boost::asio::buffer(head_),
                           [self = this->shared_from_this()](boost::beast::error_code ec, size_t) {
                             self->writing_ = false;
                             if (ec) return self->OnStreamGone();
                             Ops::WatchClose(self->stream_, [self](bool gone) {
                               if (gone) self->OnStreamGone();
                             });
                             self->PumpStream();
                           });
}

template <class Stream>
void BasicSession<Stream>::PumpStream() {
  if (!channel_ || writing_) return;
  bool ended = false;
  std::string data = channel_->Take(ended);
  if (data.empty() && !ended) return ArmHeartbeat();
  if (heartbeat_timer_) heartbeat_timer_->cancel();
  chunk_.clear();
  if (!data.empty()) {
    chunk_ = fmt::format("{:x}\r\n", data.size());
    chunk_ += data;
    chunk_ += "\r\n";
    body_bytes_ += data.size();
  }
  const bool last = ended;  // End refuses further writes: nothing can follow
  if (last) chunk_ += "0\r\n\r\n";
  writing_ = true;
  Ops::ExpireAfter(stream_, settings_->write_timeout);
  boost::asio::async_write(
      stream_, boost::asio::buffer(chunk_),
      [self = this->shared_from_this(), last](boost::beast::error_code ec, size_t) {
        self->writing_ = false;
        if (ec) return self->OnStreamGone();
        if (!last) return self->PumpStream();
        // The response is complete: the connection goes on as usual.
        self->channel_.reset();
        self->stream_exchange_.reset();
        Ops::CancelWatch(self->stream_);
        self->OnWrite(ec);
      });
}

template <class Stream>
void BasicSession<Stream>::ArmHeartbeat() {
  if (heartbeat_.count() <= 0) return;
  if (!heartbeat_timer_) {
    heartbeat_timer_ = std::make_unique<boost::asio::steady_timer>(stream_.get_executor());
  }
  heartbeat_timer_->expires_after(heartbeat_);
  heartbeat_timer_->async_wait([weak = this->weak_from_this()](boost::beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || !self->channel_) return;
    (void)self->channel_->Write(":\n\n");  // an SSE comment: ignored by EventSource
  });
}

template <class Stream>
void BasicSession<Stream>::OnStreamGone() {
  if (heartbeat_timer_) heartbeat_timer_->cancel();
  if (channel_) channel_->MarkGone();
  if (stream_exchange_) stream_exchange_->MarkGone();
  channel_.reset();
  stream_exchange_.reset();
  Close();
}

template <class Stream>
void BasicSession<Stream>::OnAsyncAnswer(HttpResponse response, bool head) {
  if (!EndExchange()) return;  // too late: the deadline passed or the client left
  FinishBody({ErrorCode::kFailedPrecondition, "the response was already sent"});
  Answer(response, head, std::move(async_stats_));
}

template <class Stream>
void BasicSession<Stream>::OnAsyncDeadline(bool head) {
  auto exchange = EndExchange();
  if (!exchange) return;
  exchange->MarkGone();
  FinishBody({ErrorCode::kTimeout, "the handler did not read on within server.write_timeout"});
  Respond(504, R"({"error":"the handler did not answer before server.write_timeout"})", head, {},
          std::move(async_stats_));
  DoWrite();
}

template <class Stream>
void BasicSession<Stream>::OnClientGone() {
  auto exchange = EndExchange();
  if (!exchange) return;
  exchange->MarkGone();
  FinishBody({ErrorCode::kUnavailable, "the client went away"});
  Close();
}

}  // namespace sg::http
