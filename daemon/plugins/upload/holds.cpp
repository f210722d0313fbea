#include "daemon/plugins/upload/holds.h"

#include <utility>

#include <boost/asio/post.hpp>

namespace sg::plugins::upload {

bool Holds::Hold(const std::string& id) {
  std::lock_guard lock(mu_);
  return held_.try_emplace(id).second;
}

bool Holds::HoldOr(const std::string& id, Wake wake) {
  std::lock_guard lock(mu_);
  if (held_.try_emplace(id).second) return true;
  KeepWake(id, std::move(wake));
  return false;
}

bool Holds::FreeOr(const std::string& id, Wake wake) {
  std::lock_guard lock(mu_);
  if (!held_.contains(id)) return true;
  KeepWake(id, std::move(wake));
  return false;
}

void Holds::Release(const std::string& id) {
  std::vector<Wake> wake;
  {
    std::lock_guard lock(mu_);
    held_.erase(id);
    if (auto it = waiters_.find(id); it != waiters_.end()) {
      wake = std::move(it->second);
      waiters_.erase(it);
    }
  }
  for (auto& w : wake) {
    if (auto owner = w.owner.lock()) w.fn();
  }
}

// Wake-ups whose waiter gave up are dropped, so a holder that keeps an upload long collects no
// more of them than there are requests waiting.
void Holds::KeepWake(const std::string& id, Wake wake) {
  if (wake.owner.expired()) return;
  auto& list = waiters_[id];
  std::erase_if(list, [](const Wake& w) { return w.owner.expired(); });
  list.push_back(std::move(wake));
}

std::optional<Held> Holds::Writer(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(id);
  if (it == held_.end() || !it->second.writing) return std::nullopt;
  return it->second;
}

void Holds::Publish(const std::string& id, Held now) {
  std::lock_guard lock(mu_);
  auto it = held_.find(id);
  if (it == held_.end()) return;
  now.writing = true;
  it->second = now;
}

void LockWait::Run(const std::shared_ptr<Holds>& holds, const std::string& id, Attempt attempt,
                   std::chrono::milliseconds wait, HttpResponder& responder, Then then) {
  const auto executor = responder.executor();
  if (!executor || wait.count() <= 0) return then(((*holds).*attempt)(id, Wake{}));
  auto self =
      std::shared_ptr<LockWait>(new LockWait(holds, id, attempt, executor, std::move(then)));
  if (!self->Begin(wait)) {
    // Runs on the request's I/O thread too, at once if the client is already gone.
    responder.OnClientGone([weak = std::weak_ptr<LockWait>(self)] {
      if (auto waiting = weak.lock()) waiting->Abandon();
    });
  }
}

LockWait::LockWait(std::shared_ptr<Holds> holds, std::string id, Attempt attempt,
                   const boost::asio::any_io_executor& executor, Then then)
    : holds_(std::move(holds)),
      id_(std::move(id)),
      attempt_(attempt),
      timer_(executor),
      then_(std::move(then)) {}

LockWait::~LockWait() {
  if (waiting_ && !done_) holds_->waiting.fetch_sub(1);  // its I/O thread ended first
}

// True when it got what it waits for at once; otherwise it waits.
bool LockWait::Begin(std::chrono::milliseconds wait) {
  if (Try()) return true;
  waiting_ = true;
  holds_->waiting.fetch_add(1);
  timer_.expires_after(wait);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->Finish(false);
  });
  return false;
}

// The client left: nobody is waiting any more. The wake-up kept with the holder lapses with
// this object (once the timer's handler lets it go).
void LockWait::Abandon() {
  if (done_) return;
  done_ = true;
  holds_->waiting.fetch_sub(1);
  timer_.cancel();
  then_ = nullptr;
}

// True once it got what it waits for; otherwise a wake-up is kept with the holder.
bool LockWait::Try() {
  if (done_) return true;
  std::weak_ptr<LockWait> weak = weak_from_this();
  const auto executor = timer_.get_executor();
  const bool got = ((*holds_).*attempt_)(id_, Wake{weak, [weak, executor] {
                                                     boost::asio::post(executor, [weak] {
                                                       if (auto self = weak.lock()) self->Try();
                                                     });
                                                   }});
  if (got) Finish(true);
  return got;
}

void LockWait::Finish(bool got) {
  if (done_) return;
  done_ = true;
  if (waiting_) holds_->waiting.fetch_sub(1);
  timer_.cancel();
  Then then = std::move(then_);
  then(got);
}

}  // namespace sg::plugins::upload
