// Policy helpers that read other tenant tables (cart_visible, order_visible, folder_level,
// document_level, has_permission), callable inside a shard query on a Citus worker. There a
// policy runs inside the shard query, and a read of another distributed or reference table from
// it is a "distributed query from a shard", which Citus refuses unless
// citus.allow_nested_distributed_execution is on. Each helper is this C function under the
// helper's SQL name, calling its PL/pgSQL body (coditect_internal.<name>_body, same arguments)
// with that setting on for the call only when Citus is here (nested_execution_begin,
// pg_context.cpp, the one mechanism of the C code's nested reads). The body's rows are the
// tenant's, in shards colocated with the row's on this node: Citus runs those reads with its
// local executor in this transaction, so they see its writes. On one node: one more function
// call. The body keeps the helper's rights (invoker or definer) and its pinned search_path.
#include "pg_context.hpp"
#include "pg_guard.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace {

constexpr int kMaxArgs = 2;

// Calls coditect_internal.<body> with the caller's arguments (the body's FmgrInfo kept in the
// call site's fn_extra, like any function's per-query state).
Datum call_body(FunctionCallInfo fcinfo, const char* body) {
  FmgrInfo* flinfo = fcinfo->flinfo;
  const int nargs = fcinfo->nargs;
  if (nargs > kMaxArgs) elog(ERROR, "%s: too many arguments", body);
  auto* info = static_cast<FmgrInfo*>(flinfo->fn_extra);
  if (!info) {
    Oid* types;
    int n;
    (void)get_func_signature(flinfo->fn_oid, &types, &n);
    // By the catalog, not by name resolution: the caller may lack USAGE on coditect_internal
    // (an analyst), as a policy's call needs none.
    const Oid oid =
        GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum(body),
                        PointerGetDatum(buildoidvector(types, n)),
                        ObjectIdGetDatum(get_namespace_oid("coditect_internal", false)));
    if (!OidIsValid(oid)) elog(ERROR, "function coditect_internal.%s is missing", body);
    info = static_cast<FmgrInfo*>(MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(FmgrInfo)));
    fmgr_info_cxt(oid, info, flinfo->fn_mcxt);
    flinfo->fn_extra = info;
  }
  LOCAL_FCINFO(call, kMaxArgs);
  InitFunctionCallInfoData(*call, info, nargs, fcinfo->fncollation, nullptr, nullptr);
  for (int i = 0; i < nargs; ++i) call->args[i] = fcinfo->args[i];
  // An error in the body leaves the setting to the (sub)transaction's abort.
  const int level = coditect::pg::citus_present() ? coditect::pg::nested_execution_begin() : 0;
  const Datum result = FunctionCallInvoke(call);
  coditect::pg::nested_execution_end(level);
  fcinfo->isnull = call->isnull;
  return result;
}

}  // namespace

CODITECT_FUNCTION(coditect_cart_visible) { return call_body(fcinfo, "cart_visible_body"); }
CODITECT_FUNCTION(coditect_order_visible) { return call_body(fcinfo, "order_visible_body"); }
CODITECT_FUNCTION(coditect_folder_level) { return call_body(fcinfo, "folder_level_body"); }
CODITECT_FUNCTION(coditect_document_level) { return call_body(fcinfo, "document_level_body"); }
CODITECT_FUNCTION(coditect_has_permission) { return call_body(fcinfo, "has_permission_body"); }
