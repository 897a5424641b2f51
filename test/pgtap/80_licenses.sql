-- Licenses and seats: keys, acquire / heartbeat / release errors and rules, zombies, the seat
-- invariant for direct writes, state transitions, audit, signed tokens and key rotation.
-- Runs in committed transactions (pgTAP's counters are transactional); fixtures are purged at
-- the end. Needs the signing key set up by scripts/lib.sh (setup_signing_key).
\set ON_ERROR_STOP 1
SELECT plan(78);

CREATE ROLE tap80_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap80_other LOGIN;
SELECT coditect.create_tenant('Lic A', 't80-a', 'a@a.test', 'owner@a.test') AS ja \gset
SELECT coditect.create_tenant('Lic B', 't80-b', 'b@b.test', 'owner@b.test') AS jb \gset
SELECT :'ja'::jsonb->>'tenant_id' AS ta, :'ja'::jsonb->>'user_id' AS ua,
       :'jb'::jsonb->>'tenant_id' AS tb, :'jb'::jsonb->>'user_id' AS ub \gset
INSERT INTO coditect.licenses (tenant_id, tier, features, expiry_date, seats_total, created_by)
VALUES (:'ta', 'PRO', '["marketplace", "analytics"]', now() + interval '1 year', 2, :'ua')
RETURNING id AS lic, key_string AS key \gset
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) VALUES (:'tb', now() + interval '1 year', 3)
RETURNING id AS lic_b, key_string AS key_b \gset
INSERT INTO coditect.licenses (tenant_id, expiry_date, is_active) VALUES (:'ta', now() + interval '1 year', false)
RETURNING key_string AS key_inactive \gset
INSERT INTO coditect.licenses (tenant_id, expiry_date, created_at) VALUES (:'ta', now() - interval '1 second', now() - interval '1 day')
RETURNING key_string AS key_expired \gset
CREATE TEMP TABLE s (name text PRIMARY KEY, answer jsonb);
GRANT ALL ON s TO tap80_gateway;
-- Runs a call as the gateway with A's owner in context, in its own committed transaction.
CREATE FUNCTION pg_temp.as_a(p_sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
    PERFORM coditect.set_request_context(current_setting('tap.ta')::uuid, current_setting('tap.ua')::uuid, 'member');
    EXECUTE p_sql INTO r;
    RETURN r;
END $$;
SELECT set_config('tap.ta', :'ta', false) AS _, set_config('tap.ua', :'ua', false) AS _ \gset

-- Keys
SELECT matches(:'key'::text, '^CODITECT-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$', 'a new license gets a generated key');
SELECT is(coditect.license_key_normalize(lower(replace(:'key', '-', ''))), :'key', 'keys are accepted in lower case without dashes');
SELECT throws_ok(format($$SELECT coditect.license_key_normalize(%L)$$, overlay(:'key' placing (CASE WHEN substr(:'key', 10, 1) = 'A' THEN 'B' ELSE 'A' END) from 10 for 1)),
                 'CD400', 'license key check failed: the key is mistyped', 'one wrong symbol is caught by the check symbol');
SELECT throws_ok($$SELECT coditect.license_key_normalize('CODITECT-0000-0000-0000')$$, 'CD400',
                 'not a license key: expected CODITECT-XXXX-XXXX-XXXX', 'look-alike symbols are not a key');
SELECT throws_ok(format($$INSERT INTO coditect.licenses (tenant_id, key_string, expiry_date) VALUES (%L, 'CODITECT-AAAA-AAAA-AAAA', now())$$, :'ta'),
                 '23514', NULL, 'an invalid key cannot be stored');
SELECT throws_ok(format($$INSERT INTO coditect.licenses (tenant_id, key_string, expiry_date) VALUES (%L, %L, now())$$, :'ta', lower(:'key')),
                 '23514', NULL, 'only the canonical form is stored');
SELECT throws_ok(format($$INSERT INTO coditect.licenses (tenant_id, key_string, expiry_date) VALUES (%L, %L, now())$$, :'tb', :'key'),
                 '23505', NULL, 'keys are unique across tenants');
SELECT throws_ok(format($$INSERT INTO coditect.licenses (tenant_id, tier, expiry_date) VALUES (%L, 'GOLD', now())$$, :'ta'),
                 '22P02', NULL, 'tier is BASIC, PRO or ENTERPRISE');
SELECT throws_ok(format($$INSERT INTO coditect.licenses (tenant_id, features, expiry_date) VALUES (%L, '["a", 1]', now())$$, :'ta'),
                 '23514', NULL, 'features are a list of strings');
SELECT throws_ok(format($$INSERT INTO coditect.licenses (tenant_id, seats_total, expiry_date) VALUES (%L, 0, now())$$, :'ta'),
                 '23514', NULL, 'a license has at least one seat');

-- Acquire: errors
SET ROLE tap80_gateway;
SELECT throws_ok(format($$SELECT coditect.license_acquire(%L, 'hw')$$, :'key'), 'CD403', NULL, 'acquire needs a request context');
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT coditect.license_acquire(%%L, %%L)', %L, 'hw'))$$, coditect.license_key_generate()),
                 'CD404', 'unknown license key', 'an unknown key is CD404');
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT coditect.license_acquire(%%L, %%L)', %L, 'hw'))$$, :'key_b'),
                 'CD404', 'unknown license key', 'another tenant''s key is unknown here');
