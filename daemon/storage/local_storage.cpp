#include "daemon/storage/local_storage.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <filesystem>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/storage/direct_append.h"
#include "daemon/storage/object_key.h"

namespace sg::storage {

namespace fs = std::filesystem;

namespace {

ObjectInfo InfoOf(std::string key, const struct stat& st) {
  const auto since_epoch =
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
  ObjectInfo info;
  info.key = std::move(key);
  info.size = static_cast<uint64_t>(st.st_size);
  // A committed file is never written again (a new version is a new inode), so inode, size and
  // modification time name its bytes.
  info.etag = fmt::format("\"{:x}-{:x}-{:x}\"", st.st_ino, st.st_size,
                          std::chrono::nanoseconds(since_epoch).count());
  info.modified = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(since_epoch));
  return info;
}

std::string ParentOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

// Unique in this process; the pid keeps two processes on one folder apart.
std::string TempName() {
  static std::atomic<uint64_t> counter{0};
  return fmt::format(".sg-tmp-{}-{}", getpid(), counter.fetch_add(1));
}

Error NotFound(std::string_view key, const std::string& path) {
  return Fail(ErrorCode::kNotFound,
              fmt::format("local storage: no object '{}' (no file {})", PrintableKey(key), path));
}

Result<void> MakeFolders(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec) return {};
  if (ec.value() == ENOTDIR || ec.value() == EEXIST) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("local storage: make folder {}: an object's file is in the way (a key "
                            "cannot be both an object and a prefix of others)",
                            dir));
  }
  return ErrnoError(ec.value(), "local storage: make folder " + dir);
}

class LocalWriter final : public ObjectWriter {
 public:
  LocalWriter(std::string key, std::string path, int fd, std::string temp)
      : key_(std::move(key)),
        path_(std::move(path)),
        dir_(ParentOf(path_)),
        fd_(fd),
        temp_(std::move(temp)) {}
  ~LocalWriter() override { Abort(); }
  LocalWriter(const LocalWriter&) = delete;
  LocalWriter& operator=(const LocalWriter&) = delete;

  Result<void> Write(std::string_view bytes) override {
    if (fd_ < 0) return Closed();
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Failed(errno, "write");
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  Result<ObjectInfo> Commit() override {
    if (fd_ < 0) return Closed();
    if (::fsync(fd_) != 0) return Failed(errno, "fsync");
    if (temp_.empty()) {
      // The unnamed file gets a hidden name first: rename is what replaces an object atomically.
      const std::string self = fmt::format("/proc/self/fd/{}", fd_);
      for (int attempt = 0; temp_.empty(); ++attempt) {
        const std::string name = dir_ + "/" + TempName();
        if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
          temp_ = name;
        } else if (errno == ENOENT && attempt < 3) {
          // A Delete removed the emptied folder meanwhile: make it again.
          if (auto made = MakeFolders(dir_); !made) return Failed(made.error());
        } else if (!(errno == EEXIST && attempt < 8)) {
          return Failed(errno, "link");
        }
      }
    }
    if (::rename(temp_.c_str(), path_.c_str()) != 0) return Failed(errno, "rename to " + path_);
    temp_.clear();
    struct stat st {};
    const int stat_rc = ::fstat(fd_, &st);
    const int stat_err = errno;
    ::close(fd_);
    fd_ = -1;
    // The rename is durable only once the folder is.
    const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
      const int err = errno;
      if (dir_fd >= 0) ::close(dir_fd);
      return ErrnoError(err, fmt::format("local storage: fsync folder {} after writing '{}'", dir_,
                                         PrintableKey(key_)));
    }
    ::close(dir_fd);
    if (stat_rc != 0) return ErrnoError(stat_err, "local storage: stat " + path_);
    return InfoOf(key_, st);
  }

  void Abort() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!temp_.empty()) ::unlink(temp_.c_str());
    temp_.clear();
  }

 private:
  Error Closed() const {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("local storage: the write of '{}' is over (committed, aborted or "
                            "failed); start another",
                            PrintableKey(key_)));
  }
  Error Failed(const Error& error) {
    Abort();
    return error;
  }
  Error Failed(int err, const std::string& what) {
    return Failed(ErrnoError(
        err, fmt::format("local storage: {} '{}' in {}", what, PrintableKey(key_), dir_)));
  }

  const std::string key_;
  const std::string path_;  // where the object appears at Commit
  const std::string dir_;
  int fd_ = -1;
  std::string temp_;  // the hidden file's path; "" while the file is unnamed (O_TMPFILE)
};

