-- Carts, checkout, orders, manual payments and refunds (sql/84_orders.sql): one currency per
-- cart, expiry (read and job), requirements named on checkout, snapshots, tax by state and
-- country (inclusive and exclusive) across exponents (JPY 0, USD 2, KWD 3), totals checked by
-- the database, a paid order frozen, refunds capped, who sees and does what. Rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t84
\ir lib/tenants.psql
\ir lib/as_user.psql

CREATE ROLE tap84_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap84_service LOGIN IN ROLE coditect_service;
GRANT SELECT, INSERT, UPDATE ON refs TO tap84_gateway, tap84_service;

SET ROLE tap84_service;
INSERT INTO coditect.tax_rates (display_name, percentage, jurisdiction, country_code, state_code, tax_type, inclusive)
VALUES ('US sales tax', 5, 'US', 'US', NULL, 'sales_tax', false),
       ('NY sales tax', 8.875, 'US-NY', 'US', 'US-NY', 'sales_tax', false),
       ('VAT (20%)', 20, 'GB', 'GB', NULL, 'vat', true),
       ('JP consumption tax', 10, 'JP', 'JP', NULL, 'vat', false),
       ('KW test tax', 10, 'KW', 'KW', NULL, 'vat', false);
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('Base', 1999, 'USD') RETURNING id AS p_base \gset
INSERT INTO coditect.products (name, unit_amount, currency, requires) VALUES ('Addon', 500, 'USD', ARRAY[:'p_base']::uuid[])
RETURNING id AS p_addon \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('Yen thing', 999, 'JPY') RETURNING id AS p_jpy \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('Dinar thing', 1005, 'KWD') RETURNING id AS p_kwd \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('Pound thing', 1000, 'GBP') RETURNING id AS p_gbp \gset
RESET ROLE;

SET ROLE tap84_gateway;

------------------------------------------------------------------------------------------------
-- Carts
------------------------------------------------------------------------------------------------

SELECT pg_temp.put('cart', (pg_temp.as_user('member', 'member', $$SELECT coditect.api_carts_create('{}') ->> 'id'$$))::uuid) \gset
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_carts_get(%L) ->> 'user_id'$$, pg_temp.id('cart'))),
          current_setting('tap.user.member'), 'a cart is its maker''s');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_add_item(%L, %L, NULL) ->> 'currency'$$, pg_temp.id('cart'), :'p_addon')),
          'USD', 'the first item sets the cart''s currency (no quantity given: one, as the line below shows)');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_add_item(%L, %L, 1)::text$$, pg_temp.id('cart'), :'p_jpy')),
          'CD422: product "Yen thing" is priced in JPY, this cart in USD: one currency per cart',
          'an item of another currency is refused, naming both');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_add_item(%L, %L, 0)::text$$, pg_temp.id('cart'), :'p_base')),
          'CD422: quantity must be at least 1', 'a quantity is positive');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.cart_add_item(%L, %L, 1)::text$$, pg_temp.id('cart'), :'p_base')),
          format('CD404: cart %s not found', pg_temp.id('cart')), 'another member cannot reach my cart');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT pg_temp.try(format('INSERT INTO coditect.cart_items (tenant_id, cart_id, product_id, quantity) VALUES (%%L, %%L, %%L, 1)', %L, %L, %L))$$,
                                                      current_setting('tap.tenant'), pg_temp.id('cart'), :'p_jpy')),
          '42501: new row violates row-level security policy for table "cart_items"',
          'an item for another member''s cart is refused by the policy, telling nothing of the cart');
SELECT is(pg_temp.as_user('member2', 'member', $$SELECT (coditect.api_carts_list('{}') ->> 'count')$$), '0',
          'another member does not list my cart');
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT (coditect.api_carts_list('{}') ->> 'count')$$), '1',
          'an administrator lists every cart of the tenant');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.cart_add_item(%L, %L, 1)::text$$, pg_temp.id('cart'), :'p_base')),
          'CD403: permission denied: cart.add_item needs a role that holds it (current role: guest)', 'guests have no carts');

