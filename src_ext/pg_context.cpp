// Request context, analyst binding lookup and the hard-delete (maintenance) switch.
#include "pg_context.hpp"

#include "pg_context_cache.hpp"
#include "pg_guard.hpp"
#include "request_context_rules.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
}

namespace coditect::pg {

namespace {

RequestContext g_context;

// Analyst binding of session_user, fixed for the transaction at its first use (and looked up
// again should SET SESSION AUTHORIZATION change the session user).
struct BindingCache {
  bool looked_up = false;
  Oid session_user = InvalidOid;
  bool bound = false;
  pg_uuid_t tenant_id{};
} g_binding;

bool g_hard_delete_allowed = false;
int g_hard_delete_level = 0;  // subtransaction level that allowed it

void clear_context() { g_context = RequestContext{}; }

void on_xact_event(XactEvent event, void*) {
  switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
      clear_context();
      g_binding = BindingCache{};
      g_hard_delete_allowed = false;
      break;
    default:
      break;
  }
}

// State set inside a subtransaction survives its commit but not its rollback (fail closed).
void on_subxact_event(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB) return;
  const int level = GetCurrentTransactionNestLevel();
  const bool commit = event == SUBXACT_EVENT_COMMIT_SUB;
  if (g_context.active && g_context.nest_level >= level) {
    if (commit) {
      g_context.nest_level = level - 1;
    } else {
      clear_context();
    }
  }
  if (g_hard_delete_allowed && g_hard_delete_level >= level) {
    if (commit) {
      g_hard_delete_level = level - 1;
    } else {
      g_hard_delete_allowed = false;
    }
  }
}

// Argument `arg` (text) copied for the transaction, cut to its first max_chars characters
// (as SQL's left() does) when max_chars > 0; nullptr when NULL or not passed.
char* copy_text_arg(FunctionCallInfo fcinfo, int arg, int max_chars = 0) {
  if (PG_NARGS() <= arg || PG_ARGISNULL(arg)) return nullptr;
  text* t = PG_GETARG_TEXT_PP(arg);
  const char* s = VARDATA_ANY(t);
  int len = VARSIZE_ANY_EXHDR(t);
  if (max_chars > 0) len = pg_mbcharcliplen(s, len, max_chars);
  auto* copy = static_cast<char*>(MemoryContextAlloc(TopTransactionContext, len + 1));
  memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

// Makes arguments 0-7 of a context setter (tenant, user, role, ip, user agent, method, path,
// request id; validated by the caller) the transaction's request context.
void store_context(FunctionCallInfo fcinfo, int user_agent_chars, int path_chars) {
  RequestContext ctx;
  ctx.active = true;
  ctx.tenant_id = *PG_GETARG_UUID_P(0);
  ctx.user_id = *PG_GETARG_UUID_P(1);
  text* role = PG_GETARG_TEXT_PP(2);
  const size_t role_len = Min(sizeof ctx.user_role - 1, VARSIZE_ANY_EXHDR(role));
  memcpy(ctx.user_role, VARDATA_ANY(role), role_len);
  ctx.user_role[role_len] = '\0';
  if (!PG_ARGISNULL(3)) {
    inet* ip = PG_GETARG_INET_PP(3);
    void* copy = MemoryContextAlloc(TopTransactionContext, VARSIZE_ANY(ip));
    memcpy(copy, ip, VARSIZE_ANY(ip));
    ctx.client_ip = PointerGetDatum(copy);
  }
  ctx.user_agent = copy_text_arg(fcinfo, 4, user_agent_chars);
  ctx.request_method = copy_text_arg(fcinfo, 5);
  ctx.request_path = copy_text_arg(fcinfo, 6, path_chars);
  // An install script older than the library passes no request id.
  ctx.request_id = copy_text_arg(fcinfo, 7);
  ctx.nest_level = GetCurrentTransactionNestLevel();
  g_context = ctx;
}

}  // namespace

const RequestContext& request_context() { return g_context; }

