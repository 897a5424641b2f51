-- Backend caches and hard deletes on a Citus cluster (issue 13): run on the coordinator as a
-- superuser (pg_prove -d <db> test/citus/caches.sql), after coditect.distribute(), with pgtap
-- and dblink installed, workers reachable on 127.0.0.1 with trust authentication, and
-- session_preload_libraries = 'coditect' on every node (hard deletes on Citus need it).
-- 1. A permission revoked, and 2. a state transition removed, stop working at the gateway
-- login's next transaction (the permission and state-machine caches are off on Citus nodes:
-- the tables' writes fire their trigger on each node's placement, which names no watched table).
-- 3. purge_tenant and purge_deleted hard-delete on the workers (coditect.hard_delete, carried
-- like coditect.request); 4. a client login can set coditect.hard_delete neither through the
-- coordinator, nor on a worker, nor with ALTER ROLE ... SET, and its DELETE stays soft.
\set ON_ERROR_STOP 1
SELECT plan(18);

CREATE ROLE tapcc_gw LOGIN IN ROLE coditect_gateway;
-- Fixtures write the global keys from a shard trigger (plan B6): one statement per transaction.
\set nested 'BEGIN;'
SELECT 'tcc-' || substr(md5(random()::text), 1, 8) AS run \gset
:nested SELECT coditect.create_tenant('Cc A', :'run' || '-a', 'a@tcc.test', 'owner@a.' || :'run' || '.test') AS ja \gset
COMMIT;
:nested SELECT coditect.create_tenant('Cc B', :'run' || '-b', 'b@tcc.test', 'owner@b.' || :'run' || '.test') AS jb \gset
COMMIT;
:nested SELECT coditect.create_tenant('Cc P', :'run' || '-p', 'p@tcc.test', 'owner@p.' || :'run' || '.test') AS jp \gset
COMMIT;
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS oa,
       :'jb'::jsonb ->> 'tenant_id' AS tb, :'jp'::jsonb ->> 'tenant_id' AS tp \gset
:nested INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'member@a.' || :'run' || '.test') RETURNING id AS ma \gset
COMMIT;
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'ta', :'ma', 'member');
SELECT gen_random_uuid() AS lic_a, coditect.license_key_generate() AS key_a \gset
BEGIN;
SELECT coditect_internal.global_key_claim('licenses.key_string', :'key_a', :'ta', :'lic_a') \gset
INSERT INTO coditect.licenses (tenant_id, id, key_string, expiry_date, seats_total)
VALUES (:'ta', :'lic_a', :'key_a', now() + interval '1 year', 5);
COMMIT;
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'A1') RETURNING id AS pa \gset
SELECT n.nodeport AS port_a FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('coditect.tenants', :'ta') \gset
SELECT id AS perm_use FROM coditect.permissions WHERE codename = 'license.use' \gset

-- 1. A permission revoked: the gateway login (same coordinator backend, same worker
-- connections) loses it at its next transaction, and gets it back when it is granted again.
SET SESSION AUTHORIZATION tapcc_gw;
BEGIN;
SELECT coditect.set_request_context(:'ta', :'ma', 'member');
SELECT lives_ok(format($$SELECT coditect.license_acquire(%L, 'hw-tcc-1')$$, :'key_a'),
                'a member acquires a seat (license.use held)');
COMMIT;
RESET SESSION AUTHORIZATION;
DELETE FROM coditect.role_permissions WHERE role = 'member' AND permission_id = :'perm_use';
SET SESSION AUTHORIZATION tapcc_gw;
BEGIN;
SELECT coditect.set_request_context(:'ta', :'ma', 'member');
SELECT throws_ok(format($$SELECT coditect.license_acquire(%L, 'hw-tcc-2')$$, :'key_a'), 'CD403', NULL,
                 'after license.use is revoked from members, the next transaction is refused');
SELECT is(coditect.has_permission('license.use'), false, '... and has_permission says so');
COMMIT;
RESET SESSION AUTHORIZATION;
INSERT INTO coditect.role_permissions (role, permission_id) VALUES ('member', :'perm_use');
SET SESSION AUTHORIZATION tapcc_gw;
BEGIN;
SELECT coditect.set_request_context(:'ta', :'ma', 'member');
SELECT lives_ok(format($$SELECT coditect.license_acquire(%L, 'hw-tcc-3')$$, :'key_a'),
                'granted again: the next transaction acquires');
COMMIT;

-- 2. A state transition removed: enforce_transition runs in the shard trigger on A's worker
-- (the worker backend of the gateway login's cached connection).
BEGIN;
SELECT coditect.set_request_context(:'ta', :'oa', 'owner');
INSERT INTO coditect.tasks (tenant_id, project_id, title, status) VALUES (:'ta', :'pa', 'T1', 'todo') RETURNING id AS t1 \gset
INSERT INTO coditect.tasks (tenant_id, project_id, title, status) VALUES (:'ta', :'pa', 'T2', 'todo') RETURNING id AS t2 \gset
SELECT lives_ok(format($$UPDATE coditect.tasks SET status = 'in_progress' WHERE tenant_id = %L AND id = %L$$, :'ta', :'t1'),
                'todo -> in_progress is allowed');
COMMIT;
RESET SESSION AUTHORIZATION;
DELETE FROM coditect.state_transitions WHERE machine = 'task' AND from_status = 'todo' AND to_status = 'in_progress'
RETURNING stamp_column AS stamp \gset
SET SESSION AUTHORIZATION tapcc_gw;
BEGIN;
SELECT coditect.set_request_context(:'ta', :'oa', 'owner');
SELECT throws_ok(format($$UPDATE coditect.tasks SET status = 'in_progress' WHERE tenant_id = %L AND id = %L$$, :'ta', :'t2'),
                 'CD422', NULL, 'once the transition is removed, the next transaction is refused on the worker');
COMMIT;
RESET SESSION AUTHORIZATION;
INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column)
VALUES ('task', 'todo', 'in_progress', NULLIF(:'stamp', ''));
SET SESSION AUTHORIZATION tapcc_gw;
BEGIN;
SELECT coditect.set_request_context(:'ta', :'oa', 'owner');
SELECT lives_ok(format($$UPDATE coditect.tasks SET status = 'in_progress' WHERE tenant_id = %L AND id = %L$$, :'ta', :'t2'),
                'restored: allowed again');
