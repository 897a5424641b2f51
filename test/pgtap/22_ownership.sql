-- Ownership: only an owner grants or takes the owner role, by every path (membership role or
-- revocation, the user's role, deactivating or deleting an owner's account, through the API
-- or by direct SQL in a request context); the last active owner cannot be removed by anyone.
BEGIN;
SELECT no_plan();

CREATE ROLE tap22_gateway LOGIN IN ROLE coditect_gateway;
SELECT coditect.create_tenant('Own', 't22-own', 'own@t22.test', 'owner@t22.test') AS j \gset
SELECT :'j'::jsonb->>'tenant_id' AS tid, :'j'::jsonb->>'user_id' AS owner1 \gset
INSERT INTO coditect.users (tenant_id, email, role)
SELECT :'tid', r || '@t22.test', r::coditect.member_role FROM unnest(ARRAY['admin', 'member']) r;
INSERT INTO coditect.memberships (tenant_id, user_id, role)
SELECT tenant_id, id, role FROM coditect.users WHERE tenant_id = :'tid' AND role <> 'owner';
SELECT id AS admin_u FROM coditect.users WHERE email = 'admin@t22.test' \gset
SELECT id AS member_u FROM coditect.users WHERE email = 'member@t22.test' \gset
SELECT id AS owner_m FROM coditect.memberships WHERE user_id = :'owner1' \gset
SELECT id AS member_m FROM coditect.memberships WHERE user_id = :'member_u' \gset
SELECT set_config('tap.tenant', :'tid', false), set_config('tap.user.owner1', :'owner1', false),
       set_config('tap.user.admin', :'admin_u', false), set_config('tap.user.member', :'member_u', false) \gset

\ir lib/as_user.psql
CREATE FUNCTION pg_temp.owners() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
    SELECT string_agg(u.email::text, ',' ORDER BY u.email)
      FROM coditect.memberships m JOIN coditect.users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
     WHERE m.tenant_id = current_setting('tap.tenant')::uuid AND m.role = 'owner' AND m.revoked_at IS NULL AND u.is_active
$$;
SET ROLE tap22_gateway;

-- An admin cannot grant ownership, by any path.
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_memberships_update(%L, '{"role": "owner"}')$$, :'member_m')),
             'CD403: only an owner%', 'an admin cannot promote a member to owner through the membership');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_users_update(%L, '{"role": "owner"}')$$, :'member_u')),
             'CD403: only an owner%', 'an admin cannot promote a member to owner through the user''s role');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_users_update(%L, '{"role": "owner"}')$$, :'admin_u')),
             'CD403: only an owner%', 'an admin cannot make itself owner');
SELECT alike(pg_temp.as_user('admin', 'admin', $$SELECT coditect.api_users_create('{"email": "boss@t22.test", "role": "owner"}')$$),
             'CD403: only an owner%', 'an admin cannot invite an owner');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$UPDATE coditect.memberships SET role = 'owner' WHERE id = %L$$, :'member_m')),
             'CD403: only an owner%', 'nor by direct SQL in its context');

-- An admin cannot take ownership away, by any path.
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_memberships_update(%L, '{"role": "admin"}')$$, :'owner_m')),
             'CD403: only an owner%', 'an admin cannot demote the owner');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_memberships_update(%L, '{"revoked_at": "%s"}')$$, :'owner_m', now())),
             'CD403: only an owner%', 'an admin cannot revoke the owner''s membership');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_users_update(%L, '{"is_active": false}')$$, :'owner1')),
             'CD403: only an owner%', 'an admin cannot deactivate the owner');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_users_update(%L, '{"role": "member"}')$$, :'owner1')),
             'CD403: only an owner%', 'an admin cannot change the owner''s role');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_users_delete(%L)$$, :'owner1')),
             'CD403: only an owner%', 'an admin cannot delete the owner');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$DELETE FROM coditect.memberships WHERE id = %L$$, :'owner_m')),
             'CD403: only an owner%', 'nor delete the owner''s membership by direct SQL');
-- ... nor move the owner's membership to itself, nor re-identify the owner's account.
SELECT is(pg_temp.as_user('admin', 'admin', format($$UPDATE coditect.memberships SET user_id = %L WHERE id = %L$$, :'admin_u', :'owner_m')),
          'CD422: a membership cannot move to another user', 'a membership never moves to another user');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_users_update(%L, '{"email": "attacker@t22.test"}')$$, :'owner1')),
             'CD403: only an owner%', 'an admin cannot change the owner''s e-mail (a login identity)');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$UPDATE coditect.users SET firebase_uid = 'fb-attacker' WHERE id = %L$$, :'owner1')),
             'CD403: only an owner%', 'nor its Firebase uid by direct SQL');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_users_update(%L, '{"email": "member2@t22.test"}')$$, :'member_u')),
             '%"email": "member2@t22.test"%', 'an admin still edits a member''s account');
