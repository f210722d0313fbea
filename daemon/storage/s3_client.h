// The HTTP side of the S3 store: a request signed with AWS Signature V4, sent with libcurl and
// retried with backoff; a pool of curl handles keeps connections open between requests.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>

#include "common/curl_library.h"
#include "common/result.h"
#include "daemon/storage/s3_storage.h"

namespace sg::storage {

struct S3Request {
  std::string method{};  // GET, HEAD, PUT, POST, DELETE
  std::string key{};     // "" for the bucket itself
  std::map<std::string, std::string> query{};
  std::map<std::string, std::string> headers{};  // lower-case names, all signed
  std::string_view body{};
  size_t max_answer = size_t{1} << 20;  // a longer answer body fails the request
};

struct S3Response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

/// The HTTP side: signs, sends and retries one request at a time per thread; a pool of curl
/// handles keeps connections open between requests. Thread-safe.
class S3Client {
 public:
  explicit S3Client(S3Settings settings) : s_(std::move(settings)) {}
  ~S3Client() {
    for (CURL* h : idle_) Curl().easy_cleanup(h);
  }
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3Settings& settings() const { return s_; }

  /// Sends with retries on transport failures, timeouts, 5xx and 429; the last answer otherwise,
  /// whatever its status. `what` names the operation for messages ("put 'videos/1/source'").
  Result<S3Response> Send(const S3Request& request, const std::string& what);

  /// An Error for an answer that is not a success.
  Error ErrorFrom(const S3Response& response, const std::string& what, std::string_view key) const;

 private:
  CURL* Take() {
    std::lock_guard lock(mu_);
    if (idle_.empty()) return Curl().easy_init();
    CURL* h = idle_.back();
    idle_.pop_back();
    return h;
  }
  void Give(CURL* h) {
    std::lock_guard lock(mu_);
    if (idle_.size() < 16) {
      idle_.push_back(h);
    } else {
      Curl().easy_cleanup(h);
    }
  }
  Result<S3Response> Attempt(CURL* h, const S3Request& request, const std::string& payload_hash,
                             CURLcode& transport);

  const S3Settings s_;
  std::mutex mu_;
  std::vector<CURL*> idle_;  // guarded by mu_
};

}  // namespace sg::storage
