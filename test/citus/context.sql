-- The request context on a Citus cluster (issue 13, item 2): run on the coordinator as a
-- superuser (pg_prove -d <db> test/citus/context.sql), after coditect.distribute() (tenants by
-- id, tenant tables colocated, analyst_bindings a reference table without its FK to tenants),
-- with pgtap and dblink installed, workers reachable on 127.0.0.1 with trust authentication for
-- the logins below. A gateway login's set_request_context reaches every worker as
-- coditect.request (SET LOCAL replayed by Citus), where the same checks run again, on the
-- worker holding the tenant's shard: lists (multi-shard and router), a write with its audit row,
-- license_acquire, a two-phase update, a second context in the same transaction; a direct login
-- on a worker with a forged setting is refused with set_request_context's errors; a worker
-- without the tenant's shard takes no context; a bound analyst sees its tenant through the
-- coordinator and nothing else. The tenants stay (purge_tenant is not distributed yet); roles
-- are removed at the end. Passed 28/28 on a coordinator + 2 workers (Citus 13.2.2, PG 15.20).
\set ON_ERROR_STOP 1
SELECT plan(32);

CREATE ROLE tapcx_gw LOGIN IN ROLE coditect_gateway;
CREATE ROLE tapcx_analyst LOGIN;
CREATE ROLE tapcx_other LOGIN;
GRANT USAGE ON SCHEMA coditect TO tapcx_other;
-- Global keys are claimed on the coordinator (create_tenant does; the license below is claimed
-- by hand first): the shard's trigger only checks them (test/citus/global_keys.sql).
SELECT 'tcx-' || substr(md5(random()::text), 1, 8) AS run \gset
SELECT coditect.create_tenant('Cx A', :'run' || '-a', 'a@tcx.test', 'owner@a.' || :'run' || '.test') AS ja \gset
SELECT coditect.create_tenant('Cx B', :'run' || '-b', 'b@tcx.test', 'owner@b.' || :'run' || '.test') AS jb \gset
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS oa,
       :'jb'::jsonb ->> 'tenant_id' AS tb, :'jb'::jsonb ->> 'user_id' AS ob \gset
INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'member@a.' || :'run' || '.test') RETURNING id AS ma \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'ta', :'ma', 'member');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'A1'), (:'ta', 'A2');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tb', 'B1');
SELECT gen_random_uuid() AS lic_a, coditect.license_key_generate() AS key_a \gset
BEGIN;
SELECT coditect_internal.global_key_claim('licenses.key_string', :'key_a', :'ta', :'lic_a');
INSERT INTO coditect.licenses (tenant_id, id, key_string, expiry_date, seats_total)
VALUES (:'ta', :'lic_a', :'key_a', now() + interval '1 year', 2);
COMMIT;
SELECT coditect.bind_analyst('tapcx_analyst', :'ta');
-- The workers holding A's and B's shards, and a connection string for a login there.
SELECT n.nodename AS host_a, n.nodeport AS port_a FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('coditect.tenants', :'ta') \gset
SELECT n.nodeport AS port_b FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('coditect.tenants', :'tb') \gset
SELECT min(nodeport) AS port_other FROM pg_dist_node WHERE groupid <> 0 AND nodeport <> :port_a \gset
CREATE FUNCTION pg_temp.on_worker(p_port int, p_login text, p_setting text, p_sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    PERFORM dblink_connect('tcx', format('host=127.0.0.1 port=%s dbname=%s user=%s', p_port, current_database(), p_login));
    PERFORM dblink_exec('tcx', 'BEGIN');
    PERFORM dblink_exec('tcx', format('SET LOCAL coditect.request = %L', p_setting));
    SELECT x INTO r FROM dblink('tcx', p_sql) AS t(x text);
    PERFORM dblink_disconnect('tcx');
    RETURN r;
EXCEPTION WHEN OTHERS THEN
    PERFORM dblink_disconnect('tcx');
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;

-- 1. A gateway login through the coordinator.
SET SESSION AUTHORIZATION tapcx_gw;
BEGIN;
SELECT coditect.set_request_context(:'ta', :'oa', 'owner', '192.0.2.9', 'cx agent', 'POST', '/api/v1/projects/', 'req-tcx.1');
SELECT ok(current_setting('coditect.request') LIKE format('v1;t=%s;u=%s;r=owner;ip=192.0.2.9;%%', :'ta', :'oa'),
          'set_request_context on the coordinator sets coditect.request for the workers');
SELECT (SELECT count(*)::int FROM coditect.projects) AS v \gset
SELECT is(:'v'::text, (2)::text, 'a multi-shard list sees A''s two projects (every worker checks)');
SELECT (SELECT count(*)::int FROM coditect.projects WHERE tenant_id = :'ta') AS v \gset
SELECT is(:'v'::text, (2)::text, 'a router list on A''s shard sees them');
SELECT (SELECT count(*)::int FROM coditect.projects WHERE tenant_id = :'tb') AS v \gset
SELECT is(:'v'::text, (0)::text, 'and nothing of B');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'via coordinator') RETURNING id AS p_new \gset
UPDATE coditect.projects SET description = 'touched';  -- every worker, committed in two phases
SELECT throws_ok(format($$INSERT INTO coditect.projects (tenant_id, name) VALUES (%L, 'x')$$, :'tb'), '42501', NULL,
                 'an insert into B is refused on B''s worker');
