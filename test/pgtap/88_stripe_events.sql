-- Stripe's events mapped onto the tables (sql/88_invoices.sql): the customer -> tenant mapping,
-- the unit map, an order paid by payment_intent.succeeded (entitlement and license issued) or by
-- checkout.session.completed, an amount or currency mismatch refused, a failed payment and its
-- retry, charge.refunded partial and full and over the cap, a replayed event, an unknown
-- customer, another tenant's order or subscription, an invoice's lifecycle and immutability, a
-- subscription created, paid by invoice.paid, updated (stale events skipped) and deleted
-- (entitlement and license ended), who reads invoices. Events shaped as Stripe documents them,
-- signed with the test's own HMAC and delivered as the gateway does. Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql

\set fx t88
\ir lib/tenants.psql
\ir lib/as_user.psql
\ir lib/sign.psql
CREATE ROLE tap88_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap88_service LOGIN IN ROLE coditect_service;
\set secret 'whsec_tap88_0123456789abcdef'
SELECT coditect.set_stripe_webhook_secret(:'secret');

-- An event as Stripe sends it, signed now, delivered as the gateway does (no login): its answer,
-- or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.hook(p_id text, p_type text, p_object jsonb, p_created bigint DEFAULT 1719835200) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    body text := jsonb_build_object('id', p_id, 'object', 'event', 'api_version', '2024-06-20', 'created', p_created,
                                    'data', jsonb_build_object('object', p_object), 'livemode', false, 'pending_webhooks', 1,
                                    'request', jsonb_build_object('id', NULL, 'idempotency_key', NULL), 'type', p_type)::text;
BEGIN
    RETURN coditect.stripe_webhook(pg_temp.sign('whsec_tap88_0123456789abcdef', body), convert_to(body, 'UTF8'))::text;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- status[: reason] of an answer
CREATE FUNCTION pg_temp.outcome(p_answer text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN p_answer LIKE '{%' THEN concat_ws(': ', p_answer::jsonb ->> 'status', p_answer::jsonb ->> 'reason') ELSE p_answer END
$$;
-- A PaymentIntent object.
CREATE FUNCTION pg_temp.pi(p_id text, p_customer text, p_order uuid, p_amount bigint, p_currency text, p_status text DEFAULT 'succeeded')
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', p_id, 'object', 'payment_intent', 'amount', p_amount, 'amount_received',
                              CASE WHEN p_status = 'succeeded' THEN p_amount ELSE 0 END, 'currency', p_currency, 'customer', p_customer,
                              'status', p_status, 'latest_charge', 'ch_' || substr(p_id, 4), 'payment_method_types', '["card"]'::jsonb,
                              'metadata', jsonb_build_object('order_id', p_order))
$$;
-- A Charge with its refunds ([id, amount, status] ...).
CREATE FUNCTION pg_temp.charge(p_pi text, p_customer text, p_amount bigint, p_currency text, VARIADIC p_refunds text[])
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', 'ch_' || substr(p_pi, 4), 'object', 'charge', 'amount', p_amount, 'currency', p_currency,
                              'customer', p_customer, 'payment_intent', p_pi, 'refunded', false,
                              'amount_refunded', (SELECT coalesce(sum(split_part(r, ':', 2)::bigint), 0) FROM unnest(p_refunds) r),
                              'refunds', jsonb_build_object('object', 'list', 'has_more', false, 'data',
                                  (SELECT coalesce(jsonb_agg(jsonb_build_object('id', split_part(r, ':', 1), 'object', 'refund',
                                                                                'amount', split_part(r, ':', 2)::bigint, 'currency', p_currency,
                                                                                'charge', 'ch_' || substr(p_pi, 4), 'payment_intent', p_pi,
                                                                                'reason', 'requested_by_customer', 'status', split_part(r, ':', 3),
                                                                                'created', 1719835300 + o)
                                                             ORDER BY o), '[]')
                                     FROM unnest(p_refunds) WITH ORDINALITY x(r, o))))
$$;
CREATE FUNCTION pg_temp.checkout(p_product uuid, p_qty int) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    cart uuid := (pg_temp.as_user('member', 'member', $q$SELECT coditect.api_carts_create('{}') ->> 'id'$q$))::uuid;
BEGIN
    PERFORM pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_add_item(%L, %L, %s)::text$q$, cart, p_product, p_qty));
    RETURN (pg_temp.as_user('member', 'member', format($q$SELECT coditect.cart_checkout(%L, 'US', NULL) ->> 'id'$q$, cart)))::uuid;
