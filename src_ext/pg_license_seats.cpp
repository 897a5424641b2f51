// Seat calls: coditect.license_acquire / license_heartbeat / license_release and the trigger
// that counts seats (coditect_internal.count_license_seats). One SPI connection per call, under
// a search_path pinned to pg_catalog (spi_pinned), with plans saved for the backend's life and
// always generic (no re-planning per call); every statement names its schema and its operators.
// The calls run with the caller's rights (row-level security applies) and filter by the
// request context's tenant; the trigger writes the counter as the table's owner.
//
// The PostgreSQL work of each call is plain C (the *_pg functions, run through pg_call), its
// errors raised with ereport; the C++ around it only parses the key and signs the token.
#include "license_key.hpp"
#include "license_token.hpp"
#include "pg_context.hpp"
#include "pg_guard.hpp"
#include "pg_license.hpp"
#include "pg_table_cache.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

#include <string>

namespace {

constexpr int kCD400 = CODITECT_SQLSTATE('4', '0', '0');
constexpr int kCD403 = CODITECT_SQLSTATE('4', '0', '3');
constexpr int kCD404 = CODITECT_SQLSTATE('4', '0', '4');
constexpr int kCD409 = CODITECT_SQLSTATE('4', '0', '9');
constexpr int kCD410 = CODITECT_SQLSTATE('4', '1', '0');
constexpr int kCD422 = CODITECT_SQLSTATE('4', '2', '2');

// ------------------------------------------------------------------------------------------
// Plain C helpers (run inside an SPI connection opened by spi_pinned / spi_as_owner_of)
// ------------------------------------------------------------------------------------------

// The plan of `sql` saved in `*slot`: prepared once per backend, always generic, so a call
// never plans (nor locks every index of the tables, as planning does).
SPIPlanPtr saved_plan(SPIPlanPtr* slot, const char* sql, int nargs, Oid* types) {
  if (!*slot) {
    SPIPlanPtr plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
    if (!plan) elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
    SPI_keepplan(plan);
    *slot = plan;
  }
  return *slot;
}

void execute(SPIPlanPtr plan, Datum* values, long count) {
  int rc = SPI_execute_plan(plan, values, nullptr, false, count);
  if (rc < 0) elog(ERROR, "seat statement failed: %s", SPI_result_code_string(rc));
}

Datum column(int n) {
  bool isnull;
  Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n, &isnull);
  if (isnull) elog(ERROR, "seat statement: column %d is null", n);
  return d;
}

// A copy of a text column in the caller's memory context (outlives SPI_finish).
char* text_column(int n) {
  text* t = DatumGetTextPP(column(n));
  int len = VARSIZE_ANY_EXHDR(t);
  char* out = static_cast<char*>(SPI_palloc(len + 1));
  memcpy(out, VARDATA_ANY(t), len);
  out[len] = '\0';
  return out;
}

// A copy of a column's text output (any type) in the caller's memory context.
char* output_column(int n) {
  char* v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n);
  if (v == nullptr) elog(ERROR, "seat statement: column %d is null", n);
  size_t len = strlen(v);
  char* out = static_cast<char*>(SPI_palloc(len + 1));
  memcpy(out, v, len + 1);
  return out;
}

TimestampTz now_ts() { return GetCurrentTransactionStartTimestamp(); }

TimestampTz overdue_before() {
  return now_ts() -
         static_cast<TimestampTz>(coditect::pg::license_session_ttl_seconds()) * USECS_PER_SEC;
}

Datum uuid_datum(const pg_uuid_t* u) { return UUIDPGetDatum(const_cast<pg_uuid_t*>(u)); }

// The request context's tenant and user (checked active by the caller).
struct Caller {
  pg_uuid_t tenant;
  pg_uuid_t user;
  const char* role;
};

SPIPlanPtr g_permission_plan = nullptr;

// has_permission's answers per (role, permission), kept across transactions until the
// permission tables change (pg_table_cache.hpp): the calls then read neither table.
struct HeldPermission {
  char role[16];
  char codename[64];
  bool held;
};
HeldPermission g_held[16];
int g_held_count = 0;
uint64 g_held_epoch = 0;

// coditect.has_permission(codename) for the request context's role.
bool has_permission(const Caller* c, const char* codename) {
  coditect::pg::table_cache_epoch("coditect", "permissions");
  uint64 epoch = coditect::pg::table_cache_epoch("coditect", "role_permissions");
  if (epoch != g_held_epoch) {
    g_held_count = 0;
    g_held_epoch = epoch;
  }
  for (int i = 0; i < g_held_count; ++i) {
    if (strcmp(g_held[i].role, c->role) == 0 && strcmp(g_held[i].codename, codename) == 0) {
      return g_held[i].held;
    }
  }
  Oid types[2] = {TEXTOID, TEXTOID};
  SPIPlanPtr plan =
      saved_plan(&g_permission_plan,
                 "SELECT EXISTS (SELECT 1 FROM coditect.role_permissions rp"
                 "                WHERE rp.permission_id OPERATOR(pg_catalog.=) p.id"
                 "                  AND CAST(rp.role AS pg_catalog.text) OPERATOR(pg_catalog.=) $2)"
                 "  FROM coditect.permissions p"
                 " WHERE CAST(p.codename AS pg_catalog.text) OPERATOR(pg_catalog.=) $1",
                 2, types);
  Datum values[2] = {CStringGetTextDatum(codename), CStringGetTextDatum(c->role)};
  int rc = coditect::pg::table_cache_fill(plan, values, 1);
  if (rc < 0) elog(ERROR, "seat statement failed: %s", SPI_result_code_string(rc));
  if (SPI_processed == 0) {
    ereport(ERROR, (errcode(kCD400), errmsg("unknown permission \"%s\"", codename)));
  }
  bool held = DatumGetBool(column(1));
  if (g_held_count < 16 && strlen(c->role) < sizeof g_held[0].role &&
      strlen(codename) < sizeof g_held[0].codename) {
    HeldPermission* h = &g_held[g_held_count++];
    strlcpy(h->role, c->role, sizeof h->role);
    strlcpy(h->codename, codename, sizeof h->codename);
    h->held = held;
  }
  return held;
}

