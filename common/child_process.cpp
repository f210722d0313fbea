#include "common/child_process.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sg {
namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Splits a stream into lines for a callback; a line longer than 64 KiB is cut.
class LineSplitter {
 public:
  explicit LineSplitter(std::function<void(std::string_view)> fn) : fn_(std::move(fn)) {}
  void Feed(const char* data, size_t n) {
    buffer_.append(data, n);
    size_t start = 0;
    for (;;) {
      const size_t nl = buffer_.find('\n', start);
      if (nl == std::string::npos) break;
      Emit(std::string_view(buffer_).substr(start, nl - start));
      start = nl + 1;
    }
    buffer_.erase(0, start);
    if (buffer_.size() > kMaxLine) {
      Emit(buffer_);
      buffer_.clear();
    }
  }
  void Finish() {
    if (!buffer_.empty()) Emit(buffer_);
    buffer_.clear();
  }

 private:
  static constexpr size_t kMaxLine = 64 * 1024;
  void Emit(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (fn_) fn_(line);
  }
  std::function<void(std::string_view)> fn_;
  std::string buffer_;
};

bool IsExecutable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string ChildResult::Describe() const {
  std::string text = signal != 0
                         ? fmt::format("killed by signal {} ({})", signal, ::strsignal(signal))
                         : fmt::format("exited with status {}", exit_code);
  if (timed_out) text += " after its time limit passed";
  if (stopped) text += " when asked to stop";
  return text;
}

Result<std::string> FindProgram(std::string_view name) {
  if (name.empty()) return Fail(ErrorCode::kInvalidArgument, "no program named");
  if (name.find('/') != std::string_view::npos) {
    std::string path(name);
    if (IsExecutable(path)) return path;
    return Fail(ErrorCode::kNotFound, fmt::format("{} is not an executable file", path));
  }
  const char* env = std::getenv("PATH");
  const std::string path_list = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path_list.size()) {
    size_t colon = path_list.find(':', start);
    if (colon == std::string::npos) colon = path_list.size();
    std::string dir = path_list.substr(start, colon - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + std::string(name);
    if (IsExecutable(candidate)) return candidate;
    start = colon + 1;
  }
  return Fail(ErrorCode::kNotFound, fmt::format("{} is not on PATH ({})", name, path_list));
}

Result<ChildResult> RunChild(const ChildOptions& options) {
  if (options.argv.empty()) return Fail(ErrorCode::kInvalidArgument, "no program to run");
  auto program = FindProgram(options.argv.front());
  if (!program) return program.error();

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return Fail(ErrorCode::kIo, fmt::format("pipe: {}", std::strerror(errno)));
  }
  Fd out_read(out_pipe[0]);
  Fd out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return Fail(ErrorCode::kIo, fmt::format("pipe: {}", std::strerror(errno)));
  }
  Fd err_read(err_pipe[0]);
  Fd err_write(err_pipe[1]);
  Fd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  // Everything the child needs is made before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const auto& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) return Fail(ErrorCode::kIo, fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent is already gone
    if (options.nice > 0) ::setpriority(PRIO_PROCESS, 0, options.nice);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the daemon blocks signals in its threads
    ::signal(SIGPIPE, SIG_DFL);
    if (null_in.get() >= 0) ::dup2(null_in.get(), STDIN_FILENO);
    ::dup2(out_write.get(), STDOUT_FILENO);
    ::dup2(err_write.get(), STDERR_FILENO);
    ::execv(program->c_str(), argv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // as the child does: whichever runs first
  out_write.Reset();
  err_write.Reset();

  ChildResult result;
  std::deque<std::string> tail;
  LineSplitter out_lines(options.on_stdout);
  LineSplitter err_lines([&](std::string_view line) {
    if (options.on_stderr) options.on_stderr(line);
    if (options.stderr_tail_lines == 0) return;
    tail.emplace_back(line);
    if (tail.size() > options.stderr_tail_lines) tail.pop_front();
  });

  const auto started = Clock::now();
  std::optional<Clock::time_point> killed_at;  // when SIGTERM went to the group
  bool out_open = true;
  bool err_open = true;
  auto terminate = [&] {
    if (killed_at) return;
    ::kill(-pid, SIGTERM);
    killed_at = Clock::now();
  };
  // Stops the child when asked or when its time is up; kills it when it outlives the grace.
  auto check_limits = [&] {
    if (!killed_at) {
      if (options.stop && options.stop()) {
        result.stopped = true;
        terminate();
      } else if (options.timeout.count() > 0 && Clock::now() - started >= options.timeout) {
        result.timed_out = true;
        terminate();
      }
    } else if (Clock::now() - *killed_at >= options.grace) {
      ::kill(-pid, SIGKILL);
    }
  };
  char buffer[16384];
  while (out_open || err_open) {
    pollfd fds[2];
    nfds_t n = 0;
    if (out_open) fds[n++] = {out_read.get(), POLLIN, 0};
    if (err_open) fds[n++] = {err_read.get(), POLLIN, 0};
    const int ready = ::poll(fds, n, 200);
    if (ready < 0 && errno != EINTR) break;
    for (nfds_t i = 0; i < n && ready > 0; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
      const bool is_out = fds[i].fd == out_read.get();
      if (got > 0) {
        (is_out ? out_lines : err_lines).Feed(buffer, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        (is_out ? out_open : err_open) = false;
      }
    }
    check_limits();
  }
  out_lines.Finish();
  err_lines.Finish();

  int status = 0;
  for (;;) {
    // The pipes closed; the child may still linger (it closed them itself): the same limits hold.
    const pid_t waited = ::waitpid(pid, &status, WNOHANG);
    if (waited == pid) break;
    if (waited < 0 && errno != EINTR) {
      return Fail(ErrorCode::kIo, fmt::format("waitpid: {}", std::strerror(errno)));
    }
    check_limits();
    ::poll(nullptr, 0, 50);
  }
  // Whatever the child left in its group goes with it.
  ::kill(-pid, SIGKILL);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  result.stderr_tail.assign(tail.begin(), tail.end());
  if (result.exit_code == 127 && result.signal == 0 && tail.empty()) {
    return Fail(ErrorCode::kIo, fmt::format("{} could not be started", *program));
  }
  return result;
}

}  // namespace sg
