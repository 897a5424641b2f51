// Request context, analyst binding lookup and the hard-delete (maintenance) switch.
#include "pg_context.hpp"

#include "pg_context_cache.hpp"
#include "pg_guard.hpp"
#include "request_codec.hpp"
#include "request_context_rules.hpp"

extern "C" {
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
}

#include <cstring>
#include <new>
#include <string>

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
int g_hard_delete_level = 0;         // subtransaction level that allowed it
bool g_hard_delete_setting = false;  // coditect.hard_delete (set on Citus workers)
// Whether the library was loaded at backend start (shared_ or session_preload_libraries), so
// that no client SET of coditect.hard_delete ever went unchecked as a placeholder.
bool g_preloaded = false;

// coditect.request, and a count of its assignments (SET, SET LOCAL, their end or rollback).
char* g_request_setting = nullptr;
uint64 g_setting_version = 1;
bool g_filling = false;  // reading coditect.request's checks: no context meanwhile
// The setting version found to name a tenant whose shards are on another Citus node: no
// context here, and no new look until the setting changes.
uint64 g_remote_version = 0;

// citus_present() for the transaction: -1 unknown.
int g_citus = -1;
// Whether this is the coordinator of a cluster where coditect.tenants is distributed (for the
// transaction; -1 unknown): the membership is then checked on the tenant's node, where the rows
// are (verify_on_tenant_node).
int g_distributed_coordinator = -1;

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
      g_filling = false;
      g_citus = -1;
      g_distributed_coordinator = -1;
      g_remote_version = 0;
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
  if (!commit) {
    g_filling = false;  // a check that failed inside it
    g_remote_version = 0;
  }
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

// A context setter's arguments, from set_request_context's call or from coditect.request.
// Strings are not NUL-terminated; a null pointer is an absent (SQL NULL) value.
struct RequestArgs {
  pg_uuid_t tenant{};
  pg_uuid_t user{};
  const char* role = nullptr;
  int role_len = 0;
  Datum client_ip = 0;  // inet
  const char* user_agent = nullptr;
  int user_agent_len = 0;
  const char* method = nullptr;
  int method_len = 0;
  const char* path = nullptr;
  int path_len = 0;
  const char* request_id = nullptr;
  int request_id_len = 0;
};

// Fields 0-7 of a context setter's call (tenant, user, role, ip, user agent, method, path,
// request id); the caller has checked that the first three are not NULL.
RequestArgs args_of_call(FunctionCallInfo fcinfo) {
  RequestArgs a;
  a.tenant = *PG_GETARG_UUID_P(0);
  a.user = *PG_GETARG_UUID_P(1);
  text* role = PG_GETARG_TEXT_PP(2);
  a.role = VARDATA_ANY(role);
  a.role_len = VARSIZE_ANY_EXHDR(role);
  if (PG_NARGS() > 3 && !PG_ARGISNULL(3)) a.client_ip = PointerGetDatum(PG_GETARG_INET_PP(3));
  const char** strings[] = {&a.user_agent, &a.method, &a.path, &a.request_id};
  int* lengths[] = {&a.user_agent_len, &a.method_len, &a.path_len, &a.request_id_len};
  // An install script older than the library passes no request id.
  for (int i = 0; i < 4; ++i) {
    if (PG_NARGS() <= 4 + i || PG_ARGISNULL(4 + i)) continue;
    text* t = PG_GETARG_TEXT_PP(4 + i);
    *strings[i] = VARDATA_ANY(t);
    *lengths[i] = VARSIZE_ANY_EXHDR(t);
  }
  return a;
}

