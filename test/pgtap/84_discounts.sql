-- Coupons and discounts, and checkout from billing addresses (sql/84_orders.sql, 62_contacts):
-- the coupon catalog (service-written, never read by clients), a code applied to a cart and
-- checked again at checkout, the one computation splitting a discount across lines before tax
-- (percent and amount, inclusive and exclusive tax, USD / JPY / KWD; expected values worked out
-- independently of the SQL), redemptions counted and capped, and checkout taking the billing
-- address by id or the tenant's default. Rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t84d
\ir lib/tenants.psql
\ir lib/as_user.psql

CREATE ROLE tap84d_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap84d_service LOGIN IN ROLE coditect_service;
GRANT SELECT, INSERT, UPDATE ON refs TO tap84d_gateway, tap84d_service;

SET ROLE tap84d_service;
INSERT INTO coditect.tax_rates (display_name, percentage, jurisdiction, country_code, state_code, tax_type, inclusive)
VALUES ('NY sales tax', 8.875, 'US-NY', 'US', 'US-NY', 'sales_tax', false),
       ('VAT (20%)', 20, 'GB', 'GB', NULL, 'vat', true),
       ('JP consumption tax', 10, 'JP', 'JP', NULL, 'vat', false),
       ('KW test tax', 10, 'KW', 'KW', NULL, 'vat', false);
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('A', 1999, 'USD') RETURNING id AS p_a \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('B', 500, 'USD') RETURNING id AS p_b \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('J1', 999, 'JPY') RETURNING id AS p_j1 \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('J2', 350, 'JPY') RETURNING id AS p_j2 \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('K1', 1005, 'KWD') RETURNING id AS p_k1 \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('K2', 2500, 'KWD') RETURNING id AS p_k2 \gset
INSERT INTO coditect.coupons (code, percent_off) VALUES ('PCT10', 10), ('PCT12-5', 12.5);
INSERT INTO coditect.coupons (code, amount_off, currency)
VALUES ('USD5', 500, 'USD'), ('JPY1000', 1000, 'JPY'), ('KWD1', 1000, 'KWD'), ('USDALL', 100000, 'USD');
INSERT INTO coditect.coupons (code, percent_off, applies_to_products) VALUES ('BONLY15', 15, ARRAY[:'p_b']::uuid[]);
INSERT INTO coditect.coupons (code, percent_off, valid_from, valid_until)
VALUES ('GONE', 50, now() - interval '2 days', now() - interval '1 day'),
       ('LATER', 50, now() + interval '1 day', now() + interval '2 days');
INSERT INTO coditect.coupons (code, percent_off, max_redemptions) VALUES ('ONCE', 20, 1);
INSERT INTO coditect.coupons (code, percent_off, active) VALUES ('OFF', 20, false);
SELECT throws_ok($$INSERT INTO coditect.coupons (code, percent_off, amount_off, currency) VALUES ('BOTH', 10, 100, 'USD')$$,
                 '23514', NULL, 'a coupon is a percentage or an amount, not both');
SELECT throws_ok($$INSERT INTO coditect.coupons (code, amount_off) VALUES ('NOCUR', 100)$$,
                 '23514', NULL, 'an amount off names its currency');
SELECT throws_ok($$INSERT INTO coditect.coupons (code, amount_off, currency) VALUES ('GOLD', 100, 'XAU')$$,
                 'CD422', 'currency XAU (Gold) is not legal tender: nothing is priced in it', 'an amount off is in legal tender');
SELECT throws_ok($$INSERT INTO coditect.coupons (code, percent_off) VALUES ('pct10', 5)$$,
                 '23505', NULL, 'codes are unique whatever their case');
SELECT throws_ok(format($$INSERT INTO coditect.coupons (code, percent_off, applies_to_products) VALUES ('X', 5, ARRAY[%L]::uuid[])$$,
                        coditect.uuid_generate_v7()), 'CD422', NULL, 'a coupon applies to existing products');
