// coditect_internal.stamp_timestamps(): the one BEFORE INSERT OR UPDATE trigger that owns
// created_at / updated_at, so no client can back-date or forge them.
#include "pg_guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/lsyscache.h"
}

CODITECT_FUNCTION(coditect_stamp_timestamps) {
  auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
      !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event)) {
    elog(ERROR, "stamp_timestamps must be a BEFORE ROW trigger");
  }
  Relation rel = trigdata->tg_relation;
  TupleDesc desc = RelationGetDescr(rel);
  const bool is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
  HeapTuple tuple = is_update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;

  int created = SPI_fnumber(desc, "created_at");
  int updated = SPI_fnumber(desc, "updated_at");
  int cols[2];
  Datum values[2];
  bool nulls[2] = {false, false};
  int n = 0;
  Datum now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
  if (created > 0) {
    cols[n] = created;
    if (is_update) {
      // created_at never changes after insert.
      values[n] = heap_getattr(trigdata->tg_trigtuple, created, desc, &nulls[n]);
    } else {
      values[n] = now;
    }
    ++n;
  }
  if (updated > 0) {
    cols[n] = updated;
    values[n] = now;
    ++n;
  }
  if (n == 0) return PointerGetDatum(tuple);
  return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, n, cols, values, nulls));
}
