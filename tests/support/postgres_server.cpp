#include "tests/support/postgres_server.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <vector>

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sg::test {
namespace {

namespace fs = std::filesystem;

bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// A port nobody listens on now. Another process could take it before postgres binds it: Start
// then sees "could not bind" and the first start tries another port.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("bind 127.0.0.1:0 failed");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string RandomHex(size_t n) {
  std::random_device rd;
  std::string out;
  const char* digits = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) out += digits[rd() % 16];
  return out;
}

// postgres refuses to run as root: the tests run it as `nobody`. When the tests are not root
// there is nobody to switch to, and nothing to switch from.
std::vector<std::string> AsPostgresUser(std::vector<std::string> argv) {
  if (geteuid() != 0) return argv;
  std::vector<std::string> out = {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup",
                                  "--clear-groups", "--"};
  if (!Executable(out[0])) out = {"/usr/sbin/runuser", "-u", "nobody", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace

std::string PostgresServer::FindBinDir() {
  std::vector<std::string> candidates;
  // pg_config names the version the dev package was built for; prefer it, else the newest.
  if (Executable("/usr/bin/pg_config")) {
    const RunResult config = Run({"/usr/bin/pg_config", "--bindir"}, {}, 10s);
    std::string dir = config.exit_code == 0 ? config.out : "";
    while (!dir.empty() && (dir.back() == '\n' || dir.back() == ' ')) dir.pop_back();
    if (!dir.empty()) candidates.push_back(dir);
  }
  std::error_code ec;
  std::vector<std::string> versions;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    versions.push_back(entry.path().string() + "/bin");
  }
  std::sort(versions.rbegin(), versions.rend());
  candidates.insert(candidates.end(), versions.begin(), versions.end());
  for (const auto& dir : candidates) {
    if (Executable(dir + "/initdb") && Executable(dir + "/postgres") && Executable(dir + "/psql")) {
      return dir;
    }
  }
  return "";
}

std::unique_ptr<PostgresServer> PostgresServer::StartOrSkip() {
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->bin_ = FindBinDir();
  if (server->bin_.empty()) {
    std::fprintf(stderr,
                 "skipped: PostgreSQL is not installed (no initdb, postgres and psql under "
                 "/usr/lib/postgresql/*/bin); install Debian's postgresql to run these tests\n");
    std::exit(77);
  }
  server->InitDb();
  std::string log;
  // Only the first start may move to another port: a restart must come back where it was.
  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = FreePort();
    if (server->TryStart(log)) {
      server->Psql("CREATE DATABASE " + server->database_, "postgres");
      return server;
    }
    if (log.find("could not bind") == std::string::npos &&
        log.find("in use") == std::string::npos) {
      break;
    }
  }
  throw std::runtime_error("postgres did not start; its log:\n" + log);
}

void PostgresServer::InitDb() {
  std::string pattern = "/tmp/sgpg.XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  base_ = pattern;
  password_ = "pw-" + RandomHex(16);
  {
    std::ofstream(base_ + "/pwfile") << password_ << "\n";
  }
  if (geteuid() == 0) {
    const passwd* nobody = getpwnam("nobody");
    const group* nogroup = getgrnam("nogroup");
    if (nobody == nullptr || nogroup == nullptr) {
      throw std::runtime_error("no user nobody or group nogroup to run postgres as");
    }
    for (const std::string& path : {base_, base_ + "/pwfile"}) {
      if (chown(path.c_str(), nobody->pw_uid, nogroup->gr_gid) != 0) {
        throw std::runtime_error("chown " + path + " to nobody failed");
      }
    }
  }
  SpawnOptions options;
  options.cwd = base_;
  options.env = {{"LC_ALL", "C"}, {"LANG", "C"}};
  Process initdb(AsPostgresUser({bin_ + "/initdb", "--pgdata=" + base_ + "/data",
                                 "--username=" + user_, "--pwfile=" + base_ + "/pwfile",
                                 "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C",
                                 "--no-sync", "--no-instructions"}),
                 logs_, options);
  const auto code = initdb.Wait(120s);
  if (code != 0) {
    throw std::runtime_error("initdb failed (" +
                             (code ? "exit " + std::to_string(*code) : std::string("timed out")) +
                             "): " + initdb.Stdout() + initdb.Stderr());
  }
}