SELECT throws_ok($$INSERT INTO coditect.coupons (code, percent_off) VALUES ('HALF', 100.01)$$,
                 '23514', NULL, 'at most 100 % off');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Applying a code
------------------------------------------------------------------------------------------------

-- pg_temp.cart(user, products, quantities) -> a new cart of the user holding them.
CREATE FUNCTION pg_temp.cart(p_user text, p_products uuid[], p_qty int[]) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    cart uuid := (pg_temp.as_user(p_user, 'member', $q$SELECT coditect.api_carts_create('{}') ->> 'id'$q$))::uuid;
BEGIN
    FOR i IN 1 .. cardinality(p_products) LOOP
        PERFORM pg_temp.as_user(p_user, 'member', format($q$SELECT coditect.cart_add_item(%L, %L, %s)::text$q$, cart, p_products[i], p_qty[i]));
    END LOOP;
    RETURN cart;
END $$;
CREATE FUNCTION pg_temp.apply(p_cart uuid, p_code text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_apply_discount(%L, %L)::text$q$, p_cart, p_code))
$$;
-- Checks out with a country (and state), or a billing address id when p_country is NULL.
CREATE FUNCTION pg_temp.checkout(p_cart uuid, p_country text, p_state text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_checkout(%L, %L, %L)::text$q$, p_cart, p_country, p_state))
$$;
GRANT EXECUTE ON FUNCTION pg_temp.cart(text, uuid[], int[]), pg_temp.apply(uuid, text), pg_temp.checkout(uuid, text, text) TO PUBLIC;

SET ROLE tap84d_gateway;
SELECT is(pg_temp.as_user('member', 'member', 'SELECT count(*)::text FROM coditect.coupons'),
          '42501: permission denied for table coupons', 'clients do not read coupons (a code is handed out, not listed)');
SELECT pg_temp.put('usd1', pg_temp.cart('member', ARRAY[:'p_a', :'p_b']::uuid[], '{2,1}')) \gset
SELECT is(pg_temp.apply(pg_temp.id('usd1'), 'NOPE'), 'CD422: discount code "NOPE" is not valid', 'an unknown code is refused');
SELECT is(pg_temp.apply(pg_temp.id('usd1'), 'OFF'), 'CD422: discount code "OFF" is not valid', 'an inactive one too');
SELECT alike(pg_temp.apply(pg_temp.id('usd1'), 'GONE'), 'CD422: discount code "GONE" expired at %', 'an expired one');
SELECT alike(pg_temp.apply(pg_temp.id('usd1'), 'LATER'), 'CD422: discount code "LATER" is not valid before %', 'one not valid yet');
SELECT is(pg_temp.apply(pg_temp.id('usd1'), 'JPY1000'), 'CD422: discount code "JPY1000" is an amount in JPY, this cart is in USD',
          'an amount in another currency');
SELECT is(pg_temp.as_user('member2', 'member', format($q$SELECT coditect.cart_apply_discount(%L, 'PCT10')::text$q$, pg_temp.id('usd1'))),
          format('CD404: cart %s not found', pg_temp.id('usd1')), 'another member cannot reach my cart');
SELECT is(pg_temp.as_user('guest', 'guest', format($q$SELECT coditect.cart_apply_discount(%L, 'PCT10')::text$q$, pg_temp.id('usd1'))),
          'CD403: permission denied: cart.apply_discount needs a role that holds it (current role: guest)', 'guests have no carts');
SELECT is(pg_temp.apply(pg_temp.id('usd1'), ' pct10 ')::jsonb ->> 'discount_code', 'PCT10', 'a code is matched whatever its case');
-- 10 % of 39.98 + 5.00 = 4.498 -> 4.50
SELECT is(pg_temp.as_user('member', 'member', format($q$SELECT coditect.api_carts_get(%L) ->> 'discount_amount'$q$, pg_temp.id('usd1'))),
          '450', 'the cart reads its discount as it stands');