SELECT throws_ok($$SELECT pg_temp.as_a('SELECT coditect.license_acquire(''CODITECT-2222-2222-2223'', ''hw'')')$$,
                 'CD400', NULL, 'a mistyped key is CD400');
SELECT throws_ok($$SELECT pg_temp.as_a('SELECT coditect.license_acquire(''hello'', ''hw'')')$$, 'CD400', NULL, 'garbage is CD400');
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT coditect.license_acquire(%%L, %%L)', %L, ' '))$$, :'key'),
                 'CD400', NULL, 'a blank hardware id is CD400');
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT coditect.license_acquire(%%L, %%L)', %L, 'hw'))$$, :'key_inactive'),
                 'CD403', 'the license is inactive', 'an inactive license is CD403');
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT coditect.license_acquire(%%L, %%L)', %L, 'hw'))$$, :'key_expired'),
                 'CD410', NULL, 'an expired license is CD410');

-- Acquire: seats
INSERT INTO s SELECT 'one', pg_temp.as_a(format('SELECT coditect.license_acquire(%L, %L, %L, %L)', :'key', 'hw-1', '203.0.113.1', 'app/1'));
SELECT is((SELECT answer->>'seats_used' FROM s WHERE name = 'one'), '1', 'the first machine takes a seat');
SELECT is((SELECT answer->>'seats_total' FROM s WHERE name = 'one'), '2', 'the answer names the seats in total');
SELECT ok((SELECT abs(extract(epoch FROM (answer->>'heartbeat_deadline')::timestamptz - now() - interval '6 minutes')) < 5 FROM s WHERE name = 'one'),
          'the heartbeat deadline is six minutes ahead');
INSERT INTO s SELECT 'one-again', pg_temp.as_a(format('SELECT coditect.license_acquire(%L, %L)', :'key', 'hw-1'));
SELECT is((SELECT answer->>'session_id' FROM s WHERE name = 'one-again'), (SELECT answer->>'session_id' FROM s WHERE name = 'one'),
          'the same machine gets its session back');
SELECT is((SELECT answer->>'seats_used' FROM s WHERE name = 'one-again'), '1', '... without taking another seat');
INSERT INTO s SELECT 'two', pg_temp.as_a(format('SELECT coditect.license_acquire(%L, %L)', :'key', 'hw-2'));
SELECT is((SELECT answer->>'seats_used' FROM s WHERE name = 'two'), '2', 'a second machine takes the second seat');
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT coditect.license_acquire(%%L, %%L)', %L, 'hw-3'))$$, :'key'),
                 'CD409', 'no free seat: 2 of 2 seats in use', 'a third machine finds no free seat');
RESET ROLE;
SELECT (answer->>'session_id') AS s1 FROM s WHERE name = 'one' \gset
SELECT (answer->>'session_id') AS s2 FROM s WHERE name = 'two' \gset
SELECT is((SELECT user_id FROM coditect.license_sessions WHERE id = :'s1'), :'ua'::uuid, 'the session belongs to the context user');
SELECT is((SELECT ip_address FROM coditect.license_sessions WHERE id = :'s1'), '203.0.113.1'::inet, 'and records the client IP');