// `s` copied for the transaction, cut to its first max_chars characters (as SQL's left() does)
// when max_chars > 0; nullptr when absent.
char* copy_for_transaction(const char* s, int len, int max_chars) {
  if (!s) return nullptr;
  if (max_chars > 0) len = pg_mbcharcliplen(s, len, max_chars);
  auto* copy = static_cast<char*>(MemoryContextAlloc(TopTransactionContext, len + 1));
  memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

// `a` (validated by the caller) as a request context of this transaction.
RequestContext build_context(const RequestArgs& a, int user_agent_chars, int path_chars) {
  RequestContext ctx;
  ctx.active = true;
  ctx.tenant_id = a.tenant;
  ctx.user_id = a.user;
  const int role_len = Min(static_cast<int>(sizeof ctx.user_role) - 1, a.role_len);
  memcpy(ctx.user_role, a.role, role_len);
  ctx.user_role[role_len] = '\0';
  if (a.client_ip) {
    const void* ip = DatumGetPointer(a.client_ip);
    void* copy = MemoryContextAlloc(TopTransactionContext, VARSIZE_ANY(ip));
    memcpy(copy, ip, VARSIZE_ANY(ip));
    ctx.client_ip = PointerGetDatum(copy);
  }
  ctx.user_agent = copy_for_transaction(a.user_agent, a.user_agent_len, user_agent_chars);
  ctx.request_method = copy_for_transaction(a.method, a.method_len, 0);
  ctx.request_path = copy_for_transaction(a.path, a.path_len, path_chars);
  ctx.request_id = copy_for_transaction(a.request_id, a.request_id_len, 0);
  ctx.nest_level = GetCurrentTransactionNestLevel();
  return ctx;
}

// Makes `a` (validated by the caller) the transaction's request context.
void store_context(const RequestArgs& a, int user_agent_chars, int path_chars) {
  g_context = build_context(a, user_agent_chars, path_chars);
}

}  // namespace

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

bool citus_present() {
  if (g_citus < 0) {
    // The setting first: without Citus loaded (one node) no catalog is read.
    g_citus = GetConfigOption("citus.propagate_set_commands", true, false) != nullptr &&
              OidIsValid(get_extension_oid("citus", true));
  }
  return g_citus == 1;
}

namespace {

constexpr const char* kNestedSetting = "citus.allow_nested_distributed_execution";

// Runs fn(arg) in an SPI connection under a search_path of pg_catalog alone, as `user` when
// valid (security-restricted), else as the current user; with `nested`, Citus may run a
// distributed query inside the shard query that called us (for this block only).
void spi_run(Oid user, void (*fn)(void*), void* arg, bool nested = false) {
  Oid save_user;
  int save_sec;
  GetUserIdAndSecContext(&save_user, &save_sec);
  const int guc_level = nested ? nested_execution_begin() : 0;
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
  nested_execution_end(guc_level);
}

}  // namespace

int nested_execution_begin() {
  if (!GetConfigOption(kNestedSetting, true, false)) return 0;
  // As a function's SET clause does: undone by nested_execution_end, or by the abort.
  const int level = NewGUCNestLevel();
  (void)set_config_option(kNestedSetting, "on", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
                          0, false);
  return level;
}

void nested_execution_end(int level) {
  if (level) AtEOXact_GUC(true, level);
}

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

void spi_as_owner_of_nested(const char* schema, const char* name, void (*fn)(void*), void* arg) {
  spi_run(relation_owner(internal_relid(schema, name)), fn, arg, true);
}

