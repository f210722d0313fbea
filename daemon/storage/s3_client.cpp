#include "daemon/storage/s3_client.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "daemon/storage/object_key.h"
#include "daemon/storage/s3_signer.h"
#include "daemon/storage/s3_xml.h"

namespace sg::storage {

namespace {

std::string AmzDate(std::time_t now) {
  std::tm tm{};
  gmtime_r(&now, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y%m%dT%H%M%SZ", &tm);
  return out;
}

struct Upload {
  std::string_view body;
  size_t offset = 0;
};

size_t OnRead(char* buffer, size_t size, size_t n, void* data) {
  auto* up = static_cast<Upload*>(data);
  const size_t len = std::min(size * n, up->body.size() - up->offset);
  std::copy_n(up->body.data() + up->offset, len, buffer);
  up->offset += len;
  return len;
}

struct Answer {
  S3Response* response;
  size_t limit;
};

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* answer = static_cast<Answer*>(user);
  if (answer->response->body.size() + size * n > answer->limit) return 0;  // fails the transfer
  answer->response->body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* response = static_cast<S3Response*>(user);
  const std::string_view line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    response->headers[name] = std::string(value);
  } else if (line.starts_with("HTTP/")) {
    response->headers.clear();  // a new answer (after 100 Continue, say)
  }
  return size * n;
}

bool Retryable(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<S3Response> S3Client::Attempt(CURL* h, const S3Request& request,
                                     const std::string& payload_hash, CURLcode& transport) {
  const CurlLibrary& curl = Curl();
  const std::string path = request.key.empty()
                               ? fmt::format("/{}", s_.bucket)
                               : fmt::format("/{}/{}", s_.bucket, s3::UriEncode(request.key, true));
  const std::string query = s3::CanonicalQuery(request.query);
  const std::string url = fmt::format("{}://{}{}{}{}", s_.tls ? "https" : "http", s_.endpoint, path,
                                      query.empty() ? "" : "?", query);
  const std::string amz_date = AmzDate(std::time(nullptr));
  s3::SigningRequest signing{request.method, path, request.query, request.headers, payload_hash};
  signing.headers["host"] = s_.endpoint;
  signing.headers["x-amz-date"] = amz_date;
  signing.headers["x-amz-content-sha256"] = payload_hash;
  const std::string authorization =
      s3::Authorization(signing, {s_.access_key, s_.secret_key, s_.region}, amz_date);

  curl_slist* headers = nullptr;
  for (const auto& [name, value] : signing.headers) {
    headers = curl.slist_append(headers, fmt::format("{}: {}", name, value).c_str());
  }
  headers = curl.slist_append(headers, ("Authorization: " + authorization).c_str());
  headers = curl.slist_append(headers, "Expect:");  // no 100-continue round trip
  if (request.method == "POST" || request.method == "PUT") {
    headers = curl.slist_append(headers, "Content-Type: application/octet-stream");
  }

  S3Response response;
  Upload upload{request.body};
  Answer answer{&response, request.max_answer};
  curl.easy_reset(h);
  curl.easy_setopt(h, CURLOPT_URL, url.c_str());
  curl.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(s_.connect_timeout.count()));
  curl.easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl.easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(s_.stall_timeout.count()));
  curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, OnWrite);
  curl.easy_setopt(h, CURLOPT_WRITEDATA, &answer);
  curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl.easy_setopt(h, CURLOPT_HEADERDATA, &response);
  if (request.method == "HEAD") {
    curl.easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl.easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl.easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "POST") {
    curl.easy_setopt(h, CURLOPT_POST, 1L);
    curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.method == "PUT" || request.method == "POST") {
    curl.easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl.easy_setopt(h, CURLOPT_READDATA, &upload);
  }
  char error[CURL_ERROR_SIZE] = "";
  curl.easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  transport = curl.easy_perform(h);
  curl.slist_free_all(headers);
  if (transport != CURLE_OK) {
    const bool too_long = transport == CURLE_WRITE_ERROR;
    return Fail(ErrorCode::kUnavailable,
                too_long ? fmt::format("the answer from {} is longer than {} bytes", s_.endpoint,
                                       request.max_answer)
                         : fmt::format("{}://{}: {}", s_.tls ? "https" : "http", s_.endpoint,
                                       error[0] != '\0' ? error : curl.easy_strerror(transport)));
  }
  curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Result<S3Response> S3Client::Send(const S3Request& request, const std::string& what) {
  const std::string payload_hash = s_.tls ? "UNSIGNED-PAYLOAD" : s3::Sha256Hex(request.body);
  thread_local std::minstd_rand jitter(std::random_device{}());
  auto delay = s_.backoff;
  for (int attempt = 1;; ++attempt) {
    CURL* h = Take();
    if (h == nullptr) return Fail(ErrorCode::kInternal, "s3: curl_easy_init failed");
    CURLcode transport = CURLE_OK;
    auto answer = Attempt(h, request, payload_hash, transport);
    Give(h);
    bool again = false;
    if (!answer) {
      again = Retryable(transport);
    } else {
      const long status = answer->status;
      again = status >= 500 || status == 429 ||
              (status == 400 && s3::XmlText(answer->body, "Code") == "RequestTimeout");
    }
    if (!again || attempt >= s_.attempts) {
      if (!answer) {
        return answer.error().Wrap(fmt::format(
            "s3 {}{}", what, attempt > 1 ? fmt::format(" (after {} attempts)", attempt) : ""));
      }
      return answer;
    }
    // Backoff with jitter, so that many writers do not come back at once.
    std::this_thread::sleep_for(delay +
                                std::chrono::milliseconds(jitter() % (delay.count() / 2 + 1)));
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

Error S3Client::ErrorFrom(const S3Response& response, const std::string& what,
                          std::string_view key) const {
  const std::string code = s3::XmlText(response.body, "Code").value_or("");
  const std::string message = s3::XmlText(response.body, "Message").value_or("");
  const std::string said = code.empty() ? fmt::format("HTTP {}", response.status)
                                        : fmt::format("HTTP {} {}{}{}", response.status, code,
                                                      message.empty() ? "" : ": ", message);
  const std::string where = fmt::format("s3 {} at {}", what, s_.endpoint);
  if (response.status == 404 && code == "NoSuchBucket") {
    return Fail(ErrorCode::kNotFound,
                fmt::format("{}: bucket '{}' does not exist ({}); create it or set storage.bucket",
                            where, s_.bucket, said));
  }
  if (response.status == 404) {
    return Fail(ErrorCode::kNotFound, fmt::format("{}: no object '{}' in bucket '{}' ({})", where,
                                                  PrintableKey(key), s_.bucket, said));
  }
  if (response.status == 403 || response.status == 401) {
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("{}: access denied ({}); check storage.accesskey, storage.secretkey, "
                            "storage.region and the bucket's policy",
                            where, said));
  }
  if (response.status == 507 || code == "QuotaExceeded" || code == "EntityTooLarge") {
    return Fail(ErrorCode::kNoSpace, fmt::format("{}: no space for the object ({})", where, said));
  }
  if (response.status == 416) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: range not satisfiable ({})", where, said));
  }
  if (response.status == 412) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("{}: '{}' changed while it was read ({}); read it again", where,
                            PrintableKey(key), said));
  }
  if (response.status >= 500 || response.status == 429) {
    return Fail(ErrorCode::kUnavailable, fmt::format("{}: the store failed after {} attempts ({})",
                                                     where, s_.attempts, said));
  }
  return Fail(ErrorCode::kIo, fmt::format("{}: unexpected answer ({})", where, said));
}

}  // namespace sg::storage
