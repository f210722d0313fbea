// Feeds arbitrary frames to the control-request decoder and the dispatcher: every frame must
// get a well-formed reply carrying the id the control server would read from it, and nothing
// may crash, leak or hang.
//
// Two shapes of input: one frame; or, when the input starts with "P\n", a pipeline of frames,
// one a line, handled in order by one dispatcher, as a client that sends many requests without
// reading would have them handled.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/control_protocol.h"
#include "daemon/control/dispatcher.h"
#include "tests/support/fake_control_target.h"

namespace {

void Check(sg::control::Dispatcher& dispatcher, std::string_view frame) {
  const std::string reply = dispatcher.Handle(frame);
  const auto parsed = nlohmann::json::parse(reply, nullptr, false);
  if (parsed.is_discarded() || !parsed.contains("ok") || !parsed["id"].is_string()) {
    __builtin_trap();
  }
  // The reply carries the id that the control server's own replies (busy) would carry.
  if (frame.size() <= static_cast<size_t>(sg::control::kMaxFrameBytes) &&
      parsed["id"].get<std::string>() != sg::control::PeekRequestId(frame)) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {  // NOLINT
  static sg::test::FakeControlTarget target;
  static sg::control::Dispatcher dispatcher(target);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (!input.starts_with("P\n")) {
    Check(dispatcher, input);
    return 0;
  }
  input.remove_prefix(2);
  for (int frames = 0; !input.empty() && frames < 512; ++frames) {
    const size_t end = input.find('\n');
    Check(dispatcher, input.substr(0, end));
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
  }
  return 0;
}
