#include "daemon/storage/s3_storage.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/curl_library.h"
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

// Uploads one part of a multipart upload; its ETag.
Result<std::string> UploadPart(S3Client& client, const std::string& key,
                               const std::string& upload_id, int number, std::string_view bytes,
                               const std::string& what) {
  auto sent = Call(client,
                   {.method = "PUT",
                    .key = key,
                    .query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}},
                    .body = bytes},
                   what);
  if (!sent) return sent.error();
  const auto etag = sent->headers.find("etag");
  if (etag == sent->headers.end()) {
    return Fail(ErrorCode::kIo, fmt::format("s3 {}: the answer has no ETag", what));
  }
  return etag->second;
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

// Every object under `prefix`, hidden ones included, sorted by key.
Result<std::vector<ObjectInfo>> ListObjects(S3Client& client, std::string_view prefix) {
  std::vector<ObjectInfo> out;
  std::string token;
  const std::string what = fmt::format("list '{}'", PrintableKey(prefix));
  for (;;) {
    S3Request request{.method = "GET",
                      .query = {{"list-type", "2"}, {"prefix", std::string(prefix)}}};
    if (!token.empty()) request.query["continuation-token"] = token;
    request.max_answer = 64 * kMiB;
    auto answer = Call(client, request, what);
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
      return UploadPart(c_, key_, upload_id_, number, sending_, what);
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
  if (auto curl = LoadCurl(); !curl) return curl.error().Wrap("s3 storage");
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
  auto listed = ListObjects(*client_, prefix);
  if (!listed) return listed.error();
  // The staging's hidden objects (".sg-staging/...") are not objects of the callers'.
  std::erase_if(*listed, [](const ObjectInfo& info) { return info.key.starts_with(".sg-"); });
  return listed;
}

Result<void> S3Storage::Delete(std::string_view key) {
  // S3 answers 204 whether or not the object was there: ask first, to report kNotFound.
  if (auto info = Stat(key); !info) return info.error();
  auto answer = Call(*client_, {.method = "DELETE", .key = std::string(key)},
                     fmt::format("delete '{}'", PrintableKey(key)), {200, 204});
  if (!answer) return answer.error();
  return {};
}

// Staging for resumable uploads. Under the hidden prefix ".sg-staging/ID/" live:
//   manifest  JSON: the multipart upload's id, each uploaded part (number, ETag, size), the tail's
//             generation and size, the kept size and the caller's meta. What it names is durable.
//   tail-0, tail-1  the kept bytes after the last full part (less than a part, which S3 cannot
//             take as a part but the last): Sync writes the one the manifest does not name, then
//             the manifest, so a kill between the two leaves the old pair whole.
//   object    the multipart upload's target; it exists only briefly, at Commit.
// Full parts go to the multipart upload as they fill, never to local disk.
namespace {

constexpr std::string_view kStagingPrefix = ".sg-staging/";
// CopyObject takes up to 5 GiB; a larger object is copied by ranges (UploadPartCopy).
constexpr uint64_t kCopyObjectLimit = uint64_t{5} << 30;
constexpr uint64_t kCopyPart = uint64_t{1} << 30;

struct StagedPart {
  int number = 0;
  std::string etag;
  uint64_t size = 0;
};

struct Manifest {
  std::string upload_id;  // "" until the first full part
  std::vector<StagedPart> parts;
  uint64_t tail_gen = 0;  // the tail is tail-(tail_gen % 2)
  uint64_t tail_size = 0;
  uint64_t size = 0;  // kept: the parts' sizes plus tail_size
  std::string meta;
};

std::string StagingDir(std::string_view id) { return fmt::format("{}{}/", kStagingPrefix, id); }

std::string TailKey(const std::string& dir, uint64_t gen) {
  return fmt::format("{}tail-{}", dir, gen % 2);
}

Error NothingStaged(std::string_view id) {
  return Fail(ErrorCode::kNotFound, fmt::format("s3 storage: nothing is staged under '{}'", id));
}

Result<std::string> ManifestJson(const Manifest& m) {
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& p : m.parts) {
    parts.push_back({{"number", p.number}, {"etag", p.etag}, {"size", p.size}});
  }
  const nlohmann::json json{{"version", 1},           {"upload_id", m.upload_id}, {"parts", parts},
                            {"tail_gen", m.tail_gen}, {"tail_size", m.tail_size}, {"size", m.size},
                            {"meta", m.meta}};
  try {
    return json.dump();
  } catch (const nlohmann::json::exception&) {
    return Fail(ErrorCode::kInvalidArgument,
                "s3 storage: a staged upload's meta must be UTF-8 text (JSON)");
  }
}

Result<Manifest> ParseManifest(const std::string& text, const std::string& key) {
  const auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kIo,
                fmt::format("s3 storage: staging manifest '{}' {}; the upload cannot be resumed: "
                            "delete it (DeleteStaged)",
                            key, why));
  };
  Manifest m;
  try {
    const auto json = nlohmann::json::parse(text);
    if (json.at("version").get<int>() != 1) return bad("has an unknown version");
    m.upload_id = json.at("upload_id").get<std::string>();
    for (const auto& p : json.at("parts")) {
      m.parts.push_back({p.at("number").get<int>(), p.at("etag").get<std::string>(),
                         p.at("size").get<uint64_t>()});
    }
    m.tail_gen = json.at("tail_gen").get<uint64_t>();
    m.tail_size = json.at("tail_size").get<uint64_t>();
    m.size = json.at("size").get<uint64_t>();
    m.meta = json.at("meta").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return bad(fmt::format("is not valid ({})", e.what()));
  }
  uint64_t sum = m.tail_size;
  for (size_t i = 0; i < m.parts.size(); ++i) {
    if (m.parts[i].number != static_cast<int>(i) + 1) return bad("has parts out of order");
    sum += m.parts[i].size;
  }
  if (sum != m.size) return bad("does not add up (parts and tail against the kept size)");
  if (!m.parts.empty() && m.upload_id.empty()) return bad("has parts but no upload id");
  return m;
}

