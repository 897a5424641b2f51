// coditect_internal.null_references(): ON DELETE SET NULL of a foreign key declared ON DELETE NO
// ACTION (Citus refuses SET NULL when the key carries the distribution column), declared by
// coditect_internal.declare_null_on_delete() (sql/00_base.sql). It does what PostgreSQL's own
// action trigger does, the way it does it:
//   - the UPDATE runs as the referencing table's owner, past its forced row security, under a
//     search_path of pg_catalog alone (a caller's operators are never resolved);
//   - its AFTER triggers (the referencing table's other foreign-key checks, the audit) are queued
//     to the outer statement, not fired at the end of this UPDATE (SPI's fire_triggers = false).
//     A row naming the deleted user twice (assignee and reporter) is updated twice; the check of
//     its other key queued by the first update then finds a newer version and is skipped, as
//     for the built-in action. Fired at once, it would see the reporter already deleted.
// Arguments: the referencing table (qualified), the update's "SET ... WHERE ..." with $1..$n,
// then the n columns of the deleted row that fill them.
#include "pg_context.hpp"
#include "pg_guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

namespace {

constexpr int kMaxKey = INDEX_MAX_KEYS;

// Prepared UPDATEs by trigger, for the backend's life (a purge deletes many rows); the arguments
// are kept to notice a trigger made again with others under a reused oid.
struct PlanEntry {
  Oid trigger;  // hash key
  char* args;
  SPIPlanPtr plan;
};
HTAB* g_plans = nullptr;

// Under Citus the trigger fires on a shard of the referenced table (on a worker), and the rows
// to update are in the colocated shard of the referencing table, on the same node: updated
// directly, as PostgreSQL's own action on the shard does. Through the distributed table, Citus's
// local execution would fire the update's foreign-key checks at once, before the other
// references to the deleted row are nulled (a row naming it twice fails). NULL when the
// relation is no shard (one node, or no Citus).
const char* colocated_shard(Oid shard, Oid child) {
  if (!OidIsValid(get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE))) return nullptr;
  Oid types[2] = {OIDOID, OIDOID};
  Datum values[2] = {ObjectIdGetDatum(shard), ObjectIdGetDatum(child)};
  const int rc = SPI_execute_with_args(
      "SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' "
      "OPERATOR(pg_catalog.||) "
      "       pg_catalog.quote_ident(c.relname OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) "
      "s2.shardid) "
      "  FROM pg_catalog.pg_class r, pg_catalog.pg_dist_shard s1, pg_catalog.pg_class p, "
      "       pg_catalog.pg_dist_shard s2, pg_catalog.pg_class c, pg_catalog.pg_namespace n "
      " WHERE r.oid OPERATOR(pg_catalog.=) $1 AND p.oid OPERATOR(pg_catalog.=) s1.logicalrelid "
      "   AND p.relnamespace OPERATOR(pg_catalog.=) r.relnamespace "
      "   AND (p.relname OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) s1.shardid) "
      "       OPERATOR(pg_catalog.=) r.relname::pg_catalog.text "
      "   AND s2.logicalrelid OPERATOR(pg_catalog.=) $2 "
      "   AND s2.shardminvalue OPERATOR(pg_catalog.=) s1.shardminvalue "
      "   AND c.oid OPERATOR(pg_catalog.=) $2 AND n.oid OPERATOR(pg_catalog.=) c.relnamespace",
      2, types, values, nullptr, true, 2);
  if (rc != SPI_OK_SELECT) elog(ERROR, "null_references(): %s", SPI_result_code_string(rc));
  if (SPI_processed != 1) return nullptr;
  return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

SPIPlanPtr plan_for(const TriggerData* td, int nargs, Oid* types) {
  if (!g_plans) {
    HASHCTL ctl{};
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(PlanEntry);
    g_plans = hash_create("coditect null_references plans", 32, &ctl, HASH_ELEM | HASH_BLOBS);
  }
  const Trigger* tg = td->tg_trigger;
  const char* args = psprintf("%s\n%s", tg->tgargs[0], tg->tgargs[1]);
  bool found;
  auto* e = static_cast<PlanEntry*>(hash_search(g_plans, &tg->tgoid, HASH_ENTER, &found));
  if (found && strcmp(e->args, args) == 0) return e->plan;
  if (found) {
    SPI_freeplan(e->plan);
    pfree(e->args);
  }
  e->plan = nullptr;
  e->args = nullptr;
  hash_search(g_plans, &tg->tgoid, HASH_REMOVE, nullptr);  // until the plan is made

  const Oid child =
      DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(tg->tgargs[0])));
  const char* shard = colocated_shard(RelationGetRelid(td->tg_relation), child);
  const char* sql = psprintf("UPDATE %s %s", shard ? shard : tg->tgargs[0], tg->tgargs[1]);
  SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
  if (!plan || SPI_keepplan(plan) != 0) {
    elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
  }
  e = static_cast<PlanEntry*>(hash_search(g_plans, &tg->tgoid, HASH_ENTER, &found));
  e->args = MemoryContextStrdup(TopMemoryContext, args);
  e->plan = plan;
  return plan;
}

}  // namespace

CODITECT_FUNCTION(coditect_null_references) {
  if (!CALLED_AS_TRIGGER(fcinfo)) elog(ERROR, "null_references() is a trigger");
  auto* td = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
      !TRIGGER_FIRED_BY_DELETE(td->tg_event)) {
    elog(ERROR, "null_references() is an AFTER DELETE FOR EACH ROW trigger");
  }
  const Trigger* tg = td->tg_trigger;
  const int nkeys = tg->tgnargs - 2;
  if (nkeys < 1 || nkeys > kMaxKey) elog(ERROR, "null_references(): bad arguments");

  TupleDesc desc = RelationGetDescr(td->tg_relation);
  Datum values[kMaxKey];
  char nulls[kMaxKey];
  Oid types[kMaxKey];
  for (int i = 0; i < nkeys; ++i) {
    const int attnum = SPI_fnumber(desc, tg->tgargs[2 + i]);
    if (attnum <= 0) elog(ERROR, "null_references(): no column \"%s\"", tg->tgargs[2 + i]);
    bool isnull;
    values[i] = heap_getattr(td->tg_trigtuple, attnum, desc, &isnull);
    // MATCH SIMPLE: a key with a NULL references nothing.
    if (isnull) return PointerGetDatum(nullptr);
    nulls[i] = ' ';
    types[i] = TupleDescAttr(desc, attnum - 1)->atttypid;
  }

  const Oid child =
      DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(tg->tgargs[0])));
  const Oid owner = coditect::pg::relation_owner(child);
  Oid save_user;
  int save_sec;
  GetUserIdAndSecContext(&save_user, &save_sec);
  SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
  OverrideSearchPath path{};
  path.schemas = NIL;
  path.addCatalog = true;
  path.addTemp = false;
  PushOverrideSearchPath(&path);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  SPIPlanPtr plan = plan_for(td, nkeys, types);
  const int rc =
      SPI_execute_snapshot(plan, values, nulls, InvalidSnapshot, InvalidSnapshot, false, false, 0);
  if (rc != SPI_OK_UPDATE) elog(ERROR, "null_references(): %s", SPI_result_code_string(rc));
  SPI_finish();
  PopOverrideSearchPath();
  SetUserIdAndSecContext(save_user, save_sec);
  return PointerGetDatum(nullptr);
}