END $$;
CREATE FUNCTION pg_temp.order_state(p_order uuid) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('|', o.status, o.stripe_payment_intent_id, o.stripe_checkout_session_id,
                     (SELECT string_agg(concat_ws(':', p.status, p.stripe_charge_id, p.amount, p.amount_refunded, p.payment_method,
                                                  p.failure_code, p.failure_message), ',' ORDER BY p.created_at)
                        FROM coditect.payments p WHERE p.tenant_id = o.tenant_id AND p.order_id = o.id),
                     (SELECT string_agg(concat_ws(':', r.stripe_refund_id, r.amount, r.status), ',' ORDER BY r.created_at, r.stripe_refund_id)
                        FROM coditect.refunds r WHERE r.tenant_id = o.tenant_id AND r.order_id = o.id))
      FROM coditect.orders o WHERE o.id = p_order
$$;
CREATE FUNCTION pg_temp.entitled(p_order uuid) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(concat_ws('|', e.status, l.tier, l.seats_total, l.is_active), ';' ORDER BY e.created_at)
      FROM coditect.order_lines ol JOIN coditect.entitlements e ON e.tenant_id = ol.tenant_id AND e.source_id = ol.id
      LEFT JOIN coditect.licenses l ON l.tenant_id = e.tenant_id AND l.id = e.license_id
     WHERE ol.order_id = p_order
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

------------------------------------------------------------------------------------------------
-- The unit map
------------------------------------------------------------------------------------------------

SELECT results_eq($$SELECT coditect.stripe_currency_exponent(c), coditect.stripe_amount(a, c)
                      FROM (VALUES ('jpy', 500), ('usd', 1999), ('kwd', 1230), ('isk', 500), ('ugx', 250000), ('lak', 12300),
                                   ('huf', 1999), ('JPY', 7)) v(c, a)$$,
                  $$VALUES (0::smallint, 500::bigint), (2::smallint, 1999::bigint), (3::smallint, 1230::bigint), (2::smallint, 5::bigint),
                           (2::smallint, 2500::bigint), (2::smallint, 123::bigint), (2::smallint, 1999::bigint), (0::smallint, 7::bigint)$$,
                  'Stripe''s amounts in our minor units: JPY, USD and KWD as they are, ISK and UGX (two-decimal at Stripe) and LAK divided by 100');
SELECT is(pg_temp.try($$SELECT coditect.stripe_amount(550, 'isk')$$),
          'CD422: Stripe amount 550 ISK (2 decimals) is not a whole number of ISK minor units (0 decimals)', 'a fraction of a krona is refused');
SELECT is(pg_temp.try($$SELECT coditect.stripe_amount(10.5, 'usd')$$),
          'CD422: Stripe amount 10.5 USD is not a whole number of minor units', 'a fraction of a cent is refused');
SELECT is(pg_temp.try($$SELECT coditect.stripe_amount(100, 'xyz')$$),
          'CD422: currency "xyz" is not an ISO 4217 currency we know', 'an unknown currency is refused');

------------------------------------------------------------------------------------------------
-- Customers
------------------------------------------------------------------------------------------------

SET ROLE tap88_gateway;
SELECT is(pg_temp.try(format($$SELECT coditect.set_stripe_customer(%L, 'cus_t88a')$$, :'ta')), '42501: permission denied for function set_stripe_customer',
          'the gateway does not bind customers');
-- B's owner's context, then the binding (as the service).
CREATE FUNCTION pg_temp.bind_b(p_customer text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM coditect.set_request_context(current_setting('tap88.tb')::uuid, current_setting('tap88.owner_b')::uuid, 'owner');
    PERFORM coditect.set_stripe_customer(current_setting('tap88.tb')::uuid, p_customer);
    RETURN 'done';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT set_config('tap88.tb', :'tb', false), set_config('tap88.owner_b', :'owner_b', false) \g /dev/null
SET ROLE tap88_service;
SELECT is(pg_temp.try(format($$SELECT coditect.set_stripe_customer(%L, 'cus_t88a')$$, :'ta')),
          'CD403: a Stripe customer is bound for the request''s tenant only', 'the service role needs a request context');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.set_stripe_customer(%L, 'cus_t88a')$$, :'tb')),
          'CD403: a Stripe customer is bound for the request''s tenant only', '... and binds no other tenant''s customer');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.set_stripe_customer(%L, 'cus_t88a')$$, :'ta')), 'done',
          'the service role binds the customer of its request''s tenant');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.set_stripe_customer(%L, 'cus_t88a')$$, :'ta')), 'done',
          '... again the same, harmlessly');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.set_stripe_customer(%L, 'cus_t88z')$$, :'ta')),
          format('CD409: tenant %s is bound to Stripe customer cus_t88a: rebinding is a DBA''s', :'ta'), '... but does not rebind it');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.set_stripe_customer(%L, NULL)$$, :'ta')),
          'CD400: a Stripe customer id is cus_ followed by letters and digits', '... nor unbinds it');
