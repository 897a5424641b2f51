-- A license session belongs to the user who acquired it: nobody else heartbeats it (and gets
-- its signed token), takes it over or ends it, except an administrator ending it, which the
-- audit trail records. Tokens never outlive the license. Needs the signing key of scripts/lib.sh.
BEGIN;
SELECT no_plan();

CREATE ROLE tap82_gateway LOGIN IN ROLE coditect_gateway;
SELECT coditect.create_tenant('Seats', 't82-seats', 'seats@t82.test', 'owner@t82.test') AS j \gset
SELECT :'j'::jsonb->>'tenant_id' AS tid, :'j'::jsonb->>'user_id' AS owner_u \gset
INSERT INTO coditect.users (tenant_id, email, role)
SELECT :'tid', r || '@t82.test', 'member' FROM unnest(ARRAY['alice', 'bob']) r;
INSERT INTO coditect.memberships (tenant_id, user_id, role)
SELECT tenant_id, id, role FROM coditect.users WHERE tenant_id = :'tid' AND role = 'member';
SELECT id AS alice FROM coditect.users WHERE email = 'alice@t82.test' \gset
SELECT id AS bob FROM coditect.users WHERE email = 'bob@t82.test' \gset
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) VALUES (:'tid', now() + interval '1 year', 5)
RETURNING key_string AS key \gset
-- Expires before the heartbeat deadline (the session TTL is 6 minutes).
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) VALUES (:'tid', now() + interval '2 minutes', 5)
RETURNING key_string AS short_key, expiry_date AS short_expiry \gset
SELECT set_config('tap.tenant', :'tid', false), set_config('tap.user.alice', :'alice', false),
       set_config('tap.user.bob', :'bob', false), set_config('tap.user.owner', :'owner_u', false) \gset

\ir lib/as_user.psql
SET ROLE tap82_gateway;

SELECT pg_temp.as_user('alice', 'member', format($$SELECT coditect.license_acquire(%L, 'alice-laptop')$$, :'key')) AS alice_s \gset
SELECT ok((:'alice_s'::jsonb) ? 'token', 'alice acquires a seat');
SELECT :'alice_s'::jsonb->>'session_id' AS alice_sid \gset

-- Bob, a member of the same tenant, cannot use Alice's session.
SELECT is(pg_temp.as_user('bob', 'member', format($$SELECT coditect.license_heartbeat(%L)$$, :'alice_sid')),
          'CD404: unknown license session', 'bob cannot heartbeat alice''s session (nor receive its token)');
SELECT is(pg_temp.as_user('bob', 'member', format($$SELECT coditect.license_release(%L)$$, :'alice_sid')),
          'CD404: unknown license session', 'bob cannot release alice''s session');
SELECT is(pg_temp.as_user('bob', 'member', format($$SELECT coditect.license_acquire(%L, 'alice-laptop')$$, :'key')),
          'CD409: this machine holds a session of another user on this license', 'bob cannot take over alice''s machine');
SELECT alike(pg_temp.as_user('bob', 'member', format($$UPDATE coditect.license_sessions SET last_heartbeat_at = now() WHERE id = %L$$, :'alice_sid')),
             'CD403: this license session belongs to another user', 'nor heartbeat it by direct SQL');
SELECT alike(pg_temp.as_user('bob', 'member', format($$UPDATE coditect.license_sessions SET status = 'ended' WHERE id = %L$$, :'alice_sid')),
             'CD403: this license session belongs to another user', 'nor end it by direct SQL');
SELECT alike(pg_temp.as_user('bob', 'member', format($$UPDATE coditect.license_sessions SET user_id = %L WHERE id = %L$$, :'bob', :'alice_sid')),
             'CD422: a license session cannot change hands', 'nor take it over by direct SQL');
SELECT alike(pg_temp.as_user('bob', 'member', format($$INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id)
                                                      SELECT tenant_id, license_id, %L, 'bob-fake' FROM coditect.license_sessions WHERE id = %L$$,
                                                     :'alice', :'alice_sid')),
             'CD403: this license session belongs to another user', 'nor open a session in alice''s name');
SELECT is(pg_temp.as_user('bob', 'member', format($$DELETE FROM coditect.license_sessions WHERE id = %L$$, :'alice_sid')),
          'CD403: only an administrator deletes license sessions', 'nor delete it to free its seat');
SELECT is(pg_temp.as_user('alice', 'member', format($$UPDATE coditect.license_sessions SET ended_by = %L WHERE id = %L RETURNING ended_by$$,
                                                   :'owner_u', :'alice_sid')),
          'done', 'ended_by is not hers to write: it stays empty while the session runs');