-- Tokens
SELECT is((SELECT coditect.license_verify(answer->>'token')->>'verdict' FROM s WHERE name = 'one'), 'valid', 'the token verifies');
SELECT is((SELECT (coditect.license_verify(answer->>'token')->'claims') - 'iat' - 'exp' FROM s WHERE name = 'one'),
          jsonb_build_object('lic', :'lic', 'ten', :'ta', 'tier', 'PRO', 'feat', '["marketplace", "analytics"]'::jsonb,
                             'ses', :'s1', 'hw', 'hw-1', 'kid', current_setting('coditect.license_signing_key_id')),
          'the token carries license, tenant, tier, features, session, machine and key id');
SELECT is((SELECT ((coditect.license_verify(answer->>'token')->'claims'->>'exp')::bigint
                  - (coditect.license_verify(answer->>'token')->'claims'->>'iat')::bigint) FROM s WHERE name = 'one'),
          360::bigint, 'the token lasts until the heartbeat deadline');
SELECT is(coditect.license_verify(split_part((SELECT answer->>'token' FROM s WHERE name = 'two'), '.', 1) || '.' ||
                                   split_part((SELECT answer->>'token' FROM s WHERE name = 'one'), '.', 2))->>'verdict',
          'bad_signature', 'another payload under this signature fails the check');
SELECT is(coditect.license_verify('not a token')->>'verdict', 'malformed', 'garbage is malformed');
SELECT is(coditect.license_verify(coditect_internal.license_token_sign(:'lic', :'ta', 'PRO', '[]', :'s1', 'hw-1',
              now() - interval '2 hours', now() - interval '1 hour'))->>'verdict',
          'expired', 'an expired token is reported as expired');
SELECT is((SELECT count(*)::int FROM coditect.license_public_keys()
            WHERE key_id = current_setting('coditect.license_signing_key_id') AND algorithm = 'Ed25519'
              AND public_key ~ '^[A-Za-z0-9_-]{43}$' AND public_key_pem LIKE '-----BEGIN PUBLIC KEY-----%'), 1,
          'the signing key is published for offline verification');
SET ROLE tap80_gateway;
SELECT throws_ok($$SELECT coditect_internal.license_token_sign(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)$$,
                 '42501', NULL, 'the gateway cannot sign tokens itself');
SELECT throws_ok($$SELECT current_setting('coditect.license_signing_key_file')$$, '42501', NULL,
                 'nor read where the private key is');
SELECT throws_ok($$SET coditect.license_session_ttl = '1h'$$, '42501', NULL, 'nor change the session TTL');
SELECT is((SELECT count(*)::int FROM coditect.license_public_keys()), 1, 'but it can read the public keys');
RESET ROLE;

-- Heartbeat and release
SET ROLE tap80_gateway;
INSERT INTO s SELECT 'beat', pg_temp.as_a(format('SELECT coditect.license_heartbeat(%L)', :'s1'));
SELECT is((SELECT answer->>'status' FROM s WHERE name = 'beat'), 'active', 'a heartbeat keeps the session active');
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT coditect.license_heartbeat(%%L)', %L))$$, coditect.uuid_generate_v7()),
                 'CD404', NULL, 'heartbeat of an unknown session is CD404');
SELECT lives_ok(format($$SELECT pg_temp.as_a(format('SELECT to_jsonb(coditect.license_release(%%L))', %L))$$, :'s2'), 'release');
SELECT lives_ok(format($$SELECT pg_temp.as_a(format('SELECT to_jsonb(coditect.license_release(%%L))', %L))$$, :'s2'), 'releasing twice is harmless');
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT to_jsonb(coditect.license_release(%%L))', %L))$$, coditect.uuid_generate_v7()),
                 'CD404', NULL, 'release of an unknown session is CD404');
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT coditect.license_heartbeat(%%L)', %L))$$, :'s2'),
                 'CD410', NULL, 'heartbeat of an ended session is CD410');
RESET ROLE;
SELECT is((SELECT status::text || '/' || (ended_at IS NOT NULL)::text FROM coditect.license_sessions WHERE id = :'s2'), 'ended/true',
          'the released session is ended and stamped');
SELECT is((SELECT seats_in_use FROM coditect.licenses WHERE id = :'lic'), 1, 'its seat is free again');

