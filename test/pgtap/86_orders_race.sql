-- Checkout and refunds under concurrent sessions (dblink, as a gateway login): two checkouts of
-- one cart make exactly one order; two checkouts racing for a code's last redemption make one
-- order with it; two refunds of one payment that together exceed it leave one
-- refund, within the payment. The second session is sent while the first holds its transaction
-- open, so it either waits on the lock or comes after the commit: the outcome is the same.
-- Committed fixtures, removed at the end.
\set ON_ERROR_STOP 1
SELECT no_plan();

CREATE EXTENSION IF NOT EXISTS dblink;
CREATE ROLE tap86_gateway LOGIN IN ROLE coditect_gateway;
SELECT coditect.create_tenant('Orders race', 't86-race', 'r@t86.test', 'owner@t86.test') AS j \gset
SELECT :'j'::jsonb ->> 'tenant_id' AS tid, :'j'::jsonb ->> 'user_id' AS uid \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('t86 raced product', 1000, 'USD') RETURNING id AS product \gset
INSERT INTO coditect.carts (tenant_id, user_id) VALUES (:'tid', :'uid') RETURNING id AS cart \gset
INSERT INTO coditect.cart_items (tenant_id, cart_id, product_id, quantity) VALUES (:'tid', :'cart', :'product', 1);

SELECT dblink_connect('t86_' || g, format('host=%s port=%s dbname=%s user=tap86_gateway',
                                          split_part(current_setting('unix_socket_directories'), ',', 1),
                                          current_setting('port'), current_database()))
  FROM generate_series(1, 2) g;
SELECT set_config('t86.tenant', :'tid', false), set_config('t86.user', :'uid', false) \gset
-- Both sessions begin in the owner's context; the first runs p_first and holds its transaction
-- open while the second's p_second is sent, then commits. Answers the second's error message
-- (its transaction rolled back).
CREATE FUNCTION pg_temp.race(p_first text, p_second text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text;
BEGIN
    PERFORM dblink_exec('t86_' || g, 'BEGIN') FROM generate_series(1, 2) g;
    PERFORM FROM generate_series(1, 2) g,
            LATERAL dblink('t86_' || g, format($q$SELECT coditect.set_request_context(%L, %L, 'owner')::text$q$,
                                              current_setting('t86.tenant'), current_setting('t86.user'))) AS r(x text);
    PERFORM FROM dblink('t86_1', p_first) AS r(x text);
    PERFORM dblink_send_query('t86_2', p_second);
    PERFORM dblink_exec('t86_1', 'COMMIT');
    PERFORM FROM dblink_get_result('t86_2', false) AS r(x text);
    msg := dblink_error_message('t86_2');
    PERFORM FROM dblink_get_result('t86_2', false) AS r(x text);  -- the end of it
    PERFORM dblink_exec('t86_2', 'ROLLBACK');
    RETURN msg;
END $$;

-- Two checkouts of one cart (Antarctica: no tax rate).
SELECT alike(pg_temp.race(format($$SELECT coditect.cart_checkout(%L, 'AQ')::text$$, :'cart'),
                          format($$SELECT coditect.cart_checkout(%L, 'AQ')::text$$, :'cart')),
             format('ERROR:  cart %s is checked_out%%', :'cart'), 'the second checkout is refused: the cart is checked out');
SELECT is((SELECT count(*)::int FROM coditect.orders WHERE tenant_id = :'tid' AND cart_id = :'cart'), 1, 'exactly one order');
SELECT is((SELECT count(*)::int FROM coditect.order_lines WHERE tenant_id = :'tid'), 1, 'with its one line');
SELECT id AS ord FROM coditect.orders WHERE tenant_id = :'tid' AND cart_id = :'cart' \gset

-- Two checkouts racing for a code's last redemption (two carts): the second waits on the slot,
-- then finds none left.
INSERT INTO coditect.coupons (code, percent_off, max_redemptions) VALUES ('T86ONCE', 10, 1) RETURNING id AS coupon \gset
INSERT INTO coditect.carts (tenant_id, user_id, coupon_id, discount_code) VALUES (:'tid', :'uid', :'coupon', 'T86ONCE') RETURNING id AS c1 \gset
INSERT INTO coditect.carts (tenant_id, user_id, coupon_id, discount_code) VALUES (:'tid', :'uid', :'coupon', 'T86ONCE') RETURNING id AS c2 \gset
INSERT INTO coditect.cart_items (tenant_id, cart_id, product_id, quantity) VALUES (:'tid', :'c1', :'product', 1), (:'tid', :'c2', :'product', 1);
SELECT alike(pg_temp.race(format($$SELECT coditect.cart_checkout(%L, 'AQ')::text$$, :'c1'),
                          format($$SELECT coditect.cart_checkout(%L, 'AQ')::text$$, :'c2')),
             'ERROR:  discount code "T86ONCE" has been redeemed its 1 times%',
             'the second checkout is refused: the code''s one redemption is taken');
SELECT is((SELECT count(*)::int FROM coditect.orders WHERE tenant_id = :'tid' AND coupon_id = :'coupon'), 1, 'one order with the code');
SELECT is(coditect.coupon_times_redeemed(:'coupon'), 1, 'one redemption');

-- Paid (the payment pays the order), then two refunds of 600 of 1000.
INSERT INTO coditect.payments (tenant_id, order_id, amount, currency, status) VALUES (:'tid', :'ord', 1000, 'USD', 'succeeded');
SELECT alike(pg_temp.race(format($$SELECT coditect.order_refund(%L, 600)::text$$, :'ord'),
                          format($$SELECT coditect.order_refund(%L, 600)::text$$, :'ord')),
             'ERROR:  a refund of 6.00 USD exceeds what is left of payment % (4.00 USD of 10.00 USD)%',
             'the second refund is refused: it would exceed the payment');
SELECT dblink_disconnect('t86_' || g) FROM generate_series(1, 2) g;

SELECT is((SELECT sum(amount)::int FROM coditect.refunds WHERE tenant_id = :'tid'), 600, 'one refund of 6.00: within the 10.00 paid');
SELECT is((SELECT amount_refunded::int FROM coditect.payments WHERE tenant_id = :'tid'), 600, 'the payment counts exactly that');
SELECT is((SELECT status::text FROM coditect.orders WHERE tenant_id = :'tid' AND id = :'ord'), 'partially_refunded', 'the order is partially refunded');

SELECT * FROM finish();

SELECT coditect.purge_tenant(:'tid');
DELETE FROM coditect_internal.coupon_redemptions WHERE coupon_id = :'coupon';
DELETE FROM coditect.coupons WHERE id = :'coupon';
DELETE FROM coditect.products WHERE id = :'product';
DROP ROLE tap86_gateway;