SELECT lives_ok(format($$SELECT coditect.license_acquire(%L, 'hw-tcx')$$, :'key_a'), 'license_acquire works');
SELECT (SELECT count(*)::int FROM coditect.license_sessions WHERE tenant_id = :'ta' AND user_id = :'oa' AND status = 'active') AS v \gset
SELECT is(:'v'::text, '1'::text,
          '... with a session of A''s owner');
-- Refusals come from the tenant's node, with set_request_context's errors, and leave the
-- context as it was.
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, :'ta', :'ob'), 'CD403',
                 'user is not an active member of this tenant', 'the coordinator refuses B''s owner in A');
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'admin')$$, :'ta', :'ma'), 'CD403',
                 'role "admin" exceeds the membership role "member"', '... a raised role');
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, coditect.uuid_generate_v7(), :'oa'),
                 'CD403', 'user is not an active member of this tenant', '... an unknown tenant');
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, 'after the refusals the context is still A');
-- A second context in the same transaction, after writes, reaches the worker connections
-- already open (the check runs as the caller, on the connection that wrote).
SELECT coditect.set_request_context(:'tb', :'ob', 'owner');
SELECT (SELECT array_agg(name::text) FROM coditect.projects) AS v \gset
SELECT is(:'v'::text, (ARRAY['B1'])::text, 'a second context in the transaction: B''s rows only');
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT (SELECT row(user_id, ip_address, user_agent, request_method, request_path, request_id, action)::text
           FROM coditect.audit_logs WHERE tenant_id = :'ta' AND resource_id = :'p_new' AND action = 'project.create') AS v \gset
SELECT is(:'v'::text,
          row(:'oa'::uuid, '192.0.2.9'::inet, 'cx agent', 'POST', '/api/v1/projects/', 'req-tcx.1', 'project.create')::text,
          'the audit row written on A''s worker carries the coordinator''s context');
SELECT (SELECT count(*) FROM coditect.projects WHERE tenant_id = :'ta' AND description = 'touched') AS touched_a,
       (SELECT count(*) FROM coditect.projects WHERE tenant_id = :'tb' AND description IS DISTINCT FROM 'touched') AS untouched_b \gset
SELECT is(:touched_a || ' ' || :untouched_b, '3 1', 'a multi-shard update (2PC on every worker) changed A''s rows only');
SELECT (SELECT seats_in_use FROM coditect.licenses WHERE tenant_id = :'ta') AS v \gset
SELECT is(:'v'::text, (1)::text, 'the seat is counted');

-- 2. Direct logins on a worker: the setting is a request, checked there.
SELECT is(pg_temp.on_worker(:port_a, 'tapcx_gw', format('v1;t=%s;u=%s;r=owner', :'ta', :'oa'),
                            'SELECT count(*)::text FROM coditect.projects'),
          '3', 'a gateway login on a worker gets the context set_request_context would give it');
SELECT is(pg_temp.on_worker(:port_a, 'tapcx_gw', format('v1;t=%s;u=%s;r=owner', :'ta', :'ob'),
                            'SELECT count(*)::text FROM coditect.projects'),
          'CD403 user is not an active member of this tenant', 'a forged setting (B''s owner in A) is refused');
