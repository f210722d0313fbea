// The framing that the services offered across processes share (cache_rpc, catalogue_rpc): a
// request or reply is a JSON header, a newline, then raw bytes (a cached value, which may be
// binary). A reply's header says {"ok": true, ...} or {"ok": false, "code", "message"}, so that
// the caller gets the service's own Error back, code and all.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>

#include "common/result.h"
#include "daemon/plugin_api/bus.h"

namespace sg::rpc {

/// A header and its payload.
struct Frame {
  nlohmann::json header;
  std::string payload;
};

/// The bytes of a frame. Invalid UTF-8 in the header's strings is replaced, never thrown on.
std::string Encode(const nlohmann::json& header, const std::string& payload = {});
/// Parses a frame; false when the bytes are not one (no newline, or a header that is not a JSON
/// object).
bool Decode(const std::string& bytes, Frame& frame);

/// A failed reply's header: {"ok": false, "code": "not_found", "message": ...}.
nlohmann::json ErrorHeader(const Error& error);
/// The code an error header names; kInternal for a name this build does not know.
ErrorCode CodeFromName(const std::string& name);

/// Sends a request to `subject` and waits up to `timeout` for the reply. Errors, each prefixed
/// with `service` ("cache service"): the bus's own (kUnavailable when nobody serves the subject,
/// kTimeout), kInternal for a reply that is not a frame, and the service's error as it sent it.
Result<Frame> Call(Bus& bus, const std::string& subject, const std::string& service,
                   const nlohmann::json& header, const std::string& payload,
                   std::chrono::milliseconds timeout);

/// Runs a piece of work elsewhere (an executor, the blocking pool); false when it was refused.
using Dispatch = std::function<bool(std::function<void()> work)>;
/// Posts onto `executor`; never refuses.
Dispatch OnExecutor(const boost::asio::any_io_executor& executor);

/// Answers requests on `subject` with `answer` (request bytes in, reply bytes out), each run
/// through `dispatch`, so that a slow backend never holds up the bus's delivery thread. Work
/// that `dispatch` refuses is answered kUnavailable naming `service` at once. Returns the
/// subscription.
Result<Bus::SubscriptionId> Serve(Bus& bus, const std::string& subject, const std::string& service,
                                  Dispatch dispatch,
                                  std::function<std::string(const std::string&)> answer);

}  // namespace sg::rpc
