#include "daemon/plugins/worker/nats_exchange.h"

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace sg::plugins {

NatsExchange::~NatsExchange() {
  for (Inbox& inbox : idle_) natsSubscription_Destroy(inbox.sub);
}

Result<NatsExchange::Inbox> NatsExchange::Borrow() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      Inbox inbox = std::move(idle_.back());
      idle_.pop_back();
      return inbox;
    }
  }
  natsInbox* name = nullptr;
  natsStatus s = natsInbox_Create(&name);
  if (s != NATS_OK)
    return sg::Fail(ErrorCode::kInternal, "NATS inbox: " + std::string(natsStatus_GetText(s)));
  Inbox inbox;
  inbox.prefix = std::string(name) + ".";
  natsInbox_Destroy(name);
  s = natsConnection_SubscribeSync(&inbox.sub, conn_, (inbox.prefix + ">").c_str());
  if (s != NATS_OK) {
    return sg::Fail(ErrorCode::kUnavailable,
                    "NATS reply subscription: " + std::string(natsStatus_GetText(s)));
  }
  return inbox;
}

void NatsExchange::Return(Inbox inbox) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(inbox));
}

struct NatsExchange::Round {
  std::condition_variable changed;  // done, or free to go out
  std::vector<const NatsRequest*> requests;
  std::chrono::milliseconds timeout{0};  // the longest asked for
  bool done = false;
  std::optional<Error> error;
  std::vector<NatsMsgPtr> replies;
};

Result<std::vector<NatsMsgPtr>> NatsExchange::Exchange(const std::vector<NatsRequest>& requests,
                                                       std::chrono::milliseconds timeout) {
  std::vector<const NatsRequest*> all;
  all.reserve(requests.size());
  for (const auto& r : requests) all.push_back(&r);
  return Send(all, timeout);
}

Result<std::vector<NatsMsgPtr>> NatsExchange::Combined(const std::vector<NatsRequest>& requests,
                                                       std::chrono::milliseconds timeout) {
  std::unique_lock lock(rounds_mu_);
  if (!gather_) gather_ = std::make_shared<Round>();
  std::shared_ptr<Round> round = gather_;
  const size_t first = round->requests.size();
  for (const auto& r : requests) round->requests.push_back(&r);
  round->timeout = std::max(round->timeout, timeout);
  for (;;) {
    if (round->done) {
      if (round->error) return *round->error;
      std::vector<NatsMsgPtr> mine;
      mine.reserve(requests.size());
      for (size_t i = 0; i < requests.size(); ++i)
        mine.push_back(std::move(round->replies[first + i]));
      return mine;
    }
    if (!round_out_ && gather_ == round) {
      // The first caller free to send it: the round closes and goes out.
      round_out_ = true;
      gather_.reset();
      lock.unlock();
      auto replies = Send(round->requests, round->timeout);
      lock.lock();
      if (replies) {
        round->replies = std::move(*replies);
      } else {
        round->error = replies.error();
      }
      round->done = true;
      round_out_ = false;
      round->changed.notify_all();
      // The round that gathered meanwhile may go: one of its callers sends it.
      if (gather_) gather_->changed.notify_one();
      continue;
    }
    round->changed.wait(lock);
  }
}

Result<std::vector<NatsMsgPtr>> NatsExchange::Send(const std::vector<const NatsRequest*>& requests,
                                                   std::chrono::milliseconds timeout) {
  std::vector<NatsMsgPtr> replies(requests.size());
  if (requests.empty()) return replies;
  auto inbox = Borrow();
  if (!inbox) return inbox.error();
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    id = ++next_;
  }
  const std::string reply_prefix = inbox->prefix + std::to_string(id) + ".";
  natsStatus s = NATS_OK;
  size_t sent = 0;
  for (size_t i = 0; i < requests.size() && s == NATS_OK; ++i) {
    const NatsRequest& r = *requests[i];
    natsMsg* msg = nullptr;
    const std::string reply = reply_prefix + std::to_string(i);
    s = natsMsg_Create(&msg, r.subject.c_str(), reply.c_str(), r.data.data(),
                       static_cast<int>(r.data.size()));
    for (const auto& [key, value] : r.headers) {
      if (s == NATS_OK) s = natsMsgHeader_Set(msg, key.c_str(), value.c_str());
    }
    if (s == NATS_OK) s = natsConnection_PublishMsg(conn_, msg);
    natsMsg_Destroy(msg);
    if (s == NATS_OK) ++sent;
  }
  if (sent == 0) {
    Return(std::move(*inbox));
    return sg::Fail(ErrorCode::kUnavailable, "NATS publish: " + std::string(natsStatus_GetText(s)));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t got = 0;
  size_t unanswered = 0;  // "no responders": the library says so without the reply's subject
  while (got + unanswered < sent) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    natsMsg* msg = nullptr;
    s = natsSubscription_NextMsg(&msg, inbox->sub, left.count());
    if (s == NATS_NO_RESPONDERS) {
      ++unanswered;
      s = NATS_OK;
      continue;
    }
    if (s != NATS_OK) break;
    NatsMsgPtr owned(msg);
    const std::string_view subject = natsMsg_GetSubject(msg);
    if (subject.substr(0, reply_prefix.size()) != reply_prefix) continue;  // a late reply
    const size_t i =
        std::strtoull(std::string(subject.substr(reply_prefix.size())).c_str(), nullptr, 10);
    if (i < replies.size() && !replies[i]) {
      replies[i] = std::move(owned);
      ++got;
    }
  }
  if (s == NATS_OK || s == NATS_TIMEOUT) {
    Return(std::move(*inbox));
  } else {
    natsSubscription_Destroy(inbox->sub);  // closed or broken: not for another call
    if (got == 0) {
      return sg::Fail(ErrorCode::kUnavailable, "NATS reply: " + std::string(natsStatus_GetText(s)));
    }
  }
  return replies;
}

JsPubReply ParsePubReply(natsMsg* reply) {
  JsPubReply out;
  if (reply == nullptr) {
    out.status = NATS_TIMEOUT;
    return out;
  }
  const char* status = nullptr;
  if (natsMsgHeader_Get(reply, "Status", &status) == NATS_OK && status != nullptr &&
      std::string_view(status) == "503") {
    out.status = NATS_NO_RESPONDERS;
    return out;
  }
  const auto body = nlohmann::json::parse(
      std::string_view(natsMsg_GetData(reply), static_cast<size_t>(natsMsg_GetDataLength(reply))),
      nullptr, false);
  if (!body.is_object()) {
    out.status = NATS_ERR;
    out.description = "not a JetStream reply";
    return out;
  }
  try {
    if (const auto e = body.find("error"); e != body.end() && e->is_object()) {
      out.status = NATS_ERR;
      out.err_code = e->value("err_code", 0);
      out.description = e->value("description", "");
      return out;
    }
    out.sequence = body.value("seq", uint64_t{0});
  } catch (const nlohmann::json::exception&) {  // a field of the wrong type
    out = JsPubReply{};
    out.status = NATS_ERR;
    out.description = "a JetStream reply with a field of the wrong type";
  }
  return out;
}

}  // namespace sg::plugins
