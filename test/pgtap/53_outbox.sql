-- The outbox and webhook endpoints (sql/53_outbox.sql, issue 11 item 7): the tables and the
-- delivery state machine; endpoints managed by admins through the API, their secrets made by
-- the database, shown once by rotate_secret and never readable by gateway, service, analyst or
-- worker logins (nor in list answers or the audit trail); outbox_emit's fan-out by event and
-- channel, a workflow's own URL, nothing after a rollback, NOTIFY at commit only (a listening
-- session through dblink); the worker's claim (SKIP LOCKED against another session, the lease
-- and its expiry), record (delivered, retried after p_retry_in, dead after p_max_attempts, a late
-- duplicate ignored), endpoints switched off or deleted; tenant isolation; the purge; who may
-- execute what. Committed transactions (NOTIFY is sent at commit); fixtures removed at the end.
\set ON_ERROR_STOP 1
SELECT no_plan();
\ir lib/refs.psql
\set fx t53
\ir lib/tenants.psql
\ir lib/as_user.psql

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
CREATE ROLE tap53_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap53_service LOGIN IN ROLE coditect_service;
CREATE ROLE tap53_worker LOGIN IN ROLE coditect_worker;
CREATE ROLE tap53_analyst LOGIN IN ROLE coditect_analyst;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
-- The deliveries of a tenant as "endpoint name or url:event:status:attempts" (the DBA's view).
CREATE FUNCTION pg_temp.deliveries(p_tenant uuid) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM (
        SELECT concat_ws(':', coalesce(e.name, d.url), d.event, d.status, d.attempts) AS x
          FROM coditect.webhook_deliveries d
          LEFT JOIN coditect.webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
         WHERE d.tenant_id = p_tenant) y
$$;
-- What a worker login claims, as "event:url:attempts", each row kept in claimed (secrets too).
CREATE TEMP TABLE claimed AS SELECT * FROM coditect.outbox_claim(1, 1) LIMIT 0;
GRANT SELECT, INSERT ON claimed TO PUBLIC;
CREATE FUNCTION pg_temp.claim(p_limit int, p_lease int) RETURNS text[] LANGUAGE sql AS $$
    WITH c AS (INSERT INTO pg_temp.claimed SELECT * FROM coditect.outbox_claim(p_limit, p_lease) RETURNING *)
    SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM (SELECT concat_ws(':', c.event, c.url, c.attempts) AS x FROM c) y
$$;

------------------------------------------------------------------------------------------------
-- Tables, types, roles
------------------------------------------------------------------------------------------------

SELECT columns_are('coditect', 'webhook_endpoints',
    ARRAY['tenant_id', 'id', 'name', 'url', 'description', 'events', 'active', 'secret_rotated_at', 'created_by',
          'created_at', 'updated_at'], 'webhook_endpoints: no secret among its columns');
SELECT columns_are('coditect', 'webhook_deliveries',
    ARRAY['tenant_id', 'id', 'endpoint_id', 'event', 'payload', 'url', 'status', 'attempts', 'next_attempt_at',
          'last_status_code', 'last_error', 'delivered_at', 'created_at', 'updated_at'], 'webhook_deliveries: the outbox');
SELECT is(ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = 'coditect.webhook_delivery_status'::regtype ORDER BY e.enumsortorder),
          ARRAY['pending', 'delivered', 'dead'], 'delivery statuses');
SELECT set_eq($$SELECT coalesce(from_status, '-') AS f, to_status, coalesce(stamp_column::text, '-') AS s FROM coditect.state_transitions
                WHERE machine = 'webhook_delivery'$$,
              $$VALUES ('-', 'pending', '-'), ('pending', 'delivered', 'delivered_at'), ('pending', 'dead', '-')$$,
              'the delivery state machine: pending, then delivered (stamped) or dead, for good');
SELECT is(coditect_internal.outbox_events(),
          ARRAY['workflow.notification', 'approval.requested', 'approval.decided', 'workflow.completed', 'workflow.failed'],
          'the events the engine emits');
SELECT ok(EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'coditect_worker' AND NOT rolcanlogin AND NOT rolsuper),
          'coditect_worker is a NOLOGIN group role');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'coditect_internal'::regnamespace
                   AND c.relname LIKE 'webhook%secrets' AND c.relrowsecurity ORDER BY 1),
          ARRAY['webhook_delivery_secrets', 'webhook_endpoint_secrets'], 'the secrets are internal tables with row-level security on');
