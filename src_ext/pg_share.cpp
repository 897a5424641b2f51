// Document shares and activity (sql/44_document_shares.sql): the random token, the password's
// scrypt hash, the request context's client IP and user agent (recorded with each activity),
// and the one-blob read grant a public share's download decision gives the rest of its
// transaction. The grant lives in backend memory (never in a setting, which any role could
// SET) and only the extension owner may set it: the share functions run as the owner.
#include "pg_context.hpp"
#include "pg_guard.hpp"
#include "share_secret.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/uuid.h"
}

#include <cstring>
#include <string>

namespace {

struct BlobGrant {
  bool active = false;
  pg_uuid_t tenant_id{};
  pg_uuid_t blob_id{};
  int nest_level = 0;  // subtransaction level that set it
} g_grant;

bool g_callbacks_registered = false;

void on_xact_event(XactEvent event, void*) {
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
      event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
      event == XACT_EVENT_PREPARE)
    g_grant = BlobGrant{};
}

// A grant made inside a subtransaction that is rolled back goes with it (fail closed).
void on_subxact_event(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (event == SUBXACT_EVENT_ABORT_SUB && g_grant.active &&
      g_grant.nest_level >= GetCurrentTransactionNestLevel())
    g_grant = BlobGrant{};
  else if (event == SUBXACT_EVENT_COMMIT_SUB && g_grant.active &&
           g_grant.nest_level >= GetCurrentTransactionNestLevel())
    g_grant.nest_level = GetCurrentTransactionNestLevel() - 1;
}

std::string text_of(const text* t) { return std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)); }

}  // namespace

// coditect_internal.share_token_generate(): 128 random bits, written as a UUID (the share's
// public token; only its SHA-256 is stored).
CODITECT_FUNCTION(coditect_share_token_generate) {
  auto token = coditect::share_secret::random_token();
  auto* u = static_cast<pg_uuid_t*>(coditect::pg::pg_call(palloc, sizeof(pg_uuid_t)));
  std::memcpy(u->data, token.data(), UUID_LEN);
  PG_RETURN_UUID_P(u);
}

// coditect_internal.share_password_hash(password): "$scrypt$ln=15,r=8,p=3$salt$hash".
CODITECT_FUNCTION(coditect_share_password_hash) {
  text* password = PG_GETARG_TEXT_PP(0);  // detoasted before any C++ object exists
  std::string hash = coditect::share_secret::password_hash(text_of(password));
  text* out = static_cast<text*>(
      coditect::pg::pg_call(cstring_to_text_with_len, hash.data(), static_cast<int>(hash.size())));
  PG_RETURN_TEXT_P(out);
}

// coditect_internal.share_password_verify(password, hash): true or false; a hash that is not
// one of ours is data corruption (XX001), never a match.
CODITECT_FUNCTION(coditect_share_password_verify) {
  text* password = PG_GETARG_TEXT_PP(0);  // both detoasted before any C++ object exists
  text* hash = PG_GETARG_TEXT_PP(1);
  auto verdict = coditect::share_secret::password_verify(text_of(password), text_of(hash));
  if (!verdict)
    throw coditect::pg::UserError(ERRCODE_DATA_CORRUPTED, "a share's password hash is damaged");
  PG_RETURN_BOOL(*verdict);
}

// coditect_internal.share_grant_blob(tenant, blob): for the rest of the transaction,
// coditect.storage_read may read this one blob of this tenant without a request context.
CODITECT_FUNCTION(coditect_share_grant_blob) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
    throw coditect::pg::UserError(CODITECT_SQLSTATE('4', '0', '0'), "tenant and blob are required");
  if (!IsTransactionState()) elog(ERROR, "no transaction");
  if (!g_callbacks_registered) {
    RegisterXactCallback(on_xact_event, nullptr);
    RegisterSubXactCallback(on_subxact_event, nullptr);
    g_callbacks_registered = true;
  }
  g_grant.active = true;
  g_grant.tenant_id = *PG_GETARG_UUID_P(0);
  g_grant.blob_id = *PG_GETARG_UUID_P(1);
  g_grant.nest_level = GetCurrentTransactionNestLevel();
  PG_RETURN_VOID();
}

// coditect_internal.share_granted_tenant(blob): the tenant whose blob this transaction was
// granted, or NULL.
CODITECT_FUNCTION(coditect_share_granted_tenant) {
  if (PG_ARGISNULL(0) || !g_grant.active ||
      std::memcmp(PG_GETARG_UUID_P(0)->data, g_grant.blob_id.data, UUID_LEN) != 0)
    PG_RETURN_NULL();
  auto* u = static_cast<pg_uuid_t*>(palloc(sizeof(pg_uuid_t)));
  *u = g_grant.tenant_id;
  PG_RETURN_UUID_P(u);
}

// coditect_internal.context_client_ip() and context_user_agent(): the request context's, for
// the document activity recorded in SQL (NULL without a context).
CODITECT_FUNCTION(coditect_context_client_ip) {
  const auto& ctx = coditect::pg::request_context();
  if (!ctx.active || !ctx.client_ip) PG_RETURN_NULL();
  const void* ip = DatumGetPointer(ctx.client_ip);
  void* copy = palloc(VARSIZE_ANY(ip));  // the caller's memory, not the context's
  std::memcpy(copy, ip, VARSIZE_ANY(ip));
  PG_RETURN_POINTER(copy);
}

CODITECT_FUNCTION(coditect_context_user_agent) {
  const auto& ctx = coditect::pg::request_context();
  if (!ctx.active || !ctx.user_agent) PG_RETURN_NULL();
  PG_RETURN_TEXT_P(cstring_to_text(ctx.user_agent));
}
