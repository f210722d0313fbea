// The floor for `streamgate status`: the least a C++ program can do to ask the daemon one thing
// over its control socket. One DEALER socket, one request, one reply, printed raw; no options, no
// configuration, no JSON library. libzmq (through cppzmq) is its only dependency.
//   bench_zmq_min ENDPOINT [CMD]     e.g. ipc://$XDG_RUNTIME_DIR/streamgate/control.sock status
#include <cstdio>
#include <string>

#include <zmq.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: bench_zmq_min ENDPOINT [CMD]\n", stderr);
    return 2;
  }
  const std::string cmd = argc > 2 ? argv[2] : "status";
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::dealer};
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(argv[1]);
  const std::string request = R"({"v":1,"id":"1","cmd":")" + cmd + R"(","args":{}})";
  socket.send(zmq::buffer(request), zmq::send_flags::none);
  zmq::message_t reply;
  zmq::pollitem_t in{socket.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&in, 1, std::chrono::milliseconds(5000)) == 0 ||
      !socket.recv(reply, zmq::recv_flags::dontwait)) {
    std::fputs("bench_zmq_min: no reply within 5 s\n", stderr);
    return 1;
  }
  std::fwrite(reply.data(), 1, reply.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}
