#include "db.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include "problem.hpp"

namespace coditect::gateway {

namespace {

// After a failed connection attempt, requests fail fast for this long instead of each trying
// to connect again (no connection storm while the database is down).
constexpr auto kReconnectBackoff = std::chrono::milliseconds(200);

std::string field(const PGresult* r, int code) {
  const char* v = PQresultErrorField(r, code);
  return v ? v : "";
}

bool connection_level(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || session_ended_by_server(sqlstate);
}

// libpq's parameter arrays for a call: text parameters as C strings, binary ones with their
// lengths (raw bytes may hold NUL).
void param_arrays(const DbCall& call, std::vector<const char*>& ptrs, std::vector<int>& lengths,
                  std::vector<int>& formats) {
  ptrs.clear();
  lengths.clear();
  formats.clear();
  for (const auto& p : call.params) ptrs.push_back(p ? p->c_str() : nullptr);
  if (call.binary.empty()) return;
  for (size_t i = 0; i < call.params.size(); ++i) {
    bool bin = i < call.binary.size() && call.binary[i];
    formats.push_back(bin ? 1 : 0);
    lengths.push_back(bin && call.params[i] ? static_cast<int>(call.params[i]->size()) : 0);
  }
}

void record_error(const PGresult* r, DbError& err) {
  err.sqlstate = field(r, PG_DIAG_SQLSTATE);
  err.message = field(r, PG_DIAG_MESSAGE_PRIMARY);
  err.hint = field(r, PG_DIAG_MESSAGE_HINT);
  err.constraint = field(r, PG_DIAG_CONSTRAINT_NAME);
  err.column = field(r, PG_DIAG_COLUMN_NAME);
}

}  // namespace

Database::Database(std::string url, int pool_size, int timeout_ms)
    : url_(std::move(url)), timeout_ms_(timeout_ms) {
  slots_.resize(static_cast<size_t>(pool_size));
  for (int i = pool_size - 1; i >= 0; --i) free_.push_back(i);
}

Database::~Database() {
  for (auto& s : slots_) drop(s);
}

bool Database::warm_up(std::string* why) {
  bool ok = true;
  for (auto& s : slots_)
    if (!ensure_connected(s, why)) ok = false;
  return ok;
}

int Database::checkout() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms_), [&] { return !free_.empty(); }))
    return -1;
  int i = free_.back();
  free_.pop_back();
  return i;
}

void Database::checkin(int slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);
  }
  cv_.notify_one();
}

void Database::drop(Slot& s) {
  if (s.conn) PQfinish(s.conn);
  s.conn = nullptr;
  s.generation = 0;
  s.prepared.clear();
}

bool Database::ensure_connected(Slot& s, std::string* why) {
  if (s.conn) {
    bool usable = PQstatus(s.conn) == CONNECTION_OK && PQtransactionStatus(s.conn) == PQTRANS_IDLE;
    if (usable) {
      // An idle connection has nothing to read unless the server ended it meanwhile (restart,
      // pg_terminate_backend, idle_session_timeout: a FATAL message, then end of file). libpq
      // notices that only when a query is sent, too late for a write (see execute), so a
      // readable idle socket is replaced now. (A rare NOTICE costs a needless reconnect.)
      pollfd p{PQsocket(s.conn), POLLIN, 0};
      if (poll(&p, 1, 0) != 0) usable = false;
    }
    if (usable) return true;
    drop(s);
  }
  {
    std::lock_guard<std::mutex> lock(connect_mu_);
    if (std::chrono::steady_clock::now() - last_connect_failure_ < kReconnectBackoff) {
      *why = "database unavailable: " + last_connect_error_;
      return false;
    }
  }
  std::string timeout = std::to_string(std::max(1, std::min(5, timeout_ms_ / 1000)));
  std::string options = "-c statement_timeout=" + std::to_string(timeout_ms_);
  const char* keys[] = {"dbname", "application_name", "connect_timeout", "options", nullptr};
  const char* values[] = {url_.c_str(), "coditect-gateway", timeout.c_str(), options.c_str(),
                          nullptr};
  PGconn* c = PQconnectdbParams(keys, values, 1);
  std::string error;
  if (c && PQstatus(c) == CONNECTION_OK) {
    s.conn = c;
    return true;
  }
  error = c ? PQerrorMessage(c) : "out of memory";
  if (c) PQfinish(c);
  while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
  {
    std::lock_guard<std::mutex> lock(connect_mu_);
    last_connect_failure_ = std::chrono::steady_clock::now();
    last_connect_error_ = error;
  }
  *why = "database unavailable: " + error;
  return false;
}

