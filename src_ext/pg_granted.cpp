// The document read policies' sets, computed once per query without a subquery in the policy.
// Citus refuses policies holding subqueries, so the folders' and documents' read policies
// (sql/42_documents.sql) no longer say `id = ANY ((SELECT coditect_internal.granted_folders()))`
// (an initplan: once per query) but call these per row. Each call site keeps, in its FmgrInfo's
// fn_extra (memory of the executing query), the sets granted_folders() / granted_documents(bool)
// returned on its first call, sorted: later rows of the same query do a binary search and run no
// query. The sets live exactly as long as an initplan's result did (one execution of the query), so
// nothing can make them stale that did not make the initplan stale.
#include "pg_context.hpp"
#include "pg_guard.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/uuid.h"
}

namespace {

enum Set { kFolders, kDocumentsAll, kDocumentsMine, kSetCount };

struct UuidSet {
  bool filled;
  int count;
  pg_uuid_t* ids;  // sorted
};

struct QuerySets {
  bool has_tenant;  // false: no tenant in context, every set empty
  pg_uuid_t tenant;
  bool tenant_looked_up;
  UuidSet sets[kSetCount];
};

int compare_uuid(const void* a, const void* b) { return memcmp(a, b, UUID_LEN); }

Oid function_oid(const char* schema, const char* name, int nargs, Oid* types) {
  List* qualified = list_make2(makeString(pstrdup(schema)), makeString(pstrdup(name)));
  return LookupFuncName(qualified, nargs, types, false);
}

QuerySets* query_sets(FunctionCallInfo fcinfo) {
  FmgrInfo* flinfo = fcinfo->flinfo;
  if (!flinfo->fn_extra) {
    flinfo->fn_extra = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(QuerySets));
  }
  QuerySets* q = static_cast<QuerySets*>(flinfo->fn_extra);
  if (!q->tenant_looked_up) {
    // coditect.current_tenant_id() (C, cached per backend), the tenant the sets are read for.
    LOCAL_FCINFO(call, 0);
    FmgrInfo info;
    fmgr_info(function_oid("coditect", "current_tenant_id", 0, nullptr), &info);
    InitFunctionCallInfoData(*call, &info, 0, InvalidOid, nullptr, nullptr);
    Datum tenant = FunctionCallInvoke(call);
    q->has_tenant = !call->isnull;
    if (q->has_tenant) memcpy(&q->tenant, DatumGetUUIDP(tenant), UUID_LEN);
    q->tenant_looked_up = true;
  }
  return q;
}

// The set, from its SQL function's first call in this query.
const UuidSet* query_set(FunctionCallInfo fcinfo, QuerySets* q, Set which) {
  UuidSet* s = &q->sets[which];
  if (s->filled) return s;
  Datum result;
  // Inside a shard query on a Citus worker, a read of other distributed tables (as in
  // pg_nested_read.cpp): the tenant's colocated shards, here, in this transaction.
  const int level = coditect::pg::citus_present() ? coditect::pg::nested_execution_begin() : 0;
  if (which == kFolders) {
    result = OidFunctionCall0(function_oid("coditect_internal", "granted_folders", 0, nullptr));
  } else {
    Oid types[1] = {BOOLOID};
    result = OidFunctionCall1(function_oid("coditect_internal", "granted_documents", 1, types),
                              BoolGetDatum(which == kDocumentsMine));
  }
  coditect::pg::nested_execution_end(level);
  Datum* elems;
  bool* nulls;
  int n;
  deconstruct_array(DatumGetArrayTypeP(result), UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems,
                    &nulls, &n);
  pg_uuid_t* ids = static_cast<pg_uuid_t*>(
      MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(pg_uuid_t) * (n + 1)));
  int count = 0;
  for (int i = 0; i < n; ++i) {
    if (!nulls[i]) memcpy(&ids[count++], DatumGetUUIDP(elems[i]), UUID_LEN);
  }
  qsort(ids, count, sizeof(pg_uuid_t), compare_uuid);
  s->ids = ids;
  s->count = count;
  s->filled = true;
  return s;
}

bool contains(const UuidSet* s, const pg_uuid_t* id) {
  return s->count > 0 && bsearch(id, s->ids, s->count, sizeof(pg_uuid_t), compare_uuid) != nullptr;
}

// Arguments 0 (tenant) and 1: false unless the row is of the context's tenant (a NULL is never).
bool same_tenant(FunctionCallInfo fcinfo, const QuerySets* q) {
  if (PG_ARGISNULL(0) || !q->has_tenant) return false;
  return memcmp(PG_GETARG_UUID_P(0), &q->tenant, UUID_LEN) == 0;
}

}  // namespace

// coditect_internal.folder_granted(tenant, folder): the folder is in granted_folders().
CODITECT_FUNCTION(coditect_folder_granted) {
  QuerySets* q = query_sets(fcinfo);
  if (PG_ARGISNULL(1) || !same_tenant(fcinfo, q)) PG_RETURN_BOOL(false);
  PG_RETURN_BOOL(contains(query_set(fcinfo, q, kFolders), PG_GETARG_UUID_P(1)));
}

// coditect_internal.document_granted(tenant, document, folder): the document's own grants name
// the caller (granted_documents(true)), or it has none and its folder is in granted_folders().
CODITECT_FUNCTION(coditect_document_granted) {
  QuerySets* q = query_sets(fcinfo);
  if (PG_ARGISNULL(1) || !same_tenant(fcinfo, q)) PG_RETURN_BOOL(false);
  const pg_uuid_t* document = PG_GETARG_UUID_P(1);
  if (contains(query_set(fcinfo, q, kDocumentsMine), document)) PG_RETURN_BOOL(true);
  if (PG_ARGISNULL(2) || !contains(query_set(fcinfo, q, kFolders), PG_GETARG_UUID_P(2))) {
    PG_RETURN_BOOL(false);
  }
  PG_RETURN_BOOL(!contains(query_set(fcinfo, q, kDocumentsAll), document));
}
