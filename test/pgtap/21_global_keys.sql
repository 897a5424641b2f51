-- Global keys (00_base): the claim and release functions the write paths call before and after
-- their writes, the trigger that still guards every writer on one node (accepting the claim its
-- row already holds), the paths refusing duplicates, and the reaper of claims whose row no
-- longer carries the value. (On a Citus shard the trigger only checks: test/citus/global_keys.sql.)
BEGIN;
SELECT plan(44);

SELECT coditect.create_tenant('Keys A', 't21-a', 'a@t21.test', 'owner@a.t21.test', 'fb-t21-a') AS ja \gset
SELECT coditect.create_tenant('Keys B', 't21-b', 'b@t21.test', 'owner@b.t21.test') AS jb \gset
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS ua,
       :'jb'::jsonb ->> 'tenant_id' AS tb, :'jb'::jsonb ->> 'user_id' AS ub \gset
-- The SQLSTATE and constraint of an error, or 'ok'.
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

-- create_tenant claims before it writes: the claims are its rows'.
SELECT is(pg_temp.holder('tenants.slug', 't21-a'), :'ta' || '/' || :'ta', 'create_tenant claims the slug for the tenant');
SELECT is(pg_temp.holder('users.firebase_uid', 'fb-t21-a'), :'ta' || '/' || :'ua', 'and the owner''s Firebase uid for the owner');
SELECT is(pg_temp.err($$SELECT coditect.create_tenant('Keys C', 't21-a', 'c@t21.test', 'owner@c.t21.test')$$),
          '23505 tenants_slug_key slug is already taken', 'a second tenant with the same slug is 23505 naming the constraint');
SELECT is(pg_temp.err($$SELECT coditect.create_tenant('Keys C', 't21-c', 'c@t21.test', 'owner@c.t21.test', 'fb-t21-a')$$),
          '23505 users_firebase_uid_key firebase_uid is already taken', 'a taken Firebase uid is 23505 naming the constraint');
SELECT is(pg_temp.holder('tenants.slug', 't21-c'), NULL, 'the refused creation left no claim');

-- global_key_claim
SELECT is(pg_temp.err(format($$SELECT coditect_internal.global_key_claim('tenants.slug', 't21-a', %L, %L)$$, :'ta', :'ta')),
          'ok', 'claiming a value the row already holds is accepted');
SELECT is(pg_temp.err(format($$SELECT coditect_internal.global_key_claim('tenants.slug', 't21-a', %L, %L)$$, :'tb', :'tb')),
          '23505 tenants_slug_key slug is already taken', 'another row''s claim is 23505 naming the constraint');
SELECT is(pg_temp.err(format($$SELECT coditect_internal.global_key_claim('licenses.key_string', 'k', %L, %L)$$, :'tb', :'tb')),
          'ok', 'a free value is claimed');
SELECT is(pg_temp.err(format($$SELECT coditect_internal.global_key_claim('licenses.key_string', 'k', %L, gen_random_uuid())$$, :'tb')),
          '23505 licenses_key_string_key key_string is already taken', 'by one row only, even of the same tenant');
SELECT is(pg_temp.err(format($$SELECT coditect_internal.global_key_claim('tenants.slug', NULL, %L, %L)$$, :'tb', :'tb')),
          'ok', 'NULL claims nothing');
SELECT is(pg_temp.err($$SELECT coditect_internal.global_key_claim('tenants.slug', 'x', NULL, NULL)$$),
          'CD400 - a global key is claimed for a tenant and a row', 'a claim names its tenant and row');
SELECT is(pg_temp.err(format($$SELECT coditect_internal.global_key_claim('tenants.nope', 'x', %L, %L)$$, :'tb', :'tb')),
          'ok', 'an unknown kind is only resolved on a clash...');
SELECT is(pg_temp.err(format($$SELECT coditect_internal.global_key_claim('tenants.nope', 'x', %L, gen_random_uuid())$$, :'tb')),
          'CD400 - unknown global key tenants.nope', '... where it is CD400');
DELETE FROM coditect_internal.global_keys WHERE kind IN ('tenants.nope', 'licenses.key_string') AND value IN ('x', 'k');

-- The trigger accepts the claim its row already holds and releases the old value.
SELECT coditect_internal.global_key_claim('tenants.slug', 't21-a2', :'ta', :'ta');
SELECT is(pg_temp.err(format($$UPDATE coditect.tenants SET slug = 't21-a2' WHERE id = %L$$, :'ta')), 'ok',
          'a slug change after its claim passes the trigger');
