-- Data written into a database at the OLD version, through the old version's own functions
-- (create_tenant as the service role, the API functions as the gateway in a request context),
-- before scripts/upgrade_test.sh runs ALTER EXTENSION coditect UPDATE. The ids it will need
-- afterwards go to upgrade_test.ids; verify.sql checks the data is still there and usable.
-- psql variable `from`: the old version (its functions differ: 0.1.0 had hand-written ones;
-- project management came with 0.2.0). Needs the cluster's license signing key
-- (scripts/lib.sh setup_signing_key).
\set ON_ERROR_STOP 1
SELECT :'from' = '0.1.0' AS at_0_1_0 \gset
SET client_min_messages = warning;
\o /dev/null
CREATE SCHEMA upgrade_test;
CREATE TABLE upgrade_test.ids (name text PRIMARY KEY, value text NOT NULL);
GRANT USAGE ON SCHEMA upgrade_test TO coditect_gateway, coditect_service;
GRANT SELECT, INSERT ON upgrade_test.ids TO coditect_gateway, coditect_service;

-- Runs p_sql in a request context of the named tenant and user (names in upgrade_test.ids);
-- its JSON answer, or an error as the string 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.ctx(p_tenant text, p_user text, p_role text, p_sql text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    PERFORM coditect.set_request_context(
        (SELECT value FROM upgrade_test.ids WHERE name = p_tenant)::uuid,
        (SELECT value FROM upgrade_test.ids WHERE name = p_user)::uuid,
        p_role, '203.0.113.7', 'upgrade-test/seed', 'POST', '/upgrade-test/seed', 'upgrade-seed');
    EXECUTE p_sql INTO r;
    RETURN coalesce(r, 'null');
EXCEPTION WHEN OTHERS THEN
    RETURN to_jsonb(SQLSTATE || ': ' || SQLERRM);
END
$$;
-- Like ctx, and keeps answer->>p_key under p_name; fails the seed on an error.
CREATE FUNCTION pg_temp.keep(p_name text, p_key text, p_tenant text, p_user text, p_role text, p_sql text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := pg_temp.ctx(p_tenant, p_user, p_role, p_sql);
BEGIN
    IF jsonb_typeof(r) = 'string' AND r #>> '{}' ~ '^[0-9A-Z]{5}: ' THEN
        RAISE EXCEPTION 'seed step % failed: %', p_name, r #>> '{}';
    END IF;
    IF p_name IS NOT NULL THEN
        INSERT INTO upgrade_test.ids VALUES (p_name, r ->> p_key);
    END IF;
END
$$;
CREATE FUNCTION pg_temp.id(p_name text) RETURNS text LANGUAGE sql AS
$$ SELECT value FROM upgrade_test.ids WHERE name = p_name $$;

-- Tenants with their owners (the service role).
SET ROLE coditect_service;
WITH t (name, slug, email, owner, uid, tier) AS (VALUES
    ('acme', 'acme', 'ops@acme.test', 'owner@acme.test', 'fb-acme-owner', 'professional'),
    ('globex', 'globex', 'ops@globex.test', 'owner@globex.test', NULL, 'trial')),
created AS (
    SELECT t.name, coditect.create_tenant(initcap(t.name) || ' Corp', t.slug, t.email, t.owner, t.uid, t.tier) AS j FROM t)
INSERT INTO upgrade_test.ids
SELECT name, j ->> 'tenant_id' FROM created
UNION ALL SELECT name || '_owner', j ->> 'user_id' FROM created;
RESET ROLE;

SET ROLE coditect_gateway;
-- Users (each with a membership), one of them revoked later.
SELECT pg_temp.keep('acme_admin', 'id', 'acme', 'acme_owner', 'owner',
    $$SELECT coditect.api_users_create('{"email": "admin@acme.test", "role": "admin", "first_name": "Ada", "last_name": "Admin"}')$$);
SELECT pg_temp.keep('acme_member', 'id', 'acme', 'acme_owner', 'owner',
    $$SELECT coditect.api_users_create('{"email": "member@acme.test", "role": "member", "timezone": "Europe/Berlin", "notification_preferences": {"email": true}}')$$);
SELECT pg_temp.keep('acme_guest', 'id', 'acme', 'acme_admin', 'admin',
    $$SELECT coditect.api_users_create('{"email": "guest@acme.test", "role": "guest"}')$$);
SELECT pg_temp.keep('acme_former', 'id', 'acme', 'acme_admin', 'admin',
    $$SELECT coditect.api_users_create('{"email": "former@acme.test", "role": "member"}')$$);
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_admin', 'admin',
    format($$SELECT coditect.api_memberships_update((SELECT id FROM coditect.memberships WHERE user_id = %L),
                                                    jsonb_build_object('revoked_at', now()))$$, pg_temp.id('acme_former')));
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_admin', 'admin',
    format($$SELECT coditect.api_users_update(%L, '{"last_name": "Member", "language": "de"}')$$, pg_temp.id('acme_member')));