SELECT is(pg_temp.apply(pg_temp.id('usd1'), NULL)::jsonb ->> 'discount_amount', '0', 'no code removes it');
SELECT is(pg_temp.apply(pg_temp.id('usd1'), 'PCT10')::jsonb ->> 'discount_amount', '450', 'and it is applied again');
SELECT is(pg_temp.try(format($q$UPDATE coditect.carts SET discount_code = 'FREE' WHERE id = %L$q$, pg_temp.id('usd1'))),
          '42501: permission denied for table carts', 'clients do not write a cart''s code but through the action');
SELECT pg_temp.put('a only', pg_temp.cart('member', ARRAY[:'p_a']::uuid[], '{1}')) \gset
SELECT is(pg_temp.apply(pg_temp.id('a only'), 'BONLY15'), 'CD422: discount code "BONLY15" applies to none of the products in this cart',
          'a code for other products');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Checkout: the discount split across the lines before tax (coupon_discounts, tax_line)
------------------------------------------------------------------------------------------------

SET ROLE tap84d_gateway;
SELECT pg_temp.put('o usd1', (pg_temp.checkout(pg_temp.id('usd1'), 'US', 'US-NY')::jsonb ->> 'id')::uuid) \gset
SELECT pg_temp.put('usd2', pg_temp.cart('member', ARRAY[:'p_a', :'p_b']::uuid[], '{2,1}')) \gset
SELECT pg_temp.put('jpy1', pg_temp.cart('member', ARRAY[:'p_j1', :'p_j2']::uuid[], '{3,1}')) \gset
SELECT pg_temp.put('jpy2', pg_temp.cart('member', ARRAY[:'p_j1', :'p_j2']::uuid[], '{3,1}')) \gset
SELECT pg_temp.put('kwd1', pg_temp.cart('member', ARRAY[:'p_k1', :'p_k2']::uuid[], '{1,2}')) \gset
SELECT pg_temp.put('kwd2', pg_temp.cart('member', ARRAY[:'p_k1', :'p_k2']::uuid[], '{1,2}')) \gset
SELECT pg_temp.put('usd3', pg_temp.cart('member', ARRAY[:'p_a', :'p_b']::uuid[], '{2,1}')) \gset
SELECT pg_temp.put('usd4', pg_temp.cart('member', ARRAY[:'p_a', :'p_b']::uuid[], '{2,1}')) \gset
SELECT ok(pg_temp.apply(pg_temp.id('usd2'), 'USD5') LIKE '{%', 'USD5 on a USD cart');
SELECT ok(pg_temp.apply(pg_temp.id('jpy1'), 'PCT10') LIKE '{%', 'PCT10 on a JPY cart');
SELECT ok(pg_temp.apply(pg_temp.id('jpy2'), 'jpy1000') LIKE '{%', 'JPY1000 on a JPY cart');
SELECT ok(pg_temp.apply(pg_temp.id('kwd1'), 'PCT12-5') LIKE '{%', 'PCT12-5 on a KWD cart');
SELECT ok(pg_temp.apply(pg_temp.id('kwd2'), 'KWD1') LIKE '{%', 'KWD1 on a KWD cart');
SELECT ok(pg_temp.apply(pg_temp.id('usd3'), 'BONLY15') LIKE '{%', 'BONLY15 on a cart with B');
SELECT ok(pg_temp.apply(pg_temp.id('usd4'), 'USDALL') LIKE '{%', 'USDALL (more than the cart) on a USD cart');
SELECT pg_temp.put('o usd2', (pg_temp.checkout(pg_temp.id('usd2'), 'GB')::jsonb ->> 'id')::uuid) \gset
SELECT pg_temp.put('o jpy1', (pg_temp.checkout(pg_temp.id('jpy1'), 'JP')::jsonb ->> 'id')::uuid) \gset
SELECT pg_temp.put('o jpy2', (pg_temp.checkout(pg_temp.id('jpy2'), 'GB')::jsonb ->> 'id')::uuid) \gset
SELECT pg_temp.put('o kwd1', (pg_temp.checkout(pg_temp.id('kwd1'), 'KW')::jsonb ->> 'id')::uuid) \gset
SELECT pg_temp.put('o kwd2', (pg_temp.checkout(pg_temp.id('kwd2'), 'GB')::jsonb ->> 'id')::uuid) \gset
SELECT pg_temp.put('o usd3', (pg_temp.checkout(pg_temp.id('usd3'), 'US', 'US-NY')::jsonb ->> 'id')::uuid) \gset
SELECT pg_temp.put('o usd4', (pg_temp.checkout(pg_temp.id('usd4'), 'US', 'US-NY')::jsonb ->> 'id')::uuid) \gset
RESET ROLE;