Database::RunResult Database::prepare(Slot& s, const std::vector<DbCall>& calls,
                                      std::uint64_t generation, DbError& err) {
  PGconn* c = s.conn;
  if (generation > s.generation) {
    // A newer catalog: its statements may differ in anything, so none of the old ones stays.
    if (!s.prepared.empty()) {
      PGresult* r = PQexec(c, "DEALLOCATE ALL");
      bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
      if (r) PQclear(r);
      if (!ok) return RunResult::NotStarted;
    }
    s.prepared.clear();
    s.generation = generation;
  }
  // A request of an older generation still in flight: its statements are compared by text.
  std::vector<const DbCall*> todo;
  for (const auto& call : calls) {
    auto it = s.prepared.find(call.statement);
    if (it != s.prepared.end() && it->second == call.sql) continue;
    bool queued = false;
    for (const DbCall* t : todo) queued = queued || t->statement == call.statement;
    if (!queued) todo.push_back(&call);
  }
  if (todo.empty()) return RunResult::Ok;
  if (PQenterPipelineMode(c) != 1) return RunResult::NotStarted;
  std::vector<std::pair<const DbCall*, bool>> sent;  // call, is the DEALLOCATE of its old text
  for (const DbCall* t : todo) {
    if (s.prepared.count(t->statement)) {
      // Names are [a-z0-9_:] (operation ids are checked when the catalog is loaded).
      std::string sql = "DEALLOCATE \"" + t->statement + "\"";
      if (PQsendQueryParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) != 1)
        return RunResult::NotStarted;
      sent.emplace_back(t, true);
    }
    if (PQsendPrepare(c, t->statement.c_str(), t->sql.c_str(), 0, nullptr) != 1)
      return RunResult::NotStarted;
    sent.emplace_back(t, false);
  }
  if (PQpipelineSync(c) != 1) return RunResult::NotStarted;
  bool failed = false;
  for (const auto& [call, dealloc] : sent) {
    PGresult* r = PQgetResult(c);
    if (!r) return RunResult::NotStarted;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK) {
      if (dealloc)
        s.prepared.erase(call->statement);
      else
        s.prepared[call->statement] = call->sql;
    } else if (st == PGRES_FATAL_ERROR && !failed) {
      failed = true;
      err.sqlstate = field(r, PG_DIAG_SQLSTATE);
      err.message = "cannot prepare " + call->statement + ": " + field(r, PG_DIAG_MESSAGE_PRIMARY);
    }
    PQclear(r);
    if (PQstatus(c) != CONNECTION_OK || (failed && connection_level(err.sqlstate)))
      return RunResult::NotStarted;
    PGresult* end = PQgetResult(c);  // NULL closes each command's results
    if (end) {
      PQclear(end);
      return RunResult::NotStarted;
    }
  }
  PGresult* sync = PQgetResult(c);
  bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync) PQclear(sync);
  if (!synced || PQexitPipelineMode(c) != 1) return RunResult::NotStarted;
  return failed ? RunResult::Error : RunResult::Ok;
}

