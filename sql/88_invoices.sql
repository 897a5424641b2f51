-- 88_invoices: invoices (issue 12, the seeds' Invoice "synced from Stripe") and the Stripe
-- webhook's handlers (59_stripe_webhooks dispatches; README, Stripe webhooks). Stripe is the
-- source of the billing facts; the database keeps its rules: a handler finds its tenant from the
-- event's customer (tenants.stripe_customer_id, coditect.set_stripe_customer), works in that
-- tenant only, and writes through the same tables, triggers and functions as every other path
-- (a payment row pays its order by payment_pays_order, refunds are capped by apply_refund,
-- subscriptions move along their state machine and entitle by subscription_entitlements, a
-- period is paid by subscription_pay). An event it cannot apply is refused (stored with the
-- reason, nothing changed); amounts pass through the one unit map, coditect.stripe_amount.

------------------------------------------------------------------------------------------------
-- Stripe's units: the one map at the boundary
------------------------------------------------------------------------------------------------

-- Digits of the minor unit in which Stripe expresses amounts of a currency (Stripe's "zero-decimal"
-- and "three-decimal" lists; every other currency two). ISK and UGX are zero-decimal currencies
-- that Stripe still sends as two-decimal (amounts divisible by 100); HUF and TWD are two-decimal
-- for charges (their zero-decimal rule is for payouts, which the handlers do not read).
CREATE FUNCTION coditect.stripe_currency_exponent(p_currency text) RETURNS smallint
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN upper(p_currency) IN ('BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'VND',
                                           'VUV', 'XAF', 'XOF', 'XPF') THEN 0
                WHEN upper(p_currency) IN ('BHD', 'JOD', 'KWD', 'OMR', 'TND') THEN 3
                ELSE 2 END::smallint
$$;

-- Stripe's amount of a currency (its code in any case, as Stripe sends it lower-case) in our
-- minor units (coditect.currencies.exponent, from ICU): 500 ISK from Stripe (5.00) is 5 of ours,
-- 1000 KWD (1.000) is 1000. Refused (CD422): a currency we do not know, an amount that is not a
-- whole number, or one with a fraction of our minor unit (5.50 ISK).
CREATE FUNCTION coditect.stripe_amount(p_amount numeric, p_currency text) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ours  smallint;
    shift int;
BEGIN
    IF p_amount IS NULL OR p_currency IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT c.exponent INTO ours FROM coditect.currencies c WHERE c.code = upper(p_currency);
    IF ours IS NULL THEN
        RAISE EXCEPTION 'currency "%" is not an ISO 4217 currency we know', p_currency USING ERRCODE = 'CD422';
    END IF;
    IF p_amount <> trunc(p_amount) THEN
        RAISE EXCEPTION 'Stripe amount % % is not a whole number of minor units', p_amount, upper(p_currency) USING ERRCODE = 'CD422';
    END IF;
    shift := coditect.stripe_currency_exponent(p_currency) - ours;
    IF shift > 0 AND mod(p_amount, 10::numeric ^ shift) <> 0 THEN
        RAISE EXCEPTION 'Stripe amount % % (% decimals) is not a whole number of % minor units (% decimals)', p_amount,
            upper(p_currency), coditect.stripe_currency_exponent(p_currency), upper(p_currency), ours USING ERRCODE = 'CD422';
    END IF;
    IF abs(p_amount) >= 10::numeric ^ 18 THEN
        RAISE EXCEPTION 'Stripe amount % % is out of range', p_amount, upper(p_currency) USING ERRCODE = 'CD422';
    END IF;
    RETURN (p_amount * 10::numeric ^ (-shift))::bigint;
END
$$;
GRANT EXECUTE ON FUNCTION coditect.stripe_currency_exponent(text), coditect.stripe_amount(numeric, text)
    TO coditect_gateway, coditect_service, coditect_analyst;

------------------------------------------------------------------------------------------------
-- Invoices
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.invoice_status AS ENUM ('draft', 'open', 'paid', 'void', 'uncollectible');
COMMENT ON TYPE coditect.invoice_status IS
    'Stripe''s invoice statuses: draft -> open -> paid | void | uncollectible; uncollectible -> paid | void. Paid and void are final.';

CREATE TABLE coditect.invoices (
    tenant_id          uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                 uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    -- Stripe's number (given at finalization: none while a draft).
    number             varchar(255),
    status             coditect.invoice_status NOT NULL DEFAULT 'draft',
    currency           varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    -- Minor units of currency: the lines net of tax, what discounts took off, the tax, and the total.
    subtotal_amount    bigint NOT NULL CHECK (subtotal_amount >= 0),
    discount_amount    bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
    tax_amount         bigint NOT NULL DEFAULT 0 CHECK (tax_amount >= 0),
    total_amount       bigint NOT NULL CHECK (total_amount >= 0),
    -- What is asked now (the total less the customer's credit), paid of it, and left.
    amount_due         bigint NOT NULL CHECK (amount_due >= 0),
    amount_paid        bigint NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    amount_remaining   bigint NOT NULL CHECK (amount_remaining >= 0),
    -- The service period billed (a subscription's period).
    period_start       timestamptz,
    period_end         timestamptz,
    subscription_id    uuid,
    order_id           uuid,
    stripe_invoice_id  varchar(255),
    hosted_invoice_url coditect.url,
    due_date           timestamptz,
    finalized_at       timestamptz,
    paid_at            timestamptz,
    voided_at          timestamptz,
    marked_uncollectible_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES coditect.subscriptions (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES coditect.orders (tenant_id, id),
    CONSTRAINT invoices_total CHECK (total_amount = subtotal_amount - discount_amount + tax_amount),
    CONSTRAINT invoices_amount_paid CHECK (amount_paid + amount_remaining = amount_due),
    CONSTRAINT invoices_paid_in_full CHECK (status <> 'paid' OR amount_remaining = 0),
    CONSTRAINT invoices_period CHECK (period_end >= period_start)
);
COMMENT ON TABLE coditect.invoices IS
    'Invoices (Stripe''s, synced by the webhook''s invoice.* handler): amounts in minor units that add up, a state machine, final once paid or void.';
CREATE INDEX invoices_tenant_created_idx ON coditect.invoices (tenant_id, created_at DESC, id DESC);
CREATE INDEX invoices_status_idx ON coditect.invoices (tenant_id, status, created_at DESC);
CREATE INDEX invoices_subscription_idx ON coditect.invoices (tenant_id, subscription_id, created_at DESC);
CREATE INDEX invoices_order_idx ON coditect.invoices (tenant_id, order_id);
CREATE UNIQUE INDEX invoices_stripe_invoice ON coditect.invoices (tenant_id, stripe_invoice_id);
CREATE UNIQUE INDEX invoices_number ON coditect.invoices (tenant_id, number);

-- A payment names the invoice it paid (the seeds' Payment.invoice, SET NULL).
ALTER TABLE coditect.payments ADD FOREIGN KEY (tenant_id, invoice_id) REFERENCES coditect.invoices (tenant_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.payments', '{tenant_id,invoice_id}', '{invoice_id}');

-- The first status seen may be any (Stripe makes, finalizes and pays an automatic invoice at
-- once; an event may come late); afterwards only Stripe's moves.
INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('invoice', NULL,            'draft',         NULL),
    ('invoice', NULL,            'open',          'finalized_at'),
    ('invoice', NULL,            'paid',          'paid_at'),
    ('invoice', NULL,            'void',          'voided_at'),
    ('invoice', NULL,            'uncollectible', 'marked_uncollectible_at'),
    ('invoice', 'draft',         'open',          'finalized_at'),
    ('invoice', 'open',          'paid',          'paid_at'),
    ('invoice', 'open',          'void',          'voided_at'),
    ('invoice', 'open',          'uncollectible', 'marked_uncollectible_at'),
    ('invoice', 'uncollectible', 'paid',          'paid_at'),
    ('invoice', 'uncollectible', 'void',          'voided_at'),
    -- Stripe retries a PaymentIntent after a failed attempt (the same pi_), and reports a
    -- failure it never showed pending.
    ('payment', 'failed',        'succeeded',     'succeeded_at'),
    ('payment', NULL,            'failed',        NULL),
    -- Stripe gives a trial at checkout to a product we bill without one.
    ('subscription', 'incomplete', 'trialing',    NULL);

-- Once paid or void, nothing in an invoice changes; invoices are deleted only with their tenant
-- (keep_rows, 84_orders).
CREATE FUNCTION coditect_internal.guard_invoice() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.status IN ('paid', 'void') AND to_jsonb(NEW) - 'updated_at' <> to_jsonb(OLD) - 'updated_at' THEN
        RAISE EXCEPTION 'invoice % is %: nothing in it can change', OLD.id, OLD.status USING ERRCODE = 'CD409';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_invoice BEFORE UPDATE ON coditect.invoices
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_invoice();
CREATE TRIGGER keep_rows BEFORE DELETE ON coditect.invoices
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_rows('invoices are kept: void invoice %s instead');
ALTER TABLE coditect.invoices ENABLE ALWAYS TRIGGER guard_invoice, ENABLE ALWAYS TRIGGER keep_rows;

-- Read like orders: owners and administrators (order.manage) every invoice of the tenant,
-- members the invoices of their own orders (the orders' rule decides), no request user (an analyst
-- bound to the tenant) the tenant's. Clients write none: the service role (in its tenant's
-- context) and the webhook's handlers do.
SELECT coditect_internal.register_resource('coditect.invoices', 'invoice', p_state_machine => 'invoice',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"status": ["exact", "in"], "currency": ["exact"], "subscription_id": ["exact"], "order_id": ["exact"],
                   "number": ["exact"], "created_at": ["gte", "lt"], "due_date": ["gte", "lt"], "paid_at": ["gte", "lt"],
                   "period_start": ["gte", "lt"]}',
    p_orderings => '{created_at,total_amount}');
SELECT coditect_internal.narrow_tenant_policy('coditect.invoices', 'ALL',
    $$coditect.current_user_id() IS NULL OR coditect.has_permission('order.manage')
      OR coditect_internal.order_visible(tenant_id, order_id)$$);
GRANT INSERT, UPDATE ON coditect.invoices TO coditect_service;

------------------------------------------------------------------------------------------------
-- The handlers' common steps
------------------------------------------------------------------------------------------------

-- Refuses the event being handled: everything the handler did is undone and the event is stored
-- refused with this reason (stripe_webhook catches CDR01).
CREATE FUNCTION coditect_internal.stripe_refuse(p_reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '%', p_reason USING ERRCODE = 'CDR01';
END
$$;

-- Records what a handler did with its event (status processed or skipped, a reason, the tenant).
CREATE FUNCTION coditect_internal.stripe_outcome(e coditect_internal.stripe_events, p_status text, p_reason text)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    UPDATE coditect_internal.stripe_events x SET status = p_status, reason = p_reason WHERE x.event_id = e.event_id
$$;

-- The tenant of the event's data.object.customer (refused when no tenant has that customer);
-- stored on the event.
CREATE FUNCTION coditect_internal.stripe_tenant(e coditect_internal.stripe_events) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    customer text := CASE jsonb_typeof(e.data_object -> 'customer')
                          WHEN 'string' THEN e.data_object ->> 'customer'
                          WHEN 'object' THEN e.data_object #>> '{customer,id}' END;
    t uuid;
BEGIN
    IF customer IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('%s %s names no customer', e.data_object ->> 'object', e.object_id));
    END IF;
    SELECT k.tenant_id INTO t FROM coditect_internal.global_keys k
     WHERE k.kind = 'tenants.stripe_customer_id' AND k.value = customer;
    IF t IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('unknown customer %s: no tenant is bound to it (coditect.set_stripe_customer)', customer));
    END IF;
    UPDATE coditect_internal.stripe_events x SET tenant_id = t WHERE x.event_id = e.event_id;
    RETURN t;
END
$$;

-- An amount of the event (a JSON number) in our minor units, through the one map; what cannot be
-- represented refuses the event.
CREATE FUNCTION coditect_internal.stripe_money(p_amount jsonb, p_currency text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_amount IS NULL OR jsonb_typeof(p_amount) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_amount) <> 'number' THEN
        PERFORM coditect_internal.stripe_refuse(format('amount %s is not a number', p_amount));
    END IF;
    RETURN coditect.stripe_amount(p_amount::text::numeric, p_currency);
EXCEPTION WHEN SQLSTATE 'CD422' THEN
    PERFORM coditect_internal.stripe_refuse(SQLERRM);
    RETURN NULL;
END
$$;

-- Our uuid in a Stripe field (client_reference_id, metadata.order_id), or NULL.
CREATE FUNCTION coditect_internal.stripe_uuid(p_value text) RETURNS uuid
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN p_value::uuid END
$$;

-- A Unix time of the event, or NULL.
CREATE FUNCTION coditect_internal.stripe_time(p_value jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN jsonb_typeof(p_value) = 'number' THEN to_timestamp(p_value::text::double precision) END
$$;

-- Whether an event of the same object, created later than this one, was applied already (Stripe
-- does not deliver in order): then this one is stale.
CREATE FUNCTION coditect_internal.stripe_stale(e coditect_internal.stripe_events) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM coditect_internal.stripe_events x
                    WHERE x.object_id = e.object_id AND x.created > e.created AND x.event_id <> e.event_id
                      AND x.status IN ('processed', 'skipped') AND split_part(x.event_type, '.', 1) = split_part(e.event_type, '.', 1))
$$;

-- Serialises the handling of one Stripe object (two deliveries of events of one new invoice or
-- subscription would both insert it): a transaction lock on its id.
CREATE FUNCTION coditect_internal.stripe_lock(e coditect_internal.stripe_events) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('coditect.stripe:' || e.object_id, 0))
$$;

-- The order an event names, of the tenant (locked), or a refusal.
CREATE FUNCTION coditect_internal.stripe_order(e coditect_internal.stripe_events, p_tenant uuid, p_ref text)
RETURNS coditect.orders
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o coditect.orders;
BEGIN
    IF p_ref IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('%s %s names no order (client_reference_id or metadata.order_id)',
                                                       e.data_object ->> 'object', e.object_id));
    END IF;
    SELECT * INTO o FROM coditect.orders x
     WHERE x.tenant_id = p_tenant AND x.id = coditect_internal.stripe_uuid(p_ref) FOR UPDATE;
    IF o.id IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('order %s is not an order of the customer''s tenant', p_ref));
    END IF;
    RETURN o;
