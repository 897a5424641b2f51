-- The request context (set_request_context and its rules, lifetime) and analyst bindings.
-- Runs several transactions in one session (pgTAP keeps its state in the session), so that
-- clearing at transaction end is observed; fixtures are removed at the end.
\set ON_ERROR_STOP 1
SELECT plan(55);

CREATE ROLE tap40_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap40_analyst LOGIN;
CREATE ROLE tap40_other LOGIN;
CREATE TEMP TABLE ids AS
SELECT 'A'::text AS k, coditect.create_tenant('Ctx A', 't40-a', 'a@a.test', 'owner@a.test') AS j
UNION ALL SELECT 'B', coditect.create_tenant('Ctx B', 't40-b', 'b@b.test', 'owner@b.test');
CREATE FUNCTION pg_temp.tid(text) RETURNS uuid LANGUAGE sql AS $$ SELECT (j->>'tenant_id')::uuid FROM ids WHERE k = $1 $$;
CREATE FUNCTION pg_temp.uid(text) RETURNS uuid LANGUAGE sql AS $$ SELECT (j->>'user_id')::uuid FROM ids WHERE k = $1 $$;
-- A second user of A: a plain member.
INSERT INTO coditect.users (tenant_id, email) VALUES (pg_temp.tid('A'), 'member@a.test');
INSERT INTO coditect.memberships (tenant_id, user_id, role)
SELECT tenant_id, id, 'member' FROM coditect.users WHERE email = 'member@a.test';
INSERT INTO coditect.projects (tenant_id, name) SELECT pg_temp.tid(k), 'Project ' || k FROM ids;
SELECT id AS member_a FROM coditect.users WHERE email = 'member@a.test' \gset
SELECT pg_temp.tid('A') AS tenant_a, pg_temp.uid('A') AS owner_a, pg_temp.tid('B') AS tenant_b, pg_temp.uid('B') AS owner_b \gset

-- Readers without a context.
SELECT is(coditect.current_tenant_id(), NULL, 'no context: current_tenant_id() is NULL');
SELECT is(coditect.current_user_id(), NULL, 'no context: current_user_id() is NULL');
SELECT is(coditect.current_user_role(), NULL, 'no context: current_user_role() is NULL');

BEGIN;
SET LOCAL ROLE tap40_gateway;
-- Bad input.
SELECT throws_ok($$SELECT coditect.set_request_context(NULL, NULL, 'owner')$$, 'CD400', NULL, 'tenant and user are required');
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'root')$$, :'tenant_a', :'owner_a'),
                 'CD400', NULL, 'an unknown role is rejected');
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner', NULL, NULL, 'get; drop')$$, :'tenant_a', :'owner_a'),
                 'CD400', NULL, 'a malformed request method is rejected');
-- Membership rules.
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, :'tenant_a', :'owner_b'),
                 'CD403', 'user is not an active member of this tenant', 'a user of B cannot act in A');
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, :'tenant_a', coditect.uuid_generate_v7()),
                 'CD403', NULL, 'an unknown user is rejected');
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'admin')$$, :'tenant_a', :'member_a'),
                 'CD403', 'role "admin" exceeds the membership role "member"', 'a member cannot claim admin');
SELECT lives_ok(format($$SELECT coditect.set_request_context(%L, %L, 'guest')$$, :'tenant_a', :'member_a'),
                'a member may act with fewer rights (guest)');
SELECT is(coditect.current_user_role(), 'guest', '... and current_user_role() says guest');
SELECT lives_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner', '192.0.2.7', repeat('x', 900), 'PATCH', '/api/v1/x/')$$,
                       :'tenant_a', :'owner_a'), 'the owner sets a full context');
SELECT is(coditect.current_tenant_id(), :'tenant_a'::uuid, 'current_tenant_id() is A');
SELECT is(coditect.current_user_id(), :'owner_a'::uuid, 'current_user_id() is the owner');
SELECT is(coditect.current_user_role(), 'owner', 'current_user_role() is owner');
SELECT is((SELECT count(*)::int FROM coditect.projects), 1, 'the context shows A''s project');
-- A custom setting is not a context: GUCs are not trusted.
SET coditect.tenant_id = :'tenant_b';
SELECT is(coditect.current_tenant_id(), :'tenant_a'::uuid, 'SET coditect.tenant_id changes nothing');
RESET coditect.tenant_id;
COMMIT;