-- Checkout refused: Addon requires Base.
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_checkout(%L, 'US', 'US-NY')::text$$, pg_temp.id('cart'))),
          'CD422: checkout refused: missing required products: "Addon" requires "Base"',
          'checkout names the missing requirement');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_add_item(%L, %L, 2) -> 'effective_status' #>> '{}'$$, pg_temp.id('cart'), :'p_base')),
          'active', 'the requirement is added (quantity 2)');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_checkout(%L, 'US', 'XX-YY')::text$$, pg_temp.id('cart'))),
          'CD422: unknown subdivision "XX-YY" of US', 'the billing subdivision is checked against the reference tables');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_checkout(%L, 'ZZ', NULL)::text$$, pg_temp.id('cart'))),
          'CD422: unknown country "ZZ" (ISO 3166-1 alpha-2)', 'the billing country is checked');

------------------------------------------------------------------------------------------------
-- Checkout: USD, exclusive state rate (NY 8.875 % beats the US 5 %)
------------------------------------------------------------------------------------------------

SELECT pg_temp.put('order', (pg_temp.as_user('member', 'member',
    format($$SELECT coditect.cart_checkout(%L, 'US', 'US-NY', '{"line1": "1 Main St", "city": "Albany"}') ->> 'id'$$, pg_temp.id('cart'))))::uuid) \gset
RESET ROLE;
-- 2 x 19.99 = 39.98: tax 3.548 -> 3.55; 5.00: tax 0.44375 -> 0.44 (per line, half away from zero).
SELECT results_eq(format($$SELECT product_name::text, unit_amount, quantity, amount, net_amount, tax_amount, total_amount
                             FROM coditect.order_lines WHERE order_id = %L ORDER BY product_name$$, pg_temp.id('order')),
                  $$VALUES ('Addon', 500::bigint, 1, 500::bigint, 500::bigint, 44::bigint, 544::bigint),
                           ('Base', 1999::bigint, 2, 3998::bigint, 3998::bigint, 355::bigint, 4353::bigint)$$,
                  'lines snapshot names, prices and quantities; tax per line by tax_line');
SELECT results_eq(format($$SELECT status::text, currency::text, subtotal_amount, tax_amount, discount_amount, total_amount,
                                  tax_display_name::text, tax_percentage, tax_inclusive, billing_country_code::text,
                                  billing_state_code::text, billing_address ->> 'city', user_id
                             FROM coditect.orders WHERE id = %L$$, pg_temp.id('order')),
                  format($$VALUES ('pending', 'USD', 4498::bigint, 399::bigint, 0::bigint, 4897::bigint, 'NY sales tax',
                                   8.875::numeric(7,4), false, 'US', 'US-NY', 'Albany', %L::uuid)$$, current_setting('tap.user.member')),
                  'the order: sums of its lines, the rate and the address snapshotted, its placer');
SELECT is((SELECT status::text FROM coditect.carts WHERE id = pg_temp.id('cart')), 'checked_out', 'the cart is checked out');
SET ROLE tap84_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_checkout(%L, 'US', 'US-NY')::text$$, pg_temp.id('cart'))),
          format('CD409: cart %s is checked_out', pg_temp.id('cart')), 'a cart is checked out once');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_add_item(%L, %L, 1)::text$$, pg_temp.id('cart'), :'p_base')),
          format('CD409: cart %s is checked_out: its items cannot change', pg_temp.id('cart')), 'a checked-out cart takes no items');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_carts_delete(%L)::text$$, pg_temp.id('cart'))),
          format('CD409: cart %s was checked out: its order names it', pg_temp.id('cart')), 'a checked-out cart is kept');
RESET ROLE;

-- The product's price changes afterwards: the order keeps its snapshot.
SET ROLE tap84_service;
UPDATE coditect.products SET unit_amount = 2999, name = 'Base v2' WHERE id = :'p_base';
RESET ROLE;
SELECT is((SELECT unit_amount || ' ' || product_name FROM coditect.order_lines WHERE order_id = pg_temp.id('order') AND product_id = :'p_base'),
          '1999 Base', 'a later price or name change leaves the order''s line as it was');

------------------------------------------------------------------------------------------------
-- Other currencies and rates
------------------------------------------------------------------------------------------------