bool PostgresServer::TryStart(std::string& log) {
  SpawnOptions options;
  options.cwd = base_;
  options.env = {{"LC_ALL", "C"}, {"LANG", "C"}};
  server_ = std::make_unique<Process>(
      AsPostgresUser({bin_ + "/postgres", "-D", base_ + "/data", "-p", std::to_string(port_), "-c",
                      "listen_addresses=" + host_, "-c", "unix_socket_directories=" + base_,
                      "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
                      "full_page_writes=off", "-c", "max_connections=200", "-c",
                      "shared_buffers=32MB", "-c", "logging_collector=off"}),
      logs_, options);
  // The postmaster writes this line once its sockets listen; a server that exits instead is
  // found at once rather than at the deadline.
  bool exited = false;
  const bool ready = WaitFor(
      [&] {
        if (server_->Stderr().find("ready to accept connections") != std::string::npos) {
          return true;
        }
        exited = !server_->Running();
        return exited;
      },
      60s);
  log = server_->Stderr();
  if (ready && !exited) return true;
  if (!exited) {
    server_->Signal(SIGQUIT);
    server_->Wait(10s);
  }
  server_.reset();
  return false;
}

void PostgresServer::Start() {
  if (Running()) return;
  std::string log;
  if (!TryStart(log)) throw std::runtime_error("postgres did not start again; its log:\n" + log);
}

void PostgresServer::Stop() {
  if (!server_) return;
  // SIGINT is the fast shutdown: sessions are cut off, the data is checkpointed. SIGQUIT, the
  // immediate one, is the fallback; the Process's SIGKILL the last.
  server_->Signal(SIGINT);
  if (!server_->Wait(60s)) {
    server_->Signal(SIGQUIT);
    server_->Wait(10s);
  }
  server_.reset();
}

bool PostgresServer::Running() { return server_ && server_->Running(); }

PostgresServer::~PostgresServer() {
  Stop();
  std::error_code ec;
  if (!base_.empty()) fs::remove_all(base_, ec);
}

void PostgresServer::CreateDatabase(const std::string& name) {
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!plain) throw std::runtime_error("CreateDatabase: '" + name + "' is not a plain name");
  Psql("CREATE DATABASE " + name + " OWNER " + user_, "postgres");
}

std::string PostgresServer::Psql(const std::string& sql, const std::string& database) {
  SpawnOptions options;
  options.env = {{"PGPASSWORD", password_}, {"PGCONNECT_TIMEOUT", "10"}, {"LC_ALL", "C"}};
  options.cwd = "/";
  const RunResult r = Run({bin_ + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                           host_, "-p", std::to_string(port_), "-U", user_, "-d",
                           database.empty() ? database_ : database, "-c", sql},
                          options, 60s);
  if (r.exit_code != 0) {
    throw std::runtime_error("psql -c '" + sql + "' failed (exit " + std::to_string(r.exit_code) +
                             "): " + r.err);
  }
  return r.out;
}

PostgresOptions PostgresServer::Options(const std::string& database) const {
  PostgresOptions options;
  options.host = host_;
  options.port = port_;
  options.user = user_;
  options.password = password_;
  options.database = database.empty() ? database_ : database;
  options.sslmode = "disable";
  return options;
}

std::string PostgresServer::Log() const { return server_ ? server_->Stderr() : ""; }

PostgresServer& SharedPostgres() {
  // A function-local static: made at the first call, destroyed (server stopped, folder deleted)
  // when the binary exits, after main returns or at std::exit.
  static std::unique_ptr<PostgresServer> server = PostgresServer::StartOrSkip();
  return *server;
}

}  // namespace sg::test
