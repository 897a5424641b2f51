-- Guest carts (sql/87_guest_carts.sql): a cart before sign-in, reached only by its token; one
-- guest cart cannot reach another; unknown and expired tokens are not found; the one-currency
-- and product rules; claiming it at sign-in makes a cart of the user's tenant and ends the
-- token; no client reads the table. Through the functions as a gateway login (as the gateway
-- calls them, without a request context for the public ones). Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql

\set fx t87
\ir lib/tenants.psql
\ir lib/as_user.psql
CREATE ROLE tap87_gateway LOGIN IN ROLE coditect_gateway;
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('t87 Book', 1500, 'USD') RETURNING id AS book \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('t87 Pen', 250, 'USD') RETURNING id AS pen \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('t87 Yen thing', 500, 'JPY') RETURNING id AS yen \gset
INSERT INTO coditect.products (name, unit_amount, currency, active) VALUES ('t87 Gone', 100, 'USD', false) RETURNING id AS gone \gset

SET ROLE tap87_gateway;
SELECT coditect.guest_cart_create() AS g1 \gset
SELECT coditect.guest_cart_create() AS g2 \gset
SELECT :'g1'::jsonb ->> 'token' AS t1, :'g2'::jsonb ->> 'token' AS t2 \gset
SELECT isnt(:'t1'::text, :'t2'::text, 'each guest cart has its own token');
SELECT is(:'g1'::jsonb - 'token' - 'expires_at', '{"items": [], "currency": null, "subtotal": 0}'::jsonb, 'a new guest cart is empty');
SELECT is(coditect.guest_cart_add(:'t1'::uuid, :'book'::uuid, 2) -> 'items', jsonb_build_array(jsonb_build_object('product_id', :'book'::uuid, 'name', 't87 Book', 'unit_amount', 1500, 'quantity', 2)),
          'a visitor adds a product');
SELECT is(coditect.guest_cart_add(:'t1'::uuid, :'book'::uuid, 1) -> 'items' -> 0 ->> 'quantity', '3', 'adding it again adds to the quantity');
SELECT is(coditect.guest_cart_add(:'t1'::uuid, :'pen'::uuid) ->> 'subtotal', '4750', 'the subtotal at the products'' prices');
SELECT is(coditect.guest_cart_add(:'t2'::uuid, :'pen'::uuid, 4) ->> 'subtotal', '1000', 'the other cart is its own');
SELECT is((coditect.guest_cart_view(:'t1'::uuid) -> 'items') @> jsonb_build_array(jsonb_build_object('product_id', :'pen'::uuid)), true, 'cart 1 has its pen');
SELECT is(jsonb_array_length(coditect.guest_cart_view(:'t2'::uuid) -> 'items'), 1, 'cart 2 has only its own item: one token reaches one cart');
SELECT is(coditect.guest_cart_view(gen_random_uuid()), NULL, 'an unknown token is not found');
SELECT is(coditect.guest_cart_add(gen_random_uuid(), :'pen'::uuid), NULL, 'nor added to');
SELECT is(pg_temp.try(format($$SELECT coditect.guest_cart_add(%L, %L)$$, :'t1', :'yen')),
          'CD422: product "t87 Yen thing" is priced in JPY, this cart in USD', 'one currency per cart');
SELECT is(pg_temp.try(format($$SELECT coditect.guest_cart_add(%L, %L)$$, :'t1', :'gone')),
          format('CD422: product %s is not for sale', :'gone'), 'an inactive product is refused');
SELECT is(pg_temp.try(format($$SELECT coditect.guest_cart_add(%L, %L, 0)$$, :'t1', :'pen')), 'CD400: a quantity is 1 to 10000', 'a quantity is positive');
SELECT is(pg_temp.try(format($$SELECT coditect.guest_cart_add(%L, NULL)$$, :'t1')), 'CD400: product_id is required', 'a product is named');
SELECT is(pg_temp.try($$SELECT * FROM coditect_internal.guest_carts$$), '42501: permission denied for table guest_carts',
          'no client reads the guest carts');
SELECT is(pg_temp.try(format($$SELECT coditect.guest_cart_claim(%L)$$, :'t1')), 'CD403: permission denied: cart.create needs a role that holds it (current role: none)',
          'claiming needs a signed-in user');

-- At sign-in: the guest cart becomes a cart of the member's tenant.
SELECT pg_temp.put('claimed', (pg_temp.as_user('member', 'member', format($$SELECT coditect.guest_cart_claim(%L)::text$$, :'t1'))::jsonb ->> 'id')::uuid) IS NOT NULL AS _ \gset
SELECT is((SELECT concat_ws('|', c.tenant_id = current_setting('tap.tenant')::uuid, c.user_id = pg_temp.id('member'), c.currency, c.status)
             FROM coditect.carts c WHERE c.id = pg_temp.id('claimed')), 't|t|USD|active', 'a cart of the member, in the member''s tenant');
SELECT is((SELECT string_agg(p.name || ' x' || i.quantity || ' @' || i.unit_amount, ', ' ORDER BY p.name)
             FROM coditect.cart_items i JOIN coditect.products p ON p.id = i.product_id WHERE i.cart_id = pg_temp.id('claimed')),
          't87 Book x3 @1500, t87 Pen x1 @250', 'with the guest cart''s items');
SELECT is(coditect.guest_cart_view(:'t1'::uuid), NULL, 'the token no longer reaches anything');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.guest_cart_claim(%L)::text$$, :'t1')), 'CD404: guest cart not found',
          'and cannot be claimed twice');
RESET ROLE;

-- Expiry: 24 hours after the last change, then not found, and purged by the cart job.
UPDATE coditect_internal.guest_carts SET expires_at = now() - interval '1 second' WHERE token_hash = coditect_internal.share_token_hash(:'t2'::uuid);
SET ROLE tap87_gateway;
SELECT is(coditect.guest_cart_view(:'t2'::uuid), NULL, 'an expired guest cart is not found');
RESET ROLE;
SELECT is((coditect.expire_carts()).deleted >= 1, true, 'the cart job purges it');
SELECT is((SELECT count(*) FROM coditect_internal.guest_carts WHERE token_hash = coditect_internal.share_token_hash(:'t2'::uuid)), 0::bigint, 'gone');

SELECT * FROM finish();
ROLLBACK;
