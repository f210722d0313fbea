// BasicSession's members for reading a request, routing it, and answering it
// from a handler. Included by session.h only.
#pragma once

#include "daemon/http/session.h"

namespace sg::http {

template <class Stream>
void BasicSession<Stream>::DoWait() {
  settings_ = generation_.Settings();
  if (buffer_.size() > 0) return DoRead();  // a pipelined request is already here
  // A response written as the drain began may have promised keep-alive: on a rebind, wait for
  // that one more request (answered with Connection: close) rather than cut the client off.
  if (draining_ && close_idle_) return Close();
  buffer_.max_size(BufferLimit());
  // A busy keep-alive client has usually sent its next request already: take it without an idle
  // wait, whose timer and completion cost a fifth of a small request's CPU in user space.
  if (const size_t n = Ops::ReadNow(stream_, buffer_.prepare(kReadSize)); n > 0) {
    buffer_.commit(n);
    return DoRead();
  }
  idle_ = true;
  Ops::ExpireAfter(stream_, settings_->idle_timeout);
  stream_.async_read_some(buffer_.prepare(kReadSize),
                          [self = this->shared_from_this()](boost::beast::error_code ec, size_t n) {
                            self->OnWait(ec, n);
                          });
}

template <class Stream>
void BasicSession<Stream>::OnWait(boost::beast::error_code ec, size_t n) {
  idle_ = false;
  if (ec) return Close();  // idle timeout, peer closed, or drained
  buffer_.commit(n);
  DoRead();
}

template <class Stream>
void BasicSession<Stream>::DoRead() {
  parser_.emplace(RequestLimits{settings_->max_header_bytes, settings_->max_header_fields});
  // No body limit until the route is known: a streaming route has its own (OnHeader). Not
  // boost::none: Beast compares a Content-Length against it, and every length exceeds none.
  parser_->body_limit(std::numeric_limits<uint64_t>::max());
  buffer_.max_size(std::max(BufferLimit(), buffer_.size()));
  started_ = Clock::now();
  // One deadline for the whole request: a client that trickles bytes is cut off at it.
  Ops::ExpireAfter(stream_, settings_->read_timeout);
  // The header section first, on its own: the request is checked before any body is read.
  // (Beast's eager parse of header and body in one go lets the body's start overwrite the
  // error that on_header_impl reports.)
  boost::beast::http::async_read_header(
      stream_, buffer_, *parser_,
      [self = this->shared_from_this()](boost::beast::error_code ec, size_t) {
        self->OnHeader(ec);
      });
}

template <class Stream>
void BasicSession<Stream>::OnHeader(boost::beast::error_code ec) {
  namespace bhttp = boost::beast::http;
  if (ec) return OnRead(ec);
  Locate();
  const RouteTable::Route* route = match_.route;
  const bool streaming = route != nullptr && route->streaming_handler;
  const uint64_t limit = BodyLimit();
  if (const auto length = parser_->content_length(); length && *length > limit) {
    return Refuse(413, RejectReason::kBodyLimit, "payload too large", BodyLimitHint(limit));
  }
  parser_->body_limit(limit);  // a chunked body is counted as it arrives
  const auto expect = parser_->get()[bhttp::field::expect];
  expect_continue_ = !parser_->is_done() && parser_->get().version() >= 11 &&
                     boost::beast::iequals(expect, "100-continue");
  if (streaming) return HandleStreaming(*route);
  if (parser_->is_done()) return Handle();
  Continue([self = this->shared_from_this()](boost::beast::error_code write_ec) {
    if (write_ec) return self->Close();
    boost::beast::http::async_read(
        self->stream_, self->buffer_, *self->parser_,
        [self](boost::beast::error_code read_ec, size_t) { self->OnRead(read_ec); });
  });
}

template <class Stream>
template <class Next>
void BasicSession<Stream>::Continue(Next next) {
  if (!expect_continue_) return next(boost::beast::error_code());
  expect_continue_ = false;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  Ops::ExpireAfter(stream_, settings_->write_timeout);
  boost::asio::async_write(stream_, boost::asio::buffer(kContinue.data(), kContinue.size()),
                           [self = this->shared_from_this(), next = std::move(next)](
                               boost::beast::error_code ec, size_t) mutable { next(ec); });
}

template <class Stream>
void BasicSession<Stream>::OnRead(boost::beast::error_code ec) {
  namespace bhttp = boost::beast::http;
  namespace asio = boost::asio;
  if (!ec) return Handle();
  if (const auto& rejection = parser_->rejection()) {
    return Refuse(rejection->status, rejection->reason, rejection->message);
  }
  if (ec == boost::beast::error::timeout) {
    // Mid-request only: an idle connection times out in OnWait.
    env_.rejects->Add(RejectReason::kTimeout);
    return Close();
  }
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
      ec == bhttp::error::partial_message) {
    return Close();
  }
  if (ec == bhttp::error::header_limit) {
    return Refuse(431, RejectReason::kHeaderLimit, "request header fields too large");
  }
  if (ec == bhttp::error::buffer_overflow) {
    // The buffer holds at most one header section, chunk line or trailer section.
    return Refuse(
        parser_->is_header_done() ? 400 : 431,
        parser_->is_header_done() ? RejectReason::kBadRequest : RejectReason::kHeaderLimit,
        parser_->is_header_done() ? "a chunk line or the trailer section is too large"
                                  : "request header fields too large");
  }
  if (ec == bhttp::error::body_limit) {
    return Refuse(413, RejectReason::kBodyLimit, "payload too large", BodyLimitHint(BodyLimit()));
  }
  if (ec == bhttp::error::bad_transfer_encoding || ec == bhttp::error::bad_content_length) {
    return Refuse(400, RejectReason::kFraming, "conflicting or malformed message framing");
  }
  return Refuse(400, RejectReason::kBadRequest, "bad request");
}

