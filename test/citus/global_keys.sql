-- Global keys on a Citus cluster (issue 13, plan B6): run on the coordinator as a superuser
-- (pg_prove -d <db> test/citus/global_keys.sql) after coditect.distribute(), with pgtap and
-- dblink installed and the coordinator reachable on 127.0.0.1 with trust authentication. The
-- write paths claim on the coordinator (a write to the reference table global_keys, in the
-- caller's transaction); the trigger on the worker's shard sees that uncommitted claim (Citus
-- sends the shard's write over the connection that wrote the reference table's placement on that
-- node, measured with citus.log_remote_commands: README, Global keys) and only checks it. Covered: create_tenant,
-- api_register, a share, set_stripe_customer, a license and a slug change written by hand with
-- their claim; a taken slug refused (also from two sessions at once); writes without a claim
-- refused with the clear error; the reaper on the cluster. Passed 23/23 on a coordinator + 2
-- workers (Citus 13.2.2, PG 15.20). The tenants stay (purge_tenant is not distributed yet);
-- roles are removed at the end.
\set ON_ERROR_STOP 1
SELECT plan(23);

CREATE ROLE tapgk_gw LOGIN IN ROLE coditect_gateway;
CREATE ROLE tapgk_svc LOGIN IN ROLE coditect_service;
SELECT 'gk-' || substr(md5(random()::text), 1, 8) AS run \gset
-- The SQLSTATE, constraint and message of an error, or 'ok'.
CREATE FUNCTION pg_temp.err(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c text;
BEGIN
    EXECUTE p_sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME;
    RETURN SQLSTATE || ' ' || coalesce(nullif(c, ''), '-') || ' ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.holder(p_kind text, p_value text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(g.tenant_id || '/' || g.row_id, ',') FROM coditect_internal.global_keys g
     WHERE g.kind = p_kind AND g.value = p_value
$$;

-- 1. create_tenant: the claims (coordinator) and the rows (the tenant's worker) in one transaction.
SELECT is(pg_temp.err(format($$SELECT coditect.create_tenant('Gk A', %L, 'a@gk.test', 'owner@a.gk.test', %L)$$,
                             :'run' || '-a', :'run' || '-fb-a')), 'ok', 'create_tenant works on Citus');
SELECT id AS ta FROM coditect.tenants WHERE slug = :'run' || '-a' \gset
SELECT id AS ua FROM coditect.users WHERE tenant_id = :'ta' \gset
SELECT is(pg_temp.holder('tenants.slug', :'run' || '-a'), :'ta' || '/' || :'ta', 'its slug is claimed for the tenant');
SELECT is(pg_temp.holder('users.firebase_uid', :'run' || '-fb-a'), :'ta' || '/' || :'ua', 'its owner''s Firebase uid for the owner');
SELECT is(pg_temp.err(format($$SELECT coditect.create_tenant('Gk B', %L, 'b@gk.test', 'owner@b.gk.test')$$, :'run' || '-a')),
          '23505 tenants_slug_key slug is already taken', 'a second tenant with the same slug is refused (23505)');
SELECT is(pg_temp.err(format($$SELECT coditect.create_tenant('Gk B', %L, 'b@gk.test', 'owner@b.gk.test', %L)$$,
                             :'run' || '-b', :'run' || '-fb-a')),
          '23505 users_firebase_uid_key firebase_uid is already taken', 'so is a taken Firebase uid');
SELECT is(pg_temp.holder('tenants.slug', :'run' || '-b'), NULL, 'the refused creation left no claim');

-- The worker's trigger saw the coordinator's uncommitted claims: without them it refuses the
-- row (section 5). Citus sent the claim and the rows over one connection to that worker
-- (citus.log_remote_commands: same connectionId; README, global keys).

-- 2. api_register through a gateway login.
SET SESSION AUTHORIZATION tapgk_gw;
SELECT is(pg_temp.err(format($$SELECT coditect.api_register(%L, 'reg@gk.test', 'Gk R', %L)$$, :'run' || '-fb-r', :'run' || '-r')),
          'ok', 'api_register works on Citus');
SELECT is(pg_temp.err(format($$SELECT coditect.api_register(%L, 'reg2@gk.test', 'Gk R2', %L)$$, :'run' || '-fb-r2', :'run' || '-r')),
          '23505 tenants_slug_key slug is already taken', 'a second registration with that slug is refused');
RESET SESSION AUTHORIZATION;
SELECT id AS tr FROM coditect.tenants WHERE slug = :'run' || '-r' \gset
SELECT id AS ur FROM coditect.users WHERE tenant_id = :'tr' \gset
SELECT is(pg_temp.holder('users.firebase_uid', :'run' || '-fb-r'), :'tr' || '/' || :'ur',
          'the registered identity is claimed for its user');

-- 3. A share, made by a member through the coordinator.
INSERT INTO coditect.documents (tenant_id, title) VALUES (:'ta', 'Shared') RETURNING id AS doc \gset
SET SESSION AUTHORIZATION tapgk_gw;
BEGIN;
SELECT coditect.set_request_context(:'ta', :'ua', 'owner') AS _ \gset
SELECT coditect.document_share_create(:'doc', 'view', NULL, NULL) ->> 'token' AS tok \gset
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT s.id AS share FROM coditect.document_shares s WHERE s.tenant_id = :'ta' AND s.document_id = :'doc' \gset
SELECT is(pg_temp.holder('document_shares.share_token_hash', coditect_internal.share_token_hash(:'tok'::uuid)),
          :'ta' || '/' || :'share', 'a share''s token is claimed for the share');

-- 4. set_stripe_customer through a service login.
SET SESSION AUTHORIZATION tapgk_svc;
BEGIN;
SELECT coditect.set_request_context(:'ta', :'ua', 'owner') AS _ \gset
SELECT is(pg_temp.err(format($$SELECT coditect.set_stripe_customer(%L, %L)$$, :'ta', 'cus_' || replace(:'run', '-', ''))), 'ok',
          'set_stripe_customer works on Citus');
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT is(pg_temp.holder('tenants.stripe_customer_id', 'cus_' || replace(:'run', '-', '')), :'ta' || '/' || :'ta',
          'the customer is claimed for the tenant');

-- 5. A DBA's writes: with their claim they pass, without it they are refused clearly.
SELECT is(pg_temp.err(format($$INSERT INTO coditect.tenants (name, slug, email) VALUES ('Gk X', %L, 'x@gk.test')$$, :'run' || '-x')),
          'CD409 - slug of coditect.tenants is not claimed: on Citus, claim it first with coditect_internal.global_key_claim() on the coordinator',
          'a direct INSERT without a claim is refused with the clear error');
-- (Raised on the worker: Citus passes on its SQLSTATE and message, not the constraint name. The
-- API's paths raise on the coordinator, with it: section 1.)
SELECT is(pg_temp.err(format($$UPDATE coditect.tenants SET slug = %L WHERE id = %L$$, :'run' || '-r', :'ta')),
          '23505 - slug is already taken', 'a direct UPDATE to another tenant''s slug is refused (23505)');
SELECT gen_random_uuid() AS lic, coditect.license_key_generate() AS key \gset
SELECT is(pg_temp.err(format($$SELECT coditect_internal.global_key_claim('licenses.key_string', %L, %L, %L);
                               INSERT INTO coditect.licenses (tenant_id, id, key_string, expiry_date, seats_total)
                               VALUES (%L, %L, %L, now() + interval '1 year', 1)$$,
                             :'key', :'ta', :'lic', :'ta', :'lic', :'key')),
          'ok', 'a license written with its claim first passes');
SELECT is(pg_temp.holder('licenses.key_string', :'key'), :'ta' || '/' || :'lic', 'its key is claimed for it');
SELECT is(pg_temp.err(format($$INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) VALUES (%L, now() + interval '1 year', 1)$$, :'ta')),
          'CD409 - key_string of coditect.licenses is not claimed: on Citus, claim it first with coditect_internal.global_key_claim() on the coordinator',
          'a license written without its claim is refused');
-- A slug change: claim, write, release, in one transaction.
BEGIN;
SELECT coditect_internal.global_key_claim('tenants.slug', :'run' || '-a2', :'ta', :'ta');
UPDATE coditect.tenants SET slug = :'run' || '-a2' WHERE id = :'ta';
SELECT coditect_internal.global_key_release('tenants.slug', :'run' || '-a', :'ta', :'ta') AS released \gset
COMMIT;
SELECT is(:'released' || ' ' || coalesce(pg_temp.holder('tenants.slug', :'run' || '-a'), 'free') || ' ' || pg_temp.holder('tenants.slug', :'run' || '-a2'),
          't free ' || :'ta' || '/' || :'ta', 'a slug change moves the claim: the old slug is released, the new one claimed');
-- Without the release (a DBA's UPDATE), the old value stays claimed until the reaper runs.
SELECT coditect_internal.global_key_claim('tenants.slug', :'run' || '-a3', :'ta', :'ta');
UPDATE coditect.tenants SET slug = :'run' || '-a3' WHERE id = :'ta';
SELECT is(pg_temp.holder('tenants.slug', :'run' || '-a2'), :'ta' || '/' || :'ta', 'an old value not released stays claimed');
SELECT cmp_ok(coditect.reap_global_keys(), '>=', 1::bigint, 'reap_global_keys works on Citus');
SELECT is(coditect_internal.global_key_release('tenants.slug', :'run' || '-a3', :'ta', :'ta')::text || ' '
          || coalesce(pg_temp.holder('tenants.slug', :'run' || '-a2'), 'free'), 'false free',
          'it removed the stale claim and kept the live one');

-- 6. Two sessions at once: the second create_tenant of a slug waits for the first and is refused.
SELECT dblink_connect('gk1', format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), current_database())) AS _ \gset
SELECT dblink_connect('gk2', format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), current_database())) AS _ \gset
SELECT dblink_exec('gk1', 'BEGIN') AS _ \gset
SELECT x AS _ FROM dblink('gk1', format($$SELECT coditect.create_tenant('Gk C1', %L, 'c1@gk.test', 'owner@c1.gk.test')::text$$, :'run' || '-c')) AS t(x text) \gset
SELECT dblink_send_query('gk2', format($$SELECT coditect.create_tenant('Gk C2', %L, 'c2@gk.test', 'owner@c2.gk.test')::text$$, :'run' || '-c')) AS _ \gset
SELECT dblink_exec('gk1', 'COMMIT') AS _ \gset
CREATE FUNCTION pg_temp.second() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    SELECT x INTO r FROM dblink_get_result('gk2') AS t(x text);
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT is(pg_temp.second(), '23505 slug is already taken', 'of two concurrent create_tenant with one slug, the second is refused');
SELECT dblink_disconnect('gk1'), dblink_disconnect('gk2') \gset
SELECT count(*)::int AS n FROM coditect.tenants WHERE slug = :'run' || '-c' \gset
SELECT is(:n, 1, 'one tenant has that slug');

DROP OWNED BY tapgk_gw, tapgk_svc;
DROP ROLE tapgk_gw, tapgk_svc;
SELECT * FROM finish();