SELECT is(pg_temp.on_worker(:port_a, 'tapcx_gw', format('v1;t=%s;u=%s;r=admin', :'ta', :'ma'),
                            'SELECT count(*)::text FROM coditect.projects'),
          'CD403 role "admin" exceeds the membership role "member"', 'a raised role is refused');
SELECT is(pg_temp.on_worker(:port_b, 'tapcx_gw', format('v1;t=%s;u=%s;r=owner', :'tb', :'oa'),
                            format('SELECT count(*)::text FROM coditect.projects WHERE tenant_id = %L', :'tb')),
          'CD403 user is not an active member of this tenant', '... on B''s worker too');
SELECT is(pg_temp.on_worker(:port_a, 'tapcx_other', format('v1;t=%s;u=%s;r=owner', :'ta', :'oa'),
                            'SELECT coditect.current_tenant_id()::text'),
          '42501 permission denied for function set_request_context', 'a login that may not call set_request_context is refused');
SELECT is(pg_temp.on_worker(:port_a, 'tapcx_analyst', format('v1;t=%s;u=%s;r=owner', :'tb', :'ob'),
                            'SELECT coditect.current_tenant_id()::text'),
          '42501 permission denied for function set_request_context', 'an analyst''s setting is refused');
SELECT is(pg_temp.on_worker(:port_a, 'tapcx_gw', 'v1;t=garbage', 'SELECT coditect.current_tenant_id()::text'),
          'CD400 malformed coditect.request: tenant is not a uuid', 'a malformed setting is CD400');
SELECT is(pg_temp.on_worker(:port_other, 'tapcx_gw', format('v1;t=%s;u=%s;r=owner', :'ta', :'oa'),
                            $$SELECT coalesce(coditect.current_tenant_id()::text, 'none')$$),
          'none', 'a worker without A''s shard takes no context for A (its shards hold none of A''s rows)');
SELECT is(pg_temp.on_worker(:port_a, 'tapcx_gw', '', 'SELECT count(*)::text FROM coditect.projects'),
          '0', 'no setting: no context, nothing visible');

-- 3. A bound analyst through the coordinator: its binding is read on each worker.
SET SESSION AUTHORIZATION tapcx_analyst;
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, 'the analyst''s tenant is A');
SELECT (SELECT count(*)::int FROM coditect.projects) AS v \gset
SELECT is(:'v'::text, (3)::text, 'the analyst sees A''s projects on the workers (multi-shard)');
SELECT (SELECT count(*)::int FROM coditect.projects WHERE tenant_id = :'ta') AS v \gset
SELECT is(:'v'::text, (3)::text, '... and through A''s shard');
SELECT (SELECT count(*)::int FROM coditect.projects WHERE tenant_id = :'tb') AS v \gset
SELECT is(:'v'::text, (0)::text, 'and nothing of B');
SELECT (SELECT count(*)::int FROM coditect.tenants) AS v \gset
SELECT is(:'v'::text, (1)::text, 'the analyst sees one tenant');
SELECT (SELECT count(*) FROM coditect.audit_logs) AS all_rows, (SELECT count(*) FROM coditect.audit_logs WHERE tenant_id <> :'ta') AS others \gset
SELECT ok(:all_rows > 0 AND :others = 0, 'and A''s audit trail only');
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SELECT format('v1;t=%s;u=%s;r=owner', :'tb', :'ob') AS forged_b \gset
SET LOCAL coditect.request = :'forged_b';
SELECT throws_ok($$SELECT count(*) FROM coditect.projects$$, '42501', NULL,
                 'an analyst''s own coditect.request sent to the workers is refused there');
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT (SELECT count(*)::int FROM coditect.projects WHERE tenant_id IN (:'ta', :'tb')) AS v \gset
SELECT is(:'v'::text, '4'::text,
          'the superuser sees both tenants (no context, RLS bypassed)');

SELECT * FROM finish();

-- The tenants stay (purge_tenant is not distributed yet: its DELETE guard refuses on the
-- workers); a run's slugs are its own.
SELECT coditect.unbind_analyst('tapcx_analyst');
DROP OWNED BY tapcx_gw, tapcx_analyst, tapcx_other;
DROP ROLE tapcx_gw, tapcx_analyst, tapcx_other;