namespace {

[[noreturn]] void refuse(int sqlstate, const char* message) {
  ereport(ERROR, (errcode(sqlstate), errmsg("%s", message)));
  pg_unreachable();
}

const int kCD400 = CODITECT_SQLSTATE('4', '0', '0');
const int kCD403 = CODITECT_SQLSTATE('4', '0', '3');

// set_request_context's checks, the one copy for both ways in (a call, or coditect.request):
// the arguments' shapes, then as the tables' owner (cached per backend, pg_context_cache.hpp):
// no bound analyst login, an active membership of an active user in an active tenant, a role
// at most the membership's. Raises set_request_context's errors.
void check_request(const RequestArgs& a, bool membership_here = true) {
  using coditect::context::role_name;
  using coditect::context::role_rank;
  const int wanted = role_rank({a.role, static_cast<size_t>(a.role_len)});
  if (wanted == 0) {
    ereport(ERROR,
            (errcode(kCD400), errmsg("unknown role \"%s\": expected owner, admin, member or guest",
                                     pnstrdup(a.role, a.role_len))));
  }
  if (a.method &&
      !coditect::context::valid_request_method({a.method, static_cast<size_t>(a.method_len)})) {
    refuse(kCD400, "request method must be 1 to 10 upper-case letters");
  }
  if (a.request_id &&
      !coditect::context::valid_request_id({a.request_id, static_cast<size_t>(a.request_id_len)})) {
    refuse(kCD400, "request id must be 1 to 128 letters, digits or . _ : -");
  }
  context_cache_catch_up();
  pg_uuid_t bound;
  if (analyst_binding(GetSessionUserId(), &bound)) {
    refuse(kCD403, "an analyst login cannot set a request context");
  }
  if (!membership_here) return;  // read where the tenant's rows are (verify_on_tenant_node)
  const int member = active_membership_rank(a.tenant, a.user);
  if (member == 0) refuse(kCD403, "user is not an active member of this tenant");
  if (wanted > member) {
    ereport(ERROR, (errcode(kCD403), errmsg("role \"%s\" exceeds the membership role \"%s\"",
                                            role_name(wanted), role_name(member))));
  }
}

// What set_request_context's own call would be refused for first: the EXECUTE privilege of
// the role in effect outside any SECURITY DEFINER function (the login, or what it SET ROLE
// to), so that a definer function reading the context lends the setting no privilege.
void check_may_set_context() {
  Oid types[8] = {UUIDOID, UUIDOID, TEXTOID, INETOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
  List* name =
      list_make2(makeString(pstrdup("coditect")), makeString(pstrdup("set_request_context")));
  const Oid fn = LookupFuncName(name, 8, types, false);
  if (pg_proc_aclcheck(fn, GetOuterUserId(), ACL_EXECUTE) != ACLCHECK_OK) {
    aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, "set_request_context");
  }
}

// Whether `tenant`'s rows are on this node: always on one node, on a Citus coordinator (its
// reads are distributed queries of its own) and where coditect.tenants is not distributed; on
// a Citus worker, whether it holds the tenant's shard (colocated with its users and
// memberships). A worker runs the checks only there: reading another node's shard from inside
// a shard query would open a connection of its own within the coordinator's 2PC transaction,
// which Citus 13.2 cannot commit (segfault at COMMIT PREPARED, seen on the scratch cluster).
struct LocalRead {
  pg_uuid_t tenant;
  bool local;
};
SPIPlanPtr g_local_plan = nullptr;

void read_tenant_local(void* arg) {
  auto* read = static_cast<LocalRead*>(arg);
  Oid types[1] = {UUIDOID};
  SPIPlanPtr plan = kept_plan(
      &g_local_plan,
      "SELECT CASE"
      " WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition d"
      "   WHERE d.logicalrelid OPERATOR(pg_catalog.=) 'coditect.tenants'::pg_catalog.regclass)"
      "  THEN true"
      " WHEN (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g) OPERATOR(pg_catalog.=) 0"
      "  THEN true"
      " ELSE EXISTS (SELECT FROM pg_catalog.pg_dist_placement p"
      "   WHERE p.shardid OPERATOR(pg_catalog.=) pg_catalog.get_shard_id_for_distribution_column("
      "     'coditect.tenants'::pg_catalog.regclass, $1)"
      "   AND p.groupid OPERATOR(pg_catalog.=) (SELECT g.groupid FROM "
      "pg_catalog.pg_dist_local_group g))"
      " END",
      1, types);
  Datum values[1] = {UUIDPGetDatum(&read->tenant)};
  if (SPI_execute_plan(plan, values, nullptr, true, 1) != SPI_OK_SELECT || SPI_processed != 1) {
    elog(ERROR, "shard placement lookup failed");
  }
  bool isnull;
  Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  read->local = !isnull && DatumGetBool(d);
}

bool tenant_is_local(const pg_uuid_t& tenant) {
  if (!citus_present()) return true;
  LocalRead read{tenant, false};
  spi_as_owner_of("coditect", "tenants", read_tenant_local, &read);
  return read.local;
}

// coditect.request decoded into `a`, its strings in `buffer` (at least strlen(text) + 1
// bytes: no decoded value is longer than its encoding). C++ only, no PostgreSQL call: false
// with `error` filled when the text is malformed.
bool decode_setting(const char* text, char* buffer, RequestArgs* a, char* error,
                    size_t error_size) noexcept {
  try {
    coditect::context::Request r;
    std::string problem;
    if (!coditect::context::decode_request(text, &r, &problem)) {
      strlcpy(error, problem.c_str(), error_size);
      return false;
    }
    static_assert(sizeof(pg_uuid_t) == 16);
    memcpy(a->tenant.data, r.tenant.data(), 16);
    memcpy(a->user.data, r.user.data(), 16);
    char* at = buffer;
    auto place = [&at](const std::string& value, const char** out, int* len) {
      memcpy(at, value.data(), value.size());
      *out = at;
      *len = static_cast<int>(value.size());
      at += value.size();
    };
    place(r.role, &a->role, &a->role_len);
    const std::optional<std::string>* optional[] = {&r.user_agent, &r.method, &r.path,
                                                    &r.request_id};
    const char** strings[] = {&a->user_agent, &a->method, &a->path, &a->request_id};
    int* lengths[] = {&a->user_agent_len, &a->method_len, &a->path_len, &a->request_id_len};
    for (int i = 0; i < 4; ++i) {
      if (optional[i]->has_value()) place(**optional[i], strings[i], lengths[i]);
    }
    if (r.client_ip) {
      // NUL-terminated for inet_in; digits, dots, colons and a slash only.
      memcpy(at, r.client_ip->c_str(), r.client_ip->size() + 1);
      a->client_ip = PointerGetDatum(at);  // text for now: made an inet by the caller
    }
    return true;
  } catch (...) {
    strlcpy(error, "out of memory", error_size);
    return false;
  }
}

bool distributed_coordinator();
void verify_on_tenant_node(const pg_uuid_t& tenant);

// Fills the context from coditect.request: decoded, checked like set_request_context's call
// (its EXECUTE privilege included), then stored for the transaction. Raises the error that
// call would raise, or CD400 for a malformed setting.
void fill_from_setting(const char* text) {
  const size_t len = strlen(text);
  char* buffer = static_cast<char*>(palloc(len + 1));
  RequestArgs a;
  char error[256];
  if (!decode_setting(text, buffer, &a, error, sizeof error)) {
    ereport(ERROR, (errcode(kCD400), errmsg("malformed coditect.request: %s", error)));
  }
  const char* strings[] = {a.role, a.user_agent, a.method, a.path, a.request_id};
  const int lengths[] = {a.role_len, a.user_agent_len, a.method_len, a.path_len, a.request_id_len};
  for (int i = 0; i < 5; ++i) {
    if (strings[i] && !pg_verifymbstr(strings[i], lengths[i], true)) {
      refuse(kCD400, "malformed coditect.request: a value is not valid in the database encoding");
    }
  }
  if (a.client_ip) {
    a.client_ip = DirectFunctionCall1(inet_in, CStringGetDatum(DatumGetPointer(a.client_ip)));
  }
  check_may_set_context();
  if (!tenant_is_local(a.tenant)) {
    // This node holds none of the tenant's rows: no context, so its shards show and accept
    // none, as the tenant's own node decides for the rows that are there.
    g_remote_version = g_setting_version;
    return;
  }
  if (distributed_coordinator()) {
    check_request(a, false);
    verify_on_tenant_node(a.tenant);  // g_filling is set: no recursion here
  } else {
    check_request(a);
  }
  store_context(a, 500, 1000);
  g_context.from_setting = true;
  g_context.setting_version = g_setting_version;
  g_context.setting_text = MemoryContextStrdup(TopTransactionContext, text);
}

void assign_request_setting(const char*, void*) { ++g_setting_version; }

}  // namespace

