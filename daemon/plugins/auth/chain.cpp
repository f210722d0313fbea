#include "daemon/plugins/auth/chain.h"

#include <algorithm>
#include <mutex>

#include <curl/curl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/curl_library.h"

namespace sg::plugins::chain {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxAnswer = 1 << 20;  // an eth_call answer of ours is a word or two

std::string Word(const uint8_t* bytes, size_t n) {  // left-padded to 32 bytes, as hex
  return std::string(64 - 2 * n, '0') +
         eth::ToHex(std::string_view(reinterpret_cast<const char*>(bytes), n));
}

std::string Number(uint64_t n) { return fmt::format("{:064x}", n); }

size_t OnWrite(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * count > kMaxAnswer) return 0;  // ends the transfer
  out->append(data, size * count);
  return size * count;
}

}  // namespace

std::string HostOf(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  const size_t at = url.rfind('@');
  if (at != std::string_view::npos) url.remove_prefix(at + 1);
  return std::string(url.substr(0, 255));
}

std::string Erc721BalanceOf(const eth::Address& owner) {
  return "0x70a08231" + Word(owner.data(), owner.size());
}

Result<std::string> Erc1155BalanceOf(const eth::Address& owner, std::string_view token_id) {
  std::array<uint8_t, 32> id{};
  if (token_id.empty() || token_id.size() > 78) {
    return Fail(ErrorCode::kInvalidArgument, "a token id is 1 to 78 decimal digits");
  }
  for (char c : token_id) {
    if (c < '0' || c > '9') {
      return Fail(ErrorCode::kInvalidArgument, "a token id is written in decimal digits");
    }
    unsigned carry = static_cast<unsigned>(c - '0');
    for (size_t i = id.size(); i-- > 0;) {
      const unsigned v = id[i] * 10u + carry;
      id[i] = static_cast<uint8_t>(v & 0xff);
      carry = v >> 8;
    }
    if (carry != 0) return Fail(ErrorCode::kInvalidArgument, "the token id is above 2^256-1");
  }
  return "0x00fdd58e" + Word(owner.data(), owner.size()) + Word(id.data(), id.size());
}

std::string IsValidSignature(const eth::Hash& hash, std::string_view signature) {
  // (bytes32 hash, bytes signature): the hash, the offset of the bytes (two words in), their
  // length, and the bytes right-padded to a whole word.
  std::string out = "0x1626ba7e" + Word(hash.data(), hash.size()) + Number(64) +
                    Number(signature.size()) + eth::ToHex(signature);
  const size_t pad = (32 - signature.size() % 32) % 32;
  out.append(2 * pad, '0');
  return out;
}

Result<bool> NonZeroWord(std::string_view result_hex) {
  auto bytes = eth::FromHex(result_hex);
  if (!bytes) return bytes.error();
  if (bytes->size() != 32) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the contract answered {} bytes, not one 32-byte word (is it an "
                            "ERC-721 or ERC-1155 contract on this chain?)",
                            bytes->size()));
  }
  return std::any_of(bytes->begin(), bytes->end(), [](char c) { return c != 0; });
}

Result<bool> IsMagic(std::string_view result_hex) {
  auto bytes = eth::FromHex(result_hex);
  if (!bytes) return bytes.error();
  if (bytes->size() != 32) return false;  // "0x": no contract there
  static constexpr std::string_view kMagic("\x16\x26\xba\x7e", 4);
  return std::string_view(*bytes).substr(0, 4) == kMagic &&
         std::all_of(bytes->begin() + 4, bytes->end(), [](char c) { return c == 0; });
}

const std::vector<double>& LatencyBounds() {
  static const std::vector<double> kBounds = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
  return kBounds;
}

RpcClient::RpcClient(std::vector<std::string> urls, std::chrono::milliseconds timeout)
    : urls_(std::move(urls)), timeout_(timeout) {
  stats_.buckets.assign(LatencyBounds().size(), 0);
}

std::string RpcClient::Hosts() const {
  std::string out;
  for (const auto& u : urls_) out += (out.empty() ? "" : ", ") + HostOf(u);
  return out;
}