-- A team with two members.
SELECT pg_temp.keep('acme_team', 'id', 'acme', 'acme_admin', 'admin',
    $$SELECT coditect.api_teams_create('{"name": "Platform", "description": "core services"}')$$);
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_admin', 'admin',
    format($$SELECT coditect.api_team_members_create(%L, jsonb_build_object('user_id', %L, 'role', 'lead'))$$,
           pg_temp.id('acme_team'), pg_temp.id('acme_admin')));
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_admin', 'admin',
    format($$SELECT coditect.api_team_members_create(%L, jsonb_build_object('user_id', %L))$$,
           pg_temp.id('acme_team'), pg_temp.id('acme_member')));

-- Projects: two live, one updated, one soft-deleted; one in the other tenant.
SELECT pg_temp.keep('acme_apollo', 'id', 'acme', 'acme_member', 'member',
    $$SELECT coditect.api_projects_create('{"name": "Apollo", "description": "moon", "metadata": {"budget": 100}}')$$);
SELECT pg_temp.keep('acme_gemini', 'id', 'acme', 'acme_member', 'member',
    $$SELECT coditect.api_projects_create('{"name": "Gemini"}')$$);
SELECT pg_temp.keep('acme_mercury', 'id', 'acme', 'acme_member', 'member',
    $$SELECT coditect.api_projects_create('{"name": "Mercury"}')$$);
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_member', 'member',
    format($$SELECT coditect.api_projects_update(%L, '{"description": "to the moon"}')$$, pg_temp.id('acme_apollo')));
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_admin', 'admin',
    format($$SELECT to_jsonb(coditect.api_projects_delete(%L))$$, pg_temp.id('acme_mercury')));
SELECT pg_temp.keep('globex_project', 'id', 'globex', 'globex_owner', 'owner',
    $$SELECT coditect.api_projects_create('{"name": "Globex secret"}')$$);

-- A license with two seats: the member holds one, the admin took one and released it.
\if :at_0_1_0
SELECT pg_temp.keep('acme_license', 'id', 'acme', 'acme_owner', 'owner',
    format($$SELECT coditect.api_licenses_issue(jsonb_build_object('tier', 'PRO', 'features', '["analytics", "marketplace"]'::jsonb,
                                                                   'expiry_date', %L, 'seats_total', 2))$$, now() + interval '1 year'));
\else
SELECT pg_temp.keep('acme_license', 'id', 'acme', 'acme_owner', 'owner',
    format($$SELECT coditect.api_licenses_create(jsonb_build_object('tier', 'PRO', 'features', '["analytics", "marketplace"]'::jsonb,
                                                                    'expiry_date', %L, 'seats_total', 2))$$, now() + interval '1 year'));
\endif
RESET ROLE;
INSERT INTO upgrade_test.ids SELECT 'acme_license_key', key_string FROM coditect.licenses WHERE id = pg_temp.id('acme_license')::uuid;
SET ROLE coditect_gateway;
SELECT pg_temp.keep('acme_member_session', 'session_id', 'acme', 'acme_member', 'member',
    format($$SELECT coditect.license_acquire(%L, 'hw-member-1', '198.51.100.4', 'coditect-app/1.0')$$, pg_temp.id('acme_license_key')));
SELECT pg_temp.keep('acme_member_token', 'token', 'acme', 'acme_member', 'member',
    format($$SELECT coditect.license_heartbeat(%L)$$, pg_temp.id('acme_member_session')));
SELECT pg_temp.keep('acme_admin_session', 'session_id', 'acme', 'acme_admin', 'admin',
    format($$SELECT coditect.license_acquire(%L, 'hw-admin-1')$$, pg_temp.id('acme_license_key')));
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_admin', 'admin',
    format($$SELECT to_jsonb(coditect.license_release(%L))$$, pg_temp.id('acme_admin_session')));
RESET ROLE;

-- A DBA's choice: members may manage team members too (verify.sql checks it is kept, under the
-- names of 0.2.0).
\if :at_0_1_0
INSERT INTO coditect.role_permissions (role, permission_id)
SELECT 'member', id FROM coditect.permissions WHERE codename = 'team_member.manage';
\else
INSERT INTO coditect.role_permissions (role, permission_id)
SELECT 'member', id FROM coditect.permissions WHERE codename IN ('team_member.create', 'team_member.update', 'team_member.delete');

