#include "daemon/plugin_api/rpc_frame.h"

#include <memory>

#include <boost/asio/post.hpp>

namespace sg::rpc {

std::string Encode(const nlohmann::json& header, const std::string& payload) {
  return header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n" + payload;
}

bool Decode(const std::string& bytes, Frame& frame) {
  const size_t nl = bytes.find('\n');
  if (nl == std::string::npos) return false;
  frame.header = nlohmann::json::parse(bytes.substr(0, nl), nullptr, false);
  if (frame.header.is_discarded() || !frame.header.is_object()) return false;
  frame.payload = bytes.substr(nl + 1);
  return true;
}

nlohmann::json ErrorHeader(const Error& error) {
  return {{"ok", false}, {"code", ErrorCodeName(error.code)}, {"message", error.message}};
}

ErrorCode CodeFromName(const std::string& name) {
  for (auto c :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kIo, ErrorCode::kConfig,
        ErrorCode::kTimeout, ErrorCode::kUnavailable, ErrorCode::kFailedPrecondition,
        ErrorCode::kNoSpace, ErrorCode::kPermissionDenied}) {
    if (name == ErrorCodeName(c)) return c;
  }
  return ErrorCode::kInternal;
}

Result<Frame> Call(Bus& bus, const std::string& subject, const std::string& service,
                   const nlohmann::json& header, const std::string& payload,
                   std::chrono::milliseconds timeout) {
  auto reply = bus.Request(subject, Encode(header, payload), timeout);
  if (!reply) return reply.error().Wrap(service);
  Frame out;
  if (!Decode(reply->data, out)) {
    return Fail(ErrorCode::kInternal, service + ": a reply that is not a frame");
  }
  const auto ok = out.header.find("ok");
  if (ok == out.header.end() || !ok->is_boolean() || !ok->get<bool>()) {
    const auto& code = out.header["code"];
    const auto& message = out.header["message"];
    return Fail(CodeFromName(code.is_string() ? code.get<std::string>() : "internal"),
                service + ": " + (message.is_string() ? message.get<std::string>() : "failed"));
  }
  return out;
}

Dispatch OnExecutor(const boost::asio::any_io_executor& executor) {
  return [executor](std::function<void()> work) {
    boost::asio::post(executor, std::move(work));
    return true;
  };
}

Result<Bus::SubscriptionId> Serve(Bus& bus, const std::string& subject, const std::string& service,
                                  Dispatch dispatch,
                                  std::function<std::string(const std::string&)> answer) {
  auto shared = std::make_shared<std::function<std::string(const std::string&)>>(std::move(answer));
  return bus.Subscribe(
      subject,
      [&bus, shared, dispatch = std::move(dispatch), service](const Message& m) {
        if (m.reply.empty()) return;
        const bool queued =
            dispatch([&bus, shared, m] { (void)bus.Publish(m.reply, (*shared)(m.data)); });
        if (!queued) {
          (void)bus.Publish(
              m.reply,
              Encode(ErrorHeader({ErrorCode::kUnavailable, service + " is overloaded: its queue "
                                                                     "of blocking work is full; "
                                                                     "try again shortly"})));
        }
      },
      4096);
}

}  // namespace sg::rpc