void require_permission(const Caller* c, const char* codename) {
  if (!has_permission(c, codename)) {
    ereport(ERROR, (errcode(kCD403), errmsg("permission denied: %s needs a role that holds it "
                                            "(current role: %s)",
                                            codename, c->role)));
  }
}

// A license as the seat calls read it.
struct License {
  pg_uuid_t id;
  bool is_active;
  TimestampTz expiry;
  int seats_in_use;
  int seats_total;
  char* tier;
  char* features;  // JSON text
};

// The tier as the enum itself: its cast to text is STABLE (enum_out), which Citus refuses in the
// heartbeat's RETURNING; read_license makes its text.
#define LICENSE_COLUMNS                                              \
  "l.id, l.is_active, l.expiry_date, l.seats_in_use, l.seats_total," \
  " l.tier, CAST(CAST(l.features AS pg_catalog.jsonb) AS pg_catalog.text)"

// Columns 1-7 of the current row: LICENSE_COLUMNS.
void read_license(License* l) {
  memcpy(&l->id, DatumGetUUIDP(column(1)), sizeof(pg_uuid_t));
  l->is_active = DatumGetBool(column(2));
  l->expiry = DatumGetTimestampTz(column(3));
  l->seats_in_use = DatumGetInt32(column(4));
  l->seats_total = DatumGetInt32(column(5));
  l->tier = output_column(6);
  l->features = text_column(7);
}

SPIPlanPtr g_read_by_key_plan = nullptr;
SPIPlanPtr g_lock_by_id_plan = nullptr;
SPIPlanPtr g_refusal_plan = nullptr;
SPIPlanPtr g_zombify_plan = nullptr;
SPIPlanPtr g_active_on_machine_plan = nullptr;
SPIPlanPtr g_touch_plan = nullptr;
SPIPlanPtr g_insert_plan = nullptr;
SPIPlanPtr g_heartbeat_plan = nullptr;
SPIPlanPtr g_session_of_user_plan = nullptr;
SPIPlanPtr g_session_plan = nullptr;
SPIPlanPtr g_revive_plan = nullptr;
SPIPlanPtr g_release_lookup_plan = nullptr;
SPIPlanPtr g_end_plan = nullptr;
SPIPlanPtr g_count_plan = nullptr;

// The tenant's license by key, read without a lock.
bool license_by_key(const Caller* c, const char* key, License* l) {
  Oid types[2] = {UUIDOID, TEXTOID};
  SPIPlanPtr plan =
      saved_plan(&g_read_by_key_plan,
                 "SELECT " LICENSE_COLUMNS
                 " FROM coditect.licenses l"
                 " WHERE l.tenant_id OPERATOR(pg_catalog.=) $1"
                 "   AND CAST(l.key_string AS pg_catalog.text) OPERATOR(pg_catalog.=) $2",
                 2, types);
  Datum values[2] = {uuid_datum(&c->tenant), CStringGetTextDatum(key)};
  execute(plan, values, 1);
  if (SPI_processed == 0) return false;
  read_license(l);
  return true;
}

// The tenant's license by id, locked (waits for the lock).
bool lock_license(const Caller* c, const pg_uuid_t* id, License* l) {
  Oid types[2] = {UUIDOID, UUIDOID};
  SPIPlanPtr plan = saved_plan(&g_lock_by_id_plan,
                               "SELECT " LICENSE_COLUMNS
                               " FROM coditect.licenses l"
                               " WHERE l.tenant_id OPERATOR(pg_catalog.=) $1"
                               "   AND l.id OPERATOR(pg_catalog.=) $2 FOR UPDATE",
                               2, types);
  Datum values[2] = {uuid_datum(&c->tenant), uuid_datum(id)};
  execute(plan, values, 1);
  if (SPI_processed == 0) return false;
  read_license(l);
  return true;
}

// to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), as the message always said.
char* utc_minute(TimestampTz t) {
  if (TIMESTAMP_NOT_FINITE(t)) return pstrdup("<NULL>");
  struct pg_tm tm;
  fsec_t fsec;
  if (timestamp2tm(t, nullptr, &tm, &fsec, nullptr, nullptr) != 0) return pstrdup("<NULL>");
  return psprintf("%04d-%02d-%02d %02d:%02d UTC", tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour,
                  tm.tm_min);
}

// A locked license may be used: active and not expired.
void check_usable(const License* l) {
  if (!l->is_active) {
    ereport(ERROR, (errcode(kCD403), errmsg("the license is inactive")));
  }
  if (l->expiry <= now_ts()) {
    ereport(ERROR, (errcode(kCD410), errmsg("the license expired on %s", utc_minute(l->expiry))));
  }
}

