// Licenses: key generation and validation, the session TTL setting, and Ed25519 license
// tokens signed with the private key named by a superuser-only setting.
#include "license_key.hpp"
#include "license_token.hpp"
#include "pg_license.hpp"
#include "pg_guard.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace {

char* g_signing_key_file = nullptr;
char* g_signing_key_id = nullptr;
int g_session_ttl_seconds = 360;

// The signer for g_signing_key_file, reloaded when the setting changes.
std::optional<coditect::license_token::Signer> g_signer;
std::string g_signer_file;

const coditect::license_token::Signer& signer() {
  if (!g_signing_key_file || !*g_signing_key_file) {
    throw coditect::pg::UserError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                                  "no license signing key: set coditect.license_signing_key_file");
  }
  if (!g_signer || g_signer_file != g_signing_key_file) {
    std::ifstream in(g_signing_key_file);
    if (!in) {
      throw coditect::pg::UserError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                                    "cannot read the license signing key file");
    }
    std::stringstream pem;
    pem << in.rdbuf();
    g_signer = coditect::license_token::Signer::from_pem(pem.str());
    g_signer_file = g_signing_key_file;
  }
  return *g_signer;
}

std::string key_id() {
  if (!g_signing_key_id || !*g_signing_key_id) {
    throw coditect::pg::UserError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                                  "no license signing key id: set coditect.license_signing_key_id");
  }
  return g_signing_key_id;
}

std::int64_t unix_seconds(TimestampTz ts) {
  return ts / USECS_PER_SEC + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

// The helpers below run while C++ objects are alive, so their PostgreSQL calls are guarded.
std::string text_arg(FunctionCallInfo fcinfo, int n) {
  auto* t = coditect::pg::pg_call(pg_detoast_datum_packed,
                                  reinterpret_cast<struct varlena*>(PG_GETARG_POINTER(n)));
  return std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

Datum text_result(const std::string& s) {
  return PointerGetDatum(
      coditect::pg::pg_call(cstring_to_text_with_len, s.data(), static_cast<int>(s.size())));
}

Datum jsonb_result(const std::string& json) {
  return coditect::pg::pg_call(DirectFunctionCall1Coll, jsonb_in, InvalidOid,
                               CStringGetDatum(json.c_str()));
}

}  // namespace

namespace coditect::pg {
std::string sign_license_token(coditect::license_token::Claims& claims) {
  claims.key_id = key_id();
  return coditect::license_token::make_token(claims, signer());
}

int license_session_ttl_seconds() { return g_session_ttl_seconds; }

void define_license_settings() {
  DefineCustomStringVariable("coditect.license_signing_key_file",
                             "PEM file with the Ed25519 private key that signs license tokens.",
                             nullptr, &g_signing_key_file, "", PGC_SUSET, GUC_SUPERUSER_ONLY,
                             nullptr, nullptr, nullptr);
  DefineCustomStringVariable("coditect.license_signing_key_id",
                             "Key id written into license tokens (kid).", nullptr,
                             &g_signing_key_id, "", PGC_SUSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("coditect.license_session_ttl",
                          "A license session without a heartbeat for this long becomes a zombie.",
                          nullptr, &g_session_ttl_seconds, 360, 10, 86400, PGC_SUSET, GUC_UNIT_S,
                          nullptr, nullptr, nullptr);
}
}  // namespace coditect::pg

// coditect.license_key_generate(): a new random key, used as the column default.
CODITECT_FUNCTION(coditect_license_key_generate) {
  std::uint8_t random[coditect::license_key::kRandomSymbols];
  if (!pg_strong_random(random, sizeof random)) {
    throw coditect::pg::UserError(ERRCODE_INTERNAL_ERROR, "could not generate random bytes");
  }
  return text_result(coditect::license_key::generate(random));
}

// coditect.license_key_normalize(text): the canonical key, or CD400 saying what is wrong.
CODITECT_FUNCTION(coditect_license_key_normalize) {
  auto parsed = coditect::license_key::parse(text_arg(fcinfo, 0));
  switch (parsed.status) {
    case coditect::license_key::Status::Valid:
      return text_result(parsed.canonical);
    case coditect::license_key::Status::BadCheck:
      throw coditect::pg::UserError(CODITECT_SQLSTATE('4', '0', '0'),
                                    "license key check failed: the key is mistyped");
    case coditect::license_key::Status::Malformed:
      break;
  }
  throw coditect::pg::UserError(CODITECT_SQLSTATE('4', '0', '0'),
                                "not a license key: expected CODITECT-XXXX-XXXX-XXXX");
}

// coditect.license_key_is_valid(text): for the CHECK constraint (canonical form only).
CODITECT_FUNCTION(coditect_license_key_is_valid) {
  std::string key = text_arg(fcinfo, 0);
  auto parsed = coditect::license_key::parse(key);
  PG_RETURN_BOOL(parsed.status == coditect::license_key::Status::Valid && parsed.canonical == key);
}

CODITECT_FUNCTION(coditect_license_session_ttl) {
  auto* result = static_cast<Interval*>(palloc0(sizeof(Interval)));
  result->time = static_cast<TimeOffset>(g_session_ttl_seconds) * USECS_PER_SEC;
  PG_RETURN_INTERVAL_P(result);
}

// coditect_internal.license_token_sign(license, tenant, tier, features jsonb, session,
//   hardware_id, issued_at, expires_at): the signed token.
CODITECT_FUNCTION(coditect_license_token_sign) {
  // PostgreSQL calls first, while no C++ object exists: their errors need no guard.
  for (int i = 0; i < 8; ++i) {
    if (PG_ARGISNULL(i)) elog(ERROR, "license_token_sign: argument %d is null", i + 1);
  }
  const char* license = DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0)));
  const char* tenant = DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(1)));
  const char* session = DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(4)));
  const char* features = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(3)));
  coditect::license_token::Claims c;
  c.license_id = license;
  c.tenant_id = tenant;
  c.tier = text_arg(fcinfo, 2);
  c.session_id = session;
  c.hardware_id = text_arg(fcinfo, 5);
  c.issued_at = unix_seconds(PG_GETARG_TIMESTAMPTZ(6));
  c.expires_at = unix_seconds(PG_GETARG_TIMESTAMPTZ(7));
  c.key_id = key_id();
  c.features = coditect::license_token::parse_features(features);
  return text_result(coditect::license_token::make_token(c, signer()));
}