CREATE FUNCTION pg_temp.lines(p_order uuid) RETURNS TABLE (product text, amount bigint, discount bigint, net bigint, tax bigint, total bigint)
LANGUAGE sql AS $$
    SELECT product_name::text, amount, discount_amount, net_amount, tax_amount, total_amount
      FROM coditect.order_lines WHERE order_id = p_order ORDER BY product_name
$$;
CREATE FUNCTION pg_temp.totals(p_order uuid) RETURNS TABLE (code text, subtotal bigint, tax bigint, discount bigint, total bigint)
LANGUAGE sql AS $$
    SELECT discount_code::text, subtotal_amount, tax_amount, discount_amount, total_amount FROM coditect.orders WHERE id = p_order
$$;

-- USD, 10 %, NY 8.875 % exclusive: D = round(449.8) = 450; shares floor(399.98), floor(50.02) =
-- 399 + 50, the unit left to the larger remainder (A): 400 + 50; tax 3598 x 8.875 % = 319.32 -> 319,
-- 450 x 8.875 % = 39.94 -> 40.
SELECT results_eq($$SELECT * FROM pg_temp.lines(pg_temp.id('o usd1'))$$,
                  $$VALUES ('A', 3998::bigint, 400::bigint, 3598::bigint, 319::bigint, 3917::bigint),
                           ('B', 500::bigint, 50::bigint, 450::bigint, 40::bigint, 490::bigint)$$,
                  'USD, 10 % off, exclusive tax: the discount split by largest remainder, tax on the discounted lines');
SELECT results_eq($$SELECT * FROM pg_temp.totals(pg_temp.id('o usd1'))$$,
                  $$VALUES ('PCT10', 4498::bigint, 359::bigint, 450::bigint, 4407::bigint)$$, '... totals: 44.98 + 3.59 - 4.50 = 44.07');
-- USD, 5.00 off, 20 % VAT inclusive: shares 444.4 -> 444 and 55.6 -> 56; VAT in 35.54 = 5.92, in 4.44 = 0.74.
SELECT results_eq($$SELECT * FROM pg_temp.lines(pg_temp.id('o usd2'))$$,
                  $$VALUES ('A', 3998::bigint, 444::bigint, 2962::bigint, 592::bigint, 3554::bigint),
                           ('B', 500::bigint, 56::bigint, 370::bigint, 74::bigint, 444::bigint)$$,
                  'USD, an amount off, inclusive VAT: the VAT contained in the discounted prices');
SELECT results_eq($$SELECT * FROM pg_temp.totals(pg_temp.id('o usd2'))$$,
                  $$VALUES ('USD5', 3832::bigint, 666::bigint, 500::bigint, 3998::bigint)$$, '... total 44.98 - 5.00 = 39.98');
-- JPY, 10 %, 10 % exclusive: D = round(334.7) = 335: 299.7 -> 300 (remainder .7) and 35.
SELECT results_eq($$SELECT * FROM pg_temp.lines(pg_temp.id('o jpy1'))$$,
                  $$VALUES ('J1', 2997::bigint, 300::bigint, 2697::bigint, 270::bigint, 2967::bigint),
                           ('J2', 350::bigint, 35::bigint, 315::bigint, 32::bigint, 347::bigint)$$,
                  'JPY (no minor unit), percent, exclusive: 31.5 yen of tax -> 32');