// Turns the locked license's overdue active sessions into zombies; the trigger frees their seats
// (the counter on the locked row drops by as many).
void zombify_overdue(const Caller* c, License* l) {
  Oid types[3] = {UUIDOID, UUIDOID, TIMESTAMPTZOID};
  SPIPlanPtr plan = saved_plan(
      &g_zombify_plan,
      "UPDATE coditect.license_sessions AS s"
      "   SET status = CAST('zombie' AS coditect.license_session_status)"
      " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.license_id OPERATOR(pg_catalog.=) $2"
      "   AND s.status OPERATOR(pg_catalog.=) CAST('active' AS coditect.license_session_status)"
      "   AND s.last_heartbeat_at OPERATOR(pg_catalog.<) $3",
      3, types);
  Datum values[3] = {uuid_datum(&c->tenant), uuid_datum(&l->id),
                     TimestampTzGetDatum(overdue_before())};
  execute(plan, values, 0);
  l->seats_in_use -= static_cast<int>(SPI_processed);
}

// The active session of this license on this machine: false if none, else its id and user.
bool active_on_machine(const Caller* c, const pg_uuid_t* license, Datum hardware_id,
                       pg_uuid_t* session, pg_uuid_t* user) {
  Oid types[3] = {UUIDOID, UUIDOID, TEXTOID};
  SPIPlanPtr plan = saved_plan(
      &g_active_on_machine_plan,
      "SELECT s.id, s.user_id FROM coditect.license_sessions s"
      " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.license_id OPERATOR(pg_catalog.=) $2"
      "   AND CAST(s.hardware_id AS pg_catalog.text) OPERATOR(pg_catalog.=) $3"
      "   AND s.status OPERATOR(pg_catalog.=) CAST('active' AS coditect.license_session_status)",
      3, types);
  Datum values[3] = {uuid_datum(&c->tenant), uuid_datum(license), hardware_id};
  execute(plan, values, 1);
  if (SPI_processed == 0) return false;
  memcpy(session, DatumGetUUIDP(column(1)), sizeof(pg_uuid_t));
  memcpy(user, DatumGetUUIDP(column(2)), sizeof(pg_uuid_t));
  return true;
}

void touch_session(const Caller* c, const pg_uuid_t* session) {
  Oid types[3] = {UUIDOID, UUIDOID, TIMESTAMPTZOID};
  SPIPlanPtr plan =
      saved_plan(&g_touch_plan,
                 "UPDATE coditect.license_sessions AS s SET last_heartbeat_at = $3"
                 " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2",
                 3, types);
  Datum values[3] = {uuid_datum(&c->tenant), uuid_datum(session), TimestampTzGetDatum(now_ts())};
  execute(plan, values, 0);
}

bool same_uuid(const pg_uuid_t* a, const pg_uuid_t* b) {
  return memcmp(a, b, sizeof(pg_uuid_t)) == 0;
}

// ------------------------------------------------------------------------------------------
// license_acquire
// ------------------------------------------------------------------------------------------

struct Acquire {
  const Caller* caller;
  const char* key;        // canonical key; nullptr for a NULL argument
  const char* key_error;  // why the key was refused, raised after the permission check
  Datum hardware_id;      // text, or 0 for NULL
  Datum client_ip;        // inet, or 0 for NULL
  Datum user_agent;       // text, or 0 for NULL
  License license;        // out: the license, seats_in_use as after this call
  pg_uuid_t session;      // out
};

void no_free_seat(const License* l) {
  ereport(ERROR, (errcode(kCD409),
                  errmsg("no free seat: %d of %d seats in use", l->seats_in_use, l->seats_total)));
}