Database::RunResult Database::run(PGconn* c, const std::vector<DbCall>& calls, size_t value_index,
                                  DbOutcome& out, DbError& err, bool keep_open) {
  out.value.reset();
  out.etag.reset();
  // NotStarted only when the server certainly ran none of the calls: nothing was sent, or the
  // server's answer to the first call is that it ended the session. Results come back in
  // order, so that answer means the first call never completed and no later one ran. Any
  // other loss is Lost: a COMMIT may have run although its result never arrived.
  if (PQenterPipelineMode(c) != 1) return RunResult::NotStarted;
  std::vector<const char*> ptrs;
  std::vector<int> lengths, formats;
  for (size_t i = 0; i < calls.size(); ++i) {
    const auto& call = calls[i];
    param_arrays(call, ptrs, lengths, formats);
    if (PQsendQueryPrepared(c, call.statement.c_str(), static_cast<int>(ptrs.size()), ptrs.data(),
                            lengths.empty() ? nullptr : lengths.data(),
                            formats.empty() ? nullptr : formats.data(), 0) != 1)
      return i == 0 ? RunResult::NotStarted : RunResult::Lost;
  }
  if (PQpipelineSync(c) != 1) return RunResult::Lost;
  bool failed = false;
  for (size_t i = 0; i < calls.size(); ++i) {
    PGresult* r = PQgetResult(c);
    if (!r) return RunResult::Lost;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR) {
      if (!failed) {
        err.sqlstate = field(r, PG_DIAG_SQLSTATE);
        err.message = field(r, PG_DIAG_MESSAGE_PRIMARY);
        err.hint = field(r, PG_DIAG_MESSAGE_HINT);
        err.constraint = field(r, PG_DIAG_CONSTRAINT_NAME);
        err.column = field(r, PG_DIAG_COLUMN_NAME);
      }
      failed = true;
      PQclear(r);
      if (i == 0 && session_ended_by_server(err.sqlstate)) return RunResult::NotStarted;
      if (PQstatus(c) != CONNECTION_OK || err.sqlstate.empty() || connection_level(err.sqlstate))
        return RunResult::Lost;
    } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      if (i == value_index && st == PGRES_TUPLES_OK && PQntuples(r) > 0) {
        auto cell = [&](int col) -> std::optional<std::string> {
          if (PQnfields(r) <= col || PQgetisnull(r, 0, col)) return std::nullopt;
          return std::string(PQgetvalue(r, 0, col), static_cast<size_t>(PQgetlength(r, 0, col)));
        };
        out.value = cell(0);
        out.etag = cell(1);  // operations with an ETag answer it as a second column
      }
      PQclear(r);
    } else if (st == PGRES_PIPELINE_ABORTED) {
      PQclear(r);
    } else {
      PQclear(r);
      return RunResult::Lost;
    }
    PGresult* end = PQgetResult(c);  // NULL closes each command's results
    if (end) {
      PQclear(end);
      return RunResult::Lost;
    }
  }
  PGresult* sync = PQgetResult(c);
  bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync) PQclear(sync);
  if (!synced || PQexitPipelineMode(c) != 1 || PQstatus(c) != CONNECTION_OK) return RunResult::Lost;
  if (keep_open && !failed && PQtransactionStatus(c) == PQTRANS_INTRANS) return RunResult::Ok;
  if (PQtransactionStatus(c) != PQTRANS_IDLE) {
    PGresult* r = PQexec(c, "ROLLBACK");
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (r) PQclear(r);
    if (!ok || PQtransactionStatus(c) != PQTRANS_IDLE) return RunResult::Lost;
  }
  return failed ? RunResult::Error : RunResult::Ok;
}

int Database::acquire(DbOutcome& out) {
  int i = checkout();
  if (i < 0) {
    out.kind = DbOutcome::Kind::Unavailable;
    out.why = "no database connection free within the timeout";
    return -1;
  }
  std::string why;
  if (!ensure_connected(slots_[static_cast<size_t>(i)], &why)) {
    checkin(i);
    out.kind = DbOutcome::Kind::Unavailable;
    out.why = why;
    return -1;
  }
  return i;
}

