// Request context of the current transaction, kept in backend memory. Set by
// coditect.set_request_context(), cleared when the transaction ends. A backend that has none
// reads the setting coditect.request (which the coordinator of a Citus cluster sets for its
// workers, and which any role can SET) and runs set_request_context's checks on it first: the
// setting is a request, never a proof (request_codec.hpp).
#pragma once

extern "C" {
#include "postgres.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/uuid.h"
}

namespace coditect::pg {

struct RequestContext {
  bool active = false;
  pg_uuid_t tenant_id{};
  pg_uuid_t user_id{};
  char user_role[16] = {};
  Datum client_ip = 0;  // inet, palloc'd in TopTransactionContext; 0 when absent
  char* user_agent = nullptr;
  char* request_method = nullptr;
  char* request_path = nullptr;
  char* request_id = nullptr;  // the gateway's, to join audit rows to its log lines
  int nest_level = 0;          // subtransaction level that set it
  // Filled from coditect.request (rather than by set_request_context in this backend): follows
  // the setting, checked again when it changes.
  bool from_setting = false;
  uint64 setting_version = 0;
  char* setting_text = nullptr;
};

// The transaction's context. With none yet and coditect.request set, fills it from the setting
// after set_request_context's checks, so it may read tables and raise their errors (CD400,
// CD403, 42501): call it where a PostgreSQL error may be raised.
const RequestContext& request_context();

// Whether Citus is loaded and installed in this database (answer kept for the transaction).
bool citus_present();

Oid relation_owner(Oid relid);

// Whether the session user and the current user are both a superuser or the owner of the
// extension's tables (maintenance code, never a client login). Needs a transaction.
bool is_maintainer();
Oid internal_relid(const char* schema, const char* name);

// Internal SPI work, independent of the caller's search_path: `fn(arg)` runs inside an SPI
// connection with search_path pinned to pg_catalog alone (no temp schema), so a name or an
// operator that a login created in a schema of its own can never be picked up. Statements
// still name every relation with its schema and compare with OPERATOR(pg_catalog.=); plans
// kept with SPI_keepplan must be prepared inside `fn` too, under the same pinned path.
// Plain PostgreSQL code: `fn` creates no C++ objects; call it directly or through pg_call().
// An error in `fn` is left to (sub)transaction abort, which ends the SPI connection, pops the
// pinned path (AtEOSubXact_Namespace) and restores the user (AbortSubTransaction).
void spi_pinned(void (*fn)(void*), void* arg);

// The plan of `sql` kept in `*slot` (prepared and SPI_keepplan'd on first use). Call it inside
// spi_pinned / spi_as_owner_of, so that the plan is made under the pinned path it runs under.
SPIPlanPtr kept_plan(SPIPlanPtr* slot, const char* sql, int nargs, Oid* argtypes);

// The same as the owner of schema.name (the extension's superuser owner), the way PostgreSQL's
// RI triggers run their queries, so internal reads and writes do not depend on the caller's
// grants; also a security-restricted operation (no SET ROLE, no temp tables inside).
void spi_as_owner_of(const char* schema, const char* name, void (*fn)(void*), void* arg);

// spi_as_owner_of for reads of distributed or reference tables that may run inside a shard
// query on a Citus node (the context checks on a worker): citus.allow_nested_distributed_execution
// is on for the block only, when Citus defines it.
void spi_as_owner_of_nested(const char* schema, const char* name, void (*fn)(void*), void* arg);

// citus.allow_nested_distributed_execution on until nested_execution_end(level), when Citus
// defines it (else returns 0 and does nothing), as a function's SET clause does: an error in
// between leaves it to the (sub)transaction's abort. For one SPI read inside a shard query.
int nested_execution_begin();
void nested_execution_end(int level);

}  // namespace coditect::pg