-- Zombies: a session without heartbeat for the TTL loses its seat to the next machine.
UPDATE coditect.license_sessions SET last_heartbeat_at = now() - interval '7 minutes' WHERE id = :'s1';
SET ROLE tap80_gateway;
INSERT INTO s SELECT 'three', pg_temp.as_a(format('SELECT coditect.license_acquire(%L, %L)', :'key', 'hw-3'));
INSERT INTO s SELECT 'four', pg_temp.as_a(format('SELECT coditect.license_acquire(%L, %L)', :'key', 'hw-4'));
RESET ROLE;
SELECT is((SELECT status::text FROM coditect.license_sessions WHERE id = :'s1'), 'zombie', 'the silent session became a zombie');
SELECT is((SELECT answer->>'seats_used' FROM s WHERE name = 'four'), '2', 'and its seat went to another machine');
SET ROLE tap80_gateway;
SELECT throws_ok(format($$SELECT pg_temp.as_a(format('SELECT coditect.license_heartbeat(%%L)', %L))$$, :'s1'),
                 'CD409', 'the session lapsed and no seat is free to revive it: 2 of 2 seats in use',
                 'a zombie cannot come back while the seats are taken');
SELECT lives_ok(format($$SELECT pg_temp.as_a(format('SELECT to_jsonb(coditect.license_release(%%L))', %L))$$,
                       (SELECT answer->>'session_id' FROM s WHERE name = 'four')), 'a seat is released');
INSERT INTO s SELECT 'revived', pg_temp.as_a(format('SELECT coditect.license_heartbeat(%L)', :'s1'));
RESET ROLE;
SELECT is((SELECT answer->>'status' FROM s WHERE name = 'revived'), 'active', 'then the zombie comes back to life');
SELECT is((SELECT seats_in_use FROM coditect.licenses WHERE id = :'lic'), 2, 'taking the free seat');

-- The reaper, for a scheduler.
UPDATE coditect.license_sessions SET last_heartbeat_at = now() - interval '1 hour' WHERE id = :'s1';
SELECT is(coditect.reap_zombie_sessions(), 1, 'reap_zombie_sessions turns overdue sessions into zombies');
SELECT is((SELECT seats_in_use FROM coditect.licenses WHERE id = :'lic'), 1, 'and frees their seats');
BEGIN;
SET LOCAL coditect.license_session_ttl = '30min';
SELECT is(coditect.license_session_ttl(), interval '30 minutes', 'the TTL is a (superuser) setting');
COMMIT;
SELECT is(coditect.license_session_ttl(), interval '6 minutes', 'six minutes by default');

-- Audit: acquire, release, zombie and revival are logged; heartbeats are not.
SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE resource_id = :'s1' AND action = 'license_session.create'), 1,
          'acquire is audited');
SELECT is((SELECT array_agg(changes->'status' ORDER BY id) FROM coditect.audit_logs
            WHERE resource_id = :'s1' AND action = 'license_session.update'),
          ARRAY['["active", "zombie"]', '["zombie", "active"]', '["active", "zombie"]']::jsonb[],
          'zombie, revival and reaping are audited; heartbeats are not');
SELECT is((SELECT changes->'status' FROM coditect.audit_logs WHERE resource_id = :'s2' AND action = 'license_session.update'),
          '["active", "ended"]'::jsonb, 'release is audited once');
SELECT is((SELECT changes->'key_string' FROM coditect.audit_logs WHERE resource_id = :'lic' AND action = 'license.create'),
          '[null, "[REDACTED]"]'::jsonb, 'license keys never reach the audit log');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE resource_id = :'lic' AND action = 'license.update'), 0,
          'seat counting does not write license audit rows');

-- The invariant holds for direct writes too.
SET ROLE tap80_gateway;
SELECT throws_ok(format($$UPDATE coditect.licenses SET seats_in_use = 0 WHERE id = %L$$, :'lic'), '42501', NULL,
                 'clients cannot write the seat counter');