Result<void> PutObject(S3Client& c, const std::string& key, std::string_view body,
                       const std::string& what) {
  auto put = Call(c, {.method = "PUT", .key = key, .body = body}, what);
  if (!put) return put.error();
  return {};
}

Result<void> SaveManifest(S3Client& c, const std::string& dir, const Manifest& m,
                          std::string_view id) {
  auto json = ManifestJson(m);
  if (!json) return json.error();
  return PutObject(c, dir + "manifest", *json, fmt::format("save the staging of '{}'", id));
}

Result<Manifest> LoadManifest(S3Client& c, const std::string& dir, std::string_view id) {
  const std::string key = dir + "manifest";
  auto got = Call(c, {.method = "GET", .key = key}, fmt::format("read the staging of '{}'", id));
  if (!got) {
    if (got.error().code == ErrorCode::kNotFound) return NothingStaged(id);
    return got.error();
  }
  return ParseManifest(got->body, key);
}

// Completes a multipart upload; S3 may answer 200 and then an error in the body.
Result<void> CompleteUpload(S3Client& c, const std::string& key, const std::string& upload_id,
                            const std::vector<StagedPart>& parts, const std::string& what) {
  std::string xml = "<CompleteMultipartUpload>";
  for (const auto& p : parts) {
    xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", p.number,
                       s3::XmlEscape(p.etag));
  }
  xml += "</CompleteMultipartUpload>";
  auto done = Call(
      c, {.method = "POST", .key = key, .query = {{"uploadId", upload_id}}, .body = xml}, what);
  if (done && done->body.find("<Error>") != std::string::npos) {
    done = c.ErrorFrom({500, done->body, {}}, what, key);
  }
  if (!done) return done.error();
  return {};
}

Result<std::string> StartUpload(S3Client& c, const std::string& key, const std::string& what) {
  auto started = Call(c, {.method = "POST", .key = key, .query = {{"uploads", ""}}}, what);
  if (!started) return started.error();
  std::string id = s3::XmlText(started->body, "UploadId").value_or("");
  if (id.empty())
    return Fail(ErrorCode::kIo, fmt::format("s3 {}: the answer names no UploadId", what));
  return id;
}

