// coditect_internal.audit_row_change(): the one AFTER ROW trigger that writes a
// coditect.audit_logs row for every change of every tenant table, in the same transaction.
// Tuples are turned into Field lists here; naming and JSON live in audit_diff.cpp.
#include "audit_diff.hpp"
#include "pg_context.hpp"
#include "pg_guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

#include <string>
#include <vector>

namespace {

using coditect::AuditConfig;
using coditect::Field;
using coditect::FieldValue;
using coditect::JsonKind;
using coditect::RowOp;

constexpr int kInsertArgs = 12;
SPIPlanPtr g_insert_plan = nullptr;

JsonKind kind_of(Oid type) {
  switch (getBaseType(type)) {
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case FLOAT4OID:
    case FLOAT8OID:
    case NUMERICOID:
    case OIDOID:
      return JsonKind::Number;
    case BOOLOID:
      return JsonKind::Bool;
    case JSONOID:
    case JSONBOID:
      return JsonKind::Json;
    default:
      return JsonKind::String;
  }
}

FieldValue output_value(HeapTuple tuple, TupleDesc desc, int attnum) {
  bool isnull;
  Datum d = heap_getattr(tuple, attnum, desc, &isnull);
  if (isnull) return {};
  Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
  Oid base = getBaseType(att->atttypid);
  switch (base) {
    case DATEOID:
    case TIMEOID:
    case TIMETZOID:
    case TIMESTAMPOID:
    case TIMESTAMPTZOID:
      // ISO 8601, as to_jsonb() writes them.
      return {JsonKind::String, JsonEncodeDateTime(nullptr, d, base, nullptr)};
    default:
      break;
  }
  Oid output_fn;
  bool varlena;
  getTypeOutputInfo(att->atttypid, &output_fn, &varlena);
  const char* text = OidOutputFunctionCall(output_fn, d);
  return {kind_of(att->atttypid), text};
}

bool binary_equal(HeapTuple a, HeapTuple b, TupleDesc desc, int attnum) {
  bool a_null, b_null;
  Datum da = heap_getattr(a, attnum, desc, &a_null);
  Datum db = heap_getattr(b, attnum, desc, &b_null);
  if (a_null || b_null) return a_null == b_null;
  Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
  return datumIsEqual(da, db, att->attbyval, att->attlen);
}

bool column_is_null(HeapTuple tuple, TupleDesc desc, const std::string& column) {
  int attnum = SPI_fnumber(desc, column.c_str());
  if (attnum <= 0) return true;
  bool isnull;
  heap_getattr(tuple, attnum, desc, &isnull);
  return isnull;
}

Datum column_datum(HeapTuple tuple, TupleDesc desc, const char* column, bool* isnull) {
  int attnum = SPI_fnumber(desc, column);
  if (attnum <= 0) elog(ERROR, "audited table has no column \"%s\"", column);
  return heap_getattr(tuple, attnum, desc, isnull);
}

SPIPlanPtr insert_plan() {
  if (g_insert_plan) return g_insert_plan;
  Oid types[kInsertArgs] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID,  TEXTOID,  INETOID,
                            TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, TEXTOID};
  SPIPlanPtr plan = SPI_prepare(
      "INSERT INTO coditect.audit_logs (tenant_id, user_id, action, resource_type, resource_id,"
      " ip_address, user_agent, request_method, request_path, changes, metadata, severity)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
      kInsertArgs, types);
  if (!plan)
    elog(ERROR, "could not prepare the audit insert: %s", SPI_result_code_string(SPI_result));
  SPI_keepplan(plan);
  g_insert_plan = plan;
  return plan;
}

Datum text_or_null(const char* s, char* null_flag) {
  if (!s) {
    *null_flag = 'n';
    return 0;
  }
  return CStringGetTextDatum(s);
}

}  // namespace