DbOutcome Database::execute(const std::vector<DbCall>& calls, size_t value_index,
                            bool retry_on_loss, std::uint64_t generation) {
  DbOutcome out;
  int retries = 0;
  int not_started = 0;
  bool lost_once = false;
  for (;;) {
    int i = acquire(out);
    if (i < 0) return out;
    Slot& s = slots_[static_cast<size_t>(i)];
    DbError err;
    RunResult rr = prepare(s, calls, generation, err);
    if (rr == RunResult::Ok) rr = run(s.conn, calls, value_index, out, err);
    if (rr == RunResult::NotStarted) {
      // Nothing ran: safe to run again, writes included, on a fresh connection (the slot
      // reconnects). Twice at most, in case a second pooled connection was ended too.
      drop(s);
      checkin(i);
      if (not_started < 2) {
        ++not_started;
        continue;
      }
      out.kind = DbOutcome::Kind::Unavailable;
      out.why =
          "the database ended the connection" + (err.message.empty() ? "" : ": " + err.message);
      return out;
    }
    if (rr == RunResult::Lost) {
      drop(s);
      checkin(i);
      if (retry_on_loss && !lost_once) {
        lost_once = true;
        continue;
      }
      out.kind = DbOutcome::Kind::Unavailable;
      out.why = "lost the database connection" + (err.message.empty() ? "" : ": " + err.message);
      return out;
    }
    checkin(i);
    if (rr == RunResult::Ok) {
      out.kind = DbOutcome::Kind::Ok;
      return out;
    }
    if (map_sqlstate(err.sqlstate).retry && retries < 3) {
      ++retries;
      continue;
    }
    out.kind = DbOutcome::Kind::Error;
    out.error = std::move(err);
    return out;
  }
}

DbOutcome Database::transaction(bool read_only, const std::vector<DbCall>& calls,
                                std::uint64_t generation) {
  // "gw:" names: no operation_id can take them.
  static const DbCall begin_rw{"gw:begin_rw", "BEGIN", {}, {}},
      begin_ro{"gw:begin_ro", "BEGIN READ ONLY", {}, {}}, commit{"gw:commit", "COMMIT", {}, {}};
  std::vector<DbCall> all;
  all.reserve(calls.size() + 2);
  all.push_back(read_only ? begin_ro : begin_rw);
  for (const auto& c : calls) all.push_back(c);
  all.push_back(commit);
  return execute(all, all.size() - 2, read_only, generation);
}

namespace {

class PgReadSession : public ReadSession {
 public:
  explicit PgReadSession(PGconn* c) : c_(c) {}
  std::optional<std::string> fetch(const DbCall& call, DbError* err) override {
    if (failed_) {
      *err = error_;
      return std::nullopt;
    }
    std::vector<const char*> ptrs;
    std::vector<int> lengths, formats;
    param_arrays(call, ptrs, lengths, formats);
    PGresult* r = PQexecPrepared(c_, call.statement.c_str(), static_cast<int>(ptrs.size()),
                                 ptrs.data(), lengths.empty() ? nullptr : lengths.data(),
                                 formats.empty() ? nullptr : formats.data(), 1);
    std::optional<std::string> out;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
      out.emplace(PQgetvalue(r, 0, 0), static_cast<size_t>(PQgetlength(r, 0, 0)));
    } else {
      failed_ = true;
      if (r && PQresultStatus(r) == PGRES_FATAL_ERROR)
        record_error(r, error_);
      else
        error_.message = r ? "the read answered no value" : "lost the database connection";
      if (error_.sqlstate.empty()) error_.sqlstate = "08006";
      *err = error_;
    }
    if (r) PQclear(r);
    return out;
  }
  bool failed() const { return failed_; }

 private:
  PGconn* c_;
  bool failed_ = false;
  DbError error_;
};

}  // namespace

DbOutcome Database::read_session(bool read_only, const std::vector<DbCall>& calls,
                                 const std::vector<DbCall>& later, std::uint64_t generation,
                                 const std::function<void(const DbOutcome&, ReadSession&)>& then) {
  static const DbCall begin_ro{"gw:begin_ro", "BEGIN READ ONLY", {}, {}},
      begin_rw{"gw:begin_rw", "BEGIN", {}, {}};
  std::vector<DbCall> all{read_only ? begin_ro : begin_rw};
  for (const auto& c : calls) all.push_back(c);
  std::vector<DbCall> to_prepare = all;
  for (const auto& c : later) to_prepare.push_back(c);
  DbOutcome out;
  for (int attempt = 0;; ++attempt) {
    int i = acquire(out);
    if (i < 0) return out;
    Slot& s = slots_[static_cast<size_t>(i)];
    DbError err;
    RunResult rr = prepare(s, to_prepare, generation, err);
    if (rr == RunResult::Ok) rr = run(s.conn, all, all.size() - 1, out, err, true);
    if (rr == RunResult::NotStarted || rr == RunResult::Lost) {
      drop(s);
      checkin(i);
      // Read only, or nothing ran: nothing to lose by running it again.
      if (attempt < 2 && (read_only || rr == RunResult::NotStarted)) continue;
      out.kind = DbOutcome::Kind::Unavailable;
      out.why = "lost the database connection" + (err.message.empty() ? "" : ": " + err.message);
      return out;
    }
    if (rr == RunResult::Error) {
      checkin(i);
      out.kind = DbOutcome::Kind::Error;
      out.error = std::move(err);
      return out;
    }
    out.kind = DbOutcome::Kind::Ok;
    PgReadSession session(s.conn);
    try {
      then(out, session);
    } catch (...) {
      drop(s);
      checkin(i);
      throw;
    }
    PGresult* r = PQexec(s.conn, session.failed() ? "ROLLBACK" : "COMMIT");
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (r) PQclear(r);
    if (!ok || PQtransactionStatus(s.conn) != PQTRANS_IDLE) drop(s);
    checkin(i);
    return out;
  }
}

