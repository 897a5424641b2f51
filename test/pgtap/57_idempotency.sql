-- Idempotency keys (sql/57_idempotency.sql): a key per tenant and user, the request's SHA-256
-- compared, the first answer replayed, a failed request leaving no key, 24 hours of life, the
-- purge, a tenant's quota of live keys, answers holding a secret not kept. (Concurrent
-- duplicates through the gateway: IdempotencyIT.) Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql

\set fx t57
\ir lib/tenants.psql
\ir lib/as_user.psql
CREATE ROLE tap57_gateway LOGIN IN ROLE coditect_gateway;

SELECT encode(sha256('POST /api/v1/projects/ {"name":"x"}'), 'hex') AS h1,
       encode(sha256('POST /api/v1/projects/ {"name":"y"}'), 'hex') AS h2 \gset
-- Runs an idempotency call as a user of tenant A.
CREATE FUNCTION pg_temp.idem(p_user text, p_sql text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_user(p_user, CASE p_user WHEN 'owner' THEN 'owner' ELSE 'member' END, p_sql)
$$;

SET ROLE tap57_gateway;
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_lookup('k-1', %L)$$, :'h1')), 'done',
          'an unknown key has no answer');
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_claim('k-1', %L)$$, :'h1')), 'true',
          'the first request claims the key');
SELECT is(pg_temp.idem('member', $$SELECT coditect.idempotency_finish('k-1', 201, 'application/json',
          '[["ETag", "\"abc\""]]', '{"id": 1}', false)$$), 'true', 'and records its answer');
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_lookup('k-1', %L)$$, :'h1'))::jsonb,
          '{"status": 201, "content_type": "application/json", "headers": [["ETag", "\"abc\""]], "body": "{\"id\": 1}"}',
          'the same request gets the first answer');
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_lookup('k-1', %L)$$, :'h2')),
          'CD409: this Idempotency-Key was used for a different request (method, path or body)',
          'a different request with the key is refused');
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_claim('k-1', %L)$$, :'h1')),
          'CD409: a request with this Idempotency-Key completed meanwhile', 'a taken key cannot be claimed again');
SELECT is(pg_temp.as_user('member', 'guest', format($$SELECT coditect.idempotency_lookup('k-1', %L)$$, :'h1')),
          'CD409: this Idempotency-Key was used for a different request (method, path or body)',
          'the same user acting as a lesser role is not replayed the answer (the role is part of the request)');
SELECT is(pg_temp.idem('member2', format($$SELECT coditect.idempotency_lookup('k-1', %L)$$, :'h1')), 'done',
          'another user of the tenant does not see the key');
SELECT is(pg_temp.idem('member2', format($$SELECT coditect.idempotency_claim('k-1', %L)$$, :'h1')), 'true',
          'and claims the same key for itself');
SELECT is(pg_temp.idem('member2', $$SELECT coditect.idempotency_finish('k-1', 200, 'application/json', '[]', '{}', false)$$), 'true',
          'with its own answer');
-- Tenant B's owner, the same key.
SELECT set_config('tap.tenant', :'tb', false), set_config('tap.user.owner_b', :'owner_b', false) \gset
SELECT is(pg_temp.as_user('owner_b', 'owner', format($$SELECT coditect.idempotency_lookup('k-1', %L)$$, :'h1')), 'done',
          'another tenant''s same key is independent');
SELECT set_config('tap.tenant', :'ta', false) \gset

-- A failed request leaves no key: the claim rolls back with the request.
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_claim('k-fail', %L) AND 1 / 0 = 1$$, :'h1')),
          '22012: division by zero', 'a request fails after its claim');
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_lookup('k-fail', %L)$$, :'h2')), 'done',
          'its key is free: a corrected request may use it');
SELECT is(pg_temp.idem('member', $$SELECT coditect.idempotency_finish('k-none', 200, 'application/json', '[]', '{}', false)$$),
          'CD409: no claim of this Idempotency-Key in this transaction', 'no answer is recorded without a claim');

-- Keys: 1 to 255 printable ASCII characters; a request context.
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_lookup(%L, %L)$$, k, :'h1')),
          'CD400: the Idempotency-Key header must be 1 to 255 printable ASCII characters', 'refused key: ' || d)
  FROM (VALUES ('', 'empty'), (repeat('k', 256), '256 characters'), (E'a\tb', 'a control character'), ('clé', 'not ASCII')) v(k, d);
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_lookup(%L, %L) IS NULL$$, repeat('k', 255), :'h1')), 'true',
          '255 printable characters are a key');
SELECT is(pg_temp.idem('member', $$SELECT coditect.idempotency_lookup('k-1', 'abc')$$),
          'CD400: the request''s SHA-256 is 64 lower-case hex digits', 'the request hash is checked');
SELECT throws_ok(format($$SELECT coditect.idempotency_lookup('k-1', %L)$$, :'h1'), 'CD403',
                 'an Idempotency-Key is used in a request context', 'no request context, no key');
SELECT throws_ok($$SELECT * FROM coditect_internal.idempotency_keys$$, '42501', NULL, 'the gateway cannot read the table');
RESET ROLE;

