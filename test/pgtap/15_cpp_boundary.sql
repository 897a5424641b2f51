-- The C++ inside PostgreSQL at its boundaries:
--   * SPI run with elevated rights (the analyst binding lookup and the audit insert, both as the
--     table owner) and the state-machine lookup never depend on the caller's search_path: a
--     login's own `=` operators and functions placed first in search_path never run, least of
--     all as a superuser;
--   * a C++ exception thrown anywhere in the glue (coditect.debug_fail_point) ends as a plain
--     "out of memory" error and leaves the backend healthy.
-- Several transactions and SET SESSION AUTHORIZATION in one session; fixtures removed at the end.
\set ON_ERROR_STOP 1
SELECT plan(32);

CREATE ROLE tap15_analyst LOGIN;
CREATE ROLE tap15_gateway LOGIN IN ROLE coditect_gateway;
SELECT coditect.create_tenant('Boundary A', 't15-a', 'a@a.test', 'owner@a.test') AS j \gset
SELECT (:'j'::jsonb->>'tenant_id') AS tenant, (:'j'::jsonb->>'user_id') AS owner \gset
SELECT coditect.create_tenant('Boundary B', 't15-b', 'b@b.test', 'owner@b.test') AS jb \gset
SELECT (:'jb'::jsonb->>'tenant_id') AS tenant_b \gset
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tenant', 'A1'), (:'tenant', 'A2'), (:'tenant_b', 'B1');
SELECT coditect.bind_analyst('tap15_analyst', :'tenant');