void AbortUpload(S3Client& c, const std::string& key, const std::string& upload_id) {
  // Best effort: a store keeps the parts of an upload nobody aborts until its lifecycle rule
  // removes them (s3rver does not implement the abort at all).
  (void)c.Send({.method = "DELETE", .key = key, .query = {{"uploadId", upload_id}}},
               fmt::format("abort the upload of '{}'", PrintableKey(key)));
}

// Copies `from` to `to` inside the bucket, server-side: no byte passes through us. S3 cannot
// rename, and the multipart upload's key was fixed before the final key was known.
Result<void> CopyInside(S3Client& c, const std::string& from, const std::string& to,
                        uint64_t size) {
  const std::string what = fmt::format("copy '{}' to '{}'", PrintableKey(from), PrintableKey(to));
  const std::string source = fmt::format("/{}/{}", c.settings().bucket, s3::UriEncode(from, true));
  const auto check = [&](Result<S3Response> answer) -> Result<S3Response> {
    if (answer && answer->body.find("<Error>") != std::string::npos) {
      return c.ErrorFrom({500, answer->body, {}}, what, to);
    }
    return answer;
  };
  if (size <= kCopyObjectLimit) {
    S3Request request{.method = "PUT", .key = to};
    request.headers["x-amz-copy-source"] = source;
    auto copied = check(Call(c, request, what));
    if (!copied) return copied.error();
    return {};
  }
  // Past CopyObject's limit: a multipart upload of ranges of the source (UploadPartCopy).
  auto upload = StartUpload(c, to, what);
  if (!upload) return upload.error();
  const uint64_t part = std::max(kCopyPart, (size + 9999) / 10000);
  std::vector<StagedPart> parts;
  for (uint64_t at = 0; at < size; at += part) {
    const uint64_t last = std::min(size, at + part) - 1;
    const int number = static_cast<int>(parts.size()) + 1;
    S3Request request{.method = "PUT",
                      .key = to,
                      .query = {{"partNumber", std::to_string(number)}, {"uploadId", *upload}}};
    request.headers["x-amz-copy-source"] = source;
    request.headers["x-amz-copy-source-range"] = fmt::format("bytes={}-{}", at, last);
    auto copied = check(Call(c, request, fmt::format("{} (part {})", what, number)));
    const auto etag = copied ? s3::XmlText(copied->body, "ETag") : std::nullopt;
    if (!copied || !etag) {
      AbortUpload(c, to, *upload);
      if (!copied) return copied.error();
      return Fail(ErrorCode::kIo,
                  fmt::format("s3 {}: part {}: the answer has no ETag", what, number));
    }
    parts.push_back({number, *etag, last - at + 1});
  }
  if (auto done = CompleteUpload(c, to, *upload, parts, what); !done) {
    AbortUpload(c, to, *upload);
    return done;
  }
  return {};
}

// Deletes every object under a staging's folder, the manifest last: until then the staging is
// still listed, so that a collector comes back for what an interrupted removal left.
Result<bool> RemoveStaging(S3Client& c, const std::string& dir, std::string_view id) {
  auto listed = ListObjects(c, dir);
  if (!listed) return listed.error();
  bool manifest = false;
  for (const auto& info : *listed) {
    if (info.key == dir + "manifest") {
      manifest = true;
      continue;
    }
    auto gone = Call(c, {.method = "DELETE", .key = info.key},
                     fmt::format("remove the staging of '{}'", id), {200, 204});
    if (!gone) return gone.error();
  }
  if (manifest) {
    auto gone = Call(c, {.method = "DELETE", .key = dir + "manifest"},
                     fmt::format("remove the staging of '{}'", id), {200, 204});
    if (!gone) return gone.error();
  }
  return !listed->empty();
}