const RequestContext& request_context() {
  if (g_context.active &&
      (!g_context.from_setting || g_context.setting_version == g_setting_version)) {
    return g_context;
  }
  const char* text = g_request_setting;
  if (g_context.active) {
    // Filled from the setting, which has been assigned since: the same text needs no new check.
    if (text && strcmp(text, g_context.setting_text) == 0) {
      g_context.setting_version = g_setting_version;
      return g_context;
    }
    clear_context();
  }
  // A parallel worker has no context of its own: the context functions are parallel restricted.
  if (!text || !*text || g_filling || g_remote_version == g_setting_version ||
      !IsTransactionState() || IsParallelWorker()) {
    return g_context;
  }
  // The checks read tables as their owner (no policy calls us back); the flag makes sure.
  g_filling = true;
  fill_from_setting(text);
  g_filling = false;
  return g_context;
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

// After set_request_context's checks on a Citus coordinator: the context as coditect.request,
// SET LOCAL through SPI (so that Citus records it) with citus.propagate_set_commands = 'local',
// which makes Citus send both at BEGIN on every worker connection of this transaction (and at
// once on those already open). Each worker runs the same checks on it (request_context()).
char* encoded_context(const RequestContext& c) {
  const char* ip =
      c.client_ip ? DatumGetCString(DirectFunctionCall1(inet_out, c.client_ip)) : nullptr;
  size_t bound = 200 + 3 * strlen(c.user_role);
  const char* const fields[] = {ip, c.user_agent, c.request_method, c.request_path, c.request_id};
  for (const char* s : fields) {
    if (s) bound += 3 * strlen(s) + 8;
  }
  char* out = static_cast<char*>(palloc(bound));
  bool ok = false;
  try {
    coditect::context::Request r;
    memcpy(r.tenant.data(), c.tenant_id.data, 16);
    memcpy(r.user.data(), c.user_id.data, 16);
    r.role = c.user_role;
    if (ip) r.client_ip = ip;
    if (c.user_agent) r.user_agent = c.user_agent;
    if (c.request_method) r.method = c.request_method;
    if (c.request_path) r.path = c.request_path;
    if (c.request_id) r.request_id = c.request_id;
    const std::string text = coditect::context::encode_request(r);
    if (text.size() < bound) {
      memcpy(out, text.c_str(), text.size() + 1);
      ok = true;
    }
  } catch (...) {
  }
  if (!ok) elog(ERROR, "could not encode the request context");
  return out;
}

void propagate_context(const RequestContext& c) {
  const char* sql =
      psprintf("SET LOCAL coditect.request = %s", quote_literal_cstr(encoded_context(c)));
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  if (SPI_execute("SET LOCAL citus.propagate_set_commands = 'local'", false, 0) != SPI_OK_UTILITY ||
      SPI_execute(sql, false, 0) != SPI_OK_UTILITY) {
    elog(ERROR, "could not set coditect.request");
  }
  SPI_finish();
}

SPIPlanPtr g_coordinator_plan = nullptr;

void read_coordinator(void* arg) {
  SPIPlanPtr plan = kept_plan(
      &g_coordinator_plan,
      "SELECT (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g) OPERATOR(pg_catalog.=) 0"
      " AND EXISTS (SELECT FROM pg_catalog.pg_dist_partition d"
      "  WHERE d.logicalrelid OPERATOR(pg_catalog.=) 'coditect.tenants'::pg_catalog.regclass)",
      0, nullptr);
  if (SPI_execute_plan(plan, nullptr, nullptr, true, 1) != SPI_OK_SELECT || SPI_processed != 1) {
    elog(ERROR, "Citus node lookup failed");
  }
  bool isnull;
  Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  *static_cast<bool*>(arg) = !isnull && DatumGetBool(d);
}

bool distributed_coordinator() {
  if (!citus_present()) return false;
  if (g_distributed_coordinator < 0) {
    bool yes = false;
    spi_as_owner_of("coditect", "tenants", read_coordinator, &yes);
    g_distributed_coordinator = yes;
  }
  return g_distributed_coordinator == 1;
}

// On a Citus coordinator, after coditect.request is set: a router query to the tenant's shard,
// as the caller (the connection its next queries use), whose current_tenant_id() runs the
// checks there (request_context(): EXECUTE, analyst, membership, role) and raises their errors.
// Reading as the tables' owner from here instead would need a connection of its own, which
// Citus refuses after the caller's writes in the transaction.
struct Verify {
  pg_uuid_t tenant;
  bool confirmed;
};
SPIPlanPtr g_verify_plan = nullptr;

void verify_on_node(void* arg) {
  auto* v = static_cast<Verify*>(arg);
  Oid types[1] = {UUIDOID};
  SPIPlanPtr plan = kept_plan(&g_verify_plan,
                              "SELECT coditect.current_tenant_id() FROM coditect.tenants t"
                              " WHERE t.id OPERATOR(pg_catalog.=) $1",
                              1, types);
  Datum values[1] = {UUIDPGetDatum(&v->tenant)};
  if (SPI_execute_plan(plan, values, nullptr, true, 1) != SPI_OK_SELECT) {
    elog(ERROR, "request context check on the tenant's node failed");
  }
  v->confirmed = false;
  if (SPI_processed == 1) {
    bool isnull;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    v->confirmed = !isnull && memcmp(DatumGetUUIDP(d)->data, v->tenant.data, 16) == 0;
  }
}

void verify_on_tenant_node(const pg_uuid_t& tenant) {
  Verify v{tenant, false};
  spi_pinned(verify_on_node, &v);
  // No row: no such tenant (its node ran no check).
  if (!v.confirmed) refuse(kCD403, "user is not an active member of this tenant");
}

}  // namespace

