-- An attack on every owner-rights path by hostile logins. An analyst, a service and a gateway
-- login, each owning a schema full of traps and with a search_path that puts the traps before
-- pg_catalog (and its temporary schema first), drive every SECURITY DEFINER function they may
-- execute (with NULL arguments, then with realistic ones) and every owner-context SPI path (the
-- analyst binding behind the policies, the audit and transition triggers, seat counting). No
-- trap may ever run with rights other than its login's. Each login attacks in a transaction of
-- its own, so that nothing cached by an earlier statement hides a path; fixtures are committed
-- and removed at the end.
\set ON_ERROR_STOP 1
SELECT no_plan();

CREATE SCHEMA tap13;
GRANT USAGE ON SCHEMA tap13 TO PUBLIC;
CREATE TABLE tap13.ids AS
SELECT 'A'::text AS k, coditect.create_tenant('Trap A', 'trap13-a', 'a@trap13.test', 'owner@a.trap13.test', 'fb-trap13-a') AS j
UNION ALL SELECT 'B', coditect.create_tenant('Trap B', 'trap13-b', 'b@trap13.test', 'owner@b.trap13.test', 'fb-trap13-b');
CREATE FUNCTION tap13.tid(text) RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT (j->>'tenant_id')::uuid FROM tap13.ids WHERE k = $1 $$;
CREATE FUNCTION tap13.uid(text) RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT (j->>'user_id')::uuid FROM tap13.ids WHERE k = $1 $$;
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) SELECT tap13.tid(k), now() + interval '1 year', 3 FROM tap13.ids;
INSERT INTO coditect.projects (tenant_id, name) SELECT tap13.tid(k), 'Project ' || k FROM tap13.ids;
SELECT key_string AS key_a FROM coditect.licenses WHERE tenant_id = tap13.tid('A') \gset
GRANT SELECT ON tap13.ids TO PUBLIC;

CREATE ROLE tap13_analyst LOGIN;
CREATE ROLE tap13_service LOGIN IN ROLE coditect_service;
CREATE ROLE tap13_gateway LOGIN IN ROLE coditect_gateway;
SELECT coditect.bind_analyst('tap13_analyst', tap13.tid('A'));
-- Hostile logins may own schemas (and make temporary objects, which PUBLIC may by default).
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO tap13_analyst, tap13_service, tap13_gateway', current_database()); END $$;

------------------------------------------------------------------------------------------------
-- Traps. Each login owns a schema with `=` operators for the usual types, functions with the
-- exact signatures of common built-ins, and temporary views named like catalogs. Every trap
-- writes (session_user, current_user) to tap13.sprung and then does what the original does.
------------------------------------------------------------------------------------------------

CREATE TABLE tap13.sprung (login name, ran_as name, trap text);
GRANT INSERT, SELECT ON tap13.sprung TO PUBLIC;

CREATE FUNCTION tap13.plant(p_schema name) RETURNS void LANGUAGE plpgsql AS $plant$
DECLARE
    t text;
    n int := 0;
    f record;
    v text;