void acquire_pg(void* arg) {
  auto* a = static_cast<Acquire*>(arg);
  const Caller* c = a->caller;
  require_permission(c, "license.use");
  if (a->key_error) ereport(ERROR, (errcode(kCD400), errmsg("%s", a->key_error)));
  if (a->hardware_id == 0 ||
      DatumGetBool(DirectFunctionCall2Coll(textregexne, DEFAULT_COLLATION_OID, a->hardware_id,
                                           CStringGetTextDatum("\\S"))) ||
      DatumGetInt32(DirectFunctionCall1(textlen, a->hardware_id)) > 255) {
    ereport(ERROR, (errcode(kCD400), errmsg("hardware id must be 1 to 255 characters")));
  }
  License* l = &a->license;
  // The license row lock serialises the license's acquirers. A read without it first refuses
  // a full license, so that a crowd at a full license neither queues in front of its seat
  // holders' heartbeats and releases nor holds the lock while being refused (taking the lock
  // first, when free, starved the holders of a hot license). Only a refusal is decided
  // without the lock; a seat is only ever taken under it, by the license's primary key.
  if (!a->key || !license_by_key(c, a->key, l)) {
    ereport(ERROR, (errcode(kCD404), errmsg("unknown license key")));
  }
  if (l->is_active && l->expiry > now_ts() && l->seats_in_use >= l->seats_total) {
    Oid types[4] = {UUIDOID, UUIDOID, TEXTOID, TIMESTAMPTZOID};
    // A row or none, not SELECT EXISTS (...): Citus cannot route a generic plan's subquery.
    SPIPlanPtr plan = saved_plan(
        &g_refusal_plan,
        "SELECT 1 FROM coditect.license_sessions s"
        " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1"
        "   AND s.license_id OPERATOR(pg_catalog.=) $2"
        "   AND s.status OPERATOR(pg_catalog.=) CAST('active' AS coditect.license_session_status)"
        "   AND (CAST(s.hardware_id AS pg_catalog.text) OPERATOR(pg_catalog.=) $3"
        "        OR s.last_heartbeat_at OPERATOR(pg_catalog.<) $4)"
        " LIMIT 1",
        4, types);
    Datum values[4] = {uuid_datum(&c->tenant), uuid_datum(&l->id), a->hardware_id,
                       TimestampTzGetDatum(overdue_before())};
    execute(plan, values, 1);
    if (SPI_processed == 0) no_free_seat(l);
  }
  pg_uuid_t id = l->id;
  if (!lock_license(c, &id, l)) {
    ereport(ERROR, (errcode(kCD404), errmsg("unknown license key")));
  }
  check_usable(l);
  zombify_overdue(c, l);

  pg_uuid_t holder;
  if (active_on_machine(c, &l->id, a->hardware_id, &a->session, &holder)) {
    if (!same_uuid(&holder, &c->user)) {
      ereport(ERROR, (errcode(kCD409), errmsg("this machine holds a session of another user on "
                                              "this license")));
    }
    touch_session(c, &a->session);
    return;
  }
  if (l->seats_in_use >= l->seats_total) no_free_seat(l);
  Oid types[6] = {UUIDOID, UUIDOID, UUIDOID, TEXTOID, INETOID, TEXTOID};
  SPIPlanPtr plan =
      saved_plan(&g_insert_plan,
                 "INSERT INTO coditect.license_sessions"
                 " (tenant_id, license_id, user_id, hardware_id, ip_address, user_agent)"
                 " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                 6, types);
  Datum agent = a->user_agent ? DirectFunctionCall2(text_left, a->user_agent, Int32GetDatum(500))
                              : CStringGetTextDatum("");
  Datum values[6] = {uuid_datum(&c->tenant), uuid_datum(&l->id), uuid_datum(&c->user),
                     a->hardware_id,         a->client_ip,       agent};
  char nulls[6] = {' ', ' ', ' ', ' ', a->client_ip ? ' ' : 'n', ' '};
  int rc = SPI_execute_plan(plan, values, nulls, false, 1);
  if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1) elog(ERROR, "session insert failed");
  memcpy(&a->session, DatumGetUUIDP(column(1)), sizeof(pg_uuid_t));
  l->seats_in_use += 1;
}

// ------------------------------------------------------------------------------------------
// license_heartbeat
// ------------------------------------------------------------------------------------------

struct Heartbeat {
  const Caller* caller;
  Datum session;  // uuid, or 0 for NULL
  License license;
  char* hardware_id;  // out
};

void unknown_session() { ereport(ERROR, (errcode(kCD404), errmsg("unknown license session"))); }

void session_ended() {
  ereport(ERROR, (errcode(kCD410), errmsg("the license session has ended; acquire a new one")));
}