SELECT set_config('tap.lic', :'lic', false) AS _ \gset
CREATE FUNCTION pg_temp.direct(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM coditect.set_request_context(current_setting('tap.ta')::uuid, current_setting('tap.ua')::uuid, 'member');
    EXECUTE replace(replace(replace(p_sql, '$T', quote_literal(current_setting('tap.ta'))),
                                    '$U', quote_literal(current_setting('tap.ua'))), '$L', quote_literal(current_setting('tap.lic')));
    RETURN 'ok';
END $$;
SELECT lives_ok($$SELECT pg_temp.direct('INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id) VALUES ($T, $L, $U, ''direct-1'')')$$,
                'a direct insert may take the last free seat');
SELECT throws_ok($$SELECT pg_temp.direct('INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id) VALUES ($T, $L, $U, ''direct-2'')')$$,
                 '23514', NULL, 'a direct insert past seats_total is refused');
SELECT throws_ok($$SELECT pg_temp.direct('INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id, status) VALUES ($T, $L, $U, ''direct-3'', ''zombie'')')$$,
                 'CD422', NULL, 'a session cannot start as a zombie');
SELECT throws_ok($$SELECT pg_temp.direct('UPDATE coditect.license_sessions SET status = ''ended'' WHERE hardware_id = ''hw-2''; UPDATE coditect.license_sessions SET status = ''active'' WHERE hardware_id = ''hw-2''')$$,
                 'CD422', 'license_session: cannot go from ''ended'' to ''active'' (from ''ended'': none)',
                 'an ended session cannot come back');
SELECT throws_ok($$SELECT pg_temp.direct('UPDATE coditect.licenses SET seats_total = 1 WHERE id = $L')$$,
                 '23514', NULL, 'seats cannot drop below the seats in use');
RESET ROLE;
SELECT throws_ok(format($$INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id) VALUES (%L, %L, %L, 'direct-1')$$,
                        :'ta', :'lic', :'ua'),
                 '23505', NULL, 'a machine cannot hold two active sessions of one license, even for a superuser');
UPDATE coditect.licenses SET seats_total = 5 WHERE id = :'lic';
SELECT throws_ok(format($$UPDATE coditect.license_sessions SET license_id = %L WHERE hardware_id = 'direct-1'$$, :'lic_b'),
                 '23503', NULL, 'a session cannot be moved to another tenant''s license');
SELECT is((SELECT seats_in_use FROM coditect.licenses WHERE id = :'lic'),
          (SELECT count(*)::int FROM coditect.license_sessions WHERE license_id = :'lic' AND status = 'active'),
          'after all that, the counter equals the active sessions');

-- Key rotation: a second key is published beside the first, then the first is retired.
SELECT current_setting('coditect.license_signing_key_id') AS kid1,
       current_setting('tap.rotation_key_file') AS rotation_key_file \gset
SELECT (answer->>'token') AS old_token FROM s WHERE name = 'revived' \gset
BEGIN;
SET LOCAL coditect.license_signing_key_file = :'rotation_key_file';
SET LOCAL coditect.license_signing_key_id = 'k-rotated';
SELECT is(coditect.publish_license_signing_key(), 'k-rotated', 'a second key is published');
SELECT is(coditect.license_verify(coditect_internal.license_token_sign(:'lic', :'ta', 'PRO', '[]', :'s1', 'hw-1', now(), now() + interval '1 hour'))->>'verdict',
          'valid', 'tokens signed with the new key verify');
COMMIT;
SELECT is(coditect.license_verify(:'old_token')->>'verdict', 'valid', 'tokens of the old key still verify during rotation');
SELECT is((SELECT count(*)::int FROM coditect.license_public_keys()), 2, 'both keys are published');
BEGIN;
SET LOCAL coditect.license_signing_key_id = 'k-duplicate';
SELECT throws_ok($$SELECT coditect.publish_license_signing_key()$$, '23505', NULL,
                 'the same key cannot be published twice under another id');
COMMIT;
SELECT lives_ok(format($$SELECT coditect.retire_license_signing_key(%L)$$, :'kid1'), 'the old key is retired');
SELECT is(coditect.license_verify(:'old_token')->>'verdict', 'unknown_key', 'its tokens no longer verify');
SET ROLE tap80_gateway;
SELECT throws_ok($$SELECT coditect.publish_license_signing_key()$$, '42501', NULL, 'only a DBA publishes keys');
RESET ROLE;
-- Put the first key back for other suites.
DELETE FROM coditect.license_signing_keys WHERE key_id = 'k-rotated';
UPDATE coditect.license_signing_keys SET retired_at = NULL WHERE key_id = :'kid1';

SELECT * FROM finish();

SELECT coditect.purge_tenant(:'ta');
SELECT coditect.purge_tenant(:'tb');
DROP FUNCTION pg_temp.direct(text);
DROP TABLE s;
DROP ROLE tap80_gateway, tap80_other;
