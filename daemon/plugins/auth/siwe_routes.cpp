// Sign-In with Ethereum (EIP-4361) and token gating: GET /api/v1/auth/siwe/nonce hands out a
// single-use nonce (kept in the cache service), POST /api/v1/auth/siwe/verify checks a signed
// message and signs a token for its address (an EOA's signature, or a contract wallet's through
// EIP-1271), and CheckHolder asks the chain whether a wallet holds the gate's token before a gated
// video's playback URL is handed out.
#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "common/logging.h"
#include "daemon/plugin_api/cache.h"
#include "daemon/plugin_api/catalogue_json.h"
#include "daemon/plugins/auth/auth_shared.h"
#include "daemon/plugins/auth/siwe.h"

namespace sg::plugins::auth {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxVerifyBody = 8192;
constexpr size_t kNonceLength = 20;
constexpr std::string_view kNoncePrefix = "siwe.nonce.";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// 20 characters of [0-9A-Za-z], about 119 bits, without modulo bias.
Result<std::string> NewNonce() {
  static constexpr std::string_view kAlphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  while (out.size() < kNonceLength) {
    auto bytes = Random(32);
    if (!bytes) return bytes.error();
    for (unsigned char b : *bytes) {
      if (b < 248 && out.size() < kNonceLength) out += kAlphabet[b % 62];
    }
  }
  return out;
}

HttpResponse Nonce(Shared& s, const std::string& request_id) {
  auto cache = s.services->Find<Cache>("cache");
  if (!cache) {
    return AccessProblem(503, "unavailable", "no cache service keeps nonces in this deployment",
                         "the operator must enable the cache plugin (plugins.enabled)");
  }
  auto nonce = NewNonce();
  if (!nonce) return AccessProblem(500, "internal", nonce.error().message, "see the daemon's log");
  auto stored = (*cache)->Set(std::string(kNoncePrefix) + *nonce, "1", s.siwe.nonce_ttl);
  if (!stored) {
    s.logger->error(log::With("Cannot store a SIWE nonce",
                              {{"error", stored.error().message}, {"request_id", request_id}}));
    return AccessProblem(503, "unavailable", "the cache cannot keep the nonce now",
                         "try again shortly; the operator sees why in 'streamgate health'");
  }
  return Json(
      200, {{"nonce", *nonce}, {"expires_at", FormatTimeMs(NowMs() + s.siwe.nonce_ttl.count())}});
}

// A token for `address`: the response of POST /api/v1/auth/siwe/verify.
HttpResponse Grant(Shared& s, const eth::Address& address, const std::string& how,
                   const std::string& request_id) {
  const std::string subject = eth::ChecksumAddress(address);
  auto token = s.Sign(subject, std::string(kScopeRead), s.token_ttl);
  if (!token) {
    s.Refused(Reason::kUnavailable);
    return AccessProblem(500, "internal", token.error().message, "see the daemon's log");
  }
  s.Issued("siwe");
  s.logger->info(log::With("Token issued for Sign-In with Ethereum",
                           {{"address", subject}, {"signature", how}, {"request_id", request_id}}));
  return Json(200, {{"token", token->token},
                    {"token_type", "Bearer"},
                    {"expires_in", s.token_ttl.count()},
                    {"expires_at", FormatTimeMs(token->expires * 1000)},
                    {"subject", token->subject},
                    {"scope", token->scope},
                    {"address", subject}});
}

HttpResponse Verify(Shared& s, const std::string& body, const std::string& host,
                    const std::string& request_id) {
  constexpr std::string_view kSend =
      "send {\"message\": the exact EIP-4361 text the wallet signed, \"signature\": \"0x...\"}";
  const json in = json::parse(body, nullptr, false);
  if (!in.is_object() || !in.contains("message") || !in["message"].is_string() ||
      !in.contains("signature") || !in["signature"].is_string()) {
    s.Refused(Reason::kMalformed);
    return AccessProblem(400, "bad_json",
                         "the body is not a JSON object with string fields "
                         "\"message\" and \"signature\"",
                         kSend);
  }
  const std::string text = in["message"].get<std::string>();
  const std::string signature = in["signature"].get<std::string>();
  auto message = siwe::Parse(text);
  if (!message) {
    s.Refused(Reason::kBadMessage);
    return AccessProblem(400, "bad_message",
                         "not a Sign-In with Ethereum message: " + message.error().message, kSend);
  }
  siwe::Expect expect;
  expect.domain = s.siwe.domain.empty() ? host : s.siwe.domain;
  expect.uri_prefixes = s.siwe.uris;
  expect.chain_id = s.web3.chain_id;
  expect.now_ms = NowMs();
  expect.max_age_ms = s.siwe.max_age.count();
  if (auto checked = siwe::Check(*message, expect); !checked) {
    const std::string& why = checked.error().message;
    const bool time = why.starts_with("issued at") || why.starts_with("expiration time") ||
                      why.starts_with("not before");
    s.Refused(time ? Reason::kExpired : Reason::kBadMessage);
    s.logger->warn(
        log::With("Sign-In with Ethereum refused", {{"reason", why}, {"request_id", request_id}}));
    return AccessProblem(
        401, time ? "expired" : "bad_message", why,
        fmt::format("get a new nonce (GET /api/v1/auth/siwe/nonce) and sign a new message for "
                    "domain {}, chain id {}",
                    expect.domain, expect.chain_id));
  }
  auto cache = s.services->Find<Cache>("cache");
  if (!cache) {
    s.Refused(Reason::kUnavailable);
    return AccessProblem(503, "unavailable", "no cache service keeps nonces in this deployment",
                         "the operator must enable the cache plugin (plugins.enabled)");
  }
  auto fresh = (*cache)->Delete(std::string(kNoncePrefix) + message->nonce);
  if (!fresh) {
    s.Refused(Reason::kUnavailable);
    s.logger->error(log::With("Cannot check a SIWE nonce",
                              {{"error", fresh.error().message}, {"request_id", request_id}}));
    return AccessProblem(503, "unavailable", "the cache cannot check the nonce now",
                         "try again shortly with a new nonce");
  }
  if (!*fresh) {
    s.Refused(Reason::kNonce);
    s.logger->warn(log::With("Sign-In with Ethereum refused: nonce unknown, expired or used",
                             {{"address", message->address}, {"request_id", request_id}}));
    return AccessProblem(401, "nonce", "nonce unknown, expired or used",
                         "get a new nonce (GET /api/v1/auth/siwe/nonce) and sign a new message "
                         "with it; each nonce is good once");
  }
  auto claimed = eth::ParseAddress(message->address);
  if (!claimed) {  // siwe::Parse checked it; kept for safety
    s.Refused(Reason::kBadMessage);
    return AccessProblem(400, "bad_message", claimed.error().message, kSend);
  }
  auto signer = eth::RecoverPersonal(text, signature);
  if (signer && *signer == *claimed) return Grant(s, *claimed, "eoa", request_id);
  const std::string mismatch = signer ? fmt::format("the message is signed by {}, not by {}",
                                                    eth::ChecksumAddress(*signer), message->address)
                                      : "the signature: " + signer.error().message;
  // A contract wallet signs through its owner(s): ask it (EIP-1271).
  auto bytes = eth::FromHex(signature);
  if (s.web3.rpc && bytes && !bytes->empty() && bytes->size() <= 4096) {
    auto answer = s.web3.rpc->EthCall(
        message->address, chain::IsValidSignature(eth::PersonalMessageHash(text), *bytes));
    if (answer) {
      auto magic = chain::IsMagic(*answer);
      if (magic && *magic) return Grant(s, *claimed, "eip1271", request_id);
    } else if (answer.error().code == ErrorCode::kUnavailable && signer) {
      s.Refused(Reason::kUnavailable);
      s.logger->warn(log::With("Sign-In with Ethereum: the chain cannot check a contract wallet",
                               {{"address", message->address},
                                {"error", answer.error().message},
                                {"request_id", request_id}}));
      return AccessProblem(503, "chain_unavailable",
                           "the signer is not the address, and the chain cannot be asked whether "
                           "the address is a contract wallet that accepts it: " +
                               answer.error().message,
                           "try again shortly with a new nonce");
    }
  }
  s.Refused(Reason::kBadSignature);
  s.logger->warn(
      log::With("Sign-In with Ethereum refused: bad signature",
                {{"address", message->address}, {"reason", mismatch}, {"request_id", request_id}}));
  return AccessProblem(401, "bad_signature", mismatch,
                       "sign the message with the key of the address in it (personal_sign, "
                       "EIP-191), with a new nonce");
}

void Submit(const std::shared_ptr<Shared>& s, const std::shared_ptr<HttpResponder>& responder,
            std::function<HttpResponse()> work) {
  if (!s->blocking->Submit([responder, work = std::move(work)] { responder->Send(work()); })) {
    s->Refused(Reason::kUnavailable);
    responder->Send(AccessProblem(503, "overloaded", "the server is busy", "try again shortly"));
  }
}

}  // namespace

