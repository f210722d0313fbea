// A body on its way into an upload (a PATCH, or a POST with creation-with-upload), and an
// upload's commit once it is whole: its bytes become the video's source object (or a part of a
// later concatenation) and the video moves to "uploaded".
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "daemon/plugin_api/http.h"
#include "daemon/plugin_api/storage.h"
#include "daemon/plugins/upload/tus.h"
#include "daemon/plugins/upload/upload_state.h"

namespace sg::plugins::upload {

struct TransferParams {
  std::string id;
  std::string method;
  std::string request_id;
  std::string remote;
  std::optional<tus::Checksum> checksum;
  unsigned success_status = 204;
  std::vector<std::pair<std::string, std::string>> success_headers;
  Lease lease;  // the deployment-wide hold, in microservice mode
};

/// Receives the request's body into `staged` (the upload the request holds) and answers; the
/// hold, the client's slot and the lease are let go when it ends. `record` is the upload's.
void StartTransfer(std::shared_ptr<Shared> shared, TransferParams params,
                   std::unique_ptr<StagedObject> staged, Record record,
                   std::shared_ptr<HttpBodyReader> body, std::shared_ptr<HttpResponder> responder);

/// Moves a video whose source object is in storage to "uploaded" and says so on the bus. Called
/// when an upload finishes, and again by HEAD for a video left "uploading" after its commit (the
/// catalogue was away then): the step is idempotent.
Result<void> MarkUploaded(Shared& s, const std::string& id, const ObjectInfo& source,
                          const std::string& request_id);

/// Videos left "uploading" whose source object is in the store: their upload was committed, but
/// the step to "uploaded" failed (the catalogue was away). Each is marked now; the step is
/// idempotent, so two instances sweeping at once do no harm.
void FinishCommitted(Shared& s);

/// Commits a whole upload: a partial one as uploads/ID for a later concatenation, a video's as
/// its source object, then marks the video uploaded. The staged object is spent after.
Result<void> FinishUpload(Shared& s, StagedObject& staged, const Record& record,
                          const std::string& request_id);

}  // namespace sg::plugins::upload
