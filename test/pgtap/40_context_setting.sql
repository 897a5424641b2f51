-- The request context from the setting coditect.request (src_ext/pg_context.cpp,
-- request_codec.hpp): what the coordinator of a Citus cluster sets for its workers, and what a
-- backend without a context of its own reads, after running set_request_context's very checks.
-- On one node it is the same path: a gateway login's setting gives the context
-- set_request_context would give (readers, policies, the audit trigger); whoever
-- set_request_context refuses (no EXECUTE, analysts, another tenant's user, a raised role) is
-- refused the same way, with the same error; a malformed value is CD400; a context set by
-- set_request_context is not changed by the setting, one read from the setting follows it.
-- Several transactions in one session; fixtures are removed at the end.
\set ON_ERROR_STOP 1
SELECT plan(50);

CREATE ROLE tapcs_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tapcs_analyst LOGIN;
CREATE ROLE tapcs_other LOGIN;
GRANT USAGE ON SCHEMA coditect TO tapcs_other;  -- it reaches the context readers
SELECT coditect.create_tenant('Setting A', 'tcs-a', 'a@tcs.test', 'owner@a.tcs.test') AS ja \gset
SELECT coditect.create_tenant('Setting B', 'tcs-b', 'b@tcs.test', 'owner@b.tcs.test') AS jb \gset
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS oa,
       :'jb'::jsonb ->> 'tenant_id' AS tb, :'jb'::jsonb ->> 'user_id' AS ob \gset
INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'member@a.tcs.test') RETURNING id AS ma \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'ta', :'ma', 'member');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'A1'), (:'tb', 'B1');
SELECT coditect.bind_analyst('tapcs_analyst', :'ta');
-- A definer function (owned by this superuser) that reads the context: it must lend the
-- setting none of its owner's privileges.
CREATE SCHEMA tapcs;
GRANT USAGE ON SCHEMA tapcs TO PUBLIC;
CREATE FUNCTION tapcs.definer_tenant() RETURNS uuid LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS $$ SELECT coditect.current_tenant_id() $$;
GRANT EXECUTE ON FUNCTION tapcs.definer_tenant() TO PUBLIC;

-- The setting's text, as the coordinator writes it (request_codec.hpp).
SELECT format('v1;t=%s;u=%s;r=owner', :'ta', :'oa') AS owner_a,
       format('v1;t=%s;u=%s;r=owner', :'tb', :'ob') AS owner_b,
       format('v1;t=%s;u=%s;r=owner', :'ta', :'ob') AS owner_b_in_a,
       format('v1;t=%s;u=%s;r=admin', :'ta', :'ma') AS member_as_admin,
       format('v1;t=%s;u=%s;r=guest', :'ta', :'oa') AS owner_as_guest,
       format('v1;t=%s;u=%s;r=guest', :'ta', :'ma') AS member_as_guest,
       format('v1;t=%s;u=%s;r=owner;ip=192.0.2.7;ua=curl/8.5%%20%%28tap%%29;m=POST;p=/api/v1/projects/;id=req-tcs.1',
              :'ta', :'oa') AS full_a \gset

-- 1. A gateway login's setting is the context set_request_context gives.
BEGIN;
SET LOCAL ROLE tapcs_gateway;
SELECT set_config('coditect.request', :'full_a', true) IS NOT NULL AS _ \gset
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, 'from the setting: current_tenant_id() is A');
SELECT is(coditect.current_user_id(), :'oa'::uuid, '... current_user_id() is A''s owner');
SELECT is(coditect.current_user_role(), 'owner', '... current_user_role() is owner');
RESET ROLE;  -- the internal readers of the context (its IP and agent) are not the gateway's
SELECT is(coditect_internal.context_client_ip(), '192.0.2.7'::inet, '... the client IP');
SELECT is(coditect_internal.context_user_agent(), 'curl/8.5 (tap)', '... the user agent, decoded');
SET LOCAL ROLE tapcs_gateway;
SELECT is((SELECT array_agg(name::text) FROM coditect.projects), ARRAY['A1'], 'the policy shows A''s project only');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'via setting') RETURNING id AS p_setting \gset
COMMIT;
BEGIN;
SET LOCAL ROLE tapcs_gateway;
SELECT coditect.set_request_context(:'ta', :'oa', 'owner', '192.0.2.7', 'curl/8.5 (tap)', 'POST',
                                    '/api/v1/projects/', 'req-tcs.1');