SELECT ok(NOT has_table_privilege(r, t, p), r || ' cannot ' || p || ' ' || t)
  FROM unnest(ARRAY['public', 'coditect_gateway', 'coditect_service', 'coditect_analyst', 'coditect_worker']) r,
       unnest(ARRAY['coditect_internal.webhook_endpoint_secrets', 'coditect_internal.webhook_delivery_secrets']) t,
       unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p ORDER BY r, t, p;
SELECT ok(NOT has_table_privilege('coditect_gateway', 'coditect.webhook_deliveries', p), 'the gateway cannot ' || p || ' deliveries')
  FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) p;
SELECT ok(NOT has_table_privilege('coditect_worker', 'coditect.webhook_deliveries', 'SELECT'),
          'the worker reads deliveries only through its functions');

------------------------------------------------------------------------------------------------
-- Endpoints through the API
------------------------------------------------------------------------------------------------

SET ROLE tap53_gateway;
SELECT pg_temp.put('ops', (pg_temp.as_user('admin', 'admin',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": "ops", "url": "https://ops.example.test/hook", "description": "all of it"}') ->> 'id'$$))::uuid) AS _ \gset
SELECT pg_temp.put('approvals', (pg_temp.as_user('owner', 'owner',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": "approvals", "url": "http://127.0.0.1:9/a", "events": ["approval.requested", "approval.decided"]}') ->> 'id'$$))::uuid) AS _ \gset
SELECT pg_temp.put('off', (pg_temp.as_user('admin', 'admin',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": "off", "url": "https://off.example.test/", "active": false}') ->> 'id'$$))::uuid) AS _ \gset
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT coditect.api_webhook_endpoints_get('$$ || pg_temp.id('ops') || $$') ->> 'events'$$),
          '["*"]', 'an endpoint receives every event by default');
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT string_agg(DISTINCT k, ',') FROM jsonb_array_elements(coditect.api_webhook_endpoints_list('{}', NULL, 50, NULL, NULL, NULL) -> 'results') r, jsonb_object_keys(r) k WHERE k LIKE '%secret%'$$),
          'secret_rotated_at', 'a list answer has no secret, only when it was made');
SELECT alike(pg_temp.as_user('admin', 'admin',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": "bad", "url": "https://x.test/", "events": ["task.created"]}')::text$$),
    '23514: %webhook_endpoints_events_check%', 'an unknown event is refused');
SELECT alike(pg_temp.as_user('admin', 'admin',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": "bad", "url": "https://x.test/", "events": []}')::text$$),
    '23514: %webhook_endpoints_events_check%', 'so is no event');
SELECT alike(pg_temp.as_user('admin', 'admin',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": "bad", "url": "ftp://x.test/"}')::text$$),
    '23514: %', 'an URL that is not http(s) is refused');
SELECT alike(pg_temp.as_user('admin', 'admin',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": " ops", "url": "https://x.test/"}')::text$$),
    '23514: %webhook_endpoints_name_check%', 'a name has no surrounding spaces');
SELECT alike(pg_temp.as_user('admin', 'admin',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": "ops", "url": "https://x.test/"}')::text$$),
    '23505: %webhook_endpoints_name_key%', 'a name is unique in the tenant');
SELECT alike(pg_temp.as_user('member', 'member',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": "mine", "url": "https://x.test/"}')::text$$),
    'CD403: %', 'a member cannot create an endpoint');
SELECT alike(pg_temp.as_user('member', 'member', $$SELECT coditect.api_webhook_endpoints_list('{}', NULL, 50, NULL, NULL, NULL)::text$$),
          'CD403: %', 'nor list them');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.webhook_endpoint_rotate_secret(%L)::text$$, pg_temp.id('ops'))),
          'CD403: %', 'nor rotate a secret');
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT coditect.api_webhook_endpoints_list('{"events__contains": ["approval.decided"]}', NULL, 50, NULL, NULL, NULL) -> 'results' -> 0 ->> 'name'$$),
          'approvals', 'endpoints are filtered by the events they hold');
RESET ROLE;

SELECT is((SELECT count(*)::int FROM coditect_internal.webhook_endpoint_secrets s JOIN pg_temp.refs r ON r.id = s.endpoint_id
            WHERE r.k IN ('ops', 'approvals', 'off') AND convert_from(s.secret, 'UTF8') ~ '^whsec_[0-9a-f]{64}$'), 3,
          'every endpoint got a secret (whsec_ and 256 bits in hex) when it was made');
SELECT isnt((SELECT secret FROM coditect_internal.webhook_endpoint_secrets WHERE endpoint_id = pg_temp.id('ops')),
            (SELECT secret FROM coditect_internal.webhook_endpoint_secrets WHERE endpoint_id = pg_temp.id('approvals')),
            'each its own');
CREATE TEMP TABLE old_secret AS SELECT secret, (SELECT secret_rotated_at FROM coditect.webhook_endpoints WHERE id = pg_temp.id('ops')) AS at
  FROM coditect_internal.webhook_endpoint_secrets WHERE endpoint_id = pg_temp.id('ops');
GRANT SELECT ON old_secret TO PUBLIC;

SET ROLE tap53_gateway;
SELECT pg_temp.as_user('admin', 'admin', format($$SELECT set_config('tap.rotated', coditect.webhook_endpoint_rotate_secret(%L)::text, false)$$, pg_temp.id('ops'))) AS _ \gset
RESET ROLE;
SELECT matches(current_setting('tap.rotated')::jsonb ->> 'secret', '^whsec_[0-9a-f]{64}$', 'rotate_secret answers the new secret, whsec_ and 64 hex digits');
SELECT is(convert_to(current_setting('tap.rotated')::jsonb ->> 'secret', 'UTF8'),
          (SELECT secret FROM coditect_internal.webhook_endpoint_secrets WHERE endpoint_id = pg_temp.id('ops')),
          'the secret it answers is the one stored (the HMAC key is the string as given)');
SELECT isnt((SELECT secret FROM coditect_internal.webhook_endpoint_secrets WHERE endpoint_id = pg_temp.id('ops')),
            (SELECT secret FROM old_secret), 'and the old one is gone');
SELECT is(current_setting('tap.rotated')::jsonb -> 'endpoint' ->> 'name', 'ops', 'with the endpoint');
SELECT cmp_ok((SELECT secret_rotated_at FROM coditect.webhook_endpoints WHERE id = pg_temp.id('ops')), '>',
              (SELECT at FROM old_secret), 'secret_rotated_at moved');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs a WHERE a.resource_id = pg_temp.id('ops')::text
             AND a.action = 'webhook_endpoint.update' AND a.changes ? 'secret_rotated_at'), 1,
          'the rotation is in the audit trail');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs a, coditect_internal.webhook_endpoint_secrets s
            WHERE a.tenant_id = :'ta' AND (a.changes::text LIKE '%' || convert_from(s.secret, 'UTF8') || '%'
                                           OR a.changes::text LIKE '%' || encode(s.secret, 'hex') || '%'
                                           OR a.changes::text LIKE '%' || encode(s.secret, 'base64') || '%')), 0,
          'no secret is in the audit trail');

SET ROLE tap53_gateway;
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.webhook_endpoint_rotate_secret(%L)::text$$, coditect.uuid_generate_v7())),
            'CD404: webhook endpoint % not found', 'an unknown endpoint is CD404');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.webhook_endpoint_rotate_secret(%L)::text$$, pg_temp.id('ops'))),
            '{"secret"%', 'an admin may rotate it again');