void heartbeat_pg(void* arg) {
  auto* h = static_cast<Heartbeat*>(arg);
  const Caller* c = h->caller;
  require_permission(c, "license.use");
  if (h->session == 0) unknown_session();
  License* l = &h->license;
  // A live session of a usable license keeps its seat: extending it needs no license lock
  // (the seat count does not change), and one statement checks and extends it.
  {
    Oid types[5] = {UUIDOID, UUIDOID, UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
    SPIPlanPtr plan = saved_plan(
        &g_heartbeat_plan,
        "UPDATE coditect.license_sessions AS s SET last_heartbeat_at = $4"
        "  FROM coditect.licenses l"
        " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2"
        "   AND s.user_id OPERATOR(pg_catalog.=) $3"
        "   AND s.status OPERATOR(pg_catalog.=) CAST('active' AS coditect.license_session_status)"
        "   AND s.last_heartbeat_at OPERATOR(pg_catalog.>=) $5"
        "   AND l.tenant_id OPERATOR(pg_catalog.=) s.tenant_id"
        "   AND l.id OPERATOR(pg_catalog.=) s.license_id"
        "   AND l.is_active AND l.expiry_date OPERATOR(pg_catalog.>) $4"
        " RETURNING " LICENSE_COLUMNS ", CAST(s.hardware_id AS pg_catalog.text)",
        5, types);
    Datum values[5] = {uuid_datum(&c->tenant), h->session, uuid_datum(&c->user),
                       TimestampTzGetDatum(now_ts()), TimestampTzGetDatum(overdue_before())};
    execute(plan, values, 0);
    if (SPI_processed == 1) {
      read_license(l);
      h->hardware_id = text_column(8);
      return;
    }
  }

  // Another user's session is unknown to the caller.
  Oid types[3] = {UUIDOID, UUIDOID, UUIDOID};
  SPIPlanPtr plan = saved_plan(&g_session_of_user_plan,
                               "SELECT s.license_id FROM coditect.license_sessions s"
                               " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1"
                               "   AND s.id OPERATOR(pg_catalog.=) $2"
                               "   AND s.user_id OPERATOR(pg_catalog.=) $3",
                               3, types);
  Datum values[3] = {uuid_datum(&c->tenant), h->session, uuid_datum(&c->user)};
  execute(plan, values, 1);
  if (SPI_processed == 0) unknown_session();
  pg_uuid_t license_id;
  memcpy(&license_id, DatumGetUUIDP(column(1)), sizeof(pg_uuid_t));

  // A lapsed session (or an unusable license): decide under the license lock.
  if (!lock_license(c, &license_id, l)) {
    ereport(ERROR, (errcode(kCD404), errmsg("unknown license")));
  }
  check_usable(l);
  zombify_overdue(c, l);
  plan =
      saved_plan(&g_session_plan,
                 "SELECT CAST(s.status AS pg_catalog.text), CAST(s.hardware_id AS pg_catalog.text)"
                 "  FROM coditect.license_sessions s"
                 " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2",
                 2, types);
  execute(plan, values, 1);
  if (SPI_processed == 0) unknown_session();
  char* status = text_column(1);
  h->hardware_id = text_column(2);
  pg_uuid_t session;
  memcpy(&session, DatumGetUUIDP(h->session), sizeof(pg_uuid_t));
  if (strcmp(status, "ended") == 0) session_ended();
  if (strcmp(status, "zombie") == 0) {
    if (l->seats_in_use >= l->seats_total) {
      ereport(ERROR, (errcode(kCD409),
                      errmsg("the session lapsed and no seat is free to revive it: %d of %d seats "
                             "in use",
                             l->seats_in_use, l->seats_total)));
    }
    pg_uuid_t other, holder;
    if (active_on_machine(c, &l->id, CStringGetTextDatum(h->hardware_id), &other, &holder)) {
      ereport(ERROR, (errcode(kCD409),
                      errmsg("the session lapsed and this machine holds a newer session")));
    }
    Oid revive_types[3] = {UUIDOID, UUIDOID, TIMESTAMPTZOID};
    SPIPlanPtr revive = saved_plan(
        &g_revive_plan,
        "UPDATE coditect.license_sessions AS s"
        "   SET status = CAST('active' AS coditect.license_session_status), last_heartbeat_at = $3"
        " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2",
        3, revive_types);
    Datum revive_values[3] = {uuid_datum(&c->tenant), h->session, TimestampTzGetDatum(now_ts())};
    execute(revive, revive_values, 0);
    l->seats_in_use += 1;
  } else {
    touch_session(c, &session);
  }
}

// ------------------------------------------------------------------------------------------
// license_release
// ------------------------------------------------------------------------------------------

struct Release {
  const Caller* caller;
  Datum session;  // uuid, or 0 for NULL
};

void release_pg(void* arg) {
  auto* r = static_cast<Release*>(arg);
  const Caller* c = r->caller;
  require_permission(c, "license.use");
  if (r->session == 0) unknown_session();
  Oid types[2] = {UUIDOID, UUIDOID};
  SPIPlanPtr lookup = saved_plan(&g_release_lookup_plan,
                                 "SELECT s.license_id, s.user_id FROM coditect.license_sessions s"
                                 " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1"
                                 "   AND s.id OPERATOR(pg_catalog.=) $2",
                                 2, types);
  Datum values[2] = {uuid_datum(&c->tenant), r->session};
  execute(lookup, values, 1);
  if (SPI_processed == 0) unknown_session();
  pg_uuid_t license_id, user;
  memcpy(&license_id, DatumGetUUIDP(column(1)), sizeof(pg_uuid_t));
  memcpy(&user, DatumGetUUIDP(column(2)), sizeof(pg_uuid_t));
  // A user releases their own sessions; an administrator (license.manage) any of the tenant.
  if (!same_uuid(&user, &c->user) && !has_permission(c, "license.manage")) unknown_session();
  // Same lock order as acquire (license, then session).
  License l;
  lock_license(c, &license_id, &l);
  SPIPlanPtr end = saved_plan(
      &g_end_plan,
      "UPDATE coditect.license_sessions AS s"
      "   SET status = CAST('ended' AS coditect.license_session_status)"
      " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2"
      "   AND s.status OPERATOR(pg_catalog.<>) CAST('ended' AS coditect.license_session_status)",
      2, types);
  execute(end, values, 0);
}

// ------------------------------------------------------------------------------------------
// The answer of acquire and heartbeat
// ------------------------------------------------------------------------------------------

struct Answer {
  pg_uuid_t session;
  const License* license;
  const char* hardware_id;
  TimestampTz deadline;
  const char* token;
};

char* uuid_text(const pg_uuid_t* u) {
  return DatumGetCString(DirectFunctionCall1(uuid_out, uuid_datum(u)));
}

void add_key(StringInfo b, const char* key) {
  if (b->len > 1) appendStringInfoString(b, ", ");
  escape_json(b, key);
  appendStringInfoString(b, ": ");
}

void add_time(StringInfo b, const char* key, TimestampTz t) {
  add_key(b, key);
  appendStringInfoChar(b, '"');
  appendStringInfoString(
      b, JsonEncodeDateTime(nullptr, TimestampTzGetDatum(t), TIMESTAMPTZOID, nullptr));
  appendStringInfoChar(b, '"');
}

// The jsonb the PL/pgSQL versions built with jsonb_build_object (same keys and values).
Datum answer_jsonb(const Answer* a) {
  const License* l = a->license;
  StringInfoData b;
  initStringInfo(&b);
  appendStringInfoChar(&b, '{');
  add_key(&b, "session_id");
  escape_json(&b, uuid_text(&a->session));
  add_key(&b, "license_id");
  escape_json(&b, uuid_text(&l->id));
  add_key(&b, "status");
  escape_json(&b, "active");
  add_key(&b, "hardware_id");
  escape_json(&b, a->hardware_id);
  add_key(&b, "tier");
  escape_json(&b, l->tier);
  add_key(&b, "features");
  appendStringInfoString(&b, l->features);
  add_key(&b, "seats_used");
  appendStringInfo(&b, "%d", l->seats_in_use);
  add_key(&b, "seats_total");
  appendStringInfo(&b, "%d", l->seats_total);
  add_time(&b, "heartbeat_deadline", a->deadline);
  add_time(&b, "license_expires_at", l->expiry);
  add_key(&b, "token");
  escape_json(&b, a->token);
  appendStringInfoChar(&b, '}');
  return DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data));
}

