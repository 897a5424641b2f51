-- Stripe webhooks (sql/59_stripe_webhooks.sql): the configured secret, the Stripe-Signature
-- check (valid, bad, stale, several v1), events stored once by id (a redelivery changes
-- nothing), malformed events refused, and the dispatch table (exact type, family, none:
-- ignored; a failing handler stores nothing). Payloads shaped like Stripe's documented events,
-- signed here. Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
CREATE ROLE tap59_gateway LOGIN IN ROLE coditect_gateway;
\set secret 'whsec_tap59_0123456789abcdef'
-- The dispatch on its own: the product's handlers (88_invoices, test/pgtap/88_stripe_events.sql)
-- are set aside, so that an event without a declared handler is ignored.
DELETE FROM coditect_internal.stripe_event_handlers;

\ir lib/sign.psql
-- The verifier's clock is the transaction's start (now()), not the wall clock.
CREATE FUNCTION pg_temp.now_s() RETURNS bigint LANGUAGE sql AS $$ SELECT floor(extract(epoch FROM now()))::bigint $$;
-- A Stripe event as Stripe documents it (object "event", data.object the resource).
CREATE FUNCTION pg_temp.event(p_id text, p_type text, p_object jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', p_id, 'object', 'event', 'api_version', '2024-06-20', 'created', 1719835200,
                              'data', jsonb_build_object('object', p_object), 'livemode', false, 'pending_webhooks', 1,
                              'request', jsonb_build_object('id', NULL, 'idempotency_key', NULL), 'type', p_type)::text
$$;
-- The webhook as the gateway calls it (no login, no context).
CREATE FUNCTION pg_temp.hook(p_signature text, p_body text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN coditect.stripe_webhook(p_signature, convert_to(p_body, 'UTF8'))::text;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT pg_temp.event('evt_1PXa0k2eZvKYlo2C7hJ3xQmA', 'checkout.session.completed',
    '{"id": "cs_test_a1b2c3", "object": "checkout.session", "amount_total": 2000, "currency": "usd",
      "customer": "cus_QO7mN3", "payment_intent": "pi_3PXa0j2eZvKYlo2C", "payment_status": "paid",
      "status": "complete", "client_reference_id": "order_42", "metadata": {}}') AS checkout \gset
SELECT pg_temp.event('evt_1PXa1b2eZvKYlo2CpI8sQy', 'payment_intent.succeeded',
    '{"id": "pi_3PXa0j2eZvKYlo2C", "object": "payment_intent", "amount": 2000, "amount_received": 2000,
      "currency": "usd", "status": "succeeded", "latest_charge": "ch_3PXa0j2eZvKYlo2C"}') AS succeeded \gset
SELECT pg_temp.event('evt_1PXa2c2eZvKYlo2CfA1lEd', 'payment_intent.payment_failed',
    '{"id": "pi_3PXa9z2eZvKYlo2C", "object": "payment_intent", "amount": 500, "currency": "jpy", "status": "requires_payment_method",
      "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}}') AS failed_pi \gset
SELECT pg_temp.event('evt_1PXa3d2eZvKYlo2CInVpAd', 'invoice.paid',
    '{"id": "in_1PXa3d2eZvKYlo2C", "object": "invoice", "amount_paid": 1500, "currency": "kwd", "status": "paid",
      "subscription": "sub_1PXa3d2eZvKYlo2C"}') AS invoice \gset

SELECT lives_ok($$SELECT coditect.set_stripe_webhook_secret(NULL)$$, 'a DBA removes the secret');
SET ROLE tap59_gateway;
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'checkout'), :'checkout'),
          'CD503: the Stripe webhook secret is not configured', 'without a configured secret nothing is accepted');
SELECT throws_ok($$SELECT coditect.set_stripe_webhook_secret('whsec_mine_0123456789abcdef')$$, '42501', NULL,
                 'the gateway cannot set the secret');
SELECT throws_ok($$SELECT * FROM coditect_internal.stripe_webhook_secret$$, '42501', NULL, 'nor read it');
SELECT throws_ok($$SELECT * FROM coditect_internal.stripe_events$$, '42501', NULL, 'nor read the events');
RESET ROLE;
SELECT is(pg_temp.try($$SELECT coditect.set_stripe_webhook_secret('short')$$),
          'CD400: a Stripe webhook secret is 16 to 255 printable characters (whsec_...)', 'a DBA''s secret is checked');
SELECT lives_ok(format($$SELECT coditect.set_stripe_webhook_secret(%L)$$, :'secret'), 'a DBA configures the secret');

SET ROLE tap59_gateway;
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'checkout'), :'checkout')::jsonb,
          '{"received": true, "event_id": "evt_1PXa0k2eZvKYlo2C7hJ3xQmA", "type": "checkout.session.completed",
            "status": "ignored", "already_received": false}', 'a signed event is received (no handler yet: ignored)');