-- Each login owns a schema of traps: `=` operators for the types the internal queries compare,
-- and functions shadowing common built-ins. Every trap records who ran it and whether that
-- was a superuser, then behaves like the original (so that the login's own queries still work).
CREATE SCHEMA tap15_analyst_trap AUTHORIZATION tap15_analyst;
CREATE SCHEMA tap15_gateway_trap AUTHORIZATION tap15_gateway;
CREATE FUNCTION pg_temp.make_traps() RETURNS void LANGUAGE plpgsql AS $make$
DECLARE
    s text := current_user || '_trap';
    t text;
BEGIN
    EXECUTE format('CREATE TABLE %I.calls (fn text, usr name, su boolean)', s);
    EXECUTE format('GRANT INSERT, SELECT ON %I.calls TO PUBLIC', s);
    -- current_user, not the is_superuser setting, which follows the session's role only.
    EXECUTE format($f$CREATE FUNCTION %1$I.record(p_fn text) RETURNS void LANGUAGE sql AS
        $b$INSERT INTO %1$I.calls SELECT p_fn, r.rolname, r.rolsuper FROM pg_catalog.pg_roles r
            WHERE r.rolname OPERATOR(pg_catalog.=) pg_catalog.current_user()$b$$f$, s);
    FOREACH t IN ARRAY ARRAY['oid', 'uuid', 'text', 'name'] LOOP
        EXECUTE format($f$CREATE FUNCTION %1$I.trap_eq_%2$s(pg_catalog.%2$s, pg_catalog.%2$s) RETURNS boolean
            LANGUAGE plpgsql AS $b$BEGIN PERFORM %1$I.record(%3$L); RETURN $1 OPERATOR(pg_catalog.=) $2; END$b$$f$,
            s, t, '=(' || t || ')');
        EXECUTE format('CREATE OPERATOR %1$I.= (LEFTARG = pg_catalog.%2$s, RIGHTARG = pg_catalog.%2$s, '
                       'FUNCTION = %1$I.trap_eq_%2$s)', s, t);
    END LOOP;
    EXECUTE format($f$CREATE FUNCTION %1$I.now() RETURNS timestamptz LANGUAGE plpgsql AS
        'BEGIN PERFORM %1$I.record(''now()''); RETURN pg_catalog.now(); END'$f$, s);
    EXECUTE format($f$CREATE FUNCTION %1$I.lower(text) RETURNS text LANGUAGE plpgsql AS
        'BEGIN PERFORM %1$I.record(''lower(text)''); RETURN pg_catalog.lower($1); END'$f$, s);
    EXECUTE format($f$CREATE FUNCTION %1$I.text(name) RETURNS text LANGUAGE plpgsql AS
        'BEGIN PERFORM %1$I.record(''text(name)''); RETURN pg_catalog.text($1); END'$f$, s);
END
$make$;
SET ROLE tap15_analyst;
SELECT pg_temp.make_traps();
SET ROLE tap15_gateway;
SELECT pg_temp.make_traps();
RESET ROLE;

-- A table with a state machine of its own, for the transition lookup.
CREATE TABLE public.tap15_things (id int PRIMARY KEY, status text NOT NULL);
INSERT INTO coditect.state_transitions (machine, from_status, to_status) VALUES
    ('tap15_thing', NULL, 'new'), ('tap15_thing', 'new', 'done');
SELECT coditect_internal.register_state_machine('public.tap15_things', 'tap15_thing');

------------------------------------------------------------------------------------------------
-- 1. The analyst binding lookup (run as the table owner, a superuser, from every query of an
--    analyst through the RLS policy's current_tenant_id()).
------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION tap15_analyst;
-- Once with an ordinary search_path, so that any plan the lookup keeps is made first.
SELECT is((SELECT count(*)::int FROM coditect.projects), 2, 'the analyst sees its tenant''s two projects');
SET search_path = tap15_analyst_trap, pg_catalog, public;
SELECT ok(1::oid = 1::oid, 'the analyst''s = (oid, oid) trap is live in its own queries');
SELECT is((SELECT count(*)::int FROM coditect.projects), 2,
          'with its own = (oid, oid) first in search_path the analyst still sees its two projects');
SELECT is((SELECT count(*)::int FROM coditect.projects WHERE tenant_id OPERATOR(pg_catalog.=) :'tenant_b'), 0,
          '... and nothing of tenant B');
RESET search_path;
RESET SESSION AUTHORIZATION;
SELECT ok((SELECT count(*) FROM tap15_analyst_trap.calls WHERE fn = '=(oid)' AND usr = 'tap15_analyst') > 0,
          'the trap recorded the analyst''s own comparison (it is resolved under that search_path)');
SELECT is((SELECT count(*)::int FROM tap15_analyst_trap.calls WHERE su), 0,
          'the analyst''s operator never ran as a superuser (binding lookup)');

------------------------------------------------------------------------------------------------
-- 2. The state-machine lookup, here under a superuser caller's search_path (as inside a
--    SECURITY DEFINER function without a pinned search_path).
------------------------------------------------------------------------------------------------
TRUNCATE tap15_analyst_trap.calls;
INSERT INTO public.tap15_things VALUES (1, 'new');  -- the lookup plan is kept from here on
SET search_path = tap15_analyst_trap, pg_catalog, public;
INSERT INTO public.tap15_things VALUES (2, 'new');
UPDATE public.tap15_things SET status = 'done' WHERE id OPERATOR(pg_catalog.=) 2;
RESET search_path;
SELECT is((SELECT status FROM public.tap15_things WHERE id = 2), 'done', 'the transition went through');
SELECT is((SELECT count(*)::int FROM tap15_analyst_trap.calls), 0,
          'a login''s = (text, text) never runs in the transition lookup of a superuser caller');

------------------------------------------------------------------------------------------------
-- 3. The audit insert (as the audit table's owner) from a gateway login with a request context.
------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION tap15_gateway;
SET search_path = tap15_gateway_trap, pg_catalog, public;
BEGIN;
SELECT coditect.set_request_context(:'tenant', :'owner', 'owner', '192.0.2.15', 'tap15', 'POST', '/api/v1/projects/');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tenant', 'Trapped') RETURNING id AS trapped \gset
UPDATE coditect.projects SET name = 'Trapped again'
 WHERE tenant_id OPERATOR(pg_catalog.=) :'tenant' AND id OPERATOR(pg_catalog.=) :'trapped';
COMMIT;
SELECT ok(now() IS NOT NULL AND 'x'::text = 'x', 'the gateway''s traps are live in its own queries');
RESET search_path;
RESET SESSION AUTHORIZATION;
SELECT ok((SELECT count(*) FROM tap15_gateway_trap.calls WHERE usr = 'tap15_gateway') >= 2,
          'the traps recorded the gateway''s own calls');
SELECT is((SELECT count(*)::int FROM tap15_gateway_trap.calls WHERE su), 0,
          'no operator or function of the gateway login ran as a superuser (audit insert)');
SELECT is((SELECT array_agg(action::text ORDER BY id) FROM coditect.audit_logs WHERE resource_id = :'trapped'),
          '{project.create,project.update}', 'both changes were audited');

-- An error inside the owner-context insert (resource_id is varchar(255)), caught by a
-- savepoint: the caller is back to its own user, rights and search_path.
CREATE TABLE public.tap15_long (tenant_id uuid NOT NULL, id text NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE TRIGGER audit_row_change AFTER INSERT ON public.tap15_long
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_row_change('resource=tap15_long');
GRANT INSERT ON public.tap15_long TO tap15_gateway;
SET SESSION AUTHORIZATION tap15_gateway;
SET search_path = tap15_gateway_trap, pg_catalog, public;
BEGIN;
SELECT coditect.set_request_context(:'tenant', :'owner', 'owner');
SELECT throws_ok(format($$INSERT INTO public.tap15_long VALUES (%L, repeat('x', 300))$$, :'tenant'), '22001', NULL,
                 'an error inside the owner-context audit insert reaches the caller');
SELECT is(current_user::text, 'tap15_gateway', '... which is its own user again');
SELECT lives_ok('CREATE TEMP TABLE tap15_tmp (x int) ON COMMIT DROP', '... outside any security-restricted operation');
SELECT count(*) AS calls_before FROM tap15_gateway_trap.calls \gset
SELECT 'x'::text = 'x' AS compared \gset
SELECT ok(:'compared' AND (SELECT count(*) FROM tap15_gateway_trap.calls) > :calls_before,
          '... under its own search_path (the pinned one was popped)');
SELECT lives_ok(format($$INSERT INTO public.tap15_long VALUES (%L, 'short')$$, :'tenant'),
                '... and the next audited insert of the transaction works');
COMMIT;
RESET search_path;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE resource_type = 'Tap15Long'), 1,
          'only the committed insert is audited');
SELECT is((SELECT count(*)::int FROM tap15_gateway_trap.calls WHERE su), 0,
          'still no operator or function of the gateway login ran as a superuser');

------------------------------------------------------------------------------------------------
-- 4. C++ exceptions: a std::bad_alloc thrown in the audit and the transition triggers.
------------------------------------------------------------------------------------------------
LOAD 'coditect';
SET SESSION AUTHORIZATION tap15_gateway;
SELECT throws_ok($$SET coditect.debug_fail_point = 'audit'$$, '42501', NULL,
                 'a non-superuser cannot set coditect.debug_fail_point');
RESET SESSION AUTHORIZATION;
-- In a new session of that login, a value SET before the library is loaded is dropped when it
-- loads (PostgreSQL re-checks the privilege of whoever set the placeholder).
CREATE EXTENSION dblink;
DO $$
BEGIN
    PERFORM dblink_connect('tap15', format('host=%s port=%s dbname=%s user=tap15_gateway',
                                           split_part(current_setting('unix_socket_directories'), ',', 1),
                                           current_setting('port'), current_database()));
    PERFORM dblink_exec('tap15', $s$SET coditect.debug_fail_point = 'audit'$s$);
END
$$;
SELECT is((SELECT v FROM dblink('tap15', $$SELECT coditect.current_tenant_id() IS NULL,
                                                  current_setting('coditect.debug_fail_point')$$)
                         AS t(loaded boolean, v text)),
          'none', 'nor before the library is loaded in its session');
DO $$ BEGIN PERFORM dblink_disconnect('tap15'); END $$;
DROP EXTENSION dblink;

SET coditect.debug_fail_point = 'audit';
SELECT throws_ok(format($$INSERT INTO coditect.projects (tenant_id, name) VALUES (%L, 'Fail audit')$$, :'tenant'),
                 '53200', 'out of memory', 'a C++ exception in the audit trigger is an out-of-memory error');
RESET coditect.debug_fail_point;
SELECT throws_ok('SELECT 1/0', '22012', NULL, 'after it, errors are raised as usual');
SELECT lives_ok(format($$INSERT INTO coditect.projects (tenant_id, name) VALUES (%L, 'After audit failure')$$, :'tenant'),
                'after it, an audited insert works');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs a JOIN coditect.projects p ON a.resource_id = p.id::text
            WHERE p.name IN ('Fail audit', 'After audit failure')), 1,
          'the failed insert left no row and no audit; the next one is audited');

