-- After ALTER EXTENSION coditect UPDATE (scripts/upgrade_test.sh): the data seed.sql wrote at the
-- old version is still there, unchanged, and usable through the new version's functions, with
-- its rules (isolation, permissions, soft delete, global keys, seats, audit) still enforced.
-- Prints one line per check, "ok - ..." or "not ok - ...: why"; psql variables `from` and `to`
-- are the versions updated from and to (seed.sql wrote project management from 0.2.0 on).
\set ON_ERROR_STOP 1
SELECT :'from' <> '0.1.0' AS has_pm \gset
SET client_min_messages = warning;
\ir data_tables.psql

-- A check: p_sql returns true; an error counts as a failure and is printed.
CREATE FUNCTION pg_temp.check(p_what text, p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r boolean;
BEGIN
    EXECUTE p_sql INTO r;
    RETURN CASE WHEN r THEN 'ok - ' || p_what ELSE 'not ok - ' || p_what || ': got false from ' || p_sql END;
EXCEPTION WHEN OTHERS THEN
    RETURN 'not ok - ' || p_what || ': ' || SQLSTATE || ' ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.id(p_name text) RETURNS text LANGUAGE sql AS
$$ SELECT value FROM upgrade_test.ids WHERE name = p_name $$;
-- p_sql, a format() string of p_args (%L), in a request context (as seed.sql): its answer, or
-- 'SQLSTATE: message' as a JSON string.
CREATE FUNCTION pg_temp.ctx(p_tenant text, p_user text, p_role text, p_sql text, VARIADIC p_args text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    PERFORM coditect.set_request_context(pg_temp.id(p_tenant)::uuid, pg_temp.id(p_user)::uuid, p_role,
                                         '203.0.113.8', 'upgrade-test/verify', 'POST', '/upgrade-test/verify', 'upgrade-verify');
    EXECUTE format(p_sql, VARIADIC p_args) INTO r;
    RETURN coalesce(r, 'null');
EXCEPTION WHEN OTHERS THEN
    RETURN to_jsonb(SQLSTATE || ': ' || SQLERRM);
END
$$;
CREATE TEMP TABLE answer (name text PRIMARY KEY, j jsonb);
GRANT ALL ON answer TO coditect_gateway;

SELECT pg_temp.check(format('the extension is at %s', :'to'),
    format($$SELECT extversion = %L FROM pg_extension WHERE extname = 'coditect'$$, :'to'));

-- Every row written before the update is still there, unchanged (updated_at aside; new
-- columns are allowed), checked as the superuser, below RLS.
CREATE FUNCTION pg_temp.rows_kept(p_table text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    lost bigint;
    example jsonb;
BEGIN
    SELECT count(*) INTO total FROM upgrade_test.snapshot WHERE tbl = p_table;
    EXECUTE format('SELECT count(*), min(s.row::text)::jsonb FROM upgrade_test.snapshot s WHERE s.tbl = %L
                       AND NOT EXISTS (SELECT 1 FROM %s x WHERE to_jsonb(x) @> s.row)', p_table, p_table)
        INTO lost, example;
    IF lost = 0 THEN
        RETURN format('ok - %s: all %s rows from before the update kept', p_table, total);
    END IF;
    RETURN format('not ok - %s: %s of %s rows from before the update changed or gone, e.g. %s', p_table, lost, total, example);
EXCEPTION WHEN OTHERS THEN
    RETURN format('not ok - %s: %s %s', p_table, SQLSTATE, SQLERRM);
END
$$;
SELECT pg_temp.rows_kept(tbl) FROM (SELECT DISTINCT tbl FROM upgrade_test.snapshot) t ORDER BY tbl;

-- Usable through the API, as the gateway.
SET ROLE coditect_gateway;
SELECT pg_temp.check('a member lists the live projects (Apollo, Gemini; Soyuz from 0.2.0 on)',
    format($$SELECT (SELECT array_agg(r->>'name' ORDER BY r->>'name')
                       FROM jsonb_array_elements(pg_temp.ctx('acme', 'acme_member', 'member',
                            'SELECT coditect.api_projects_list()')->'results') r) = %L$$,
           CASE WHEN :'has_pm' THEN '{Apollo,Gemini,Soyuz}' ELSE '{Apollo,Gemini}' END));
SELECT pg_temp.check('a project updated before the update reads back',
    $$SELECT pg_temp.ctx('acme', 'acme_member', 'member', 'SELECT coditect.api_projects_get(%L)', pg_temp.id('acme_apollo'))
               @> '{"name": "Apollo", "description": "to the moon", "metadata": {"budget": 100}}'$$);
SELECT pg_temp.check('the soft-deleted project stays hidden',
    $$SELECT pg_temp.ctx('acme', 'acme_member', 'member', 'SELECT coditect.api_projects_get(%L)', pg_temp.id('acme_mercury')) #>> '{}' LIKE 'CD404%'$$);
SELECT pg_temp.check('an admin restores it',
    $$SELECT pg_temp.ctx('acme', 'acme_admin', 'admin', 'SELECT coditect.api_projects_restore(%L)', pg_temp.id('acme_mercury')) ->> 'name' = 'Mercury'$$);
SELECT pg_temp.check('a member creates a project after the update',
    $$SELECT pg_temp.ctx('acme', 'acme_member', 'member', 'SELECT coditect.api_projects_create(''{"name": "Vostok"}'')') ->> 'name' = 'Vostok'$$);
SELECT pg_temp.check('a live name stays unique',
    $$SELECT pg_temp.ctx('acme', 'acme_member', 'member', 'SELECT coditect.api_projects_create(''{"name": "Apollo"}'')') #>> '{}' LIKE '23505%'$$);
SELECT pg_temp.check('a guest still cannot create one',
    $$SELECT pg_temp.ctx('acme', 'acme_guest', 'guest', 'SELECT coditect.api_projects_create(''{"name": "G"}'')') #>> '{}' LIKE 'CD403%'$$);
SELECT pg_temp.check('a DELETE still soft-deletes',
    $$SELECT pg_temp.ctx('acme', 'acme_admin', 'admin',
        'WITH d AS (DELETE FROM coditect.projects WHERE name = ''Vostok'' RETURNING 1) SELECT to_jsonb(count(*)) FROM d') = '0'
         AND pg_temp.ctx('acme', 'acme_admin', 'admin',
        'SELECT to_jsonb(deleted_at IS NOT NULL) FROM coditect.projects WHERE name = ''Vostok''') = 'true'$$);
SELECT pg_temp.check('the users are listed (owner, admin, member, guest, former)',
    $$SELECT (pg_temp.ctx('acme', 'acme_admin', 'admin', 'SELECT coditect.api_users_list()') ->> 'count')::int = 5$$);
SELECT pg_temp.check('a user updated before the update reads back',
    $$SELECT pg_temp.ctx('acme', 'acme_admin', 'admin', 'SELECT coditect.api_users_get(%L)', pg_temp.id('acme_member'))
               @> '{"last_name": "Member", "language": "de", "timezone": "Europe/Berlin", "notification_preferences": {"email": true}}'$$);
SELECT pg_temp.check('the revoked user cannot set a context',
    $$SELECT pg_temp.ctx('acme', 'acme_former', 'member', 'SELECT ''1''::jsonb') #>> '{}' LIKE 'CD403%'$$);
SELECT pg_temp.check('the team lists its two members',
    $$SELECT (pg_temp.ctx('acme', 'acme_member', 'member', 'SELECT coditect.api_team_members_list(%L)', pg_temp.id('acme_team')) ->> 'count')::int = 2$$);
SELECT pg_temp.check('a member may not raise their role',
    $$SELECT pg_temp.ctx('acme', 'acme_member', 'admin', 'SELECT ''1''::jsonb') #>> '{}' LIKE 'CD403%'$$);

-- Isolation.
SELECT pg_temp.check('the other tenant sees only its own project',
    $$SELECT (SELECT array_agg(r->>'name') FROM jsonb_array_elements(pg_temp.ctx('globex', 'globex_owner', 'owner',
              'SELECT coditect.api_projects_list()')->'results') r) = '{"Globex secret"}'$$);
SELECT pg_temp.check('the other tenant cannot read Acme''s project by id',
    $$SELECT pg_temp.ctx('globex', 'globex_owner', 'owner', 'SELECT coditect.api_projects_get(%L)', pg_temp.id('acme_apollo')) #>> '{}' LIKE 'CD404%'$$);
SELECT pg_temp.check('no context, no rows',
    $$SELECT count(*) = 0 FROM coditect.projects$$);

-- Licenses: the session taken before the update heartbeats, releases, and a seat is taken again.
INSERT INTO answer SELECT 'heartbeat', pg_temp.ctx('acme', 'acme_member', 'member',
    'SELECT coditect.license_heartbeat(%L)', pg_temp.id('acme_member_session'));
SELECT pg_temp.check('the session from before the update heartbeats',
    $$SELECT j @> '{"status": "active", "seats_used": 1, "seats_total": 2}' FROM answer WHERE name = 'heartbeat'$$);
SELECT pg_temp.check('its new token verifies with the published key',
    $$SELECT coditect.license_verify(j ->> 'token') ->> 'verdict' = 'valid' FROM answer WHERE name = 'heartbeat'$$);
SELECT pg_temp.check('the token signed before the update verifies',
    format($$SELECT coditect.license_verify(%L) ->> 'verdict' = 'valid'$$, pg_temp.id('acme_member_token')));
SELECT pg_temp.check('the session is released',
    $$SELECT pg_temp.ctx('acme', 'acme_member', 'member', 'SELECT to_jsonb(coditect.license_release(%L))', pg_temp.id('acme_member_session')) = '""'$$);
SELECT pg_temp.check('the admin''s ended session stays ended',
    $$SELECT pg_temp.ctx('acme', 'acme_admin', 'admin', 'SELECT coditect.license_heartbeat(%L)', pg_temp.id('acme_admin_session')) #>> '{}' LIKE 'CD410%'$$);
SELECT pg_temp.check('a seat is acquired after the update',
    $$SELECT pg_temp.ctx('acme', 'acme_member', 'member', 'SELECT coditect.license_acquire(%L, ''hw-member-2'')', pg_temp.id('acme_license_key'))
               @> '{"status": "active", "seats_used": 1}'$$);
SELECT pg_temp.check('the licenses list shows the seat count',
    $$SELECT pg_temp.ctx('acme', 'acme_owner', 'owner', 'SELECT coditect.api_licenses_list()') -> 'results' -> 0
               @> '{"seats_in_use": 1, "seats_total": 2, "tier": "PRO"}'$$);
RESET ROLE;

-- Rules held by the service role, the owner and the audit trail.
SET ROLE coditect_service;
SELECT pg_temp.check('a slug taken before the update stays taken',
    $$SELECT pg_temp.ctx('acme', 'acme_owner', 'owner', 'SELECT coditect.create_tenant(''Acme 2'', ''acme'', ''a@acme2.test'', ''o@acme2.test'')')
               #>> '{}' LIKE '23505%'$$);
SELECT pg_temp.check('a Firebase uid taken before the update stays taken',
    $$SELECT pg_temp.ctx('acme', 'acme_owner', 'owner', 'SELECT coditect.create_tenant(''Initech'', ''initech'', ''a@initech.test'', ''o@initech.test'', ''fb-acme-owner'')')
               #>> '{}' LIKE '23505%'$$);
SELECT pg_temp.check('a new tenant is created after the update',
    $$SELECT coditect.create_tenant('Initech', 'initech', 'ops@initech.test', 'owner@initech.test') ? 'tenant_id'$$);
-- The API works under row-level security: as the gateway.
SET ROLE coditect_gateway;
SELECT pg_temp.check('an admin cannot demote the owner',
    $$SELECT pg_temp.ctx('acme', 'acme_admin', 'admin', 'SELECT coditect.api_users_update(%L, ''{"role": "member"}'')', pg_temp.id('acme_owner')) #>> '{}' LIKE 'CD403%'$$);
SELECT pg_temp.check('the only owner cannot deactivate their account',
    $$SELECT pg_temp.ctx('acme', 'acme_owner', 'owner', 'SELECT coditect.api_users_update(%L, ''{"is_active": false}'')', pg_temp.id('acme_owner')) #>> '{}' LIKE 'CD409%'$$);
RESET ROLE;
SELECT pg_temp.check('changes after the update are audited with the request id',
    $$SELECT count(*) >= 3 FROM coditect.audit_logs
       WHERE request_id = 'upgrade-verify' AND action IN ('project.create', 'project.restore', 'project.delete')$$);
SELECT pg_temp.check('a DBA''s change of who holds a permission is kept under its new names',
    $$SELECT array_agg(p.codename::text ORDER BY p.codename) = '{team_member.create,team_member.delete,team_member.update}'
        FROM coditect.role_permissions rp JOIN coditect.permissions p ON p.id = rp.permission_id
       WHERE rp.role = 'member' AND p.codename LIKE 'team_member.%' AND p.codename <> 'team_member.view'$$);

-- Project management written at 0.2.0, read and extended with what 0.3.0 added.
\if :has_pm
SET ROLE coditect_gateway;
SELECT pg_temp.check('the keyed project''s tasks keep their keys and numbers',
    $$SELECT (SELECT string_agg((r->>'key') || ':' || (r->>'title'), ', ' ORDER BY (r->>'number')::int)
                FROM jsonb_array_elements(pg_temp.ctx('acme', 'acme_guest', 'guest', 'SELECT coditect.api_tasks_list(%L, 1, 50)',
                                                      jsonb_build_object('project_id', pg_temp.id('acme_soyuz'))::text) -> 'results') r)
             = 'SOY-1:Fuel the rocket, SOY-2:Check the seals, SOY-3:Order fuel'$$);
SELECT pg_temp.check('the milestone''s progress is kept (1 of 2 done)',
    $$SELECT pg_temp.ctx('acme', 'acme_guest', 'guest', 'SELECT coditect.api_milestones_get(%L)', pg_temp.id('acme_milestone')) ->> 'progress_percent' = '50'$$);
SELECT pg_temp.check('projects answer tasks_count (new in 0.3.0)',
    $$SELECT pg_temp.ctx('acme', 'acme_guest', 'guest', 'SELECT coditect.api_projects_get(%L)', pg_temp.id('acme_soyuz')) ->> 'tasks_count' = '3'$$);
SELECT pg_temp.check('the project''s tasks are listed under it (new in 0.3.0)',
    $$SELECT pg_temp.ctx('acme', 'acme_guest', 'guest', 'SELECT coditect.api_tasks_list_by_project(%L)', pg_temp.id('acme_soyuz')) ->> 'count' = '3'$$);
SELECT pg_temp.check('tags__contains finds the tagged task (new in 0.3.0)',
    $$SELECT pg_temp.ctx('acme', 'acme_guest', 'guest', 'SELECT coditect.api_tasks_list(''{"tags__contains": "ops"}'')') #>> '{results,0,title}' = 'Fuel the rocket'$$);
SELECT pg_temp.check('the activity feed shows what happened before the update (derived from the audit trail)',
    $$SELECT (SELECT string_agg(r ->> 'action', ',' ORDER BY r ->> 'action')
                FROM jsonb_array_elements(pg_temp.ctx('acme', 'acme_guest', 'guest', 'SELECT coditect.api_task_activity_list(%L)',
                                                      pg_temp.id('acme_task1')) -> 'results') r)
             = 'comment_edited,commented,created'$$);
SELECT pg_temp.check('a new task takes the next number',
    $$SELECT pg_temp.ctx('acme', 'acme_member', 'member', 'SELECT coditect.api_tasks_create(%L)',
                         jsonb_build_object('project_id', pg_temp.id('acme_soyuz'), 'title', 'Count down')::text) ->> 'key' = 'SOY-5'$$);
SELECT pg_temp.check('an admin makes a board, whose view groups the tasks written before the update',
    $$SELECT pg_temp.ctx('acme', 'acme_guest', 'guest', 'SELECT jsonb_object_agg(c ->> ''id'', c -> ''count'') FROM jsonb_array_elements(coditect.board_view(%L) -> ''columns'') c',
                         pg_temp.ctx('acme', 'acme_admin', 'admin', 'SELECT coditect.api_boards_create(%L)',
                                     jsonb_build_object('project_id', pg_temp.id('acme_soyuz'), 'name', 'Board')::text) ->> 'id')
             = '{"backlog": 2, "todo": 1, "in_progress": 0, "in_review": 0, "done": 1}'$$);
RESET ROLE;
\endif

-- Back to the defaults, so that the schema comparison below sees a fresh install's rows.
DELETE FROM coditect.role_permissions rp USING coditect.permissions p
 WHERE rp.permission_id = p.id AND rp.role = 'member' AND p.codename IN ('team_member.create', 'team_member.update', 'team_member.delete');
SELECT pg_temp.check('the audit trail is still immutable',
    $$SELECT pg_temp.ctx('acme', 'acme_owner', 'owner', 'UPDATE coditect.audit_logs SET action = ''x.y'' RETURNING ''1''::jsonb') #>> '{}' LIKE 'CD403%'$$);