SELECT results_eq($$SELECT * FROM pg_temp.totals(pg_temp.id('o jpy1'))$$,
                  $$VALUES ('PCT10', 3347::bigint, 302::bigint, 335::bigint, 3314::bigint)$$, '... 3347 + 302 - 335 = 3314 yen');
SELECT results_eq($$SELECT * FROM pg_temp.lines(pg_temp.id('o jpy2'))$$,
                  $$VALUES ('J1', 2997::bigint, 895::bigint, 1752::bigint, 350::bigint, 2102::bigint),
                           ('J2', 350::bigint, 105::bigint, 204::bigint, 41::bigint, 245::bigint)$$,
                  'JPY, 1000 yen off, inclusive VAT');
SELECT results_eq($$SELECT * FROM pg_temp.totals(pg_temp.id('o jpy2'))$$,
                  $$VALUES ('JPY1000', 2956::bigint, 391::bigint, 1000::bigint, 2347::bigint)$$, '... 3347 - 1000 = 2347 yen');
-- KWD, 12.5 %: D = round(750.625) = 751 fils: 125.69 -> 126, 625.31 -> 625.
SELECT results_eq($$SELECT * FROM pg_temp.lines(pg_temp.id('o kwd1'))$$,
                  $$VALUES ('K1', 1005::bigint, 126::bigint, 879::bigint, 88::bigint, 967::bigint),
                           ('K2', 5000::bigint, 625::bigint, 4375::bigint, 438::bigint, 4813::bigint)$$,
                  'KWD (three digits), 12.5 % off, exclusive');
SELECT results_eq($$SELECT * FROM pg_temp.totals(pg_temp.id('o kwd1'))$$,
                  $$VALUES ('PCT12-5', 6005::bigint, 526::bigint, 751::bigint, 5780::bigint)$$, '... 6.005 + 0.526 - 0.751 = 5.780 KWD');
SELECT results_eq($$SELECT * FROM pg_temp.lines(pg_temp.id('o kwd2'))$$,
                  $$VALUES ('K1', 1005::bigint, 167::bigint, 698::bigint, 140::bigint, 838::bigint),
                           ('K2', 5000::bigint, 833::bigint, 3472::bigint, 695::bigint, 4167::bigint)$$,
                  'KWD, 1.000 off, inclusive VAT');
SELECT results_eq($$SELECT * FROM pg_temp.totals(pg_temp.id('o kwd2'))$$,
                  $$VALUES ('KWD1', 5170::bigint, 835::bigint, 1000::bigint, 5005::bigint)$$, '... 6.005 - 1.000 = 5.005 KWD');
SELECT results_eq($$SELECT * FROM pg_temp.lines(pg_temp.id('o usd3'))$$,
                  $$VALUES ('A', 3998::bigint, 0::bigint, 3998::bigint, 355::bigint, 4353::bigint),
                           ('B', 500::bigint, 75::bigint, 425::bigint, 38::bigint, 463::bigint)$$,
                  'a coupon for one product discounts its line only');
SELECT results_eq($$SELECT * FROM pg_temp.totals(pg_temp.id('o usd4'))$$,
                  $$VALUES ('USDALL', 4498::bigint, 0::bigint, 4498::bigint, 0::bigint)$$,
                  'an amount off larger than the cart takes it to zero, never below');
SELECT is((SELECT count(*)::int FROM coditect.orders o
            WHERE o.tenant_id = :'ta' AND o.total_amount <> (SELECT sum(l.total_amount) FROM coditect.order_lines l WHERE l.order_id = o.id)),
          0, 'every order''s total is the sum of its lines'' totals');
SELECT results_eq($$SELECT code::text, coditect.coupon_times_redeemed(c.id) FROM coditect.coupons c WHERE coditect.coupon_times_redeemed(c.id) > 0 ORDER BY code$$,
                  $$VALUES ('BONLY15', 1), ('JPY1000', 1), ('KWD1', 1), ('PCT10', 2), ('PCT12-5', 1), ('USD5', 1), ('USDALL', 1)$$,
                  'each order placed with a code counts a redemption');