SELECT is(current_setting('coditect.request'), '', 'on one node set_request_context sets no coditect.request');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'via call') RETURNING id AS p_call \gset
COMMIT;
SELECT is((SELECT row(user_id, ip_address, user_agent, request_method, request_path, request_id, action, tenant_id)::text
             FROM coditect.audit_logs WHERE resource_id = :'p_setting'),
          (SELECT row(user_id, ip_address, user_agent, request_method, request_path, request_id, action, tenant_id)::text
             FROM coditect.audit_logs WHERE resource_id = :'p_call'),
          'the audit trigger records the same actor, IP, agent, method, path and request id either way');
SELECT is((SELECT user_id FROM coditect.audit_logs WHERE resource_id = :'p_setting'), :'oa'::uuid,
          '... the setting''s user');

-- 2. The same refusals as set_request_context, with the same errors.
BEGIN;
SET LOCAL ROLE tapcs_gateway;
SELECT set_config('coditect.request', :'owner_b_in_a', true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, 'CD403', 'user is not an active member of this tenant',
                 'another tenant''s user is refused');
SELECT throws_ok($$SELECT count(*) FROM coditect.projects$$, 'CD403', 'user is not an active member of this tenant',
                 '... in a policy too: an error, not an empty answer');
SELECT throws_ok($$SELECT coditect.current_user_id()$$, 'CD403', NULL, '... by current_user_id()');
SELECT throws_ok($$SELECT coditect.current_user_role()$$, 'CD403', NULL, '... by current_user_role()');
SELECT throws_ok(format($$INSERT INTO coditect.projects (tenant_id, name) VALUES (%L, 'x')$$, :'ta'), 'CD403', NULL,
                 '... by a write');
SELECT set_config('coditect.request', :'member_as_admin', true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, 'CD403', 'role "admin" exceeds the membership role "member"',
                 'a raised role is refused');
SELECT set_config('coditect.request', :'owner_as_guest', true) IS NOT NULL AS _ \gset
SELECT is(coditect.current_user_role(), 'guest', 'a lowered role is kept');
SELECT set_config('coditect.request', format('v1;t=%s;u=%s;r=owner', :'ta', coditect.uuid_generate_v7()), true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, 'CD403', NULL, 'an unknown user is refused');
SELECT set_config('coditect.request', format('v1;t=%s;u=%s;r=root', :'ta', :'oa'), true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, 'CD400', 'unknown role "root": expected owner, admin, member or guest',
                 'an unknown role is refused');
SELECT set_config('coditect.request', :'owner_a' || ';m=get', true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, 'CD400', 'request method must be 1 to 10 upper-case letters',
                 'a malformed method is refused');
SELECT set_config('coditect.request', :'owner_a' || ';id=', true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, 'CD400', 'request id must be 1 to 128 letters, digits or . _ : -',
                 'an empty request id is refused');
COMMIT;

BEGIN;
SET LOCAL ROLE tapcs_other;
SELECT set_config('coditect.request', :'owner_a', true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, '42501', 'permission denied for function set_request_context',
                 'a login that may not call set_request_context is refused');
SELECT throws_ok($$SELECT tapcs.definer_tenant()$$, '42501', 'permission denied for function set_request_context',
                 '... also when a SECURITY DEFINER function reads the context');
COMMIT;

SET SESSION AUTHORIZATION tapcs_analyst;
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, 'the bound analyst''s tenant is A');
BEGIN;
SELECT set_config('coditect.request', :'owner_b', true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, '42501', 'permission denied for function set_request_context',
                 'an analyst''s setting is refused (it may not call set_request_context)');
COMMIT;
RESET SESSION AUTHORIZATION;
GRANT coditect_gateway TO tapcs_analyst;
SET SESSION AUTHORIZATION tapcs_analyst;
BEGIN;
SELECT set_config('coditect.request', :'owner_b', true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, 'CD403', 'an analyst login cannot set a request context',
                 'a bound analyst that may call set_request_context is refused as that call refuses it');
COMMIT;
RESET SESSION AUTHORIZATION;
REVOKE coditect_gateway FROM tapcs_analyst;

