// coditect_internal.protect_columns(): the BEFORE INSERT trigger declared by
// coditect_internal.protect_insert_columns() (sql/00_base.sql). The columns it names are the
// database's on insert: a writer other than the table's owner (or a superuser) must leave them
// to the database, i.e. arrive with the value the database puts there, the column's default
// evaluated here (NULL without one). Otherwise 42501 naming the column. A declared `id` has no
// column default: this trigger gives the row a UUIDv7 when it has none.
//
// Why a trigger and not column privileges: on Citus the coordinator sends every column of an
// INSERT to the shard (defaults evaluated into values) and the shard checks the caller's
// privileges on all of them, so a column-level INSERT grant refuses every insert there. The
// shard's trigger sees the coordinator's value of a default; it compares it with its own
// evaluation, which agrees for constants and for the request context (carried to the workers),
// not for volatile defaults (ids) nor now(): those columns are declared without a default
// (ids) or left to the trigger that computes them (the declaration refuses now()).
// Arguments: the table (for the message; on Citus the trigger fires on a shard), then the columns.
#include "pg_guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "rewrite/rewriteHandler.h"
#include "utils/acl.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/uuid.h"

Datum coditect_uuid_generate_v7(PG_FUNCTION_ARGS);
}

CODITECT_FUNCTION(coditect_protect_columns) {
  auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
      !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
      trigdata->tg_trigger->tgnargs < 2) {
    elog(ERROR,
         "protect_columns must be a BEFORE INSERT row trigger with the table and its columns");
  }
  const Trigger* tg = trigdata->tg_trigger;
  Relation rel = trigdata->tg_relation;
  TupleDesc desc = RelationGetDescr(rel);
  HeapTuple tuple = trigdata->tg_trigtuple;
  // The owner's code (SECURITY DEFINER functions, maintenance) and superusers write them.
  const bool trusted = has_privs_of_role(GetUserId(), rel->rd_rel->relowner);
  int id_attnum = 0;
  EState* estate = nullptr;
  for (int i = 1; i < tg->tgnargs; ++i) {
    const int attnum = SPI_fnumber(desc, tg->tgargs[i]);
    if (attnum <= 0)
      elog(ERROR, "protect_columns(): %s has no column \"%s\"", tg->tgargs[0], tg->tgargs[i]);
    if (strcmp(tg->tgargs[i], "id") == 0) id_attnum = attnum;
    if (trusted) continue;
    Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
    bool isnull;
    Datum value = heap_getattr(tuple, attnum, desc, &isnull);
    bool default_null = true;
    Datum default_value = 0;
    Node* expr = build_column_default(rel, attnum);
    if (expr != nullptr) {
      if (estate == nullptr) estate = CreateExecutorState();
      ExprState* state = ExecPrepareExpr(reinterpret_cast<Expr*>(expr), estate);
      default_value =
          ExecEvalExprSwitchContext(state, GetPerTupleExprContext(estate), &default_null);
    }
    const bool same = isnull || default_null
                          ? isnull == default_null
                          : datum_image_eq(value, default_value, att->attbyval, att->attlen);
    if (!same) {
      ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                      errmsg("permission denied for column \"%s\" of table %s", tg->tgargs[i],
                             tg->tgargs[0]),
                      errdetail("Column \"%s\" is set by the database on insert; leave it out.",
                                tg->tgargs[i])));
    }
  }
  if (estate != nullptr) FreeExecutorState(estate);
  if (id_attnum > 0) {
    bool isnull;
    heap_getattr(tuple, id_attnum, desc, &isnull);
    if (isnull) {
      LOCAL_FCINFO(call, 0);
      InitFunctionCallInfoData(*call, nullptr, 0, InvalidOid, nullptr, nullptr);
      Datum id = coditect_uuid_generate_v7(call);
      bool id_null = false;
      tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &id_attnum, &id, &id_null);
    }
  }
  return PointerGetDatum(tuple);
}