SELECT is(pg_temp.bind_b('cus_t88a'), 'CD409: Stripe customer cus_t88a is bound to another tenant',
          'a customer bound to another tenant is refused');
SELECT is(pg_temp.bind_b('customer 1'), 'CD400: a Stripe customer id is cus_ followed by letters and digits',
          'a customer id is checked');
SELECT is(pg_temp.bind_b('cus_t88b'), 'done', 'another tenant binds its own');
RESET ROLE;
SELECT is((SELECT string_agg(stripe_customer_id, ',' ORDER BY slug) FROM coditect.tenants WHERE id IN (:'ta', :'tb')), 'cus_t88a,cus_t88b',
          'tenants.stripe_customer_id');

------------------------------------------------------------------------------------------------
-- Orders paid by payment_intent.succeeded; refunds by charge.refunded
------------------------------------------------------------------------------------------------

INSERT INTO coditect.products (name, unit_amount, currency, grants_license, license_tier, license_seats, license_duration_days)
VALUES ('t88 Desktop', 1999, 'USD', true, 'PRO', 3, 365) RETURNING id AS desktop \gset
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('t88 Yen book', 500, 'JPY') RETURNING id AS book \gset
SET ROLE tap88_gateway;
SELECT pg_temp.put('o1', pg_temp.checkout(:'desktop', 2)) \gset
SELECT pg_temp.put('o2', pg_temp.checkout(:'book', 1)) \gset
SELECT pg_temp.put('o3', pg_temp.checkout(:'desktop', 1)) \gset
RESET ROLE;
SELECT is((SELECT string_agg(total_amount || ' ' || currency, ',' ORDER BY created_at) FROM coditect.orders WHERE tenant_id = :'ta'),
          '3998 USD,500 JPY,1999 USD', 'three orders (no tax in the US without a state)');

SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_1', 'payment_intent.succeeded', pg_temp.pi('pi_t88_1', 'cus_t88a', pg_temp.id('o1'), 3000, 'usd'))),
          format('refused: amount mismatch: payment intent pi_t88_1 paid 30.00 USD, order %s totals 39.98 USD', pg_temp.id('o1')),
          'an amount that is not the order''s total is refused, with the reason');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_2', 'payment_intent.succeeded', pg_temp.pi('pi_t88_1', 'cus_t88a', pg_temp.id('o1'), 3998, 'eur'))),
          format('refused: amount mismatch: payment intent pi_t88_1 paid 39.98 EUR, order %s totals 39.98 USD', pg_temp.id('o1')),
          'so is another currency');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_3', 'payment_intent.succeeded', pg_temp.pi('pi_t88_1', 'cus_nobody', pg_temp.id('o1'), 3998, 'usd'))),
          'refused: unknown customer cus_nobody: no tenant is bound to it (coditect.set_stripe_customer)', 'an unknown customer is refused');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_4', 'payment_intent.succeeded', pg_temp.pi('pi_t88_1', 'cus_t88b', pg_temp.id('o1'), 3998, 'usd'))),
          format('refused: order %s is not an order of the customer''s tenant', pg_temp.id('o1')), 'another tenant''s customer naming the order is refused');
RESET ROLE;
SELECT is(pg_temp.order_state(pg_temp.id('o1')), 'pending', 'none of them changed the order: no payment');
SELECT is((SELECT string_agg(event_id || ':' || status || ':' || coalesce(tenant_id::text, '-'), ' ' ORDER BY event_id)
             FROM coditect_internal.stripe_events WHERE event_id LIKE 'evt_t88_%'),
          'evt_t88_1:refused:- evt_t88_2:refused:- evt_t88_3:refused:- evt_t88_4:refused:-', 'each is stored, refused');

SET ROLE tap88_gateway;
SELECT is(pg_temp.hook('evt_t88_5', 'payment_intent.succeeded', pg_temp.pi('pi_t88_1', 'cus_t88a', pg_temp.id('o1'), 3998, 'usd'))::jsonb,
          '{"received": true, "event_id": "evt_t88_5", "type": "payment_intent.succeeded", "status": "processed", "already_received": false}',
          'the intent of the order''s total pays it');