Result<void> ConfigureWeb3(Shared& s, const config::Config& config) {
  Web3& w = s.web3;
  std::vector<std::string> urls;
  if (!config.String("web3.ethereum_rpc").empty())
    urls.push_back(config.String("web3.ethereum_rpc"));
  for (const auto& u : config.List("web3.rpc_fallbacks")) urls.push_back(u);
  if (!urls.empty()) {
    w.rpc = std::make_shared<chain::RpcClient>(urls, config.Duration("web3.rpc_timeout"));
  }
  const std::string& gate = config.String("web3.gate_contract");
  if (!gate.empty()) {
    auto address = eth::ParseAddress(gate);
    if (!address) {
      return Fail(ErrorCode::kConfig, "web3.gate_contract: " + address.error().message);
    }
    w.gate_contract = eth::ChecksumAddress(*address);
  }
  w.erc1155 = config.String("web3.gate_standard") == "erc1155";
  w.gate_token_id = config.String("web3.gate_token_id");
  if (auto data = chain::Erc1155BalanceOf(eth::Address{}, w.gate_token_id); !data) {
    return Fail(ErrorCode::kConfig, "web3.gate_token_id: " + data.error().message);
  }
  w.chain_id = static_cast<uint64_t>(config.Int("web3.chain_id"));
  w.owners = std::make_unique<chain::OwnershipCache>(config.Duration("web3.ownership_ttl"));
  s.siwe.domain = config.String("auth.siwe_domain");
  s.siwe.uris = config.List("auth.siwe_uris");
  s.siwe.nonce_ttl = config.Duration("auth.nonce_ttl");
  s.siwe.max_age = config.Duration("auth.siwe_max_age");
  if (w.rpc) {
    s.logger->info(log::With("Chain for Sign-In with Ethereum and gated videos",
                             {{"rpc_hosts", w.rpc->Hosts()},
                              {"chain_id", static_cast<int64_t>(w.chain_id)},
                              {"gate", w.gate_contract.empty() ? "none" : w.gate_contract}}));
  }
  return {};
}

