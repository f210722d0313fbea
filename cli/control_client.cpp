#include "cli/control_client.h"

#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.hpp>

#include "common/curve_keys.h"

namespace sg::cli {

struct ControlClient::Impl {
  ClientSettings settings;
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::dealer};
  uint64_t next_id = 1;
  bool answered = false;  // the last Call got the daemon's reply
};

namespace {

Error Unreachable(const std::string& endpoint, const std::string& why) {
  return Fail(ErrorCode::kUnavailable,
              fmt::format("no daemon answered on {} ({}); start one with 'streamgate start'",
                          endpoint, why));
}

}  // namespace

ErrorCode FromWireCode(const std::string& code) {
  if (code == "not_found" || code == control::kUnknownCommand) return ErrorCode::kNotFound;
  if (code == "failed_precondition") return ErrorCode::kFailedPrecondition;
  if (code == "invalid_argument" || code == control::kBadRequest)
    return ErrorCode::kInvalidArgument;
  if (code == "timeout") return ErrorCode::kTimeout;
  if (code == "config") return ErrorCode::kConfig;
  if (code == "unavailable") return ErrorCode::kUnavailable;
  return ErrorCode::kInternal;
}

ControlClient::ControlClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ControlClient::~ControlClient() = default;

const std::string& ControlClient::endpoint() const { return impl_->settings.endpoint; }

bool ControlClient::answered() const { return impl_->answered; }

Result<std::unique_ptr<ControlClient>> ControlClient::Connect(const ClientSettings& settings) {
  auto impl = std::make_unique<Impl>();
  impl->settings = settings;
  // An ipc socket that is not there, or that we may not reach, fails at once rather than after
  // the timeout: connect() itself would retry quietly.
  if (settings.endpoint.starts_with("ipc://")) {
    const std::string path = settings.endpoint.substr(6);
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      return Unreachable(settings.endpoint, errno == EACCES ? "permission denied: the socket "
                                                              "belongs to another user"
                                                            : std::strerror(errno));
    }
    if (access(path.c_str(), R_OK | W_OK) != 0) {
      return Unreachable(settings.endpoint,
                         "permission denied: the socket belongs to another user");
    }
  }
  try {
    impl->socket.set(zmq::sockopt::linger, 0);
    impl->socket.set(zmq::sockopt::maxmsgsize, control::kMaxReplyFrameBytes);
    if (settings.endpoint.starts_with("tcp://")) {
      if (settings.curve_server_key.empty() || settings.curve_client_key.empty()) {
        return Fail(ErrorCode::kConfig,
                    fmt::format("{} is a tcp endpoint, which needs CURVE keys: set "
                                "control.curve_server_key (the server's public key) and "
                                "control.curve_client_key (ours)",
                                settings.endpoint));
      }
      auto server = ReadKeyFile(settings.curve_server_key);
      if (!server) return server.error().Wrap("control.curve_server_key");
      auto client = ReadKeyFile(settings.curve_client_key);
      if (!client) return client.error().Wrap("control.curve_client_key");
      if (client->secret_key.empty()) {
        return Fail(ErrorCode::kConfig,
                    "control.curve_client_key: the file has no secret-key line");
      }
      impl->socket.set(zmq::sockopt::curve_serverkey, server->public_key);
      impl->socket.set(zmq::sockopt::curve_publickey, client->public_key);
      impl->socket.set(zmq::sockopt::curve_secretkey, client->secret_key);
    }
    impl->socket.connect(settings.endpoint);
  } catch (const zmq::error_t& e) {
    return Unreachable(settings.endpoint, e.what());
  }
  return std::unique_ptr<ControlClient>(new ControlClient(std::move(impl)));
}

Result<nlohmann::ordered_json> ControlClient::Call(
    control::Command cmd, nlohmann::ordered_json args,
    std::optional<std::chrono::milliseconds> timeout) {
  control::Request request;
  request.cmd = control::Name(cmd);
  request.command = cmd;
  request.args = std::move(args);
  const auto wait = timeout.value_or(impl_->settings.timeout);
  impl_->answered = false;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  // A "busy" reply is retried, with a new id, after a pause that doubles up to 200ms.
  auto pause = std::chrono::milliseconds(10);
  try {
    zmq::pollitem_t out{impl_->socket.handle(), 0, ZMQ_POLLOUT, 0};
    if (zmq::poll(&out, 1, wait) == 0) {
      return Unreachable(impl_->settings.endpoint,
                         fmt::format("no connection within {}ms", wait.count()));
    }
    for (;;) {
      request.id = std::to_string(impl_->next_id++);
      impl_->socket.send(zmq::buffer(control::EncodeRequest(request)), zmq::send_flags::none);
      std::optional<control::Reply> reply;
      while (!reply) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        zmq::pollitem_t in{impl_->socket.handle(), 0, ZMQ_POLLIN, 0};
        if (left.count() <= 0 || zmq::poll(&in, 1, left) == 0) {
          return Unreachable(impl_->settings.endpoint,
                             fmt::format("no answer within {}ms", wait.count()));
        }
        zmq::message_t message;
        if (!impl_->socket.recv(message, zmq::recv_flags::dontwait)) continue;
        auto decoded = control::DecodeReply(message.to_string_view());
        if (!decoded) return decoded.error();
        if (decoded->id == request.id) reply = std::move(*decoded);  // else a late answer
      }
      if (!reply->ok && reply->error_code == control::kBusy &&
          std::chrono::steady_clock::now() + pause < deadline) {
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(200));
        continue;
      }
      impl_->answered = true;
      if (!reply->ok) return Fail(FromWireCode(reply->error_code), reply->error_message);
      return std::move(reply->result);
    }
  } catch (const zmq::error_t& e) {
    return Unreachable(impl_->settings.endpoint, e.what());
  }
}

}  // namespace sg::cli
