// The environment Debian's `aws` runs in against the tests' s3rver: s3rver's one account, no
// configuration or credentials of the machine's, no instance metadata lookups.
#pragma once

#include <map>
#include <string>

namespace sg::test {

/// For SpawnOptions::env; `home` is a scratch folder (the test's TempDir).
inline std::map<std::string, std::string> AwsCliEnv(const std::string& home) {
  return {{"AWS_ACCESS_KEY_ID", "S3RVER"},
          {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
          {"AWS_DEFAULT_REGION", "us-east-1"},
          {"AWS_CONFIG_FILE", home + "/none"},
          {"AWS_SHARED_CREDENTIALS_FILE", home + "/none"},
          {"AWS_EC2_METADATA_DISABLED", "true"},
          {"HOME", home}};
}

}  // namespace sg::test
