// A client of the test's s3rver (tests/support/s3rver.h), through StreamGate's own S3 store, to
// look at what the daemon wrote: for tests that link sg_storage.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "daemon/storage/s3_storage.h"
#include "tests/support/s3rver.h"

namespace sg::test {

/// The --set keys of a daemon that stores in the s3rver's bucket.
inline std::vector<std::string> S3Sets(const S3rver& s3) {
  return {"storage.type=s3",           "storage.endpoint=" + s3.endpoint(),
          "storage.bucket=streamgate", "storage.region=us-east-1",
          "storage.accesskey=S3RVER",  "storage.secretkey=S3RVER"};
}

/// StreamGate's S3 store on the s3rver's bucket.
inline std::unique_ptr<storage::S3Storage> S3Client(const S3rver& s3) {
  storage::S3Settings settings;
  settings.endpoint = s3.endpoint();
  settings.bucket = "streamgate";
  settings.region = "us-east-1";
  settings.access_key = "S3RVER";
  settings.secret_key = "S3RVER";
  auto client = storage::S3Storage::Create(settings);
  REQUIRE(client);
  return std::move(client).value();
}

/// An object's whole content.
inline std::string ReadObject(Storage& store, const std::string& key) {
  auto reader = store.Get(key, {});
  REQUIRE(reader);
  std::string out;
  std::string buffer(1 << 20, '\0');
  for (;;) {
    auto n = (*reader)->Read(buffer.data(), buffer.size());
    REQUIRE(n);
    if (*n == 0) break;
    out.append(buffer.data(), *n);
  }
  return out;
}

}  // namespace sg::test
