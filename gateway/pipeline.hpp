// PG-free: the stages of a request, each returning a value or a Failure (the problem to
// answer): match -> authenticate -> build the call -> (context, run: app.cpp) -> respond.
// No stage names a route: what a route reads and answers comes from its operation.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "call.hpp"
#include "http.hpp"
#include "jwt_auth.hpp"
#include "problem.hpp"
#include "routes.hpp"

namespace coditect::gateway {

struct Failure {
  Problem problem;
  std::vector<std::pair<std::string, std::string>> headers;  // Allow, WWW-Authenticate, ...
  std::string note;                                          // for the log
};

template <class T>
using Step = std::variant<T, Failure>;

template <class T>
bool failed(const Step<T>& s) {
  return std::holds_alternative<Failure>(s);
}

Failure fail(int status, std::string detail);

// The answer for a failure (problem+json; Retry-After on 503).
HttpResponse failure_response(const Failure& f, const std::string& path);

// Route, 404 / 405 (with Allow), NUL in the path, body size.
// max_octets_bytes: the limit for an operation whose body is raw bytes (an upload's PATCH);
// negative: max_body_bytes.
Step<RouteMatch> match_request(const RouteTable& table, const HttpRequest& req,
                               long max_body_bytes, long max_octets_bytes = -1);

// The body limit of the route a method and path reach (max_body_bytes when none does).
long body_limit(const RouteTable& table, const std::string& method, const std::string& path,
                long max_body_bytes, long max_octets_bytes);

// The verified claims for a route that needs a token (none for public routes): 401 with
// WWW-Authenticate, or 409 for registration of a subject that is a user id already.
Step<TokenClaims> authenticate(const Route& route, const HttpRequest& req,
                               const TokenVerifier& verifier);

// The function call of the route, its $n from params[].from, and the list query (for links).
struct PlannedCall {
  DbCall call;
  ListQuery list;
};
Step<PlannedCall> build_call(const Route& route, const RouteMatch& match, const HttpRequest& req,
                             const TokenClaims& claims);

// The request context call from the token, with the Firebase uid's resolution when the
// subject is not a user id (who: resolve_firebase_user's answer, null when unknown).
struct Context {
  DbCall call;
  std::string tenant;  // for the log
};
Step<Context> context_call(const TokenClaims& claims, const std::optional<nlohmann::json>& who,
                           const HttpRequest& req);

// The HTTP answer for the database's outcome.
HttpResponse respond(const Route& route, const PlannedCall& planned, const DbOutcome& outcome,
                     const std::string& public_url, const std::string& path);

// The header fields of a request head (request line, fields, blank line) in order, names
// lower-cased, values trimmed; a line without a colon is skipped.
std::vector<std::pair<std::string, std::string>> head_fields(const std::string& head);

// Printable ASCII only, at most max characters (a header is not trusted to be UTF-8).
std::string printable(const std::string& s, size_t max);

}  // namespace coditect::gateway