class S3Staged final : public StagedObject {
 public:
  // `tail` holds the kept bytes after the last full part, read back from the tail object.
  S3Staged(S3Client& client, std::string id, Manifest kept, std::string tail)
      : c_(client),
        id_(std::move(id)),
        dir_(StagingDir(id_)),
        kept_(std::move(kept)),
        parts_(kept_.parts),
        buffer_(std::move(tail)),
        appended_(kept_.size) {}
  ~S3Staged() override { (void)WaitForPart(); }
  S3Staged(const S3Staged&) = delete;
  S3Staged& operator=(const S3Staged&) = delete;

  const std::string& id() const override { return id_; }
  uint64_t size() const override { return kept_.size; }
  uint64_t appended() const override { return appended_; }
  const std::string& meta() const override { return kept_.meta; }

  Result<void> Append(std::string_view bytes) override {
    if (auto usable = Usable(); !usable) return usable;
    const size_t part = c_.settings().part_size;
    while (!bytes.empty()) {
      const size_t take = std::min(part - buffer_.size(), bytes.size());
      buffer_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      appended_ += take;
      if (buffer_.size() == part) {
        if (auto sent = SendPart(); !sent) return Broken(sent.error());
      }
    }
    return {};
  }

  Result<void> Sync(std::optional<std::string> meta) override {
    if (auto usable = Usable(); !usable) return usable;
    if (appended_ == kept_.size && !meta) return {};
    if (auto waited = WaitForPart(); !waited) return Broken(waited.error());
    Manifest next = kept_;
    next.parts = parts_;
    next.size = appended_;
    if (meta) next.meta = std::move(*meta);
    if (appended_ != kept_.size) {
      // The tail changed: write it under the name the kept manifest does not use.
      next.tail_gen = kept_.tail_gen + 1;
      next.tail_size = buffer_.size();
      if (!buffer_.empty()) {
        auto saved = PutObject(c_, TailKey(dir_, next.tail_gen), buffer_,
                               fmt::format("save the tail of staged '{}'", id_));
        if (!saved) return Broken(saved.error());
      }
    }
    if (auto saved = SaveManifest(c_, dir_, next, id_); !saved) {
      return saved.error().code == ErrorCode::kInvalidArgument ? saved : Broken(saved.error());
    }
    kept_ = std::move(next);
    flushed_ = false;
    return {};
  }

  Result<void> Rollback() override {
    if (spent_) return Spent();
    (void)WaitForPart();
    parts_ = kept_.parts;
    if (flushed_) {
      // A part went out since the last Sync, taking the kept tail with it: read the tail back.
      std::string tail;
      if (kept_.tail_size > 0) {
        auto got = ReadTail(c_, dir_, kept_, id_);
        if (!got) return got.error();
        tail = std::move(got).value();
      }
      buffer_ = std::move(tail);
    } else {
      buffer_.resize(kept_.tail_size);
    }
    appended_ = kept_.size;
    flushed_ = false;
    broken_ = false;
    return {};
  }

  Result<ObjectInfo> Commit(std::string_view key) override {
    if (spent_) return Spent();
    if (auto valid = ValidateKey(key); !valid) return valid.error();
    // Bytes of a failed Append are past the kept size: not part of the object.
    if (broken_) {
      if (auto cut = Rollback(); !cut) return cut.error();
    }
    if (auto synced = Sync(std::nullopt); !synced) return synced.error();
    const std::string target(key);
    const std::string what = fmt::format("commit staged '{}' to '{}'", id_, PrintableKey(key));
    if (kept_.parts.empty()) {
      // Smaller than a part: no multipart upload was started; the tail is the object.
      if (auto put = PutObject(c_, target, buffer_, what); !put) return put.error();
      // An upload started for parts a Rollback then dropped.
      if (!kept_.upload_id.empty()) AbortUpload(c_, dir_ + "object", kept_.upload_id);
    } else {
      const std::string hidden = dir_ + "object";
      auto completed = Complete(hidden, what);
      if (!completed && completed.error().code == ErrorCode::kNotFound) {
        // A Commit interrupted after the completion: the upload is gone, its object is there.
        auto there = HeadObject(c_, hidden);
        if (there && there->size == kept_.size) completed = {};
      }
      if (!completed) return completed.error();
      if (auto copied = CopyInside(c_, hidden, target, kept_.size); !copied) {
        return copied.error();
      }
    }
    spent_ = true;
    buffer_ = std::string();
    // The object is in place: what is left is cleanup, which a collector (ListStaged,
    // DeleteStaged) finishes if it fails here.
    (void)RemoveStaging(c_, dir_, id_);
    return HeadObject(c_, target);
  }

