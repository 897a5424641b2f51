-- bench/commerce.sh's data (as superuser): tenants, three products, a tax rate, the baseline's
-- plain tables, and the functions that add prepared carts and pending orders (with their Stripe
-- events) to the pools the pgbench clients draw from. psql variables: tenants (the number of
-- checkout/webhook tenants).
CREATE EXTENSION pgcrypto;  -- hmac(): the benchmark signs its events itself, as Stripe does
CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway;
CREATE SCHEMA bench;

-- The checkout and webhook tenants (their owners check out) and the list tenant (n = 0), each
-- with its Stripe customer id.
CREATE TABLE bench.tenants (
    n         int PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id   uuid NOT NULL,
    customer  text NOT NULL UNIQUE
);
INSERT INTO bench.tenants (n, tenant_id, user_id, customer)
SELECT i, (r ->> 'tenant_id')::uuid, (r ->> 'user_id')::uuid, 'cus_' || replace(r ->> 'tenant_id', '-', '')
  FROM generate_series(0, :tenants) AS i,
       LATERAL coditect.create_tenant('Shop ' || i, 'bench-shop-' || i, 'shop' || i || '@bench.example',
                                      'owner' || i || '@bench.example') AS r;
-- The baseline's binding of customers to tenants (ours: tenants.stripe_customer_id).
CREATE TABLE bench.stripe_customers AS SELECT customer, tenant_id FROM bench.tenants;
ALTER TABLE bench.stripe_customers ADD PRIMARY KEY (customer);

-- Every cart: 2 x 19.99 + 1 x 5.00 + 1 x 49.00 USD, checked out to New York (8.875 % exclusive).
CREATE TABLE bench.products (k int PRIMARY KEY, id uuid NOT NULL, unit_amount bigint NOT NULL, quantity int NOT NULL);
WITH p AS (
    INSERT INTO coditect.products (name, unit_amount, currency)
    VALUES ('Bench book', 1999, 'USD'), ('Bench pen', 500, 'USD'), ('Bench lamp', 4900, 'USD')
    RETURNING id, name, unit_amount)
INSERT INTO bench.products (k, id, unit_amount, quantity)
SELECT CASE name WHEN 'Bench book' THEN 1 WHEN 'Bench pen' THEN 2 ELSE 3 END, id, unit_amount,
       CASE name WHEN 'Bench book' THEN 2 ELSE 1 END
  FROM p;
INSERT INTO coditect.tax_rates (display_name, percentage, jurisdiction, country_code, state_code, tax_type, inclusive)
VALUES ('NY sales tax (8.875%)', 8.875, 'New York', 'US', 'US-NY', 'sales_tax', false);

