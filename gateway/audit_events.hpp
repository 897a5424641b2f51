// PG-free: the gateway's part of the audit events (sql/11_audit_events.sql). A login is the
// first request of a token: the gateway remembers the tokens it has seen (SeenTokens, by their
// SHA-256, never the token) and records an unseen one's login once (login_call). A refused
// (403) or failed (5xx) request's transaction rolls back, so its answer is recorded afterwards
// in a short transaction of its own (outcome_call), after the same request context.
#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "call.hpp"
#include "http.hpp"
#include "jwt_auth.hpp"

namespace coditect::gateway {

// SHA-256 of a bearer token, lower-case hex.
std::string token_sha256(std::string_view token);

// A bounded set of token hashes, least recently used dropped first; safe across threads. A
// dropped token is only asked about again (the database records its login once anyway).
class SeenTokens {
 public:
  explicit SeenTokens(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}
  // Whether the hash is in the set (and marks it as recently used).
  bool seen(const std::string& hash);
  void remember(const std::string& hash);
  std::size_t size() const;

 private:
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::list<std::string> order_;  // most recent first
  std::unordered_map<std::string, std::list<std::string>::iterator> index_;
};

// coditect.record_login for the token the claims came from (its hash, iat and exp); nullopt
// when the claims carry no hash (no bearer token).
std::optional<DbCall> login_call(const TokenClaims& claims);

// coditect.audit_request_outcome for an answer that is recorded: 403, and 5xx but 503 (the
// database unavailable: it could not record it either). The problem's code goes with it.
std::optional<DbCall> outcome_call(const HttpResponse& response);

}  // namespace coditect::gateway