RESET ROLE;
SELECT is(pg_temp.order_state(pg_temp.id('o1')), 'paid|pi_t88_1|succeeded:ch_t88_1:3998:0:card', 'the order is paid by a card payment of the intent');
SELECT is(pg_temp.entitled(pg_temp.id('o1')), 'active|PRO|6|t', 'its entitlement and license (3 seats x 2) are issued in that transaction');
SELECT is((SELECT tenant_id FROM coditect_internal.stripe_events WHERE event_id = 'evt_t88_5'), :'ta'::uuid, 'the event names its tenant');
SELECT id AS pay1 FROM coditect.payments WHERE stripe_payment_intent_id = 'pi_t88_1' \gset
SET ROLE tap88_gateway;
SELECT is(pg_temp.hook('evt_t88_5', 'payment_intent.succeeded', pg_temp.pi('pi_t88_1', 'cus_t88a', pg_temp.id('o1'), 3998, 'usd'))::jsonb ->> 'already_received',
          'true', 'the same event again is already received');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_6', 'checkout.session.completed',
              jsonb_build_object('id', 'cs_t88_1', 'object', 'checkout.session', 'mode', 'payment', 'amount_total', 3998, 'currency', 'usd',
                                 'customer', 'cus_t88a', 'payment_intent', 'pi_t88_1', 'payment_status', 'paid', 'status', 'complete',
                                 'client_reference_id', pg_temp.id('o1')))),
          format('skipped: payment intent pi_t88_1 paid order %s already', pg_temp.id('o1')), 'its checkout session, told after, pays nothing again');
RESET ROLE;
SELECT is(pg_temp.order_state(pg_temp.id('o1')), 'paid|pi_t88_1|cs_t88_1|succeeded:ch_t88_1:3998:0:card',
          'one payment; the session''s id is kept on the order');
SELECT is((SELECT count(*) FROM coditect.licenses WHERE tenant_id = :'ta'), 1::bigint, 'one license');

-- charge.refunded: a partial refund, then the rest, then one over the cap.
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_7', 'charge.refunded', pg_temp.charge('pi_t88_1', 'cus_t88a', 3998, 'usd', 're_t88_1:1000:succeeded'))),
          'processed', 'a partial refund');
RESET ROLE;
SELECT is(pg_temp.order_state(pg_temp.id('o1')), 'partially_refunded|pi_t88_1|cs_t88_1|succeeded:ch_t88_1:3998:1000:card|re_t88_1:1000:succeeded',
          'a refund row by its Stripe id; the order partially refunded');
SELECT is(pg_temp.entitled(pg_temp.id('o1')), 'active|PRO|6|t', 'still entitled');
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_8', 'charge.refunded',
              pg_temp.charge('pi_t88_1', 'cus_t88a', 3998, 'usd', 're_t88_1:1000:succeeded', 're_t88_2:2998:pending'))),
          'processed', 'the rest, pending at Stripe');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_9', 'charge.refunded',
              pg_temp.charge('pi_t88_1', 'cus_t88a', 3998, 'usd', 're_t88_1:1000:succeeded', 're_t88_2:2998:pending', 're_t88_3:1:succeeded'))),
          'refused: a refund of 0.01 USD exceeds what is left of payment ' ||
          '' || :'pay1' || ' (0.00 USD of 39.98 USD)',
          'a refund beyond what was paid is refused by the cap');
RESET ROLE;
SELECT is(pg_temp.order_state(pg_temp.id('o1')),
          'refunded|pi_t88_1|cs_t88_1|refunded:ch_t88_1:3998:3998:card|re_t88_1:1000:succeeded,re_t88_2:2998:pending',
          'the order refunded; the refused refund left no row');
SELECT is(pg_temp.entitled(pg_temp.id('o1')), 'ended|PRO|6|f', 'the full refund ended the entitlement and its license');
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_10', 'charge.refunded',
              pg_temp.charge('pi_t88_1', 'cus_t88a', 3998, 'usd', 're_t88_1:1000:succeeded', 're_t88_2:2998:succeeded'))),
          'processed', 'the pending refund succeeds');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_11', 'charge.refunded',
              pg_temp.charge('pi_t88_1', 'cus_t88a', 3998, 'usd', 're_t88_1:1000:succeeded', 're_t88_2:2998:succeeded'))),
          'skipped: every refund of the charge is applied already', 'the same refunds told again change nothing');
SELECT is(pg_temp.hook('evt_t88_10', 'charge.refunded', pg_temp.charge('pi_t88_1', 'cus_t88a', 3998, 'usd', 're_t88_9:3998:succeeded'))::jsonb ->> 'already_received',
          'true', 'a replayed event is already received');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_12', 'charge.refunded', pg_temp.charge('pi_t88_1', 'cus_t88b', 3998, 'usd', 're_t88_4:1:succeeded'))),
          'refused: charge ch_t88_1 (payment intent pi_t88_1) paid no payment of the customer''s tenant', 'another tenant''s customer refunds nothing');