Result<void> AddSiweRoutes(const std::shared_ptr<Shared>& s, Router& router,
                           std::vector<Registration>& routes) {
  auto nonce = router.AddAsyncRoute(
      "GET", "/api/v1/auth/siwe/nonce",
      [s](const HttpRequest& req, const std::shared_ptr<HttpResponder>& responder) {
        Submit(s, responder,
               [s, request_id = std::string(req.request_id)] { return Nonce(*s, request_id); });
      });
  if (!nonce) return nonce.error().Wrap("auth: add GET /api/v1/auth/siwe/nonce");
  routes.emplace_back([&router, id = *nonce] { router.RemoveRoute(id); });
  auto verify = router.AddAsyncRoute(
      "POST", "/api/v1/auth/siwe/verify",
      [s](const HttpRequest& req, const std::shared_ptr<HttpResponder>& responder) {
        if (req.body.size() > kMaxVerifyBody) {
          s->Refused(Reason::kMalformed);
          return responder->Send(AccessProblem(413, "too_large", "the body is over 8 KiB",
                                               "send {\"message\": ..., \"signature\": ...}"));
        }
        Submit(s, responder,
               [s, body = std::string(req.body), host = std::string(req.Header("Host")),
                request_id = std::string(req.request_id)] {
                 return Verify(*s, body, host, request_id);
               });
      });
  if (!verify) return verify.error().Wrap("auth: add POST /api/v1/auth/siwe/verify");
  routes.emplace_back([&router, id = *verify] { router.RemoveRoute(id); });
  return {};
}

