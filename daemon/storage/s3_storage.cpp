#include "daemon/storage/s3_storage.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>

#include "daemon/storage/object_key.h"
#include "daemon/storage/s3_client.h"
#include "daemon/storage/s3_signer.h"
#include "daemon/storage/s3_xml.h"

namespace sg::storage {

namespace {

constexpr size_t kMiB = size_t{1} << 20;

std::chrono::system_clock::time_point ParseTime(const std::string& text, const char* format) {
  std::tm tm{};
  if (strptime(text.c_str(), format, &tm) == nullptr) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string Quoted(std::string etag) {
  if (!etag.starts_with('"')) etag = "\"" + etag + "\"";
  return etag;
}

}  // namespace

namespace {

// Turns an answer into the error its status says, unless the status is one of `ok`.
Result<S3Response> Expect(S3Client& client, Result<S3Response> answer, const std::string& what,
                          std::string_view key, std::initializer_list<long> ok) {
  if (!answer) return answer;
  if (std::find(ok.begin(), ok.end(), answer->status) == ok.end()) {
    return client.ErrorFrom(*answer, what, key);
  }
  return answer;
}

Result<S3Response> Call(S3Client& client, const S3Request& request, const std::string& what,
                        std::initializer_list<long> ok = {200}) {
  return Expect(client, client.Send(request, what), what, request.key, ok);
}

Result<ObjectInfo> HeadObject(S3Client& client, std::string_view key) {
  const std::string what = fmt::format("stat '{}'", PrintableKey(key));
  auto answer = Call(client, {.method = "HEAD", .key = std::string(key)}, what);
  if (!answer) return answer.error();
  ObjectInfo info;
  info.key = std::string(key);
  const auto& h = answer->headers;
  uint64_t size = 0;
  if (const auto it = h.find("content-length"); it != h.end()) {
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), size);
  }
  info.size = size;
  if (const auto it = h.find("etag"); it != h.end()) info.etag = Quoted(it->second);
  if (const auto it = h.find("last-modified"); it != h.end()) {
    info.modified = ParseTime(it->second, "%a, %d %b %Y %H:%M:%S");
  }
  return info;
}

class S3Writer final : public ObjectWriter {
 public:
  S3Writer(S3Client& client, std::string key) : c_(client), key_(std::move(key)) {
    buffer_.reserve(c_.settings().part_size);
  }
  ~S3Writer() override { Abort(); }
  S3Writer(const S3Writer&) = delete;
  S3Writer& operator=(const S3Writer&) = delete;

  Result<void> Write(std::string_view bytes) override {
    if (done_) return Closed();
    const size_t part = c_.settings().part_size;
    while (!bytes.empty()) {
      const size_t take = std::min(part - buffer_.size(), bytes.size());
      buffer_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (buffer_.size() == part) {
        if (auto sent = SendPart(); !sent) return Failed(sent.error());
      }
    }
    return {};
  }

  Result<ObjectInfo> Commit() override {
    if (done_) return Closed();
    const std::string what = fmt::format("put '{}'", PrintableKey(key_));
    if (upload_id_.empty()) {
      // Smaller than a part: one PUT.
      auto put = Call(c_, {.method = "PUT", .key = key_, .body = buffer_}, what);
      if (!put) return Failed(put.error());
    } else {
      if (!buffer_.empty()) {
        if (auto sent = SendPart(); !sent) return Failed(sent.error());
      }
      if (auto waited = WaitForPart(); !waited) return Failed(waited.error());
      std::string xml = "<CompleteMultipartUpload>";
      for (size_t i = 0; i < etags_.size(); ++i) {
        xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1,
                           s3::XmlEscape(etags_[i]));
      }
      xml += "</CompleteMultipartUpload>";
      auto done = Call(
          c_, {.method = "POST", .key = key_, .query = {{"uploadId", upload_id_}}, .body = xml},
          what);
      // S3 may answer 200 and then an error in the body.
      if (done && done->body.find("<Error>") != std::string::npos) {
        done = c_.ErrorFrom({500, done->body, {}}, what, key_);
      }
      if (!done) return Failed(done.error());
      upload_id_.clear();
    }
    done_ = true;
    buffer_ = std::string();
    return HeadObject(c_, key_);
  }