BEGIN
    EXECUTE format($q$CREATE FUNCTION %I.note(p_trap text) RETURNS boolean LANGUAGE plpgsql AS $f$
        BEGIN
            INSERT INTO tap13.sprung VALUES (session_user, current_user, p_trap);
            RETURN true;
        END $f$ $q$, p_schema);
    FOREACH t IN ARRAY ARRAY['oid', 'text', 'name', 'uuid', 'regclass', 'regrole', 'boolean', 'integer',
                             'bigint', 'jsonb', 'timestamp with time zone', 'inet', 'character varying'] LOOP
        n := n + 1;
        EXECUTE format($q$CREATE FUNCTION %1$I.eq_%2$s(a %3$s, b %3$s) RETURNS boolean LANGUAGE plpgsql AS $f$
            BEGIN
                PERFORM %1$I.note('= %3$s');
                RETURN a OPERATOR(pg_catalog.=) b;
            END $f$ $q$, p_schema, n, t);
        EXECUTE format('CREATE OPERATOR %1$I.= (LEFTARG = %2$s, RIGHTARG = %2$s, FUNCTION = %1$I.eq_%3$s)', p_schema, t, n);
    END LOOP;
    -- Shadows of built-ins with their exact signatures (found first when the schema precedes
    -- pg_catalog in search_path).
    FOR f IN SELECT * FROM (VALUES
        ('now', '', 'timestamp with time zone', 'pg_catalog.now()'),
        ('left', 'a text, b integer', 'text', 'pg_catalog.left(a, b)'),
        ('lower', 'a text', 'text', 'pg_catalog.lower(a)'),
        ('length', 'a text', 'integer', 'pg_catalog.length(a)'),
        ('quote_ident', 'a text', 'text', 'pg_catalog.quote_ident(a)'),
        ('quote_literal', 'a text', 'text', 'pg_catalog.quote_literal(a)'),
        ('current_setting', 'a text', 'text', 'pg_catalog.current_setting(a)'),
        ('set_config', 'a text, b text, c boolean', 'text', 'pg_catalog.set_config(a, b, c)'),
        ('to_regrole', 'a text', 'regrole', 'pg_catalog.to_regrole(a)'),
        ('pg_has_role', 'a name, b name, c text', 'boolean', 'pg_catalog.pg_has_role(a, b, c)'),
        ('jsonb_typeof', 'a jsonb', 'text', 'pg_catalog.jsonb_typeof(a)'),
        ('split_part', 'a text, b text, c integer', 'text', 'pg_catalog.split_part(a, b, c)'),
        ('array_to_string', 'a anyarray, b text', 'text', 'pg_catalog.array_to_string(a, b)'),
        ('format', 'a text, b text', 'text', 'pg_catalog.format(a, b)'),
        ('format', 'a text, b text, c text', 'text', 'pg_catalog.format(a, b, c)'),
        ('format', 'a text, b regclass', 'text', 'pg_catalog.format(a, b)'),
        ('format_type', 'a oid, b integer', 'text', 'pg_catalog.format_type(a, b)')) x(fname, args, ret, body) LOOP
        EXECUTE format($q$CREATE FUNCTION %1$I.%2$I(%3$s) RETURNS %4$s LANGUAGE plpgsql AS $f$
            BEGIN
                PERFORM %1$I.note('%2$s()');
                RETURN %5$s;
            END $f$ $q$, p_schema, f.fname, f.args, f.ret, f.body);
    END LOOP;
    -- Temporary views named like the catalogs that owner-rights code reads.
    FOREACH v IN ARRAY ARRAY['pg_extension', 'pg_namespace', 'pg_inherits', 'pg_trigger', 'pg_roles', 'pg_class',
                             'pg_attribute', 'pg_type', 'pg_proc', 'pg_policy', 'pg_index', 'pg_database'] LOOP
        EXECUTE format('CREATE TEMP VIEW %1$I AS SELECT %4$s FROM pg_catalog.%1$I c WHERE %2$I.note(%3$L)',
                       v, p_schema, 'view ' || v,
                       (SELECT string_agg('c.' || quote_ident(a.attname), ', ' ORDER BY a.attnum)
                          FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = ('pg_catalog.' || v)::regclass AND a.attnum > 0
                           AND a.atttypid <> 'anyarray'::regtype));
    END LOOP;
END
$plant$;

-- The temporary views live in the session's temporary schema: each login removes its own.
CREATE FUNCTION tap13.unplant() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DROP VIEW pg_temp.pg_extension, pg_temp.pg_namespace, pg_temp.pg_inherits, pg_temp.pg_trigger, pg_temp.pg_roles,
              pg_temp.pg_class, pg_temp.pg_attribute, pg_temp.pg_type, pg_temp.pg_proc, pg_temp.pg_policy,
              pg_temp.pg_index, pg_temp.pg_database;
END $$;

-- Drives every SECURITY DEFINER function this login may execute: with NULL arguments, and then
-- with the realistic arguments given. Errors are expected and ignored; only the traps count.
CREATE FUNCTION tap13.call_definers(p_calls text[]) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    f record;
    c text;
    n int := 0;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig, p.oid::regproc AS name, p.pronargs
               FROM pg_catalog.pg_proc p
              WHERE p.prosecdef AND p.prorettype <> 'trigger'::regtype
                AND p.pronamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace)
                AND has_function_privilege(p.oid, 'EXECUTE')
              ORDER BY 1 LOOP
        BEGIN
            EXECUTE format('SELECT %s(%s)', f.name, (SELECT string_agg('NULL', ', ') FROM generate_series(1, f.pronargs)));
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
        n := n + 1;
    END LOOP;
    FOREACH c IN ARRAY p_calls LOOP
        BEGIN
            EXECUTE c;
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO tap13.sprung VALUES (session_user, current_user, 'call failed: ' || SQLERRM);
        END;
    END LOOP;
    RETURN n;
END $$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tap13 TO PUBLIC;

-- The analyst: every query of a tenant table evaluates the policy, whose current_tenant_id()
-- looks the binding up as the table owner.
BEGIN;
SET SESSION AUTHORIZATION tap13_analyst;
CREATE SCHEMA tap13_analyst_traps;
SELECT tap13.plant('tap13_analyst_traps');
SET search_path = pg_temp, tap13_analyst_traps, pg_catalog, public;
SELECT tap13.call_definers(ARRAY[
    'SELECT count(*) FROM coditect.projects', 'SELECT count(*) FROM coditect.users',
    'SELECT count(*) FROM coditect.tenants', 'SELECT count(*) FROM coditect.audit_logs',
    'SELECT count(*) FROM coditect.license_sessions',
    format('SELECT coditect.license_verify(%L)', 'a.b.c'),
    'SELECT count(*) FROM coditect.license_public_keys()']) AS analyst_calls \gset
SELECT count(*) AS analyst_projects FROM coditect.projects \gset
RESET search_path;
SELECT tap13.unplant();
RESET SESSION AUTHORIZATION;
COMMIT;

