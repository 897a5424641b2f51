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
SELECT dblink_exec('t86_' || g, 'BEGIN') FROM generate_series(1, 2) g;
SELECT count(*) FROM generate_series(1, 2) g,
       LATERAL dblink('t86_' || g, format($$SELECT coditect.set_request_context(%L, %L, 'owner')::text$$, :'tid', :'uid')) AS r(x text);

-- Two checkouts of one cart (Antarctica: no tax rate).
SELECT count(*) FROM dblink('t86_1', format($$SELECT coditect.cart_checkout(%L, 'AQ')::text$$, :'cart')) AS r(x text);
SELECT dblink_send_query('t86_2', format($$SELECT coditect.cart_checkout(%L, 'AQ')$$, :'cart'));
SELECT dblink_exec('t86_1', 'COMMIT');
SELECT count(*) FROM dblink_get_result('t86_2', false) AS r(x text);
SELECT alike(dblink_error_message('t86_2'), format('ERROR:  cart %s is checked_out%%', :'cart'), 'the second checkout is refused: the cart is checked out');
SELECT count(*) FROM dblink_get_result('t86_2', false) AS r(x text);  -- the end of it
SELECT dblink_exec('t86_2', 'ROLLBACK');
SELECT is((SELECT count(*)::int FROM coditect.orders WHERE tenant_id = :'tid' AND cart_id = :'cart'), 1, 'exactly one order');
SELECT is((SELECT count(*)::int FROM coditect.order_lines WHERE tenant_id = :'tid'), 1, 'with its one line');
SELECT id AS ord FROM coditect.orders WHERE tenant_id = :'tid' AND cart_id = :'cart' \gset

-- Two checkouts racing for a code's last redemption (two carts): the second waits on the slot,
-- then finds none left.
INSERT INTO coditect.coupons (code, percent_off, max_redemptions) VALUES ('T86ONCE', 10, 1) RETURNING id AS coupon \gset
INSERT INTO coditect.carts (tenant_id, user_id, coupon_id, discount_code) VALUES (:'tid', :'uid', :'coupon', 'T86ONCE') RETURNING id AS c1 \gset
INSERT INTO coditect.carts (tenant_id, user_id, coupon_id, discount_code) VALUES (:'tid', :'uid', :'coupon', 'T86ONCE') RETURNING id AS c2 \gset
INSERT INTO coditect.cart_items (tenant_id, cart_id, product_id, quantity) VALUES (:'tid', :'c1', :'product', 1), (:'tid', :'c2', :'product', 1);
SELECT dblink_exec('t86_' || g, 'BEGIN') FROM generate_series(1, 2) g;
SELECT count(*) FROM generate_series(1, 2) g,
       LATERAL dblink('t86_' || g, format($$SELECT coditect.set_request_context(%L, %L, 'owner')::text$$, :'tid', :'uid')) AS r(x text);
SELECT count(*) FROM dblink('t86_1', format($$SELECT coditect.cart_checkout(%L, 'AQ')::text$$, :'c1')) AS r(x text);
SELECT dblink_send_query('t86_2', format($$SELECT coditect.cart_checkout(%L, 'AQ')$$, :'c2'));
SELECT dblink_exec('t86_1', 'COMMIT');
SELECT count(*) FROM dblink_get_result('t86_2', false) AS r(x text);
SELECT alike(dblink_error_message('t86_2'), 'ERROR:  discount code "T86ONCE" has been redeemed its 1 times%',
             'the second checkout is refused: the code''s one redemption is taken');
SELECT count(*) FROM dblink_get_result('t86_2', false) AS r(x text);
SELECT dblink_exec('t86_2', 'ROLLBACK');
SELECT is((SELECT count(*)::int FROM coditect.orders WHERE tenant_id = :'tid' AND coupon_id = :'coupon'), 1, 'one order with the code');
SELECT is(coditect.coupon_times_redeemed(:'coupon'), 1, 'one redemption');

-- Paid (the payment pays the order), then two refunds of 600 of 1000.
INSERT INTO coditect.payments (tenant_id, order_id, amount, currency, status) VALUES (:'tid', :'ord', 1000, 'USD', 'succeeded');
SELECT dblink_exec('t86_' || g, 'BEGIN') FROM generate_series(1, 2) g;
SELECT count(*) FROM generate_series(1, 2) g,
       LATERAL dblink('t86_' || g, format($$SELECT coditect.set_request_context(%L, %L, 'owner')::text$$, :'tid', :'uid')) AS r(x text);
SELECT count(*) FROM dblink('t86_1', format($$SELECT coditect.order_refund(%L, 600)::text$$, :'ord')) AS r(x text);
SELECT dblink_send_query('t86_2', format($$SELECT coditect.order_refund(%L, 600)$$, :'ord'));
SELECT dblink_exec('t86_1', 'COMMIT');
SELECT count(*) FROM dblink_get_result('t86_2', false) AS r(x text);
SELECT alike(dblink_error_message('t86_2'), 'ERROR:  a refund of 6.00 USD exceeds what is left of payment % (4.00 USD of 10.00 USD)%',
             'the second refund is refused: it would exceed the payment');
SELECT count(*) FROM dblink_get_result('t86_2', false) AS r(x text);
SELECT dblink_exec('t86_2', 'ROLLBACK');
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
