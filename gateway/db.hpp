// The database side of the gateway: a pool of libpq connections with prepared statements, and
// one transaction per request sent as a libpq pipeline (BEGIN; context; function; COMMIT in
// one round trip). Connections that the server dropped are re-made lazily. A statement is
// prepared on a connection when first used there; a connection that serves a newer catalog
// generation drops its statements first (DEALLOCATE ALL).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "call.hpp"

struct pg_conn;

namespace coditect::gateway {

// Statements run inside a read-only transaction that a streamed answer keeps open.
class ReadSession {
 public:
  virtual ~ReadSession() = default;
  // Runs one statement (prepared with the session); its first column in binary form, or
  // nullopt with *err filled (the transaction is then rolled back at the end).
  virtual std::optional<std::string> fetch(const DbCall& call, DbError* err) = 0;
};

class Database {
 public:
  Database(std::string url, int pool_size, int timeout_ms);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // BEGIN [READ ONLY]; calls...; COMMIT. The value is taken from the last call. Serialization
  // failures and deadlocks are retried up to 3 times; a read-only transaction that loses its
  // connection is retried once on a fresh one; any transaction is retried (twice at most) when
  // the server ended the connection before BEGIN completed, so that nothing ran. A write whose
  // connection is lost later is never retried: its COMMIT may have run.
  // Pooled connections that the server ended while idle are replaced before use.
  // generation: the catalog generation the calls come from.
  DbOutcome transaction(bool read_only, const std::vector<DbCall>& calls, std::uint64_t generation);
  // BEGIN [READ ONLY]; calls... and, when they succeed, then(outcome, session) with the
  // transaction still open, so that later statements (prepared up front with `later`) read
  // the same snapshot after the same decision; COMMIT afterwards. Not read only: the decision
  // writes (a download recorded as activity), and a lost connection is retried only when
  // nothing ran. Nothing is retried once `then` has run. The outcome is the calls' (Error,
  // Unavailable) or Ok.
  DbOutcome read_session(bool read_only, const std::vector<DbCall>& calls,
                         const std::vector<DbCall>& later, std::uint64_t generation,
                         const std::function<void(const DbOutcome&, ReadSession&)>& then);
  // BEGIN; calls...; then, when they succeed, the call that then(outcome) makes (prepared up
  // front from `later`: its name and SQL) in the same transaction; COMMIT. The outcome is the
  // calls' (Error, Unavailable), or that call's or COMMIT's error, or Ok. Serialization failures
  // and deadlocks are retried (then runs again); a connection lost after BEGIN is not.
  DbOutcome transaction_then(const std::vector<DbCall>& calls, const DbCall& later,
                             std::uint64_t generation,
                             const std::function<DbCall(const DbOutcome&)>& then);
  // One statement on its own (autocommit).
  DbOutcome single(const DbCall& call, std::uint64_t generation);

  // Tries to open every connection now; false when the database cannot be reached.
  bool warm_up(std::string* why);

 private:
  struct Slot {
    pg_conn* conn = nullptr;
    std::uint64_t generation = 0;
    std::unordered_map<std::string, std::string> prepared;  // name -> SQL
  };
  enum class RunResult { Ok, Error, Lost, NotStarted };

  int checkout();
  void checkin(int slot);
  bool ensure_connected(Slot& s, std::string* why);
  // A connected slot checked out (checkin when done), or -1 with out saying why not.
  int acquire(DbOutcome& out);
  void drop(Slot& s);
  RunResult prepare(Slot& s, const std::vector<DbCall>& calls, std::uint64_t generation,
                    DbError& err);
  RunResult run(pg_conn* c, const std::vector<DbCall>& calls, size_t value_index, DbOutcome& out,
                DbError& err, bool keep_open = false);
  DbOutcome execute(const std::vector<DbCall>& calls, size_t value_index, bool retry_on_loss,
                    std::uint64_t generation);

  std::string url_;
  int timeout_ms_;
  std::vector<Slot> slots_;
  std::vector<int> free_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::mutex connect_mu_;
  std::chrono::steady_clock::time_point last_connect_failure_{};
  std::string last_connect_error_;
};

}  // namespace coditect::gateway
