// The embedded default store: objects as files under one folder (storage.path), committed by an
// fsynced rename, so that a reader sees a whole object or none.
#pragma once

#include <memory>
#include <string>

#include "daemon/plugin_api/storage.h"

namespace sg::storage {

/// Objects are files at `root/<key>`. A write goes to an unnamed file in the key's folder
/// (O_TMPFILE; a hidden ".sg-tmp-*" file where the filesystem lacks it), which Commit fsyncs,
/// links under a hidden name, renames over the key and follows with an fsync of the folder. A
/// crash before the rename leaves nothing, or a hidden temp file that List never shows. The ETag
/// is made of the file's inode, size and modification time. Folders are made as needed and removed
/// when Delete empties them. Thread-safe.
class LocalStorage final : public Storage {
 public:
  /// Takes the root folder (made at the first Put, so a daemon starts without it). Fails only
  /// for an empty or relative root.
  static Result<std::unique_ptr<LocalStorage>> Create(std::string root);

  std::string_view Kind() const override { return "local"; }
  std::optional<std::string> LocalPath(std::string_view key) const override;
  Result<std::unique_ptr<ObjectWriter>> Put(std::string_view key) override;
  Result<std::unique_ptr<ObjectReader>> Get(std::string_view key, ByteRange range) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Result<void> Delete(std::string_view key) override;

  /// Staged uploads live in `root/.sg-staging/`: ID.data (the bytes) and ID.meta (the kept size,
  /// then the caller's description), which Sync replaces by an fsynced rename after fdatasync of
  /// the bytes. Opening truncates the bytes to the kept size. Commit renames ID.data to the key.
  Result<std::unique_ptr<StagedObject>> Stage(std::string_view id, std::string meta) override;
  Result<std::unique_ptr<StagedObject>> OpenStaged(std::string_view id) override;
  Result<StagedInfo> StatStaged(std::string_view id) override;
  Result<std::vector<StagedInfo>> ListStaged() override;
  Result<void> DeleteStaged(std::string_view id) override;

  const std::string& root() const { return root_; }

 private:
  explicit LocalStorage(std::string root) : root_(std::move(root)) {}
  std::string PathOf(std::string_view key) const { return root_ + "/" + std::string(key); }

  const std::string root_;  // storage.path, without a trailing '/'
};

}  // namespace sg::storage
