// The chain as the auth plugin asks it: a blocking JSON-RPC client (libcurl) that makes eth_call
// against web3.ethereum_rpc and then each of web3.rpc_fallbacks in turn, the ABI of the three
// calls it makes (ERC-721 and ERC-1155 balanceOf, EIP-1271 isValidSignature), and a bounded cache
// of ownership answers. Called from the blocking pool only.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "daemon/plugins/auth/ethereum.h"

namespace sg::plugins::chain {

/// "host[:port]" of a URL, without scheme, user info, path or query: what logs and errors may
/// show of an RPC URL, whose path often holds an API key.
std::string HostOf(std::string_view url);

/// ABI call data, "0x"-prefixed hex.
std::string Erc721BalanceOf(const eth::Address& owner);
/// `token_id` in decimal (up to 2^256-1); kInvalidArgument otherwise.
Result<std::string> Erc1155BalanceOf(const eth::Address& owner, std::string_view token_id);
std::string IsValidSignature(const eth::Hash& hash, std::string_view signature);

/// A uint256 result (exactly one 32-byte word) is above zero. kInvalidArgument for anything else
/// ("0x" from an address without code, a short or long answer, bad hex).
Result<bool> NonZeroWord(std::string_view result_hex);
/// An EIP-1271 answer is the magic value 0x1626ba7e (a bytes4, left-aligned in one word).
/// "0x" (no code at the address) and any other word are false; bad hex is kInvalidArgument.
Result<bool> IsMagic(std::string_view result_hex);

/// Milliseconds bounds of the RPC latency histogram.
const std::vector<double>& LatencyBounds();

/// Thread-safe.
class RpcClient {
 public:
  /// `urls` in the order to try them. Only http and https can be used: another scheme is
  /// skipped, and counts as an error naming it.
  RpcClient(std::vector<std::string> urls, std::chrono::milliseconds timeout);

  /// The result of eth_call(to, data) at "latest", "0x"-prefixed hex. kUnavailable naming each
  /// URL's host and what went wrong when none answers; kFailedPrecondition when the call
  /// reverted (an answer, not an outage: the next URL is not asked).
  Result<std::string> EthCall(std::string_view to, std::string_view data_hex);

  struct Stats {
    uint64_t ok = 0;
    uint64_t errors = 0;
    std::vector<uint64_t> buckets;  // cumulative, per LatencyBounds()
    double latency_sum_ms = 0;
    uint64_t latency_count = 0;
    bool last_failed = false;
    std::string last_error;  // hosts only
  };
  Stats Snapshot() const;
  /// The hosts, in order, for logs.
  std::string Hosts() const;

 private:
  // One POST to one URL: the JSON-RPC result, or why not.
  Result<std::string> Post(const std::string& url, const std::string& body);
  void Record(bool ok, double ms, const std::string& error);

  std::vector<std::string> urls_;
  std::chrono::milliseconds timeout_;
  std::atomic<uint64_t> next_id_{1};
  mutable std::mutex mu_;
  Stats stats_;  // guarded by mu_
};

/// Ownership answers by contract|standard|token id|address, for a fixed time each; at most
/// `capacity` entries, the oldest dropped first. Thread-safe.
class OwnershipCache {
 public:
  OwnershipCache(std::chrono::milliseconds ttl, size_t capacity = 10000);
  std::optional<bool> Get(const std::string& key);
  void Put(const std::string& key, bool holds);
  size_t Size() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    bool holds = false;
    Clock::time_point expires;
    std::list<std::string>::iterator order;
  };
  std::chrono::milliseconds ttl_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  std::list<std::string> order_;                    // guarded by mu_: oldest first
};

}  // namespace sg::plugins::chain