RESET ROLE;
SELECT is(pg_temp.order_state(pg_temp.id('o1')),
          'refunded|pi_t88_1|cs_t88_1|refunded:ch_t88_1:3998:3998:card|re_t88_1:1000:succeeded,re_t88_2:2998:succeeded',
          'two refunds, as Stripe has them');

-- A failed attempt, then the same intent succeeds (JPY: no minor unit).
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_20', 'payment_intent.payment_failed',
              pg_temp.pi('pi_t88_2', 'cus_t88a', pg_temp.id('o2'), 500, 'jpy', 'requires_payment_method')
              || '{"last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}}')),
          'processed', 'a failed payment');
RESET ROLE;
SELECT is(pg_temp.order_state(pg_temp.id('o2')), 'pending|failed:500:0:card:insufficient_funds:Your card has insufficient funds.',
          'a failed payment row with the failure; the order stays pending');
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_21', 'payment_intent.succeeded', pg_temp.pi('pi_t88_2', 'cus_t88a', pg_temp.id('o2'), 500, 'jpy'))),
          'processed', 'the intent succeeds on a retry');
RESET ROLE;
SELECT is(pg_temp.order_state(pg_temp.id('o2')), 'paid|pi_t88_2|succeeded:ch_t88_2:500:0:card:insufficient_funds:Your card has insufficient funds.',
          'the same payment row succeeded; the order paid');
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_22', 'payment_intent.payment_failed', pg_temp.pi('pi_t88_2', 'cus_t88a', pg_temp.id('o2'), 500, 'jpy', 'requires_payment_method'))),
          'skipped: payment intent pi_t88_2 is succeeded already', 'a late failure of a succeeded intent changes nothing');

-- checkout.session.completed pays an order; the intent's event after it changes nothing.
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_30', 'checkout.session.completed',
              jsonb_build_object('id', 'cs_t88_3', 'object', 'checkout.session', 'mode', 'payment', 'amount_total', 1999, 'currency', 'usd',
                                 'customer', 'cus_t88a', 'payment_intent', 'pi_t88_3', 'payment_status', 'paid', 'status', 'complete',
                                 'client_reference_id', pg_temp.id('o3')))),
          'processed', 'a completed checkout session pays its order');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_31', 'payment_intent.succeeded', pg_temp.pi('pi_t88_3', 'cus_t88a', pg_temp.id('o3'), 1999, 'usd'))),
          format('skipped: payment intent pi_t88_3 paid order %s already', pg_temp.id('o3')), 'its intent''s event pays it once');
RESET ROLE;
SELECT is(pg_temp.order_state(pg_temp.id('o3')), 'paid|pi_t88_3|cs_t88_3|succeeded:ch_t88_3:1999:0:card', 'one payment, the charge added from the intent');
SELECT is(pg_temp.entitled(pg_temp.id('o3')), 'active|PRO|3|t', 'entitled and licensed');

------------------------------------------------------------------------------------------------
-- Subscriptions and invoices
------------------------------------------------------------------------------------------------

INSERT INTO coditect.products (name, unit_amount, currency, recurring_interval, grants_license, license_tier, license_seats, stripe_price_id)
VALUES ('t88 Pro monthly', 4900, 'USD', 'month', true, 'ENTERPRISE', 5, 'price_t88_pro') RETURNING id AS pro \gset
INSERT INTO coditect.products (name, unit_amount, currency, recurring_interval)
VALUES ('t88 Support', 990, 'EUR', 'month') RETURNING id AS support \gset
-- A Subscription object: status, the period (Unix times), cancel_at_period_end.
CREATE FUNCTION pg_temp.sub(p_id text, p_customer text, p_price jsonb, p_status text, p_start bigint, p_end bigint, p_cancel boolean DEFAULT false)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', p_id, 'object', 'subscription', 'customer', p_customer, 'status', p_status,
                              'current_period_start', p_start, 'current_period_end', p_end, 'cancel_at_period_end', p_cancel,
                              'canceled_at', NULL, 'ended_at', NULL, 'trial_start', NULL, 'trial_end', NULL,
                              'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(
                                  jsonb_build_object('id', 'si_' || p_id, 'object', 'subscription_item', 'quantity', 2, 'price', p_price))))
$$;
-- An Invoice object of a subscription.
CREATE FUNCTION pg_temp.inv(p_id text, p_customer text, p_sub text, p_status text, p_paid bigint, p_start bigint, p_end bigint)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', p_id, 'object', 'invoice', 'customer', p_customer, 'subscription', p_sub, 'status', p_status,
                              'number', CASE WHEN p_status <> 'draft' THEN upper(p_id) || '-0001' END, 'currency', 'usd',
                              'subtotal', 9800, 'subtotal_excluding_tax', 9800, 'tax', 784, 'total', 8582,
                              'total_discount_amounts', '[{"amount": 2002}]'::jsonb,
                              'amount_due', 8582, 'amount_paid', p_paid, 'amount_remaining', 8582 - p_paid,
                              'hosted_invoice_url', 'https://invoice.stripe.com/i/acct_1/' || p_id, 'due_date', NULL,
                              'period_start', p_start - 2592000, 'period_end', p_start,
                              'lines', jsonb_build_object('object', 'list', 'data', jsonb_build_array(
                                  jsonb_build_object('id', 'il_' || p_id, 'amount', 9800, 'period', jsonb_build_object('start', p_start, 'end', p_end)))))
