// PG-free: the Idempotency-Key header of authenticated POSTs (sql/57_idempotency.sql; README,
// Idempotency keys). The gateway asks for the key's stored answer (lookup_call) and replays it
// with Idempotent-Replayed: true; otherwise it runs the POST in one transaction with the claim
// before it and the answer recorded after it (claim_call, finish_call), so a key exists exactly
// when its effect committed. A concurrent request with the key that committed first makes the
// claim fail with key_taken: the gateway then replays that request's answer.
#pragma once

#include <optional>
#include <string>

#include "call.hpp"
#include "catalog.hpp"
#include "http.hpp"
#include "pipeline.hpp"

namespace coditect::gateway {

struct IdempotentRequest {
  std::string key;
  std::string request_sha256;  // lower-case hex, of the method, path, query and body
};

// The header's name, and the one a replayed answer carries.
inline constexpr const char* kIdempotencyKeyHeader = "Idempotency-Key";
inline constexpr const char* kReplayedHeader = "Idempotent-Replayed";

// Whether a POST to the operation takes an Idempotency-Key: one with a login (a tenant context)
// that answers JSON. Public POSTs (webhooks, guest carts, registration) have their own
// idempotency or none; uploads (tus) have their own offsets.
bool takes_idempotency_key(const Operation& op);

// The key of a request that takes one. nullopt without the header or for methods other than
// POST; 400 when the key is not 1 to 255 printable ASCII characters, or given to a POST that
// does not take one (never silently ignored).
Step<std::optional<IdempotentRequest>> idempotency_key(const Operation& op, const HttpRequest& req);

// SHA-256 (hex) of the method, path, query parameters and body, each length-prefixed so that
// no two different requests share an encoding.
std::string request_sha256(const HttpRequest& req);

DbCall lookup_call(const IdempotentRequest& k);
DbCall claim_call(const IdempotentRequest& k);
// The answer to record: status, content type, headers and body; of an answer that holds a
// secret (op.secret), the status only.
DbCall finish_call(const IdempotentRequest& k, const HttpResponse& answer, bool secret);

// True when the claim failed because a concurrent request with the key committed first.
bool key_taken(const DbOutcome& o);

// The stored answer ({status, content_type, headers, body}) as the response to send again, with
// Idempotent-Replayed: true; a 500 Failure when it cannot be read.
Step<HttpResponse> replayed(const std::string& stored);

}  // namespace coditect::gateway