-- A login's own UPDATE cannot fake a rotation.
SELECT is(pg_temp.as_user('admin', 'admin', format($$UPDATE coditect.webhook_endpoints SET secret_rotated_at = '2001-01-01', description = 'x'
                                                     WHERE id = %L RETURNING secret_rotated_at > '2002-01-01'$$, pg_temp.id('ops'))),
          'true', 'a direct UPDATE of secret_rotated_at keeps the database''s stamp');
RESET ROLE;
SELECT is(pg_temp.try(format($$SELECT secret FROM coditect_internal.webhook_endpoint_secrets$$)), 'ok', '(the DBA reads the secrets)');
SET ROLE tap53_gateway;
SELECT alike(pg_temp.try($$SELECT secret FROM coditect_internal.webhook_endpoint_secrets$$), '42501: %', 'a gateway login cannot read the secrets');
RESET ROLE;
SET ROLE tap53_service;
SELECT alike(pg_temp.try($$SELECT secret FROM coditect_internal.webhook_endpoint_secrets$$), '42501: %', 'nor a service login');
SELECT alike(pg_temp.try($$SELECT secret FROM coditect_internal.webhook_delivery_secrets$$), '42501: %', 'nor a delivery''s URL secret');
RESET ROLE;
SET ROLE tap53_analyst;
SELECT alike(pg_temp.try($$SELECT secret FROM coditect_internal.webhook_endpoint_secrets$$), '42501: %', 'nor an analyst');
RESET ROLE;
SET ROLE tap53_worker;
SELECT alike(pg_temp.try($$SELECT secret FROM coditect_internal.webhook_endpoint_secrets$$), '42501: %', 'nor the worker (its claim hands it the secrets it needs)');
RESET ROLE;