  static Result<std::string> ReadTail(S3Client& c, const std::string& dir, const Manifest& m,
                                      std::string_view id) {
    const std::string key = TailKey(dir, m.tail_gen);
    S3Request request{.method = "GET", .key = key};
    request.max_answer = static_cast<size_t>(m.tail_size) + 1;
    auto got = Call(c, request, fmt::format("read the tail of staged '{}'", id));
    if (!got) {
      if (got.error().code != ErrorCode::kNotFound) return got.error();
      return Fail(ErrorCode::kIo,
                  fmt::format("s3 storage: the tail of staged '{}' ({}) is missing; the upload "
                              "cannot be resumed: delete it (DeleteStaged)",
                              id, key));
    }
    if (got->body.size() != m.tail_size) {
      return Fail(ErrorCode::kIo,
                  fmt::format("s3 storage: the tail of staged '{}' ({}) has {} bytes, its "
                              "manifest says {}; the upload cannot be resumed: delete it",
                              id, key, got->body.size(), m.tail_size));
    }
    return std::move(got->body);
  }

 private:
  Result<void> Usable() const {
    if (spent_) return Spent();
    if (broken_) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("s3 storage: staged '{}' failed to append or sync; roll back to "
                              "the kept size (Rollback) or open it again",
                              id_));
    }
    return {};
  }

  Error Spent() const {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("s3 storage: staged '{}' was committed; open it again", id_));
  }

  Error Broken(const Error& error) {
    broken_ = true;
    return error;
  }

  // Uploads the full buffer as the next part, while the caller fills the next one.
  Result<void> SendPart() {
    if (kept_.upload_id.empty()) {
      auto started = StartUpload(c_, dir_ + "object",
                                 fmt::format("start the multipart upload of staged '{}'", id_));
      if (!started) return started.error();
      // Recorded at once (the kept state otherwise unchanged), so that DeleteStaged can abort an
      // upload whose process died before its next Sync.
      Manifest next = kept_;
      next.upload_id = *started;
      if (auto saved = SaveManifest(c_, dir_, next, id_); !saved) {
        AbortUpload(c_, dir_ + "object", *started);
        return saved;
      }
      kept_ = std::move(next);
    }
    if (auto waited = WaitForPart(); !waited) return waited;
    std::swap(buffer_, sending_);
    buffer_.clear();
    flushed_ = true;
    const int number = static_cast<int>(parts_.size()) + 1;
    parts_.push_back({number, "", sending_.size()});
    in_flight_ =
        std::async(std::launch::async, [this, number] { return PutPart(number, sending_); });
    return {};
  }

  Result<std::string> PutPart(int number, std::string_view bytes) {
    const std::string what = fmt::format("put part {} of staged '{}'", number, id_);
    return UploadPart(c_, dir_ + "object", kept_.upload_id, number, bytes, what);
  }

  Result<void> WaitForPart() {
    if (!in_flight_.valid()) return {};
    auto etag = in_flight_.get();
    sending_ = std::string();
    if (!etag) return etag.error();
    parts_.back().etag = std::move(etag).value();
    return {};
  }

  // Uploads the tail as the last part and completes the upload into the hidden object.
  Result<void> Complete(const std::string& hidden, const std::string& what) {
    std::vector<StagedPart> all = kept_.parts;
    if (!buffer_.empty()) {
      const int number = static_cast<int>(all.size()) + 1;
      auto etag = PutPart(number, buffer_);
      if (!etag) return etag.error();
      all.push_back({number, *etag, buffer_.size()});
    }
    return CompleteUpload(c_, hidden, kept_.upload_id, all, what);
  }

  S3Client& c_;
  const std::string id_;
  const std::string dir_;          // ".sg-staging/ID/"
  Manifest kept_;                  // as saved: what Sync made durable
  std::vector<StagedPart> parts_;  // uploaded or in flight: the kept ones, then newer ones
  std::string buffer_;             // appended after the last full part (starts with the kept tail)
  std::string sending_;            // the part in flight
  std::future<Result<std::string>> in_flight_;
  uint64_t appended_ = 0;
  bool flushed_ = false;  // a part went out since the last Sync
  bool broken_ = false;   // an append or sync failed: Rollback before going on
  bool spent_ = false;    // committed
};

}  // namespace