// coditect_internal.license_signing_public_key(): the configured key's public half as
// (public_key base64url, public_key_pem); used to publish it.
CODITECT_FUNCTION(coditect_license_signing_public_key) {
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) {
    elog(ERROR, "license_signing_public_key must return a record");
  }
  desc = BlessTupleDesc(desc);  // before any C++ object exists
  const auto& s = signer();
  std::string raw = coditect::license_token::base64url_encode(s.public_key());
  std::string pem = s.public_key_pem();
  std::string kid = key_id();
  Datum values[3];
  bool nulls[3] = {false, false, false};
  values[0] = text_result(kid);
  values[1] = text_result(raw);
  values[2] = text_result(pem);
  HeapTuple tuple = coditect::pg::pg_call(heap_form_tuple, desc, values, nulls);
  return coditect::pg::pg_call(HeapTupleHeaderGetDatum, tuple->t_data);
}

// coditect_internal.license_token_check(token, public_key base64url, now): verdict and claims.
CODITECT_FUNCTION(coditect_license_token_check) {
  std::string token = text_arg(fcinfo, 0);
  auto key = coditect::license_token::base64url_decode(text_arg(fcinfo, 1));
  std::int64_t now = unix_seconds(PG_GETARG_TIMESTAMPTZ(2));
  auto v = coditect::license_token::verify(token, key.value_or(std::string{}), now);
  std::string json = std::string("{\"valid\":") +
                     (v.verdict == coditect::license_token::Verdict::Valid ? "true" : "false") +
                     ",\"verdict\":\"" + coditect::license_token::verdict_name(v.verdict) + "\"";
  if (v.verdict != coditect::license_token::Verdict::Malformed) {
    json += ",\"claims\":" + coditect::license_token::encode_payload(v.claims);
  }
  json += "}";
  return jsonb_result(json);
}

// coditect.license_token_key_id(token): the kid a token names, NULL when malformed.
CODITECT_FUNCTION(coditect_license_token_key_id) {
  auto kid = coditect::license_token::key_id_of(text_arg(fcinfo, 0));
  if (!kid) PG_RETURN_NULL();
  return text_result(*kid);
}
