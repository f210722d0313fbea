// A throwaway PostgreSQL server for tests: Debian's initdb in a temporary folder, run as the
// unprivileged user `nobody` (postgres refuses root), listening on 127.0.0.1 on a free port only,
// with a password-authenticated user. Stop() and Start() again keep its data and its port, for
// tests of "PostgreSQL down in the middle, then back"; everything goes with the object.
#pragma once

#include <memory>
#include <string>

#include "daemon/plugin_api/sql.h"
#include "tests/support/process.h"

namespace sg::test {

class PostgresServer {
 public:
  /// The folder of initdb, postgres and psql ("/usr/lib/postgresql/15/bin"), or "" when
  /// PostgreSQL is not installed.
  static std::string FindBinDir();

  /// Makes a cluster and starts it, waiting until it accepts connections. Exits the test binary
  /// with 77 (skipped) and a message when PostgreSQL is not installed; throws std::runtime_error
  /// (the running test fails) with the server's log when it cannot be started.
  static std::unique_ptr<PostgresServer> StartOrSkip();

  ~PostgresServer();  // stops the server and deletes its folder
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  /// Fast shutdown (SIGINT: connected clients are cut off), waiting for the server to exit.
  void Stop();
  /// Starts the server again on the same data folder and port; waits until it accepts
  /// connections; throws std::runtime_error when it does not.
  void Start();
  bool Running();

  const std::string& host() const { return host_; }  // "127.0.0.1"
  int port() const { return port_; }
  const std::string& user() const { return user_; }          // a superuser, password auth
  const std::string& password() const { return password_; }  // fresh per server
  const std::string& database() const { return database_; }  // created at start, owned by user

  /// A fresh database named `name` (letters, digits and '_'), owned by user(); throws on failure.
  void CreateDatabase(const std::string& name);
  /// Runs `sql` with psql as user() on `database` ("" for database()); returns psql's unaligned
  /// output (one row a line, columns split by '|'); throws std::runtime_error on failure.
  std::string Psql(const std::string& sql, const std::string& database = "");
  /// The options that reach this server, for OpenPostgres; `database` "" for database().
  PostgresOptions Options(const std::string& database = "") const;
  /// What the server wrote since it was last started (its log goes to stderr).
  std::string Log() const;

 private:
  PostgresServer() = default;
  void InitDb();
  // Starts postgres and waits for it; false (with the log in `log`) when it exited instead.
  bool TryStart(std::string& log);

  std::string bin_;
  std::string base_;  // owned by nobody: data/, the socket, the password file
  TempDir logs_;      // the captured output of the server and of initdb
  std::unique_ptr<Process> server_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
  std::string user_ = "sg_test";
  std::string password_;
  std::string database_ = "sg_test";
};

/// One server shared by every test of the binary: started at the first call (exiting 77 when
/// PostgreSQL is not installed), stopped and deleted when the binary exits. Tests that stop a
/// server start their own with StartOrSkip() instead.
PostgresServer& SharedPostgres();

}  // namespace sg::test
