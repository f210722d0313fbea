// Which uploads the requests of this process work on, and the requests waiting for an upload
// that another request holds. One request at a time writes an upload (a PATCH, a DELETE, a
// concatenation); HEAD answers from what the writer has kept so far. In microservice mode the
// "locks" service makes a hold deployment-wide as well (upload_plugin.cpp, TakeLease); this table
// is the process's own part of it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/plugin_api/http.h"

namespace sg::plugins::upload {

// What is known of an upload that a request holds: HEAD answers from it while a PATCH writes.
struct Held {
  bool writing = false;
  uint64_t kept = 0;
  std::optional<uint64_t> length;
  int64_t expires = 0;
  bool partial = false;
};

// What a request waiting for an upload that another holds is woken with when it is let go:
// `fn` runs on the releasing thread, under no lock, and must only post; not at all once `owner`
// (the waiting request) is gone.
struct Wake {
  std::weak_ptr<void> owner;
  std::function<void()> fn;
};

/// Thread-safe.
class Holds {
 public:
  /// Takes an upload for a request; false when another holds it. It counts as being written
  /// (Writer) from the first Publish, once the request holds the deployment-wide lease and has
  /// opened the staged bytes.
  bool Hold(const std::string& id);
  /// Hold, or, when another request holds the upload, keeps `wake` (when it has an owner) to be
  /// called once it is let go.
  bool HoldOr(const std::string& id, Wake wake);
  /// True when no request holds the upload; otherwise keeps `wake` as HoldOr does.
  bool FreeOr(const std::string& id, Wake wake);
  /// Lets the upload go and wakes the requests waiting for it.
  void Release(const std::string& id);
  /// What the request writing the upload has kept so far; nullopt when none writes it.
  std::optional<Held> Writer(const std::string& id) const;
  /// The holder writes the upload and has kept `now.kept` bytes of it (now.writing is set here).
  void Publish(const std::string& id, Held now);

  /// Requests waiting for an upload another request holds (LockWait), or in microservice mode
  /// another instance (the upload plugin's lease wait): a gauge.
  std::atomic<int64_t> waiting{0};

 private:
  void KeepWake(const std::string& id, Wake wake);  // under mu_

  mutable std::mutex mu_;
  std::map<std::string, Held> held_;                  // guarded by mu_
  std::map<std::string, std::vector<Wake>> waiters_;  // guarded by mu_
};

// A request for an upload that another request holds (a PATCH still writing it, or one whose
// client has just gone and whose bytes are being kept) waits up to upload.lock_wait for it to be
// let go, as tusd and @tus/server do, instead of a 423 at once: a client that lost its
// connection and resumes at once would otherwise be refused until the daemon has seen the old
// connection close. `attempt` is Holds::HoldOr (PATCH, DELETE: take the upload) or
// Holds::FreeOr (HEAD: an offset no writer is about to change). Everything here runs on the
// request's I/O thread (one thread), so the timer and the wake-ups never race.
class LockWait : public std::enable_shared_from_this<LockWait> {
 public:
  using Attempt = bool (Holds::*)(const std::string&, Wake);
  using Then = std::function<void(bool got)>;

  /// Calls `then(true)` once `attempt` succeeds, at once or when the holder lets go, or
  /// `then(false)` when `wait` passes first; never when the client leaves meanwhile (or the
  /// request's deadline passes): the wait just ends. Without an executor (no I/O thread) or
  /// with a `wait` of 0, it does not wait.
  static void Run(const std::shared_ptr<Holds>& holds, const std::string& id, Attempt attempt,
                  std::chrono::milliseconds wait, HttpResponder& responder, Then then);

  ~LockWait();
  LockWait(const LockWait&) = delete;
  LockWait& operator=(const LockWait&) = delete;

 private:
  LockWait(std::shared_ptr<Holds> holds, std::string id, Attempt attempt,
           const boost::asio::any_io_executor& executor, Then then);

  bool Begin(std::chrono::milliseconds wait);
  void Abandon();
  bool Try();
  void Finish(bool got);

  std::shared_ptr<Holds> holds_;
  std::string id_;
  Attempt attempt_;
  boost::asio::steady_timer timer_;
  Then then_;
  bool waiting_ = false;
  bool done_ = false;
};

}  // namespace sg::plugins::upload