-- Lifetime: the transaction.
SELECT is(coditect.current_tenant_id(), NULL, 'the context ended with its transaction');
BEGIN;
SET LOCAL ROLE tap40_gateway;
SELECT coditect.set_request_context(:'tenant_a', :'owner_a', 'owner');
SAVEPOINT s1;
SELECT coditect.set_request_context(:'tenant_a', :'member_a', 'member');
ROLLBACK TO SAVEPOINT s1;
SELECT is(coditect.current_user_id(), NULL, 'a context set in a rolled-back savepoint is dropped (fail closed)');
SAVEPOINT s2;
SELECT coditect.set_request_context(:'tenant_a', :'member_a', 'member');
RELEASE SAVEPOINT s2;
SELECT is(coditect.current_user_id(), :'member_a'::uuid, 'a context set in a released savepoint stays');
SELECT is((SELECT count(*)::int FROM coditect.projects), 1, '... and is used by the policies');
COMMIT;
SELECT is(coditect.current_tenant_id(), NULL, 'COMMIT clears the context');
BEGIN;
SET LOCAL ROLE tap40_gateway;
SELECT coditect.set_request_context(:'tenant_a', :'owner_a', 'owner');
ROLLBACK;
SELECT is(coditect.current_tenant_id(), NULL, 'ROLLBACK clears the context');

-- Revoked membership, inactive user, inactive tenant.
UPDATE coditect.memberships SET revoked_at = now() WHERE user_id = :'member_a';
SET ROLE tap40_gateway;
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'member')$$, :'tenant_a', :'member_a'),
                 'CD403', NULL, 'a revoked membership gives no context');
RESET ROLE;
UPDATE coditect.memberships SET revoked_at = NULL WHERE user_id = :'member_a';
UPDATE coditect.users SET is_active = false WHERE id = :'member_a';
SET ROLE tap40_gateway;
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'member')$$, :'tenant_a', :'member_a'),
                 'CD403', NULL, 'an inactive user gives no context');
RESET ROLE;
UPDATE coditect.users SET is_active = true WHERE id = :'member_a';
UPDATE coditect.tenants SET is_active = false WHERE id = :'tenant_a';
SET ROLE tap40_gateway;
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, :'tenant_a', :'owner_a'),
                 'CD403', NULL, 'an inactive tenant gives no context');
RESET ROLE;
UPDATE coditect.tenants SET is_active = true WHERE id = :'tenant_a';

-- Who may call it.
SET ROLE tap40_other;
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, :'tenant_a', :'owner_a'),
                 '42501', NULL, 'a role outside gateway/service cannot set a context');
RESET ROLE;

-- Analyst bindings.
SELECT throws_ok($$SELECT coditect.bind_analyst('no_such_role', coditect.uuid_generate_v7())$$, 'CD404', NULL,
                 'binding an unknown role fails');
SELECT throws_ok(format($$SELECT coditect.bind_analyst('postgres', %L)$$, :'tenant_a'), 'CD400', NULL,
                 'a superuser cannot be bound');
SELECT throws_ok(format($$SELECT coditect.bind_analyst('tap40_gateway', %L)$$, :'tenant_a'), 'CD400', NULL,
                 'a gateway login cannot be bound');
SELECT throws_ok($$SELECT coditect.bind_analyst('tap40_analyst', coditect.uuid_generate_v7())$$, 'CD404', NULL,
                 'binding to an unknown tenant fails');
SET ROLE tap40_gateway;
SELECT throws_ok(format($$SELECT coditect.bind_analyst('tap40_analyst', %L)$$, :'tenant_a'), '42501', NULL,
                 'the gateway cannot bind analysts');
