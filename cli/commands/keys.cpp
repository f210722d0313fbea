// streamgate keys generate: CURVE keys for a tcp:// control endpoint.
#include <filesystem>
#include <memory>
#include <ostream>

#include <fmt/format.h>
#include <sys/stat.h>

#include "cli/commands/commands.h"
#include "common/curve_keys.h"
#include "common/exit_codes.h"

namespace sg::cli {
namespace {

struct KeysArgs {
  std::string dir = ".";
  bool force = false;
};

void Generate(Context& context, const KeysArgs& args) {
  const std::filesystem::path dir(args.dir);
  const std::vector<std::string> files = {"server.key", "server.pub", "client.key",
                                          "authorized_keys"};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    context.Report(
        Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", args.dir, ec.message())));
    return;
  }
  for (const auto& f : files) {
    if (!args.force && std::filesystem::exists(dir / f)) {
      context.Report(Fail(ErrorCode::kFailedPrecondition,
                          fmt::format("{} exists; use --force to replace it", (dir / f).string())));
      return;
    }
  }
  auto server = GenerateKeyPair();
  auto client = GenerateKeyPair();
  if (!server || !client) {
    context.Report(server ? client.error() : server.error());
    return;
  }
  for (const auto& [file, keys] :
       {std::pair{"server.key", *server}, std::pair{"server.pub", KeyPair{server->public_key, ""}},
        std::pair{"client.key", *client},
        std::pair{"authorized_keys", KeyPair{client->public_key, ""}}}) {
    if (auto written = WriteKeyFile((dir / file).string(), keys); !written) {
      context.Report(written.error());
      return;
    }
  }
  if (context.json) {
    context.PrintJson({{"dir", args.dir},
                       {"server_public_key", server->public_key},
                       {"client_public_key", client->public_key},
                       {"files", files}});
    return;
  }
  *context.out << fmt::format(
      "wrote {0}/server.key, server.pub, client.key and authorized_keys\n"
      "daemon:  control.curve_server_key: {0}/server.key\n"
      "         control.curve_authorized_keys: {0}/authorized_keys\n"
      "client:  control.curve_server_key: {0}/server.pub\n"
      "         control.curve_client_key: {0}/client.key\n",
      args.dir);
}

}  // namespace

void AddKeysCommands(CLI::App& app, Context& context) {
  auto* group = app.add_subcommand("keys", "Make CURVE keys for a tcp control endpoint");
  group->require_subcommand(1);
  auto args = std::make_shared<KeysArgs>();
  auto* generate = group->add_subcommand(
      "generate", "Write server.key, server.pub, client.key and authorized_keys into DIR");
  generate->add_option("DIR", args->dir, "Where to write them (default: the current directory)");
  generate->add_flag("--force", args->force, "Replace existing files");
  generate->callback([&context, args] { Generate(context, *args); });
}

}  // namespace sg::cli