CODITECT_FUNCTION(coditect_audit_row_change) {
  using coditect::pg::pg_call;
  auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
      !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event)) {
    elog(ERROR, "audit_row_change must be an AFTER ROW trigger");
  }

  const Trigger* trigger = trigdata->tg_trigger;
  std::vector<std::string_view> args(trigger->tgargs, trigger->tgargs + trigger->tgnargs);
  const AuditConfig config = coditect::parse_audit_args(args);

  RowOp op = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event)   ? RowOp::Insert
             : TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? RowOp::Update
                                                           : RowOp::Delete;
  Relation rel = trigdata->tg_relation;
  TupleDesc desc = RelationGetDescr(rel);
  HeapTuple old_tuple = op == RowOp::Insert ? nullptr : trigdata->tg_trigtuple;
  HeapTuple new_tuple = op == RowOp::Insert   ? trigdata->tg_trigtuple
                        : op == RowOp::Update ? trigdata->tg_newtuple
                                              : nullptr;
  HeapTuple row = new_tuple ? new_tuple : old_tuple;

  // Output texts are palloc'd in the trigger's memory context and freed with it.
  std::vector<Field> fields;
  fields.reserve(desc->natts);
  pg_call([&] {
    for (int i = 1; i <= desc->natts; ++i) {
      Form_pg_attribute att = TupleDescAttr(desc, i - 1);
      if (att->attisdropped || config.is_excluded(NameStr(att->attname))) continue;
      if (op == RowOp::Update && binary_equal(old_tuple, new_tuple, desc, i)) continue;
      Field f;
      f.name = NameStr(att->attname);
      if (old_tuple) f.old_value = output_value(old_tuple, desc, i);
      if (new_tuple) f.new_value = output_value(new_tuple, desc, i);
      fields.push_back(f);
    }
  });

  bool deleted_before = false, deleted_after = false;
  if (op == RowOp::Update && !config.soft_delete_column.empty()) {
    pg_call([&] {
      deleted_before = !column_is_null(old_tuple, desc, config.soft_delete_column);
      deleted_after = !column_is_null(new_tuple, desc, config.soft_delete_column);
    });
  }
  const std::string changes = coditect::build_changes(op, fields, config);
  // An UPDATE that changed nothing audited (only excluded columns) is not a change.
  if (op == RowOp::Update && changes == "{}") return PointerGetDatum(nullptr);

  const coditect::AuditVerb verb =
      coditect::classify_change(op, config, deleted_before, deleted_after);
  const std::string action = config.resource + "." + verb.verb;

  pg_call([&] {
    const auto& ctx = coditect::pg::request_context();
    std::string table = std::string(get_namespace_name(RelationGetNamespace(rel))) + "." +
                        RelationGetRelationName(rel);
    std::string metadata = coditect::build_metadata(
        table, GetUserNameFromId(GetSessionUserId(), false),
        U64FromFullTransactionId(GetTopFullTransactionId()), verb.soft_delete);
    coditect::pg::fail_point("audit");

    Datum values[kInsertArgs];
    char nulls[kInsertArgs + 1];
    memset(nulls, ' ', kInsertArgs);
    nulls[kInsertArgs] = '\0';

    bool isnull;
    values[0] = column_datum(row, desc, config.tenant_column.c_str(), &isnull);
    if (isnull) elog(ERROR, "audited row has no tenant");
    if (ctx.active) {
      values[1] = UUIDPGetDatum(const_cast<pg_uuid_t*>(&ctx.user_id));
    } else {
      nulls[1] = 'n';
    }
    values[2] = CStringGetTextDatum(action.c_str());
    values[3] = CStringGetTextDatum(config.resource_type.c_str());
    Datum id = column_datum(row, desc, "id", &isnull);
    if (isnull) {
      nulls[4] = 'n';
    } else {
      Oid output_fn;
      bool varlena;
      getTypeOutputInfo(TupleDescAttr(desc, SPI_fnumber(desc, "id") - 1)->atttypid, &output_fn,
                        &varlena);
      values[4] = CStringGetTextDatum(OidOutputFunctionCall(output_fn, id));
    }
    if (ctx.active && ctx.client_ip) {
      values[5] = ctx.client_ip;
    } else {
      nulls[5] = 'n';
    }
    values[6] = text_or_null(ctx.active ? ctx.user_agent : nullptr, &nulls[6]);
    values[7] = text_or_null(ctx.active ? ctx.request_method : nullptr, &nulls[7]);
    values[8] = text_or_null(ctx.active ? ctx.request_path : nullptr, &nulls[8]);
    values[9] = DirectFunctionCall1(jsonb_in, CStringGetDatum(changes.c_str()));
    values[10] = DirectFunctionCall1(jsonb_in, CStringGetDatum(metadata.c_str()));
    values[11] = CStringGetTextDatum(verb.severity.c_str());

    // Written as the audit table's owner: application roles hold no INSERT on the log.
    coditect::pg::spi_as_owner_of("coditect", "audit_logs", [&] {
      int rc = SPI_execute_plan(insert_plan(), values, nulls, false, 0);
      if (rc != SPI_OK_INSERT) elog(ERROR, "audit insert failed: %s", SPI_result_code_string(rc));
    });
  });
  return PointerGetDatum(nullptr);
}