SELECT is(pg_temp.owners(), 'owner@t22.test', 'the owner is still the owner');

-- Admins keep their other powers.
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_memberships_update(%L, '{"role": "guest"}')$$, :'member_m')),
            '%"role": "guest"%', 'an admin still changes a member''s role');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_memberships_update(%L, '{"role": "member"}')$$, :'member_m')),
            '%"role": "member"%', '... and back');

-- The last owner cannot leave, by any path.
SELECT alike(pg_temp.as_user('owner1', 'owner', format($$SELECT coditect.api_memberships_update(%L, '{"role": "admin"}')$$, :'owner_m')),
             'CD409: a tenant must keep an active owner%', 'the last owner cannot demote itself');
SELECT alike(pg_temp.as_user('owner1', 'owner', format($$SELECT coditect.api_memberships_update(%L, '{"revoked_at": "%s"}')$$, :'owner_m', now())),
             'CD409: a tenant must keep an active owner%', 'the last owner cannot revoke itself');
SELECT alike(pg_temp.as_user('owner1', 'owner', format($$SELECT coditect.api_users_update(%L, '{"is_active": false}')$$, :'owner1')),
             'CD409: a tenant must keep an active owner%', 'the last owner cannot deactivate itself');
-- (Nobody deletes their own account in a context: the refuse_self_delete trigger answers first.)
SELECT is(pg_temp.as_user('owner1', 'owner', format($$DELETE FROM coditect.users WHERE id = %L$$, :'owner1')),
          'CD409: you cannot delete yourself', 'the last owner cannot delete itself');
RESET ROLE;
SELECT throws_ok(format($$UPDATE coditect.memberships SET revoked_at = now() WHERE id = %L$$, :'owner_m'),
                 'CD409', NULL, 'not even a DBA without a context can remove the last owner');
SELECT throws_ok(format($$DELETE FROM coditect.users WHERE id = %L$$, :'owner1'),
                 'CD409', 'a tenant must keep an active owner: make another member owner first',
                 'nor delete the last owner''s account');
SET ROLE tap22_gateway;

-- An owner hands over: promote first, then step down.
SELECT alike(pg_temp.as_user('owner1', 'owner', format($$SELECT coditect.api_memberships_update(%L, '{"role": "owner"}')$$, :'member_m')),
            '%"role": "owner"%', 'an owner promotes a member to owner');
SELECT is(pg_temp.owners(), 'member2@t22.test,owner@t22.test', 'two owners now');
SELECT alike(pg_temp.as_user('owner1', 'owner', format($$SELECT coditect.api_memberships_update(%L, '{"role": "admin"}')$$, :'owner_m')),
            '%"role": "admin"%', 'then steps down to admin');
SELECT is(pg_temp.owners(), 'member2@t22.test', 'the new owner is the only owner');
SELECT alike(pg_temp.as_user('owner1', 'admin', format($$SELECT coditect.api_memberships_update(%L, '{"role": "owner"}')$$, :'owner_m')),
             'CD403: only an owner%', 'the former owner, now admin, cannot take ownership back');
-- A deactivated owner does not count.
SELECT alike(pg_temp.as_user('member', 'owner', format($$SELECT coditect.api_memberships_update(%L, '{"role": "owner"}')$$, :'owner_m')),
            '%"role": "owner"%', 'the new owner makes the former one owner again');
SELECT alike(pg_temp.as_user('member', 'owner', format($$SELECT coditect.api_users_update(%L, '{"is_active": false}')$$, :'owner1')),
            '%"is_active": false%', 'and deactivates that account');
SELECT alike(pg_temp.as_user('member', 'owner', format($$SELECT coditect.api_memberships_update(%L, '{"role": "admin"}')$$, :'member_m')),
             'CD409: a tenant must keep an active owner%', 'an inactive owner does not count: the active one cannot step down');
RESET ROLE;

-- Purging the tenant removes every owner: maintenance is not blocked.
SELECT lives_ok(format($$SELECT coditect.purge_tenant(%L)$$, :'tid'), 'purge_tenant removes a tenant with its owners');

SELECT * FROM finish();
ROLLBACK;