std::int64_t unix_seconds(TimestampTz ts) {
  return ts / USECS_PER_SEC + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

// Signs once and builds the answer: the session's claims, valid until the heartbeat deadline
// or the license's expiry, whichever is first.
Datum answer(const Caller& c, const pg_uuid_t& session, const License& l, const char* hardware_id) {
  using coditect::pg::pg_call;
  TimestampTz now = now_ts();
  TimestampTz deadline =
      now + static_cast<TimestampTz>(coditect::pg::license_session_ttl_seconds()) * USECS_PER_SEC;
  coditect::license_token::Claims claims;
  claims.license_id = pg_call(uuid_text, &l.id);
  claims.tenant_id = pg_call(uuid_text, &c.tenant);
  claims.session_id = pg_call(uuid_text, &session);
  claims.tier = l.tier;
  claims.features = coditect::license_token::parse_features(l.features);
  claims.hardware_id = hardware_id;
  claims.issued_at = unix_seconds(now);
  claims.expires_at = unix_seconds(deadline < l.expiry ? deadline : l.expiry);
  std::string token = coditect::pg::sign_license_token(claims);
  Answer a{session, &l, hardware_id, deadline, token.c_str()};
  return pg_call(answer_jsonb, static_cast<const Answer*>(&a));
}

// The request context, or CD403 (the seat calls need one).
Caller caller() {
  const auto& ctx = coditect::pg::request_context();
  if (!ctx.active) {
    throw coditect::pg::UserError(kCD403,
                                  "no request context: call coditect.set_request_context first");
  }
  return Caller{ctx.tenant_id, ctx.user_id, ctx.user_role};
}

char* text_copy(Datum t) { return text_to_cstring(DatumGetTextPP(t)); }

// ------------------------------------------------------------------------------------------
// The seat counter: licenses.seats_in_use = the license's active sessions
// ------------------------------------------------------------------------------------------

struct SeatDelta {
  Datum tenant;
  Datum license;
  int delta;
};

// As the owner of licenses (clients hold no privilege on seats_in_use). The row lock this
// takes serialises concurrent writers of the license's sessions, and the CHECK on licenses
// refuses a seat past seats_total.
void count_seats_as_owner(void* arg) {
  auto* d = static_cast<SeatDelta*>(arg);
  Oid types[3] = {UUIDOID, UUIDOID, INT4OID};
  SPIPlanPtr plan =
      saved_plan(&g_count_plan,
                 "UPDATE coditect.licenses AS l"
                 "   SET seats_in_use = l.seats_in_use OPERATOR(pg_catalog.+) $3"
                 " WHERE l.tenant_id OPERATOR(pg_catalog.=) $1 AND l.id OPERATOR(pg_catalog.=) $2",
                 3, types);
  Datum values[3] = {d->tenant, d->license, Int32GetDatum(d->delta)};
  execute(plan, values, 0);
}

// ------------------------------------------------------------------------------------------
// The session guard: a session belongs to the user who acquired it
// ------------------------------------------------------------------------------------------

// The row's columns equal but for `except` (binary images, NULL equal to NULL): what
// to_jsonb(NEW) - except = to_jsonb(OLD) - except said for these column types.
bool same_but(TupleDesc desc, HeapTuple a, HeapTuple b, const char* const* except, int n) {
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (att->attisdropped) continue;
    bool skip = false;
    for (int k = 0; k < n && !skip; ++k) skip = strcmp(NameStr(att->attname), except[k]) == 0;
    if (skip) continue;
    bool null_a, null_b;
    Datum da = heap_getattr(a, i + 1, desc, &null_a);
    Datum db = heap_getattr(b, i + 1, desc, &null_b);
    if (null_a != null_b) return false;
    if (!null_a && !datum_image_eq(da, db, att->attbyval, att->attlen)) return false;
  }
  return true;
}

struct GuardCheck {
  const Caller* caller;  // nullptr: no request context
  const char* permission;
  Datum tenant;
  Datum user;
  bool result;
};

void has_permission_pinned(void* arg) {
  auto* g = static_cast<GuardCheck*>(arg);
  g->result = has_permission(g->caller, g->permission);
}

SPIPlanPtr g_user_exists_plan = nullptr;

void user_exists_pinned(void* arg) {
  auto* g = static_cast<GuardCheck*>(arg);
  Oid types[2] = {UUIDOID, UUIDOID};
  SPIPlanPtr plan = saved_plan(&g_user_exists_plan,
                               "SELECT EXISTS (SELECT 1 FROM coditect.users u"
                               " WHERE u.tenant_id OPERATOR(pg_catalog.=) $1"
                               "   AND u.id OPERATOR(pg_catalog.=) $2)",
                               2, types);
  Datum values[2] = {g->tenant, g->user};
  execute(plan, values, 1);
  g->result = DatumGetBool(column(1));
}