-- pg_temp.checkout(user, product, quantity, country, state) -> the order's id, through the API.
CREATE FUNCTION pg_temp.checkout(p_user text, p_product uuid, p_qty int, p_country text, p_state text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    cart uuid := (pg_temp.as_user(p_user, 'member', $q$SELECT coditect.api_carts_create('{}') ->> 'id'$q$))::uuid;
BEGIN
    PERFORM pg_temp.as_user(p_user, 'member', format($q$SELECT coditect.cart_add_item(%L, %L, %s)::text$q$, cart, p_product, p_qty));
    RETURN (pg_temp.as_user(p_user, 'member', format($q$SELECT coditect.cart_checkout(%L, %L, %L) ->> 'id'$q$, cart, p_country, p_state)))::uuid;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.checkout(text, uuid, int, text, text) TO PUBLIC;
SET ROLE tap84_gateway;
SELECT pg_temp.put('gbp', pg_temp.checkout('member', :'p_gbp', 1, 'GB', NULL)) \gset
SELECT pg_temp.put('jpy', pg_temp.checkout('member', :'p_jpy', 3, 'JP', NULL)) \gset
SELECT pg_temp.put('kwd', pg_temp.checkout('member', :'p_kwd', 1, 'KW', NULL)) \gset
SELECT pg_temp.put('usd_ca', pg_temp.checkout('member2', :'p_base', 1, 'US', 'US-CA')) \gset
RESET ROLE;
SELECT results_eq($$SELECT o.currency::text, o.tax_inclusive, o.subtotal_amount, o.tax_amount, o.total_amount,
                           coditect.money_format(o.total_amount, o.currency)
                      FROM coditect.orders o WHERE o.id IN (pg_temp.id('gbp'), pg_temp.id('jpy'), pg_temp.id('kwd'), pg_temp.id('usd_ca'))
                     ORDER BY o.currency$$,
                  $$VALUES ('GBP', true, 833::bigint, 167::bigint, 1000::bigint, '10.00 GBP'),
                           ('JPY', false, 2997::bigint, 300::bigint, 3297::bigint, '3297 JPY'),
                           ('KWD', false, 1005::bigint, 101::bigint, 1106::bigint, '1.106 KWD'),
                           ('USD', false, 2999::bigint, 150::bigint, 3149::bigint, '31.49 USD')$$,
                  'inclusive VAT (in 10.00 GBP: 1.67), JPY (0 digits: 299.7 -> 300 yen), KWD (3 digits: 100.5 -> 101 fils), a US state without its own rate takes the country''s 5 % (of the new price 29.99: 1.4995 -> 1.50)');

------------------------------------------------------------------------------------------------
-- Totals checked by the database, whoever writes
------------------------------------------------------------------------------------------------

SELECT throws_ok(format($$UPDATE coditect.orders SET total_amount = total_amount + 1 WHERE id = %L$$, pg_temp.id('jpy')),
                 '23514', NULL, 'a total that is not subtotal + tax - discount is refused (CHECK)');
SELECT throws_ok(format($q$DO $d$ BEGIN
                            UPDATE coditect.orders SET subtotal_amount = subtotal_amount + 1, total_amount = total_amount + 1 WHERE id = %L;
                            SET CONSTRAINTS ALL IMMEDIATE;
                        END $d$$q$, pg_temp.id('jpy')),
                 'CD422', NULL, 'a subtotal that is not the sum of the lines is refused (checked at commit)');
SELECT throws_ok(format($q$DO $d$ BEGIN
                            UPDATE coditect.order_lines SET quantity = 4 WHERE order_id = %L;
                            SET CONSTRAINTS ALL IMMEDIATE;
                        END $d$$q$, pg_temp.id('jpy')),
                 'CD422', NULL, 'a line changed without its order''s totals is refused at commit');
SELECT lives_ok(format($q$DO $d$ BEGIN
                           UPDATE coditect.order_lines SET quantity = 4 WHERE order_id = %L;
                           UPDATE coditect.orders SET subtotal_amount = 3996, tax_amount = 400, total_amount = 4396 WHERE id = %L;
                           SET CONSTRAINTS ALL IMMEDIATE;
                       END $d$$q$, pg_temp.id('jpy'), pg_temp.id('jpy')),
                'a pending order changed with its totals (line re-taxed by tax_line: 399.6 -> 400) passes');
SET ROLE tap84_gateway;
SELECT is(pg_temp.try(format('UPDATE coditect.orders SET status = %L WHERE id = %L', 'paid', pg_temp.id('jpy'))),
          '42501: permission denied for table orders', 'clients do not write orders');
SELECT is(pg_temp.try(format('INSERT INTO coditect.payments (tenant_id, order_id, amount, currency) VALUES (%L, %L, 1, %L)',
                             current_setting('tap.tenant'), pg_temp.id('jpy'), 'JPY')),
          '42501: permission denied for table payments', 'clients do not write payments');

------------------------------------------------------------------------------------------------
-- Visibility: members their own orders, administrators all
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.as_user('member', 'member', $$SELECT jsonb_array_length(coditect.api_orders_list('{}') -> 'results')::text$$), '4', 'a member lists its own orders');
SELECT is(pg_temp.as_user('member2', 'member', $$SELECT jsonb_array_length(coditect.api_orders_list('{}') -> 'results')::text$$), '1', '... member2 its one');
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT jsonb_array_length(coditect.api_orders_list('{}') -> 'results')::text$$), '5', 'an administrator all five');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_orders_get(%L)::text$$, pg_temp.id('order'))),
          format('CD404: order %s not found', pg_temp.id('order')), 'another member''s order is not found');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT (coditect.api_order_lines_list(%L, '{}') ->> 'count')$$, pg_temp.id('order'))),
          format('CD404: order %s not found', pg_temp.id('order')), 'nor its lines');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT (coditect.api_order_lines_list(%L, '{}') ->> 'count')$$, pg_temp.id('order'))),
          '2', 'its placer reads its lines');