  void Abort() override {
    if (done_) return;
    done_ = true;
    (void)WaitForPart();
    if (!upload_id_.empty()) {
      // Best effort: a store keeps the parts of an upload nobody aborts until its lifecycle rule
      // removes them.
      (void)c_.Send({.method = "DELETE", .key = key_, .query = {{"uploadId", upload_id_}}},
                    fmt::format("abort the upload of '{}'", PrintableKey(key_)));
      upload_id_.clear();
    }
    buffer_ = std::string();
  }

 private:
  // Starts uploading the buffer as the next part, after the one still in flight.
  Result<void> SendPart() {
    if (upload_id_.empty()) {
      const std::string what = fmt::format("start the upload of '{}'", PrintableKey(key_));
      auto started = Call(c_, {.method = "POST", .key = key_, .query = {{"uploads", ""}}}, what);
      if (!started) return started.error();
      upload_id_ = s3::XmlText(started->body, "UploadId").value_or("");
      if (upload_id_.empty()) {
        return Fail(ErrorCode::kIo, fmt::format("s3 {}: the answer names no UploadId", what));
      }
    }
    if (auto waited = WaitForPart(); !waited) return waited;
    std::swap(buffer_, sending_);
    buffer_.clear();
    buffer_.reserve(c_.settings().part_size);
    const int number = static_cast<int>(etags_.size()) + 1;
    etags_.emplace_back();
    in_flight_ = std::async(std::launch::async, [this, number]() -> Result<std::string> {
      const std::string what = fmt::format("put part {} of '{}'", number, PrintableKey(key_));
      auto sent = Call(c_,
                       {.method = "PUT",
                        .key = key_,
                        .query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id_}},
                        .body = sending_},
                       what);
      if (!sent) return sent.error();
      const auto etag = sent->headers.find("etag");
      if (etag == sent->headers.end()) {
        return Fail(ErrorCode::kIo, fmt::format("s3 {}: the answer has no ETag", what));
      }
      return etag->second;
    });
    return {};
  }

  Result<void> WaitForPart() {
    if (!in_flight_.valid()) return {};
    auto etag = in_flight_.get();
    if (!etag) return etag.error();
    etags_.back() = std::move(etag).value();
    return {};
  }

  Error Closed() const {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("s3: the write of '{}' is over (committed, aborted or failed); start "
                            "another",
                            PrintableKey(key_)));
  }
  Error Failed(const Error& error) {
    Abort();
    return error;
  }

  S3Client& c_;
  const std::string key_;
  std::string buffer_;   // the part being filled
  std::string sending_;  // the part in flight
  std::string upload_id_;
  std::vector<std::string> etags_;  // each part's ETag, by part number - 1
  std::future<Result<std::string>> in_flight_;
  bool done_ = false;
};

class S3Reader final : public ObjectReader {
 public:
  S3Reader(S3Client& client, ObjectInfo info, uint64_t offset, uint64_t length)
      : c_(client), info_(std::move(info)), offset_(offset), length_(length), next_(offset) {}

  const ObjectInfo& info() const override { return info_; }
  uint64_t offset() const override { return offset_; }
  uint64_t length() const override { return length_; }

  Result<size_t> Read(char* buffer, size_t max) override {
    if (used_ == window_.size()) {
      const uint64_t left = offset_ + length_ - next_;
      if (left == 0) return size_t{0};
      if (auto fetched = Fetch(std::min<uint64_t>(left, c_.settings().read_window)); !fetched) {
        return fetched.error();
      }
    }
    const size_t n = std::min(max, window_.size() - used_);
    std::copy_n(window_.data() + used_, n, buffer);
    used_ += n;
    return n;
  }

 private:
  Result<void> Fetch(uint64_t count) {
    const std::string what = fmt::format("get '{}'", PrintableKey(info_.key));
    const uint64_t last = next_ + count - 1;
    S3Request request{.method = "GET", .key = info_.key};
    request.headers["range"] = fmt::format("bytes={}-{}", next_, last);
    if (!info_.etag.empty()) request.headers["if-match"] = info_.etag;
    request.max_answer = static_cast<size_t>(count);
    auto answer = Call(c_, request, what, {206});
    if (!answer) return answer.error();
    if (answer->body.size() != count) {
      return Fail(ErrorCode::kIo, fmt::format("s3 {}: asked for bytes {}-{}, got {} bytes", what,
                                              next_, last, answer->body.size()));
    }
    window_ = std::move(answer->body);
    used_ = 0;
    next_ += count;
    return {};
  }

