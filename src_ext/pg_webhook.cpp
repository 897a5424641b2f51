// The webhook signatures of webhook_signature.cpp for SQL: a fresh secret, and the check of a
// signed request's header against its body. Both are owner-only (sql/54_workflows.sql): a
// verdict on a secret is only asked by the code that holds it.
#include "pg_guard.hpp"
#include "webhook_signature.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include <cstring>
#include <string>

namespace {

bytea* to_bytea(const std::uint8_t* data, std::size_t n) {
  auto* b = static_cast<bytea*>(coditect::pg::pg_call(palloc, VARHDRSZ + n));
  SET_VARSIZE(b, VARHDRSZ + n);
  std::memcpy(VARDATA(b), data, n);
  return b;
}

std::string_view view_of(const struct varlena* v) {
  return std::string_view(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
}

}  // namespace

// coditect_internal.webhook_secret_generate(): 32 random bytes.
CODITECT_FUNCTION(coditect_webhook_secret_generate) {
  auto secret = coditect::webhook::random_secret();
  PG_RETURN_BYTEA_P(to_bytea(secret.data(), secret.size()));
}

// coditect_internal.webhook_verify(secret bytea, header text, body bytea, tolerance_seconds int):
// 'valid', 'malformed', 'mismatch' or 'expired' (webhook::verify), against the transaction's
// clock (now()), so that a test can move it.
CODITECT_FUNCTION(coditect_webhook_verify) {
  // Detoasting may raise: do it before any C++ object exists.
  struct varlena* secret = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
  struct varlena* header = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(1));
  struct varlena* body = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(2));
  int32 tolerance = PG_GETARG_INT32(3);
  std::int64_t now =
      static_cast<std::int64_t>(timestamptz_to_time_t(GetCurrentTransactionStartTimestamp()));
  auto verdict =
      coditect::webhook::verify(view_of(secret), view_of(header), view_of(body), now, tolerance);
  PG_RETURN_TEXT_P(
      coditect::pg::pg_call(cstring_to_text, coditect::webhook::verdict_name(verdict)));
}