-- Tenant B: an endpoint for everything, which A's events never reach.
SELECT set_config('tap.tenant', :'tb', false) \gset
SELECT set_config('tap.user.owner_b', :'owner_b', false) \gset
SET ROLE tap53_gateway;
SELECT pg_temp.put('b_all', (pg_temp.as_user('owner_b', 'owner',
    $$SELECT coditect.api_webhook_endpoints_create('{"name": "ops", "url": "https://b.example.test/"}') ->> 'id'$$))::uuid) AS _ \gset
RESET ROLE;
SELECT set_config('tap.tenant', :'ta', false) \gset
SELECT isnt(pg_temp.id('b_all'), NULL, 'tenant B has its own endpoint named ops');

------------------------------------------------------------------------------------------------
-- outbox_emit
------------------------------------------------------------------------------------------------

SELECT is(coditect_internal.outbox_emit(:'ta', 'approval.requested', '{"approval_id": 1}'), 2,
          'approval.requested: one delivery per active endpoint subscribed to it (ops: *, approvals)');
SELECT is(coditect_internal.outbox_emit(:'ta', 'workflow.failed', '{"execution_id": 2}'), 1, 'workflow.failed: ops only');
SELECT is(coditect_internal.outbox_emit(:'ta', 'approval.decided', '{"n": 3}', p_channel => 'approvals'), 1,
          'with a channel: only the endpoint of that name');
SELECT is(coditect_internal.outbox_emit(:'ta', 'workflow.notification', '{"n": 4}', p_channel => 'approvals'), 0,
          'a channel not subscribed to the event: none');
SELECT is(coditect_internal.outbox_emit(:'ta', 'workflow.notification', '{"n": 5}', p_channel => 'nobody'), 0,
          'an unknown channel: none, and no error');
SELECT is(coditect_internal.outbox_emit(:'ta', 'workflow.completed', '{"n": 6}', p_channel => 'off'), 0,
          'an inactive endpoint: none');
SELECT is(coditect_internal.outbox_emit(:'ta', 'workflow.notification', '{"n": 7}', p_url => 'http://127.0.0.1:9/wf',
                                        p_url_secret => '\x000102030405060708090a0b0c0d0e0f'), 1,
          'a workflow''s own URL: one delivery');
SELECT is(pg_temp.deliveries(:'ta'),
          ARRAY['approvals:approval.decided:pending:0', 'approvals:approval.requested:pending:0',
                'http://127.0.0.1:9/wf:workflow.notification:pending:0', 'ops:approval.requested:pending:0',
                'ops:workflow.failed:pending:0'],
          'the deliveries queued, pending');
SELECT is(pg_temp.deliveries(:'tb'), '{}', 'nothing for tenant B');
SELECT is((SELECT secret FROM coditect_internal.webhook_delivery_secrets s JOIN coditect.webhook_deliveries d
             ON d.tenant_id = s.tenant_id AND d.id = s.delivery_id WHERE d.url = 'http://127.0.0.1:9/wf'),
          '\x000102030405060708090a0b0c0d0e0f'::bytea, 'the URL''s secret is kept with its delivery');
