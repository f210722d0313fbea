// Exclusive leases on names, across the processes of a deployment ("locks" in the service
// registry, microservice mode): the upload plugin holds "upload.ID" while a request writes an
// upload, so that two upload instances never write one upload at once. A holder that dies
// loses its lease after a while; a live one keeps it for as long as it holds the handle.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"

namespace sg {

class Locks {
 public:
  virtual ~Locks() = default;
  /// Held while it lives; destroying it lets the name go.
  class Lease {
   public:
    virtual ~Lease() = default;
  };
  /// Takes `name` ([A-Za-z0-9_.-], at most 200) unless another holder has it:
  /// kFailedPrecondition then; kUnavailable when the lock store cannot be reached. Blocks on the
  /// network: call it from the blocking pool.
  virtual Result<std::unique_ptr<Lease>> TryTake(const std::string& name) = 0;
};

}  // namespace sg
