// The database side of the gateway: a pool of libpq connections with prepared statements, and
// one transaction per request sent as a libpq pipeline (BEGIN; context; function; COMMIT in
// one round trip). Connections that the server dropped are re-made lazily.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct pg_conn;

namespace coditect::gateway {

struct DbError {
  std::string sqlstate;
  std::string message;  // primary message (shown only for CD* codes)
  std::string hint;
  std::string constraint;
  std::string column;
};

struct DbCall {
  std::string statement;  // name of a prepared statement
  std::vector<std::optional<std::string>> params;
};

struct DbOutcome {
  enum class Kind { Ok, Error, Unavailable } kind = Kind::Unavailable;
  std::optional<std::string> value;  // first column of the first row of the main call
  DbError error;                     // Kind::Error
  std::string why;                   // Kind::Unavailable, for the log
};

class Database {
 public:
  // statements: (name, SQL) prepared on every connection.
  Database(std::string url, int pool_size, int timeout_ms,
           std::vector<std::pair<std::string, std::string>> statements);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // BEGIN [READ ONLY]; calls...; COMMIT. The value is taken from the last call. Serialization
  // failures and deadlocks are retried up to 3 times; a read-only transaction that loses its
  // connection is retried once on a fresh one; any transaction is retried (twice at most) when
  // the server ended the connection before BEGIN completed, so that nothing ran. A write whose
  // connection is lost later is never retried: its COMMIT may have run.
  // Pooled connections that the server ended while idle are replaced before use.
  DbOutcome transaction(bool read_only, const std::vector<DbCall>& calls);
  // One statement on its own (autocommit).
  DbOutcome single(const DbCall& call);

  // Tries to open every connection now; false when the database cannot be reached.
  bool warm_up(std::string* why);

 private:
  struct Slot {
    pg_conn* conn = nullptr;
  };
  enum class RunResult { Ok, Error, Lost, NotStarted };

  int checkout();
  void checkin(int slot);
  bool ensure_connected(Slot& s, std::string* why);
  void drop(Slot& s);
  RunResult run(pg_conn* c, const std::vector<DbCall>& calls, size_t value_index,
                std::optional<std::string>& value, DbError& err);
  DbOutcome execute(const std::vector<DbCall>& calls, size_t value_index, bool retry_on_loss);

  std::string url_;
  int timeout_ms_;
  std::vector<std::pair<std::string, std::string>> statements_;
  std::vector<Slot> slots_;
  std::vector<int> free_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::mutex connect_mu_;
  std::chrono::steady_clock::time_point last_connect_failure_{};
  std::string last_connect_error_;
};

}  // namespace coditect::gateway
