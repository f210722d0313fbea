// streamgate auth keys create|list|revoke, auth token, auth rotate: API keys and tokens, which
// the auth plugin keeps. Over the control socket, so only the local operator can do this.
#include <memory>
#include <ostream>
#include <string>

#include <fmt/format.h>

#include "cli/commands/commands.h"
#include "cli/output.h"

namespace sg::cli {
namespace {

struct AuthArgs {
  std::string id;
  std::string name;
  std::string owner;
  std::string scope;
  int ttl = 0;  // seconds; 0: auth.token_ttl
};

void Create(Context& context, const AuthArgs& args) {
  nlohmann::ordered_json request = {{"name", args.name}};
  if (!args.owner.empty()) request["owner"] = args.owner;
  if (!args.scope.empty()) request["scope"] = args.scope;
  auto result = context.CallPlugin(control::Command::kAuthKeysCreate, request);
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  const auto key = result->value("key", nlohmann::ordered_json::object());
  *context.out << FieldText(key, "key") << '\n';
  *context.err << "API key " << FieldText(key, "id") << " (" << FieldText(key, "name") << ") for "
               << FieldText(key, "owner") << ", scope " << FieldText(key, "scope")
               << ".\nIt is shown this once; keep it secret. Exchange it for a token:\n"
               << "  curl -X POST -H 'Authorization: Bearer KEY' "
                  "http://HOST:PORT/api/v1/auth/token\n";
}

void List(Context& context) {
  auto result =
      context.CallPlugin(control::Command::kAuthKeysList, nlohmann::ordered_json::object());
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  const auto keys = result->value("keys", nlohmann::ordered_json::array());
  if (keys.empty()) {
    *context.out << "no API keys; make one with: streamgate auth keys create --name NAME\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "OWNER", "SCOPE", "CREATED", "LAST USED", "REVOKED"}};
  for (const auto& k : keys) {
    rows.push_back({FieldText(k, "id"), FieldText(k, "name"), FieldText(k, "owner"),
                    FieldText(k, "scope"), FieldText(k, "created_at"), FieldText(k, "last_used_at"),
                    FieldText(k, "revoked_at")});
  }
  PrintTable(*context.out, rows);
}

void Revoke(Context& context, const AuthArgs& args) {
  auto result = context.CallPlugin(control::Command::kAuthKeysRevoke, {{"id", args.id}});
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  const auto key = result->value("key", nlohmann::ordered_json::object());
  *context.out << "API key " << FieldText(key, "id") << " (" << FieldText(key, "name")
               << ") revoked at " << FieldText(key, "revoked_at") << '\n';
}

void Token(Context& context, const AuthArgs& args) {
  nlohmann::ordered_json request = nlohmann::ordered_json::object();
  if (!args.scope.empty()) request["scope"] = args.scope;
  if (args.ttl > 0) request["ttl_seconds"] = args.ttl;
  auto result = context.CallPlugin(control::Command::kAuthToken, request);
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  // The token alone on stdout, so that TOKEN=$(streamgate auth token) works.
  *context.out << FieldText(*result, "token") << '\n';
}

void Rotate(Context& context) {
  auto result = context.CallPlugin(control::Command::kAuthRotate, nlohmann::ordered_json::object());
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  *context.out << "new signing key " << FieldText(*result, "signing_key")
               << "; the previous one verifies until auth.key_overlap passes\n";
}

}  // namespace

void AddAuthCommands(CLI::App& app, Context& context) {
  auto* group = app.add_subcommand("auth", "API keys, tokens and signing keys (the auth plugin)");
  group->require_subcommand(1);

  auto* keys = group->add_subcommand("keys", "Make, list and revoke API keys");
  keys->require_subcommand(1);
  auto create_args = std::make_shared<AuthArgs>();
  auto* create = keys->add_subcommand("create", "Make an API key; it is printed once");
  create->add_option("--name", create_args->name, "What uses the key (ci-uploader)")->required();
  create->add_option("--owner", create_args->owner,
                     "Whose videos its uploads are (default: key:ID)");
  create->add_option("--scope", create_args->scope,
                     "Scopes, space-separated: videos:write videos:read (default: both)");
  create->callback([&context, create_args] { Create(context, *create_args); });

  auto* list = keys->add_subcommand("list", "API keys, without their secrets");
  list->callback([&context] { List(context); });

  auto revoke_args = std::make_shared<AuthArgs>();
  auto* revoke = keys->add_subcommand("revoke", "Revoke an API key");
  revoke->add_option("ID", revoke_args->id, "The key's id (auth keys list)")->required();
  revoke->callback([&context, revoke_args] { Revoke(context, *revoke_args); });

  auto token_args = std::make_shared<AuthArgs>();
  auto* token = group->add_subcommand("token", "Print a token for the local operator");
  token->add_option("--scope", token_args->scope,
                    "Scopes, space-separated (default: videos:write videos:read)");
  token->add_option("--ttl", token_args->ttl, "Seconds it is good for (60 to 86400)")
      ->check(CLI::Range(60, 86400));
  token->callback([&context, token_args] { Token(context, *token_args); });

  auto* rotate = group->add_subcommand("rotate", "Make a new signing key for tokens and URLs");
  rotate->callback([&context] { Rotate(context); });
}

}  // namespace sg::cli