class LocalReader final : public ObjectReader {
 public:
  LocalReader(int fd, ObjectInfo info, uint64_t offset, uint64_t length)
      : fd_(fd), info_(std::move(info)), offset_(offset), length_(length), next_(offset) {}
  ~LocalReader() override { ::close(fd_); }
  LocalReader(const LocalReader&) = delete;
  LocalReader& operator=(const LocalReader&) = delete;

  const ObjectInfo& info() const override { return info_; }
  uint64_t offset() const override { return offset_; }
  uint64_t length() const override { return length_; }

  Result<size_t> Read(char* buffer, size_t max) override {
    const uint64_t left = offset_ + length_ - next_;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, max));
    if (want == 0) return size_t{0};
    for (;;) {
      const ssize_t n = ::pread(fd_, buffer, want, static_cast<off_t>(next_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return ErrnoError(errno, fmt::format("local storage: read '{}'", PrintableKey(info_.key)));
      }
      if (n == 0) {
        return Fail(ErrorCode::kIo, fmt::format("local storage: '{}' ended at byte {} of {}",
                                                PrintableKey(info_.key), next_, info_.size));
      }
      next_ += static_cast<uint64_t>(n);
      return static_cast<size_t>(n);
    }
  }

 private:
  const int fd_;
  const ObjectInfo info_;
  const uint64_t offset_;
  const uint64_t length_;
  uint64_t next_;  // the next byte to read
};

// An object's open file and its info; the caller owns the descriptor.
Result<std::pair<int, ObjectInfo>> OpenObject(std::string_view key, const std::string& path) {
  if (auto valid = ValidateKey(key); !valid) return valid.error();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFound(key, path);
    if (errno == ELOOP) {
      return Fail(ErrorCode::kPermissionDenied,
                  fmt::format("local storage: {} is a symbolic link, which the store does not "
                              "follow; replace it by the object's file",
                              path));
    }
    return ErrnoError(errno, "local storage: open " + path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return NotFound(key, path);
  }
  return std::pair<int, ObjectInfo>{fd, InfoOf(std::string(key), st)};
}

}  // namespace

Result<std::unique_ptr<LocalStorage>> LocalStorage::Create(std::string root) {
  while (root.size() > 1 && root.ends_with('/')) root.pop_back();
  if (root.empty() || !root.starts_with('/')) {
    return Fail(ErrorCode::kConfig,
                fmt::format("storage.path '{}' is not an absolute path; name the media folder "
                            "from the root, such as /var/lib/streamgate/media",
                            root));
  }
  return std::unique_ptr<LocalStorage>(new LocalStorage(std::move(root)));
}

std::optional<std::string> LocalStorage::LocalPath(std::string_view key) const {
  if (!ValidateKey(key)) return std::nullopt;
  return PathOf(key);
}

Result<std::unique_ptr<ObjectWriter>> LocalStorage::Put(std::string_view key) {
  if (auto valid = ValidateKey(key); !valid) return valid.error();
  std::string path = PathOf(key);
  const std::string dir = ParentOf(path);
  for (int attempt = 0;; ++attempt) {
    if (auto made = MakeFolders(dir); !made) return made.error();
    std::string temp;
    int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
      temp = dir + "/" + TempName();
      fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd >= 0) {
      return std::unique_ptr<ObjectWriter>(
          new LocalWriter(std::string(key), std::move(path), fd, std::move(temp)));
    }
    // ENOENT: a Delete removed the emptied folder between the two calls; make it again.
    if (errno != ENOENT || attempt == 3) {
      return ErrnoError(errno,
                        fmt::format("local storage: create '{}' in {}", PrintableKey(key), dir));
    }
  }
}

Result<std::unique_ptr<ObjectReader>> LocalStorage::Get(std::string_view key, ByteRange range) {
  auto opened = OpenObject(key, PathOf(key));
  if (!opened) return opened.error();
  auto [fd, info] = std::move(opened).value();
  const auto span = ResolveRange(range, info.size, key);
  if (!span) {
    ::close(fd);
    return span.error();
  }
  return std::unique_ptr<ObjectReader>(
      new LocalReader(fd, std::move(info), span->first, span->second));
}

