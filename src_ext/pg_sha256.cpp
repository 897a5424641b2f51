// coditect_internal.sha256_resume(state, data) and sha256_digest(state): the whole-file hash
// of an upload, carried from one appended piece to the next as a 112-byte state (see
// sha256_state.hpp), so that completing a 1 GB upload re-reads nothing.
#include "pg_guard.hpp"
#include "sha256_state.hpp"

namespace {

coditect::Sha256State state_arg(FunctionCallInfo fcinfo, int n) {
  if (PG_ARGISNULL(n)) return coditect::Sha256State();
  bytea* b = PG_GETARG_BYTEA_PP(n);
  auto s = coditect::Sha256State::restore(reinterpret_cast<const std::uint8_t*>(VARDATA_ANY(b)),
                                          VARSIZE_ANY_EXHDR(b));
  if (!s) throw coditect::pg::UserError(ERRCODE_DATA_CORRUPTED, "damaged upload hash state");
  return *s;
}

Datum bytea_result(const std::uint8_t* data, size_t size) {
  auto* out = static_cast<bytea*>(coditect::pg::pg_call(palloc, VARHDRSZ + size));
  SET_VARSIZE(out, VARHDRSZ + size);
  memcpy(VARDATA(out), data, size);
  PG_RETURN_BYTEA_P(out);
}

}  // namespace

// The state after hashing data on top of state (NULL state: nothing hashed yet).
CODITECT_FUNCTION(coditect_sha256_resume) {
  // Detoasted before any C++ object exists (no guard needed); data may be megabytes.
  bytea* data = PG_ARGISNULL(1) ? nullptr : PG_GETARG_BYTEA_PP(1);
  coditect::Sha256State s = state_arg(fcinfo, 0);
  if (data)
    s.update(reinterpret_cast<const std::uint8_t*>(VARDATA_ANY(data)), VARSIZE_ANY_EXHDR(data));
  std::vector<std::uint8_t> out = s.serialize();
  return bytea_result(out.data(), out.size());
}

// The SHA-256 digest (32 bytes) of everything hashed into state.
CODITECT_FUNCTION(coditect_sha256_digest) {
  auto d = state_arg(fcinfo, 0).digest();
  return bytea_result(d.data(), d.size());
}