-- 24 hours: an older key is absent, can be claimed again, and is purged.
UPDATE coditect_internal.idempotency_keys SET created_at = now() - interval '24 hours 1 second'
 WHERE idem_key = 'k-1' AND user_id = current_setting('tap.user.member')::uuid;
SET ROLE tap57_gateway;
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_lookup('k-1', %L)$$, :'h2')), 'done',
          'a key older than 24 hours is absent');
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_claim('k-1', %L)$$, :'h2')), 'true',
          'and can be claimed for a new request');
SELECT is(pg_temp.idem('member', $$SELECT coditect.idempotency_finish('k-1', 202, 'application/json', '[]', '{"n": 2}', false)$$), 'true',
          'with a new answer');
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_lookup('k-1', %L)->>'status'$$, :'h2')), '202',
          'which is replayed from then on');
RESET ROLE;
UPDATE coditect_internal.idempotency_keys SET created_at = now() - interval '25 hours'
 WHERE idem_key = 'k-1' AND user_id = current_setting('tap.user.member2')::uuid;
SELECT is(coditect.purge_idempotency_keys(), 1::bigint, 'the purge deletes the keys older than 24 hours');
SELECT is((SELECT count(*) FROM coditect_internal.idempotency_keys WHERE idem_key = 'k-1'), 1::bigint, 'and keeps the others');
SELECT is((SELECT count(*) FROM coditect.maintenance_jobs() WHERE jobname = 'coditect-purge-idempotency-keys'
              AND command = 'SELECT coditect.purge_idempotency_keys()'), 1::bigint, 'the purge is a scheduled job');

-- An answer that holds a secret: its status only; a repeat is refused, never run again.
SET ROLE tap57_gateway;
SELECT is(pg_temp.idem('admin', format($$SELECT coditect.idempotency_claim('k-secret', %L)$$, :'h1')), 'true', 'a secret''s request claims its key');
SELECT is(pg_temp.idem('admin', $$SELECT coditect.idempotency_finish('k-secret', 200, 'application/json', '[]', '{"secret": "whsec_1"}', true)$$),
          'true', 'its answer is recorded as holding a secret');
RESET ROLE;
SELECT is((SELECT jsonb_build_object('status', status, 'secret', secret, 'content_type', content_type, 'headers', headers, 'body', body)
             FROM coditect_internal.idempotency_keys WHERE idem_key = 'k-secret'),
          '{"status": 200, "secret": true, "content_type": null, "headers": null, "body": null}', 'nothing of the answer is kept, its status is');
SET ROLE tap57_gateway;
SELECT is(pg_temp.idem('admin', format($$SELECT coditect.idempotency_lookup('k-secret', %L)$$, :'h1')),
          'CD409: the request with this Idempotency-Key took effect, but its answer (status 200) held a secret, which is not kept: it cannot be answered again',
          'a repeat is refused with why');
SELECT is(pg_temp.idem('admin', format($$SELECT coditect.idempotency_claim('k-secret', %L)$$, :'h1')),
          'CD409: a request with this Idempotency-Key completed meanwhile', 'and the key still blocks a second run');

-- A tenant's quota of live keys: the claim beyond it is refused, and the request with it.
RESET ROLE;
INSERT INTO coditect_internal.idempotency_quotas (tenant_id, max_live_keys) VALUES (:'ta', 3);
SELECT is((SELECT count(*)::int FROM coditect_internal.idempotency_keys WHERE tenant_id = :'ta'
              AND created_at > now() - interval '24 hours'), 2, 'tenant A holds 2 live keys');
SET ROLE tap57_gateway;
SELECT is(pg_temp.idem('member', format($$SELECT coditect.idempotency_claim('k-q1', %L)$$, :'h1')), 'true', 'a claim within the quota');
SELECT alike(pg_temp.idem('member2', format($$SELECT coditect.idempotency_claim('k-q2', %L)$$, :'h1')),
             'CD429: this tenant holds 3 live Idempotency-Keys, its quota: the request was not run',
             'the claim beyond the tenant''s quota is refused, whoever the user');
SELECT is(pg_temp.idem('member2', format($$SELECT coditect.idempotency_lookup('k-q1', %L)$$, :'h1')), 'done',
          'a lookup is not a claim (replays are never refused)');
SELECT set_config('tap.tenant', :'tb', false) \gset
SELECT is(pg_temp.as_user('owner_b', 'owner', format($$SELECT coditect.idempotency_claim('k-q2', %L)$$, :'h1')), 'true',
          'another tenant''s quota is its own');
SELECT set_config('tap.tenant', :'ta', false) \gset
RESET ROLE;
UPDATE coditect_internal.idempotency_keys SET created_at = now() - interval '24 hours 1 second'
 WHERE tenant_id = :'ta' AND idem_key = 'k-secret';
SET ROLE tap57_gateway;
SELECT is(pg_temp.idem('member2', format($$SELECT coditect.idempotency_claim('k-q2', %L)$$, :'h1')), 'true',
          'a key that expires frees its place');
RESET ROLE;
SELECT is(coditect_internal.idempotency_quota(:'tb'), 10000, 'the default quota is 10000 live keys');

SELECT * FROM finish();
ROLLBACK;