bool guard_has_permission(const Caller* c, const char* codename) {
  GuardCheck g{c, codename, 0, 0, false};
  coditect::pg::spi_pinned(has_permission_pinned, &g);
  return g.result;
}

bool status_is(HeapTuple row, TupleDesc desc, int att, const char* status) {
  char* value = SPI_getvalue(row, desc, att);
  return value && strcmp(value, status) == 0;
}

}  // namespace

// coditect.license_acquire(key, hardware_id, client_ip, user_agent): a seat of the tenant's
// license for this machine (its own active session again if it has one), with a signed token.
CODITECT_FUNCTION(coditect_license_acquire) {
  using coditect::pg::pg_call;
  Caller c = caller();
  Acquire a{};
  a.caller = &c;
  a.hardware_id = PG_ARGISNULL(1) ? 0 : PG_GETARG_DATUM(1);
  a.client_ip = PG_ARGISNULL(2) ? 0 : PG_GETARG_DATUM(2);
  a.user_agent = PG_ARGISNULL(3) ? 0 : PG_GETARG_DATUM(3);
  std::string key;
  if (!PG_ARGISNULL(0)) {
    char* raw = pg_call(text_copy, PG_GETARG_DATUM(0));
    auto parsed = coditect::license_key::parse(raw);
    switch (parsed.status) {
      case coditect::license_key::Status::Valid:
        key = parsed.canonical;
        a.key = key.c_str();
        break;
      case coditect::license_key::Status::BadCheck:
        a.key_error = "license key check failed: the key is mistyped";
        break;
      case coditect::license_key::Status::Malformed:
        a.key_error = "not a license key: expected CODITECT-XXXX-XXXX-XXXX";
        break;
    }
  }
  pg_call(coditect::pg::spi_pinned, acquire_pg, static_cast<void*>(&a));
  const char* hardware_id = pg_call(text_copy, a.hardware_id);
  return answer(c, a.session, a.license, hardware_id);
}

// coditect.license_heartbeat(session): keeps the caller's seat (reviving a lapsed session when a
// seat is free), with a fresh deadline and token.
CODITECT_FUNCTION(coditect_license_heartbeat) {
  using coditect::pg::pg_call;
  Caller c = caller();
  Heartbeat h{};
  h.caller = &c;
  h.session = PG_ARGISNULL(0) ? 0 : PG_GETARG_DATUM(0);
  pg_call(coditect::pg::spi_pinned, heartbeat_pg, static_cast<void*>(&h));
  return answer(c, *DatumGetUUIDP(h.session), h.license, h.hardware_id);
}

// coditect.license_release(session): ends the session and frees its seat; releasing an ended
// session again does nothing.
CODITECT_FUNCTION(coditect_license_release) {
  using coditect::pg::pg_call;
  Caller c = caller();
  Release r{&c, PG_ARGISNULL(0) ? 0 : PG_GETARG_DATUM(0)};
  pg_call(coditect::pg::spi_pinned, release_pg, static_cast<void*>(&r));
  PG_RETURN_VOID();
}

// coditect_internal.count_license_seats(): AFTER INSERT OR UPDATE OF status, license_id,
// tenant_id OR DELETE on license_sessions; keeps licenses.seats_in_use.
CODITECT_FUNCTION(coditect_count_license_seats) {
  auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
      !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event)) {
    elog(ERROR, "count_license_seats must be an AFTER ROW trigger");
  }
  TupleDesc desc = RelationGetDescr(trigdata->tg_relation);
  const int tenant_att = SPI_fnumber(desc, "tenant_id");
  const int license_att = SPI_fnumber(desc, "license_id");
  const int status_att = SPI_fnumber(desc, "status");
  if (tenant_att <= 0 || license_att <= 0 || status_att <= 0) {
    elog(ERROR, "count_license_seats: not a license_sessions table");
  }
  HeapTuple old_row =
      TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ? nullptr : trigdata->tg_trigtuple;
  HeapTuple new_row = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event)   ? trigdata->tg_trigtuple
                      : TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple
                                                                    : nullptr;
  bool isnull;
  if (old_row && new_row) {
    Datum ot = SPI_getbinval(old_row, desc, tenant_att, &isnull);
    Datum nt = SPI_getbinval(new_row, desc, tenant_att, &isnull);
    Datum ol = SPI_getbinval(old_row, desc, license_att, &isnull);
    Datum nl = SPI_getbinval(new_row, desc, license_att, &isnull);
    if (!same_uuid(DatumGetUUIDP(ot), DatumGetUUIDP(nt)) ||
        !same_uuid(DatumGetUUIDP(ol), DatumGetUUIDP(nl))) {
      ereport(ERROR, (errcode(kCD422), errmsg("a license session cannot move to another license")));
    }
  }
  SeatDelta d{0, 0, 0};
  if (old_row) {
    char* status = SPI_getvalue(old_row, desc, status_att);
    if (status && strcmp(status, "active") == 0) {
      d.delta -= 1;
      d.tenant = SPI_getbinval(old_row, desc, tenant_att, &isnull);
      d.license = SPI_getbinval(old_row, desc, license_att, &isnull);
    }
  }
  if (new_row) {
    char* status = SPI_getvalue(new_row, desc, status_att);
    if (status && strcmp(status, "active") == 0) {
      d.delta += 1;
      d.tenant = SPI_getbinval(new_row, desc, tenant_att, &isnull);
      d.license = SPI_getbinval(new_row, desc, license_att, &isnull);
    }
  }
  if (d.delta != 0) {
    coditect::pg::spi_as_owner_of("coditect", "licenses", count_seats_as_owner, &d);
  }
  return PointerGetDatum(nullptr);
}