RESET ROLE;
SELECT is((SELECT (event_type, status, created, livemode, data_object->>'client_reference_id', handler IS NULL)
             FROM coditect_internal.stripe_events WHERE event_id = 'evt_1PXa0k2eZvKYlo2C7hJ3xQmA'),
          ROW('checkout.session.completed'::text, 'ignored'::text, to_timestamp(1719835200), false, 'order_42'::text, true),
          'it is stored with its type, status, time and object');
SELECT received_at AS first_received FROM coditect_internal.stripe_events WHERE event_id = 'evt_1PXa0k2eZvKYlo2C7hJ3xQmA' \gset

SET ROLE tap59_gateway;
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'checkout', pg_temp.now_s() - 60), :'checkout')::jsonb->'already_received',
          'true', 'a redelivery of the event is answered "already received"');
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', replace(:'checkout', '2000', '1')), replace(:'checkout', '2000', '1'))::jsonb - 'type',
          '{"received": true, "event_id": "evt_1PXa0k2eZvKYlo2C7hJ3xQmA", "status": "ignored", "already_received": true}',
          'a changed body with the same event id too');
RESET ROLE;
SELECT is((SELECT (count(*), min(received_at), min(data_object->>'amount_total')) FROM coditect_internal.stripe_events),
          ROW(1::bigint, :'first_received'::timestamptz, '2000'::text), 'and nothing changed');

-- Signatures.
SET ROLE tap59_gateway;
SELECT is(pg_temp.hook(pg_temp.sign('whsec_guess_0123456789abcdef', :'succeeded'), :'succeeded'),
          'CD401: the Stripe-Signature header is not a signature of this body with the configured secret', 'another secret is refused');
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'checkout'), :'succeeded'),
          'CD401: the Stripe-Signature header is not a signature of this body with the configured secret', 'another body is refused');
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'succeeded', pg_temp.now_s() - 301), :'succeeded'),
          'CD401: the Stripe-Signature header is stale: its timestamp is more than 300 s away from now', 'a stale signature is refused');
SELECT is(pg_temp.hook('v1=' || pg_temp.v1(:'secret', :'succeeded', pg_temp.now_s()), :'succeeded'),
          'CD401: the Stripe-Signature header is malformed (t=<unix seconds>,v1=<hex HMAC-SHA256>)', 'a header without t is refused');
SELECT is(pg_temp.hook(NULL, :'succeeded'),
          'CD401: the Stripe-Signature header is malformed (t=<unix seconds>,v1=<hex HMAC-SHA256>)', 'no header is refused');
RESET ROLE;
SELECT is((SELECT count(*) FROM coditect_internal.stripe_events), 1::bigint, 'refused events are not stored');
SET ROLE tap59_gateway;
SELECT is(pg_temp.hook(format('t=%s,v1=%s,v0=%s,v1=%s', pg_temp.now_s(), pg_temp.v1('whsec_old_secret_0123456789', :'succeeded', pg_temp.now_s()),
                              repeat('0', 64), pg_temp.v1(:'secret', :'succeeded', pg_temp.now_s())), :'succeeded')::jsonb->>'status',
          'ignored', 'one matching v1 among several (a secret being rolled) is accepted');

-- Bodies that are not Stripe events (validly signed).
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', '{"id": "evt_x", '), '{"id": "evt_x", '), 'CD400: the body is not JSON',
          'malformed JSON is refused');
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', b), b), 'CD400: not a Stripe event: an object with id, type, created and data.object is expected',
          'refused: ' || d)
  FROM (VALUES ('[1]', 'an array'),
               ('{"id": "evt_1", "type": "charge.refunded", "created": 1719835200}', 'no data.object'),
               ('{"id": 7, "type": "charge.refunded", "created": 1719835200, "data": {"object": {}}}', 'a numeric id'),
               ('{"id": "evt_1", "type": "charge.refunded", "created": "today", "data": {"object": {}}}', 'created not a number')) v(b, d);
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', b), b), 'CD400: not a Stripe event: malformed id or type', 'refused: ' || d)
  FROM (VALUES ('{"id": "evt 1", "type": "charge.refunded", "created": 1719835200, "data": {"object": {}}}', 'a space in the id'),
               ('{"id": "evt_1", "type": "Charge", "created": 1719835200, "data": {"object": {}}}', 'a type without a dot')) v(b, d);
RESET ROLE;