template <class Stream>
uint64_t BasicSession<Stream>::BodyLimit() const {
  const RouteTable::Route* route = match_.route;
  return route != nullptr && route->streaming_handler ? route->max_body_bytes
                                                      : settings_->max_body_bytes;
}

template <class Stream>
void BasicSession<Stream>::Refuse(unsigned status, RejectReason reason, std::string_view message,
                                  std::string_view hint) {
  env_.rejects->Add(reason);
  if (worker_.ShouldWarn(remote_, reason)) {
    env_.logger->warn(
        log::With("Refused a request", {{"reason", std::string(RejectReasonName(reason))},
                                        {"status", static_cast<int64_t>(status)},
                                        {"error", std::string(message)},
                                        {"remote", remote_}}));
  }
  keep_alive_ = false;
  request_id_ = NewRequestId();
  method_ = "-";
  path_ = "-";
  // The shape of every error the API answers: what went wrong, a stable code, what to do next.
  Respond(status,
          fmt::format(R"({{"error":{},"code":{},"hint":{}}})", JsonString(message),
                      JsonString(RejectReasonName(reason)),
                      JsonString(hint.empty() ? RejectHint(reason) : hint)),
          false, {}, env_.routes->UnmatchedStats());
  DoWrite();
}

template <class Stream>
void BasicSession<Stream>::Locate() {
  namespace bhttp = boost::beast::http;
  const auto& req = parser_->get();
  keep_alive_ = req.keep_alive();
  method_.assign(req.method_string().data(), req.method_string().size());
  // The absolute form "http://host/p?q" routes as "/p?q".
  const std::string_view target =
      OriginForm(std::string_view(req.target().data(), req.target().size()));
  const size_t q = target.find('?');
  path_.assign(target.substr(0, q));
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  const auto given = req["X-Request-ID"];
  request_id_ = UsableRequestId(std::string_view(given.data(), given.size()))
                    ? std::string(given.data(), given.size())
                    : NewRequestId();
  head_request_ = req.method() == bhttp::verb::head;
  query_ = query;
  match_ = env_.routes->Find(method_, path_, snapshot_);
  const auto origin = req[bhttp::field::origin];
  cors_origin_.assign(origin.data(), origin.size());
}

