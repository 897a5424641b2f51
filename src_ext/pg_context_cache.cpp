// Per-backend cache of the membership and analyst-binding checks of set_request_context (see
// pg_context_cache.hpp for why it is never stale).
#include "pg_context_cache.hpp"

#include "pg_context.hpp"
#include "pg_guard.hpp"
#include "request_context_rules.hpp"

extern "C" {
#include "access/parallel.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
}

namespace coditect::pg {

namespace {

// Bumped by every invalidation of a watched table (and by a reset of all caches). An answer
// read under a snapshot is kept only if no bump happened since just before that snapshot was
// taken: a change the snapshot missed commits after it, so its invalidation bumps later.
uint64 g_generation = 1;

// coditect.tenants, users, memberships, coditect_internal.analyst_bindings; looked up again
// before every read, so that a re-created extension's tables are the ones watched.
constexpr int kWatched = 4;
Oid g_watched[kWatched] = {InvalidOid, InvalidOid, InvalidOid, InvalidOid};

void on_relcache_invalidation(Datum, Oid relid) {
  bool watched = relid == InvalidOid || !OidIsValid(g_watched[0]);
  for (int i = 0; i < kWatched && !watched; ++i) watched = g_watched[i] == relid;
  if (watched) ++g_generation;
}

void look_up_watched() {
  const Oid pub = get_namespace_oid("coditect", false);
  const Oid internal = get_namespace_oid("coditect_internal", false);
  g_watched[0] = get_relname_relid("tenants", pub);
  g_watched[1] = get_relname_relid("users", pub);
  g_watched[2] = get_relname_relid("memberships", pub);
  g_watched[3] = get_relname_relid("analyst_bindings", internal);
}

// Latest committed state, not the transaction's snapshot: an answer read under a REPEATABLE
// READ snapshot could predate an invalidation already consumed, and would then be kept stale.
// A parallel query (the leader reading a binding for current_tenant_id) cannot take a new
// snapshot: it reads under its own, and the answer is not kept.
Snapshot read_snapshot() { return IsInParallelMode() ? InvalidSnapshot : GetLatestSnapshot(); }

// Memberships: (tenant, user) -> rank of an active membership. Only positive answers are kept
// (a refusal costs a read), so the table holds no more than the memberships this backend
// served; past kMaxMembers it starts again empty.
struct MemberKey {
  pg_uuid_t tenant;
  pg_uuid_t user;
};
struct MemberEntry {
  MemberKey key;
  int rank;
};
constexpr long kMaxMembers = 10000;
HTAB* g_members = nullptr;
uint64 g_members_generation = 0;

HTAB* members_table() {
  if (g_members &&
      (g_members_generation != g_generation || hash_get_num_entries(g_members) >= kMaxMembers)) {
    hash_destroy(g_members);
    g_members = nullptr;
  }
  if (!g_members) {
    HASHCTL ctl{};
    ctl.keysize = sizeof(MemberKey);
    ctl.entrysize = sizeof(MemberEntry);
    g_members = hash_create("coditect membership checks", 256, &ctl, HASH_ELEM | HASH_BLOBS);
    g_members_generation = g_generation;
  }
  return g_members;
}

struct MemberRead {
  MemberKey key;
  bool kept;  // read under the latest snapshot
  int rank;
};
SPIPlanPtr g_member_plan = nullptr;

// Runs as the owner of coditect.memberships, under the pinned search path (spi_as_owner_of).
void read_membership(void* arg) {
  auto* read = static_cast<MemberRead*>(arg);
  Oid types[2] = {UUIDOID, UUIDOID};
  SPIPlanPtr plan = kept_plan(
      &g_member_plan,
      "SELECT m.role FROM coditect.memberships m"
      " JOIN coditect.users u ON u.tenant_id OPERATOR(pg_catalog.=) m.tenant_id"
      "  AND u.id OPERATOR(pg_catalog.=) m.user_id"
      " JOIN coditect.tenants t ON t.id OPERATOR(pg_catalog.=) m.tenant_id"
      " WHERE m.tenant_id OPERATOR(pg_catalog.=) $1 AND m.user_id OPERATOR(pg_catalog.=) $2"
      "  AND m.revoked_at IS NULL AND u.is_active AND t.is_active",
      2, types);
  Datum values[2] = {UUIDPGetDatum(&read->key.tenant), UUIDPGetDatum(&read->key.user)};
  Snapshot snapshot = read_snapshot();
  read->kept = snapshot != InvalidSnapshot;
  if (SPI_execute_snapshot(plan, values, nullptr, snapshot, InvalidSnapshot, true, false, 1) !=
      SPI_OK_SELECT) {
    elog(ERROR, "membership check failed");
  }
  read->rank = 0;
  if (SPI_processed == 1) {
    char* role = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    read->rank = role ? context::role_rank(role) : 0;
  }
}

// The session user's analyst binding, kept across transactions like the memberships.
struct Binding {
  uint64 generation = 0;
  Oid session_user = InvalidOid;
  bool bound = false;
  pg_uuid_t tenant{};
} g_binding;

struct BindingRead {
  Oid session_user;
  bool by_name;
  bool kept;
  bool bound;
  pg_uuid_t tenant;
};
SPIPlanPtr g_binding_plan = nullptr;
SPIPlanPtr g_binding_by_name_plan = nullptr;

// Runs as the owner of analyst_bindings (spi_as_owner_of).
void read_binding(void* arg) {
  auto* read = static_cast<BindingRead*>(arg);
  Oid types[1] = {OIDOID};
  SPIPlanPtr plan = kept_plan(&g_binding_plan,
                              "SELECT b.tenant_id FROM coditect_internal.analyst_bindings b"
                              " WHERE b.role_oid OPERATOR(pg_catalog.=) $1",
                              1, types);
  Datum values[1] = {ObjectIdGetDatum(read->session_user)};
  if (read->by_name) {
    // On Citus a role has another OID on every node (CREATE ROLE is replayed): the binding is
    // found by name there, and only for a member of coditect_analyst (which binding grants),
    // so that a role later created under a dropped bound role's name is not bound.
    plan = kept_plan(&g_binding_by_name_plan,
                     "SELECT b.tenant_id FROM coditect_internal.analyst_bindings b"
                     " JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) b.role_name"
                     " WHERE r.oid OPERATOR(pg_catalog.=) $1"
                     "  AND pg_catalog.pg_has_role(r.oid, 'coditect_analyst', 'MEMBER')",
                     1, types);
  }
  Snapshot snapshot = read_snapshot();
  read->kept = snapshot != InvalidSnapshot;
  if (SPI_execute_snapshot(plan, values, nullptr, snapshot, InvalidSnapshot, true, false, 1) !=
      SPI_OK_SELECT) {
    elog(ERROR, "analyst binding lookup failed");
  }
  read->bound = false;
  if (SPI_processed == 1) {
    bool isnull;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (!isnull) {
      read->bound = true;
      memcpy(&read->tenant, DatumGetUUIDP(d), sizeof(pg_uuid_t));
    }
  }
}

}  // namespace

void register_context_cache_callback() {
  CacheRegisterRelcacheCallback(on_relcache_invalidation, PointerGetDatum(nullptr));
}

void context_cache_catch_up() { AcceptInvalidationMessages(); }

int active_membership_rank(const pg_uuid_t& tenant, const pg_uuid_t& user) {
  MemberRead read{};
  read.key.tenant = tenant;
  read.key.user = user;
  if (citus_present()) {
    spi_as_owner_of_nested("coditect", "memberships", read_membership, &read);
    return read.rank;
  }
  bool found;
  auto* hit = static_cast<MemberEntry*>(hash_search(members_table(), &read.key, HASH_FIND, &found));
  if (found) return hit->rank;

  look_up_watched();
  const uint64 generation = g_generation;
  spi_as_owner_of("coditect", "memberships", read_membership, &read);
  if (read.rank > 0 && read.kept && generation == g_generation) {
    auto* entry =
        static_cast<MemberEntry*>(hash_search(members_table(), &read.key, HASH_ENTER, &found));
    entry->rank = read.rank;
  }
  return read.rank;
}

bool analyst_binding(Oid session_user, pg_uuid_t* tenant) {
  if (citus_present()) {
    BindingRead read{};
    read.session_user = session_user;
    read.by_name = true;
    spi_as_owner_of_nested("coditect_internal", "analyst_bindings", read_binding, &read);
    if (read.bound) *tenant = read.tenant;
    return read.bound;
  }
  if (g_binding.generation != g_generation || g_binding.session_user != session_user) {
    BindingRead read{};
    read.session_user = session_user;
    look_up_watched();
    const uint64 generation = g_generation;
    spi_as_owner_of("coditect_internal", "analyst_bindings", read_binding, &read);
    if (!read.kept || generation != g_generation) {
      if (read.bound) *tenant = read.tenant;
      return read.bound;
    }
    g_binding.generation = generation;
    g_binding.session_user = session_user;
    g_binding.bound = read.bound;
    g_binding.tenant = read.tenant;
  }
  if (g_binding.bound) *tenant = g_binding.tenant;
  return g_binding.bound;
}

}  // namespace coditect::pg
