#include "daemon/control/dispatcher.h"

#include <fmt/format.h>

#include "common/control_protocol.h"
#include "daemon/control/handlers.h"

namespace sg::control {

Dispatcher::Dispatcher(ControlTarget& target) : target_(target), counts_(Commands().size() + 1) {}

std::vector<std::pair<std::string, uint64_t>> Dispatcher::Counts() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t i = 0; i < Commands().size(); ++i) {
    out.emplace_back(std::string(Commands()[i].name), counts_[i].load(std::memory_order_relaxed));
  }
  out.emplace_back("invalid", counts_.back().load(std::memory_order_relaxed));
  return out;
}

std::string Dispatcher::Handle(std::string_view frame) {
  std::string id;
  auto request = DecodeRequest(frame, id);
  const size_t slot = request ? static_cast<size_t>(request->command) : Commands().size();
  counts_[slot].fetch_add(1, std::memory_order_relaxed);
  if (!request) {
    const char* code = request.error().code == ErrorCode::kNotFound ? kUnknownCommand
                       : request.error().code == ErrorCode::kFailedPrecondition
                           ? kUnsupportedVersion
                           : kBadRequest;
    return EncodeError(id, code, request.error().message);
  }
  try {
    return EncodeOk(id, HandlerFor(request->command)(target_, *request));
  } catch (const ArgError& e) {
    return EncodeError(id, kBadRequest, fmt::format("{}: {}", request->cmd, e.message));
  } catch (const Error& e) {
    return EncodeError(id, ErrorCodeName(e.code), e.message);
  } catch (const std::exception& e) {
    return EncodeError(id, "internal", fmt::format("{}: {}", request->cmd, e.what()));
  }
}

}  // namespace sg::control