Oid internal_relid(const char* schema, const char* name) {
  Oid relid = get_relname_relid(name, get_namespace_oid(schema, false));
  if (!OidIsValid(relid)) elog(ERROR, "relation %s.%s is missing", schema, name);
  return relid;
}

Oid relation_owner(Oid relid) {
  HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
  if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for relation %u", relid);
  Oid owner = ((Form_pg_class)GETSTRUCT(tup))->relowner;
  ReleaseSysCache(tup);
  return owner;
}

namespace {

// Runs fn(arg) in an SPI connection under a search_path of pg_catalog alone, as `user` when
// valid (security-restricted), else as the current user.
void spi_run(Oid user, void (*fn)(void*), void* arg) {
  Oid save_user;
  int save_sec;
  GetUserIdAndSecContext(&save_user, &save_sec);
  if (OidIsValid(user)) {
    SetUserIdAndSecContext(user,
                           save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
  }
  OverrideSearchPath path{};
  path.schemas = NIL;
  path.addCatalog = true;
  path.addTemp = false;
  PushOverrideSearchPath(&path);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  fn(arg);
  SPI_finish();
  PopOverrideSearchPath();
  SetUserIdAndSecContext(save_user, save_sec);
}

}  // namespace

void spi_pinned(void (*fn)(void*), void* arg) { spi_run(InvalidOid, fn, arg); }

SPIPlanPtr kept_plan(SPIPlanPtr* slot, const char* sql, int nargs, Oid* argtypes) {
  if (!*slot) {
    SPIPlanPtr plan = SPI_prepare(sql, nargs, argtypes);
    if (!plan) elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
    SPI_keepplan(plan);
    *slot = plan;
  }
  return *slot;
}

void spi_as_owner_of(const char* schema, const char* name, void (*fn)(void*), void* arg) {
  spi_run(relation_owner(internal_relid(schema, name)), fn, arg);
}

namespace {

// Tenant bound to session_user by coditect.bind_analyst(), or false.
bool lookup_binding(pg_uuid_t* out) {
  if (!g_binding.looked_up || g_binding.session_user != GetSessionUserId()) {
    BindingCache cache;
    cache.looked_up = true;
    cache.session_user = GetSessionUserId();
    cache.bound = analyst_binding(cache.session_user, &cache.tenant_id);
    g_binding = cache;
  }
  if (g_binding.bound) *out = g_binding.tenant_id;
  return g_binding.bound;
}

Datum return_uuid(FunctionCallInfo fcinfo, const pg_uuid_t& u) {
  auto* result = static_cast<pg_uuid_t*>(palloc(sizeof(pg_uuid_t)));
  *result = u;
  PG_RETURN_UUID_P(result);
}

}  // namespace

void register_context_callbacks() {
  RegisterXactCallback(on_xact_event, nullptr);
  RegisterSubXactCallback(on_subxact_event, nullptr);
  register_context_cache_callback();
}

}  // namespace coditect::pg

using coditect::pg::g_context;

// coditect_internal.context_set(tenant, user, role, ip, user_agent, method, path, request id):
// what the install scripts before 0.3.0 call from their PL/pgSQL set_request_context(), which
// validated the arguments; not executable by anyone else.
CODITECT_FUNCTION(coditect_context_set) {
  using namespace coditect::pg;
  if (!IsTransactionState()) elog(ERROR, "no transaction");
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2)) {
    throw UserError(CODITECT_SQLSTATE('4', '0', '0'), "tenant, user and role are required");
  }
  store_context(fcinfo, 0, 0);
  PG_RETURN_VOID();
}