SELECT ok(bool_and(d.id::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7'), 'delivery ids (the Idempotency-Keys) are UUIDv7')
  FROM coditect.webhook_deliveries d WHERE d.tenant_id = :'ta';
SELECT throws_ok($$SELECT coditect_internal.outbox_emit('$$ || :'ta' || $$', 'task.created', '{}')$$, 'CD400',
                 'outbox: unknown event "task.created"', 'an unknown event is CD400');
SELECT throws_ok($$SELECT coditect_internal.outbox_emit('$$ || :'ta' || $$', '*', '{}')$$, 'CD400', NULL, '* is no event');
SELECT throws_ok($$SELECT coditect_internal.outbox_emit('$$ || :'ta' || $$', 'workflow.failed', '[1]')$$, 'CD400',
                 'outbox: the payload must be a JSON object', 'a payload is a JSON object');
SELECT throws_ok($$SELECT coditect_internal.outbox_emit('$$ || :'ta' || $$', 'workflow.failed', '{}', p_url => 'https://x.test/')$$,
                 'CD400', 'outbox: a webhook URL needs its signing secret (16 to 1024 bytes)', 'a URL without its secret is CD400');
SELECT throws_ok($$SELECT coditect_internal.outbox_emit('$$ || :'ta' || $$', 'workflow.failed', '{}', p_url => 'file:///etc/passwd', p_url_secret => '\x000102030405060708090a0b0c0d0e0f')$$,
                 'CD400', NULL, 'a URL that is not http(s) is CD400');
SELECT throws_ok($$SELECT coditect_internal.outbox_emit(coditect.uuid_generate_v7(), 'workflow.failed', '{}')$$, 'CD404', NULL,
                 'an unknown tenant is CD404');

-- The transactional outbox: a rolled-back transaction leaves no delivery and sends no NOTIFY; a
-- committed one sends it (a second session listens through dblink).
SELECT dblink_connect('t53_listen', format('host=%s port=%s dbname=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
                                           current_setting('port'), current_database())) AS _ \gset
SELECT dblink_exec('t53_listen', 'LISTEN coditect_outbox') AS _ \gset
BEGIN;
SELECT coditect_internal.outbox_emit(:'ta', 'workflow.failed', '{"rolled": "back"}') AS _ \gset
ROLLBACK;
SELECT is((SELECT count(*)::int FROM coditect.webhook_deliveries WHERE payload ? 'rolled'), 0, 'a rolled-back emit leaves no delivery');
SELECT coditect_internal.outbox_emit(:'ta', 'workflow.failed', '{"committed": true}') AS _ \gset
CREATE FUNCTION pg_temp.notifications() RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int := 0; k int;
BEGIN
    -- The listener's backend forwards a notification when it is next idle: wait for the first.
    FOR i IN 1..100 LOOP
        SELECT count(*) INTO k FROM dblink_get_notify('t53_listen') x WHERE x.notify_name = 'coditect_outbox';
        n := n + k;
        EXIT WHEN n > 0;
        PERFORM pg_sleep(0.05);
        PERFORM dblink_exec('t53_listen', 'SELECT 1');
    END LOOP;
    RETURN n;
END $$;
SELECT is(pg_temp.notifications(), 1, 'the committed emit sent NOTIFY coditect_outbox; the rolled-back one none (it would have come first)');
SELECT is((SELECT count(*)::int FROM coditect.webhook_deliveries WHERE payload ? 'committed'), 1, 'and its delivery is there');
SELECT dblink_disconnect('t53_listen') AS _ \gset

------------------------------------------------------------------------------------------------
-- The worker: claim, lease, record, backoff, dead
------------------------------------------------------------------------------------------------

SET ROLE tap53_worker;
SELECT is(pg_temp.claim(100, 30),
          ARRAY['approval.decided:http://127.0.0.1:9/a:0', 'approval.requested:http://127.0.0.1:9/a:0',
                'approval.requested:https://ops.example.test/hook:0', 'workflow.failed:https://ops.example.test/hook:0',
                'workflow.failed:https://ops.example.test/hook:0',
                'workflow.notification:http://127.0.0.1:9/wf:0'],
          'a claim hands every due delivery over, each with its URL');
SELECT is(pg_temp.claim(100, 30), '{}', 'claimed deliveries are leased: a second claim gets none');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM pg_temp.claimed c
            WHERE c.secret = coalesce((SELECT s.secret FROM coditect_internal.webhook_endpoint_secrets s
                                         JOIN coditect.webhook_deliveries d ON d.tenant_id = s.tenant_id AND d.endpoint_id = s.endpoint_id
                                        WHERE d.tenant_id = c.tenant_id AND d.id = c.id),
                                       (SELECT s.secret FROM coditect_internal.webhook_delivery_secrets s
                                         WHERE s.tenant_id = c.tenant_id AND s.delivery_id = c.id))), 6,
          'and its secret: the endpoint''s, or the URL''s own');