$$;
CREATE FUNCTION pg_temp.sub_state(p_stripe text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('|', s.status, s.quantity, floor(extract(epoch FROM s.current_period_start))::bigint, floor(extract(epoch FROM s.current_period_end))::bigint,
                     s.cancel_at_period_end, s.last_payment_reference,
                     (SELECT string_agg(concat_ws(':', e.status, l.tier, l.seats_total, l.is_active), ',')
                        FROM coditect.entitlements e LEFT JOIN coditect.licenses l ON l.tenant_id = e.tenant_id AND l.id = e.license_id
                       WHERE e.tenant_id = s.tenant_id AND e.subscription_id = s.id))
      FROM coditect.subscriptions s WHERE s.stripe_subscription_id = p_stripe
$$;
CREATE FUNCTION pg_temp.inv_state(p_stripe text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('|', i.status, i.number, i.currency, i.subtotal_amount, i.discount_amount, i.tax_amount, i.total_amount,
                     i.amount_due, i.amount_paid, i.amount_remaining, extract(epoch FROM i.period_start)::bigint,
                     extract(epoch FROM i.period_end)::bigint, i.subscription_id IS NOT NULL, i.paid_at IS NOT NULL,
                     i.voided_at IS NOT NULL, i.hosted_invoice_url)
      FROM coditect.invoices i WHERE i.stripe_invoice_id = p_stripe
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
SELECT floor(extract(epoch FROM now()))::bigint AS t0 \gset
SELECT :t0 + 2764800 AS t1, :t0 + 5529600 AS t2, :t0 + 8294400 AS t3 \gset

SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_40', 'customer.subscription.created',
              pg_temp.sub('sub_t88_1', 'cus_t88a', '{"id": "price_t88_pro", "object": "price"}', 'incomplete', :t0, :t1), :t0)),
          'processed', 'customer.subscription.created');
RESET ROLE;
SELECT is(pg_temp.sub_state('sub_t88_1'), format('incomplete|2|%s|%s|f', :t0, :t1),
          'a subscription of the product of the price (products.stripe_price_id), quantity and period from Stripe, awaiting payment');
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_41', 'invoice.created', pg_temp.inv('in_t88_1', 'cus_t88a', 'sub_t88_1', 'draft', 0, :t0, :t1), :t0)),
          'processed', 'invoice.created');
RESET ROLE;
SELECT is(pg_temp.inv_state('in_t88_1'), format('draft|USD|9800|2002|784|8582|8582|0|8582|%s|%s|t|f|f|https://invoice.stripe.com/i/acct_1/in_t88_1', :t0, :t1),
          'a draft invoice: subtotal - discount + tax = total, the service period of its line');
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_42', 'invoice.finalized', pg_temp.inv('in_t88_1', 'cus_t88a', 'sub_t88_1', 'open', 0, :t0, :t1), :t0)),
          'processed', 'invoice.finalized');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_43', 'invoice.paid', pg_temp.inv('in_t88_1', 'cus_t88a', 'sub_t88_1', 'paid', 8582, :t0, :t1), :t0)),
          'processed', 'invoice.paid');
RESET ROLE;
SELECT id AS in1 FROM coditect.invoices WHERE stripe_invoice_id = 'in_t88_1' \gset
SELECT is(pg_temp.inv_state('in_t88_1'), format('paid|IN_T88_1-0001|USD|9800|2002|784|8582|8582|8582|0|%s|%s|t|t|f|https://invoice.stripe.com/i/acct_1/in_t88_1', :t0, :t1),
          'the invoice is paid, numbered, stamped');
SELECT is(pg_temp.sub_state('sub_t88_1'), format('active|2|%s|%s|f|in_t88_1|active:ENTERPRISE:10:t', :t0, :t1),
          'invoice.paid activated the subscription through its payment path (the invoice id its reference): entitled, licensed');
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_44', 'invoice.payment_succeeded', pg_temp.inv('in_t88_1', 'cus_t88a', 'sub_t88_1', 'paid', 8582, :t0, :t1), :t0)),
          format('skipped: invoice %s is paid: it does not change', :'in1'),
          'the same payment told again pays no second period');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_45', 'invoice.finalized', pg_temp.inv('in_t88_1', 'cus_t88a', 'sub_t88_1', 'open', 0, :t0, :t1), :t0)),
          format('skipped: invoice %s is paid: it does not change', :'in1'),
          'a late finalized event changes nothing');