Result<std::unique_ptr<StagedObject>> S3Storage::Stage(std::string_view id, std::string meta) {
  if (auto valid = ValidateStagedId(id); !valid) return valid.error();
  const std::string dir = StagingDir(id);
  auto there = HeadObject(*client_, dir + "manifest");
  if (there) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("s3 storage: '{}' is already staged", id));
  }
  if (there.error().code != ErrorCode::kNotFound) return there.error();
  Manifest m;
  m.meta = std::move(meta);
  if (auto saved = SaveManifest(*client_, dir, m, id); !saved) return saved.error();
  return std::unique_ptr<StagedObject>(new S3Staged(*client_, std::string(id), std::move(m), ""));
}

Result<std::unique_ptr<StagedObject>> S3Storage::OpenStaged(std::string_view id) {
  if (auto valid = ValidateStagedId(id); !valid) return valid.error();
  const std::string dir = StagingDir(id);
  auto m = LoadManifest(*client_, dir, id);
  if (!m) return m.error();
  std::string tail;
  if (m->tail_size > 0) {
    auto got = S3Staged::ReadTail(*client_, dir, *m, id);
    if (!got) return got.error();
    tail = std::move(got).value();
  }
  return std::unique_ptr<StagedObject>(
      new S3Staged(*client_, std::string(id), std::move(m).value(), std::move(tail)));
}

Result<StagedInfo> S3Storage::StatStaged(std::string_view id) {
  if (auto valid = ValidateStagedId(id); !valid) return valid.error();
  auto m = LoadManifest(*client_, StagingDir(id), id);
  if (!m) return m.error();
  return StagedInfo{std::string(id), m->size, std::move(m->meta), {}};
}

Result<std::vector<StagedInfo>> S3Storage::ListStaged() {
  auto listed = ListObjects(*client_, kStagingPrefix);
  if (!listed) return listed.error();
  std::vector<StagedInfo> out;
  for (const auto& object : *listed) {
    const std::string_view rest = std::string_view(object.key).substr(kStagingPrefix.size());
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos || rest.substr(slash + 1) != "manifest") continue;
    const std::string_view id = rest.substr(0, slash);
    if (!ValidateStagedId(id)) continue;
    auto m = LoadManifest(*client_, StagingDir(id), id);
    if (!m) {
      if (m.error().code == ErrorCode::kNotFound) continue;  // gone meanwhile
      if (m.error().code != ErrorCode::kIo) return m.error();
      // An unreadable manifest is listed (size 0), so that a collector deletes it.
      m = Manifest{};
    }
    out.push_back({std::string(id), m->size, std::move(m->meta), object.modified});
  }
  std::sort(out.begin(), out.end(),
            [](const StagedInfo& a, const StagedInfo& b) { return a.id < b.id; });
  return out;
}

Result<void> S3Storage::DeleteStaged(std::string_view id) {
  if (auto valid = ValidateStagedId(id); !valid) return valid.error();
  const std::string dir = StagingDir(id);
  auto m = LoadManifest(*client_, dir, id);
  if (m && !m->upload_id.empty()) AbortUpload(*client_, dir + "object", m->upload_id);
  if (!m && m.error().code != ErrorCode::kNotFound && m.error().code != ErrorCode::kIo) {
    return m.error();
  }
  auto removed = RemoveStaging(*client_, dir, id);
  if (!removed) return removed.error();
  if (!*removed) return NothingStaged(id);
  return {};
}

}  // namespace sg::storage
