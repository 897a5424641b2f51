-- Commerce's global writes on a Citus cluster: run on the coordinator as a superuser after
-- coditect.distribute(), with pgtap and dblink installed and the coordinator reachable on
-- 127.0.0.1 with trust authentication. A checkout routes its owner function to the tenant's
-- worker, where a write of a reference table is refused (a nested one crashed Citus 13.2.2 at
-- COMMIT PREPARED): the code's redemption slot is taken first, as the caller, on the
-- coordinator (cart_checkout_redeem), and the keys of the licenses a payment issues on the
-- worker are claimed first on the coordinator (license_keys_claim). Checked: a checkout with a
-- code inside a transaction that writes every node (two-phase commit), the cap, a checkout
-- that skipped its global part, a paid order's license, a payment written in SQL without and
-- with its claim, a subscription's trial license, and a claim on a worker. The tenant stays (purge_tenant is not distributed
-- yet); the roles are removed at the end.
\set ON_ERROR_STOP 1
SELECT plan(16);

SELECT 'DROP OWNED BY ' || r || '; DROP ROLE ' || r FROM unnest(ARRAY['tapcm_gw', 'tapcm_svc']) r
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
CREATE ROLE tapcm_gw LOGIN IN ROLE coditect_gateway;
CREATE ROLE tapcm_svc LOGIN IN ROLE coditect_service;
SELECT 'tcm-' || substr(md5(random()::text), 1, 8) AS run \gset
SELECT coditect.create_tenant('Cm A', :'run', 'a@tcm.test', 'owner@' || :'run' || '.test') AS ja \gset
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS oa \gset
SELECT upper(replace(:'run', '-', '')) AS code \gset
INSERT INTO coditect.coupons (code, percent_off, max_redemptions) VALUES (:'code', 10, 1) RETURNING id AS coupon \gset
INSERT INTO coditect.coupons (code, percent_off) VALUES (:'code' || 'U', 10);
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('Cm plain ' || :'run', 1000, 'USD') RETURNING id AS plain \gset
INSERT INTO coditect.products (name, unit_amount, currency, grants_license, license_tier, license_seats, license_duration_days)
VALUES ('Cm licensed ' || :'run', 2500, 'USD', true, 'PRO', 2, 365) RETURNING id AS licensed \gset
INSERT INTO coditect.products (name, unit_amount, currency, recurring_interval, trial_period_days, grants_license, license_tier, license_seats)
VALUES ('Cm trial ' || :'run', 900, 'USD', 'month', 14, true, 'ENTERPRISE', 3) RETURNING id AS trial \gset

\ir lib/as_login.psql
SELECT set_config('citus_tap.tenant', :'ta', false), set_config('citus_tap.owner', :'oa', false) \gset
-- A new cart of the owner.
CREATE FUNCTION pg_temp.cart() RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_login('tapcm_gw', $q$SELECT coditect.api_carts_create('{"currency": "USD"}') ->> 'id'$q$)
$$;
\o /dev/null
SELECT pg_temp.cart() AS c1 \gset
SELECT pg_temp.cart() AS c2 \gset
SELECT pg_temp.cart() AS c3 \gset
SELECT pg_temp.cart() AS c5 \gset
SELECT pg_temp.as_login('tapcm_gw', format('SELECT coditect.cart_add_item(%L, %L, 1)::text', c, p))
  FROM (VALUES (:'c1', :'plain'), (:'c2', :'plain'), (:'c3', :'licensed'), (:'c5', :'plain')) v(c, p);
SELECT pg_temp.as_login('tapcm_gw', format('SELECT coditect.cart_apply_discount(%L, %L) ->> ''discount_code''', c, code))
  FROM (VALUES (:'c1', :'code'), (:'c2', :'code'), (:'c5', :'code' || 'U')) v(c, code);
\o

-- 1. A checkout with a code, in a transaction that also writes every node (a claim of a global
-- key: a reference table), so that Citus commits it in two phases.
SELECT is(pg_temp.as_login('tapcm_gw', format($q$SELECT coditect_internal.global_key_claim('tenants.slug', %L, %L, gen_random_uuid())::text;;
                                                  SELECT coditect.cart_checkout(%L, 'US') ->> 'discount_amount'$q$,
                                               :'run' || '-2pc', :'ta', :'c1')),
          '100', 'a checkout with a code commits in a two-phase transaction');
SELECT is((SELECT count(*)::int FROM run_command_on_workers('SELECT 1') w WHERE w.success), (SELECT count(*)::int FROM pg_dist_node WHERE groupid <> 0),
          'every worker is up');
SELECT is((SELECT string_agg(DISTINCT result, ',') FROM run_command_on_placements('coditect_internal.coupon_redemptions',
                 format('SELECT count(*) FROM %%s WHERE coupon_id = %L AND cart_id = %L', :'coupon', :'c1'))),
          '1', 'the cart''s slot is on every placement');
-- (Values of distributed tables are read first: Citus would run the assertion on a worker.)
SELECT coalesce((SELECT discount_code::text FROM coditect.orders WHERE tenant_id = :'ta' AND cart_id = :'c1'), '') AS v \gset
SELECT is(:'v'::text, :'code'::text, 'the order names its code');
-- 2. The cap, and the checkout's owner function alone.
SELECT is(pg_temp.as_login('tapcm_gw', format($q$SELECT coditect.cart_checkout(%L, 'US')::text$q$, :'c2')),
          format('CD422: discount code "%s" has been redeemed its 1 times', :'code'), 'a second checkout with a one-time code is refused');
