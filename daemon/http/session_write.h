// BasicSession's members for writing a response: a string, a file by sendfile,
// or a body from a source. Included by session.h only.
#pragma once

#include "daemon/http/session.h"

namespace sg::http {

template <class Stream>
void BasicSession<Stream>::RespondFile(
    const boost::beast::http::request<boost::beast::http::string_body>& req, HttpResponse& response,
    bool head, std::shared_ptr<RouteStats> stats) {
  namespace bhttp = boost::beast::http;
  FileHandle file(::open(response.file.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  const int open_errno = errno;
  if (!file || ::fstat(file.fd(), &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool denied = !file && open_errno == EACCES;
    Respond(denied ? 403 : 404,
            denied ? R"({"error":"forbidden"})"
                   : R"({"error":"not found","path":)" + JsonString(path_) + "}",
            head, {}, std::move(stats));
    return DoWrite();
  }
  const FileMeta meta = FileMetaOf(st);
  auto field = [&req](bhttp::field f) {
    const auto v = req[f];
    return std::string_view(v.data(), v.size());
  };
  const FilePlan plan =
      PlanFileResponse({field(bhttp::field::if_none_match), field(bhttp::field::if_modified_since),
                        field(bhttp::field::range), field(bhttp::field::if_range),
                        req.method() == bhttp::verb::get || req.method() == bhttp::verb::head},
                       meta);
  auto headers = std::move(response.headers);
  headers.emplace_back("Accept-Ranges", "bytes");
  headers.emplace_back("ETag", StrongETag(meta));
  headers.emplace_back("Last-Modified", HttpDate(static_cast<std::time_t>(st.st_mtim.tv_sec)));
  std::optional<uint64_t> length = plan.range.count;
  if (plan.status == 206) {
    headers.emplace_back("Content-Range",
                         "bytes " + std::to_string(plan.range.first) + "-" +
                             std::to_string(plan.range.first + plan.range.count - 1) + "/" +
                             std::to_string(meta.size));
  } else if (plan.status == 416) {
    headers.emplace_back("Content-Range", "bytes */" + std::to_string(meta.size));
    length = 0;
  } else if (plan.status == 304) {
    length.reset();  // a 304 has no body, and says nothing of one
  }
  stats_ = std::move(stats);
  status_ = plan.status;
  close_after_ = CloseAfter();
  ClearBody();
  head_only_ = true;  // the head goes by async_write, the bytes by sendfile
  const bool send = !head && (plan.status == 200 || plan.status == 206);
  body_bytes_ = send ? plan.range.count : 0;
  ResponseHead::Build(head_, plan.status, request_id_, response.content_type, headers, length,
                      close_after_);
  if (send && plan.range.count > 0) {
    file_ = std::move(file);
    file_range_ = plan.range;
  }
  DoWrite();
}

template <class Stream>
void BasicSession<Stream>::RespondSource(HttpResponse& response, bool head,
                                         std::shared_ptr<RouteStats> stats) {
  auto headers = std::move(response.headers);
  const bool chunked = !response.content_length.has_value();
  if (chunked) headers.emplace_back("Transfer-Encoding", "chunked");
  stats_ = std::move(stats);
  status_ = response.status;
  close_after_ = CloseAfter();
  body_bytes_ = 0;
  ResponseHead::Build(head_, response.status, request_id_, response.content_type, headers,
                      response.content_length, close_after_);
  if (head) {
    response.source->Close();
    ClearBody();
    head_only_ = true;
    return DoWrite();
  }
  source_ = std::move(response.source);
  source_remaining_ = response.content_length;
  if (response.content_length && method_ == "GET") {
    if (HttpSpliceable* splice = source_->Spliceable(); splice != nullptr) {
      const std::string_view first = splice->Buffered();
      if (first.size() <= *response.content_length &&
          Ops::Splice(stream_, {boost::asio::buffer(head_), boost::asio::buffer(first)}, *splice,
                      *response.content_length - first.size(), settings_->read_timeout,
                      settings_->write_timeout,
                      [self = this->shared_from_this(), splice, first = first.size()](
                          boost::beast::error_code ec, uint64_t sent, bool client_failed) {
                        self->EndSplice(ec, client_failed, *splice,
                                        !ec || sent > 0 ? first + sent : 0);
                      })) {
        return;
      }
    }
  }
  Ops::ExpireAfter(stream_, settings_->write_timeout);
  boost::asio::async_write(stream_, boost::asio::buffer(head_),
                           [self = this->shared_from_this()](boost::beast::error_code ec, size_t) {
                             if (ec) return self->EndSource(ec);
                             self->PullSource();
                           });
}

template <class Stream>
void BasicSession<Stream>::PullSource() {
  // The timer keeps the session alive while the source works, and bounds how long it may.
  if (!source_timer_) {
    source_timer_ = std::make_unique<boost::asio::steady_timer>(stream_.get_executor());
  }
  source_timer_->expires_after(settings_->write_timeout);
  source_timer_->async_wait([self = this->shared_from_this()](boost::beast::error_code ec) {
    if (ec || !self->source_) return;
    self->env_.logger->warn(
        log::With("A response's source gave nothing for server.write_timeout; the connection "
                  "is closed",
                  {{"request_id", self->request_id_}, {"path", self->path_}}));
    self->EndSource(boost::asio::error::timed_out);
  });
  auto weak = this->weak_from_this();
  auto executor = stream_.get_executor();
  source_->Read([weak, executor](Result<HttpBodyChunk> chunk) {
    boost::asio::post(executor, [weak, chunk = std::move(chunk)]() mutable {
      if (auto session = weak.lock()) session->OnSourceChunk(std::move(chunk));
    });
  });
}

template <class Stream>
void BasicSession<Stream>::OnSourceChunk(Result<HttpBodyChunk> chunk) {
  if (!source_) return;
  source_timer_->cancel();
  if (!chunk) {
    env_.logger->warn(log::With(
        "A response's source failed; the connection is closed",
        {{"request_id", request_id_}, {"path", path_}, {"error", chunk.error().message}}));
    return EndSource(boost::asio::error::broken_pipe);
  }
  HttpBodyChunk& piece = *chunk;
  const size_t size = piece.data.size();
  if (source_remaining_) {
    if (size > *source_remaining_ || (piece.last && size != *source_remaining_)) {
      env_.logger->error(
          log::With("A response's source broke its Content-Length; the connection is closed",
                    {{"request_id", request_id_},
                     {"path", path_},
                     {"expected", static_cast<int64_t>(*source_remaining_)},
                     {"given", static_cast<int64_t>(size)}}));
      return EndSource(boost::asio::error::broken_pipe);
    }
    *source_remaining_ -= size;
    chunk_ = std::move(piece.data);
  } else {
    chunk_.clear();
    if (size > 0) {
      chunk_ = fmt::format("{:x}\r\n", size);
      chunk_ += piece.data;
      chunk_ += "\r\n";
    }
    if (piece.last) chunk_ += "0\r\n\r\n";
  }
  body_bytes_ += size;
  const bool last = piece.last;
  if (chunk_.empty()) return last ? EndSource({}) : PullSource();
  Ops::ExpireAfter(stream_, settings_->write_timeout);
  boost::asio::async_write(
      stream_, boost::asio::buffer(chunk_),
      [self = this->shared_from_this(), last](boost::beast::error_code ec, size_t) {
        if (ec || last) return self->EndSource(ec);
        self->PullSource();
      });
}

template <class Stream>
void BasicSession<Stream>::EndSplice(boost::beast::error_code ec, bool client_failed,
                                     HttpSpliceable& splice, uint64_t sent) {
  body_bytes_ = sent;
  // A client that leaves in the middle (players drop segments all the time) is no news; an
  // instance that broke off or a deadline that passed is.
  if (ec && !client_failed) {
    env_.logger->warn(log::With("A proxied body was cut short; the connection is closed",
                                {{"request_id", request_id_},
                                 {"path", path_},
                                 {"sent", static_cast<int64_t>(sent)},
                                 {"error", ec.message()}}));
  }
  auto source = std::move(source_);  // kept alive through Done
  splice.Done(!ec);
  OnWrite(ec);
}

template <class Stream>
void BasicSession<Stream>::EndSource(boost::beast::error_code ec) {
  if (auto source = std::move(source_)) source->Close();
  OnWrite(ec);
}

template <class Stream>
void BasicSession<Stream>::Respond(unsigned status, std::string body, bool head,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   std::shared_ptr<RouteStats> stats, std::string_view content_type,
                                   std::shared_ptr<const SharedBytes> shared,
                                   std::string_view view) {
  stats_ = std::move(stats);
  status_ = status;
  // While the server drains, every response tells the client not to reuse the connection.
  close_after_ = CloseAfter();
  body_ = std::move(body);
  shared_body_ = std::move(shared);
  body_view_ = shared_body_ ? view : std::string_view(body_);
  body_bytes_ = body_view_.size();
  head_only_ = head;
  ResponseHead::Build(head_, status, request_id_, content_type, headers,
                      status == 304 ? std::nullopt : std::optional<uint64_t>(body_view_.size()),
                      close_after_);
  // Shared bytes in a file go by sendfile, as a file answer does: no copy through a write. The
  // descriptor is our own (dup), so the cache may drop the entry meanwhile.
  if (shared_body_ && shared_body_->fd() >= 0 && !head && !body_view_.empty()) {
    FileHandle file(::fcntl(shared_body_->fd(), F_DUPFD_CLOEXEC, 0));
    if (file) {
      file_range_ = {shared_body_->OffsetOf(body_view_), body_view_.size()};
      file_ = std::move(file);
      head_only_ = true;  // the head goes by the write, the bytes by sendfile
    }
  }
}

template <class Stream>
void BasicSession<Stream>::DoWrite() {
  // HEAD: Content-Length says what GET would send, and no body follows.
  std::array<boost::asio::const_buffer, 2> buffers = {
      boost::asio::buffer(head_),
      boost::asio::buffer(body_view_.data(), head_only_ ? 0 : body_view_.size())};
  // The socket takes a small response at once: send it without an asynchronous write and its
  // timer. What it does not take goes the asynchronous way, with the deadline.
  // A file's head is held for its first bytes: one segment, one wake-up of the client, instead of
  // two (the head of a playlist used to travel alone).
  size_t sent = Ops::WriteNow(stream_, buffers, /*more=*/static_cast<bool>(file_));
  if (sent == buffers[0].size() + buffers[1].size()) return OnWrite({});
  for (auto& buffer : buffers) {
    const size_t skip = std::min(sent, buffer.size());
    buffer += skip;
    sent -= skip;
  }
  Ops::ExpireAfter(stream_, settings_->write_timeout);
  boost::asio::async_write(stream_, buffers,
                           [self = this->shared_from_this()](boost::beast::error_code ec, size_t) {
                             self->OnWrite(ec);
                           });
}

template <class Stream>
void BasicSession<Stream>::ClearBody() {
  body_.clear();
  shared_body_.reset();
  body_view_ = {};
}

template <class Stream>
void BasicSession<Stream>::OnWrite(boost::beast::error_code ec) {
  // A shared body is not held past its write: the cache may drop it meanwhile.
  if (shared_body_) ClearBody();
  if (!ec && file_) {
    const int fd = file_.fd();
    return Ops::SendFile(stream_, fd, file_range_.first, file_range_.count,
                         settings_->write_timeout,
                         [self = this->shared_from_this()](boost::beast::error_code send_ec) {
                           self->file_.Reset();
                           self->OnWrite(send_ec);
                         });
  }
  file_.Reset();
  const auto elapsed = Clock::now() - started_;
  stats_->Record(status_, elapsed);
  if (settings_->access_log && env_.access != nullptr && env_.access->Enabled()) {
    LogAccess(elapsed);
  }
  if (ec || close_after_) return Close();
  DoWait();
}

}  // namespace sg::http
