-- The seat calls as C++ with saved plans: no PL/pgSQL on their path, every relation lock of a
-- warm seat transaction (request context + call) in PostgreSQL's 16 fast-path slots, and the
-- caches that let them skip the permission and state-machine tables invalidated by writes to
-- those tables. Runs in committed transactions (the lock count is per transaction); fixtures are
-- purged at the end.
\set ON_ERROR_STOP 1
SELECT plan(16);

CREATE ROLE tap83_gateway LOGIN IN ROLE coditect_gateway;
SELECT coditect.create_tenant('Seats C', 't83-seats', 's@t83.test', 'owner@t83.test') AS j \gset
SELECT :'j'::jsonb->>'tenant_id' AS tid, :'j'::jsonb->>'user_id' AS uid \gset
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) VALUES (:'tid', now() + interval '1 year', 3)
RETURNING key_string AS key \gset
SELECT set_config('tap.tenant', :'tid', false), set_config('tap.user.owner', :'uid', false),
       set_config('tap83.key', :'key', false) \gset
\ir lib/as_user.psql

-- Nothing in PL/pgSQL between the gateway and the rows: the calls and the triggers they fire.
SELECT is(string_agg(DISTINCT l.lanname, ','), 'c', 'the seat calls are C')
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.oid IN ('coditect.license_acquire(text,text,inet,text)'::regprocedure,
                 'coditect.license_heartbeat(uuid)'::regprocedure, 'coditect.license_release(uuid)'::regprocedure);
SELECT is(string_agg(DISTINCT l.lanname, ',' ORDER BY l.lanname), 'c',
          'so are the triggers a seat call fires on license_sessions and licenses')
  FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_language l ON l.oid = p.prolang
 WHERE t.tgrelid IN ('coditect.license_sessions'::regclass, 'coditect.licenses'::regclass) AND NOT t.tgisinternal
   AND t.tgname IN ('guard_license_session', 'count_license_seats', 'enforce_transition', 'audit_row_change',
                    'stamp_timestamps');