  S3Client& c_;
  const ObjectInfo info_;
  const uint64_t offset_;
  const uint64_t length_;
  uint64_t next_;       // the first byte not fetched yet
  std::string window_;  // fetched, not all delivered
  size_t used_ = 0;     // bytes of window_ delivered
};

}  // namespace

Result<std::unique_ptr<S3Storage>> S3Storage::Create(S3Settings settings) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const auto refuse = [](const std::string& why) {
    return Fail(ErrorCode::kConfig, "s3 storage: " + why);
  };
  if (settings.endpoint.empty()) return refuse("storage.endpoint is empty; set it to host:port");
  if (settings.bucket.empty()) return refuse("storage.bucket is empty; name the bucket");
  if (settings.access_key.empty() || settings.secret_key.empty()) {
    return refuse("storage.accesskey and storage.secretkey must both be set");
  }
  if (settings.part_size < kMiB || settings.read_window < 1 || settings.attempts < 1) {
    return refuse("part size below 1 MiB, empty read window or no attempts");
  }
  return std::unique_ptr<S3Storage>(new S3Storage(std::make_unique<S3Client>(std::move(settings))));
}

S3Storage::S3Storage(std::unique_ptr<S3Client> client) : client_(std::move(client)) {}
S3Storage::~S3Storage() = default;

Result<std::unique_ptr<ObjectWriter>> S3Storage::Put(std::string_view key) {
  if (auto valid = ValidateKey(key); !valid) return valid.error();
  return std::unique_ptr<ObjectWriter>(new S3Writer(*client_, std::string(key)));
}

Result<std::unique_ptr<ObjectReader>> S3Storage::Get(std::string_view key, ByteRange range) {
  auto info = Stat(key);
  if (!info) return info.error();
  const auto span = ResolveRange(range, info->size, key);
  if (!span) return span.error();
  return std::unique_ptr<ObjectReader>(
      new S3Reader(*client_, std::move(info).value(), span->first, span->second));
}

Result<ObjectInfo> S3Storage::Stat(std::string_view key) {
  if (auto valid = ValidateKey(key); !valid) return valid.error();
  return HeadObject(*client_, key);
}

Result<std::vector<ObjectInfo>> S3Storage::List(std::string_view prefix) {
  if (auto valid = ValidatePrefix(prefix); !valid) return valid.error();
  std::vector<ObjectInfo> out;
  std::string token;
  const std::string what = fmt::format("list '{}'", PrintableKey(prefix));
  for (;;) {
    S3Request request{.method = "GET",
                      .query = {{"list-type", "2"}, {"prefix", std::string(prefix)}}};
    if (!token.empty()) request.query["continuation-token"] = token;
    request.max_answer = 64 * kMiB;
    auto answer = Call(*client_, request, what);
    if (!answer) return answer.error();
    for (const std::string_view item : s3::XmlElements(answer->body, "Contents")) {
      ObjectInfo info;
      info.key = s3::XmlText(item, "Key").value_or("");
      const std::string size = s3::XmlText(item, "Size").value_or("0");
      std::from_chars(size.data(), size.data() + size.size(), info.size);
      info.etag = Quoted(s3::XmlText(item, "ETag").value_or(""));
      info.modified =
          ParseTime(s3::XmlText(item, "LastModified").value_or(""), "%Y-%m-%dT%H:%M:%S");
      if (!info.key.empty()) out.push_back(std::move(info));
    }
    token = s3::XmlText(answer->body, "NextContinuationToken").value_or("");
    if (s3::XmlText(answer->body, "IsTruncated") != "true" || token.empty()) break;
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Result<void> S3Storage::Delete(std::string_view key) {
  // S3 answers 204 whether or not the object was there: ask first, to report kNotFound.
  if (auto info = Stat(key); !info) return info.error();
  auto answer = Call(*client_, {.method = "DELETE", .key = std::string(key)},
                     fmt::format("delete '{}'", PrintableKey(key)), {200, 204});
  if (!answer) return answer.error();
  return {};
}

}  // namespace sg::storage