Result<std::string> RpcClient::Post(const std::string& url, const std::string& body) {
  const std::string host = HostOf(url);
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("{}: only http and https JSON-RPC URLs can be used", host));
  }
  auto loaded = LoadCurl();
  if (!loaded) return loaded.error().Wrap(host);
  const CurlLibrary& curl = **loaded;
  CURL* h = curl.easy_init();
  if (h == nullptr) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
  curl_slist* headers = curl.slist_append(nullptr, "Content-Type: application/json");
  std::string answer;
  char error[CURL_ERROR_SIZE] = {0};
  curl.easy_setopt(h, CURLOPT_URL, url.c_str());
  curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl.easy_setopt(h, CURLOPT_POST, 1L);
  curl.easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
  curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, OnWrite);
  curl.easy_setopt(h, CURLOPT_WRITEDATA, &answer);
  curl.easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  const CURLcode rc = curl.easy_perform(h);
  long status = 0;
  curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl.slist_free_all(headers);
  curl.easy_cleanup(h);
  if (rc != CURLE_OK) {
    // curl's message may quote the URL; name the host and curl's code only.
    return Fail(rc == CURLE_OPERATION_TIMEDOUT ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                fmt::format("{}: {}", host, curl.easy_strerror(rc)));
  }
  if (status != 200) {
    return Fail(ErrorCode::kUnavailable, fmt::format("{}: HTTP status {}", host, status));
  }
  const json reply = json::parse(answer, nullptr, false);
  if (!reply.is_object()) {
    return Fail(ErrorCode::kUnavailable, fmt::format("{}: the answer is not JSON-RPC", host));
  }
  if (reply.contains("error")) {
    const json& e = reply["error"];
    std::string message = e.is_object() ? e.value("message", "") : "";
    if (message.size() > 200) message.resize(200);
    if (message.find("revert") != std::string::npos) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("{}: the call reverted: {}", host, message));
    }
    return Fail(ErrorCode::kUnavailable, fmt::format("{}: JSON-RPC error: {}", host, message));
  }
  if (!reply.contains("result") || !reply["result"].is_string()) {
    return Fail(ErrorCode::kUnavailable, fmt::format("{}: the answer has no result", host));
  }
  return reply["result"].get<std::string>();
}

Result<std::string> RpcClient::EthCall(std::string_view to, std::string_view data_hex) {
  const json request = {{"jsonrpc", "2.0"},
                        {"method", "eth_call"},
                        {"params", {{{"to", to}, {"data", data_hex}}, "latest"}},
                        {"id", next_id_.fetch_add(1)}};
  const std::string body = request.dump();
  std::string failures;
  for (const auto& url : urls_) {
    const auto started = std::chrono::steady_clock::now();
    auto answer = Post(url, body);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    if (answer || answer.error().code == ErrorCode::kFailedPrecondition) {
      Record(true, ms, "");
      return answer;
    }
    failures += (failures.empty() ? "" : "; ") + answer.error().message;
    Record(false, ms, answer.error().message);
  }
  if (urls_.empty()) failures = "no JSON-RPC URL is configured (web3.ethereum_rpc)";
  return Fail(ErrorCode::kUnavailable, "the chain cannot be reached: " + failures);
}

void RpcClient::Record(bool ok, double ms, const std::string& error) {
  std::lock_guard lock(mu_);
  ++(ok ? stats_.ok : stats_.errors);
  const auto& bounds = LatencyBounds();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (ms <= bounds[i]) ++stats_.buckets[i];
  }
  stats_.latency_sum_ms += ms;
  ++stats_.latency_count;
  stats_.last_failed = !ok;
  stats_.last_error = error;
}

RpcClient::Stats RpcClient::Snapshot() const {
  std::lock_guard lock(mu_);
  return stats_;
}

OwnershipCache::OwnershipCache(std::chrono::milliseconds ttl, size_t capacity)
    : ttl_(ttl), capacity_(std::max<size_t>(capacity, 1)) {}

std::optional<bool> OwnershipCache::Get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (Clock::now() >= it->second.expires) {
    order_.erase(it->second.order);
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.holds;
}

void OwnershipCache::Put(const std::string& key, bool holds) {
  if (ttl_.count() <= 0) return;
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) {
    order_.erase(it->second.order);
    entries_.erase(it);
  }
  while (entries_.size() >= capacity_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(key);
  entries_[key] = Entry{holds, Clock::now() + ttl_, std::prev(order_.end())};
}

size_t OwnershipCache::Size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace sg::plugins::chain