SELECT is((SELECT count(*)::int FROM pg_temp.claimed c JOIN coditect.webhook_deliveries d ON d.tenant_id = c.tenant_id AND d.id = c.id
            WHERE c.payload = d.payload AND c.event = d.event
              AND c.created_at = to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')), 6,
          'with its event, payload and creation time (RFC 3339, UTC)');
SELECT ok(bool_and(next_attempt_at > now() + interval '25 seconds'), 'the lease moved their next attempt to its end')
  FROM coditect.webhook_deliveries WHERE tenant_id = :'ta';
-- A worker that died: its lease runs out (moved into the past here) and the delivery comes back.
UPDATE coditect.webhook_deliveries SET next_attempt_at = now() - interval '1 second'
 WHERE tenant_id = :'ta' AND event = 'workflow.notification';
SET ROLE tap53_worker;
SELECT is(pg_temp.claim(100, 30), ARRAY['workflow.notification:http://127.0.0.1:9/wf:0'],
          'once a lease has run out the delivery is claimed again');
RESET ROLE;

-- SKIP LOCKED: a row another session holds is passed over, not waited for.
UPDATE coditect.webhook_deliveries SET next_attempt_at = now() - interval '1 second' WHERE tenant_id = :'ta' AND event = 'approval.decided';
UPDATE coditect.webhook_deliveries SET next_attempt_at = now() - interval '1 second' WHERE tenant_id = :'ta' AND event = 'approval.requested';
SELECT dblink_connect('t53_lock', format('host=%s port=%s dbname=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
                                         current_setting('port'), current_database())) AS _ \gset
SELECT dblink_exec('t53_lock', 'BEGIN') AS _ \gset
SELECT count(*) AS _ FROM dblink('t53_lock', format('SELECT 1 FROM coditect.webhook_deliveries WHERE tenant_id = %L AND event = %L FOR UPDATE',
                                                   :'ta', 'approval.decided')) AS t(x int) \gset
SET ROLE tap53_worker;
SELECT is(pg_temp.claim(100, 30),
          ARRAY['approval.requested:http://127.0.0.1:9/a:0', 'approval.requested:https://ops.example.test/hook:0'],
          'a delivery locked by another session is skipped; the others are claimed');
RESET ROLE;
SELECT dblink_exec('t53_lock', 'ROLLBACK') AS _ \gset
SELECT dblink_disconnect('t53_lock') AS _ \gset
SET ROLE tap53_worker;
SELECT is(pg_temp.claim(1, 30), ARRAY['approval.decided:http://127.0.0.1:9/a:0'], 'and claimed once released (p_limit 1)');
RESET ROLE;

-- Outcomes. The URL delivery: a 500, then a 200.
SELECT id AS wf FROM coditect.webhook_deliveries WHERE tenant_id = :'ta' AND event = 'workflow.notification' \gset
SET ROLE tap53_worker;
SELECT is(coditect.outbox_record(:'ta', :'wf', 500, NULL, '10 seconds', 5), 'pending'::coditect.webhook_delivery_status,
          'a 500 keeps it pending');
RESET ROLE;
SELECT is((SELECT (attempts, last_status_code, last_error, next_attempt_at - updated_at)::text FROM coditect.webhook_deliveries WHERE id = :'wf'),
          '(1,500,"HTTP 500",00:00:10)', 'one attempt counted, its status and error kept, the next in p_retry_in (the worker''s backoff)');
SET ROLE tap53_worker;
SELECT is(coditect.outbox_record(:'ta', :'wf', NULL, 'connect: connection refused', '2 days', 5), 'pending'::coditect.webhook_delivery_status,
          'no answer at all: an attempt with its error');
RESET ROLE;
SELECT is((SELECT (attempts, last_status_code IS NULL, last_error, next_attempt_at - updated_at)::text FROM coditect.webhook_deliveries WHERE id = :'wf'),
          '(2,t,"connect: connection refused","1 day")', 'a retry waits at most a day');
SET ROLE tap53_worker;
SELECT is(coditect.outbox_record(:'ta', :'wf', 204, NULL, '10 seconds', 5), 'delivered'::coditect.webhook_delivery_status, 'a 204 delivers it');
RESET ROLE;
SELECT is((SELECT (status, attempts, last_status_code, last_error IS NULL, delivered_at IS NOT NULL)::text FROM coditect.webhook_deliveries WHERE id = :'wf'),
          '(delivered,3,204,t,t)', 'delivered: attempts 3, its status, the error cleared, delivered_at stamped');
SET ROLE tap53_worker;
SELECT is(coditect.outbox_record(:'ta', :'wf', 500, NULL, '10 seconds', 5), 'delivered'::coditect.webhook_delivery_status,
          'a late outcome of a duplicate attempt changes nothing');
SELECT is(pg_temp.claim(100, 30), '{}', 'a delivered delivery is never claimed again');
RESET ROLE;
SELECT is((SELECT attempts FROM coditect.webhook_deliveries WHERE id = :'wf'), 3, 'still three attempts');

-- Dead after p_max_attempts.
SELECT id AS dec FROM coditect.webhook_deliveries WHERE tenant_id = :'ta' AND event = 'approval.decided' \gset
SET ROLE tap53_worker;
SELECT is(coditect.outbox_record(:'ta', :'dec', 503, NULL, '0 seconds', 2), 'pending'::coditect.webhook_delivery_status, 'attempt 1 of 2: pending');
SELECT is(coditect.outbox_record(:'ta', :'dec', 404, 'not found', '0 seconds', 2), 'dead'::coditect.webhook_delivery_status, 'attempt 2 of 2: dead');
SELECT is(pg_temp.claim(100, 30), '{}', 'a dead delivery is never claimed');
SELECT throws_ok(format($$SELECT coditect.outbox_record(%L, %L, 200, NULL, '0 seconds', 0)$$, :'ta', :'dec'), 'CD400', NULL, 'p_max_attempts 0 is CD400');
SELECT throws_ok(format($$SELECT coditect.outbox_record(%L, %L, 200, NULL, '-1 seconds', 3)$$, :'ta', :'dec'), 'CD400', NULL, 'a negative retry is CD400');
SELECT throws_ok(format($$SELECT coditect.outbox_record(%L, %L, NULL, NULL, '1 second', 3)$$, :'ta', :'dec'), 'CD400', NULL, 'no status and no error is CD400');
SELECT throws_ok(format($$SELECT coditect.outbox_record(%L, %L, 200, NULL, '1 second', 3)$$, :'tb', :'dec'), 'CD404', NULL,
                 'a delivery under another tenant''s id is CD404');
SELECT throws_ok($$SELECT * FROM coditect.outbox_claim(0, 30)$$, 'CD400', NULL, 'p_limit 0 is CD400');
SELECT throws_ok($$SELECT * FROM coditect.outbox_claim(10, 0)$$, 'CD400', NULL, 'a lease of 0 s is CD400');
SELECT throws_ok($$SELECT coditect_internal.outbox_emit(NULL, 'workflow.failed', '{}')$$, '42501', NULL, 'the worker cannot emit');
RESET ROLE;
SELECT is((SELECT (status, attempts, last_status_code, last_error)::text FROM coditect.webhook_deliveries WHERE id = :'dec'),
          '(dead,2,404,"not found")', 'dead: its attempts and last answer kept');
SELECT throws_ok(format($$UPDATE coditect.webhook_deliveries SET status = 'pending' WHERE id = %L$$, :'dec'), 'CD422', NULL,
                 'dead is for good (the state machine, for every writer)');
SELECT throws_ok(format($$UPDATE coditect.webhook_deliveries SET status = 'dead' WHERE id = %L$$, :'wf'), 'CD422', NULL,
                 'so is delivered');

-- Endpoints switched off or deleted: their pending deliveries die at the next claim.
UPDATE coditect.webhook_deliveries SET next_attempt_at = now() - interval '1 second' WHERE tenant_id = :'ta' AND status = 'pending';
UPDATE coditect.webhook_endpoints SET active = false WHERE id = pg_temp.id('approvals');
DELETE FROM coditect.webhook_endpoints WHERE id = pg_temp.id('ops');
SET ROLE tap53_worker;
SELECT is(pg_temp.claim(100, 30), '{}', 'nothing to send to an inactive or deleted endpoint');
RESET ROLE;
SELECT set_eq($$SELECT coalesce(endpoint_id::text, 'none'), last_error FROM coditect.webhook_deliveries WHERE tenant_id = '$$ || :'ta' || $$' AND status = 'dead' AND id <> '$$ || :'dec' || $$'$$,
              format($$VALUES (%L, 'the endpoint is inactive'), ('none', 'the endpoint was deleted'), ('none', 'the endpoint was deleted'),
                              ('none', 'the endpoint was deleted')$$, pg_temp.id('approvals')),
              'they are dead, saying why');
SELECT is((SELECT count(*)::int FROM coditect.webhook_deliveries WHERE tenant_id = :'ta' AND status = 'pending'), 0, 'none is left pending');

------------------------------------------------------------------------------------------------
-- Deliveries through the API; tenant isolation
------------------------------------------------------------------------------------------------

SELECT coditect_internal.outbox_emit(:'tb', 'approval.requested', '{"tenant": "b"}') AS _ \gset
SELECT id AS b_delivery FROM coditect.webhook_deliveries WHERE tenant_id = :'tb' \gset
SET ROLE tap53_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT (coditect.api_webhook_deliveries_list('{}', NULL, 50, NULL, NULL, NULL) -> 'results' -> 0) ?| ARRAY['secret', 'url_secret']$$),
          'false', 'a delivery in a list answer has no secret');
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT jsonb_array_length(coditect.api_webhook_deliveries_list('{}', NULL, 50, NULL, NULL, NULL) -> 'results')$$),
          (SELECT count(*)::text FROM coditect.webhook_deliveries WHERE tenant_id = :'ta'), 'an admin lists the tenant''s deliveries, and only those');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_webhook_deliveries_get(%L) ->> 'status'$$, :'wf')), 'delivered',
          'and reads one''s outcome');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT jsonb_array_length(coditect.api_webhook_deliveries_list('{"status": "dead"}', NULL, 50, NULL, NULL, NULL) -> 'results')$$)),
          '5', 'filtered by status');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_webhook_deliveries_get(%L)::text$$, :'b_delivery')), 'CD404: %',
            'another tenant''s delivery is not found');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_webhook_endpoints_get(%L)::text$$, pg_temp.id('b_all'))), 'CD404: %',
            'nor its endpoint');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.webhook_endpoint_rotate_secret(%L)::text$$, pg_temp.id('b_all'))), 'CD404: %',
            'whose secret cannot be rotated from here');