END
$$;

------------------------------------------------------------------------------------------------
-- Payments: checkout.session.completed, payment_intent.succeeded, payment_intent.payment_failed
------------------------------------------------------------------------------------------------

-- Pays the order with Stripe's PaymentIntent: a succeeded payment row (guard_payment checks it is
-- of the order's total and currency while the order is pending; payment_pays_order pays the order;
-- order_entitlements issues its entitlements and licenses), the same path as the manual payment.
-- A PaymentIntent that paid already changes nothing (Stripe tells it by the session and by the
-- intent); one that failed before succeeds now (Stripe retries the same intent).
CREATE FUNCTION coditect_internal.stripe_pay_order(e coditect_internal.stripe_events, p_tenant uuid, p_order text,
                                                   p_intent text, p_amount jsonb, p_currency text,
                                                   p_session text, p_charge text, p_method text, p_invoice text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o      coditect.orders := coditect_internal.stripe_order(e, p_tenant, p_order);
    pay    coditect.payments;
    amount bigint;
    cur    text := upper(p_currency);
    inv    uuid;
BEGIN
    IF p_intent IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('%s %s names no payment_intent', e.data_object ->> 'object', e.object_id));
    END IF;
    SELECT * INTO pay FROM coditect.payments x WHERE x.tenant_id = p_tenant AND x.stripe_payment_intent_id = p_intent FOR UPDATE;
    IF pay.id IS NOT NULL AND pay.order_id <> o.id THEN
        PERFORM coditect_internal.stripe_refuse(format('payment intent %s paid order %s, not %s', p_intent, pay.order_id, o.id));
    END IF;
    IF pay.status IN ('succeeded', 'refunded') THEN
        -- Told again (the session after the intent, or the other way round): what is new is kept.
        UPDATE coditect.payments x SET stripe_charge_id = p_charge
         WHERE x.tenant_id = p_tenant AND x.id = pay.id AND x.stripe_charge_id IS NULL AND p_charge IS NOT NULL;
        UPDATE coditect.orders x SET stripe_checkout_session_id = p_session
         WHERE x.tenant_id = p_tenant AND x.id = o.id AND x.stripe_checkout_session_id IS NULL AND p_session IS NOT NULL;
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('payment intent %s paid order %s already', p_intent, o.id));
        RETURN;
    END IF;
    amount := coditect_internal.stripe_money(p_amount, p_currency);
    IF o.status <> 'pending' THEN
        PERFORM coditect_internal.stripe_refuse(format('order %s is %s: it takes no payment (payment intent %s is to be refunded in Stripe)',
                                                       o.id, o.status, p_intent));
    END IF;
    IF amount IS DISTINCT FROM o.total_amount OR cur IS DISTINCT FROM o.currency THEN
        PERFORM coditect_internal.stripe_refuse(format('amount mismatch: payment intent %s paid %s, order %s totals %s', p_intent,
            coalesce(coditect.money_format(amount, cur), 'nothing'), o.id, coditect.money_format(o.total_amount, o.currency)));
    END IF;
    SELECT x.id INTO inv FROM coditect.invoices x WHERE x.tenant_id = p_tenant AND x.stripe_invoice_id = p_invoice;
    -- The licenses the payment issues (order_entitlements, on the tenant's node): keys first.
    PERFORM coditect_internal.order_license_keys_claim(p_tenant, o.id);
    UPDATE coditect.orders x SET stripe_payment_intent_id = p_intent,
           stripe_checkout_session_id = coalesce(x.stripe_checkout_session_id, p_session)
     WHERE x.tenant_id = p_tenant AND x.id = o.id;
    IF pay.id IS NOT NULL THEN
        UPDATE coditect.payments x SET status = 'succeeded', stripe_charge_id = coalesce(p_charge, x.stripe_charge_id),
               invoice_id = coalesce(inv, x.invoice_id)
         WHERE x.tenant_id = p_tenant AND x.id = pay.id;
    ELSE
        INSERT INTO coditect.payments (tenant_id, order_id, invoice_id, stripe_payment_intent_id, stripe_charge_id, amount, currency,
                                       status, payment_method)
        VALUES (p_tenant, o.id, inv, p_intent, p_charge, amount, cur, 'succeeded', p_method::coditect.payment_method);
    END IF;
    PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
END
$$;

-- Our payment method of a PaymentIntent's or Session's payment_method_types.
CREATE FUNCTION coditect_internal.stripe_method(p_object jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_object #>> '{payment_method_types,0}' IN ('us_bank_account', 'sepa_debit', 'bacs_debit', 'au_becs_debit',
                                                                'acss_debit', 'customer_balance')
                THEN 'bank_account' ELSE 'card' END
$$;

-- checkout.session.completed. Mode payment: the order of client_reference_id, paid by the
-- session's payment_intent (payment_status paid; an asynchronous method's session is paid later,
-- by its payment_intent.succeeded). Mode subscription: the subscription of client_reference_id
-- (ours, subscribed through the API) is bound to Stripe's (its customer.subscription.* events
-- then find it).
CREATE FUNCTION coditect_internal.stripe_checkout_completed(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t   uuid := coditect_internal.stripe_tenant(e);
    obj jsonb := e.data_object;
    s   coditect.subscriptions;
BEGIN
    IF obj ->> 'mode' = 'subscription' THEN
        SELECT * INTO s FROM coditect.subscriptions x
         WHERE x.tenant_id = t AND x.id = coditect_internal.stripe_uuid(obj ->> 'client_reference_id') FOR UPDATE;
        IF s.id IS NULL THEN
            PERFORM coditect_internal.stripe_outcome(e, 'skipped',
                'no subscription of the tenant in client_reference_id: its customer.subscription.* events apply it');
        ELSIF s.stripe_subscription_id IS NOT DISTINCT FROM obj ->> 'subscription' THEN
            PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('subscription %s is bound already', s.id));
        ELSIF s.stripe_subscription_id IS NOT NULL OR obj ->> 'subscription' IS NULL THEN
            PERFORM coditect_internal.stripe_refuse(format('subscription %s is bound to %s, not %s', s.id,
                                                           s.stripe_subscription_id, obj ->> 'subscription'));
        ELSE
            UPDATE coditect.subscriptions x SET stripe_subscription_id = obj ->> 'subscription' WHERE x.tenant_id = t AND x.id = s.id;
            PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
        END IF;
        RETURN;
    END IF;
    IF obj ->> 'payment_status' IS DISTINCT FROM 'paid' THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('payment_status %s: the payment intent''s events pay it',
                                                                      coalesce(obj ->> 'payment_status', 'missing')));
        RETURN;
    END IF;
    PERFORM coditect_internal.stripe_pay_order(e, t, obj ->> 'client_reference_id', obj ->> 'payment_intent',
                                               obj -> 'amount_total', obj ->> 'currency', obj ->> 'id', NULL,
                                               coditect_internal.stripe_method(obj), obj ->> 'invoice');