Result<ObjectInfo> LocalStorage::Stat(std::string_view key) {
  auto opened = OpenObject(key, PathOf(key));
  if (!opened) return opened.error();
  ::close(opened->first);
  return std::move(opened->second);
}

Result<std::vector<ObjectInfo>> LocalStorage::List(std::string_view prefix) {
  if (auto valid = ValidatePrefix(prefix); !valid) return valid.error();
  // Walk only the folder the prefix names in full; compare the rest by name.
  const size_t slash = prefix.rfind('/');
  const std::string start =
      slash == std::string_view::npos ? root_ : PathOf(prefix.substr(0, slash));
  std::vector<ObjectInfo> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(start, ec);
  if (ec) {
    if (ec.value() == ENOENT || ec.value() == ENOTDIR) return out;
    return ErrnoError(ec.value(), "local storage: list " + start);
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return ErrnoError(ec.value(), "local storage: list " + start);
    const std::string name = it->path().filename().string();
    if (name.starts_with(".sg-")) {
      it.disable_recursion_pending();
      continue;
    }
    const std::string path = it->path().string();
    std::string key = path.substr(root_.size() + 1);
    struct stat st {};
    if (!key.starts_with(prefix) || ::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;  // gone meanwhile, a folder, or a symbolic link (never followed)
    }
    out.push_back(InfoOf(std::move(key), st));
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Result<void> LocalStorage::Delete(std::string_view key) {
  if (auto valid = ValidateKey(key); !valid) return valid.error();
  const std::string path = PathOf(key);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return NotFound(key, path);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return NotFound(key, path);
    return ErrnoError(errno, "local storage: delete " + path);
  }
  // Folders emptied by the delete go too; rmdir refuses one that is not empty.
  for (std::string dir = ParentOf(path); dir.size() > root_.size(); dir = ParentOf(dir)) {
    if (::rmdir(dir.c_str()) != 0) break;
  }
  return {};
}

}  // namespace sg::storage

// ---- Staging -------------------------------------------------------------------------------

namespace sg::storage {
namespace {

constexpr std::string_view kMetaMagic = "sg-staged 1\n";

Result<void> FsyncFolder(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return ErrnoError(err, "local storage: fsync folder " + dir);
  }
  ::close(fd);
  return {};
}

Result<void> WriteAll(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, what);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

// Replaces ID.meta durably: a temp file, fsynced, renamed over it, then the folder fsynced.
Result<void> WriteMeta(const std::string& dir, const std::string& id, uint64_t size,
                       const std::string& meta) {
  const std::string path = dir + "/" + id + ".meta";
  const std::string temp = dir + "/" + TempName();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(errno, "local storage: create " + temp);
  const std::string text = fmt::format("{}{}\n{}", kMetaMagic, size, meta);
  auto wrote = WriteAll(fd, text, "local storage: write " + temp);
  if (wrote && ::fsync(fd) != 0) wrote = ErrnoError(errno, "local storage: fsync " + temp);
  ::close(fd);
  if (wrote && ::rename(temp.c_str(), path.c_str()) != 0) {
    wrote = ErrnoError(errno, "local storage: rename " + temp + " to " + path);
  }
  if (!wrote) {
    ::unlink(temp.c_str());
    return wrote;
  }
  return FsyncFolder(dir);
}

struct MetaFile {
  uint64_t size = 0;
  std::string meta;
  struct stat st {};
};

Result<MetaFile> ReadMeta(const std::string& dir, std::string_view id) {
  const std::string path = dir + "/" + std::string(id) + ".meta";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("local storage: nothing is staged under '{}'", id));
    }
    return ErrnoError(errno, "local storage: open " + path);
  }
  MetaFile out;
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > (size_t{1} << 20)) break;
  }
  ::fstat(fd, &out.st);
  ::close(fd);
  const size_t eol = text.find('\n', kMetaMagic.size());
  if (!text.starts_with(kMetaMagic) || eol == std::string::npos) {
    return Fail(ErrorCode::kIo, fmt::format("local storage: {} is not a staging record; remove "
                                            "it and its .data file",
                                            path));
  }
  const std::string number = text.substr(kMetaMagic.size(), eol - kMetaMagic.size());
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), out.size);
  if (ec != std::errc() || end != number.data() + number.size()) {
    return Fail(ErrorCode::kIo, fmt::format("local storage: {} has no size on its second line; "
                                            "remove it and its .data file",
                                            path));
  }
  out.meta = text.substr(eol + 1);
  return out;
}

