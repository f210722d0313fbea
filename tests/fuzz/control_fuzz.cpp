// Feeds arbitrary frames to the control-request decoder and the dispatcher: every frame must
// get a well-formed reply, and nothing may crash, leak or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "daemon/control/dispatcher.h"
#include "tests/support/fake_control_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {  // NOLINT
  static sg::test::FakeControlTarget target;
  static sg::control::Dispatcher dispatcher(target);
  const std::string reply =
      dispatcher.Handle(std::string_view(reinterpret_cast<const char*>(data), size));
  const auto parsed = nlohmann::json::parse(reply, nullptr, false);
  if (parsed.is_discarded() || !parsed.contains("ok")) __builtin_trap();
  return 0;
}
