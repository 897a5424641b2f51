// Boundary between C++ and PostgreSQL error handling. ereport(ERROR) longjmps, which would skip
// C++ destructors, and a C++ exception must never unwind through PostgreSQL frames or leave a
// PG_TRY without its PG_END_TRY (PG_exception_stack would point into a dead frame). So
// (pg_duckdb's InvokeCPPFunc / PostgresFunctionGuard are the models):
//   - every SQL-callable entry point runs its body through cpp_entry(), which catches C++
//     exceptions and reports them only after the C++ frames are gone;
//   - a PostgreSQL call that may raise, made while C++ objects are alive, goes through
//     pg_call(fn, args...): exactly one C function with trivially copyable arguments, nothing
//     C++ inside the guarded region. A PostgreSQL error becomes a PgError exception, which
//     cpp_entry() re-throws (SQLSTATE and all) from a frame with nothing to destroy;
//   - C++ work (strings, containers, the PG-free logic) happens before or after a pg_call,
//     never inside one; PostgreSQL calls made before any C++ object exists need no guard.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <csetjmp>
#include <exception>
#include <new>
#include <stdexcept>
#include <type_traits>

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

namespace detail {

// Copies the error PostgreSQL is handling into the current memory context and clears it;
// nullptr if the copy itself failed (CopyErrorData allocates), which must not longjmp past us.
inline ErrorData* copy_pending_error() {
  sigjmp_buf* const saved_stack = PG_exception_stack;
  ErrorContextCallback* const saved_context = error_context_stack;
  sigjmp_buf jump;
  if (sigsetjmp(jump, 0) == 0) {
    PG_exception_stack = &jump;
    ErrorData* copied = CopyErrorData();
    FlushErrorState();
    PG_exception_stack = saved_stack;
    error_context_stack = saved_context;
    return copied;
  }
  PG_exception_stack = saved_stack;
  error_context_stack = saved_context;
  return nullptr;
}

// Called by pg_call() after the longjmp, with PostgreSQL's exception stacks restored.
[[noreturn]] inline void throw_pending_error(MemoryContext cxt) {
  MemoryContextSwitchTo(cxt);
  ErrorData* copied = copy_pending_error();
  if (!copied) {
    MemoryContextSwitchTo(cxt);
    FlushErrorState();
    throw std::bad_alloc();
  }
  throw PgError{copied};
}

}  // namespace detail

// Calls one PostgreSQL function, fn(args...), and turns a PostgreSQL error into a PgError
// exception. Arguments and result are trivially copyable (pointers, Datums, numbers), so no
// C++ object lives in the guarded region; pass a pointer to anything bigger. `fn` is C code
// (PostgreSQL's, or a plain-C helper of ours) and never throws: our own SQL functions that it
// may reach through SPI report C++ exceptions as PostgreSQL errors in cpp_entry().
template <typename R, typename... Params, typename... Args>
R pg_call(R (*fn)(Params...), Args... args) {
  static_assert((std::is_trivially_copyable_v<Args> && ...),
                "pg_call arguments must be trivially copyable");
  static_assert(std::is_void_v<R> || std::is_trivially_copyable_v<R>,
                "pg_call results must be trivially copyable");
  MemoryContext const cxt = CurrentMemoryContext;
  sigjmp_buf* const saved_stack = PG_exception_stack;
  ErrorContextCallback* const saved_context = error_context_stack;
  sigjmp_buf jump;
  if (sigsetjmp(jump, 0) == 0) {
    PG_exception_stack = &jump;
    if constexpr (std::is_void_v<R>) {
      fn(args...);
      PG_exception_stack = saved_stack;
      error_context_stack = saved_context;
      return;
    } else {
      R result = fn(args...);
      PG_exception_stack = saved_stack;
      error_context_stack = saved_context;
      return result;
    }
  }
  // Reached by longjmp: nothing assigned after sigsetjmp is read here.
  PG_exception_stack = saved_stack;
  error_context_stack = saved_context;
  detail::throw_pending_error(cxt);
}

template <typename F>
Datum cpp_entry(F&& body) noexcept {
  // PostgreSQL's handlers expect these as they were on entry; a C++ exception that crossed a
  // PG_TRY anywhere below (ours never do) would have left them pointing into dead frames.
  sigjmp_buf* const entry_stack = PG_exception_stack;
  ErrorContextCallback* const entry_context = error_context_stack;
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
  PG_exception_stack = entry_stack;
  error_context_stack = entry_context;
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
