#include "daemon/control/curve_auth.h"

#include <array>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <zmq_addon.hpp>

#include "common/logging.h"

namespace sg::control {

Result<std::set<std::string>> ReadAuthorizedKeys(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Fail(ErrorCode::kConfig,
                fmt::format("control.curve_authorized_keys: cannot read {}", path));
  }
  std::set<std::string> authorized;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty() || line[0] == '#') continue;
    if (line.starts_with("public-key:")) line = line.substr(11);
    line.erase(0, line.find_first_not_of(" \t"));
    uint8_t binary[32];
    if (line.size() != 40 || zmq_z85_decode(binary, line.c_str()) == nullptr) {
      return Fail(
          ErrorCode::kConfig,
          fmt::format("control.curve_authorized_keys: {}:{}: not a Z85 public key", path, number));
    }
    authorized.insert(std::string(reinterpret_cast<char*>(binary), 32));
  }
  if (authorized.empty()) {
    return Fail(ErrorCode::kConfig,
                fmt::format("control.curve_authorized_keys: {} lists no keys", path));
  }
  return authorized;
}

void AnswerZap(zmq::socket_t& zap, const std::set<std::string>& authorized,
               spdlog::logger& logger) {
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(zap, std::back_inserter(frames), zmq::recv_flags::dontwait)) return;
  // version, request id, domain, address, identity, mechanism, credentials...
  std::string status = "400";
  std::string text = "client key not authorized";
  if (frames.size() >= 7 && frames[5].to_string() == "CURVE" && frames[6].size() == 32 &&
      authorized.contains(frames[6].to_string())) {
    status = "200";
    text = "OK";
  } else {
    logger.warn(log::With("Refused a control client",
                          {{"address", frames.size() > 3 ? frames[3].to_string() : ""}}));
  }
  // The request id must outlive the send: a buffer only points at it.
  const std::string request_id = frames.size() > 1 ? frames[1].to_string() : std::string();
  std::array<zmq::const_buffer, 6> reply = {zmq::str_buffer("1.0"), zmq::buffer(request_id),
                                            zmq::buffer(status),    zmq::buffer(text),
                                            zmq::str_buffer(""),    zmq::str_buffer("")};
  (void)zmq::send_multipart(zap, reply);
}

}  // namespace sg::control