// coditect.set_request_context(tenant, user, role, ip, user agent, method, path, request id):
// sets who is calling for the rest of the transaction. The user must be an active member of an
// active tenant; the role may lower the membership's role, never raise it; a bound analyst
// login gets no context. The checks read as the tables' owner (what SECURITY DEFINER gave
// the PL/pgSQL version), and their answers are cached per backend until a write to the
// tables they read commits (pg_context_cache.hpp).
CODITECT_FUNCTION(coditect_set_request_context) {
  using namespace coditect::pg;
  using coditect::context::role_name;
  using coditect::context::role_rank;
  if (!IsTransactionState()) elog(ERROR, "no transaction");
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2)) {
    throw UserError(CODITECT_SQLSTATE('4', '0', '0'), "tenant, user and role are required");
  }
  const pg_uuid_t* tenant = PG_GETARG_UUID_P(0);
  const pg_uuid_t* user = PG_GETARG_UUID_P(1);
  text* role = PG_GETARG_TEXT_PP(2);
  const int wanted = role_rank({VARDATA_ANY(role), VARSIZE_ANY_EXHDR(role)});
  if (wanted == 0) {
    ereport(ERROR, (errcode(CODITECT_SQLSTATE('4', '0', '0')),
                    errmsg("unknown role \"%s\": expected owner, admin, member or guest",
                           text_to_cstring(role))));
  }
  if (!PG_ARGISNULL(5)) {
    text* method = PG_GETARG_TEXT_PP(5);
    if (!coditect::context::valid_request_method(
            {VARDATA_ANY(method), VARSIZE_ANY_EXHDR(method)})) {
      throw UserError(CODITECT_SQLSTATE('4', '0', '0'),
                      "request method must be 1 to 10 upper-case letters");
    }
  }
  if (!PG_ARGISNULL(7)) {
    text* id = PG_GETARG_TEXT_PP(7);
    if (!coditect::context::valid_request_id({VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id)})) {
      throw UserError(CODITECT_SQLSTATE('4', '0', '0'),
                      "request id must be 1 to 128 letters, digits or . _ : -");
    }
  }

  context_cache_catch_up();
  pg_uuid_t bound;
  if (analyst_binding(GetSessionUserId(), &bound)) {
    throw UserError(CODITECT_SQLSTATE('4', '0', '3'),
                    "an analyst login cannot set a request context");
  }
  const int member = active_membership_rank(*tenant, *user);
  if (member == 0) {
    throw UserError(CODITECT_SQLSTATE('4', '0', '3'),
                    "user is not an active member of this tenant");
  }
  if (wanted > member) {
    ereport(ERROR, (errcode(CODITECT_SQLSTATE('4', '0', '3')),
                    errmsg("role \"%s\" exceeds the membership role \"%s\"", role_name(wanted),
                           role_name(member))));
  }
  store_context(fcinfo, 500, 1000);
  PG_RETURN_VOID();
}

// coditect.current_tenant_id(): the request context's tenant, else the tenant bound to
// session_user (an analyst login), else NULL, which matches no row.
CODITECT_FUNCTION(coditect_current_tenant_id) {
  using namespace coditect::pg;
  if (g_context.active) return return_uuid(fcinfo, g_context.tenant_id);
  pg_uuid_t bound;
  if (lookup_binding(&bound)) return return_uuid(fcinfo, bound);
  PG_RETURN_NULL();
}

CODITECT_FUNCTION(coditect_current_user_id) {
  if (!g_context.active) PG_RETURN_NULL();
  return coditect::pg::return_uuid(fcinfo, g_context.user_id);
}

CODITECT_FUNCTION(coditect_current_user_role) {
  if (!g_context.active) PG_RETURN_NULL();
  PG_RETURN_TEXT_P(cstring_to_text(g_context.user_role));
}

// coditect_internal.allow_hard_delete(bool): maintenance functions switch soft-delete tables
// to real deletes for the rest of the transaction.
CODITECT_FUNCTION(coditect_allow_hard_delete) {
  coditect::pg::g_hard_delete_allowed = PG_GETARG_BOOL(0);
  coditect::pg::g_hard_delete_level = GetCurrentTransactionNestLevel();
  PG_RETURN_VOID();
}

CODITECT_FUNCTION(coditect_hard_delete_allowed) {
  PG_RETURN_BOOL(coditect::pg::g_hard_delete_allowed);
}
