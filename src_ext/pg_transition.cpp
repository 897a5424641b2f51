// coditect_internal.enforce_transition(machine [, status_column]): the one BEFORE INSERT OR
// UPDATE trigger that checks status changes against coditect.state_transitions and stamps the
// transition's column (started_at, ended_at, ...). Machines are loaded once per transaction.
#include "pg_guard.hpp"
#include "state_machine.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
}

#include <map>
#include <string>

namespace {

// Per-transaction cache of machines; the xact id tells a stale cache.
std::map<std::string, coditect::StateMachine> g_machines;
TransactionId g_cache_xid = InvalidTransactionId;
SPIPlanPtr g_load_plan = nullptr;

const coditect::StateMachine& load_machine(const std::string& name) {
  TransactionId xid = GetTopTransactionId();
  if (xid != g_cache_xid) {
    g_machines.clear();
    g_cache_xid = xid;
  }
  auto found = g_machines.find(name);
  if (found != g_machines.end()) return found->second;

  coditect::StateMachine machine(name);
  coditect::pg::pg_call([&] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    if (!g_load_plan) {
      Oid types[1] = {TEXTOID};
      g_load_plan = SPI_prepare(
          "SELECT coalesce(from_status, ''), to_status, coalesce(stamp_column::text, '')"
          " FROM coditect.state_transitions WHERE machine = $1",
          1, types);
      if (!g_load_plan) elog(ERROR, "could not prepare the transition lookup");
      SPI_keepplan(g_load_plan);
    }
    Datum args[1] = {CStringGetTextDatum(name.c_str())};
    if (SPI_execute_plan(g_load_plan, args, nullptr, true, 0) != SPI_OK_SELECT) {
      elog(ERROR, "transition lookup failed");
    }
    for (uint64 i = 0; i < SPI_processed; ++i) {
      HeapTuple row = SPI_tuptable->vals[i];
      TupleDesc desc = SPI_tuptable->tupdesc;
      coditect::pg::fail_point("transition");
      machine.add(
          {SPI_getvalue(row, desc, 1), SPI_getvalue(row, desc, 2), SPI_getvalue(row, desc, 3)});
    }
    SPI_finish();
  });
  if (machine.empty()) {
    throw coditect::pg::UserError(ERRCODE_INTERNAL_ERROR,
                                  ("no state machine named \"" + name + "\"").c_str());
  }
  return g_machines.emplace(name, std::move(machine)).first->second;
}

}  // namespace

CODITECT_FUNCTION(coditect_enforce_transition) {
  using coditect::pg::pg_call;
  auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
      !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || trigdata->tg_trigger->tgnargs < 1) {
    elog(ERROR, "enforce_transition must be a BEFORE ROW trigger with a machine name");
  }
  const Trigger* trigger = trigdata->tg_trigger;
  const std::string machine_name = trigger->tgargs[0];
  const char* status_column = trigger->tgnargs > 1 ? trigger->tgargs[1] : "status";
  const bool is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
  Relation rel = trigdata->tg_relation;
  TupleDesc desc = RelationGetDescr(rel);
  HeapTuple new_tuple = is_update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;

  int status_att = 0;
  char* new_status = nullptr;
  char* old_status = nullptr;
  pg_call([&] {
    status_att = SPI_fnumber(desc, status_column);
    if (status_att <= 0) elog(ERROR, "table has no column \"%s\"", status_column);
    new_status = SPI_getvalue(new_tuple, desc, status_att);
    if (is_update) old_status = SPI_getvalue(trigdata->tg_trigtuple, desc, status_att);
  });
  if (!new_status) {
    throw coditect::pg::UserError(CODITECT_SQLSTATE('4', '2', '2'), "status must not be null");
  }
  if (is_update && old_status && strcmp(old_status, new_status) == 0) {
    return PointerGetDatum(new_tuple);
  }

  const coditect::StateMachine& machine = load_machine(machine_name);
  std::optional<std::string_view> from;
  if (is_update && old_status) from = old_status;
  const coditect::Transition* t = machine.find(from, new_status);
  if (!t) {
    throw coditect::pg::UserError(CODITECT_SQLSTATE('4', '2', '2'),
                                  machine.rejection(from, new_status).c_str());
  }
  if (t->stamp_column.empty()) return PointerGetDatum(new_tuple);

  HeapTuple stamped = nullptr;
  pg_call([&] {
    int col = SPI_fnumber(desc, t->stamp_column.c_str());
    if (col <= 0) elog(ERROR, "table has no column \"%s\"", t->stamp_column.c_str());
    Datum value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
    bool isnull = false;
    stamped = heap_modify_tuple_by_cols(new_tuple, desc, 1, &col, &value, &isnull);
  });
  return PointerGetDatum(stamped);
}