std::optional<HttpResponse> CheckHolder(Shared& s, const std::string& video,
                                        const std::string& video_gate, const std::string& subject,
                                        const std::string& request_id) {
  Web3& w = s.web3;
  // The video's own gate ("erc721:0x..." or "erc1155:0x...:ID", checked by the catalogue), else
  // the server's.
  std::string gate_contract = w.gate_contract;
  bool erc1155 = w.erc1155;
  std::string gate_token_id = w.gate_token_id;
  if (!video_gate.empty()) {
    const size_t colon = video_gate.find(':');
    erc1155 = video_gate.starts_with("erc1155:");
    const std::string rest = video_gate.substr(colon + 1);
    auto address = eth::ParseAddress(rest.substr(0, 42));
    if (!address) {
      return AccessProblem(500, "internal", "video " + video + " has a bad gate: " + video_gate,
                           "set it again: PATCH /api/v1/videos/" + video + " {\"gate\": ...}");
    }
    gate_contract = eth::ChecksumAddress(*address);
    gate_token_id = erc1155 && rest.size() > 43 ? rest.substr(43) : "0";
  }
  if (gate_contract.empty()) {
    s.Refused(Reason::kNotHolder);
    return AccessProblem(403, "no_gate",
                         "video " + video + " is gated, but this server has no gate contract",
                         "the operator must set web3.gate_contract (and web3.ethereum_rpc), or "
                         "give the video a gate: PATCH /api/v1/videos/ID {\"gate\": ...}");
  }
  if (!w.rpc) {
    s.Refused(Reason::kUnavailable);
    return AccessProblem(503, "chain_unavailable",
                         "this server cannot ask the chain who holds the gate's token",
                         "the operator must set web3.ethereum_rpc");
  }
  auto wallet = eth::ParseAddress(subject);
  if (!wallet) {
    s.Refused(Reason::kNotHolder);
    return AccessProblem(403, "not_holder", "the token's subject is not a wallet address",
                         "sign in with a wallet: GET /api/v1/auth/siwe/nonce, then POST "
                         "/api/v1/auth/siwe/verify");
  }
  const std::string address = eth::ChecksumAddress(*wallet);
  const std::string key = fmt::format("{}|{}|{}|{}", gate_contract, erc1155 ? "erc1155" : "erc721",
                                      gate_token_id, Lower(address));
  std::optional<bool> holds = w.owners->Get(key);
  if (holds) {
    w.owner_hits.fetch_add(1);
  } else {
    w.owner_misses.fetch_add(1);
    auto data = erc1155 ? chain::Erc1155BalanceOf(*wallet, gate_token_id)
                        : Result<std::string>(chain::Erc721BalanceOf(*wallet));
    if (!data) return AccessProblem(500, "internal", data.error().message, "see the daemon's log");
    auto answer = w.rpc->EthCall(gate_contract, *data);
    Result<bool> balance = answer ? chain::NonZeroWord(*answer) : Result<bool>(answer.error());
    if (!balance) {
      // Never allowed on an error, and an error is never cached.
      s.Refused(Reason::kUnavailable);
      s.logger->warn(log::With("Gated playback refused: the chain cannot say who holds the gate",
                               {{"video", video},
                                {"address", address},
                                {"gate", gate_contract},
                                {"error", balance.error().message},
                                {"request_id", request_id}}));
      return AccessProblem(503, "chain_unavailable",
                           "cannot check the gate's token now: " + balance.error().message,
                           "try again shortly; the operator sees why in 'streamgate health'");
    }
    holds = *balance;
    w.owners->Put(key, *holds);
  }
  if (!*holds) {
    s.Refused(Reason::kNotHolder);
    s.logger->info(log::With("Gated playback refused: not a holder",
                             {{"video", video}, {"address", address}, {"request_id", request_id}}));
    return AccessProblem(
        403, "not_holder",
        fmt::format("{} is not a holder of the gate's token ({} at {})", address,
                    erc1155 ? "ERC-1155 id " + gate_token_id : "ERC-721", gate_contract),
        "get the token into this wallet, then ask again");
  }
  return std::nullopt;
}

void CollectWeb3(Shared& s, std::vector<MetricFamily>& out) {
  const Web3& w = s.web3;
  MetricFamily cache{"streamgate_auth_ownership_cache_total",
                     "Ownership answers wanted, by whether the cache had them",
                     "counter",
                     {}};
  cache.samples.push_back(
      Sample{"", {{"result", "hit"}}, static_cast<double>(w.owner_hits.load())});
  cache.samples.push_back(
      Sample{"", {{"result", "miss"}}, static_cast<double>(w.owner_misses.load())});
  out.push_back(std::move(cache));
  const chain::RpcClient::Stats rpc = w.rpc ? w.rpc->Snapshot() : chain::RpcClient::Stats{};
  MetricFamily calls{"streamgate_auth_rpc_calls_total",
                     "JSON-RPC calls to the chain, one per URL tried, by outcome",
                     "counter",
                     {}};
  calls.samples.push_back(Sample{"", {{"outcome", "ok"}}, static_cast<double>(rpc.ok)});
  calls.samples.push_back(Sample{"", {{"outcome", "error"}}, static_cast<double>(rpc.errors)});
  out.push_back(std::move(calls));
  MetricFamily latency{"streamgate_auth_rpc_duration_seconds",
                       "How long JSON-RPC calls to the chain took",
                       "histogram",
                       {}};
  std::vector<double> bounds;
  for (double ms : chain::LatencyBounds()) bounds.push_back(ms / 1000);
  std::vector<uint64_t> buckets = rpc.buckets;
  buckets.resize(bounds.size(), 0);
  AddHistogram(latency, {}, bounds, buckets, rpc.latency_sum_ms / 1000, rpc.latency_count);
  out.push_back(std::move(latency));
}

}  // namespace sg::plugins::auth
