#include <ostream>

#include <CLI/Version.hpp>
#include <boost/version.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/version.h>
#include <zmq.hpp>

#include "cli/commands/commands.h"
#include "common/build_info.h"

namespace sg::cli {

void AddVersionCommand(CLI::App& app, Context& context) {
  auto* cmd = app.add_subcommand("version",
                                 "Print the version, git commit, build type and library versions");
  cmd->callback([&context] {
    int zmq_major = 0;
    int zmq_minor = 0;
    int zmq_patch = 0;
    zmq_version(&zmq_major, &zmq_minor, &zmq_patch);
    nlohmann::ordered_json libraries = {
        {"boost", fmt::format("{}.{}.{}", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
                              BOOST_VERSION % 100)},
        {"spdlog", fmt::format("{}.{}.{}", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH)},
        {"fmt",
         fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
        {"libzmq", fmt::format("{}.{}.{}", zmq_major, zmq_minor, zmq_patch)},
        {"cppzmq",
         fmt::format("{}.{}.{}", CPPZMQ_VERSION_MAJOR, CPPZMQ_VERSION_MINOR, CPPZMQ_VERSION_PATCH)},
        {"cli11", CLI11_VERSION},
        {"nlohmann-json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR,
                                      NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH)},
    };
    if (context.json) {
      nlohmann::ordered_json j = {{"version", SG_VERSION},
                                  {"commit", SG_GIT_COMMIT},
                                  {"build_type", SG_BUILD_TYPE},
                                  {"compiler", SG_COMPILER},
                                  {"libraries", libraries}};
      *context.out << j.dump(2) << '\n';
      return;
    }
    *context.out << "streamgate " << SG_VERSION << " (commit " << SG_GIT_COMMIT << ", "
                 << SG_BUILD_TYPE << " build, " << SG_COMPILER << ")\n";
    for (const auto& [name, version] : libraries.items()) {
      *context.out << fmt::format("  {:<14} {}\n", name, version.get<std::string>());
    }
  });
}

}  // namespace sg::cli