SELECT is((SELECT array_agg(a::int ORDER BY a) FROM pg_trigger t, unnest(t.tgattr::int2[]) a
            WHERE t.tgrelid = 'coditect.licenses'::regclass AND t.tgname = 'guard_entitled_license'),
          (SELECT array_agg(attnum::int ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'coditect.licenses'::regclass
              AND attname IN ('tier', 'features', 'seats_total', 'expiry_date', 'is_active')),
          'the entitlement guard (PL/pgSQL) fires only on updates of a term, not on the seat counter''s');

-- Relations locked by this backend (the catalog's, oid < 16384, left out: every statement
-- touches them; so are temp relations).
CREATE TEMP VIEW held AS
SELECT DISTINCT relation FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation >= 16384
   AND relation NOT IN (SELECT c.oid FROM pg_class c WHERE c.relnamespace = pg_my_temp_schema());
GRANT SELECT ON held TO tap83_gateway;

-- Warm: plans are saved on first use (the first calls of a session plan, which locks every index).
SET ROLE tap83_gateway;
DO $$
DECLARE
    sid uuid;
BEGIN
    FOR i IN 1 .. 8 LOOP
        PERFORM coditect.set_request_context(current_setting('tap.tenant')::uuid, current_setting('tap.user.owner')::uuid, 'member');
        sid := (coditect.license_acquire(current_setting('tap83.key'), 'warm-' || i) ->> 'session_id')::uuid;
        PERFORM coditect.license_heartbeat(sid);
        PERFORM coditect.license_release(sid);
    END LOOP;
END
$$;

-- One seat transaction as the gateway sends it (context, then the call): every relation of ours
-- it locks. Before the calls moved to C++, and before the context call cached its checks, the
-- context locked 8 and acquire 13 more, heartbeat 8 and release 12 (1,000 licenses): past
-- PostgreSQL's 16 fast-path slots. Now a warm context call locks none, and each whole
-- transaction stays within them. (At most: with few rows a generic plan may scan a table
-- instead of using its index, which locks fewer.)
BEGIN;
SELECT coditect.set_request_context(:'tid', :'uid', 'member') \g /dev/null
SELECT coalesce(string_agg(relation::regclass::text, ' '), '') AS warm_ctx FROM held \gset
SELECT coditect.license_acquire(:'key', 'counted')->>'session_id' AS sid \gset
SELECT count(*) AS acquire_n, string_agg(relation::regclass::text, ' ' ORDER BY relation::regclass::text) AS acquire_rels
  FROM held \gset
COMMIT;
BEGIN;
SELECT coditect.set_request_context(:'tid', :'uid', 'member') \g /dev/null
SELECT coditect.license_heartbeat(:'sid') \g /dev/null
SELECT count(*) AS heartbeat_n FROM held \gset
COMMIT;
BEGIN;
SELECT coditect.set_request_context(:'tid', :'uid', 'member') \g /dev/null
SELECT coditect.license_release(:'sid') \g /dev/null
SELECT count(*) AS release_n FROM held \gset
COMMIT;
SELECT is(:'warm_ctx'::text, ''::text, 'a warm context call locks none of our relations (its checks are cached per backend)');
SELECT cmp_ok(:acquire_n, '<=', 11, 'a whole acquire transaction locks at most 11 of our relations: ' || :'acquire_rels');
SELECT cmp_ok(:heartbeat_n, '<=', 4, 'a heartbeat transaction at most 4: the session, its index, the license and its key');
SELECT cmp_ok(:release_n, '<=', 8, 'a release transaction at most 8 of our relations');

-- The permission cache: a permission revoked is refused at the next call, and a rollback
-- gives it back.
SELECT ok(pg_temp.as_user('owner', 'member', format('SELECT coditect.license_acquire(%L, ''perm-1'')', :'key')) LIKE '{%',
          'a member acquires (license.use is cached as held)');
RESET ROLE;
SELECT id AS perm1 FROM coditect.license_sessions WHERE hardware_id = 'perm-1' \gset
BEGIN;
DELETE FROM coditect.role_permissions
 WHERE role = 'member' AND permission_id = (SELECT id FROM coditect.permissions WHERE codename = 'license.use');
SET LOCAL ROLE tap83_gateway;
SELECT pg_temp.as_user('owner', 'member', format('SELECT coditect.license_acquire(%L, ''perm-2'')', :'key')) AS revoked \gset
SELECT pg_temp.as_user('owner', 'member', format('SELECT coditect.license_heartbeat(%L)', :'perm1')) AS revoked_heartbeat \gset
ROLLBACK;
SET ROLE tap83_gateway;
SELECT is(:'revoked'::text, 'CD403: permission denied: license.use needs a role that holds it (current role: member)',
          'revoked in this transaction: the next acquire is refused');
SELECT is(:'revoked_heartbeat'::text, 'CD403: permission denied: license.use needs a role that holds it (current role: member)',
          '... and so is a heartbeat');
SELECT ok(pg_temp.as_user('owner', 'member', format('SELECT coditect.license_acquire(%L, ''perm-3'')', :'key')) LIKE '{%',
          'rolled back: the member acquires again');

-- The state machine cache: a transition removed is refused at the next change.
RESET ROLE;
SELECT id AS perm3 FROM coditect.license_sessions WHERE hardware_id = 'perm-3' \gset
BEGIN;
DELETE FROM coditect.state_transitions WHERE machine = 'license_session' AND from_status = 'active' AND to_status = 'ended';
SET LOCAL ROLE tap83_gateway;
SELECT pg_temp.as_user('owner', 'member', format('SELECT coditect.license_release(%L)', :'perm3')) AS no_end \gset
ROLLBACK;
SET ROLE tap83_gateway;
SELECT is(:'no_end'::text, 'CD422: license_session: cannot go from ''active'' to ''ended'' (from ''active'': ''zombie'')',
          'a transition removed in this transaction is refused by the next release');
SELECT is(pg_temp.as_user('owner', 'member', format('SELECT coditect.license_release(%L)', :'perm3')), 'done',
          'rolled back: the release goes through');
RESET ROLE;
SELECT is((SELECT seats_in_use FROM coditect.licenses WHERE tenant_id = :'tid'), 1, 'one seat is held (perm-1)');

-- A cache is filled from the latest committed state, never from an older transaction snapshot:
-- a gateway backend in a REPEATABLE READ transaction whose snapshot predates a revoke (committed
-- by this session meanwhile) must not read the old grant and keep it, in that transaction or the
-- next ones. A fresh backend, so that its permission cache is empty.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('t83_rr', format('host=%s port=%s dbname=%s user=tap83_gateway',
                                       split_part(current_setting('unix_socket_directories'), ',', 1),
                                       current_setting('port'), current_database())) \g /dev/null
SELECT dblink_exec('t83_rr', 'BEGIN ISOLATION LEVEL REPEATABLE READ') \g /dev/null
SELECT * FROM dblink('t83_rr', 'SELECT 1') AS t(n int) \g /dev/null
SELECT rp.role AS rp_role, rp.permission_id AS rp_perm FROM coditect.role_permissions rp
  JOIN coditect.permissions p ON p.id = rp.permission_id WHERE rp.role = 'member' AND p.codename = 'license.use' \gset
DELETE FROM coditect.role_permissions WHERE role = :'rp_role' AND permission_id = :'rp_perm';
CREATE FUNCTION pg_temp.rr_acquire(p_hw text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT a FROM dblink('t83_rr', format('SELECT coditect.set_request_context(%L, %L, ''member'')::text || coditect.license_acquire(%L, %L)::text',
                                                  current_setting('tap83.tid'), current_setting('tap83.uid'), current_setting('tap83.key'), p_hw)) AS t(a text));
EXCEPTION WHEN OTHERS THEN
    RETURN regexp_replace(SQLERRM, '^.*(permission denied: [a-z._]+).*$', '\1');
END $$;
SELECT set_config('tap83.tid', :'tid', false), set_config('tap83.uid', :'uid', false) \g /dev/null
SELECT is(pg_temp.rr_acquire('rr-1'), 'permission denied: license.use',
          'a REPEATABLE READ transaction older than a revoke does not read the old grant');
SELECT dblink_exec('t83_rr', 'ROLLBACK') \g /dev/null
SELECT is(pg_temp.rr_acquire('rr-2'), 'permission denied: license.use', '... nor keeps it for the next transaction');
INSERT INTO coditect.role_permissions (role, permission_id) VALUES (:'rp_role', :'rp_perm');
SELECT dblink_disconnect('t83_rr') \g /dev/null

SELECT * FROM finish();

SELECT coditect.purge_tenant(:'tid');
DROP VIEW held;
DROP ROLE tap83_gateway;