DbOutcome Database::transaction_then(const std::vector<DbCall>& calls, const DbCall& later,
                                     std::uint64_t generation,
                                     const std::function<DbCall(const DbOutcome&)>& then) {
  static const DbCall begin_rw{"gw:begin_rw", "BEGIN", {}, {}};
  std::vector<DbCall> all{begin_rw};
  for (const auto& c : calls) all.push_back(c);
  std::vector<DbCall> to_prepare = all;
  to_prepare.push_back(later);
  DbOutcome out;
  int retries = 0, not_started = 0;
  for (;;) {
    int i = acquire(out);
    if (i < 0) return out;
    Slot& s = slots_[static_cast<size_t>(i)];
    DbError err;
    RunResult rr = prepare(s, to_prepare, generation, err);
    if (rr == RunResult::Ok) rr = run(s.conn, all, all.size() - 1, out, err, true);
    if (rr == RunResult::NotStarted && not_started < 2) {
      drop(s);
      checkin(i);
      ++not_started;
      continue;
    }
    if (rr == RunResult::NotStarted || rr == RunResult::Lost) {
      drop(s);
      checkin(i);
      out.kind = DbOutcome::Kind::Unavailable;
      out.why = "lost the database connection" + (err.message.empty() ? "" : ": " + err.message);
      return out;
    }
    if (rr == RunResult::Ok) {
      out.kind = DbOutcome::Kind::Ok;
      DbCall next;
      try {
        next = then(out);
      } catch (...) {
        drop(s);
        checkin(i);
        throw;
      }
      // The follow-up, then COMMIT: an error in either ends the transaction without effect.
      std::vector<const char*> ptrs;
      std::vector<int> lengths, formats;
      param_arrays(next, ptrs, lengths, formats);
      PGresult* r = PQexecPrepared(s.conn, next.statement.c_str(), static_cast<int>(ptrs.size()),
                                   ptrs.data(), lengths.empty() ? nullptr : lengths.data(),
                                   formats.empty() ? nullptr : formats.data(), 0);
      bool ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
      if (!ok && r) record_error(r, err);
      if (r) PQclear(r);
      if (ok) {
        r = PQexec(s.conn, "COMMIT");
        ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok && r) record_error(r, err);
        if (r) PQclear(r);
      } else if (PQstatus(s.conn) == CONNECTION_OK) {
        r = PQexec(s.conn, "ROLLBACK");
        if (r) PQclear(r);
      }
      if (PQstatus(s.conn) != CONNECTION_OK || PQtransactionStatus(s.conn) != PQTRANS_IDLE ||
          (!ok && err.sqlstate.empty())) {
        drop(s);
        checkin(i);
        out.kind = DbOutcome::Kind::Unavailable;
        out.why = "lost the database connection after the request ran";
        return out;
      }
      checkin(i);
      if (ok) return out;
    } else {
      checkin(i);
    }
    if (map_sqlstate(err.sqlstate).retry && retries < 3) {
      ++retries;
      continue;
    }
    out.kind = DbOutcome::Kind::Error;
    out.value.reset();
    out.etag.reset();
    out.error = std::move(err);
    return out;
  }
}

DbOutcome Database::single(const DbCall& call, std::uint64_t generation) {
  return execute({call}, 0, true, generation);
}

}  // namespace coditect::gateway