// Whether both the login (session user) and the current user are a superuser or the owner of
// the extension's tables: true for the maintenance functions' worker connections on Citus
// (SECURITY DEFINER: Citus connects as the owner), never for a client login, even inside a
// definer function. Needs a transaction (catalog lookups).
bool is_maintainer() {
  if (!IsTransactionState()) return false;
  const Oid owner = relation_owner(internal_relid("coditect", "tenants"));
  const Oid users[2] = {GetSessionUserId(), GetUserId()};
  for (Oid u : users) {
    if (u != owner && !superuser_arg(u)) return false;
  }
  return true;
}

namespace {

// coditect.hard_delete may be turned on by a maintainer only (any role may turn it off): a
// client login's SET, ALTER ROLE ... SET or connection option is refused (a placeholder's
// value is checked when the library loads, as whoever is the session user then).
bool hard_delete_setting_check(bool* value, void**, GucSource) {
  if (!*value || is_maintainer()) return true;
  GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
  GUC_check_errmsg("coditect.hard_delete is set by the maintenance functions only");
  return false;
}

}  // namespace

void define_request_setting() {
  // At backend start: while InitPostgres runs (session_preload_libraries), or after it.
  g_preloaded = process_shared_preload_libraries_in_progress || !IsNormalProcessingMode() ||
                !IsTransactionState();
  DefineCustomBoolVariable(
      "coditect.hard_delete", "Hard deletes allowed (maintenance functions, on Citus workers).",
      "Set by coditect_internal.allow_hard_delete on a Citus coordinator for its workers.",
      &g_hard_delete_setting, false, PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
      hard_delete_setting_check, nullptr, nullptr);
  DefineCustomStringVariable(
      "coditect.request",
      "The request context for a backend that has none: checked like set_request_context.",
      "Set by set_request_context on a Citus coordinator for its workers.", &g_request_setting, "",
      PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE, nullptr, assign_request_setting,
      nullptr);
}

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
  store_context(args_of_call(fcinfo), 0, 0);
  PG_RETURN_VOID();
}

