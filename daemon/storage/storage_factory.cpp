#include "daemon/storage/storage_factory.h"

#include "daemon/storage/local_storage.h"
#include "daemon/storage/s3_storage.h"

namespace sg::storage {

Result<std::unique_ptr<Storage>> MakeStorage(const config::Config& config) {
  if (config.String("storage.type") == "local") {
    auto local = LocalStorage::Create(config.String("storage.path"));
    if (!local) return local.error();
    return std::unique_ptr<Storage>(std::move(local).value());
  }
  S3Settings settings;
  settings.endpoint = config.String("storage.endpoint");
  // HTTPS on the port that is HTTPS's; plain HTTP (MinIO, a store on loopback) on any other.
  settings.tls = settings.endpoint.ends_with(":443");
  settings.bucket = config.String("storage.bucket");
  settings.region = config.String("storage.region");
  settings.access_key = config.String("storage.accesskey");
  settings.secret_key = config.String("storage.secretkey");
  auto s3 = S3Storage::Create(std::move(settings));
  if (!s3) return s3.error();
  return std::unique_ptr<Storage>(std::move(s3).value());
}

}  // namespace sg::storage