SELECT is(pg_temp.holder('tenants.slug', 't21-a2'), :'ta' || '/' || :'ta', 'the new slug is the tenant''s');
SELECT is(pg_temp.holder('tenants.slug', 't21-a'), NULL, 'the old one is released by the trigger');
-- ... and refuses another row's claim, and a direct write of a taken value, for every writer.
SELECT coditect_internal.global_key_claim('tenants.slug', 't21-held', :'tb', :'tb');
SELECT is(pg_temp.err(format($$UPDATE coditect.tenants SET slug = 't21-held' WHERE id = %L$$, :'ta')),
          '23505 tenants_slug_key slug is already taken', 'a slug claimed by another tenant is refused by the trigger');
SELECT is(pg_temp.err(format($$UPDATE coditect.tenants SET slug = 't21-b' WHERE id = %L$$, :'ta')),
          '23505 tenants_slug_key slug is already taken', 'so is another tenant''s slug written directly');
SELECT is(pg_temp.err(format($$INSERT INTO coditect.users (tenant_id, email, firebase_uid) VALUES (%L, 'x@b.t21.test', 'fb-t21-a')$$, :'tb')),
          '23505 users_firebase_uid_key firebase_uid is already taken', 'a direct insert of a taken Firebase uid is refused');
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) VALUES (:'ta', now() + interval '1 year', 1)
RETURNING key_string AS key_a, id AS la \gset
SELECT is(pg_temp.holder('licenses.key_string', :'key_a'), :'ta' || '/' || :'la', 'a direct license insert is claimed by the trigger');
SELECT is(pg_temp.err(format($$INSERT INTO coditect.licenses (tenant_id, key_string, expiry_date, seats_total) VALUES (%L, %L, now() + interval '1 day', 1)$$,
                             :'tb', :'key_a')),
          '23505 licenses_key_string_key key_string is already taken', 'another tenant''s license key is refused');