RESET ROLE;
SELECT lives_ok(format($$SELECT coditect.bind_analyst('tap40_analyst', %L)$$, :'tenant_a'), 'a DBA binds an analyst to A');
SELECT ok(pg_has_role('tap40_analyst', 'coditect_analyst', 'MEMBER'), '... which makes it a coditect_analyst');

SET SESSION AUTHORIZATION tap40_analyst;
SELECT is(coditect.current_tenant_id(), :'tenant_a'::uuid, 'the analyst''s tenant is A');
SELECT is((SELECT count(*)::int FROM coditect.projects), 1, 'the analyst sees A''s project');
SELECT is((SELECT count(*)::int FROM coditect.projects WHERE tenant_id = :'tenant_b'), 0, 'and nothing of B');
SELECT is((SELECT count(*)::int FROM coditect.tenants), 1, 'the analyst sees one tenant');
SELECT is((SELECT count(*)::int FROM coditect.users), 2, 'the analyst sees A''s two users');
SELECT ok((SELECT count(*) FROM coditect.audit_logs) > 0 AND
          (SELECT count(*) FROM coditect.audit_logs WHERE tenant_id <> :'tenant_a') = 0,
          'the analyst reads A''s audit trail and nothing else');
SELECT throws_ok(format($$INSERT INTO coditect.projects (tenant_id, name) VALUES (%L, 'x')$$, :'tenant_a'),
                 '42501', NULL, 'the analyst cannot insert');
SELECT throws_ok($$UPDATE coditect.projects SET name = 'x'$$, '42501', NULL, 'the analyst cannot update');
SELECT throws_ok($$DELETE FROM coditect.projects$$, '42501', NULL, 'the analyst cannot delete');
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, :'tenant_b', :'owner_b'),
                 '42501', NULL, 'the analyst cannot call set_request_context');
SELECT throws_ok($$SET ROLE coditect_gateway$$, '42501', NULL, 'the analyst cannot become the gateway');
SELECT throws_ok($$SET ROLE postgres$$, '42501', NULL, 'the analyst cannot become a superuser');
SET coditect.tenant_id = :'tenant_b';
SET coditect.current_tenant = :'tenant_b';
SELECT is((SELECT count(*)::int FROM coditect.projects WHERE tenant_id = :'tenant_b'), 0,
          'custom settings do not widen what the analyst sees');
SET ROLE coditect_analyst;
SELECT is((SELECT count(*)::int FROM coditect.projects), 1, 'SET ROLE coditect_analyst keeps the binding');
RESET ROLE;
SELECT throws_ok($$SELECT * FROM coditect_internal.analyst_bindings$$, '42501', NULL,
                 'the analyst cannot read the bindings');
RESET SESSION AUTHORIZATION;

-- A bound login later granted the gateway role still cannot set a context.
GRANT coditect_gateway TO tap40_analyst;
SET SESSION AUTHORIZATION tap40_analyst;
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, :'tenant_b', :'owner_b'),
                 'CD403', 'an analyst login cannot set a request context', 'a bound login never gets a context');
RESET SESSION AUTHORIZATION;
REVOKE coditect_gateway FROM tap40_analyst;

SELECT lives_ok(format($$SELECT coditect.bind_analyst('tap40_analyst', %L)$$, :'tenant_b'), 'rebinding moves the analyst to B');
SET SESSION AUTHORIZATION tap40_analyst;
SELECT is((SELECT name::text FROM coditect.tenants), 'Ctx B', 'the rebound analyst sees B only');
RESET SESSION AUTHORIZATION;
SELECT lives_ok($$SELECT coditect.unbind_analyst('tap40_analyst')$$, 'unbinding');
SELECT ok(NOT pg_has_role('tap40_analyst', 'coditect_analyst', 'MEMBER'), '... removes the analyst role');
SET SESSION AUTHORIZATION tap40_analyst;
SELECT throws_ok($$SELECT count(*) FROM coditect.projects$$, '42501', NULL, 'an unbound login reads nothing');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();

SELECT coditect.purge_tenant(pg_temp.tid(k)) FROM ids;
DROP ROLE tap40_gateway, tap40_analyst, tap40_other;