SELECT is(pg_temp.as_login('tapcm_gw', format($q$SELECT coditect_internal.cart_checkout_as(%L, 'US')::text$q$, :'c5')),
          format('CD409: the discount code of cart %s is not redeemed (its code changed meanwhile, or checkout skipped coditect.cart_checkout): check out again', :'c5'),
          'the checkout''s owner function without its global part is refused');
SELECT is(coditect.coupon_times_redeemed(:'coupon'), 1, 'one redemption');

-- 3. A paid order issues its license on the tenant's worker, with a key claimed on the coordinator.
SELECT pg_temp.as_login('tapcm_gw', format($q$SELECT coditect.cart_checkout(%L, 'US') ->> 'id'$q$, :'c3')) AS o3 \gset
SELECT ok(pg_temp.as_login('tapcm_svc', format($q$SELECT coditect.order_mark_paid(%L, 'cash')::text$q$, :'o3')) LIKE '{%',
          'order_mark_paid pays an order of a licensed product');
SELECT coalesce((SELECT l.id || ' ' || l.key_string || ' ' || l.tier FROM coditect.licenses l
                   JOIN coditect.entitlements e ON e.tenant_id = l.tenant_id AND e.license_id = l.id
                   JOIN coditect.order_lines ol ON ol.tenant_id = e.tenant_id AND ol.id = e.source_id
                  WHERE l.tenant_id = :'ta' AND ol.order_id = :'o3'), '') AS v \gset
SELECT coalesce((SELECT g.row_id || ' ' || g.value || ' PRO' FROM coditect_internal.global_keys g
                  WHERE g.kind = 'licenses.key_string' AND g.value = split_part(:'v', ' ', 2) AND g.tenant_id = :'ta'), '-') AS w \gset
SELECT is(:'v'::text, :'w'::text, 'its PRO license holds the claim of its key');
-- 4. A payment written in SQL by a DBA: without the claim a clear refusal; with it, the license.
SELECT pg_temp.cart() AS c4 \gset
SELECT pg_temp.as_login('tapcm_gw', format('SELECT coditect.cart_add_item(%L, %L, 1)::text', :'c4', :'licensed')) IS NOT NULL AS _ \gset
SELECT pg_temp.as_login('tapcm_gw', format($q$SELECT coditect.cart_checkout(%L, 'US') ->> 'id'$q$, :'c4')) AS o4 \gset
SELECT total_amount AS t4 FROM coditect.orders WHERE tenant_id = :'ta' AND id = :'o4' \gset
SELECT alike(pg_temp.as_login('postgres', format($q$INSERT INTO coditect.payments (tenant_id, order_id, amount, currency, status)
                                                    VALUES (%L, %L, %s, 'USD', 'succeeded') RETURNING 'x'$q$, :'ta', :'o4', :'t4')),
             'CD409: no license key claimed for tenant %', 'a payment in SQL that issues a license without its key claimed is refused');
SELECT coalesce((SELECT status::text FROM coditect.orders WHERE tenant_id = :'ta' AND id = :'o4'), '') AS v \gset
SELECT is(:'v'::text, 'pending', 'nothing was written');
SELECT is(pg_temp.as_login('postgres', format($q$SELECT coditect_internal.order_license_keys_claim(%L, %L)::text;;
                                                  INSERT INTO coditect.payments (tenant_id, order_id, amount, currency, status)
                                                  VALUES (%L, %L, %s, 'USD', 'succeeded') RETURNING status$q$,
                                               :'ta', :'o4', :'ta', :'o4', :'t4')),
          'succeeded', 'with the claim first, in the same transaction, it is paid');
SELECT (SELECT count(*) FROM coditect.entitlements e JOIN coditect.order_lines ol ON ol.tenant_id = e.tenant_id AND ol.id = e.source_id
          WHERE e.tenant_id = :'ta' AND ol.order_id = :'o4' AND e.license_id IS NOT NULL) AS v \gset
SELECT is(:'v'::text, '1', '... and its license issued');
-- 5. A subscription with a trial, made through the API, issues its license at once: the create's
-- global part (register_create_global) claims its key.
SELECT pg_temp.as_login('tapcm_gw', format($q$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}') ->> 'status'$q$, :'trial')) AS v \gset
SELECT is(:'v'::text, 'trialing', 'a subscription with a trial is made through the coordinator');
SELECT coalesce((SELECT l.tier || ' ' || l.seats_total FROM coditect.subscriptions x
                   JOIN coditect.entitlements e ON e.tenant_id = x.tenant_id AND e.subscription_id = x.id
                   JOIN coditect.licenses l ON l.tenant_id = e.tenant_id AND l.id = e.license_id
                  WHERE x.tenant_id = :'ta' AND x.product_id = :'trial'), '') AS v \gset
SELECT is(:'v'::text, 'ENTERPRISE 3', '... with its license');
-- 6. No claim on a worker.
SELECT is((SELECT string_agg(DISTINCT w.result, ',') FROM run_command_on_workers(
               format($q$SELECT coditect_internal.global_key_claim('licenses.key_string', 'w-%s', %L, gen_random_uuid())$q$, :'run', :'ta')) w),
          'ERROR:  a global key (licenses.key_string) is claimed on the Citus coordinator, before the row is written on its worker',
          'a claim on a worker is refused');

DROP OWNED BY tapcm_gw;
DROP ROLE tapcm_gw;
DROP OWNED BY tapcm_svc;
DROP ROLE tapcm_svc;
SELECT * FROM finish();
