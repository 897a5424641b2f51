// The two writers of coditect.audit_logs, sharing one insertion (insert_audit_row):
// coditect_internal.audit_row_change(), the one AFTER ROW trigger that writes a row for every
// change of every tenant table in the same transaction, and coditect_internal.audit_event(),
// the rows of events that are not row changes (sql/11_audit_events.sql). Tuples are turned into
// Field lists here; naming and JSON live in audit_diff.cpp.
#include "audit_diff.hpp"
#include "pg_context.hpp"
#include "pg_guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
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

// One audit_logs row as its writers (the row trigger, audit_event) give it; the request
// context's columns are added by insert_audit_row.
struct AuditRow {
  Datum tenant_id;      // uuid
  Datum action;         // text
  Datum resource_type;  // text
  Datum resource_id;    // text, or 0 for NULL
  Datum changes;        // jsonb
  Datum metadata;       // jsonb
  Datum severity;       // text
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

// The one insertion of both writers: the row, with user, IP, user agent, method, path and
// request id from the request context (NULL without one).
void insert_audit_row(const AuditRow* row) {
  const auto& ctx = coditect::pg::request_context();
  InsertArgs args;
  memset(args.nulls, ' ', kInsertArgs);
  args.nulls[kInsertArgs] = '\0';
  Datum* values = args.values;
  char* nulls = args.nulls;

  values[0] = row->tenant_id;
  if (ctx.active) {
    values[1] = UUIDPGetDatum(const_cast<pg_uuid_t*>(&ctx.user_id));
  } else {
    nulls[1] = 'n';
  }
  values[2] = row->action;
  values[3] = row->resource_type;
  values[4] = row->resource_id;
  if (!row->resource_id) nulls[4] = 'n';
  if (ctx.active && ctx.client_ip) {
    values[5] = ctx.client_ip;
  } else {
    nulls[5] = 'n';
  }
  values[6] = text_or_null(ctx.active ? ctx.user_agent : nullptr, &nulls[6]);
  values[7] = text_or_null(ctx.active ? ctx.request_method : nullptr, &nulls[7]);
  values[8] = text_or_null(ctx.active ? ctx.request_path : nullptr, &nulls[8]);
  values[9] = row->changes;
  values[10] = row->metadata;
  values[11] = row->severity;
  values[12] = text_or_null(ctx.active ? ctx.request_id : nullptr, &nulls[12]);
  coditect::pg::spi_as_owner_of("coditect", "audit_logs", insert_as_owner, &args);
}

void write_row(const RowWrite* w) {
  AuditRow row{};
  bool isnull;
  row.tenant_id = column_datum(w->row, w->desc, w->tenant_column, &isnull);
  if (isnull) elog(ERROR, "audited row has no tenant");
  row.action = CStringGetTextDatum(w->action);
  row.resource_type = CStringGetTextDatum(w->resource_type);
  Datum id = column_datum(w->row, w->desc, "id", &isnull);
  if (!isnull) {
    Oid output_fn;
    bool varlena;
    getTypeOutputInfo(TupleDescAttr(w->desc, SPI_fnumber(w->desc, "id") - 1)->atttypid, &output_fn,
                      &varlena);
    row.resource_id = CStringGetTextDatum(OidOutputFunctionCall(output_fn, id));
  }
  row.changes = DirectFunctionCall1(jsonb_in, CStringGetDatum(w->changes));
  row.metadata = DirectFunctionCall1(jsonb_in, CStringGetDatum(w->metadata));
  row.severity = CStringGetTextDatum(w->severity);
  insert_audit_row(&row);
}

// audit_event's arguments, read under one pg_call (detoasting and copying may raise).
struct EventArgs {
  bool missing;  // tenant, action, resource type or severity NULL
  const char* action;
  const char* resource_type;
  const char* severity;
  int resource_id_length;
  bool metadata_object;
  bool changes_object;
  AuditRow row;
};

void read_event_args(FunctionCallInfo fcinfo, EventArgs* e) {
  e->missing = PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(5);
  if (e->missing) return;
  e->row.tenant_id = PG_GETARG_DATUM(0);
  e->row.action = PointerGetDatum(PG_GETARG_TEXT_PP(1));
  e->action = text_to_cstring(DatumGetTextPP(e->row.action));
  e->row.resource_type = PointerGetDatum(PG_GETARG_TEXT_PP(2));
  e->resource_type = text_to_cstring(DatumGetTextPP(e->row.resource_type));
  if (!PG_ARGISNULL(3)) {
    text* id = PG_GETARG_TEXT_PP(3);
    e->row.resource_id = PointerGetDatum(id);
    e->resource_id_length = pg_mbstrlen_with_len(VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id));
  }
  // NULL metadata or changes: the defaults' empty objects.
  Datum empty = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
  e->row.metadata = PG_ARGISNULL(4) ? empty : PointerGetDatum(PG_GETARG_JSONB_P(4));
  e->row.changes = PG_ARGISNULL(6) ? empty : PointerGetDatum(PG_GETARG_JSONB_P(6));
  e->metadata_object = JB_ROOT_IS_OBJECT(DatumGetJsonbP(e->row.metadata));
  e->changes_object = JB_ROOT_IS_OBJECT(DatumGetJsonbP(e->row.changes));
  e->row.severity = PointerGetDatum(PG_GETARG_TEXT_PP(5));
  e->severity = text_to_cstring(DatumGetTextPP(e->row.severity));
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

// coditect_internal.audit_event(tenant, action, resource_type, resource_id, metadata, severity,
// changes): an audit row for an event that is not a row change (a login, a grant, an export),
// written like the trigger's rows. Called by definer code only (no client role executes it).
CODITECT_FUNCTION(coditect_audit_event) {
  using coditect::pg::pg_call;
  using coditect::pg::UserError;
  EventArgs e{};
  pg_call(read_event_args, fcinfo, &e);
  const int invalid = CODITECT_SQLSTATE('4', '0', '0');
  if (e.missing)
    throw UserError(invalid,
                    "audit_event needs a tenant, an action, a resource type and a severity");
  for (const std::string& problem : {coditect::event_action_problem(e.action),
                                     coditect::event_resource_type_problem(e.resource_type),
                                     coditect::event_severity_problem(e.severity)}) {
    if (!problem.empty()) throw UserError(invalid, problem.c_str());
  }
  if (e.resource_id_length > 255)
    throw UserError(invalid, "an audit resource id is at most 255 characters");
  if (!e.metadata_object || !e.changes_object)
    throw UserError(invalid, "audit metadata and changes are JSON objects");
  coditect::pg::fail_point("audit_event");
  pg_call(insert_audit_row, &e.row);
  PG_RETURN_VOID();
}
