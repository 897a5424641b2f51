// Whether a tenant's workflows watch a resource: the WHEN condition of the event trigger on the
// audit trail (sql/54_workflows.sql). Every audited write of every tenant table passes here, so
// the answer comes from a per-backend cache of each tenant's watched resource types, read from
// coditect_internal.workflow_event_triggers on a miss and dropped whenever that table changes:
// workflow_events_changed() sends a relcache invalidation of it (transactional: other backends
// get it at commit, this one at the next command), and the callback clears the cache. A stale
// "watched" costs one trigger call that finds nothing; a stale "not watched" cannot outlive the
// invalidation. Plain PostgreSQL C (no C++ objects), so errors may longjmp through it.
#include "pg_context.hpp"

extern "C" {
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(coditect_workflow_events_watched);
PG_FUNCTION_INFO_V1(coditect_workflow_events_changed);
}

#include <cstring>

namespace {

constexpr int kSlots = 1024;      // tenants cached; the whole cache is dropped when 3/4 full
constexpr int kTypes = 8;         // resource types kept per tenant; more: every type counts
constexpr int kTypeLength = 100;  // audit_logs.resource_type is varchar(100)

struct Entry {
  bool used;
  bool all;  // more watched types than kTypes
  int count;
  pg_uuid_t tenant;
  char types[kTypes][kTypeLength + 1];
};

Entry g_cache[kSlots];
int g_used = 0;
Oid g_relid = InvalidOid;  // the subscriptions table, once known
bool g_callback = false;
SPIPlanPtr g_plan = nullptr;

void clear_cache() {
  memset(g_cache, 0, sizeof g_cache);
  g_used = 0;
}

// The table's oid is looked up again afterwards too: after DROP and CREATE EXTENSION (or a
// restore) it is another table, whose invalidations must be the ones heard.
void on_relcache(Datum, Oid relid) {
  if (relid == InvalidOid || relid == g_relid) {
    clear_cache();
    g_relid = InvalidOid;
  }
}

unsigned slot_of(const pg_uuid_t* t) {
  unsigned h = 2166136261u;
  for (int i = 0; i < UUID_LEN; ++i) h = (h ^ t->data[i]) * 16777619u;
  return h % kSlots;
}

struct Load {
  Entry* entry;
};

// As the table's owner, under the pinned search path (spi_as_owner_of).
void load(void* arg) {
  Entry* e = static_cast<Load*>(arg)->entry;
  Oid types[1] = {UUIDOID};
  SPIPlanPtr plan = coditect::pg::kept_plan(
      &g_plan,
      "SELECT DISTINCT t.resource_type FROM coditect_internal.workflow_event_triggers t"
      " WHERE t.tenant_id OPERATOR(pg_catalog.=) $1",
      1, types);
  Datum values[1] = {UUIDPGetDatum(&e->tenant)};
  if (SPI_execute_plan(plan, values, nullptr, true, 0) != SPI_OK_SELECT)
    elog(ERROR, "workflow event subscriptions lookup failed");
  e->count = 0;
  e->all = SPI_processed > static_cast<uint64>(kTypes);
  for (uint64 i = 0; i < SPI_processed && !e->all; ++i) {
    char* v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
    strlcpy(e->types[e->count++], v ? v : "", kTypeLength + 1);
  }
}

Entry g_uncached;  // the answer on a Citus node, read again on every call

Entry* lookup(const pg_uuid_t* tenant) {
  if (coditect::pg::citus_present()) {
    // On a Citus node this runs in the audit trigger of a shard, which the invalidation trigger
    // of the distributed table does not reach, and the read is a query on the tenant's colocated
    // shard of this node: uncached, with nested execution allowed for the read only.
    Entry fresh{};
    fresh.tenant = *tenant;
    Load arg{&fresh};
    coditect::pg::spi_as_owner_of_nested("coditect_internal", "workflow_event_triggers", load,
                                         &arg);
    g_uncached = fresh;
    return &g_uncached;
  }
  unsigned i = slot_of(tenant);
  while (g_cache[i].used) {
    if (memcmp(g_cache[i].tenant.data, tenant->data, UUID_LEN) == 0) return &g_cache[i];
    i = (i + 1) % kSlots;
  }
  if (g_used >= kSlots * 3 / 4) {
    clear_cache();
    i = slot_of(tenant);
  }
  // Read first, then mark the slot used: an error while reading leaves no half entry.
  Entry fresh{};
  fresh.tenant = *tenant;
  Load arg{&fresh};
  coditect::pg::spi_as_owner_of("coditect_internal", "workflow_event_triggers", load, &arg);
  fresh.used = true;
  g_cache[i] = fresh;
  ++g_used;
  return &g_cache[i];
}

void ensure_callback() {
  if (!g_callback) {
    CacheRegisterRelcacheCallback(on_relcache, (Datum)0);
    g_callback = true;
  }
  if (g_relid == InvalidOid) {
    g_relid = coditect::pg::internal_relid("coditect_internal", "workflow_event_triggers");
    clear_cache();  // entries read before the table was known are not trusted
  }
}

}  // namespace

// coditect_internal.workflow_events_watched(tenant uuid, resource_type text): whether an active
// workflow of the tenant has an event trigger on rows of that resource type.
extern "C" Datum coditect_workflow_events_watched(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_BOOL(false);
  pg_uuid_t* tenant = PG_GETARG_UUID_P(0);
  text* type = PG_GETARG_TEXT_PP(1);
  ensure_callback();
  Entry* e = lookup(tenant);
  if (e->all) PG_RETURN_BOOL(true);
  int len = VARSIZE_ANY_EXHDR(type);
  for (int i = 0; i < e->count; ++i) {
    if (static_cast<int>(strlen(e->types[i])) == len &&
        memcmp(e->types[i], VARDATA_ANY(type), len) == 0)
      PG_RETURN_BOOL(true);
  }
  PG_RETURN_BOOL(false);
}

// coditect_internal.workflow_events_changed(): after a change of the subscriptions, every
// backend's cache is dropped (at commit; this backend's at its next command).
extern "C" Datum coditect_workflow_events_changed(PG_FUNCTION_ARGS) {
  CacheInvalidateRelcacheByRelid(
      coditect::pg::internal_relid("coditect_internal", "workflow_event_triggers"));
  PG_RETURN_VOID();
}