SELECT is((SELECT coupon_id FROM coditect.orders WHERE id = pg_temp.id('o usd1')),
          (SELECT id FROM coditect.coupons WHERE code = 'PCT10'), 'the order names its coupon');

-- The one computation, directly: shares sum to the discount, none above its line.
SELECT is(coditect_internal.coupon_discounts((SELECT id FROM coditect.coupons WHERE code = 'PCT10'), ARRAY[:'p_a', :'p_a', :'p_a']::uuid[], '{5,5,5}'),
          '{1,1,0}'::bigint[], '10 % of 3 x 0.05 = 0.015 -> 0.02: a cent each to the first two of equal remainders');
SELECT is(coditect_internal.coupon_discounts((SELECT id FROM coditect.coupons WHERE code = 'PCT10'), ARRAY[:'p_a']::uuid[], '{4}'),
          '{0}'::bigint[], '10 % of 0.04 rounds to nothing');
SELECT is(coditect_internal.coupon_discounts((SELECT id FROM coditect.coupons WHERE code = 'USD5'), ARRAY[:'p_a', :'p_b', :'p_a']::uuid[], '{1000,1000,1000}'),
          '{167,167,166}'::bigint[], '5.00 over three equal lines: 1.67, 1.67, 1.66');
SELECT is(coditect_internal.coupon_discounts((SELECT id FROM coditect.coupons WHERE code = 'USD5'), ARRAY[:'p_a', :'p_b']::uuid[], '{100,200}'),
          '{100,200}'::bigint[], 'an amount off never exceeds the lines');

------------------------------------------------------------------------------------------------
-- Checked again at checkout; redemptions capped
------------------------------------------------------------------------------------------------

SET ROLE tap84d_gateway;
SELECT pg_temp.put('once1', pg_temp.cart('member', ARRAY[:'p_b']::uuid[], '{1}')) \gset
SELECT pg_temp.put('once2', pg_temp.cart('member', ARRAY[:'p_b']::uuid[], '{1}')) \gset
SELECT ok(pg_temp.apply(pg_temp.id('once1'), 'ONCE') LIKE '{%', 'a single-use code on a cart');
SELECT ok(pg_temp.apply(pg_temp.id('once2'), 'ONCE') LIKE '{%', '... and on another (not redeemed yet)');
SELECT is(pg_temp.checkout(pg_temp.id('once1'), 'US', 'US-NY')::jsonb ->> 'discount_amount', '100', 'the first checkout redeems it');
SELECT is(pg_temp.checkout(pg_temp.id('once2'), 'US', 'US-NY'), 'CD422: discount code "ONCE" has been redeemed its 1 times',
          'the second is refused at checkout');
SELECT is(pg_temp.as_user('member', 'member', format($q$SELECT coditect.api_carts_get(%L) ->> 'status'$q$, pg_temp.id('once2'))), 'active',
          'its cart stays open (remove the code and check out again)');
