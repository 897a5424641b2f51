-- 59_stripe_webhooks: POST /api/v1/webhooks/stripe (no login; README, Stripe webhooks). Stripe
-- signs each event with the endpoint's secret (Stripe-Signature: t=<unix seconds>,v1=<hex
-- HMAC-SHA256(secret, "<t>.<body>")>[,v1=...]), checked by the product's one verifier
-- (coditect_internal.webhook_verify, 54_workflows) within 300 s. Each event is stored once, by
-- its Stripe id: a redelivery answers 200 "already received" and changes nothing. An event is
-- then dispatched through coditect_internal.stripe_event_handlers (event type -> function): a
-- type without a handler is recorded as ignored. A handler's error fails the delivery (nothing
-- is stored), so Stripe delivers the event again later.

-- The endpoint's signing secret (whsec_...): one row, read only by the owner's functions. A DBA
-- sets it with coditect.set_stripe_webhook_secret.
CREATE TABLE coditect_internal.stripe_webhook_secret (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret     text NOT NULL CHECK (octet_length(secret) BETWEEN 16 AND 255),
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON coditect_internal.stripe_webhook_secret FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.stripe_webhook_secret', '');

-- DBA: sets (or replaces) the Stripe endpoint's signing secret; NULL removes it (the endpoint
-- then answers 503). Not granted to any role: the owner or a superuser runs it.
CREATE FUNCTION coditect.set_stripe_webhook_secret(p_secret text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_secret IS NULL THEN
        DELETE FROM coditect_internal.stripe_webhook_secret;
        RETURN;
    END IF;
    IF octet_length(p_secret) NOT BETWEEN 16 AND 255 OR p_secret !~ '^[!-~]+$' THEN
        RAISE EXCEPTION 'a Stripe webhook secret is 16 to 255 printable characters (whsec_...)' USING ERRCODE = 'CD400';
    END IF;
    INSERT INTO coditect_internal.stripe_webhook_secret AS s (singleton, secret, updated_at)
    VALUES (true, p_secret, pg_catalog.now())
    ON CONFLICT (singleton) DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at;  -- no now() here: Citus refuses it
END
$$;
REVOKE ALL ON FUNCTION coditect.set_stripe_webhook_secret(text) FROM PUBLIC;

-- The customer -> tenant mapping: Stripe's customer (cus_...) of a tenant is the seeds'
-- tenants.stripe_customer_id (20_tenancy; unique across tenants through the global keys). Every
-- handler finds its tenant from data.object.customer. The service role, when it makes the
-- Stripe customer at sign-up, binds it for its request's tenant, once. Rebinding and unbinding
-- are a DBA's (UPDATE coditect.tenants as superuser). A customer bound to another tenant is
-- refused (CD409): a customer's events reach one tenant. (Owner rights: without the context
-- check a service login could move another tenant's customer, and its payments, to its own.)
CREATE FUNCTION coditect.set_stripe_customer(p_tenant uuid, p_customer text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    other uuid;
    bound text;
BEGIN
    IF p_customer IS NULL OR p_customer !~ '^cus_[A-Za-z0-9_]{1,251}$' THEN
        RAISE EXCEPTION 'a Stripe customer id is cus_ followed by letters and digits' USING ERRCODE = 'CD400';
    END IF;
    IF p_tenant IS NULL OR p_tenant IS DISTINCT FROM coditect.current_tenant_id() THEN
        RAISE EXCEPTION 'a Stripe customer is bound for the request''s tenant only' USING ERRCODE = 'CD403';
    END IF;
    SELECT t.stripe_customer_id INTO bound FROM coditect.tenants t WHERE t.id OPERATOR(pg_catalog.=) p_tenant FOR UPDATE;
    IF bound OPERATOR(pg_catalog.<>) p_customer THEN
        RAISE EXCEPTION 'tenant % is bound to Stripe customer %: rebinding is a DBA''s', p_tenant, bound USING ERRCODE = 'CD409';
    END IF;
    SELECT k.tenant_id INTO other FROM coditect_internal.global_keys k
     WHERE k.kind OPERATOR(pg_catalog.=) 'tenants.stripe_customer_id' AND k.value OPERATOR(pg_catalog.=) p_customer;
    IF other IS NOT NULL AND other OPERATOR(pg_catalog.<>) p_tenant THEN
        RAISE EXCEPTION 'Stripe customer % is bound to another tenant', p_customer USING ERRCODE = 'CD409';
    END IF;
    -- Claimed here, on the coordinator under Citus (00_base, global keys); no old value to
    -- release: rebinding is refused above.
    PERFORM coditect_internal.global_key_claim('tenants.stripe_customer_id', p_customer, p_tenant, p_tenant);
    UPDATE coditect.tenants t SET stripe_customer_id = p_customer WHERE t.id OPERATOR(pg_catalog.=) p_tenant;
END
$$;
REVOKE ALL ON FUNCTION coditect.set_stripe_customer(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.set_stripe_customer(uuid, text) TO coditect_service;

-- Every event received, once. data_object: the event's data.object (what handlers read).
CREATE TABLE coditect_internal.stripe_events (
    event_id      text PRIMARY KEY CHECK (octet_length(event_id) BETWEEN 1 AND 255 AND event_id ~ '^[!-~]+$'),
    event_type    text NOT NULL CHECK (event_type ~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$'),
    created       timestamptz NOT NULL,   -- Stripe's "created"
    livemode      boolean NOT NULL,
    data_object   jsonb NOT NULL CHECK (jsonb_typeof(data_object) = 'object'),
    payload       jsonb NOT NULL,
    -- processed: its handler applied it; skipped: its handler found nothing to do (already
    -- applied, or older than what was applied of its object); refused: its handler changed
    -- nothing, for the reason given (an unknown customer, an amount that is not the order's);
    -- ignored: no handler.
    status        text NOT NULL CHECK (status IN ('processed', 'skipped', 'refused', 'ignored')),
    handler       regprocedure,
    received_at   timestamptz NOT NULL DEFAULT now(),
    object_id     text,                   -- data.object.id (pi_..., in_..., sub_...)
    tenant_id     uuid,                   -- the tenant of data.object.customer, once a handler found it
    reason        text,
    CHECK ((status = 'ignored') = (handler IS NULL)),
    CHECK (status <> 'refused' OR reason IS NOT NULL)
);
COMMENT ON TABLE coditect_internal.stripe_events IS
    'Stripe webhook events received (unique by Stripe event id), with the processing status of each.';
REVOKE ALL ON coditect_internal.stripe_events FROM PUBLIC;
CREATE INDEX stripe_events_type_idx ON coditect_internal.stripe_events (event_type, received_at);
-- The handlers' question: was a later event of this object applied already?
CREATE INDEX stripe_events_object_idx ON coditect_internal.stripe_events (object_id, created);

-- The dispatch: an exact event type ('charge.refunded') or a family ('invoice.*'); the exact
-- type wins. A handler is f(coditect_internal.stripe_events) RETURNS void, run as the owner in
-- the delivery's transaction with the event row already stored. A handler refuses an event by
-- raising SQLSTATE CDR01 (coditect_internal.stripe_refuse, 88_invoices): what it did is undone,
-- the event stays stored as refused with the message as its reason, and Stripe is answered 200
-- (a redelivery would be refused again). Any other error fails the delivery.
CREATE TABLE coditect_internal.stripe_event_handlers (
    event_type text PRIMARY KEY CHECK (event_type ~ '^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$'),
    handler    regprocedure NOT NULL
);
REVOKE ALL ON coditect_internal.stripe_event_handlers FROM PUBLIC;

-- One declaration per handled type (the orders and payments session adds them).
CREATE FUNCTION coditect_internal.declare_stripe_handler(p_event_type text, p_handler regprocedure) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_proc p
                    WHERE p.oid OPERATOR(pg_catalog.=) p_handler
                      AND p.pronargs OPERATOR(pg_catalog.=) 1
                      AND p.proargtypes[0] OPERATOR(pg_catalog.=) 'coditect_internal.stripe_events'::regtype
                      AND p.prorettype OPERATOR(pg_catalog.=) 'void'::regtype) THEN
        RAISE EXCEPTION 'a Stripe event handler is f(coditect_internal.stripe_events) RETURNS void, not %', p_handler
            USING ERRCODE = 'CD400';
    END IF;
    INSERT INTO coditect_internal.stripe_event_handlers AS h (event_type, handler) VALUES (p_event_type, p_handler)
    ON CONFLICT (event_type) DO UPDATE SET handler = excluded.handler;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.declare_stripe_handler(text, regprocedure) FROM PUBLIC;

-- POST /api/v1/webhooks/stripe: verifies, parses and stores the event once, then dispatches it.
-- 401: bad or stale signature; 400: not a Stripe event; 503: no secret configured. Answers
-- {received, event_id, type, status, already_received[, reason]}.
CREATE FUNCTION coditect.stripe_webhook(p_signature text, p_body bytea) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sec     text;
    verdict text;
    ev      jsonb;
    e       coditect_internal.stripe_events;
    hname   text;
    h       regprocedure;
BEGIN
    SELECT s.secret INTO sec FROM coditect_internal.stripe_webhook_secret s;
    IF sec IS NULL THEN
        RAISE EXCEPTION 'the Stripe webhook secret is not configured' USING ERRCODE = 'CD503',
            HINT = 'A DBA runs SELECT coditect.set_stripe_webhook_secret(''whsec_...'').';
    END IF;
    verdict := coditect_internal.webhook_verify(pg_catalog.convert_to(sec, 'UTF8'), coalesce(p_signature, ''),
                                                coalesce(p_body, ''), 300);
    IF verdict OPERATOR(pg_catalog.<>) 'valid' THEN
        RAISE EXCEPTION 'the Stripe-Signature header is %',
            CASE verdict WHEN 'expired' THEN 'stale: its timestamp is more than 300 s away from now'
                         WHEN 'mismatch' THEN 'not a signature of this body with the configured secret'
                         ELSE 'malformed (t=<unix seconds>,v1=<hex HMAC-SHA256>)' END
            USING ERRCODE = 'CD401';
    END IF;
    BEGIN
        ev := pg_catalog.convert_from(p_body, 'UTF8')::jsonb;
    EXCEPTION WHEN data_exception OR untranslatable_character OR character_not_in_repertoire THEN
        RAISE EXCEPTION 'the body is not JSON' USING ERRCODE = 'CD400';
    END;
    IF pg_catalog.jsonb_typeof(ev) IS DISTINCT FROM 'object'
       OR pg_catalog.jsonb_typeof(ev OPERATOR(pg_catalog.->) 'id') IS DISTINCT FROM 'string'
       OR pg_catalog.jsonb_typeof(ev OPERATOR(pg_catalog.->) 'type') IS DISTINCT FROM 'string'
       OR pg_catalog.jsonb_typeof(ev OPERATOR(pg_catalog.->) 'created') IS DISTINCT FROM 'number'
       OR pg_catalog.jsonb_typeof(ev OPERATOR(pg_catalog.#>) '{data,object}') IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'not a Stripe event: an object with id, type, created and data.object is expected'
            USING ERRCODE = 'CD400';
    END IF;
    e.event_id := ev OPERATOR(pg_catalog.->>) 'id';
    e.event_type := ev OPERATOR(pg_catalog.->>) 'type';
    IF octet_length(e.event_id) NOT BETWEEN 1 AND 255 OR e.event_id !~ '^[!-~]+$'
       OR e.event_type !~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$' THEN
        RAISE EXCEPTION 'not a Stripe event: malformed id or type' USING ERRCODE = 'CD400';
    END IF;
    BEGIN
        e.created := pg_catalog.to_timestamp((ev OPERATOR(pg_catalog.->>) 'created')::double precision);
    EXCEPTION WHEN data_exception THEN
        RAISE EXCEPTION 'not a Stripe event: created is not a Unix time' USING ERRCODE = 'CD400';
    END;
    e.livemode := coalesce((ev OPERATOR(pg_catalog.->) 'livemode') OPERATOR(pg_catalog.=) 'true'::jsonb, false);
    e.data_object := ev OPERATOR(pg_catalog.#>) '{data,object}';
    e.payload := ev;
    e.object_id := e.data_object OPERATOR(pg_catalog.->>) 'id';
    -- The exact type, else the longest family that covers it (customer.subscription.* before
    -- customer.*).
    SELECT x.handler INTO h FROM coditect_internal.stripe_event_handlers x
     WHERE x.event_type OPERATOR(pg_catalog.=) e.event_type
        OR (pg_catalog.right(x.event_type, 2) OPERATOR(pg_catalog.=) '.*'
            AND pg_catalog.starts_with(e.event_type, pg_catalog.left(x.event_type, -1)))
     ORDER BY x.event_type OPERATOR(pg_catalog.=) e.event_type DESC, pg_catalog.length(x.event_type) DESC LIMIT 1;
    e.handler := h;
    e.status := CASE WHEN h IS NULL THEN 'ignored' ELSE 'processed' END;
    e.received_at := pg_catalog.now();
    -- A concurrent delivery of the same event waits here until the first one ends. VALUES, not
    -- INSERT ... SELECT: Citus runs the latter through the coordinator and counts the rows
    -- selected, so a redelivery would look new.
    INSERT INTO coditect_internal.stripe_events (event_id, event_type, created, livemode, data_object, payload,
                                                 status, handler, received_at, object_id, tenant_id, reason)
    VALUES (e.event_id, e.event_type, e.created, e.livemode, e.data_object, e.payload,
            e.status, e.handler, e.received_at, e.object_id, e.tenant_id, e.reason)
    ON CONFLICT (event_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN (SELECT pg_catalog.jsonb_build_object('received', true, 'event_id', x.event_id, 'type', x.event_type,
                                                     'status', x.status, 'already_received', true)
                  FROM coditect_internal.stripe_events x WHERE x.event_id OPERATOR(pg_catalog.=) e.event_id);
    END IF;
    IF h IS NOT NULL THEN
        SELECT pg_catalog.format('%I.%I', n.nspname, p.proname) INTO hname
          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
         WHERE p.oid OPERATOR(pg_catalog.=) h;
        BEGIN
            EXECUTE pg_catalog.format('SELECT %s($1)', hname) USING e;
        EXCEPTION WHEN SQLSTATE 'CDR01' THEN
            UPDATE coditect_internal.stripe_events x SET status = 'refused', reason = pg_catalog.left(SQLERRM, 1000)
             WHERE x.event_id OPERATOR(pg_catalog.=) e.event_id;
        END;
        SELECT x.status, x.reason INTO e.status, e.reason FROM coditect_internal.stripe_events x
         WHERE x.event_id OPERATOR(pg_catalog.=) e.event_id;
    END IF;
    RETURN pg_catalog.jsonb_build_object('received', true, 'event_id', e.event_id, 'type', e.event_type,
                                         'status', e.status, 'already_received', false)
           OPERATOR(pg_catalog.||) pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('reason', e.reason));
END
$$;
REVOKE ALL ON FUNCTION coditect.stripe_webhook(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.stripe_webhook(text, bytea) TO coditect_gateway, coditect_service;

-- Billing belongs to the tenant resource until payments exist (the orders session moves it).
-- (The handlers are 88_invoices'.)
SELECT coditect_internal.register_action('tenant', 'stripe_webhook', 'coditect.stripe_webhook(text, bytea)',
    'POST', '/api/v1/webhooks/stripe',
    '[{"from": "header", "name": "Stripe-Signature"}, {"from": "body_octets"}]',
    p_auth => 'none',
    p_summary => 'Receive a Stripe event (no login; Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>); idempotent by event id');