------------------------------------------------------------------------------------------------
-- Cancel; manual payment (service only)
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.order_cancel(%L)::text$$, pg_temp.id('kwd'))),
          format('CD404: order %s not found', pg_temp.id('kwd')), 'another member cannot cancel my order');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.order_cancel(%L) ->> 'status'$$, pg_temp.id('kwd'))),
          'cancelled', 'the placer cancels a pending order');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.order_mark_paid(%L, 'x')::text$$, pg_temp.id('order'))),
          '42501: permission denied for function order_mark_paid', 'the gateway cannot mark an order paid');
RESET ROLE;
SET ROLE tap84_service;
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.order_mark_paid(%L, 'wire 42')::text$$, pg_temp.id('kwd'))),
          format('CD409: order %s is cancelled: it takes no payment', pg_temp.id('kwd')), 'a cancelled order takes no payment');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.order_mark_paid(%L, 'wire 42') ->> 'amount'$$, pg_temp.id('order'))),
          '4897', 'the service records a manual payment of the order''s total');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.order_mark_paid(%L, 'wire 43')::text$$, pg_temp.id('order'))),
          format('CD409: order %s is paid: it takes no payment', pg_temp.id('order')), 'an order is paid once');
RESET ROLE;
SELECT results_eq(format($$SELECT o.status::text, o.paid_at IS NOT NULL, p.status::text, p.payment_method::text, p.currency::text,
                                  p.reference::text, p.succeeded_at IS NOT NULL
                             FROM coditect.orders o JOIN coditect.payments p ON p.order_id = o.id WHERE o.id = %L$$, pg_temp.id('order')),
                  $$VALUES ('paid', true, 'succeeded', 'manual', 'USD', 'wire 42', true)$$,
                  'the order is paid (stamped), the payment succeeded');
SELECT pg_temp.put('payment', (SELECT id FROM coditect.payments WHERE order_id = pg_temp.id('order'))) \gset
SELECT throws_ok(format($$INSERT INTO coditect.payments (tenant_id, order_id, amount, currency, status)
                          VALUES (%L, %L, 1, 'JPY', 'succeeded')$$, current_setting('tap.tenant'), pg_temp.id('jpy')),
                 'CD422', NULL, 'a payment is of the order''s total');

------------------------------------------------------------------------------------------------
-- A paid order cannot change, whoever writes
------------------------------------------------------------------------------------------------

SELECT throws_ok(format($$UPDATE coditect.orders SET billing_address = '{}' WHERE id = %L$$, pg_temp.id('order')),
                 'CD409', format('order %s is paid: nothing in it can change', pg_temp.id('order')), 'a paid order''s address is frozen');