-- The baseline's tables: the same columns, defaults and indexes, without triggers, policies,
-- checks or foreign keys.
CREATE TABLE bench.carts (LIKE coditect.carts INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE bench.cart_items (LIKE coditect.cart_items INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE bench.orders (LIKE coditect.orders INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE bench.order_lines (LIKE coditect.order_lines INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE bench.payments (LIKE coditect.payments INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE bench.stripe_events (LIKE coditect_internal.stripe_events INCLUDING DEFAULTS INCLUDING INDEXES);

-- The pools: row n is the n-th transaction's cart (or event); each pgbench transaction takes the
-- next n from the pool's sequence, so no two clients share a cart or an order.
CREATE TABLE bench.carts_ours (n bigint PRIMARY KEY, tenant_id uuid NOT NULL, user_id uuid NOT NULL, cart_id uuid NOT NULL);
CREATE TABLE bench.carts_base (LIKE bench.carts_ours INCLUDING ALL, order_id uuid NOT NULL);
CREATE TABLE bench.events_ours (n bigint PRIMARY KEY, tenant_id uuid NOT NULL, order_id uuid NOT NULL,
                                body text NOT NULL, sig text);
CREATE TABLE bench.events_base (LIKE bench.events_ours INCLUDING ALL);
CREATE SEQUENCE bench.carts_ours_n;
CREATE SEQUENCE bench.carts_base_n;
CREATE SEQUENCE bench.events_ours_n;
CREATE SEQUENCE bench.events_base_n;
GRANT USAGE ON SCHEMA bench TO bench_gw;
GRANT SELECT ON bench.carts_ours, bench.events_ours TO bench_gw;
GRANT USAGE ON SEQUENCE bench.carts_ours_n, bench.events_ours_n TO bench_gw;

-- pool_left(kind): rows of the pool not taken yet (kind: carts_ours, carts_base, events_ours,
-- events_base); negative when clients asked for more than there was.
CREATE FUNCTION bench.pool_left(p_kind text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    top bigint;
    used bigint;
BEGIN
    EXECUTE format('SELECT coalesce(max(n), 0) FROM bench.%I', p_kind) INTO top;
    EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bench.%I', p_kind || '_n') INTO used;
    RETURN top - used;
END $$;

-- add_carts(kind, count): count more active carts of 3 items, round-robin over the tenants,
-- owned by the tenants' owners; 'ours' in coditect.carts / cart_items (the caller turns their
-- triggers off around it), 'base' in the baseline's tables (with the order id it will write).
CREATE FUNCTION bench.add_carts(p_kind text, p_count int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first bigint;
    tenants int := (SELECT count(*) FROM bench.tenants WHERE n > 0);
    s text := CASE p_kind WHEN 'ours' THEN 'coditect' ELSE 'bench' END;
BEGIN
    EXECUTE format('SELECT coalesce(max(n), 0) + 1 FROM bench.%I', 'carts_' || p_kind) INTO first;
    EXECUTE format($q$
        INSERT INTO bench.%I (n, tenant_id, user_id, cart_id%s)
        SELECT i, t.tenant_id, t.user_id, coditect.uuid_generate_v7()%s
          FROM generate_series($1, $1 + $2 - 1) AS i JOIN bench.tenants t ON t.n = 1 + i %% $3$q$,
        'carts_' || p_kind, CASE p_kind WHEN 'base' THEN ', order_id' ELSE '' END,
        CASE p_kind WHEN 'base' THEN ', coditect.uuid_generate_v7()' ELSE '' END) USING first, p_count, tenants;
    EXECUTE format($q$
        INSERT INTO %I.carts (tenant_id, id, user_id, currency, status, expires_at)
        SELECT tenant_id, cart_id, user_id, 'USD', 'active', now() + interval '24 hours' FROM bench.%I WHERE n >= $1 ORDER BY n$q$,
        s, 'carts_' || p_kind) USING first;
    EXECUTE format($q$
        INSERT INTO %I.cart_items (tenant_id, cart_id, product_id, quantity, unit_amount, currency)
        SELECT c.tenant_id, c.cart_id, p.id, p.quantity, p.unit_amount, 'USD'
          FROM bench.%I c CROSS JOIN bench.products p WHERE c.n >= $1 ORDER BY c.n, p.k$q$,
        s, 'carts_' || p_kind) USING first;
END $$;

-- add_events(kind, count): count more pending orders (the cart's three lines, priced with the
-- same rate as a checkout), round-robin over the tenants, each with its payment_intent.succeeded
-- event (unsigned: sign_events signs them). 'ours' in coditect.orders / order_lines (triggers
-- off around it, by the caller), 'base' in the baseline's tables.
CREATE FUNCTION bench.add_events(p_kind text, p_count int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first bigint;
    tenants int := (SELECT count(*) FROM bench.tenants WHERE n > 0);
    s text := CASE p_kind WHEN 'ours' THEN 'coditect' ELSE 'bench' END;
    rate coditect.tax_rates;
    net bigint;
    tax bigint;
BEGIN
    SELECT * INTO rate FROM coditect.tax_rates WHERE state_code = 'US-NY';
    SELECT sum((coditect.tax_line(unit_amount * quantity, rate.percentage, rate.inclusive)).net),
           sum((coditect.tax_line(unit_amount * quantity, rate.percentage, rate.inclusive)).tax)
      INTO net, tax FROM bench.products;
    EXECUTE format('SELECT coalesce(max(n), 0) + 1 FROM bench.%I', 'events_' || p_kind) INTO first;
    EXECUTE format($q$
        INSERT INTO bench.%I (n, tenant_id, order_id, body)
        SELECT o.i, t.tenant_id, o.id,
               jsonb_build_object('id', 'evt_' || $4 || '_' || o.i, 'object', 'event', 'type', 'payment_intent.succeeded',
                                  'created', floor(extract(epoch FROM now()))::bigint, 'livemode', false,
                                  'data', jsonb_build_object('object', jsonb_build_object(
                                      'id', 'pi_' || $4 || '_' || o.i, 'object', 'payment_intent',
                                      'amount_received', $5::bigint, 'currency', 'usd', 'customer', t.customer,
                                      'metadata', jsonb_build_object('order_id', o.id),
                                      'latest_charge', 'ch_' || $4 || '_' || o.i)))::text
          FROM (SELECT i, coditect.uuid_generate_v7() AS id FROM generate_series($1, $1 + $2 - 1) AS i) o
          JOIN bench.tenants t ON t.n = 1 + o.i %% $3$q$,
        'events_' || p_kind) USING first, p_count, tenants, p_kind, net + tax;
    EXECUTE format($q$
        INSERT INTO %I.orders (tenant_id, id, user_id, status, currency, subtotal_amount, tax_amount, total_amount,
                               tax_rate_id, tax_display_name, tax_percentage, tax_inclusive,
                               billing_country_code, billing_state_code, billing_address)
        SELECT e.tenant_id, e.order_id, t.user_id, 'pending', 'USD', $2, $3, $2 + $3, $4, $5, $6, $7, 'US', 'US-NY',
               '{"line1": "1 Main St", "city": "Albany"}'
          FROM bench.%I e JOIN bench.tenants t ON t.tenant_id = e.tenant_id WHERE e.n >= $1 ORDER BY e.n$q$,
        s, 'events_' || p_kind) USING first, net, tax, rate.id, rate.display_name, rate.percentage, rate.inclusive;
    EXECUTE format($q$
        INSERT INTO %I.order_lines (tenant_id, order_id, product_id, product_name, unit_amount, quantity,
                                    amount, net_amount, tax_amount, total_amount)
        SELECT e.tenant_id, e.order_id, p.id, 'Bench product ' || p.k, p.unit_amount, p.quantity,
               p.unit_amount * p.quantity, (l).net, (l).tax, (l).gross
          FROM bench.%I e CROSS JOIN bench.products p
         CROSS JOIN LATERAL (SELECT coditect.tax_line(p.unit_amount * p.quantity, $2, $3) AS l) x
         WHERE e.n >= $1 ORDER BY e.n, p.k$q$,
        s, 'events_' || p_kind) USING first, rate.percentage, rate.inclusive;
END $$;

-- sign_events(secret): signs every event of our pool not taken yet with the time now, as Stripe
-- does (Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>), so that
-- none is older than the receiver's 300 s tolerance when a slice takes it.
CREATE FUNCTION bench.sign_events(p_secret text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t text := floor(extract(epoch FROM clock_timestamp()))::bigint::text;
BEGIN
    UPDATE bench.events_ours
       SET sig = 't=' || t || ',v1=' || encode(hmac(convert_to(t || '.' || body, 'UTF8'), convert_to(p_secret, 'UTF8'), 'sha256'), 'hex')
     WHERE n > (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bench.events_ours_n);
END $$;