SET coditect.debug_fail_point = 'transition';
SELECT throws_ok($$INSERT INTO public.tap15_things VALUES (3, 'new')$$, '53200', 'out of memory',
                 'a C++ exception in the transition trigger is an out-of-memory error');
-- Inside a transaction, a savepoint, and an error caught by PL/pgSQL.
BEGIN;
SAVEPOINT s;
SELECT throws_ok($$UPDATE public.tap15_things SET status = 'done' WHERE id = 1$$, '53200', 'out of memory',
                 '... also in a subtransaction');
ROLLBACK TO SAVEPOINT s;
RESET coditect.debug_fail_point;
SELECT throws_ok('SELECT 1/0', '22012', NULL, 'after it, errors are raised as usual');
SELECT lives_ok($$UPDATE public.tap15_things SET status = 'done' WHERE id = 1$$, '... and the transaction goes on');
COMMIT;
SELECT lives_ok($$INSERT INTO public.tap15_things VALUES (3, 'new')$$, 'after it, a transition works');
SELECT throws_ok($$UPDATE public.tap15_things SET status = 'new' WHERE id = 2$$, 'CD422', NULL,
                 '... and a forbidden one is still refused');
SELECT lives_ok(format($$INSERT INTO coditect.projects (tenant_id, name) VALUES (%L, 'Last')$$, :'tenant'),
                'the session ends healthy');

SELECT * FROM finish();

SET client_min_messages = warning;
DROP TABLE public.tap15_things, public.tap15_long;
DELETE FROM coditect.state_transitions WHERE machine = 'tap15_thing';
SELECT coditect.unbind_analyst('tap15_analyst');
SELECT coditect.purge_tenant(:'tenant');
SELECT coditect.purge_tenant(:'tenant_b');
DROP SCHEMA tap15_analyst_trap, tap15_gateway_trap CASCADE;
DROP ROLE tap15_analyst, tap15_gateway;