// coditect.set_request_context(tenant, user, role, ip, user agent, method, path, request id):
// sets who is calling for the rest of the transaction. The user must be an active member of an
// active tenant; the role may lower the membership's role, never raise it; a bound analyst
// login gets no context (check_request). The checks read as the tables' owner (what SECURITY
// DEFINER gave the PL/pgSQL version), and their answers are cached per backend until a write
// to the tables they read commits (pg_context_cache.hpp). On a Citus coordinator the context
// then goes to the workers as coditect.request (propagate_context).
CODITECT_FUNCTION(coditect_set_request_context) {
  using namespace coditect::pg;
  if (!IsTransactionState()) elog(ERROR, "no transaction");
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2)) {
    throw UserError(CODITECT_SQLSTATE('4', '0', '0'), "tenant, user and role are required");
  }
  const RequestArgs args = args_of_call(fcinfo);
  const bool coordinator = distributed_coordinator();
  check_request(args, !coordinator);
  const RequestContext ctx = build_context(args, 500, 1000);
  if (citus_present()) propagate_context(ctx);
  if (coordinator) {
    // Meanwhile no context here from the new setting: the check runs on the tenant's node.
    const bool was_filling = g_filling;
    g_filling = true;
    verify_on_tenant_node(args.tenant);
    g_filling = was_filling;
  }
  g_context = ctx;  // only once checked: a refusal leaves the context as it was
  PG_RETURN_VOID();
}