SELECT alike(pg_temp.as_user('alice', 'member', format($$SELECT coditect.license_heartbeat(%L)$$, :'alice_sid')),
            '%"token"%', 'alice heartbeats her own session');
SELECT alike(pg_temp.as_user('bob', 'member', format($$SELECT coditect.license_acquire(%L, 'bob-desktop')$$, :'key')),
            '%"token"%', 'bob acquires a seat on his own machine');

-- An administrator may end anyone's session; the audit trail names who ended it.
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.license_release(%L)$$, :'alice_sid')),
          'done', 'the owner (license.manage) releases alice''s session');
RESET ROLE;
SELECT is((SELECT status || ' by ' || ended_by::text FROM coditect.license_sessions WHERE id = :'alice_sid'),
          'ended by ' || :'owner_u', 'the session is ended, ended_by names the owner');
SET ROLE tap82_gateway;
SELECT is(pg_temp.as_user('bob', 'member', format($$UPDATE coditect.license_sessions SET ended_by = NULL WHERE id = %L$$, :'alice_sid')),
          'CD403: this license session belongs to another user', 'nobody erases who ended another user''s session');
SELECT is(pg_temp.as_user('alice', 'member', format($$UPDATE coditect.license_sessions SET ended_by = NULL WHERE id = %L RETURNING ended_by$$, :'alice_sid')),
          :'owner_u', '... nor on their own: ended_by stays (only its foreign key clears it)');
RESET ROLE;
SELECT is((SELECT changes->'ended_by'->>1 FROM coditect.audit_logs
            WHERE tenant_id = :'tid' AND resource_id = :'alice_sid' AND action = 'license_session.update'
              AND changes ? 'ended_by'),
          :'owner_u', 'the audit row records the administrator as ended_by');
SELECT is((SELECT user_id FROM coditect.audit_logs
            WHERE tenant_id = :'tid' AND resource_id = :'alice_sid' AND action = 'license_session.update'
              AND changes ? 'ended_by'),
          :'owner_u'::uuid, '... and as the acting user');
SET ROLE tap82_gateway;
SELECT pg_temp.as_user('bob', 'member', format($$SELECT coditect.license_acquire(%L, 'bob-desktop')$$, :'key'))::jsonb->>'session_id' AS bob_sid \gset
SELECT is(pg_temp.as_user('bob', 'member', format($$SELECT coditect.license_release(%L)$$, :'bob_sid')), 'done', 'bob releases his own session');
RESET ROLE;
SELECT is((SELECT ended_by FROM coditect.license_sessions WHERE id = :'bob_sid'), :'bob'::uuid, 'ended_by is bob himself');
-- The one who ended a session may leave: the foreign key clears ended_by (ON DELETE SET NULL).
INSERT INTO coditect.users (tenant_id, email, role) VALUES (:'tid', 'admin@t82.test', 'admin') RETURNING id AS admin_u \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'tid', :'admin_u', 'admin');
SELECT set_config('tap.user.admin', :'admin_u', false) \gset
SET ROLE tap82_gateway;
SELECT pg_temp.as_user('bob', 'member', format($$SELECT coditect.license_acquire(%L, 'bob-desktop')$$, :'key'))::jsonb->>'session_id' AS bob_sid2 \gset
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.license_release(%L)$$, :'bob_sid2')), 'done', 'an admin ends bob''s session');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_users_delete(%L)$$, :'admin_u')), 'done',
          'the owner can still delete that admin afterwards');
RESET ROLE;
SELECT is((SELECT status || '/' || coalesce(ended_by::text, 'nobody') FROM coditect.license_sessions WHERE id = :'bob_sid2'),
          'ended/nobody', 'the session stays ended, ended_by cleared');
SET ROLE tap82_gateway;

-- A token never outlives its license.
SELECT pg_temp.as_user('alice', 'member', format($$SELECT coditect.license_acquire(%L, 'alice-laptop')$$, :'short_key')) AS short_s \gset
SELECT is((coditect.license_verify(:'short_s'::jsonb->>'token')->'claims'->>'exp')::bigint,
          floor(extract(epoch FROM :'short_expiry'::timestamptz))::bigint,
          'a token of a license expiring before the heartbeat deadline expires with the license');
SELECT cmp_ok((coditect.license_verify(:'alice_s'::jsonb->>'token')->'claims'->>'exp')::bigint
              - (coditect.license_verify(:'alice_s'::jsonb->>'token')->'claims'->>'iat')::bigint,
              '=', 360::bigint, '... while one of a long license lasts until the heartbeat deadline');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