-- The dispatch: one declaration per type or family.
CREATE SCHEMA tap59;
CREATE TABLE tap59.seen (event_id text, handler text, object_id text);
CREATE FUNCTION tap59.on_payment(e coditect_internal.stripe_events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF e.data_object->>'amount' = '13' THEN RAISE EXCEPTION 'the handler failed' USING ERRCODE = 'CD422'; END IF;
    INSERT INTO tap59.seen VALUES (e.event_id, 'payment', e.data_object->>'id');
END $$;
CREATE FUNCTION tap59.on_invoice(e coditect_internal.stripe_events) RETURNS void LANGUAGE sql AS $$
    INSERT INTO tap59.seen VALUES (e.event_id, 'invoice', e.data_object->>'id')
$$;
CREATE FUNCTION tap59.wrong(e jsonb) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT is(pg_temp.try($$SELECT coditect_internal.declare_stripe_handler('charge.refunded', 'tap59.wrong(jsonb)')$$),
          'CD400: a Stripe event handler is f(coditect_internal.stripe_events) RETURNS void, not tap59.wrong(jsonb)',
          'a handler must take the event row');
SELECT lives_ok($$SELECT coditect_internal.declare_stripe_handler('payment_intent.succeeded', 'tap59.on_payment(coditect_internal.stripe_events)'),
                         coditect_internal.declare_stripe_handler('invoice.*', 'tap59.on_invoice(coditect_internal.stripe_events)')$$,
                'a handler per type or family is one declaration');
SET ROLE tap59_gateway;
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'invoice'), :'invoice')::jsonb->>'status', 'processed', 'a family''s handler processes invoice.paid');
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'failed_pi'), :'failed_pi')::jsonb->>'status', 'ignored',
          'payment_intent.payment_failed has no handler: ignored');
SELECT replace(:'succeeded', 'evt_1PXa1b2eZvKYlo2CpI8sQy', 'evt_2') AS evt2 \gset
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'evt2'), :'evt2')::jsonb->>'status', 'processed',
          'payment_intent.succeeded is processed by its handler');
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'evt2'), :'evt2')::jsonb->>'already_received',
          'true', 'a redelivery does not run the handler again');
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', b), b), 'CD422: the handler failed', 'a failing handler fails the delivery')
  FROM (SELECT replace(replace(:'succeeded', '"amount": 2000', '"amount": 13'), 'evt_1PXa1b2eZvKYlo2CpI8sQy', 'evt_13') AS b) x;
RESET ROLE;
SELECT is((SELECT string_agg(event_id || ':' || handler || ':' || object_id, ' ' ORDER BY event_id) FROM tap59.seen),
          'evt_1PXa3d2eZvKYlo2CInVpAd:invoice:in_1PXa3d2eZvKYlo2C evt_2:payment:pi_3PXa0j2eZvKYlo2C',
          'each handler ran once with its event');
SELECT is((SELECT string_agg(event_id || ':' || status || ':' || coalesce(handler::text, '-'), ' ' ORDER BY event_id) FROM coditect_internal.stripe_events),
          'evt_1PXa0k2eZvKYlo2C7hJ3xQmA:ignored:- evt_1PXa1b2eZvKYlo2CpI8sQy:ignored:- evt_1PXa2c2eZvKYlo2CfA1lEd:ignored:- '
          'evt_1PXa3d2eZvKYlo2CInVpAd:processed:tap59.on_invoice(coditect_internal.stripe_events) '
          'evt_2:processed:tap59.on_payment(coditect_internal.stripe_events)',
          'the events with their status and handler; the failed one is not stored (Stripe delivers it again)');

-- Families of several segments: the longest one that covers the type.
CREATE FUNCTION tap59.on_subscription(e coditect_internal.stripe_events) RETURNS void LANGUAGE sql AS $$
    INSERT INTO tap59.seen VALUES (e.event_id, 'subscription', e.event_type)
$$;
CREATE FUNCTION tap59.on_customer(e coditect_internal.stripe_events) RETURNS void LANGUAGE sql AS $$
    INSERT INTO tap59.seen VALUES (e.event_id, 'customer', e.event_type)
$$;
SELECT lives_ok($$SELECT coditect_internal.declare_stripe_handler('customer.subscription.*', 'tap59.on_subscription(coditect_internal.stripe_events)'),
                         coditect_internal.declare_stripe_handler('customer.*', 'tap59.on_customer(coditect_internal.stripe_events)')$$,
                'handlers for customer.subscription.* and customer.*');
SELECT jsonb_set(jsonb_set(:'invoice'::jsonb, '{id}', '"evt_sub"'), '{type}', '"customer.subscription.deleted"')::text AS subdel,
       jsonb_set(jsonb_set(:'invoice'::jsonb, '{id}', '"evt_cust"'), '{type}', '"customer.updated"')::text AS custupd \gset
SET ROLE tap59_gateway;
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'subdel'), :'subdel')::jsonb->>'status', 'processed', 'customer.subscription.deleted is processed');
SELECT is(pg_temp.hook(pg_temp.sign(:'secret', :'custupd'), :'custupd')::jsonb->>'status', 'processed', 'customer.updated is processed');
RESET ROLE;
SELECT is((SELECT string_agg(event_id || ':' || handler, ' ' ORDER BY event_id) FROM tap59.seen WHERE event_id IN ('evt_sub', 'evt_cust')),
          'evt_cust:customer evt_sub:subscription', 'each by the longest family that covers its type');

SELECT * FROM finish();
ROLLBACK;
