// Epochs of cached tables, moved on by relcache invalidations (see pg_table_cache.hpp).
#include "pg_table_cache.hpp"

#include "pg_context.hpp"
#include "pg_guard.hpp"

extern "C" {
#include "access/parallel.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace {

// The watched tables: few, so a linear scan.
constexpr int kMaxTables = 8;
struct Watched {
  char schema[NAMEDATALEN];
  char table[NAMEDATALEN];
  Oid relid;  // InvalidOid until looked up (again after a reset)
};
Watched g_watched[kMaxTables];
int g_count = 0;
// One epoch for all watched tables: a write to any of them refills every cache, which is
// cheap and keeps this simple (they are written at install and upgrade time).
uint64 g_epoch = 1;
bool g_registered = false;

void on_relcache_inval(Datum, Oid relid) {
  if (relid == InvalidOid) {  // everything, e.g. after an overflow of the queue
    ++g_epoch;
    for (int i = 0; i < g_count; ++i) g_watched[i].relid = InvalidOid;
    return;
  }
  for (int i = 0; i < g_count; ++i) {
    if (g_watched[i].relid == relid) {
      ++g_epoch;
      // The table may have been dropped and made again (DROP / CREATE EXTENSION).
      for (int k = 0; k < g_count; ++k) g_watched[k].relid = InvalidOid;
      return;
    }
  }
}

}  // namespace

namespace coditect::pg {

uint64 table_cache_epoch(const char* schema, const char* table) {
  if (citus_present()) return ++g_epoch;  // no cache on a Citus node (pg_table_cache.hpp)
  if (!g_registered) {
    CacheRegisterRelcacheCallback(on_relcache_inval, 0);
    g_registered = true;
  }
  Watched* w = nullptr;
  for (int i = 0; i < g_count && !w; ++i) {
    if (strcmp(g_watched[i].schema, schema) == 0 && strcmp(g_watched[i].table, table) == 0) {
      w = &g_watched[i];
    }
  }
  if (!w) {
    if (g_count == kMaxTables) elog(ERROR, "too many cached tables");
    w = &g_watched[g_count++];
    strlcpy(w->schema, schema, sizeof w->schema);
    strlcpy(w->table, table, sizeof w->table);
    w->relid = InvalidOid;
  }
  if (!OidIsValid(w->relid)) {
    // Watching starts with an epoch no cache was filled at.
    Oid relid = internal_relid(schema, table);
    ++g_epoch;
    w->relid = relid;
  }
  return g_epoch;
}

int table_cache_fill(SPIPlanPtr plan, Datum* values, long count) {
  if (citus_present()) {
    const int level = nested_execution_begin();
    const int rc = SPI_execute_plan(plan, values, nullptr, true, count);
    nested_execution_end(level);
    return rc;
  }
  // (A parallel worker cannot take a snapshot of its own: it keeps the leader's.)
  Snapshot latest = IsInParallelMode() ? InvalidSnapshot : GetLatestSnapshot();
  return SPI_execute_snapshot(plan, values, nullptr, latest, InvalidSnapshot, true, false, count);
}

}  // namespace coditect::pg