SELECT is(pg_temp.apply(pg_temp.id('once2'), 'ONCE'), 'CD422: discount code "ONCE" has been redeemed its 1 times', 'nor applied again');
-- The redemption is a slot of the coupon, taken by the checkout's global part as the caller
-- (cart_checkout_redeem); the checkout reads it (on Citus from the tenant's node).
RESET ROLE;
SELECT (SELECT id FROM coditect.coupons WHERE code = 'ONCE') AS c_once, (SELECT id FROM coditect.coupons WHERE code = 'PCT12-5') AS c_pct12 \gset
SELECT is((SELECT r.slot || ' ' || (r.tenant_id = :'ta') FROM coditect_internal.coupon_redemptions r WHERE r.coupon_id = :'c_once'),
          '1 true', 'the checkout took slot 1, for its tenant');
SET ROLE tap84d_gateway;
SELECT ok(pg_temp.apply(pg_temp.put('nored', pg_temp.cart('member', ARRAY[:'p_b']::uuid[], '{1}')), 'PCT10') LIKE '{%', 'a code on another cart ...');
SELECT is(pg_temp.as_user('member', 'member', format($q$SELECT coditect_internal.cart_checkout_as(%L, 'US', 'US-NY')::text$q$, pg_temp.id('nored'))),
          format('CD409: the discount code of cart %s is not redeemed (its code changed meanwhile, or checkout skipped coditect.cart_checkout): check out again', pg_temp.id('nored')),
          '... checked out by its owner function alone (no slot taken) is refused');
SELECT is(pg_temp.as_user('member', 'member', format($q$INSERT INTO coditect_internal.coupon_redemptions (coupon_id, slot, tenant_id, cart_id)
                                                         VALUES (%L, 2, %L, %L) RETURNING 'x'$q$, :'c_once', :'ta', pg_temp.id('once2'))),
          'x', 'a slot past the cap written by hand ...');
SELECT is(pg_temp.apply(pg_temp.id('once2'), 'ONCE'), 'CD422: discount code "ONCE" has been redeemed its 1 times', '... counts for nothing');
SELECT is(pg_temp.as_user('member', 'member', format($q$INSERT INTO coditect_internal.coupon_redemptions (coupon_id, slot, tenant_id, cart_id)
                                                         VALUES (%L, 40, %L, gen_random_uuid()) RETURNING 'x'$q$, :'c_pct12', :'tb')),
          '42501: new row violates row-level security policy for table "coupon_redemptions"', 'a caller takes no slot for another tenant');
SELECT is(pg_temp.as_user('member', 'member', $q$SELECT count(*)::text FROM coditect_internal.coupon_redemptions WHERE tenant_id <> coditect.current_tenant_id()$q$),
          '0', 'and sees its tenant''s slots only');
SELECT pg_temp.put('later', pg_temp.cart('member', ARRAY[:'p_b']::uuid[], '{1}')) \gset
SELECT ok(pg_temp.apply(pg_temp.id('later'), 'PCT12-5') LIKE '{%', 'a code applied ...');
RESET ROLE;
SET ROLE tap84d_service;
UPDATE coditect.coupons SET valid_until = now() - interval '1 second', valid_from = now() - interval '1 day' WHERE code = 'PCT12-5';
RESET ROLE;
SET ROLE tap84d_gateway;
SELECT alike(pg_temp.checkout(pg_temp.id('later'), 'US', 'US-NY'), 'CD422: discount code "PCT12-5" expired at %',
             '... that expired since is refused at checkout');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Checkout from billing addresses
------------------------------------------------------------------------------------------------

SET ROLE tap84d_gateway;
SELECT pg_temp.put('b1', pg_temp.cart('member', ARRAY[:'p_b']::uuid[], '{1}')) \gset
SELECT is(pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_checkout(%L)::text$q$, pg_temp.id('b1'))),
          'CD422: no billing address: give billing_address_id or country_code, or set the tenant''s default billing address',
          'without a country nor a default billing address, checkout says what it needs');
SELECT pg_temp.put('tenant billing', (pg_temp.as_user('admin', 'admin', format($q$SELECT coditect.api_addresses_create(jsonb_build_object(
    'entity_type', 'tenant', 'entity_id', %L, 'address_type', 'billing', 'full_name', 'Ada Lovelace', 'company_name', 'T84 Ltd',
    'address_line1', '1 Main St', 'city', 'Albany', 'state_code', 'US-NY', 'postal_code', '12207', 'country_code', 'US',
    'phone', '(518) 555-0142', 'is_default', true)) ->> 'id'$q$, :'ta')))::uuid) \gset
