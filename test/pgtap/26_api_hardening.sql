-- Hardening of the API functions and the DBA functions: wrong JSON types and filter values are
-- bad input, hidden identity columns stay out of the audit trail, renamed analysts can be
-- unbound, and a real service login does its job and nothing of the DBA's.
BEGIN;
SELECT no_plan();

CREATE ROLE tap26_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap26_service LOGIN IN ROLE coditect_service;
CREATE ROLE tap26_analyst LOGIN;
SELECT coditect.create_tenant('Hard', 't26-hard', 'hard@t26.test', 'owner@t26.test', 'fb-t26-owner') AS j \gset
SELECT :'j'::jsonb->>'tenant_id' AS tid, :'j'::jsonb->>'user_id' AS owner_u \gset
SELECT set_config('tap.tenant', :'tid', false), set_config('tap.user.owner', :'owner_u', false) \gset

\ir lib/as_user.psql

-- JSON types are checked, not coerced.
SET ROLE tap26_gateway;
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_create('{"name": {"a": 1}}')$$),
          'CD400: wrong JSON type: name (expected string, got object)', 'an object for a text field is CD400');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_create('{"name": 42}')$$),
          'CD400: wrong JSON type: name (expected string, got number)', 'a number for a text field is CD400');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_teams_create('{"name": ["x"], "description": true}')$$),
          'CD400: wrong JSON type: description (expected string, got boolean), name (expected string, got array)',
          'every wrongly typed field is named');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_users_update(%L, '{"is_active": "no"}')$$, current_setting('tap.user.owner'))),
          'CD400: wrong JSON type: is_active (expected boolean, got string)', 'a string for a boolean is CD400');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_licenses_create('{"seats_total": "3", "expiry_date": "%s"}')$$, now() + interval '1 day')),
          'CD400: wrong JSON type: seats_total (expected number, got string)', 'a string for a number is CD400');
SELECT pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_create('{"name": "Typed", "description": "", "metadata": {"a": [1]}}')$$) AS typed \gset
SELECT alike(:'typed'::text, '%"name": "Typed"%', 'right types (and JSON for a JSON column) are accepted');
-- Missing or null required fields are bad input naming them, never a raw 23502.
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_create('{"name": "Typed 2", "description": null}')$$),
          'CD400: field(s) that cannot be null: description', 'a null for a NOT NULL column is CD400');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_create('{"description": "no name"}')$$),
          'CD400: missing required field(s): name', 'a missing required field is CD400 naming it');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_users_create('{}')$$),
          'CD400: missing required field(s): email', '... for every resource');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{"name": null}')$$,
                                                   :'typed'::jsonb->>'id')),
          'CD400: field(s) that cannot be null: name', 'an update to null of a NOT NULL column is CD400');
SELECT alike(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_create('{"name": "Nullable ok", "metadata": {}}')$$),
             '%"Nullable ok"%', 'fields with defaults may be left out');
-- Filter values a domain refuses are bad input.
SELECT alike(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_users_list('{"role": "emperor"}')$$),
             'CD400: invalid filter value: %enum%member_role%', 'a filter value outside the role domain is CD400');
SELECT alike(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_users_list('{"email": "not-an-email"}')$$),
             'CD400: invalid filter value: %email_check%', 'a filter value outside the email domain is CD400');
SELECT alike(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_users_list('{"role": "owner"}')$$), '%"count": 1%', 'a valid filter value works');
RESET ROLE;

-- Identity-provider subjects never reach the audit trail (the API hides them too).
SELECT is((SELECT count(*)::int FROM coditect.audit_logs
            WHERE tenant_id = :'tid' AND action = 'user.create' AND changes::text LIKE '%fb-t26-owner%'), 0,
          'the Firebase uid is not in the user.create audit row');
SELECT ok((SELECT changes ? 'firebase_uid' FROM coditect.audit_logs WHERE tenant_id = :'tid' AND action = 'user.create'),
          '... which records that the column was set, redacted');

-- Global keys follow their rows: a new slug frees the old one; a clash names the constraint.
UPDATE coditect.tenants SET slug = 't26-renamed' WHERE id = :'tid';
SELECT is((SELECT tenant_id FROM coditect_internal.global_keys WHERE kind = 'tenants.slug' AND value = 't26-renamed'),
          :'tid'::uuid, 'a changed slug is claimed for its tenant');
SELECT lives_ok($$SELECT coditect.create_tenant('Hard 2', 't26-hard', 'h2@t26.test', 'o2@t26.test')$$,
                'the old slug is free again');
SELECT throws_ok($$SELECT coditect.create_tenant('Hard 3', 't26-renamed', 'h3@t26.test', 'o3@t26.test')$$,
                 '23505', 'slug is already taken', 'a taken slug is 23505');
SELECT throws_ok($$SELECT coditect.create_tenant('Hard 4', 't26-four', 'h4@t26.test', 'o4@t26.test', 'fb-t26-owner')$$,
                 '23505', 'firebase_uid is already taken', 'a taken Firebase uid is 23505, across tenants');
SELECT is((SELECT count(*)::int FROM coditect_internal.global_keys k
            WHERE NOT EXISTS (SELECT 1 FROM coditect.tenants t WHERE t.id = k.tenant_id)), 0,
          'no claim outlives its tenant');

-- A renamed analyst can be unbound under its new name.
SELECT coditect.bind_analyst('tap26_analyst', :'tid');
ALTER ROLE tap26_analyst RENAME TO tap26_analyst_renamed;
SELECT lives_ok($$SELECT coditect.unbind_analyst('tap26_analyst_renamed')$$, 'a renamed analyst is unbound by its new name');
SELECT is((SELECT count(*)::int FROM coditect_internal.analyst_bindings WHERE role_name LIKE 'tap26%'), 0, 'its binding is gone');
SELECT ok(NOT pg_has_role('tap26_analyst_renamed', 'coditect_analyst', 'MEMBER'), 'and its analyst membership');
SELECT throws_ok($$SELECT coditect.unbind_analyst('tap26_analyst_renamed')$$, 'CD404', NULL, 'unbinding twice is CD404');

-- A service login: tenant creation, maintenance and the API in a context; nothing of the DBA's.
SET SESSION AUTHORIZATION tap26_service;
SELECT lives_ok($$SELECT coditect.create_tenant('Svc', 't26-svc', 'svc@t26.test', 'owner@svc.t26.test')$$,
                'a service creates tenants');
SELECT lives_ok($$SELECT coditect.audit_maintenance()$$, 'a service runs the audit maintenance');
SELECT lives_ok($$SELECT coditect.reap_zombie_sessions()$$, 'a service reaps zombie sessions');
SELECT alike(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_create('{"name": "From a service"}')$$), '%"From a service"%',
             'a service calls the API in a request context');
SELECT throws_ok(format('SELECT %s', f), '42501', NULL, 'a service cannot run ' || f)
  FROM unnest(ARRAY[
      format('coditect.purge_tenant(%L)', :'tid'), 'coditect.purge_deleted(''coditect.projects'', ''0'')',
      format('coditect.bind_analyst(''tap26_service'', %L)', :'tid'), 'coditect.unbind_analyst(''tap26_service'')',
      'coditect.set_audit_retention(''1 year'')', 'coditect.publish_license_signing_key()',
      'coditect.retire_license_signing_key(''x'')', 'coditect_internal.allow_hard_delete(true)',
      'coditect_internal.context_set(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)']) f;
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
