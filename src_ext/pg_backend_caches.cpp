// The one invalidation trigger of the per-backend caches that outlive a transaction: the request
// context's checks (pg_context_cache.cpp) and the small catalog tables' epochs
// (pg_table_cache.cpp). Plain DML sends no relcache invalidation; this trigger, declared on every
// table such a cache reads by coditect_internal.declare_backend_cache_source() (sql/00_base.sql),
// queues one of its table, which PostgreSQL delivers at commit to every backend (to the writer at
// its next command, and again on rollback). Each cache's own relcache callback then keeps only
// the relations it reads.
#include "pg_guard.hpp"

extern "C" {
#include "commands/trigger.h"
#include "utils/inval.h"
}

// coditect_internal.invalidate_backend_caches(): BEFORE ... FOR EACH ROW, and AFTER TRUNCATE.
// Row-level because logical replication's apply worker fires row triggers only (and TRUNCATE's);
// PostgreSQL keeps one invalidation per table and command however many rows.
CODITECT_FUNCTION(coditect_invalidate_backend_caches) {
  if (!CALLED_AS_TRIGGER(fcinfo)) elog(ERROR, "invalidate_backend_caches() is a trigger");
  auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
  CacheInvalidateRelcache(trigger->tg_relation);
  if (!TRIGGER_FIRED_FOR_ROW(trigger->tg_event)) return PointerGetDatum(nullptr);
  return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple
                                                                    : trigger->tg_trigtuple);
}