// coditect_internal.guard_license_session(): BEFORE INSERT OR UPDATE OR DELETE on license_sessions.
// A session belongs to the user who acquired it: nobody else heartbeats it (and receives its
// signed token), revives, takes over or deletes it. Two changes are allowed on another user's
// session: zombifying it once overdue (any acquire of the license does that), and an
// administrator (license.manage) ending or deleting it. ended_by is this trigger's alone: who
// ended the session (NULL for maintenance), cleared only by its foreign key when that user is
// deleted. Without a request context (maintenance) nothing else is restricted.
CODITECT_FUNCTION(coditect_guard_license_session) {
  auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
      !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event)) {
    elog(ERROR, "guard_license_session must be a BEFORE ROW trigger");
  }
  const auto& ctx = coditect::pg::request_context();
  Caller me{ctx.tenant_id, ctx.user_id, ctx.user_role};
  const Caller* caller = ctx.active ? &me : nullptr;
  TupleDesc desc = RelationGetDescr(trigdata->tg_relation);
  const int user_att = SPI_fnumber(desc, "user_id");
  const int status_att = SPI_fnumber(desc, "status");
  const int ended_by_att = SPI_fnumber(desc, "ended_by");
  const int tenant_att = SPI_fnumber(desc, "tenant_id");
  const int heartbeat_att = SPI_fnumber(desc, "last_heartbeat_at");
  if (user_att <= 0 || status_att <= 0 || ended_by_att <= 0 || tenant_att <= 0 ||
      heartbeat_att <= 0) {
    elog(ERROR, "guard_license_session: not a license_sessions table");
  }
  HeapTuple old_row = trigdata->tg_trigtuple;
  if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event)) {
    if (!caller || guard_has_permission(caller, "license.manage")) {
      return PointerGetDatum(old_row);
    }
    ereport(ERROR, (errcode(kCD403), errmsg("only an administrator deletes license sessions")));
  }
  const bool is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
  HeapTuple row = is_update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
  // ended_by as it must be: NULL on insert, the caller when ending, else unchanged.
  Datum ended_by = 0;
  bool ended_by_null = true;
  if (is_update) {
    bool null_old, null_new;
    Datum old_user = heap_getattr(old_row, user_att, desc, &null_old);
    Datum new_user = heap_getattr(row, user_att, desc, &null_new);
    if (null_old != null_new ||
        (!null_old && !same_uuid(DatumGetUUIDP(old_user), DatumGetUUIDP(new_user)))) {
      ereport(ERROR, (errcode(kCD422), errmsg("a license session cannot change hands")));
    }
    bool old_ended_by_null, new_ended_by_null;
    Datum old_ended_by = heap_getattr(old_row, ended_by_att, desc, &old_ended_by_null);
    heap_getattr(row, ended_by_att, desc, &new_ended_by_null);
    static const char* const kButEndedBy[] = {"ended_by", "updated_at"};
    if (status_is(row, desc, status_att, "ended") &&
        !status_is(old_row, desc, status_att, "ended")) {
      ended_by_null = caller == nullptr;
      if (caller) ended_by = uuid_datum(&me.user);
    } else if (new_ended_by_null && !old_ended_by_null &&
               same_but(desc, row, old_row, kButEndedBy, 2)) {
      // ON DELETE SET NULL (ended_by): the user who ended it was deleted.
      GuardCheck g{caller, nullptr, heap_getattr(old_row, tenant_att, desc, &null_old),
                   old_ended_by, false};
      coditect::pg::spi_pinned(user_exists_pinned, &g);
      if (!g.result) return PointerGetDatum(row);
      ended_by = old_ended_by;
      ended_by_null = false;
    } else {
      ended_by = old_ended_by;
      ended_by_null = old_ended_by_null;
    }
  }
  {
    int cols[1] = {ended_by_att};
    Datum values[1] = {ended_by};
    bool nulls[1] = {ended_by_null};
    row = heap_modify_tuple_by_cols(row, desc, 1, cols, values, nulls);
  }
  bool user_null;
  Datum user = heap_getattr(row, user_att, desc, &user_null);
  if (!caller || (!user_null && same_uuid(DatumGetUUIDP(user), &me.user))) {
    return PointerGetDatum(row);
  }
  if (is_update) {
    static const char* const kButStatus[] = {"status", "updated_at"};
    static const char* const kButEnd[] = {"status", "ended_at", "ended_by", "updated_at"};
    bool null_heartbeat;
    Datum heartbeat = heap_getattr(old_row, heartbeat_att, desc, &null_heartbeat);
    if (status_is(old_row, desc, status_att, "active") &&
        status_is(row, desc, status_att, "zombie") && !null_heartbeat &&
        DatumGetTimestampTz(heartbeat) < overdue_before() &&
        same_but(desc, row, old_row, kButStatus, 2)) {
      return PointerGetDatum(row);
    }
    if (status_is(row, desc, status_att, "ended") &&
        !status_is(old_row, desc, status_att, "ended") &&
        guard_has_permission(caller, "license.manage") &&
        same_but(desc, row, old_row, kButEnd, 4)) {
      return PointerGetDatum(row);
    }
  }
  ereport(ERROR, (errcode(kCD403), errmsg("this license session belongs to another user")));
}
