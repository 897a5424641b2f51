// PG-free: the one mapping from SQLSTATE to HTTP status, and RFC 9457 problem documents.
#pragma once

#include <string>
#include <string_view>

namespace coditect::gateway {

// What the gateway does with a database error.
struct ErrorMapping {
  int status;  // HTTP status to answer (for retryable errors: the status once retries run out)
  bool retry;  // serialization failure or deadlock: run the whole transaction again
};

// CDnnn -> nnn; standard SQLSTATEs by the table in README.md ("Gateway", "Errors").
ErrorMapping map_sqlstate(std::string_view sqlstate);

// The server ended the session on its own: shutdown or restart (57P01, also
// pg_terminate_backend), crash of another backend (57P02), not yet accepting (57P03),
// idle_session_timeout (57P05).
bool session_ended_by_server(std::string_view sqlstate);

// "Not Found" for 404 and so on; "Error" for unknown codes.
std::string reason_phrase(int status);

// Fixed text, safe to show, for a standard SQLSTATE (never PostgreSQL's message or DETAIL).
std::string safe_detail(std::string_view sqlstate, int status);

struct Problem {
  int status = 500;
  std::string code;        // SQLSTATE, or the gateway's own CDnnn
  std::string detail;      // shown to the client
  std::string hint;        // optional, CD* errors only
  std::string constraint;  // optional: the constraint a 23xxx error names
  std::string column;      // optional: the column a 23502 error names
};

// A problem for a database error: the primary message for our CD* codes (written to be shown),
// the fixed safe text for any other code.
Problem problem_from_db_error(std::string_view sqlstate, std::string_view message,
                              std::string_view hint, std::string_view constraint = {},
                              std::string_view column = {});

// A problem raised by the gateway itself: code CD<status>.
Problem gateway_problem(int status, std::string detail);

// application/problem+json body: type, title, status, detail, code (+ hint, constraint,
// column, instance when set).
std::string problem_json(const Problem& p, std::string_view instance = {});

// Every response header value goes through this: control characters (CR, LF, NUL, ...,
// DEL) are removed, so text taken from a request (a token's alg, a request id) can never end
// the header or add another.
std::string header_value(std::string_view s);

}  // namespace coditect::gateway