// coditect.current_tenant_id(): the request context's tenant, else the tenant bound to
// session_user (an analyst login), else NULL, which matches no row.
CODITECT_FUNCTION(coditect_current_tenant_id) {
  using namespace coditect::pg;
  const RequestContext& ctx = request_context();
  if (ctx.active) return return_uuid(fcinfo, ctx.tenant_id);
  pg_uuid_t bound;
  if (lookup_binding(&bound)) return return_uuid(fcinfo, bound);
  PG_RETURN_NULL();
}

CODITECT_FUNCTION(coditect_current_user_id) {
  const auto& ctx = coditect::pg::request_context();
  if (!ctx.active) PG_RETURN_NULL();
  return coditect::pg::return_uuid(fcinfo, ctx.user_id);
}

CODITECT_FUNCTION(coditect_current_user_role) {
  const auto& ctx = coditect::pg::request_context();
  if (!ctx.active) PG_RETURN_NULL();
  PG_RETURN_TEXT_P(cstring_to_text(ctx.user_role));
}

// coditect_internal.allow_hard_delete(bool): maintenance functions switch soft-delete tables
// to real deletes for the rest of the transaction. The flag is this backend's; on a Citus
// coordinator the switch also goes to the workers, whose shard triggers decide, as
// coditect.hard_delete (SET LOCAL through SPI with citus.propagate_set_commands = 'local', like
// coditect.request), which only the extension's owner can set (hard_delete_setting_check) and
// a node honours only with the library preloaded (else a client's placeholder SET LOCAL, made
// before the library loaded, would have been forwarded unchecked): a cluster where purges work
// preloads it on every node, so no node takes a client's SET unchecked.
CODITECT_FUNCTION(coditect_allow_hard_delete) {
  const bool allow = PG_GETARG_BOOL(0);
  if (coditect::pg::citus_present()) {
    // Before the library loads, coditect.hard_delete is a placeholder anyone may SET LOCAL, and
    // Citus would forward it unchecked to connections a definer function opens as the owner.
    if (allow && !coditect::pg::g_preloaded) {
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("hard deletes on Citus need the coditect library preloaded"),
                      errhint("Set session_preload_libraries = 'coditect' on every node.")));
    }
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    if (SPI_execute("SET LOCAL citus.propagate_set_commands = 'local'", false, 0) !=
            SPI_OK_UTILITY ||
        SPI_execute(
            allow ? "SET LOCAL coditect.hard_delete = on" : "SET LOCAL coditect.hard_delete = off",
            false, 0) != SPI_OK_UTILITY) {
      elog(ERROR, "could not set coditect.hard_delete");
    }
    SPI_finish();
  }
  coditect::pg::g_hard_delete_allowed = allow;
  coditect::pg::g_hard_delete_level = GetCurrentTransactionNestLevel();
  PG_RETURN_VOID();
}

CODITECT_FUNCTION(coditect_hard_delete_allowed) {
  PG_RETURN_BOOL(coditect::pg::g_hard_delete_allowed ||
                 (coditect::pg::g_hard_delete_setting && coditect::pg::g_preloaded &&
                  coditect::pg::is_maintainer()));
}