END
$$;

-- payment_intent.succeeded: the order of metadata.order_id, paid by the intent (amount_received).
CREATE FUNCTION coditect_internal.stripe_payment_succeeded(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t   uuid := coditect_internal.stripe_tenant(e);
    obj jsonb := e.data_object;
BEGIN
    PERFORM coditect_internal.stripe_pay_order(e, t, obj #>> '{metadata,order_id}', obj ->> 'id',
                                               obj -> 'amount_received', obj ->> 'currency', NULL,
                                               CASE jsonb_typeof(obj -> 'latest_charge') WHEN 'string' THEN obj ->> 'latest_charge'
                                                    WHEN 'object' THEN obj #>> '{latest_charge,id}' END,
                                               coditect_internal.stripe_method(obj), obj ->> 'invoice');
END
$$;

-- payment_intent.payment_failed: a failed payment of the order with last_payment_error's code and
-- message (the order stays pending; the same intent failing again updates them).
CREATE FUNCTION coditect_internal.stripe_payment_failed(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t      uuid := coditect_internal.stripe_tenant(e);
    obj    jsonb := e.data_object;
    o      coditect.orders := coditect_internal.stripe_order(e, t, obj #>> '{metadata,order_id}');
    pay    coditect.payments;
    amount bigint := coditect_internal.stripe_money(obj -> 'amount', obj ->> 'currency');
    code   text := left(coalesce(obj #>> '{last_payment_error,decline_code}', obj #>> '{last_payment_error,code}'), 50);
    msg    text := left(coalesce(obj #>> '{last_payment_error,message}', obj #>> '{last_payment_error,code}'), 500);
BEGIN
    SELECT * INTO pay FROM coditect.payments x WHERE x.tenant_id = t AND x.stripe_payment_intent_id = obj ->> 'id' FOR UPDATE;
    IF pay.id IS NOT NULL AND pay.order_id <> o.id THEN
        PERFORM coditect_internal.stripe_refuse(format('payment intent %s is of order %s, not %s', obj ->> 'id', pay.order_id, o.id));
    ELSIF pay.status IN ('pending', 'processing', 'failed') THEN
        UPDATE coditect.payments x SET status = 'failed', failure_code = code, failure_message = msg
         WHERE x.tenant_id = t AND x.id = pay.id;
    ELSIF pay.id IS NOT NULL THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('payment intent %s is %s already', obj ->> 'id', pay.status));
        RETURN;
    ELSIF o.status <> 'pending' THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('order %s is %s', o.id, o.status));
        RETURN;
    ELSIF amount IS DISTINCT FROM o.total_amount OR upper(obj ->> 'currency') IS DISTINCT FROM o.currency THEN
        PERFORM coditect_internal.stripe_refuse(format('amount mismatch: payment intent %s is of %s, order %s totals %s', obj ->> 'id',
            coalesce(coditect.money_format(amount, upper(obj ->> 'currency')), 'nothing'), o.id,
            coditect.money_format(o.total_amount, o.currency)));
    ELSE
        INSERT INTO coditect.payments (tenant_id, order_id, stripe_payment_intent_id, amount, currency, status, payment_method,
                                       failure_code, failure_message)
        VALUES (t, o.id, obj ->> 'id', amount, o.currency, 'failed', coditect_internal.stripe_method(obj)::coditect.payment_method,
                code, msg);
    END IF;
    PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
END
$$;

------------------------------------------------------------------------------------------------
-- Refunds: charge.refunded
------------------------------------------------------------------------------------------------

-- charge.refunded: each refund of refunds.data (id re_, amount, reason, status) becomes a refund
-- row of the charge's payment, once by stripe_refund_id (a later status moves it along the
-- machine); apply_refund caps them under the payment's lock as for every refund. A charge
-- without the refunds list (API versions since 2022-11-15 do not include it) gives its
-- amount_refunded: the part not yet refunded here becomes one refund.
CREATE FUNCTION coditect_internal.stripe_charge_refunded(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t       uuid := coditect_internal.stripe_tenant(e);
    obj     jsonb := e.data_object;
    pay     coditect.payments;
    r       jsonb;
    old     coditect.refunds;
    amount  bigint;
    st      coditect.refund_status;
    changes int := 0;
BEGIN
    SELECT * INTO pay FROM coditect.payments x
     WHERE x.tenant_id = t AND (x.stripe_payment_intent_id = obj ->> 'payment_intent' OR x.stripe_charge_id = obj ->> 'id')
     ORDER BY x.stripe_charge_id = obj ->> 'id' DESC NULLS LAST LIMIT 1
       FOR UPDATE;  -- a concurrent delivery of the charge's refunds waits, then finds them
    IF pay.id IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('charge %s (payment intent %s) paid no payment of the customer''s tenant',
                                                       obj ->> 'id', coalesce(obj ->> 'payment_intent', 'none')));
    END IF;
    UPDATE coditect.payments x SET stripe_charge_id = obj ->> 'id' WHERE x.tenant_id = t AND x.id = pay.id AND x.stripe_charge_id IS NULL;
    BEGIN
        IF jsonb_typeof(obj #> '{refunds,data}') = 'array' THEN
            FOR r IN SELECT x FROM jsonb_array_elements(obj #> '{refunds,data}') x ORDER BY x -> 'created', x ->> 'id' LOOP
                st := CASE r ->> 'status' WHEN 'succeeded' THEN 'succeeded' WHEN 'failed' THEN 'failed'
                                          WHEN 'canceled' THEN 'cancelled' ELSE 'pending' END;
                SELECT * INTO old FROM coditect.refunds x WHERE x.tenant_id = t AND x.stripe_refund_id = r ->> 'id';
                IF old.id IS NOT NULL THEN
                    IF old.status <> st AND old.status = 'pending' THEN
                        UPDATE coditect.refunds x SET status = st WHERE x.tenant_id = t AND x.id = old.id;
                        changes := changes + 1;
                    END IF;
                    CONTINUE;
                END IF;
                IF st IN ('failed', 'cancelled') THEN
                    CONTINUE;  -- never took anything here
                END IF;
                amount := coditect_internal.stripe_money(r -> 'amount', coalesce(r ->> 'currency', obj ->> 'currency'));
                IF upper(coalesce(r ->> 'currency', obj ->> 'currency')) <> pay.currency THEN
                    PERFORM coditect_internal.stripe_refuse(format('refund %s is in %s, payment %s in %s', r ->> 'id',
                        upper(coalesce(r ->> 'currency', obj ->> 'currency')), pay.id, pay.currency));
                END IF;
                INSERT INTO coditect.refunds (tenant_id, payment_id, order_id, stripe_refund_id, amount, currency, reason, status)
                VALUES (t, pay.id, pay.order_id, r ->> 'id', amount, pay.currency,
                        CASE WHEN r ->> 'reason' IN ('duplicate', 'fraudulent') THEN r ->> 'reason'
                             ELSE 'requested_by_customer' END::coditect.refund_reason, st);
                changes := changes + 1;
            END LOOP;
        ELSE
            amount := coditect_internal.stripe_money(obj -> 'amount_refunded', obj ->> 'currency')
                      - (SELECT x.amount_refunded FROM coditect.payments x WHERE x.tenant_id = t AND x.id = pay.id);
            IF amount > 0 THEN
                INSERT INTO coditect.refunds (tenant_id, payment_id, order_id, amount, currency, status)
                VALUES (t, pay.id, pay.order_id, amount, pay.currency, 'succeeded');
                changes := 1;
            END IF;
        END IF;
    EXCEPTION WHEN SQLSTATE 'CD409' OR SQLSTATE 'CD422' THEN
        PERFORM coditect_internal.stripe_refuse(SQLERRM);
    END;
    PERFORM coditect_internal.stripe_outcome(e, CASE WHEN changes > 0 THEN 'processed' ELSE 'skipped' END,
                                             CASE WHEN changes = 0 THEN 'every refund of the charge is applied already' END);
END
$$;

------------------------------------------------------------------------------------------------
-- Invoices: invoice.*
------------------------------------------------------------------------------------------------

-- invoice.* (created, finalized, paid, payment_failed, voided, marked_uncollectible, ...): the
-- invoice as Stripe sends it, inserted or updated (by stripe_invoice_id) along the machine; an
-- older status than ours is stale (skipped), a paid or void invoice does not change. Amounts:
-- subtotal_amount is Stripe's subtotal_excluding_tax (else subtotal), tax_amount its tax,
-- total_amount its total, discount_amount what makes them add up (discounts and credits).
-- The subscription is Stripe's (subscription, or parent.subscription_details.subscription) as
-- ours; an order of metadata.order_id. invoice.paid of a subscription's invoice pays the
-- subscription's period through subscription_pay, with the invoice id as the payment reference
-- (so it applies once), unless our period already reaches the invoice's (Stripe's
-- customer.subscription.updated moved it first).
CREATE FUNCTION coditect_internal.stripe_invoice(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t        uuid := coditect_internal.stripe_tenant(e);
    obj      jsonb := e.data_object;
    cur      text := upper(obj ->> 'currency');
    sub_ref  text := coalesce(obj ->> 'subscription', obj #>> '{parent,subscription_details,subscription}');
    line     jsonb := (SELECT l FROM jsonb_array_elements(CASE WHEN jsonb_typeof(obj #> '{lines,data}') = 'array'
                                                              THEN obj #> '{lines,data}' ELSE '[]' END) l
                        WHERE l ? 'period' ORDER BY (l #>> '{period,end}')::numeric DESC LIMIT 1);
    inv      coditect.invoices;
    old      coditect.invoices;
    s        coditect.subscriptions;
    o        coditect.orders;
    st       coditect.invoice_status;
    rank     jsonb := '{"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}';
    sub      bigint;
    tax      bigint;
BEGIN
    IF e.object_id IS NULL OR e.event_type IN ('invoice.upcoming', 'invoice.deleted') THEN
        -- A preview (no id), or a draft Stripe deleted: no invoice of ours.
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('%s: no invoice to keep', e.event_type));
        RETURN;
    END IF;
    IF obj ->> 'status' IS NULL OR obj ->> 'status' NOT IN ('draft', 'open', 'paid', 'void', 'uncollectible') THEN
        PERFORM coditect_internal.stripe_refuse(format('invoice %s has status %s', e.object_id, coalesce(obj ->> 'status', 'none')));
    END IF;
    st := (obj ->> 'status')::coditect.invoice_status;
    PERFORM coditect_internal.stripe_lock(e);
    SELECT * INTO old FROM coditect.invoices x WHERE x.tenant_id = t AND x.stripe_invoice_id = e.object_id FOR UPDATE;
    IF old.status IN ('paid', 'void') THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('invoice %s is %s: it does not change', old.id, old.status));
        RETURN;
    END IF;
    IF (rank ->> st::text)::int < (rank ->> old.status::text)::int THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('invoice %s is %s already, past %s', old.id, old.status, st));
        RETURN;
    END IF;
    IF sub_ref IS NOT NULL THEN
        SELECT * INTO s FROM coditect.subscriptions x WHERE x.tenant_id = t AND x.stripe_subscription_id = sub_ref;
        IF s.id IS NULL THEN
            PERFORM coditect_internal.stripe_refuse(format('subscription %s is not a subscription of the customer''s tenant', sub_ref));
        END IF;
    END IF;
    IF obj #>> '{metadata,order_id}' IS NOT NULL THEN
        o := coditect_internal.stripe_order(e, t, obj #>> '{metadata,order_id}');
    END IF;

    inv.tenant_id := t;
    inv.number := obj ->> 'number';
    inv.status := st;
    inv.currency := cur;
    sub := coditect_internal.stripe_money(coalesce(obj -> 'subtotal_excluding_tax', obj -> 'subtotal'), cur);
    tax := coalesce(coditect_internal.stripe_money(obj -> 'tax', cur), 0);
    inv.total_amount := coditect_internal.stripe_money(obj -> 'total', cur);
    inv.subtotal_amount := sub;
    inv.tax_amount := tax;
    inv.discount_amount := sub + tax - inv.total_amount;
    inv.amount_due := coditect_internal.stripe_money(obj -> 'amount_due', cur);
    inv.amount_paid := coalesce(coditect_internal.stripe_money(obj -> 'amount_paid', cur), 0);
    inv.amount_remaining := coalesce(coditect_internal.stripe_money(obj -> 'amount_remaining', cur), inv.amount_due - inv.amount_paid);
    inv.period_start := coalesce(coditect_internal.stripe_time(line #> '{period,start}'), coditect_internal.stripe_time(obj -> 'period_start'));
    inv.period_end := coalesce(coditect_internal.stripe_time(line #> '{period,end}'), coditect_internal.stripe_time(obj -> 'period_end'));
    inv.subscription_id := s.id;
    inv.order_id := o.id;
    inv.stripe_invoice_id := e.object_id;
    inv.hosted_invoice_url := CASE WHEN obj ->> 'hosted_invoice_url' ~ '^https://[^\s/$.?#][^\s]*$' AND length(obj ->> 'hosted_invoice_url') <= 2000
                                   THEN obj ->> 'hosted_invoice_url' END;
    inv.due_date := coditect_internal.stripe_time(obj -> 'due_date');
    BEGIN
        IF old.id IS NULL THEN
            INSERT INTO coditect.invoices (tenant_id, number, status, currency, subtotal_amount, discount_amount, tax_amount, total_amount,
                                           amount_due, amount_paid, amount_remaining, period_start, period_end, subscription_id, order_id,
                                           stripe_invoice_id, hosted_invoice_url, due_date)
            VALUES (t, inv.number, inv.status, inv.currency, inv.subtotal_amount, inv.discount_amount, inv.tax_amount, inv.total_amount,
                    inv.amount_due, inv.amount_paid, inv.amount_remaining, inv.period_start, inv.period_end, inv.subscription_id,
                    inv.order_id, inv.stripe_invoice_id, inv.hosted_invoice_url, inv.due_date)
            RETURNING * INTO inv;
        ELSE
            IF old.status = 'draft' AND st IN ('paid', 'void', 'uncollectible') THEN
                -- Its finalization was not told (not subscribed, or still to come): it was opened.
                UPDATE coditect.invoices x SET status = 'open' WHERE x.tenant_id = t AND x.id = old.id;
            END IF;
            UPDATE coditect.invoices x
               SET number = inv.number, status = inv.status, currency = inv.currency, subtotal_amount = inv.subtotal_amount,
                   discount_amount = inv.discount_amount, tax_amount = inv.tax_amount, total_amount = inv.total_amount,
                   amount_due = inv.amount_due, amount_paid = inv.amount_paid, amount_remaining = inv.amount_remaining,
                   period_start = inv.period_start, period_end = inv.period_end, subscription_id = inv.subscription_id,
                   order_id = coalesce(inv.order_id, x.order_id), hosted_invoice_url = coalesce(inv.hosted_invoice_url, x.hosted_invoice_url),
                   due_date = inv.due_date
             WHERE x.tenant_id = t AND x.id = old.id
            RETURNING * INTO inv;
        END IF;
    EXCEPTION WHEN check_violation OR not_null_violation OR unique_violation OR foreign_key_violation
                   OR SQLSTATE 'CD409' OR SQLSTATE 'CD422' THEN
        PERFORM coditect_internal.stripe_refuse(format('invoice %s: %s', e.object_id, SQLERRM));
    END;
    -- The period it pays: a subscription's first payment, a recovery, or a renewal not told yet.
    IF inv.status = 'paid' AND old.status IS DISTINCT FROM 'paid' AND s.id IS NOT NULL
       AND NOT (s.status = 'active' AND inv.period_end IS NOT NULL AND s.current_period_end >= inv.period_end) THEN
        BEGIN
            PERFORM coditect_internal.subscription_pay(t, s.id, e.object_id);
        EXCEPTION WHEN SQLSTATE 'CD409' THEN
            PERFORM coditect_internal.stripe_refuse(format('invoice %s: %s', e.object_id, SQLERRM));
        END;
    END IF;
    PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
END
$$;

------------------------------------------------------------------------------------------------
-- Subscriptions: customer.subscription.*
------------------------------------------------------------------------------------------------

-- customer.subscription.* (created, updated, deleted, trial_will_end, ...): ours
-- follows Stripe's. Ours is the tenant's subscription of that stripe_subscription_id; else its
-- live subscription of the product not yet bound to Stripe (subscribed through the API), which
-- is bound; else a new one (subscribe rules: the product must be an active recurring product).
-- The product: the price of the first item, by products.stripe_price_id, else the price's
-- metadata.coditect_product_id. Stripe's status moves ours along the subscription machine
-- (incomplete_expired is canceled; deleted ends it now); its periods are taken (a period end
-- only forward: ours may be seconds later, from our clock at insert), with cancel_at_period_end,
-- the trial, quantity. A transition the machine does not have is refused. Events older than
-- one applied of the same subscription are skipped.
CREATE FUNCTION coditect_internal.stripe_subscription(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t       uuid := coditect_internal.stripe_tenant(e);
    obj     jsonb := e.data_object;
    item    jsonb := obj #> '{items,data,0}';
    p       coditect.products;
    s       coditect.subscriptions;
    target  coditect.subscription_status;
    v_ended timestamptz;
    p_start timestamptz := coalesce(coditect_internal.stripe_time(obj -> 'current_period_start'),
                                    coditect_internal.stripe_time(item -> 'current_period_start'));
    p_end   timestamptz := coalesce(coditect_internal.stripe_time(obj -> 'current_period_end'),
                                    coditect_internal.stripe_time(item -> 'current_period_end'));
    qty     int := coalesce((item ->> 'quantity')::int, (obj ->> 'quantity')::int, 1);
BEGIN
    PERFORM coditect_internal.stripe_lock(e);
    IF coditect_internal.stripe_stale(e) THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('a later event of %s was applied already', e.object_id));
        RETURN;
    END IF;
    IF e.event_type <> 'customer.subscription.deleted' AND coalesce(obj ->> 'status', '') NOT IN
           ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'unpaid', 'canceled') THEN
        -- paused (a trial that ended without a payment method) is not modelled.
        PERFORM coditect_internal.stripe_refuse(format('subscription %s: Stripe''s status %s is not modelled', e.object_id,
                                                       coalesce(obj ->> 'status', 'none')));
    END IF;
    target := CASE WHEN e.event_type = 'customer.subscription.deleted' THEN 'canceled'
                   ELSE CASE obj ->> 'status' WHEN 'incomplete_expired' THEN 'canceled' ELSE obj ->> 'status' END
              END::coditect.subscription_status;
    SELECT * INTO p FROM coditect.products x WHERE x.stripe_price_id = item #>> '{price,id}';
    IF p.id IS NULL THEN
        SELECT * INTO p FROM coditect.products x WHERE x.id = coditect_internal.stripe_uuid(item #>> '{price,metadata,coditect_product_id}');
    END IF;
    SELECT * INTO s FROM coditect.subscriptions x WHERE x.tenant_id = t AND x.stripe_subscription_id = e.object_id FOR UPDATE;
    IF s.id IS NULL AND target = 'canceled' THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('subscription %s is not known here: nothing to end', e.object_id));
        RETURN;
    END IF;
    IF s.id IS NULL THEN
        IF p.id IS NULL THEN
            PERFORM coditect_internal.stripe_refuse(format('price %s of subscription %s is no product of ours (products.stripe_price_id or price metadata coditect_product_id)',
                                                           coalesce(item #>> '{price,id}', 'none'), e.object_id));
        END IF;
        SELECT * INTO s FROM coditect.subscriptions x
         WHERE x.tenant_id = t AND x.product_id = p.id AND x.status <> 'canceled' AND x.stripe_subscription_id IS NULL FOR UPDATE;
        IF s.id IS NOT NULL THEN
            UPDATE coditect.subscriptions x SET stripe_subscription_id = e.object_id WHERE x.tenant_id = t AND x.id = s.id
            RETURNING * INTO s;
        ELSE
            BEGIN
                PERFORM coditect_internal.subscription_start_key_claim(t, p.id);
                INSERT INTO coditect.subscriptions (tenant_id, product_id, quantity, stripe_subscription_id)
                VALUES (t, p.id, qty, e.object_id) RETURNING * INTO s;
            EXCEPTION WHEN unique_violation OR check_violation OR SQLSTATE 'CD422' THEN
                PERFORM coditect_internal.stripe_refuse(format('subscription %s: %s', e.object_id, SQLERRM));
            END;
        END IF;
    ELSIF p.id IS NOT NULL AND p.id <> s.product_id THEN
        PERFORM coditect_internal.stripe_refuse(format('subscription %s changed its price to another product: not modelled (a subscription keeps its product)', e.object_id));
    END IF;
    IF s.status = 'canceled' THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('subscription %s is canceled: it does not change', s.id));
        RETURN;
    END IF;
    IF target IS DISTINCT FROM s.status AND NOT EXISTS (
           SELECT 1 FROM coditect.state_transitions x
            WHERE x.machine = 'subscription' AND x.from_status = s.status::text AND x.to_status = target::text) THEN
        PERFORM coditect_internal.stripe_refuse(format('subscription %s is %s: Stripe''s %s is not a move of the subscription machine',
                                                       s.id, s.status, obj ->> 'status'));
    END IF;
    BEGIN
        IF target IN ('trialing', 'active', 'past_due') THEN
            PERFORM coditect_internal.license_keys_claim(t, 'subscription', ARRAY[s.id], ARRAY[s.product_id]);
        END IF;
        -- (Computed here: Citus refuses now() inside a CASE or COALESCE of an UPDATE.)
        v_ended := CASE WHEN target = 'canceled' THEN coalesce(coditect_internal.stripe_time(obj -> 'ended_at'), now()) END;
        UPDATE coditect.subscriptions x
           SET status = target,
               quantity = qty,
               current_period_start = coalesce(p_start, x.current_period_start),
               current_period_end = greatest(coalesce(p_end, x.current_period_end), x.current_period_end),
               trial_start = CASE WHEN obj ? 'trial_start' THEN coditect_internal.stripe_time(obj -> 'trial_start') ELSE x.trial_start END,
               trial_end = CASE WHEN obj ? 'trial_end' THEN coditect_internal.stripe_time(obj -> 'trial_end') ELSE x.trial_end END,
               -- Deleted: ended now, whatever was asked for the period's end.
               cancel_at_period_end = CASE WHEN target = 'canceled' THEN false
                                           ELSE coalesce((obj ->> 'cancel_at_period_end')::boolean, x.cancel_at_period_end) END,
               ended_at = v_ended
         WHERE x.tenant_id = t AND x.id = s.id;
    EXCEPTION WHEN check_violation OR SQLSTATE 'CD409' OR SQLSTATE 'CD422' THEN
        PERFORM coditect_internal.stripe_refuse(format('subscription %s: %s', e.object_id, SQLERRM));
    END;
    PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
END
$$;

REVOKE ALL ON FUNCTION coditect_internal.guard_invoice(), coditect_internal.stripe_refuse(text),
    coditect_internal.stripe_outcome(coditect_internal.stripe_events, text, text),
    coditect_internal.stripe_tenant(coditect_internal.stripe_events), coditect_internal.stripe_money(jsonb, text),
    coditect_internal.stripe_uuid(text), coditect_internal.stripe_time(jsonb), coditect_internal.stripe_stale(coditect_internal.stripe_events),
    coditect_internal.stripe_lock(coditect_internal.stripe_events),
    coditect_internal.stripe_order(coditect_internal.stripe_events, uuid, text),
    coditect_internal.stripe_pay_order(coditect_internal.stripe_events, uuid, text, text, jsonb, text, text, text, text, text),
    coditect_internal.stripe_method(jsonb), coditect_internal.stripe_checkout_completed(coditect_internal.stripe_events),
    coditect_internal.stripe_payment_succeeded(coditect_internal.stripe_events),
    coditect_internal.stripe_payment_failed(coditect_internal.stripe_events),
    coditect_internal.stripe_charge_refunded(coditect_internal.stripe_events),
    coditect_internal.stripe_invoice(coditect_internal.stripe_events),
    coditect_internal.stripe_subscription(coditect_internal.stripe_events) FROM PUBLIC;

SELECT coditect_internal.declare_stripe_handler('checkout.session.completed',
    'coditect_internal.stripe_checkout_completed(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('payment_intent.succeeded',
    'coditect_internal.stripe_payment_succeeded(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('payment_intent.payment_failed',
    'coditect_internal.stripe_payment_failed(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('charge.refunded',
    'coditect_internal.stripe_charge_refunded(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('invoice.*', 'coditect_internal.stripe_invoice(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('customer.subscription.*',
    'coditect_internal.stripe_subscription(coditect_internal.stripe_events)');