RESET ROLE;
SELECT is(pg_temp.sub_state('sub_t88_1'), format('active|2|%s|%s|f|in_t88_1|active:ENTERPRISE:10:t', :t0, :t1), 'one period paid');
SELECT is(pg_temp.try($$UPDATE coditect.invoices SET amount_paid = 0, amount_remaining = 8582 WHERE stripe_invoice_id = 'in_t88_1'$$),
          format('CD409: invoice %s is paid: nothing in it can change', :'in1'),
          'a paid invoice cannot change, for any writer');
SELECT is(pg_temp.try($$DELETE FROM coditect.invoices WHERE stripe_invoice_id = 'in_t88_1'$$),
          format('CD409: invoices are kept: void invoice %s instead', :'in1'),
          'nor be deleted');
SELECT is(pg_temp.try($$INSERT INTO coditect.invoices (tenant_id, currency, subtotal_amount, tax_amount, total_amount, amount_due, amount_remaining)
                        VALUES ('$$ || :'ta' || $$', 'USD', 1000, 100, 1000, 1000, 1000)$$),
          '23514: new row for relation "invoices" violates check constraint "invoices_total"', 'an invoice''s amounts add up');

-- The renewal: Stripe moves the period, then the next invoice is paid (no second renewal).
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_50', 'customer.subscription.updated',
              pg_temp.sub('sub_t88_1', 'cus_t88a', '{"id": "price_t88_pro", "object": "price"}', 'active', :t1, :t2), :t0 + 10)),
          'processed', 'customer.subscription.updated: the next period');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_51', 'invoice.paid', pg_temp.inv('in_t88_2', 'cus_t88a', 'sub_t88_1', 'paid', 8582, :t1, :t2), :t0 + 11)),
          'processed', 'its invoice paid');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_52', 'customer.subscription.updated',
              pg_temp.sub('sub_t88_1', 'cus_t88a', '{"id": "price_t88_pro", "object": "price"}', 'incomplete', :t0, :t1), :t0 + 5)),
          'skipped: a later event of sub_t88_1 was applied already', 'an older event of the subscription is stale');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_53', 'customer.subscription.updated',
              pg_temp.sub('sub_t88_1', 'cus_t88a', '{"id": "price_t88_pro", "object": "price"}', 'active', :t1, :t2, true), :t0 + 20)),
          'processed', 'canceled at the period''s end');
RESET ROLE;
SELECT is(pg_temp.sub_state('sub_t88_1'), format('active|2|%s|%s|t|in_t88_1|active:ENTERPRISE:10:t', :t1, :t2),
          'Stripe''s period, paid once (the invoice covered by the period renews nothing), to be canceled at its end');
SELECT is((SELECT string_agg(status::text, ',' ORDER BY created_at) FROM coditect.invoices WHERE tenant_id = :'ta'), 'paid,paid', 'two invoices');

-- Another tenant's customer naming the subscription; a voided invoice.
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_55', 'invoice.created', pg_temp.inv('in_t88_3', 'cus_t88b', 'sub_t88_1', 'draft', 0, :t1, :t2), :t0)),
          'refused: subscription sub_t88_1 is not a subscription of the customer''s tenant', 'an invoice of another tenant''s subscription is refused');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_56', 'invoice.finalized', pg_temp.inv('in_t88_4', 'cus_t88a', 'sub_t88_1', 'open', 0, :t2, :t3), :t0 + 30)),
          'processed', 'an open invoice');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_57', 'invoice.voided', pg_temp.inv('in_t88_4', 'cus_t88a', 'sub_t88_1', 'void', 0, :t2, :t3), :t0 + 31)),
          'processed', 'voided');
RESET ROLE;
SELECT is(pg_temp.inv_state('in_t88_4'), format('void|IN_T88_4-0001|USD|9800|2002|784|8582|8582|0|8582|%s|%s|t|f|t|https://invoice.stripe.com/i/acct_1/in_t88_4', :t2, :t3),
          'void, stamped');
SELECT is((SELECT count(*) FROM coditect.invoices WHERE stripe_invoice_id = 'in_t88_3'), 0::bigint, 'the refused invoice was not stored');