-- set_stripe_customer claims for its tenant; a customer bound elsewhere stays refused.
CREATE ROLE tap21_service LOGIN IN ROLE coditect_service;
CREATE FUNCTION pg_temp.bind(p_tenant uuid, p_user uuid, p_customer text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL ROLE tap21_service;
    PERFORM coditect.set_request_context(p_tenant, p_user, 'owner');
    PERFORM coditect.set_stripe_customer(p_tenant, p_customer);
    RESET ROLE;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT is(pg_temp.bind(:'ta', :'ua', 'cus_t21a'), 'ok', 'set_stripe_customer binds a customer');
RESET ROLE;
SELECT is(pg_temp.holder('tenants.stripe_customer_id', 'cus_t21a'), :'ta' || '/' || :'ta', 'claimed for its tenant');
SELECT is(pg_temp.bind(:'tb', :'ub', 'cus_t21a'), 'CD409 Stripe customer cus_t21a is bound to another tenant',
          'the same customer for another tenant is refused');
SELECT is(pg_temp.holder('tenants.stripe_customer_id', 'cus_t21a'), :'ta' || '/' || :'ta', 'and stays the first tenant''s');
RESET ROLE;

-- Claims as the caller (the generated creates claim the keys of their rows as the gateway or a
-- service: on Citus the claim must come over the connection that writes the row). Under the
-- policies of global_keys: the request's tenant only, its claims alone visible, no change.
CREATE ROLE tap21_gw LOGIN IN ROLE coditect_gateway;
CREATE FUNCTION pg_temp.as_gw(p_tenant uuid, p_user uuid, p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    SET LOCAL ROLE tap21_gw;
    PERFORM coditect.set_request_context(p_tenant, p_user, 'owner');
    r := pg_temp.err(p_sql);
    RESET ROLE;
    RETURN r;
END $$;
SELECT is(pg_temp.as_gw(:'ta', :'ua', format($$SELECT coditect_internal.global_key_claim('licenses.key_string', 't21-gw', %L, %L)$$, :'ta', :'ua')),
          'ok', 'a gateway login claims a key for its request''s tenant');
SELECT is(pg_temp.holder('licenses.key_string', 't21-gw'), :'ta' || '/' || :'ua', '... held by that row');
SELECT is(pg_temp.as_gw(:'ta', :'ua', format($$SELECT coditect_internal.global_key_claim('licenses.key_string', 't21-gw2', %L, %L)$$, :'tb', :'ub')),
          '42501 - new row violates row-level security policy for table "global_keys"', 'not for another tenant');
SELECT is(pg_temp.as_gw(:'ta', :'ua', $$SELECT coditect_internal.global_key_claim('tenants.slug', 't21-b', gen_random_uuid(), gen_random_uuid())$$),
          '42501 - new row violates row-level security policy for table "global_keys"', 'nor for no tenant');
SELECT is(pg_temp.as_gw(:'ta', :'ua', format($$SELECT coditect_internal.global_key_claim('tenants.slug', 't21-b', %L, %L)$$, :'ta', :'ta')),
          '23505 tenants_slug_key slug is already taken', 'another tenant''s claim (unseen by the caller) is the clash');
SELECT is(pg_temp.as_gw(:'ta', :'ua', $$SELECT CASE WHEN count(*) > 0 AND bool_and(tenant_id = coditect.current_tenant_id()) THEN 'ok' ELSE count(*)::text END FROM coditect_internal.global_keys$$),
          'ok', 'the caller sees its tenant''s claims only');
SELECT is(pg_temp.as_gw(:'ta', :'ua', $$DELETE FROM coditect_internal.global_keys$$),
          '42501 - permission denied for table global_keys', 'and removes none');
SELECT is(pg_temp.as_gw(:'ta', :'ua', $$SELECT coditect.api_licenses_create('{"expiry_date": "2031-01-01T00:00:00Z"}') ->> 'id'$$),
          'ok', 'the generated create of a license, as the gateway');
SELECT is((SELECT pg_temp.holder('licenses.key_string', l.key_string) FROM coditect.licenses l
            WHERE l.tenant_id = :'ta' AND l.expiry_date = '2031-01-01T00:00:00Z'),
          (SELECT :'ta' || '/' || l.id FROM coditect.licenses l WHERE l.tenant_id = :'ta' AND l.expiry_date = '2031-01-01T00:00:00Z'),
          '... claimed its key for the new row before writing it');

-- global_key_release removes a claim only when its row no longer carries the value.
SELECT is(coditect_internal.global_key_release('tenants.slug', 't21-a2', :'ta', :'ta'), false,
          'release keeps a value its row still carries');
SELECT is(pg_temp.holder('tenants.slug', 't21-a2'), :'ta' || '/' || :'ta', '... claimed');
INSERT INTO coditect_internal.global_keys VALUES ('tenants.slug', 't21-stale', :'ta', :'ta');
SELECT is(coditect_internal.global_key_release('tenants.slug', 't21-stale', :'tb', :'tb'), false,
          'release does not remove another row''s claim');
SELECT is(coditect_internal.global_key_release('tenants.slug', 't21-stale', :'ta', :'ta'), true,
          'release removes a claim its row no longer carries');
SELECT is(pg_temp.holder('tenants.slug', 't21-stale'), NULL, '... gone');

-- The reaper: claims left by writers that bypassed the trigger (on Citus: direct SQL writers).
INSERT INTO coditect_internal.global_keys VALUES ('tenants.slug', 't21-ghost', :'ta', :'ta'),
    ('users.firebase_uid', 'fb-t21-ghost', :'tb', gen_random_uuid()), ('licenses.key_string', 'ghost-key', :'ta', :'la');
SELECT (SELECT count(*) FROM coditect_internal.global_keys) AS before \gset
SELECT is(coditect.reap_global_keys(), 5::bigint,
          'reap_global_keys removes the three stale claims and the two claims no row took (t21-held, t21-gw)');
SELECT is((SELECT count(*)::int FROM coditect_internal.global_keys), :before - 5, 'and nothing else');
SELECT is(pg_temp.holder('tenants.slug', 't21-held'), NULL, 'an unused claim is reaped');
SELECT is(pg_temp.holder('tenants.slug', 't21-a2') || ' ' || pg_temp.holder('licenses.key_string', :'key_a')
          || ' ' || pg_temp.holder('users.firebase_uid', 'fb-t21-a'),
          format('%s/%s %s/%s %s/%s', :'ta', :'ta', :'ta', :'la', :'ta', :'ua'), 'the live claims stay');
SELECT is(coditect.reap_global_keys(), 0::bigint, 'a second run finds nothing');

SELECT * FROM finish();
ROLLBACK;
