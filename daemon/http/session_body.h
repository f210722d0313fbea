// BasicSession's members for a streaming route's body, read piece by piece as
// its handler asks. Included by session.h only.
#pragma once

#include "daemon/http/session.h"

namespace sg::http {

template <class Stream>
void BasicSession<Stream>::HandleStreaming(const RouteTable::Route& route) {
  cors_ = route.cors;
  HttpRequest request = MakeRequest();
  auto weak = this->weak_from_this();
  auto executor = stream_.get_executor();
  const auto length = parser_->content_length();
  body_pump_ = std::make_shared<BodyPump>(length ? std::optional<uint64_t>(*length) : std::nullopt,
                                          [weak, executor] {
                                            boost::asio::post(executor, [weak] {
                                              if (auto session = weak.lock()) session->PumpBody();
                                            });
                                          });
  auto exchange = BeginExchange(route.stats, /*watch_close=*/parser_->is_done());
  auto body = body_pump_;
  try {
    route.streaming_handler(request, std::move(body), exchange);
  } catch (const std::exception& e) {
    FailHandler(route, *exchange, e);
  }
}

template <class Stream>
void BasicSession<Stream>::PumpBody() {
  if (!body_pump_ || body_reading_) return;
  auto fn = body_pump_->Take();
  if (!fn) return;
  if (async_timer_) async_timer_->cancel();  // reading has its own deadline
  ReadBodyFor(std::move(fn));
}

template <class Stream>
void BasicSession<Stream>::ReadBodyFor(HttpBodyReader::ChunkFn fn) {
  if (parser_->is_done()) return DeliverChunk(fn, std::string());
  body_reading_ = true;
  Continue([self = this->shared_from_this(),
            fn = std::move(fn)](boost::beast::error_code write_ec) mutable {
    if (write_ec) return self->OnBodyRead(write_ec, std::move(fn));
    // Each read has server.read_timeout: a large body takes as long as it takes, a stalled
    // client does not.
    self->buffer_.max_size(std::max(self->BufferLimit(), kBodyReadSize));
    // Room for a whole piece: Beast reads no more than the buffer's free capacity, which the
    // header's read left at a few KiB, so without this a body arrives in pieces of that size,
    // each a read, a parse and a round through the handler (with it, bench_upload's daemon
    // spends a third less CPU time or better per uploaded GiB).
    self->buffer_.reserve(std::min(self->buffer_.max_size(), self->buffer_.size() + kBodyReadSize));
    Ops::ExpireAfter(self->stream_, self->settings_->read_timeout);
    boost::beast::http::async_read_some(
        self->stream_, self->buffer_, *self->parser_,
        [self, fn = std::move(fn)](boost::beast::error_code ec, size_t) mutable {
          self->OnBodyRead(ec, std::move(fn));
        });
  });
}

template <class Stream>
void BasicSession<Stream>::OnBodyRead(boost::beast::error_code ec, HttpBodyReader::ChunkFn fn) {
  namespace bhttp = boost::beast::http;
  body_reading_ = false;
  if (!body_pump_) return;  // answered, timed out or gone meanwhile: the reader knows
  if (ec) {
    Error error{ErrorCode::kUnavailable, "the client went away before the body ended"};
    if (ec == bhttp::error::body_limit) {
      error = {ErrorCode::kInvalidArgument,
               fmt::format("the body is larger than this route's limit of {} bytes",
                           match_.route->max_body_bytes)};
    } else if (ec == boost::beast::error::timeout) {
      error = {ErrorCode::kTimeout, "the client sent nothing for server.read_timeout"};
    } else if (ec != boost::asio::error::eof && ec != bhttp::error::end_of_stream &&
               ec != bhttp::error::partial_message && ec != boost::asio::error::connection_reset &&
               ec != boost::asio::error::operation_aborted) {
      error = {ErrorCode::kInvalidArgument, "the body's framing is malformed"};
    }
    if (auto exchange = EndExchange()) exchange->MarkGone();
    FinishBody(error);
    fn(Result<HttpBodyChunk>(error));
    return OnRead(ec);  // answers what deserves an answer (413, 400), closes the rest
  }
  std::string data = std::move(parser_->get().body());
  parser_->get().body().clear();
  if (data.empty() && !parser_->is_done()) return ReadBodyFor(std::move(fn));
  DeliverChunk(fn, std::move(data));
}

template <class Stream>
void BasicSession<Stream>::DeliverChunk(const HttpBodyReader::ChunkFn& fn, std::string data) {
  const bool last = parser_->is_done();
  if (last) {
    // Back to the size a waiting connection needs.
    buffer_.shrink_to_fit();
    // Nothing more to read: watch for the client leaving while the handler finishes.
    FinishBody({ErrorCode::kFailedPrecondition, "the body already ended"});
    if (!watching_close_) {
      watching_close_ = true;
      Ops::WatchClose(stream_, [self = this->shared_from_this()](bool gone) {
        if (gone) self->OnClientGone();
      });
    }
  }
  ArmDeadline();  // the handler's turn: read on or answer within server.write_timeout
  fn(HttpBodyChunk{std::move(data), last});
}

template <class Stream>
void BasicSession<Stream>::FinishBody(Error error) {
  if (auto pump = std::move(body_pump_)) pump->Finish(std::move(error));
}

}  // namespace sg::http
