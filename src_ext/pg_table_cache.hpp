// Backend caches of small, rarely written tables (permissions, role_permissions,
// state_transitions) that stay valid across transactions. Every write to such a table fires the
// trigger coditect_internal.invalidate_backend_caches() (pg_backend_caches.cpp), which queues a
// relcache invalidation of the table; PostgreSQL delivers it to every backend (this one at the
// next command, others at their next transaction start or lock), and the callback here moves the
// table's epoch on. A cache keeps the epoch it was filled at and refills when it moved.
// Not on a Citus node (citus_present()): there the tables are reference tables whose writes
// fire the trigger on each node's placement (coditect.role_permissions_102xxx), which names no
// table a cache watches, and other nodes' backends would get nothing. There every epoch is new
// (no cache: each call reads the table, as the request context's checks do there), and the
// read may run inside a shard query (a policy or a shard trigger on a worker).
// Shared helper (its own file): used by pg_license_seats.cpp and pg_transition.cpp.
#pragma once

extern "C" {
#include "postgres.h"

#include "executor/spi.h"
}

namespace coditect::pg {

// The epoch of coditect.<table> (or coditect_internal.<table>): changes whenever the table
// may have changed. Plain C: may raise a PostgreSQL error (catalog lookup).
uint64 table_cache_epoch(const char* schema, const char* table);

// Runs a saved read-only plan that fills such a cache, under the latest snapshot rather than the
// transaction's: under REPEATABLE READ the transaction's snapshot may predate a write whose
// invalidation was already taken in, and a row read from it would be kept under the new epoch
// (a revoked permission honoured until the next write). Read the epoch first, then this.
// On Citus (no cache) the transaction's snapshot, with nested distributed execution allowed
// for this read only.
// Returns SPI_execute_snapshot's code. Plain C: may raise a PostgreSQL error.
int table_cache_fill(SPIPlanPtr plan, Datum* values, long count);

}  // namespace coditect::pg
