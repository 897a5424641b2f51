// Boundary between C++ and PostgreSQL error handling. ereport(ERROR) longjmps, which would skip
// C++ destructors, and a C++ exception must never unwind through PostgreSQL frames. So:
//   - every SQL-callable entry point runs its body through cpp_entry(), which catches C++
//     exceptions and reports them only after the C++ frames are gone;
//   - a PostgreSQL call that may raise, made while C++ objects are alive, goes through
//     pg_call(), which turns the PostgreSQL error into a PgError exception; cpp_entry() then
//     re-throws the original error (SQLSTATE and all) from a frame with nothing to destroy.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/elog.h"
}

#include <exception>
#include <new>
#include <stdexcept>

namespace coditect::pg {

// An error with our own SQLSTATE (CD400, CD403, ...), safe to show to clients.
class UserError : public std::runtime_error {
 public:
  UserError(int sqlstate, const char* message) : std::runtime_error(message), sqlstate_(sqlstate) {}
  int sqlstate() const { return sqlstate_; }

 private:
  int sqlstate_;
};

// A PostgreSQL error caught by pg_call(); owns nothing, the ErrorData is palloc'd.
struct PgError {
  ErrorData* data;
};

#define CODITECT_SQLSTATE(a, b, c) MAKE_SQLSTATE('C', 'D', a, b, c)

// Throws std::bad_alloc when the superuser-only setting coditect.debug_fail_point names this
// code path (tests only).
void fail_point(const char* name);

template <typename F>
auto pg_call(F&& f) -> decltype(f()) {
  MemoryContext caller_cxt = CurrentMemoryContext;
  ErrorData* volatile caught = nullptr;
  if constexpr (std::is_void_v<decltype(f())>) {
    PG_TRY();
    { f(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(caller_cxt);
      caught = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (caught) throw PgError{caught};
  } else {
    decltype(f()) result{};
    PG_TRY();
    { result = f(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(caller_cxt);
      caught = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (caught) throw PgError{caught};
    return result;
  }
}

template <typename F>
Datum cpp_entry(F&& body) noexcept {
  char message[512];
  int sqlstate = ERRCODE_INTERNAL_ERROR;
  ErrorData* pg_error = nullptr;
  try {
    return body();
  } catch (const PgError& e) {
    pg_error = e.data;
  } catch (const UserError& e) {
    sqlstate = e.sqlstate();
    strlcpy(message, e.what(), sizeof message);
  } catch (const std::bad_alloc&) {
    sqlstate = ERRCODE_OUT_OF_MEMORY;
    strlcpy(message, "out of memory", sizeof message);
  } catch (const std::exception& e) {
    strlcpy(message, e.what(), sizeof message);
  } catch (...) {
    strlcpy(message, "unexpected C++ exception", sizeof message);
  }
  // Only trivially destructible locals are alive from here on.
  if (pg_error) ReThrowError(pg_error);
  ereport(ERROR, (errcode(sqlstate), errmsg("%s", message)));
  pg_unreachable();
}

}  // namespace coditect::pg

// Declares a SQL-callable function whose body is a C++ lambda-like block run under cpp_entry.
#define CODITECT_FUNCTION(name)                                               \
  static Datum name##_impl(FunctionCallInfo fcinfo);                          \
  extern "C" {                                                                \
  PG_FUNCTION_INFO_V1(name);                                                  \
  Datum name(PG_FUNCTION_ARGS) {                                              \
    return coditect::pg::cpp_entry([fcinfo] { return name##_impl(fcinfo); }); \
  }                                                                           \
  }                                                                           \
  static Datum name##_impl(FunctionCallInfo fcinfo)