StagedInfo InfoOf(std::string_view id, MetaFile record) {
  StagedInfo info;
  info.id = std::string(id);
  info.size = record.size;
  info.meta = std::move(record.meta);
  info.modified = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(record.st.st_mtim.tv_sec) +
          std::chrono::nanoseconds(record.st.st_mtim.tv_nsec)));
  return info;
}

class LocalStaged final : public StagedObject {
 public:
  LocalStaged(std::string root, std::string dir, std::string id, int fd, uint64_t size,
              std::string meta)
      : root_(std::move(root)),
        dir_(std::move(dir)),
        id_(std::move(id)),
        fd_(fd),
        size_(size),
        meta_(std::move(meta)),
        writer_(fd, dir_ + "/" + id_ + ".data", size) {}
  ~LocalStaged() override {
    if (fd_ >= 0) ::close(fd_);
  }
  LocalStaged(const LocalStaged&) = delete;
  LocalStaged& operator=(const LocalStaged&) = delete;

  const std::string& id() const override { return id_; }
  uint64_t size() const override { return size_; }
  uint64_t appended() const override { return writer_.end(); }
  const std::string& meta() const override { return meta_; }

  Result<void> Append(std::string_view bytes) override {
    if (fd_ < 0) return Spent();
    return writer_.Append(bytes);
  }

  Result<void> Sync(std::optional<std::string> meta) override {
    if (fd_ < 0) return Spent();
    const uint64_t appended = writer_.end();
    if (appended == size_ && !meta) return {};
    if (auto flushed = writer_.Flush(); !flushed) return flushed;
    if (appended != size_ && ::fdatasync(fd_) != 0) {
      return ErrnoError(errno, fmt::format("local storage: fdatasync staged '{}'", id_));
    }
    const std::string& next_meta = meta ? *meta : meta_;
    if (auto wrote = WriteMeta(dir_, id_, appended, next_meta); !wrote) return wrote;
    size_ = appended;
    if (meta) meta_ = std::move(*meta);
    return {};
  }

  Result<void> Rollback() override {
    if (fd_ < 0) return Spent();
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      return ErrnoError(errno, fmt::format("local storage: truncate staged '{}'", id_));
    }
    writer_.Reset(size_);
    return {};
  }

  Result<ObjectInfo> Commit(std::string_view key) override {
    if (fd_ < 0) return Spent();
    if (auto valid = ValidateKey(key); !valid) return valid.error();
    if (auto synced = Sync(std::nullopt); !synced) return synced.error();
    // Bytes appended after a failed Sync would be past the kept size: not part of the object.
    if (auto cut = Rollback(); !cut) return cut.error();
    const std::string path = root_ + "/" + std::string(key);
    const std::string parent = ParentOf(path);
    const std::string data = dir_ + "/" + id_ + ".data";
    for (int attempt = 0;; ++attempt) {
      if (auto made = MakeFolders(parent); !made) return made.error();
      if (::rename(data.c_str(), path.c_str()) == 0) break;
      if (errno != ENOENT || attempt == 3) {
        return ErrnoError(errno, fmt::format("local storage: rename staged '{}' to {}", id_, path));
      }
    }
    if (auto synced = FsyncFolder(parent); !synced) return synced.error();
    ::unlink((dir_ + "/" + id_ + ".meta").c_str());
    (void)FsyncFolder(dir_);  // a leftover record without data is dropped at the next open
    struct stat st {};
    const int rc = ::fstat(fd_, &st);
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoError(err, "local storage: stat " + path);
    return InfoOf(std::string(key), st);
  }

 private:
  Error Spent() const {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("local storage: staged '{}' was committed; open it again", id_));
  }

  const std::string root_;
  const std::string dir_;
  const std::string id_;
  int fd_ = -1;
  uint64_t size_ = 0;  // kept: fsynced and recorded in the .meta file
  std::string meta_;
  // Appends go past the page cache: an upload is not read again before its commit. Its end() is
  // what was appended.
  DirectAppender writer_;
};

}  // namespace

