// Several NATS requests sent at once, their replies collected by the calling thread: one round
// trip for all of them, where natsConnection_Request waits for each in turn. The job store on
// JetStream uses it to write a job's hint and record together and to read a batch of records.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nats/nats.h>

#include "common/result.h"

namespace sg::plugins {

struct NatsMsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using NatsMsgPtr = std::unique_ptr<natsMsg, NatsMsgDeleter>;

struct NatsRequest {
  std::string subject;
  std::string data;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Thread-safe; each call borrows a reply subscription from a pool (created on first use).
class NatsExchange {
 public:
  explicit NatsExchange(natsConnection* conn) : conn_(conn) {}
  ~NatsExchange();
  NatsExchange(const NatsExchange&) = delete;
  NatsExchange& operator=(const NatsExchange&) = delete;

  /// Sends the requests in order and returns their replies by index: null where none came
  /// within `timeout`. An error only when nothing could be sent or the connection failed.
  Result<std::vector<NatsMsgPtr>> Exchange(const std::vector<NatsRequest>& requests,
                                           std::chrono::milliseconds timeout);

  /// As Exchange, but the requests join those of other threads calling Combined at the same
  /// time: while one round is out, the next gathers, and its first caller sends it. Each round
  /// costs the server and this process about one request's work however many it carries.
  Result<std::vector<NatsMsgPtr>> Combined(const std::vector<NatsRequest>& requests,
                                           std::chrono::milliseconds timeout);

 private:
  struct Round;
  Result<std::vector<NatsMsgPtr>> Send(const std::vector<const NatsRequest*>& requests,
                                       std::chrono::milliseconds timeout);
  struct Inbox {
    natsSubscription* sub = nullptr;
    std::string prefix;  // "<inbox>."
  };
  Result<Inbox> Borrow();
  void Return(Inbox inbox);

  natsConnection* conn_;
  std::mutex mu_;
  std::vector<Inbox> idle_;  // guarded by mu_
  uint64_t next_ = 0;        // guarded by mu_: tells one exchange's replies from a late one's

  std::mutex rounds_mu_;
  bool round_out_ = false;         // guarded by rounds_mu_
  std::shared_ptr<Round> gather_;  // guarded by rounds_mu_: the next round, gathering
};

/// What a JetStream publish's reply says: the sequence stored, or the error and its code.
struct JsPubReply {
  natsStatus status = NATS_OK;  // NATS_TIMEOUT without a reply, NATS_NO_RESPONDERS, NATS_ERR
  int err_code = 0;             // JetStream's err_code (10071: wrong last sequence)
  uint64_t sequence = 0;
  std::string description;
};
JsPubReply ParsePubReply(natsMsg* reply);

}  // namespace sg::plugins