-- 3. Malformed values: CD400, whatever the bytes.
CREATE FUNCTION pg_temp.refusal(p_value text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('coditect.request', p_value, true);
    PERFORM coditect.current_tenant_id();
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
BEGIN;
SET LOCAL ROLE tapcs_gateway;
SELECT is(pg_temp.refusal('garbage'), 'CD400 malformed coditect.request: not a version 1 request (expected "v1;" first)',
          'a value that is not a request');
SELECT is(pg_temp.refusal(format('v1;t=%s;r=owner', :'ta')), 'CD400 malformed coditect.request: field u is missing',
          'a missing user');
SELECT is(pg_temp.refusal(format('v1;t=%s;u=%s;r=owner', 'not-a-uuid', :'oa')),
          'CD400 malformed coditect.request: tenant is not a uuid', 'a tenant that is not a uuid');
SELECT is(pg_temp.refusal(:'owner_a' || ';ua=a%00b'), 'CD400 malformed coditect.request: a value contains a NUL byte',
          'an escaped NUL byte');
SELECT is(pg_temp.refusal(:'owner_a' || ';ua=%FF%FE'),
          'CD400 malformed coditect.request: a value is not valid in the database encoding', 'invalid UTF-8');
SELECT is(pg_temp.refusal(:'owner_a' || ';ua=it''s'),
          'CD400 malformed coditect.request: a value contains a byte that must be %-escaped', 'an unescaped quote');
SELECT is(pg_temp.refusal(:'owner_a' || ';ip=300.0.0.1'), 'CD400 malformed coditect.request: ip is not an IP address',
          'an IP that is not one');
SELECT is(pg_temp.refusal(:'owner_a' || ';zz=1'), 'CD400 malformed coditect.request: unknown, repeated or misplaced field',
          'an unknown field');
SELECT is(pg_temp.refusal(:'owner_a' || ';' || repeat('x', 40000)), 'CD400 malformed coditect.request: longer than 32768 bytes',
          'an overlong value');
SELECT is(pg_temp.refusal(''), 'accepted', 'an empty value is no request');
SELECT is(coditect.current_tenant_id(), NULL, '... and gives no context');
COMMIT;

-- 4. Which wins. A context set by set_request_context stays whatever the setting says.
BEGIN;
SET LOCAL ROLE tapcs_gateway;
SELECT coditect.set_request_context(:'ta', :'oa', 'owner');
SELECT set_config('coditect.request', :'owner_b', true) IS NOT NULL AS _ \gset
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, 'a setting after set_request_context does not change its context');
SELECT set_config('coditect.request', 'garbage', true) IS NOT NULL AS _ \gset
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, '... nor does a malformed one raise');
COMMIT;
-- A context read from the setting follows it (a coordinator that sets another context in the
-- same transaction re-sends the setting to its open worker connections), checked again.
BEGIN;
SET LOCAL ROLE tapcs_gateway;
SELECT set_config('coditect.request', :'owner_a', true) IS NOT NULL AS _ \gset
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, 'the setting gives A');
SELECT set_config('coditect.request', :'owner_b', true) IS NOT NULL AS _ \gset
SELECT is(coditect.current_tenant_id(), :'tb'::uuid, 'a new setting gives B');
SELECT is((SELECT array_agg(name::text) FROM coditect.projects), ARRAY['B1'], '... and B''s rows');
SELECT set_config('coditect.request', :'owner_b_in_a', true) IS NOT NULL AS _ \gset
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, 'CD403', NULL, 'a refused new setting raises');
SELECT set_config('coditect.request', '', true) IS NOT NULL AS _ \gset
SELECT is(coditect.current_tenant_id(), NULL, 'an emptied setting leaves no context');
SELECT coditect.set_request_context(:'ta', :'oa', 'owner');
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, 'set_request_context then takes over');
COMMIT;
-- Subtransactions and the transaction's end.
BEGIN;
SET LOCAL ROLE tapcs_gateway;
SAVEPOINT s;
SET LOCAL coditect.request = :'owner_a';
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, 'a setting made in a savepoint');
ROLLBACK TO SAVEPOINT s;
SELECT is(coditect.current_tenant_id(), NULL, '... is gone with its rollback');
SET LOCAL coditect.request = :'owner_a';
SELECT is(coditect.current_tenant_id(), :'ta'::uuid, 'SET LOCAL gives the context');
COMMIT;
SELECT is(coditect.current_tenant_id(), NULL, '... for its transaction only');

-- 5. The checks read the latest state: a revoked membership refuses the next setting.
BEGIN;
SET LOCAL ROLE tapcs_gateway;
SET LOCAL coditect.request = :'member_as_guest';
SELECT is(coditect.current_user_id(), :'ma'::uuid, 'the member acts as guest');
COMMIT;
UPDATE coditect.memberships SET revoked_at = now() WHERE tenant_id = :'ta' AND user_id = :'ma';
BEGIN;
SET LOCAL ROLE tapcs_gateway;
SET LOCAL coditect.request = :'member_as_guest';
SELECT throws_ok($$SELECT coditect.current_tenant_id()$$, 'CD403', 'user is not an active member of this tenant',
                 'after the membership is revoked, the same setting is refused');
COMMIT;

SELECT * FROM finish();

SELECT coditect.unbind_analyst('tapcs_analyst');
SELECT coditect.purge_tenant(t) FROM unnest(ARRAY[:'ta', :'tb']::uuid[]) t;
DROP SCHEMA tapcs CASCADE;
REVOKE USAGE ON SCHEMA coditect FROM tapcs_other;
DROP ROLE tapcs_gateway, tapcs_analyst, tapcs_other;
