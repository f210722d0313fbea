// Feeds arbitrary bytes to the configuration loader and validator: nothing may crash, leak or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/loader.h"
#include "daemon/plugins/builtin_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {  // NOLINT
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto result = sg::config::LoadText(sg::plugins::BuiltinSchema(), text, "fuzz.yaml");
  for (const auto& d : result.diagnostics) (void)d.Format();
  if (result.Ok()) (void)result.config.ToJson();
  return 0;
}