template <class Stream>
void BasicSession<Stream>::Handle() {
  namespace bhttp = boost::beast::http;
  const auto& req = parser_->get();
  const bool head = head_request_;
  auto& match = match_;
  if (match.cors != nullptr && req.method() == bhttp::verb::options &&
      req.find(bhttp::field::access_control_request_method) != req.end()) {
    // A browser's preflight for a cross-origin call, even where a route answers OPTIONS itself
    // (tus's discovery): the browser asks the server's CORS policy, not the route.
    std::vector<std::pair<std::string, std::string>> headers;
    AddCorsHeaders(*match.cors, headers);
    headers.emplace_back("Access-Control-Allow-Methods", match.allow);
    if (!match.cors->allow_headers.empty()) {
      headers.emplace_back("Access-Control-Allow-Headers", Join(match.cors->allow_headers));
    }
    headers.emplace_back("Access-Control-Max-Age", std::to_string(match.cors->max_age_seconds));
    Respond(204, "", false, headers, env_.routes->UnmatchedStats());
    return DoWrite();
  }
  if (match.route == nullptr) {
    if (!match.allow.empty()) {
      Respond(405, "{\"error\":\"method not allowed\",\"allow\":" + JsonString(match.allow) + "}",
              head, {{"Allow", match.allow}}, env_.routes->UnmatchedStats());
    } else {
      Respond(404, "{\"error\":\"not found\",\"path\":" + JsonString(path_) + "}", head, {},
              env_.routes->UnmatchedStats());
    }
    return DoWrite();
  }
  HttpRequest request = MakeRequest();
  request.body = req.body();
  cors_ = match.route->cors;
  if (match.route->async_handler) return HandleAsync(*match.route, request, head);
  HttpResponse response;
  try {
    match.route->handler(request, response);
  } catch (const std::exception& e) {
    env_.logger->error(log::With(
        "Route handler threw",
        {{"route", match.route->pattern}, {"request_id", request_id_}, {"error", e.what()}}));
    response = HttpResponse{};
    response.status = 500;
    response.body = R"({"error":"internal error"})";
  }
  Answer(response, head, match.route->stats);
}

template <class Stream>
HttpRequest BasicSession<Stream>::MakeRequest() {
  namespace bhttp = boost::beast::http;
  HttpRequest request;
  request.method = method_;
  request.path = path_;
  request.query = query_;
  request.request_id = request_id_;
  request.remote = remote_;
  request.params = std::move(match_.params);
  request.header_ctx = &parser_->get();
  request.header_fn = [](const void* ctx, std::string_view name) {
    const auto& r = *static_cast<const bhttp::request<bhttp::string_body>*>(ctx);
    const auto v = r[boost::beast::string_view(name.data(), name.size())];
    return std::string_view(v.data(), v.size());
  };
  request.each_header_fn = [](const void* ctx, const HttpRequest::HeaderVisitor& visit) {
    for (const auto& field : *static_cast<const bhttp::request<bhttp::string_body>*>(ctx)) {
      const auto name = field.name_string();
      const auto value = field.value();
      visit(std::string_view(name.data(), name.size()),
            std::string_view(value.data(), value.size()));
    }
  };
  return request;
}

template <class Stream>
std::string BasicSession<Stream>::Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

template <class Stream>
void BasicSession<Stream>::AddCorsHeaders(
    const CorsPolicy& policy, std::vector<std::pair<std::string, std::string>>& headers) const {
  if (cors_origin_.empty()) return;
  bool any = false;
  bool listed = false;
  for (const auto& o : policy.allow_origins) {
    any = any || o == "*";
    listed = listed || o == cors_origin_;
  }
  if (!any && !listed) return;
  headers.emplace_back("Access-Control-Allow-Origin", any ? "*" : cors_origin_);
  if (!any) headers.emplace_back("Vary", "Origin");
  if (!policy.expose_headers.empty()) {
    headers.emplace_back("Access-Control-Expose-Headers", Join(policy.expose_headers));
  }
}

template <class Stream>
void BasicSession<Stream>::Answer(HttpResponse& response, bool head,
                                  std::shared_ptr<RouteStats> stats) {
  if (cors_) AddCorsHeaders(*cors_, response.headers);
  if (!response.file.empty() && response.status == 200) {
    return RespondFile(parser_->get(), response, head, std::move(stats));
  }
  if (response.file.empty() && response.source) {
    return RespondSource(response, head, std::move(stats));
  }
  Respond(response.status, std::move(response.body), head, response.headers, std::move(stats),
          response.content_type, std::move(response.shared), response.shared_view);
  DoWrite();
}

}  // namespace sg::http