COMMIT;

-- 4. A client login cannot turn hard deletes on.
SELECT throws_ok($$SET coditect.hard_delete = on$$, '42501', NULL, 'a gateway login cannot set coditect.hard_delete');
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SELECT throws_ok($$SET LOCAL coditect.hard_delete = on$$, '42501', NULL, '... nor SET LOCAL for the workers');
ROLLBACK;
RESET SESSION AUTHORIZATION;
CREATE FUNCTION pg_temp.on_worker(p_port int, p_login text, p_setting text, p_sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    PERFORM dblink_connect('tcc', format('host=127.0.0.1 port=%s dbname=%s user=%s', p_port, current_database(), p_login));
    PERFORM dblink_exec('tcc', 'BEGIN');
    PERFORM dblink_exec('tcc', format('SET LOCAL coditect.request = %L', p_setting));
    SELECT x INTO r FROM dblink('tcc', p_sql) AS t(x text);
    PERFORM dblink_exec('tcc', 'COMMIT');
    PERFORM dblink_disconnect('tcc');
    RETURN r;
EXCEPTION WHEN OTHERS THEN
    PERFORM dblink_disconnect('tcc');
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
-- (The context read first loads the library: before, the setting is a placeholder, checked
-- the same way when the library loads, which drops it with a warning.)
SELECT is(pg_temp.on_worker(:port_a, 'tapcc_gw', format('v1;t=%s;u=%s;r=owner', :'ta', :'oa'),
                            'SELECT coditect.current_tenant_id()::text || set_config(''coditect.hard_delete'', ''on'', true)'),
          '42501 coditect.hard_delete is set by the maintenance functions only',
          'a gateway login on a worker cannot set it');
-- ALTER ROLE ... SET (by a superuser, propagated to the workers): refused at the login's
-- connection start, so its DELETE on the worker stays a soft delete.
SET client_min_messages = warning;
ALTER ROLE tapcc_gw SET coditect.hard_delete = on;
RESET client_min_messages;
SELECT is(pg_temp.on_worker(:port_a, 'tapcc_gw', format('v1;t=%s;u=%s;r=owner', :'ta', :'oa'),
                            format('WITH d AS (DELETE FROM coditect.projects WHERE tenant_id = %L AND id = %L RETURNING 1)'
                                   ' SELECT coditect_internal.hard_delete_allowed()::text || '' '' || count(*) FROM d', :'ta', :'pa')),
          'false 0', 'with ALTER ROLE ... SET, the login''s delete on the worker is no hard delete');
ALTER ROLE tapcc_gw RESET coditect.hard_delete;
-- (Values are read first: a router query would run pgTAP's is() on the worker.)
SELECT (SELECT (deleted_at IS NOT NULL)::text FROM coditect.projects WHERE tenant_id = :'ta' AND id = :'pa') AS v \gset
SELECT is(:'v'::text, 'true'::text, '... the project is soft-deleted, still there');

-- 3. Hard deletes by the maintenance functions, through the coordinator.
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tp', 'P1'), (:'tp', 'P2');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tb', 'B gone');
DELETE FROM coditect.projects WHERE tenant_id = :'tb' AND name = 'B gone';  -- soft
SELECT lives_ok(format($$SELECT coditect.purge_deleted('coditect.projects', interval '0')$$),
                'purge_deleted hard-deletes soft-deleted projects on every worker');
SELECT (SELECT count(*)::int FROM coditect.projects WHERE tenant_id IN (:'ta', :'tb') AND deleted_at IS NOT NULL) AS v \gset
SELECT is(:'v'::text, '0'::text, '... A''s and B''s soft-deleted projects are gone');
SELECT lives_ok(format($$SELECT coditect.purge_tenant(%L)$$, :'tp'), 'purge_tenant removes a tenant');
SELECT (SELECT count(*) FROM coditect.tenants WHERE id = :'tp') || ' ' || (SELECT count(*) FROM coditect.users WHERE tenant_id = :'tp')
       || ' ' || (SELECT count(*) FROM coditect.memberships WHERE tenant_id = :'tp')
       || ' ' || (SELECT count(*) FROM coditect.projects WHERE tenant_id = :'tp') AS v \gset
SELECT is(:'v'::text, '0 0 0 0'::text, '... with its users, memberships and projects (soft-delete tables included)');
SELECT (SELECT count(*) FROM coditect.tenants WHERE id IN (:'ta', :'tb')) AS v \gset
SELECT is(:'v'::text, '2'::text, '... other tenants stay');
SELECT throws_ok(format($$DELETE FROM coditect.tenants WHERE id = %L$$, :'tb'), 'CD403', NULL,
                 'after it, a plain DELETE of a tenant is refused again on its worker');

-- Cleanup: the tenants made here (purge_tenant) and the role.
SELECT coditect.purge_tenant(:'ta');
SELECT coditect.purge_tenant(:'tb');
DROP ROLE tapcc_gw;
SELECT * FROM finish();
