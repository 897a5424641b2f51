-- REST API functions (coditect.api_*): permissions per role, unknown and read-only fields,
-- pagination (pages and keyset cursors), filters, cross-tenant ids, registration.
-- Committed transactions only (pgTAP's counters are transactional); fixtures purged at the end.
\set ON_ERROR_STOP 1
SELECT plan(53);

CREATE ROLE tap25_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap25_analyst LOGIN;
SELECT coditect.create_tenant('Api A', 't25-a', 'a@a.test', 'owner@a.test') AS ja \gset
SELECT coditect.create_tenant('Api B', 't25-b', 'b@b.test', 'owner@b.test') AS jb \gset
SELECT :'ja'::jsonb->>'tenant_id' AS ta, :'ja'::jsonb->>'user_id' AS owner_a,
       :'jb'::jsonb->>'tenant_id' AS tb, :'jb'::jsonb->>'user_id' AS owner_b \gset
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tb', 'B secret') RETURNING id AS project_b \gset
INSERT INTO coditect.teams (tenant_id, name) VALUES (:'tb', 'B team') RETURNING id AS team_b \gset
-- Users of A with each role.
INSERT INTO coditect.users (tenant_id, email, role)
SELECT :'ta', r || '@a.test', r::coditect.member_role FROM unnest(ARRAY['admin', 'member', 'guest']) r;
INSERT INTO coditect.memberships (tenant_id, user_id, role)
SELECT tenant_id, id, role FROM coditect.users WHERE tenant_id = :'ta' AND role <> 'owner';
SELECT set_config('tap.ta', :'ta', false) AS _ \gset
SELECT count(set_config('tap.u_' || role, id::text, false)) AS _ FROM coditect.users WHERE tenant_id = :'ta' \gset

-- Calls p_sql as the gateway with the A user of the given role in context; returns the JSON
-- answer, or the SQLSTATE as a JSON string when it fails.
CREATE FUNCTION pg_temp.api(p_role text, p_sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    PERFORM coditect.set_request_context(current_setting('tap.ta')::uuid, current_setting('tap.u_' || p_role)::uuid, p_role);
    EXECUTE p_sql INTO r;
    RETURN coalesce(r, 'null');
EXCEPTION WHEN OTHERS THEN
    RETURN to_jsonb(SQLSTATE || ': ' || SQLERRM);
END $$;
SET ROLE tap25_gateway;

-- Create, read, update, delete, restore.
SELECT pg_temp.api('member', $$SELECT coditect.api_projects_create('{"name": "Apollo", "description": "d", "metadata": {"k": 1}}')$$) AS p1 \gset
SELECT is(:'p1'::jsonb->>'name', 'Apollo', 'a member creates a project');
SELECT is(:'p1'::jsonb->>'tenant_id', :'ta', 'in its own tenant, from the context');
SELECT is(pg_temp.api('member', $$SELECT coditect.api_projects_create('{"name": "X", "tenant_id": "00000000-0000-0000-0000-000000000000"}')$$)#>>'{}',
          'CD400: unknown or read-only field(s): tenant_id', 'tenant_id is not writable');
SELECT is(pg_temp.api('member', $$SELECT coditect.api_projects_create('{"name": "X", "colour": "red"}')$$)#>>'{}',
          'CD400: unknown or read-only field(s): colour', 'unknown fields are rejected');
SELECT alike(pg_temp.api('member', $$SELECT coditect.api_projects_create('{"name": "X", "metadata": "flat"}')$$)#>>'{}',
            '23514%', 'a wrongly typed field breaks the column''s rule');
SELECT alike(pg_temp.api('member', $$SELECT coditect.api_projects_create('{"name": "Apollo"}')$$)#>>'{}',
            '23505%', 'a duplicate live name is a conflict');
SELECT alike(pg_temp.api('member', $$SELECT coditect.api_projects_create('[1]')$$)#>>'{}',
            'CD400: the request body must be a JSON object', 'the body must be an object');
SELECT is(pg_temp.api('guest', format($$SELECT coditect.api_projects_get(%L)$$, :'p1'::jsonb->>'id'))->>'name',
          'Apollo', 'a guest reads it');
SELECT alike(pg_temp.api('guest', $$SELECT coditect.api_projects_create('{"name": "G"}')$$)#>>'{}',
            'CD403: permission denied: project.create%', 'a guest cannot create');
SELECT is(pg_temp.api('member', format($$SELECT coditect.api_projects_update(%L, '{"description": "new"}')$$, :'p1'::jsonb->>'id'))->>'description',
          'new', 'a member updates it');
SELECT alike(pg_temp.api('member', format($$SELECT to_jsonb(coditect.api_projects_delete(%L))$$, :'p1'::jsonb->>'id'))#>>'{}',
            'CD403%', 'a member cannot delete');
SELECT is(pg_temp.api('admin', format($$SELECT to_jsonb(coditect.api_projects_delete(%L))$$, :'p1'::jsonb->>'id'))#>>'{}',
          '', 'an admin deletes it');
SELECT alike(pg_temp.api('admin', format($$SELECT coditect.api_projects_get(%L)$$, :'p1'::jsonb->>'id'))#>>'{}',
            'CD404%', 'a deleted project is not found');
SELECT is(pg_temp.api('admin', format($$SELECT coditect.api_projects_restore(%L)$$, :'p1'::jsonb->>'id'))->>'name',
          'Apollo', 'an admin restores it');

-- Another tenant's ids are simply not found.
SELECT alike(pg_temp.api('owner', format($$SELECT coditect.api_projects_get(%L)$$, :'project_b'))#>>'{}', 'CD404%',
            'B''s project is not found from A');
SELECT alike(pg_temp.api('owner', format($$SELECT coditect.api_projects_update(%L, '{"name": "pwned"}')$$, :'project_b'))#>>'{}',
            'CD404%', 'nor updatable');
SELECT alike(pg_temp.api('owner', format($$SELECT to_jsonb(coditect.api_projects_delete(%L))$$, :'project_b'))#>>'{}',
            'CD404%', 'nor deletable');
SELECT alike(pg_temp.api('owner', format($$SELECT coditect.api_team_members_create(%L, '{"user_id": "%s"}')$$, :'team_b', :'owner_a'))#>>'{}',
            'CD404%', 'nor can A add members to B''s team');

-- Lists: pages, filters, keyset cursors.
SELECT pg_temp.api('member', format($$SELECT coditect.api_projects_create('{"name": "P%s"}')$$, g)) FROM generate_series(1, 4) g;
SELECT is(pg_temp.api('guest', $$SELECT coditect.api_projects_list()$$)->>'count', '5', 'the list counts live projects');
SELECT is(jsonb_array_length(pg_temp.api('guest', $$SELECT coditect.api_projects_list('{}', 2, 2)$$)->'results'), 2, 'page 2 of size 2');
SELECT is(pg_temp.api('guest', $$SELECT coditect.api_projects_list('{}', 1, 2)$$)->'results'->0->>'name', 'P4', 'newest first');
SELECT is(pg_temp.api('guest', $$SELECT coditect.api_projects_list('{"name": "P2"}')$$)->>'count', '1', 'filter by name');
SELECT alike(pg_temp.api('guest', $$SELECT coditect.api_projects_list('{"owner": "x"}')$$)#>>'{}', 'CD400: unknown filter(s): owner',
            'unknown filters are rejected');
SELECT alike(pg_temp.api('guest', $$SELECT coditect.api_projects_list('{}', 1, 500)$$)#>>'{}', 'CD400: page_size%', 'page_size is bounded');
SELECT alike(pg_temp.api('guest', $$SELECT coditect.api_projects_list('{}', 0, 10)$$)#>>'{}', 'CD400: page%', 'pages start at 1');
SELECT pg_temp.api('guest', $$SELECT coditect.api_projects_list('{}', NULL, 2)$$) AS k1 \gset
SELECT is(:'k1'::jsonb->'count', 'null'::jsonb, 'keyset pages carry no count');
SELECT is(jsonb_array_length(:'k1'::jsonb->'results'), 2, 'keyset page 1 has 2 rows');
SELECT pg_temp.api('guest', format($$SELECT coditect.api_projects_list('{}', NULL, 2, %L)$$, :'k1'::jsonb->>'next_cursor')) AS k2 \gset
SELECT pg_temp.api('guest', format($$SELECT coditect.api_projects_list('{}', NULL, 2, %L)$$, :'k2'::jsonb->>'next_cursor')) AS k3 \gset
SELECT is((SELECT array_agg(r->>'name') FROM (SELECT jsonb_array_elements(:'k1'::jsonb->'results') r UNION ALL
                                              SELECT jsonb_array_elements(:'k2'::jsonb->'results') UNION ALL
                                              SELECT jsonb_array_elements(:'k3'::jsonb->'results')) x),
          ARRAY['P4', 'P3', 'P2', 'P1', 'Apollo'], 'three keyset pages walk every project once, newest first');
SELECT is(:'k3'::jsonb->'next_cursor', 'null'::jsonb, 'the last page has no next cursor');
SELECT alike(pg_temp.api('guest', $$SELECT coditect.api_projects_list('{}', NULL, 2, 'garbage!')$$)#>>'{}', 'CD400: invalid cursor',
            'a bad cursor is CD400');

-- Tenant profile.
SELECT is(pg_temp.api('guest', $$SELECT coditect.api_tenant_get()$$)->>'id', :'ta', 'the tenant reads itself');
SELECT is(pg_temp.api('admin', $$SELECT coditect.api_tenant_update('{"industry": "Space"}')$$)->>'industry', 'Space',
          'an admin edits the profile');
SELECT alike(pg_temp.api('admin', $$SELECT coditect.api_tenant_update('{"seats_total": 999}')$$)#>>'{}', 'CD400%',
            'seats are not the tenant''s to change');
SELECT alike(pg_temp.api('member', $$SELECT coditect.api_tenant_update('{"industry": "x"}')$$)#>>'{}', 'CD403%',
            'a member cannot edit the profile');

-- Users and memberships.
SELECT alike(pg_temp.api('admin', $$SELECT coditect.api_users_create('{"email": "boss@a.test", "role": "owner"}')$$)#>>'{}',
            'CD403: only an owner can grant or take the owner role, or change an owner account', 'an admin cannot create owners');
SELECT pg_temp.api('admin', $$SELECT coditect.api_users_create('{"email": "new@a.test", "role": "member", "first_name": "Nia"}')$$) AS nu \gset
SELECT is(:'nu'::jsonb->>'first_name', 'Nia', 'an admin invites a member');
SELECT is(pg_temp.api('admin', format($$SELECT coditect.api_memberships_list('{"user_id": "%s"}')$$, :'nu'::jsonb->>'id'))->'results'->0->>'role',
          'member', '... who gets a membership with that role');
SELECT ok(NOT (pg_temp.api('admin', $$SELECT coditect.api_users_list()$$)->'results'->0 ?| ARRAY['firebase_uid', 'oauth_sub']),
          'user lists hide identity-provider subjects');
SELECT alike(pg_temp.api('member', $$SELECT coditect.api_users_create('{"email": "x@a.test"}')$$)#>>'{}', 'CD403%',
            'a member cannot invite');
SELECT alike(pg_temp.api('admin', format($$SELECT to_jsonb(coditect.api_users_delete(%L))$$,
                                       current_setting('tap.u_admin')))#>>'{}',
            'CD409: you cannot delete yourself', 'nobody deletes themselves');

-- Teams.
SELECT pg_temp.api('admin', $$SELECT coditect.api_teams_create('{"name": "Core"}')$$) AS team \gset
SELECT is(pg_temp.api('admin', format($$SELECT coditect.api_team_members_create(%L, '{"user_id": "%s", "role": "lead"}')$$,
                                      :'team'::jsonb->>'id', :'owner_a'))->>'role', 'lead', 'an admin adds a team lead');
SELECT is(pg_temp.api('guest', format($$SELECT coditect.api_team_members_list(%L)$$, :'team'::jsonb->>'id'))->>'count', '1',
          'a guest lists the team''s members');

-- Audit trail.
SELECT cmp_ok((pg_temp.api('admin', $$SELECT coditect.api_audit_logs_list('{"action": "project.create"}', 1, 50)$$)->>'count')::int,
              '>=', 5, 'an admin lists project creations in the audit trail');
SELECT is(pg_temp.api('admin', format($$SELECT coditect.api_audit_logs_list('{"created_at__gte": "%s"}', 1, 50)$$, now() + interval '1 day'))->>'count',
          '0', 'filter by time range');
SELECT alike(pg_temp.api('member', $$SELECT coditect.api_audit_logs_list()$$)#>>'{}', 'CD403%', 'a member cannot read the audit trail');

-- Licenses.
SELECT pg_temp.api('admin', format($$SELECT coditect.api_licenses_create('{"tier": "PRO", "seats_total": 3, "expiry_date": "%s"}')$$,
                                   now() + interval '1 year')) AS lic \gset
SELECT ok(coditect.license_key_is_valid(:'lic'::jsonb->>'key_string'), 'an admin issues a license with a generated key');
SELECT alike(pg_temp.api('member', $$SELECT coditect.api_licenses_create('{"expiry_date": "2030-01-01"}')$$)#>>'{}', 'CD403%',
            'a member cannot issue licenses');
RESET ROLE;

-- Registration and identity lookup.
SET ROLE tap25_gateway;
SELECT coditect.api_register('fb-t25-new', 'founder@new.test', 'New Co', 't25-new') AS reg \gset
SELECT is((coditect.resolve_firebase_user('fb-t25-new')->>'user_id'), :'reg'::jsonb->>'user_id', 'a registered identity resolves to its user');
SELECT throws_ok($$SELECT coditect.api_register('fb-t25-new', 'again@new.test', 'Again', 't25-again')$$, 'CD409', NULL,
                 'an identity registers once');
RESET ROLE;
SELECT is((SELECT role::text FROM coditect.memberships WHERE user_id = (:'reg'::jsonb->>'user_id')::uuid), 'owner',
          'the registrant owns the new tenant');
-- A bound analyst (USAGE on the schema, SELECT on the tables) is stopped by the function's
-- privileges, not by anything else.
SELECT coditect.bind_analyst('tap25_analyst', :'ta');
SET SESSION AUTHORIZATION tap25_analyst;
SELECT is((SELECT count(*)::int FROM coditect.projects), 5, 'the bound analyst reads A''s live and deleted projects');
SELECT throws_ok($$SELECT coditect.api_projects_list()$$, '42501', 'permission denied for function api_projects_list',
                 'a bound analyst cannot call the API functions');
SELECT throws_ok($$SELECT coditect.set_request_context(NULL, NULL, NULL)$$, '42501',
                 'permission denied for function set_request_context', 'nor set a request context');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();

SELECT coditect.purge_tenant(t) FROM unnest(ARRAY[:'ta', :'tb', :'reg'::jsonb->>'tenant_id']::uuid[]) t;
DROP FUNCTION pg_temp.api(text, text);
DROP ROLE tap25_gateway, tap25_analyst;