Result<std::unique_ptr<StagedObject>> LocalStorage::Stage(std::string_view id, std::string meta) {
  if (auto valid = ValidateStagedId(id); !valid) return valid.error();
  const std::string dir = root_ + "/.sg-staging";
  if (auto made = MakeFolders(dir); !made) return made.error();
  const std::string name(id);
  const std::string data = dir + "/" + name + ".data";
  if (::access((dir + "/" + name + ".meta").c_str(), F_OK) == 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("local storage: '{}' is already staged", id));
  }
  const int fd = ::open(data.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "local storage: create " + data);
  if (auto wrote = WriteMeta(dir, name, 0, meta); !wrote) {
    ::close(fd);
    ::unlink(data.c_str());
    return wrote.error();
  }
  return std::unique_ptr<StagedObject>(new LocalStaged(root_, dir, name, fd, 0, std::move(meta)));
}

Result<std::unique_ptr<StagedObject>> LocalStorage::OpenStaged(std::string_view id) {
  if (auto valid = ValidateStagedId(id); !valid) return valid.error();
  const std::string dir = root_ + "/.sg-staging";
  auto record = ReadMeta(dir, id);
  if (!record) return record.error();
  const std::string name(id);
  const std::string data = dir + "/" + name + ".data";
  const int fd = ::open(data.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      // Committed, or lost: the record alone means nothing.
      ::unlink((dir + "/" + name + ".meta").c_str());
      return Fail(ErrorCode::kNotFound,
                  fmt::format("local storage: nothing is staged under '{}'", id));
    }
    return ErrnoError(errno, "local storage: open " + data);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < record->size) {
    ::close(fd);
    return Fail(ErrorCode::kIo,
                fmt::format("local storage: {} is shorter than the {} bytes its record kept; "
                            "the upload cannot be resumed: delete it",
                            data, record->size));
  }
  // Bytes past the kept size were never acknowledged: drop them.
  if (static_cast<uint64_t>(st.st_size) > record->size &&
      ::ftruncate(fd, static_cast<off_t>(record->size)) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError(err, "local storage: truncate " + data);
  }
  return std::unique_ptr<StagedObject>(
      new LocalStaged(root_, dir, name, fd, record->size, std::move(record->meta)));
}

Result<StagedInfo> LocalStorage::StatStaged(std::string_view id) {
  if (auto valid = ValidateStagedId(id); !valid) return valid.error();
  auto record = ReadMeta(root_ + "/.sg-staging", id);
  if (!record) return record.error();
  return InfoOf(id, std::move(*record));
}

Result<std::vector<StagedInfo>> LocalStorage::ListStaged() {
  const std::string dir = root_ + "/.sg-staging";
  std::vector<StagedInfo> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec.value() == ENOENT) return out;
    return ErrnoError(ec.value(), "local storage: list " + dir);
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return ErrnoError(ec.value(), "local storage: list " + dir);
    const std::string name = it->path().filename().string();
    if (!name.ends_with(".meta")) continue;
    const std::string id = name.substr(0, name.size() - 5);
    if (!ValidateStagedId(id)) continue;
    auto record = ReadMeta(dir, id);
    if (!record) continue;  // gone meanwhile, or not ours
    out.push_back(InfoOf(id, std::move(*record)));
  }
  std::sort(out.begin(), out.end(),
            [](const StagedInfo& a, const StagedInfo& b) { return a.id < b.id; });
  return out;
}

Result<void> LocalStorage::DeleteStaged(std::string_view id) {
  if (auto valid = ValidateStagedId(id); !valid) return valid.error();
  const std::string dir = root_ + "/.sg-staging";
  const std::string name(id);
  const bool had_meta = ::unlink((dir + "/" + name + ".meta").c_str()) == 0;
  const bool had_data = ::unlink((dir + "/" + name + ".data").c_str()) == 0;
  if (!had_meta && !had_data) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("local storage: nothing is staged under '{}'", id));
  }
  return {};
}

}  // namespace sg::storage
