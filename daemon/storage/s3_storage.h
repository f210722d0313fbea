// An S3-compatible store (storage.type: s3 or minio): libcurl with AWS Signature V4, path-style
// addressing (http(s)://endpoint/bucket/key), multipart uploads streamed part by part.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/plugin_api/storage.h"

namespace sg::storage {

struct S3Settings {
  std::string endpoint;                  // storage.endpoint: host:port
  bool tls = false;                      // https rather than http; storage.endpoint on port 443
  std::string bucket;                    // storage.bucket; it must exist
  std::string region;                    // storage.region
  std::string access_key;                // storage.accesskey
  std::string secret_key;                // storage.secretkey
  size_t part_size = size_t{8} << 20;    // a multipart upload's part; 5 MiB at least for AWS
  size_t read_window = size_t{8} << 20;  // bytes a reader asks for per request
  int attempts = 4;  // tries of one request when the store answers 5xx or 429, or a timeout
  std::chrono::milliseconds backoff{200};  // the first retry's delay; doubles each time
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::seconds stall_timeout{30};  // a transfer that moves nothing this long fails
};

class S3Client;

/// Objects are S3 objects under the same keys in one bucket. A writer holds one part in memory
/// while the part before it uploads (2 x part_size at most), never a temporary file; objects
/// smaller than a part go in one PUT. An aborted or failed writer aborts its multipart upload. A
/// reader fetches read_window bytes at a time with Range and If-Match, so it fails (rather than
/// mixing versions) if the object is replaced while read. Over plain http the payload is signed
/// (SHA-256); over https it is left to TLS (UNSIGNED-PAYLOAD), as AWS's SDKs do. Thread-safe;
/// writers and readers must not outlive the store.
class S3Storage final : public Storage {
 public:
  /// Checks the settings; contacts nobody (a daemon starts while its store is down).
  static Result<std::unique_ptr<S3Storage>> Create(S3Settings settings);
  ~S3Storage() override;
  S3Storage(const S3Storage&) = delete;
  S3Storage& operator=(const S3Storage&) = delete;

  std::string_view Kind() const override { return "s3"; }
  Result<std::unique_ptr<ObjectWriter>> Put(std::string_view key) override;
  Result<std::unique_ptr<ObjectReader>> Get(std::string_view key, ByteRange range) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Result<void> Delete(std::string_view key) override;

  /// Staged uploads live under the hidden prefix ".sg-staging/ID/" (List never shows it), with no
  /// local file: full parts (part_size) go to a multipart upload for ".sg-staging/ID/object" as
  /// they fill, one in flight while the next fills (2 x part_size of memory at most). Sync waits
  /// for the parts, saves the rest (less than a part) as a tail object and then a JSON manifest
  /// (upload id, parts with ETags and sizes, tail, kept size, meta); the tail alternates between
  /// two names so that a kill between the two PUTs leaves the previous pair whole. Opening reads
  /// the manifest and the tail back. Commit uploads the tail as the last part, completes the
  /// upload and copies the hidden object to the key server-side (S3 cannot rename; CopyObject up
  /// to 5 GiB, UploadPartCopy ranges above), then deletes the staging; an object smaller than a
  /// part is one PUT. DeleteStaged aborts the upload and deletes the staging's objects.
  Result<std::unique_ptr<StagedObject>> Stage(std::string_view id, std::string meta) override;
  Result<std::unique_ptr<StagedObject>> OpenStaged(std::string_view id) override;
  Result<std::vector<StagedInfo>> ListStaged() override;
  Result<void> DeleteStaged(std::string_view id) override;

 private:
  explicit S3Storage(std::unique_ptr<S3Client> client);
  std::unique_ptr<S3Client> client_;
};

}  // namespace sg::storage