-- Reading invoices: owners and admins all; members those of their own orders; clients write none.
SET ROLE tap88_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT coditect.api_invoices_list('{"status": "paid"}') ->> 'count'$$), '2', 'an admin lists the paid invoices');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT coditect.api_invoices_list('{}') ->> 'count'$$), '0', 'a member sees no subscription''s invoice');
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT coditect.api_invoices_list('{"created_at__gte": "2000-01-01T00:00:00Z", "status__in": "void,open"}') ->> 'count'$$),
          '1', 'filters by status and date');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT pg_temp.try('UPDATE coditect.invoices SET number = ''X''')$$), '42501: permission denied for table invoices',
          'an owner writes no invoice');
RESET ROLE;

-- The deletion ends the subscription now: entitlement and license end.
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_60', 'customer.subscription.deleted',
              pg_temp.sub('sub_t88_1', 'cus_t88a', '{"id": "price_t88_pro", "object": "price"}', 'canceled', :t1, :t2) || jsonb_build_object('ended_at', :t0 + 40),
              :t0 + 40)),
          'processed', 'customer.subscription.deleted');
RESET ROLE;
SELECT is(pg_temp.sub_state('sub_t88_1'), format('canceled|2|%s|%s|f|in_t88_1|ended:ENTERPRISE:10:f', :t1, :t2),
          'canceled; the entitlement ended and the license is off');
SELECT id AS sub1 FROM coditect.subscriptions WHERE stripe_subscription_id = 'sub_t88_1' \gset
SET ROLE tap88_gateway;
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_61', 'customer.subscription.updated',
              pg_temp.sub('sub_t88_1', 'cus_t88a', '{"id": "price_t88_pro", "object": "price"}', 'active', :t1, :t2), :t0 + 50)),
          format('skipped: subscription %s is canceled: it does not change', :'sub1'),
          'a canceled subscription stays canceled');

-- A subscription subscribed through the API is bound by Stripe's events; its price's metadata
-- names the product; a status the machine lacks is refused.
SELECT pg_temp.put('api sub', (pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}') ->> 'id'$$, :'support')))::uuid) IS NOT NULL AS _ \gset
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_70', 'checkout.session.completed',
              jsonb_build_object('id', 'cs_t88_7', 'object', 'checkout.session', 'mode', 'subscription', 'customer', 'cus_t88a',
                                 'subscription', 'sub_t88_2', 'client_reference_id', pg_temp.id('api sub'), 'payment_status', 'paid'))),
          'processed', 'a subscription checkout binds our subscription to Stripe''s');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_71', 'customer.subscription.updated',
              pg_temp.sub('sub_t88_2', 'cus_t88a', jsonb_build_object('id', 'price_unknown', 'metadata', jsonb_build_object('coditect_product_id', :'support')),
                          'past_due', :t0, :t1), :t0)),
          format('refused: subscription %s is incomplete: Stripe''s past_due is not a move of the subscription machine', pg_temp.id('api sub')),
          'a move the machine lacks is refused');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_72', 'customer.subscription.updated',
              pg_temp.sub('sub_t88_2', 'cus_t88a', jsonb_build_object('id', 'price_unknown', 'metadata', jsonb_build_object('coditect_product_id', :'support')),
                          'active', :t0, :t1), :t0 + 1)),
          'processed', 'Stripe''s active');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_73', 'customer.subscription.created',
              pg_temp.sub('sub_t88_3', 'cus_t88a', '{"id": "price_nothing"}', 'active', :t0, :t1), :t0)),
          'refused: price price_nothing of subscription sub_t88_3 is no product of ours (products.stripe_price_id or price metadata coditect_product_id)',
          'a price that maps to no product is refused');
SELECT is(pg_temp.outcome(pg_temp.hook('evt_t88_74', 'customer.subscription.paused',
              pg_temp.sub('sub_t88_2', 'cus_t88a', '{"id": "price_unknown"}', 'paused', :t0, :t1), :t0 + 2)),
          'refused: subscription sub_t88_2: Stripe''s status paused is not modelled', 'a paused subscription is not modelled');
RESET ROLE;
SELECT is((SELECT concat_ws('|', status, quantity, stripe_subscription_id) FROM coditect.subscriptions WHERE id = pg_temp.id('api sub')),
          'active|2|sub_t88_2', 'our subscription follows Stripe''s');
SELECT is((SELECT count(*) FROM coditect.subscriptions WHERE tenant_id = :'ta'), 2::bigint, 'no third subscription');
SELECT is((SELECT count(*) FROM coditect.subscriptions WHERE tenant_id = :'tb'), 0::bigint, 'none in tenant B');

SELECT is((SELECT string_agg(status, ',' ORDER BY status) FROM (SELECT DISTINCT status FROM coditect_internal.stripe_events) s),
          'processed,refused,skipped', 'every event has a handler now: none ignored');

SELECT * FROM finish();
ROLLBACK;