SELECT alike(pg_temp.as_user('member', 'member', $$SELECT coditect.api_webhook_deliveries_list('{}', NULL, 50, NULL, NULL, NULL)::text$$), 'CD403: %',
            'a member cannot list deliveries');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT count(*) FROM coditect.webhook_deliveries WHERE tenant_id = %L$$, :'tb')), '0',
          'plain SQL in tenant A sees none of B''s deliveries');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$UPDATE coditect.webhook_deliveries SET attempts = 0 WHERE id = %L RETURNING 1$$, :'wf')), '42501: %',
            'the gateway cannot change a delivery');
SELECT alike(pg_temp.try($$SELECT * FROM coditect.outbox_claim(10, 30)$$), '42501: %', 'nor claim deliveries');
SELECT alike(pg_temp.try(format($$SELECT coditect.outbox_record(%L, %L, 200, NULL, '1 second', 3)$$, :'ta', :'wf')), '42501: %', 'nor record one');
SELECT alike(pg_temp.try(format($$SELECT coditect_internal.outbox_emit(%L, 'workflow.failed', '{}')$$, :'ta')), '42501: %', 'nor emit');
RESET ROLE;
SET ROLE tap53_analyst;
SELECT alike(pg_temp.try('SELECT * FROM coditect.outbox_claim(10, 30)'), '42501: %', 'an analyst cannot claim');
RESET ROLE;
SET ROLE tap53_service;
SELECT alike(pg_temp.try('SELECT * FROM coditect.outbox_claim(10, 30)'), '42501: %', 'nor can a service login');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- The purge (the coditect-purge-webhook-deliveries job)
------------------------------------------------------------------------------------------------