SELECT pg_temp.put('o b1', (pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_checkout(%L) ->> 'id'$q$, pg_temp.id('b1'))))::uuid) \gset
RESET ROLE;
SELECT results_eq(format($$SELECT billing_country_code::text, billing_state_code::text, tax_display_name::text, tax_amount,
                                  billing_address ->> 'address_id', billing_address ->> 'company_name', billing_address ->> 'phone',
                                  billing_address ->> 'postal_code'
                             FROM coditect.orders WHERE id = %L$$, pg_temp.id('o b1')),
                  format($$VALUES ('US', 'US-NY', 'NY sales tax', 44::bigint, %L, 'T84 Ltd', '+15185550142', '12207')$$, pg_temp.id('tenant billing')),
                  'the tenant''s default billing address: its country and state choose the tax, its snapshot stays on the order');
SET ROLE tap84d_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($q$SELECT coditect.api_addresses_update(%L, '{"city": "Buffalo", "country_code": "GB", "state_code": null, "phone": null}') ->> 'city'$q$,
                                                  pg_temp.id('tenant billing'))), 'Buffalo', 'the address changes later ...');
RESET ROLE;
SELECT is((SELECT billing_address ->> 'city' || ' ' || billing_country_code FROM coditect.orders WHERE id = pg_temp.id('o b1')), 'Albany US',
          '... the order keeps its snapshot');
SET ROLE tap84d_gateway;
SELECT pg_temp.put('b2', pg_temp.cart('member', ARRAY[:'p_b']::uuid[], '{1}')) \gset
SELECT is(pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_checkout(%L) ->> 'tax_display_name'$q$, pg_temp.id('b2'))),
          'VAT (20%)', 'the default as it is now (GB: VAT)');
SELECT pg_temp.put('b3', pg_temp.cart('member', ARRAY[:'p_b']::uuid[], '{1}')) \gset
SELECT is(pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_checkout(%L, 'JP') ->> 'tax_display_name'$q$, pg_temp.id('b3'))),
          'JP consumption tax', 'an explicit country still wins over the default');
-- A billing address by id: the caller's user's own.
SELECT pg_temp.put('my billing', (pg_temp.as_user('member', 'member', format($q$SELECT coditect.api_addresses_create(jsonb_build_object(
    'entity_type', 'user', 'entity_id', %L, 'address_type', 'billing', 'address_line1', '2 Kuwait Rd', 'city', 'Kuwait City',
    'country_code', 'KW')) ->> 'id'$q$, current_setting('tap.user.member'))))::uuid) \gset
SELECT pg_temp.put('my office', (pg_temp.as_user('member', 'member', format($q$SELECT coditect.api_addresses_create(jsonb_build_object(
    'entity_type', 'user', 'entity_id', %L, 'address_type', 'office', 'address_line1', '3 Office Rd', 'city', 'Tokyo',
    'country_code', 'JP')) ->> 'id'$q$, current_setting('tap.user.member'))))::uuid) \gset
SELECT pg_temp.put('b4', pg_temp.cart('member', ARRAY[:'p_b']::uuid[], '{1}')) \gset
SELECT is(pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_checkout(%L, p_billing_address => %L)::text$q$, pg_temp.id('b4'), pg_temp.id('my office'))),
          format('CD422: billing address %s not found (a billing address of the tenant or of your user)', pg_temp.id('my office')),
          'an address that is not a billing address is refused');
SELECT is(pg_temp.as_user('member2', 'member', format($q$SELECT coditect.cart_checkout(%L, p_billing_address => %L)::text$q$,
                                                      pg_temp.cart('member2', ARRAY[:'p_b']::uuid[], '{1}'), pg_temp.id('my billing'))),
          format('CD422: billing address %s not found (a billing address of the tenant or of your user)', pg_temp.id('my billing')),
          'another user''s billing address is refused');
SELECT is(pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_checkout(%L, 'US', p_billing_address => %L)::text$q$, pg_temp.id('b4'), pg_temp.id('my billing'))),
          'CD422: give billing_address_id or country_code (with state_code and billing_address), not both', 'an id and a country: one or the other');
SELECT is(pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_checkout(%L, p_billing_address => %L) ->> 'tax_display_name'$q$, pg_temp.id('b4'), pg_temp.id('my billing'))),
          'KW test tax', 'my own billing address by id chooses the tax');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
