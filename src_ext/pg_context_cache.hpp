// The checks behind coditect.set_request_context(), cached per backend: a user's active
// membership of a tenant, and whether the session user is a bound analyst.
//
// A cached answer stays true exactly as long as the rows it was read from are unchanged: a
// trigger on coditect.tenants, users, memberships and coditect_internal.analyst_bindings
// (coditect_internal.invalidate_backend_caches, pg_backend_caches.cpp) queues a
// relcache invalidation of its table, which PostgreSQL delivers at commit to every backend
// (and to the writer itself at once, and again on rollback). The relcache callback registered
// here then drops every cached answer. Plain DML sends no relcache invalidation of its own,
// hence the trigger.
//
// Not on a Citus node (citus_present()): there the rows live in shards, whose triggers fire on
// the node holding the shard (for the shard's relation, not the table read here), never on the
// coordinator nor on a node the shard moves away from and back to; so every check reads, from
// inside a shard query too (spi_as_owner_of_nested).
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/uuid.h"
}

namespace coditect::pg {

// From _PG_init: the relcache callback (once per backend).
void register_context_cache_callback();

// Reads the invalidations other backends have committed since this backend last did, so that
// a change committed before this call is never answered from the cache.
void context_cache_catch_up();

// The rank (context::role_rank) of `user`'s membership of `tenant` if it is unrevoked and the
// user and the tenant are active, else 0. Read as the owner of coditect.memberships on a miss.
int active_membership_rank(const pg_uuid_t& tenant, const pg_uuid_t& user);

// Whether `session_user` is bound to a tenant by coditect.bind_analyst(), and to which.
bool analyst_binding(Oid session_user, pg_uuid_t* tenant);

}  // namespace coditect::pg