SELECT throws_ok(format($$UPDATE coditect.orders SET discount_amount = 1, total_amount = total_amount - 1 WHERE id = %L$$, pg_temp.id('order')),
                 'CD409', NULL, 'a paid order''s amounts are frozen');
SELECT throws_ok(format($$UPDATE coditect.orders SET status = 'cancelled' WHERE id = %L$$, pg_temp.id('order')),
                 NULL, NULL, 'a paid order is not cancelled');
SELECT throws_ok(format($$UPDATE coditect.order_lines SET quantity = 1 WHERE order_id = %L$$, pg_temp.id('order')),
                 'CD409', NULL, 'a paid order''s lines are frozen');
SELECT throws_ok(format($$DELETE FROM coditect.order_lines WHERE order_id = %L$$, pg_temp.id('order')),
                 'CD409', NULL, 'a paid order''s lines are not deleted');
SELECT throws_ok(format($$INSERT INTO coditect.order_lines (tenant_id, order_id, product_id, product_name, unit_amount, quantity,
                                                             amount, net_amount, tax_amount, total_amount)
                          VALUES (%L, %L, %L, 'x', 1, 1, 0, 0, 0, 0)$$, current_setting('tap.tenant'), pg_temp.id('order'), :'p_base'),
                 'CD409', NULL, 'a paid order takes no line');
SELECT throws_ok(format($$DELETE FROM coditect.orders WHERE id = %L$$, pg_temp.id('order')),
                 'CD409', format('orders are kept: cancel order %s instead', pg_temp.id('order')), 'orders are not deleted');
SELECT throws_ok(format($$DELETE FROM coditect.payments WHERE order_id = %L$$, pg_temp.id('order')),
                 'CD409', 'payments are kept', 'payments are not deleted');
SELECT throws_ok(format($$UPDATE coditect.payments SET amount = 1 WHERE order_id = %L$$, pg_temp.id('order')),
                 'CD409', NULL, 'a payment''s amount does not change');

------------------------------------------------------------------------------------------------
-- Refunds: administrators, capped at what was paid
------------------------------------------------------------------------------------------------

SET ROLE tap84_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.order_refund(%L, 100)::text$$, pg_temp.id('order'))),
          'CD403: permission denied: order.refund needs a role that holds it (current role: member)', 'members do not refund');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.order_refund(%L, 100)::text$$, pg_temp.id('jpy'))),
          format('CD409: order %s has no payment to refund', pg_temp.id('jpy')), 'an unpaid order has nothing to refund');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.order_refund(%L, 1000, 'duplicate') ->> 'amount'$$, pg_temp.id('order'))),
          '1000', 'an administrator refunds 10.00 of 48.97');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_orders_get(%L) ->> 'status'$$, pg_temp.id('order'))),
          'partially_refunded', 'the order is partially refunded');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.order_refund(%L, 3898)::text$$, pg_temp.id('order'))),
          format('CD409: a refund of 38.98 USD exceeds what is left of payment %s (38.97 USD of 48.97 USD)', pg_temp.id('payment')),
          'a second refund over what is left is refused');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.order_refund(%L, 3897) ->> 'status'$$, pg_temp.id('order'))),
          'succeeded', 'the rest is refunded');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.order_refund(%L, 1)::text$$, pg_temp.id('order'))),
          format('CD409: a refund of 0.01 USD exceeds what is left of payment %s (0.00 USD of 48.97 USD)', pg_temp.id('payment')),
          'nothing more once all is refunded');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT (coditect.api_refunds_list(jsonb_build_object('order_id', %L)) ->> 'count')$$, pg_temp.id('order'))),
          '2', 'the placer reads its order''s refunds');
SELECT is(pg_temp.as_user('member2', 'member', $$SELECT (coditect.api_refunds_list('{}') ->> 'count')$$),
          '0', 'another member reads none');
RESET ROLE;
SELECT results_eq(format($$SELECT o.status::text, o.refunded_at IS NOT NULL, p.status::text, p.amount_refunded, p.refunded_at IS NOT NULL
                             FROM coditect.orders o JOIN coditect.payments p ON p.order_id = o.id WHERE o.id = %L$$, pg_temp.id('order')),
                  $$VALUES ('refunded', true, 'refunded', 4897::bigint, true)$$,
                  'order and payment fully refunded, stamped');
