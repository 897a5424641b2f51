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

#include <memory>
#include <string>
#include <vector>

namespace {

using coditect::AuditConfig;
using coditect::Field;
using coditect::FieldValue;
using coditect::JsonKind;
using coditect::RowOp;

constexpr int kInsertArgs = 13;
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

bool column_is_null(HeapTuple tuple, TupleDesc desc, const char* column) {
  int attnum = SPI_fnumber(desc, column);
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

Datum text_or_null(const char* s, char* null_flag) {
  if (!s) {
    *null_flag = 'n';
    return 0;
  }
  return CStringGetTextDatum(s);
}

// The trigger runs in three steps: read_row (PostgreSQL), the diff and its JSON (C++), then
// write_row (PostgreSQL). The PostgreSQL steps are plain C over plain structs, each run under
// one pg_call, so no C++ object is made inside a guarded region and no PostgreSQL error
// longjmps over a live C++ object.

struct ColumnRead {
  FieldValue old_value;  // output texts palloc'd in the trigger's context, freed with it
  FieldValue new_value;
  bool changed;  // UPDATE: the stored value differs
};

struct RowRead {
  RowOp op;
  HeapTuple old_tuple;  // nullptr on INSERT
  HeapTuple new_tuple;  // nullptr on DELETE
  Relation rel;
  const bool* audited;             // per attribute: not dropped, not excluded
  const char* soft_delete_column;  // UPDATE of a soft-delete table, else nullptr
  ColumnRead* columns;             // per attribute, filled where audited
  bool deleted_before;
  bool deleted_after;
  const char* table;  // schema.name
  const char* db_user;
  uint64 txid;
};

void read_row(RowRead* r) {
  TupleDesc desc = RelationGetDescr(r->rel);
  for (int i = 1; i <= desc->natts; ++i) {
    if (!r->audited[i - 1]) continue;
    ColumnRead* c = &r->columns[i - 1];
    c->changed = r->op != RowOp::Update || !binary_equal(r->old_tuple, r->new_tuple, desc, i);
    if (!c->changed) continue;
    if (r->old_tuple) c->old_value = output_value(r->old_tuple, desc, i);
    if (r->new_tuple) c->new_value = output_value(r->new_tuple, desc, i);
  }
  if (r->soft_delete_column) {
    r->deleted_before = !column_is_null(r->old_tuple, desc, r->soft_delete_column);
    r->deleted_after = !column_is_null(r->new_tuple, desc, r->soft_delete_column);
  }
  r->table = psprintf("%s.%s", get_namespace_name(RelationGetNamespace(r->rel)),
                      RelationGetRelationName(r->rel));
  r->db_user = GetUserNameFromId(GetSessionUserId(), false);
  r->txid = U64FromFullTransactionId(GetTopFullTransactionId());
}

struct RowWrite {
  HeapTuple row;  // the new row, or the old one on DELETE
  TupleDesc desc;
  const char* tenant_column;
  const char* action;
  const char* resource_type;
  const char* changes;   // JSON
  const char* metadata;  // JSON
  const char* severity;
};

struct InsertArgs {
  Datum values[kInsertArgs];
  char nulls[kInsertArgs + 1];
};

// Runs as the audit table's owner, search_path pinned (see spi_as_owner_of): application roles
// hold no INSERT on the log. The kept plan is prepared here, under the same pinned path.
void insert_as_owner(void* arg) {
  auto* args = static_cast<InsertArgs*>(arg);
  Oid types[kInsertArgs] = {UUIDOID, UUIDOID, TEXTOID,  TEXTOID,  TEXTOID, INETOID, TEXTOID,
                            TEXTOID, TEXTOID, JSONBOID, JSONBOID, TEXTOID, TEXTOID};
  SPIPlanPtr plan = coditect::pg::kept_plan(
      &g_insert_plan,
      "INSERT INTO coditect.audit_logs (tenant_id, user_id, action, resource_type, resource_id,"
      " ip_address, user_agent, request_method, request_path, changes, metadata, severity,"
      " request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
      kInsertArgs, types);
  int rc = SPI_execute_plan(plan, args->values, args->nulls, false, 0);
  if (rc != SPI_OK_INSERT) elog(ERROR, "audit insert failed: %s", SPI_result_code_string(rc));
}

void write_row(const RowWrite* w) {
  const auto& ctx = coditect::pg::request_context();
  InsertArgs args;
  memset(args.nulls, ' ', kInsertArgs);
  args.nulls[kInsertArgs] = '\0';
  Datum* values = args.values;
  char* nulls = args.nulls;

  bool isnull;
  values[0] = column_datum(w->row, w->desc, w->tenant_column, &isnull);
  if (isnull) elog(ERROR, "audited row has no tenant");
  if (ctx.active) {
    values[1] = UUIDPGetDatum(const_cast<pg_uuid_t*>(&ctx.user_id));
  } else {
    nulls[1] = 'n';
  }
  values[2] = CStringGetTextDatum(w->action);
  values[3] = CStringGetTextDatum(w->resource_type);
  Datum id = column_datum(w->row, w->desc, "id", &isnull);
  if (isnull) {
    nulls[4] = 'n';
  } else {
    Oid output_fn;
    bool varlena;
    getTypeOutputInfo(TupleDescAttr(w->desc, SPI_fnumber(w->desc, "id") - 1)->atttypid, &output_fn,
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
  values[9] = DirectFunctionCall1(jsonb_in, CStringGetDatum(w->changes));
  values[10] = DirectFunctionCall1(jsonb_in, CStringGetDatum(w->metadata));
  values[11] = CStringGetTextDatum(w->severity);
  values[12] = text_or_null(ctx.active ? ctx.request_id : nullptr, &nulls[12]);
  coditect::pg::spi_as_owner_of("coditect", "audit_logs", insert_as_owner, &args);
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
  RowRead r{};
  r.op = op;
  r.old_tuple = op == RowOp::Insert ? nullptr : trigdata->tg_trigtuple;
  r.new_tuple = op == RowOp::Insert   ? trigdata->tg_trigtuple
                : op == RowOp::Update ? trigdata->tg_newtuple
                                      : nullptr;
  r.rel = rel;
  // std::vector<bool> has no data(); one flag per attribute.
  std::unique_ptr<bool[]> audited(new bool[desc->natts]);
  std::vector<ColumnRead> columns(desc->natts);
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    audited[i] = !att->attisdropped && !config.is_excluded(NameStr(att->attname));
  }
  r.audited = audited.get();
  r.columns = columns.data();
  if (op == RowOp::Update && !config.soft_delete_column.empty()) {
    r.soft_delete_column = config.soft_delete_column.c_str();
  }
  pg_call(read_row, &r);

  std::vector<Field> fields;
  fields.reserve(desc->natts);
  for (int i = 0; i < desc->natts; ++i) {
    if (!audited[i] || !columns[i].changed) continue;
    fields.push_back(
        {NameStr(TupleDescAttr(desc, i)->attname), columns[i].old_value, columns[i].new_value});
  }
  const std::string changes = coditect::build_changes(op, fields, config);
  // An UPDATE that changed nothing audited (only excluded columns) is not a change.
  if (op == RowOp::Update && changes == "{}") return PointerGetDatum(nullptr);

  const coditect::AuditVerb verb =
      coditect::classify_change(op, config, r.deleted_before, r.deleted_after);
  const std::string action = config.resource + "." + verb.verb;
  const std::string metadata =
      coditect::build_metadata(r.table, r.db_user, r.txid, verb.soft_delete);
  coditect::pg::fail_point("audit");

  RowWrite w{r.new_tuple ? r.new_tuple : r.old_tuple,
             desc,
             config.tenant_column.c_str(),
             action.c_str(),
             config.resource_type.c_str(),
             changes.c_str(),
             metadata.c_str(),
             verb.severity.c_str()};
  pg_call(write_row, &w);
  return PointerGetDatum(nullptr);
}
