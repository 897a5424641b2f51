// coditect_internal.enforce_transition(machine [, status_column]): the one BEFORE INSERT OR
// UPDATE trigger that checks status changes against coditect.state_transitions and stamps the
// transition's column (started_at, ended_at, ...). Machines are loaded once and kept until
// state_transitions changes (pg_table_cache.hpp).
#include "pg_context.hpp"
#include "pg_guard.hpp"
#include "pg_table_cache.hpp"
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

// Cache of machines; the table's epoch tells a stale cache.
std::map<std::string, coditect::StateMachine> g_machines;
uint64 g_cache_epoch = 0;
SPIPlanPtr g_load_plan = nullptr;

// The rows of one machine, copied out of SPI into the caller's memory context.
struct TransitionRows {
  const char* machine;
  uint64 count;
  char** from;  // "" for a start state
  char** to;
  char** stamp;  // "" for none
};

// A copy in the caller's memory context, which outlives SPI_finish().
char* copy_out_of_spi(const char* s) {
  auto* copy = static_cast<char*>(SPI_palloc(strlen(s) + 1));
  strcpy(copy, s);
  return copy;
}

// PostgreSQL half of load_machine (plain C, run under pg_call). The lookup may run inside a
// SECURITY DEFINER caller, so it is pinned to pg_catalog and fully qualified.
void read_transitions(void* arg) {
  auto* rows = static_cast<TransitionRows*>(arg);
  Oid types[1] = {TEXTOID};
  SPIPlanPtr plan = coditect::pg::kept_plan(
      &g_load_plan,
      "SELECT coalesce(t.from_status, ''), t.to_status,"
      " coalesce(CAST(t.stamp_column AS pg_catalog.text), '')"
      " FROM coditect.state_transitions t WHERE t.machine OPERATOR(pg_catalog.=) $1",
      1, types);
  Datum args[1] = {CStringGetTextDatum(rows->machine)};
  if (coditect::pg::table_cache_fill(plan, args, 0) != SPI_OK_SELECT) {
    elog(ERROR, "transition lookup failed");
  }
  rows->count = SPI_processed;
  rows->from = static_cast<char**>(SPI_palloc(sizeof(char*) * (SPI_processed + 1)));
  rows->to = static_cast<char**>(SPI_palloc(sizeof(char*) * (SPI_processed + 1)));
  rows->stamp = static_cast<char**>(SPI_palloc(sizeof(char*) * (SPI_processed + 1)));
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple row = SPI_tuptable->vals[i];
    TupleDesc desc = SPI_tuptable->tupdesc;
    rows->from[i] = copy_out_of_spi(SPI_getvalue(row, desc, 1));
    rows->to[i] = copy_out_of_spi(SPI_getvalue(row, desc, 2));
    rows->stamp[i] = copy_out_of_spi(SPI_getvalue(row, desc, 3));
  }
}

const coditect::StateMachine& load_machine(const std::string& name) {
  // Here, not only while loading: the machines now stay cached across transactions.
  coditect::pg::fail_point("transition");
  uint64 epoch =
      coditect::pg::pg_call(coditect::pg::table_cache_epoch, "coditect", "state_transitions");
  if (epoch != g_cache_epoch) {
    g_machines.clear();
    g_cache_epoch = epoch;
  }
  auto found = g_machines.find(name);
  if (found != g_machines.end()) return found->second;

  TransitionRows rows{name.c_str(), 0, nullptr, nullptr, nullptr};
  coditect::pg::pg_call(coditect::pg::spi_pinned, read_transitions, static_cast<void*>(&rows));
  coditect::StateMachine machine(name);
  for (uint64 i = 0; i < rows.count; ++i) {
    machine.add({rows.from[i], rows.to[i], rows.stamp[i]});
  }
  if (machine.empty()) {
    throw coditect::pg::UserError(ERRCODE_INTERNAL_ERROR,
                                  ("no state machine named \"" + name + "\"").c_str());
  }
  return g_machines.emplace(name, std::move(machine)).first->second;
}

}  // namespace

CODITECT_FUNCTION(coditect_enforce_transition) {
  using coditect::pg::pg_call;
  // PostgreSQL calls first, while no C++ object exists: their errors need no guard.
  auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
      !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || trigdata->tg_trigger->tgnargs < 1) {
    elog(ERROR, "enforce_transition must be a BEFORE ROW trigger with a machine name");
  }
  const Trigger* trigger = trigdata->tg_trigger;
  const char* status_column = trigger->tgnargs > 1 ? trigger->tgargs[1] : "status";
  const bool is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
  Relation rel = trigdata->tg_relation;
  TupleDesc desc = RelationGetDescr(rel);
  HeapTuple new_tuple = is_update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;

  int status_att = SPI_fnumber(desc, status_column);
  if (status_att <= 0) elog(ERROR, "table has no column \"%s\"", status_column);
  char* new_status = SPI_getvalue(new_tuple, desc, status_att);
  char* old_status = is_update ? SPI_getvalue(trigdata->tg_trigtuple, desc, status_att) : nullptr;
  if (!new_status) {
    throw coditect::pg::UserError(CODITECT_SQLSTATE('4', '2', '2'), "status must not be null");
  }
  if (is_update && old_status && strcmp(old_status, new_status) == 0) {
    return PointerGetDatum(new_tuple);
  }

  const coditect::StateMachine& machine = load_machine(trigger->tgargs[0]);
  std::optional<std::string_view> from;
  if (is_update && old_status) from = old_status;
  const coditect::Transition* t = machine.find(from, new_status);
  if (!t) {
    throw coditect::pg::UserError(CODITECT_SQLSTATE('4', '2', '2'),
                                  machine.rejection(from, new_status).c_str());
  }
  if (t->stamp_column.empty()) return PointerGetDatum(new_tuple);

  int col = SPI_fnumber(desc, t->stamp_column.c_str());
  if (col <= 0) {
    throw coditect::pg::UserError(ERRCODE_INTERNAL_ERROR,
                                  ("table has no column \"" + t->stamp_column + "\"").c_str());
  }
  Datum value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
  bool isnull = false;
  return PointerGetDatum(
      pg_call(heap_modify_tuple_by_cols, new_tuple, desc, 1, &col, &value, &isnull));
}