SELECT throws_ok(format($$INSERT INTO coditect.refunds (tenant_id, payment_id, order_id, amount, currency, status)
                          SELECT tenant_id, id, order_id, 1, currency, 'succeeded' FROM coditect.payments WHERE order_id = %L$$, pg_temp.id('order')),
                 'CD409', NULL, 'the cap holds for every writer');
SELECT throws_ok(format($$UPDATE coditect.refunds SET amount = 1 WHERE order_id = %L$$, pg_temp.id('order')),
                 'CD409', NULL, 'a refund''s amount does not change');
SELECT throws_ok(format($$DELETE FROM coditect.refunds WHERE order_id = %L$$, pg_temp.id('order')),
                 'CD409', 'refunds are kept', 'refunds are not deleted');
SELECT throws_ok($$UPDATE coditect.payments SET amount_refunded = amount + 1$$, '23514', NULL,
                 'a payment never has more refunded than paid (CHECK)');

------------------------------------------------------------------------------------------------
-- Expiry: 24 hours after the last change, expired on read, refused, and the job
------------------------------------------------------------------------------------------------

SET ROLE tap84_gateway;
SELECT pg_temp.put('old', (pg_temp.as_user('member', 'member', $$SELECT coditect.api_carts_create('{}') ->> 'id'$$))::uuid) \gset
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT (coditect.cart_add_item(%L, %L, 1) ->> 'expires_at')::timestamptz = now() + interval '24 hours'$$,
                                                     pg_temp.id('old'), :'p_base')),
          'true', 'a change moves the expiry to 24 hours later');
RESET ROLE;
ALTER TABLE coditect.carts DISABLE TRIGGER guard_cart;
UPDATE coditect.carts SET expires_at = now() - interval '1 minute' WHERE id = pg_temp.id('old');
ALTER TABLE coditect.carts ENABLE ALWAYS TRIGGER guard_cart;
SET ROLE tap84_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_carts_get(%L) ->> 'effective_status'$$, pg_temp.id('old'))),
          'expired', 'a cart past its expiry reads as expired before the job runs');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_add_item(%L, %L, 1)::text$$, pg_temp.id('old'), :'p_base')),
             format('CD409: cart %s expired at %%', pg_temp.id('old')), 'an expired cart takes no item');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.cart_checkout(%L, 'US', NULL)::text$$, pg_temp.id('old'))),
             format('CD409: cart %s expired at %%', pg_temp.id('old')), 'an expired cart is not checked out');
RESET ROLE;
SELECT results_eq($$SELECT * FROM coditect.expire_carts()$$, $$VALUES (1::bigint, 0::bigint)$$, 'the job marks the expired cart');
SELECT is((SELECT status::text FROM coditect.carts WHERE id = pg_temp.id('old')), 'expired', 'it is expired');
ALTER TABLE coditect.carts DISABLE TRIGGER guard_cart;
UPDATE coditect.carts SET expires_at = now() - interval '8 days' WHERE id = pg_temp.id('old');
ALTER TABLE coditect.carts ENABLE ALWAYS TRIGGER guard_cart;
SELECT results_eq($$SELECT * FROM coditect.expire_carts()$$, $$VALUES (0::bigint, 1::bigint)$$, 'a week later the job deletes it');
SELECT is((SELECT count(*)::int FROM coditect.cart_items WHERE cart_id = pg_temp.id('old')), 0, 'with its items');

------------------------------------------------------------------------------------------------
-- A user's deletion leaves its carts and orders, without their user
------------------------------------------------------------------------------------------------

SELECT lives_ok(format($$DELETE FROM coditect.users WHERE id = %L$$, current_setting('tap.user.member2')),
                'a member with a checked-out cart and an order is deleted');
SELECT results_eq(format($$SELECT o.user_id, c.user_id, c.status::text FROM coditect.orders o JOIN coditect.carts c ON c.id = o.cart_id
                            WHERE o.id = %L$$, pg_temp.id('usd_ca')),
                  $$VALUES (NULL::uuid, NULL::uuid, 'checked_out')$$, 'its order and cart stay, their user cleared');

SELECT * FROM finish();
ROLLBACK;