-- The service: maintenance, tenant creation, registration, a request context and writes in it
-- (the audit trigger and the transition trigger write and read as the owner).
BEGIN;
SET SESSION AUTHORIZATION tap13_service;
CREATE SCHEMA tap13_service_traps;
SELECT tap13.plant('tap13_service_traps');
SET search_path = pg_temp, tap13_service_traps, pg_catalog, public;
SELECT tap13.call_definers(ARRAY[
    'SELECT coditect.audit_maintenance()', 'SELECT coditect.audit_retention()',
    'SELECT coditect.audit_verify(''-infinity'', ''infinity'')',
    'SELECT coditect_internal.audit_maintenance_as_owner(''pg_temp, tap13_service_traps, pg_catalog'')',
    'SELECT coditect.create_tenant(''Trap Co'', ''trap-co'', ''t@trap.test'', ''o@trap.test'', ''fb-trap'')',
    'SELECT coditect.api_register(''fb-trap-2'', ''o2@trap.test'', ''Trap Two'', ''trap-two'')',
    'SELECT coditect.resolve_firebase_user(''fb-trap13-b'')',
    'SELECT coditect.reap_zombie_sessions()',
    format('SELECT coditect.set_request_context(%L, %L, ''owner'', ''192.0.2.1'', ''ua'', ''POST'', ''/x/'')', tap13.tid('A'), tap13.uid('A')),
    'INSERT INTO coditect.projects (tenant_id, name) VALUES (coditect.current_tenant_id(), ''Trapped'')',
    'UPDATE coditect.projects SET description = ''changed'' WHERE name = ''Trapped''',
    'DELETE FROM coditect.projects WHERE name = ''Trapped''',
    format('SELECT coditect.license_acquire(%L, ''trap-machine'')', :'key_a'),
    'UPDATE coditect.license_sessions SET status = ''ended'' WHERE hardware_id = ''trap-machine''',
    'SELECT coditect.api_projects_list()']) AS service_calls \gset
RESET search_path;
SELECT tap13.unplant();
RESET SESSION AUTHORIZATION;
COMMIT;

-- The gateway: the request path of the frontend's requests.
BEGIN;
SET SESSION AUTHORIZATION tap13_gateway;
CREATE SCHEMA tap13_gateway_traps;
SELECT tap13.plant('tap13_gateway_traps');
SET search_path = pg_temp, tap13_gateway_traps, pg_catalog, public;
SELECT tap13.call_definers(ARRAY[
    format('SELECT coditect.set_request_context(%L, %L, ''owner'', ''192.0.2.1'', ''ua'', ''POST'', ''/x/'')', tap13.tid('A'), tap13.uid('A')),
    'SELECT coditect.api_projects_create(''{"name": "Gateway trap"}'')',
    format('SELECT coditect.license_acquire(%L, ''gw-machine'')', :'key_a'),
    'SELECT coditect.license_heartbeat((SELECT id FROM coditect.license_sessions WHERE hardware_id = ''gw-machine''))',
    'SELECT coditect.license_release((SELECT id FROM coditect.license_sessions WHERE hardware_id = ''gw-machine''))',
    'SELECT coditect.api_register(''fb-trap-3'', ''o3@trap.test'', ''Trap Three'', ''trap-three'')',
    'SELECT coditect.resolve_firebase_user(''fb-trap13-b'')',
    'SELECT coditect.reap_zombie_sessions()']) AS gateway_calls \gset
RESET search_path;
SELECT tap13.unplant();
RESET SESSION AUTHORIZATION;
COMMIT;

SELECT cmp_ok(:analyst_calls + :service_calls + :gateway_calls, '>=', 12, 'the attack drove the definer functions');
-- Control: the traps are live (each login's own statements resolve to them).
SELECT ok(EXISTS (SELECT 1 FROM tap13.sprung WHERE login = r AND ran_as = r AND trap LIKE '= %'),
          r || ': its `=` traps are live for its own statements')
  FROM unnest(ARRAY['tap13_analyst', 'tap13_service', 'tap13_gateway']) r ORDER BY r;
SELECT is((SELECT string_agg(DISTINCT login || ' -> ' || ran_as || ': ' || trap, '; ') FROM tap13.sprung
            WHERE ran_as <> login AND trap NOT LIKE 'call failed:%'),
          NULL, 'no trap ever ran with rights other than its login''s');
SELECT is((SELECT string_agg(DISTINCT login || ': ' || trap, '; ') FROM tap13.sprung
            WHERE trap LIKE 'call failed:%' AND trap NOT LIKE '%already%'),
          NULL, 'the realistic calls of the attack succeeded (so their paths were really taken)');

SELECT is(:analyst_projects::int, 1, 'the trapped analyst still reads its tenant''s project');

SELECT * FROM finish();

-- Clean-up: the tenants made by the attack too.
SELECT coditect.purge_tenant(id) FROM coditect.tenants WHERE slug LIKE 'trap%';
SET client_min_messages = warning;
DROP SCHEMA tap13_analyst_traps, tap13_service_traps, tap13_gateway_traps, tap13 CASCADE;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM tap13_analyst, tap13_service, tap13_gateway', current_database()); END $$;
DROP ROLE tap13_analyst, tap13_service, tap13_gateway;