-- Project management (0.2.0): a keyed project with a sprint, a milestone, tasks (one done, one
-- a subtask, one soft-deleted) and comments.
SET ROLE coditect_gateway;
SELECT pg_temp.keep('acme_soyuz', 'id', 'acme', 'acme_member', 'member',
    $$SELECT coditect.api_projects_create('{"name": "Soyuz", "key": "SOY"}')$$);
SELECT pg_temp.keep('acme_sprint', 'id', 'acme', 'acme_admin', 'admin',
    format($$SELECT coditect.api_sprints_create(jsonb_build_object('project_id', %L, 'name', 'Sprint 1',
                                                                   'start_date', '2026-11-02', 'end_date', '2026-11-16'))$$, pg_temp.id('acme_soyuz')));
SELECT pg_temp.keep('acme_milestone', 'id', 'acme', 'acme_admin', 'admin',
    format($$SELECT coditect.api_milestones_create(jsonb_build_object('project_id', %L, 'title', 'Launch'))$$, pg_temp.id('acme_soyuz')));
SELECT pg_temp.keep('acme_task1', 'id', 'acme', 'acme_member', 'member',
    format($$SELECT coditect.api_tasks_create(jsonb_build_object('project_id', %L, 'title', 'Fuel the rocket', 'status', 'todo',
                                                                 'priority', 'urgent', 'sprint_id', %L, 'milestone_id', %L,
                                                                 'story_points', 5, 'tags', '["ops"]'::jsonb))$$,
           pg_temp.id('acme_soyuz'), pg_temp.id('acme_sprint'), pg_temp.id('acme_milestone')));
SELECT pg_temp.keep('acme_task2', 'id', 'acme', 'acme_member', 'member',
    format($$SELECT coditect.api_tasks_create(jsonb_build_object('project_id', %L, 'title', 'Check the seals', 'status', 'todo',
                                                                 'milestone_id', %L))$$, pg_temp.id('acme_soyuz'), pg_temp.id('acme_milestone')));
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_member', 'member',
    format($$SELECT coditect.task_transition(%L, s::coditect.task_status) FROM unnest(ARRAY['in_progress', 'in_review', 'done']) s$$, pg_temp.id('acme_task2')));
SELECT pg_temp.keep('acme_subtask', 'id', 'acme', 'acme_member', 'member',
    format($$SELECT coditect.api_tasks_create(jsonb_build_object('project_id', %L, 'title', 'Order fuel', 'parent_task_id', %L))$$,
           pg_temp.id('acme_soyuz'), pg_temp.id('acme_task1')));
SELECT pg_temp.keep('acme_task_gone', 'id', 'acme', 'acme_member', 'member',
    format($$SELECT coditect.api_tasks_create(jsonb_build_object('project_id', %L, 'title', 'Paint it red'))$$, pg_temp.id('acme_soyuz')));
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_admin', 'admin',
    format($$SELECT to_jsonb(coditect.api_tasks_delete(%L))$$, pg_temp.id('acme_task_gone')));
SELECT pg_temp.keep('acme_comment', 'id', 'acme', 'acme_member', 'member',
    format($$SELECT coditect.api_task_comments_create(%L, '{"content": "Fuel ordered."}')$$, pg_temp.id('acme_task1')));
SELECT pg_temp.keep(NULL, NULL, 'acme', 'acme_member', 'member',
    format($$SELECT coditect.api_task_comments_update(%L, %L, '{"content": "Fuel ordered, arrives Monday."}')$$,
           pg_temp.id('acme_task1'), pg_temp.id('acme_comment')));
RESET ROLE;
\endif

-- What was written.
\o
SELECT format('seeded: %s tenants, %s users, %s memberships (%s revoked), %s teams, %s team members, %s projects (%s deleted), %s licenses, %s license sessions, %s audit rows',
              (SELECT count(*) FROM coditect.tenants), (SELECT count(*) FROM coditect.users),
              (SELECT count(*) FROM coditect.memberships), (SELECT count(*) FROM coditect.memberships WHERE revoked_at IS NOT NULL),
              (SELECT count(*) FROM coditect.teams), (SELECT count(*) FROM coditect.team_members),
              (SELECT count(*) FROM coditect.projects), (SELECT count(*) FROM coditect.projects WHERE deleted_at IS NOT NULL),
              (SELECT count(*) FROM coditect.licenses), (SELECT count(*) FROM coditect.license_sessions),
              (SELECT count(*) FROM coditect.audit_logs));