SELECT is(coditect.purge_webhook_deliveries(), 0::bigint, 'nothing finished 30 days ago yet');
SET session_replication_role = replica;  -- past the timestamp trigger: finished 31 days ago
UPDATE coditect.webhook_deliveries SET updated_at = now() - interval '31 days' WHERE tenant_id = :'ta' AND id <> :'dec';
SET session_replication_role = origin;
SELECT is(coditect.purge_webhook_deliveries(), 5::bigint, 'delivered and dead deliveries finished over 30 days ago are deleted');
SELECT is((SELECT array_agg(id) FROM coditect.webhook_deliveries WHERE tenant_id = :'ta'), ARRAY[:'dec'::uuid], 'a recent one stays');
SELECT is(coditect.purge_webhook_deliveries('0 seconds'), 1::bigint, 'a shorter retention takes it too');
SELECT is((SELECT count(*)::int FROM coditect.webhook_deliveries WHERE tenant_id = :'tb' AND status = 'pending'), 1, 'pending deliveries are never purged');
SELECT throws_ok($$SELECT coditect.purge_webhook_deliveries('-1 day')$$, 'CD400', NULL, 'a negative retention is CD400');
SELECT ok(NOT has_function_privilege(r, 'coditect.purge_webhook_deliveries(interval)', 'EXECUTE'), r || ' cannot purge deliveries')
  FROM unnest(ARRAY['public', 'coditect_gateway', 'coditect_service', 'coditect_analyst', 'coditect_worker']) r;

SELECT * FROM finish();

SELECT coditect.purge_tenant(:'ta');
SELECT coditect.purge_tenant(:'tb');
DROP ROLE tap53_gateway, tap53_service, tap53_worker, tap53_analyst;
