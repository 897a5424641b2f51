-- 86_subscriptions: subscriptions and entitlements (issue 12). An entitlement is what a tenant
-- holds of a product, from a source (a subscription here; a paid order line through the same
-- function when orders are paid): while it lasts, and when the product grants a license, a license
-- with the product's tier, features and seats. Entitlements are made and ended by the database
-- only, in the transaction that makes a subscription active or ends it, through the one pair
-- coditect_internal.entitlement_grant / entitlement_end.
--
-- Subscriptions follow Stripe's statuses: a new one is `trialing` when the product has a trial,
-- else `incomplete` until its first payment (`coditect.subscription_activate`, the manual path of
-- local use; Stripe's customer.subscription.* events will drive the same transitions); an
-- incomplete one left unpaid for 23 hours expires (`incomplete_expired`, the job). Canceling
-- at the period's end keeps the access until then; the pg_cron job ends what is due. A
-- subscription keeps the price, currency and interval it was made with; monthly and yearly
-- periods end on the billing cycle anchor's day (clamped to the month's last day).

CREATE TYPE coditect.subscription_status AS ENUM ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due',
                                                 'unpaid', 'canceled');
COMMENT ON TYPE coditect.subscription_status IS
    'incomplete -> active | incomplete_expired (unpaid 23 hours); trialing -> active | past_due; active <-> past_due -> unpaid; any live -> canceled. Entitled while trialing, active or past_due.';
CREATE TYPE coditect.entitlement_status AS ENUM ('active', 'ended');
CREATE TYPE coditect.entitlement_source AS ENUM ('subscription', 'order');

CREATE TABLE coditect.subscriptions (
    tenant_id              uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                     uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    product_id             uuid NOT NULL REFERENCES coditect.products (id),
    status                 coditect.subscription_status NOT NULL DEFAULT 'incomplete',
    quantity               integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 10000),
    -- The product's price and interval when subscribed (subscription_rules): a later change of
    -- the product's price does not change the subscription's.
    unit_amount            bigint NOT NULL CHECK (unit_amount >= 0),
    currency               varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    recurring_interval     coditect.recurring_interval NOT NULL,
    recurring_interval_count integer NOT NULL CHECK (recurring_interval_count BETWEEN 1 AND 365),
    current_period_start   timestamptz NOT NULL DEFAULT now(),
    current_period_end     timestamptz NOT NULL,
    trial_start            timestamptz,
    trial_end              timestamptz,
    -- The seeds' day of month (UTC) on which monthly and yearly periods end (the day subscribed
    -- when not given); the first period runs to its first occurrence.
    billing_cycle_anchor   integer CHECK (billing_cycle_anchor BETWEEN 1 AND 31),
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    canceled_at            timestamptz,
    ended_at               timestamptz,
    stripe_subscription_id varchar(255),
    last_payment_reference varchar(255),  -- the payment that paid the current period
    created_by             uuid DEFAULT coditect.current_user_id(),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT subscriptions_period_check CHECK (current_period_end > current_period_start),
    CONSTRAINT subscriptions_trial_check CHECK ((trial_start IS NULL) = (trial_end IS NULL) AND (trial_end IS NULL OR trial_end > trial_start)),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.subscriptions', '{tenant_id,created_by}', '{created_by}');
CREATE INDEX subscriptions_tenant_status_idx ON coditect.subscriptions (tenant_id, status);
CREATE INDEX subscriptions_tenant_created_idx ON coditect.subscriptions (tenant_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX subscriptions_tenant_stripe_key ON coditect.subscriptions (tenant_id, stripe_subscription_id);
-- One live subscription per tenant and product.
CREATE UNIQUE INDEX subscriptions_one_live_key ON coditect.subscriptions (tenant_id, product_id)
    WHERE status NOT IN ('canceled', 'incomplete_expired');
-- The job's scan of what is due (few rows: the live ones).
CREATE INDEX subscriptions_due_idx ON coditect.subscriptions (tenant_id, current_period_end)
    WHERE status NOT IN ('canceled', 'incomplete_expired');
-- The job's scan of first payments overdue.
CREATE INDEX subscriptions_incomplete_idx ON coditect.subscriptions (tenant_id, created_at) WHERE status = 'incomplete';

CREATE TABLE coditect.entitlements (
    tenant_id       uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    product_id      uuid NOT NULL REFERENCES coditect.products (id),
    source_type     coditect.entitlement_source NOT NULL,
    source_id       uuid NOT NULL,   -- the subscription, or the order line
    subscription_id uuid,
    license_id      uuid,
    status          coditect.entitlement_status NOT NULL DEFAULT 'active',
    starts_at       timestamptz NOT NULL DEFAULT now(),
    ends_at         timestamptz,     -- NULL: no end (a one-time purchase without a duration)
    ended_at        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES coditect.subscriptions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, license_id) REFERENCES coditect.licenses (tenant_id, id),
    CONSTRAINT entitlements_subscription_check CHECK ((source_type = 'subscription') = (subscription_id IS NOT NULL)
                                                      AND (subscription_id IS NULL OR subscription_id = source_id))
);
SELECT coditect_internal.declare_null_on_delete('coditect.entitlements', '{tenant_id,license_id}', '{license_id}');
-- One live entitlement per source and product: granting twice (a replayed event) grants once.
CREATE UNIQUE INDEX entitlements_one_live_key ON coditect.entitlements (tenant_id, source_type, source_id, product_id)
    WHERE status = 'active';
CREATE INDEX entitlements_tenant_created_idx ON coditect.entitlements (tenant_id, created_at DESC, id DESC);
CREATE INDEX entitlements_tenant_product_idx ON coditect.entitlements (tenant_id, product_id, status);
CREATE INDEX entitlements_due_idx ON coditect.entitlements (tenant_id, ends_at) WHERE status = 'active';

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('subscription', NULL,         'incomplete', NULL),
    ('subscription', NULL,         'trialing',   NULL),
    ('subscription', 'incomplete', 'active',     NULL),
    ('subscription', 'incomplete', 'canceled',   'canceled_at'),
    ('subscription', 'incomplete', 'incomplete_expired', 'ended_at'),
    ('subscription', 'trialing',   'active',     NULL),
    ('subscription', 'trialing',   'past_due',   NULL),
    ('subscription', 'trialing',   'canceled',   'canceled_at'),
    ('subscription', 'active',     'past_due',   NULL),
    ('subscription', 'active',     'canceled',   'canceled_at'),
    ('subscription', 'past_due',   'active',     NULL),
    ('subscription', 'past_due',   'unpaid',     NULL),
    ('subscription', 'past_due',   'canceled',   'canceled_at'),
    ('subscription', 'unpaid',     'active',     NULL),
    ('subscription', 'unpaid',     'canceled',   'canceled_at'),
    ('entitlement',  NULL,         'active',     NULL),
    ('entitlement',  'active',     'ended',      'ended_at');

------------------------------------------------------------------------------------------------
-- Entitlements: the one way in and out
------------------------------------------------------------------------------------------------

-- License keys where licenses are issued. entitlement_grant runs in triggers, where the tenant's
-- rows are: on Citus a worker's shard, where a global key cannot be claimed (global_key_claim).
-- So the writes that issue licenses claim their keys first, on the coordinator, in the same
-- transaction and as the same login (license_keys_claim, order_license_keys_claim),
-- and entitlement_grant takes an unused claim of the tenant (license_key_take); on one node it
-- claims one itself when there is none. Over-claimed keys are used by the tenant's next license,
-- or reaped (reap_global_keys).
-- Claims a key for each (source, product) pair whose product grants a license and which the
-- source does not hold yet (no live entitlement of that source and product; a NULL source is a
-- new one). Answers how many.
CREATE FUNCTION coditect_internal.license_keys_claim(p_tenant uuid, p_source coditect.entitlement_source, p_sources uuid[],
                                                     p_products uuid[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int := 0;
BEGIN
    -- (One statement per table: on Citus the entitlements are the tenant's shard, the products a
    -- reference table.)
    FOR i IN 1 .. coalesce(cardinality(p_products), 0) LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM coditect.products p WHERE p.id = p_products[i] AND p.grants_license);
        CONTINUE WHEN EXISTS (SELECT 1 FROM coditect.entitlements x
                               WHERE x.tenant_id = p_tenant AND x.source_type = p_source AND x.source_id = p_sources[i]
                                 AND x.product_id = p_products[i] AND x.status = 'active');
        PERFORM coditect_internal.global_key_claim('licenses.key_string', coditect.license_key_generate(), p_tenant,
                                                   coditect.uuid_generate_v7());
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- The keys a payment of order p_order issues: its lines of products without a recurring price
-- (order_entitlements).
-- (PL/pgSQL, not SQL: Citus routes a statement on the tenant as a parameter of PL/pgSQL.)
CREATE FUNCTION coditect_internal.order_license_keys_claim(p_tenant uuid, p_order uuid) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    lines    uuid[];
    products uuid[];
BEGIN
    SELECT coalesce(array_agg(l.id), '{}'), coalesce(array_agg(l.product_id), '{}') INTO lines, products
      FROM coditect.order_lines l WHERE l.tenant_id = p_tenant AND l.order_id = p_order;
    -- (Lines of a recurring price entitle through their subscription: order_entitlements.)
    SELECT coalesce(array_agg(u.line), '{}'), coalesce(array_agg(u.product), '{}') INTO lines, products
      FROM unnest(lines, products) u(line, product) JOIN coditect.products p ON p.id = u.product
     WHERE p.recurring_interval IS NULL;
    RETURN coditect_internal.license_keys_claim(p_tenant, 'order', lines, products);
END
$$;

-- An unused license key claim of the tenant (its value and the id of the license to write),
-- else (not on a Citus worker) a new one. Per tenant under a lock: two issuers never take the
-- same claim.
CREATE FUNCTION coditect_internal.license_key_take(p_tenant uuid, OUT id uuid, OUT key_string text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nested text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('coditect.license_key_take'), hashtext(p_tenant::text));
    nested := coditect_internal.nested_begin();
    -- (One statement on the tenant: on Citus a join of the reference table with the tenant's
    -- shard on its node.)
    SELECT g.row_id, g.value INTO id, key_string
      FROM coditect_internal.global_keys g
     WHERE g.tenant_id = p_tenant AND g.kind = 'licenses.key_string'
       AND NOT EXISTS (SELECT 1 FROM coditect.licenses l WHERE l.tenant_id = p_tenant AND l.id = g.row_id)
     ORDER BY g.row_id LIMIT 1;
    PERFORM coditect_internal.nested_end(nested);
    IF id IS NULL THEN
        IF coditect_internal.is_citus_worker() THEN
            RAISE EXCEPTION 'no license key claimed for tenant %: on Citus a license is issued on the tenant''s worker, where keys cannot be claimed', p_tenant
                USING ERRCODE = 'CD409',
                      HINT = 'Claim them first in the same transaction on the coordinator: coditect_internal.license_keys_claim(tenant, products).';
        END IF;
        id := coditect.uuid_generate_v7();
        key_string := coditect.license_key_generate();
        PERFORM coditect_internal.global_key_claim('licenses.key_string', key_string, p_tenant, id);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.license_keys_claim(uuid, coditect.entitlement_source, uuid[], uuid[]),
    coditect_internal.order_license_keys_claim(uuid, uuid), coditect_internal.license_key_take(uuid) FROM PUBLIC;
-- (Services paying orders or subscriptions in SQL on Citus claim first; the gateway's
-- subscription create does: subscription_create_global.)
GRANT EXECUTE ON FUNCTION coditect_internal.license_keys_claim(uuid, coditect.entitlement_source, uuid[], uuid[]),
    coditect_internal.order_license_keys_claim(uuid, uuid) TO coditect_service;
GRANT EXECUTE ON FUNCTION coditect_internal.license_keys_claim(uuid, coditect.entitlement_source, uuid[], uuid[]) TO coditect_gateway;

-- Grants the product to the tenant from the source, until p_ends_at (NULL: no end); issues the
-- product's license (tier, features, seats x p_quantity, expiring with the entitlement) when it
-- grants one. A source already entitled to the product is extended instead. Returns the
-- entitlement.
CREATE FUNCTION coditect_internal.entitlement_grant(p_tenant uuid, p_product uuid, p_source coditect.entitlement_source,
                                                    p_source_id uuid, p_ends_at timestamptz, p_quantity int DEFAULT 1)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p   coditect.products;
    e   coditect.entitlements;
    lic uuid;
    v_key text;
BEGIN
    SELECT * INTO STRICT p FROM coditect.products x WHERE x.id = p_product;
    SELECT * INTO e FROM coditect.entitlements x
     WHERE x.tenant_id = p_tenant AND x.source_type = p_source AND x.source_id = p_source_id
       AND x.product_id = p_product AND x.status = 'active'
       FOR UPDATE;
    IF e.id IS NOT NULL THEN
        UPDATE coditect.entitlements x SET ends_at = p_ends_at WHERE x.tenant_id = p_tenant AND x.id = e.id;
        UPDATE coditect.licenses l SET expiry_date = coalesce(p_ends_at, 'infinity'), is_active = true,
                                       seats_total = greatest(l.seats_in_use, p.license_seats * p_quantity)
         WHERE l.tenant_id = p_tenant AND l.id = e.license_id;
        RETURN e.id;
    END IF;
    IF p.grants_license THEN
        SELECT k.id, k.key_string INTO lic, v_key FROM coditect_internal.license_key_take(p_tenant) k;
        INSERT INTO coditect.licenses (tenant_id, id, key_string, tier, features, seats_total, expiry_date, created_by)
        VALUES (p_tenant, lic, v_key, p.license_tier, p.license_features, p.license_seats * p_quantity,
                coalesce(p_ends_at, 'infinity'), NULL);
    END IF;
    INSERT INTO coditect.entitlements (tenant_id, product_id, source_type, source_id, subscription_id, license_id, ends_at)
    VALUES (p_tenant, p_product, p_source, p_source_id, CASE WHEN p_source = 'subscription' THEN p_source_id END, lic, p_ends_at)
    RETURNING id INTO e.id;
    RETURN e.id;
END
$$;

-- Ends the source's live entitlements at p_at: now or earlier, they end (and their licenses
-- stop); later, they end then (the job ends them when it comes, and reads say so meanwhile).
CREATE FUNCTION coditect_internal.entitlement_end(p_tenant uuid, p_source coditect.entitlement_source, p_source_id uuid,
                                                  p_at timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n     int;
    ended boolean := p_at <= now();  -- (a parameter: Citus refuses now() inside an UPDATE's CASE)
BEGIN
    UPDATE coditect.entitlements x SET ends_at = p_at,
           status = CASE WHEN ended THEN 'ended'::coditect.entitlement_status ELSE x.status END
     WHERE x.tenant_id = p_tenant AND x.source_type = p_source AND x.source_id = p_source_id AND x.status = 'active';
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE coditect.licenses l SET expiry_date = LEAST(l.expiry_date, p_at),
           is_active = l.is_active AND NOT ended
      FROM coditect.entitlements x
     WHERE x.tenant_id = p_tenant AND x.source_type = p_source AND x.source_id = p_source_id
       AND l.tenant_id = x.tenant_id AND l.id = x.license_id;
    RETURN n;
END
$$;

-- How long a subscription waits for its first payment before it expires (Stripe: 23 hours).
CREATE FUNCTION coditect.subscription_incomplete_ttl() RETURNS interval
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT interval '23 hours' $$;
GRANT EXECUTE ON FUNCTION coditect.subscription_incomplete_ttl() TO coditect_gateway, coditect_service, coditect_analyst;

------------------------------------------------------------------------------------------------
-- Subscriptions' rules, for every writer
------------------------------------------------------------------------------------------------

-- BEFORE INSERT: a subscription is of an active recurring product whose price, currency and
-- interval it snapshots; its first period (to the anchor's day) and trial come from them; it
-- starts trialing (a trial) or incomplete (awaiting its payment).
-- BEFORE UPDATE: the product, price and interval stay; a renewal moves the period forward only.
-- Invoker's rights: row_security_active() then tells a client (under the policies) from
-- owner-rights code.
CREATE FUNCTION coditect_internal.subscription_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p coditect.products;
BEGIN
    -- Another tenant's row from a client: the policy refuses it (owner-rights writers, to whom
    -- no policy applies, are held to every rule below).
    IF row_security_active('coditect.subscriptions') AND coditect.current_tenant_id() IS NOT NULL
       AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN NEW;
    END IF;
    SELECT * INTO p FROM coditect.products x WHERE x.id = NEW.product_id;
    IF TG_OP = 'INSERT' THEN
        IF p.id IS NULL OR NOT p.active OR p.recurring_interval IS NULL THEN
            RAISE EXCEPTION 'product % is not an active subscription product', NEW.product_id USING ERRCODE = 'CD422';
        END IF;
        NEW.current_period_start := now();
        NEW.unit_amount := p.unit_amount;
        NEW.currency := p.currency;
        NEW.recurring_interval := p.recurring_interval;
        NEW.recurring_interval_count := p.recurring_interval_count;
        NEW.billing_cycle_anchor := coalesce(NEW.billing_cycle_anchor, extract(day FROM now() AT TIME ZONE 'UTC')::int);
        NEW.created_by := coalesce(coditect.current_user_id(), NEW.created_by);
        NEW.last_payment_reference := NULL;
        -- A trial once per tenant and product: a canceled subscription does not earn a new one.
        IF p.trial_period_days IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM coditect.subscriptions x WHERE x.tenant_id = NEW.tenant_id AND x.product_id = NEW.product_id) THEN
            NEW.status := 'trialing';
            NEW.trial_start := now();
            NEW.trial_end := now() + make_interval(days => p.trial_period_days);
            NEW.current_period_end := NEW.trial_end;
        ELSE
            NEW.status := 'incomplete';
            NEW.trial_start := NULL;
            NEW.trial_end := NULL;
            NEW.current_period_end := coditect_internal.subscription_first_period_end(
                NEW.recurring_interval, NEW.recurring_interval_count, NEW.billing_cycle_anchor, now());
        END IF;
        NEW.canceled_at := NULL;
        NEW.ended_at := NULL;
        RETURN NEW;
    END IF;
    IF NEW.product_id IS DISTINCT FROM OLD.product_id THEN
        RAISE EXCEPTION 'a subscription keeps its product (cancel it and subscribe to the other)' USING ERRCODE = 'CD422';
    END IF;
    IF (NEW.unit_amount, NEW.currency, NEW.recurring_interval, NEW.recurring_interval_count, NEW.billing_cycle_anchor)
       IS DISTINCT FROM (OLD.unit_amount, OLD.currency, OLD.recurring_interval, OLD.recurring_interval_count, OLD.billing_cycle_anchor) THEN
        RAISE EXCEPTION 'a subscription keeps the price, interval and billing cycle anchor it was made with' USING ERRCODE = 'CD422';
    END IF;
    IF NEW.current_period_end < OLD.current_period_end THEN
        RAISE EXCEPTION 'a subscription''s period only moves forward' USING ERRCODE = 'CD422';
    END IF;
    IF OLD.status IN ('canceled', 'incomplete_expired')
       AND (NEW.cancel_at_period_end, NEW.quantity) IS DISTINCT FROM (OLD.cancel_at_period_end, OLD.quantity) THEN
        RAISE EXCEPTION 'a % subscription does not change', OLD.status USING ERRCODE = 'CD409';
    END IF;
    RETURN NEW;
END
$$;

-- The end of the period that starts at p_from, for an interval of p_count x p_interval.
-- Days and weeks: p_from plus the interval. Months and years: the anchor's day (UTC) of the
-- month that many months after p_from's, at p_from's time of day, the day clamped to the
-- month's last: from the anchor every time, never from the previous end, so that an anchor
-- of 31 gives 31 Jan -> 29 Feb (28 in other years) -> 31 Mar -> 30 Apr -> 31 May.
CREATE FUNCTION coditect_internal.subscription_period_end(p_interval coditect.recurring_interval, p_count integer,
                                                          p_anchor integer, p_from timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_interval
               WHEN 'day' THEN p_from + make_interval(days => p_count)
               WHEN 'week' THEN p_from + make_interval(weeks => p_count)
               ELSE coditect_internal.anchored_date(
                        date_trunc('month', p_from AT TIME ZONE 'UTC')
                            + make_interval(months => CASE WHEN p_interval = 'year' THEN 12 ELSE 1 END * p_count),
                        coalesce(p_anchor, extract(day FROM p_from AT TIME ZONE 'UTC')::int), p_from) END
$$;

-- The anchor's day of the month starting at p_month (UTC), clamped to its last day, at p_from's
-- time of day.
CREATE FUNCTION coditect_internal.anchored_date(p_month timestamp, p_anchor integer, p_from timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT (p_month
            + make_interval(days => least(p_anchor, extract(day FROM p_month + interval '1 month' - interval '1 day')::int) - 1)
            + ((p_from AT TIME ZONE 'UTC') - date_trunc('day', p_from AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC'
$$;

-- The end of a subscription's first period: with the anchor on another day than p_from's, the
-- first occurrence of the anchor's day after p_from (a shorter first period, as Stripe's
-- billing_cycle_anchor makes it); else a whole period.
CREATE FUNCTION coditect_internal.subscription_first_period_end(p_interval coditect.recurring_interval, p_count integer,
                                                                p_anchor integer, p_from timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_interval IN ('day', 'week') OR p_anchor IS NULL
                     OR coditect_internal.anchored_date(date_trunc('month', p_from AT TIME ZONE 'UTC'), p_anchor, p_from) = p_from
                THEN coditect_internal.subscription_period_end(p_interval, p_count, p_anchor, p_from)
                WHEN coditect_internal.anchored_date(date_trunc('month', p_from AT TIME ZONE 'UTC'), p_anchor, p_from) > p_from
                THEN coditect_internal.anchored_date(date_trunc('month', p_from AT TIME ZONE 'UTC'), p_anchor, p_from)
                ELSE coditect_internal.anchored_date(date_trunc('month', p_from AT TIME ZONE 'UTC') + interval '1 month',
                                                     p_anchor, p_from) END
$$;

-- AFTER INSERT OR UPDATE: entitled while trialing, active or past_due, to the end of the period
-- (and a trial's); canceled: until the period's end when canceled at it, else now.
CREATE FUNCTION coditect_internal.subscription_entitlements() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status IN ('trialing', 'active', 'past_due') THEN
        -- A trial entitles one unit: seats are paid for.
        PERFORM coditect_internal.entitlement_grant(NEW.tenant_id, NEW.product_id, 'subscription', NEW.id,
                                                    NEW.current_period_end,
                                                    CASE WHEN NEW.status = 'trialing' THEN 1 ELSE NEW.quantity END);
    ELSIF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('canceled', 'unpaid') THEN
        PERFORM coditect_internal.entitlement_end(NEW.tenant_id, 'subscription', NEW.id,
            CASE WHEN NEW.status = 'canceled' AND NEW.cancel_at_period_end AND NEW.current_period_end > now()
                 THEN NEW.current_period_end ELSE now() END);
    END IF;
    RETURN NULL;
END
$$;

-- (Pure, and called by the invoker-rights rules.)
GRANT EXECUTE ON FUNCTION
    coditect_internal.subscription_period_end(coditect.recurring_interval, integer, integer, timestamptz),
    coditect_internal.subscription_first_period_end(coditect.recurring_interval, integer, integer, timestamptz),
    coditect_internal.anchored_date(timestamp, integer, timestamptz)
    TO coditect_gateway, coditect_service;
CREATE TRIGGER subscription_rules BEFORE INSERT OR UPDATE ON coditect.subscriptions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.subscription_rules();
CREATE TRIGGER subscription_entitlements AFTER INSERT OR UPDATE OF status, current_period_end, quantity ON coditect.subscriptions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.subscription_entitlements();
ALTER TABLE coditect.subscriptions ENABLE ALWAYS TRIGGER subscription_rules, ENABLE ALWAYS TRIGGER subscription_entitlements;

------------------------------------------------------------------------------------------------
-- Resources and actions
------------------------------------------------------------------------------------------------

SELECT coditect_internal.register_resource('coditect.subscriptions', 'subscription', p_state_machine => 'subscription',
    p_roles => '{"view": "admin", "create": "admin"}',
    p_create => '{product_id,quantity,billing_cycle_anchor}',
    p_filters => '{"status": ["exact", "in"], "product_id": ["exact"], "current_period_end": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,current_period_end}');
-- A new subscription of p_product that starts with a trial is entitled at once, its license
-- issued by the trigger (on Citus on the tenant's worker): its key first. Without a trial it
-- waits for its payment, which claims then. Called before the insert by the writers.
CREATE FUNCTION coditect_internal.subscription_start_key_claim(p_tenant uuid, p_product uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM coditect.products p WHERE p.id = p_product AND p.trial_period_days IS NOT NULL) THEN
        PERFORM coditect_internal.license_keys_claim(p_tenant, 'subscription', ARRAY[NULL::uuid], ARRAY[p_product]);
    END IF;
END
$$;
-- The create's global part (register_create_global).
CREATE FUNCTION coditect_internal.subscription_create_global(p_body jsonb) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect_internal.subscription_start_key_claim(coditect.current_tenant_id(), (p_body ->> 'product_id')::uuid)
$$;
SELECT coditect_internal.register_create_global('subscription', 'coditect_internal.subscription_create_global(jsonb)');
REVOKE ALL ON FUNCTION coditect_internal.subscription_start_key_claim(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.subscription_start_key_claim(uuid, uuid) TO coditect_gateway, coditect_service;
-- The period, the status and Stripe's id are the database's and the billing side's: clients
-- subscribe (choosing the product and quantity) and cancel, through the action.
REVOKE INSERT, UPDATE, DELETE ON coditect.subscriptions FROM coditect_gateway, coditect_service;
-- (On insert: protect_insert_columns, 00_base; current_period_start is subscription_rules'.)
GRANT INSERT ON coditect.subscriptions TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.subscriptions',
    '{status,unit_amount,currency,recurring_interval,recurring_interval_count,current_period_end,trial_start,trial_end,
      cancel_at_period_end,canceled_at,ended_at,stripe_subscription_id,last_payment_reference}');

SELECT coditect_internal.register_resource('coditect.entitlements', 'entitlement', p_state_machine => 'entitlement',
    p_writable => false, p_roles => '{"view": "member"}',
    p_filters => '{"status": ["exact"], "product_id": ["exact"], "source_type": ["exact"], "subscription_id": ["exact"],
                   "ends_at": ["gte", "lt", "isnull"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,starts_at}');

-- POST /api/v1/subscriptions/{id}/cancel/ {"at_period_end": true}: at the period's end (access
-- until then; the job cancels it), or now (access ends now).
CREATE FUNCTION coditect_internal.subscription_cancel_as(p_id uuid, p_at_period_end boolean DEFAULT true) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    s coditect.subscriptions;
BEGIN
    PERFORM coditect.require_permission('subscription.cancel');
    SELECT * INTO s FROM coditect.subscriptions x WHERE x.tenant_id = v_tenant AND x.id = p_id FOR UPDATE;
    IF s.id IS NULL THEN
        RAISE EXCEPTION 'subscription % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    IF s.status IN ('canceled', 'incomplete_expired') THEN
        RAISE EXCEPTION 'the subscription is already %', s.status USING ERRCODE = 'CD409';
    END IF;
    IF coalesce(p_at_period_end, true) AND s.status IN ('trialing', 'active', 'past_due') THEN
        UPDATE coditect.subscriptions x SET cancel_at_period_end = true WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
    ELSE
        UPDATE coditect.subscriptions x SET status = 'canceled', cancel_at_period_end = false, ended_at = now()
         WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
    END IF;
    RETURN s.id;
END
$$;
SELECT coditect_internal.register_action('subscription', 'cancel', 'coditect.subscription_cancel(uuid, boolean)',
    'POST', '/api/v1/subscriptions/{id}/cancel/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "at_period_end"}]',
    p_min_role => 'admin', p_as => 'coditect_internal.subscription_cancel_as(uuid, boolean)',
    p_summary => 'Cancel a subscription at its period''s end (default; entitled until then) or now');

-- The manual payment path (local use; Stripe's invoice.paid will do the same): a service, in the
-- tenant's request context, marks a subscription's period paid with the payment's reference:
-- incomplete, past_due or unpaid becomes active, and an active one renews for the next period.
-- The same reference again changes nothing (a retried call pays no second period).
-- coditect_internal.subscription_pay is the path itself, for the tenant given (Stripe's
-- invoice.paid, 88_invoices, runs without a request context).
CREATE FUNCTION coditect_internal.subscription_pay(p_tenant uuid, p_id uuid, p_reference text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect.subscriptions;
BEGIN
    IF p_reference IS NULL OR p_reference !~ '\S' OR char_length(p_reference) > 255 THEN
        RAISE EXCEPTION 'a payment reference (1 to 255 characters) names the payment' USING ERRCODE = 'CD400';
    END IF;
    SELECT * INTO s FROM coditect.subscriptions x WHERE x.tenant_id = p_tenant AND x.id = p_id FOR UPDATE;
    IF s.id IS NULL THEN
        RAISE EXCEPTION 'subscription % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    -- The license the subscription issues (subscription_entitlements, on the tenant's node): its
    -- key first.
    PERFORM coditect_internal.license_keys_claim(s.tenant_id, 'subscription', ARRAY[s.id], ARRAY[s.product_id]);
    IF s.last_payment_reference IS NOT DISTINCT FROM p_reference THEN
        NULL;  -- already applied
    ELSIF s.status IN ('canceled', 'incomplete_expired') THEN
        RAISE EXCEPTION 'the subscription is %', s.status USING ERRCODE = 'CD409';
    ELSIF s.status = 'active' AND s.current_period_end > now() THEN
        UPDATE coditect.subscriptions x SET current_period_start = s.current_period_end, last_payment_reference = p_reference,
               current_period_end = coditect_internal.subscription_period_end(s.recurring_interval, s.recurring_interval_count,
                                                                              s.billing_cycle_anchor, s.current_period_end)
         WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
    ELSE
        UPDATE coditect.subscriptions x SET status = 'active', current_period_start = now(), last_payment_reference = p_reference,
               current_period_end = greatest(s.current_period_end,
                   coditect_internal.subscription_period_end(s.recurring_interval, s.recurring_interval_count,
                                                             s.billing_cycle_anchor, now()))
         WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
    END IF;
    RETURN (SELECT to_jsonb(x) FROM coditect.subscriptions x WHERE x.tenant_id = s.tenant_id AND x.id = s.id);
END
$$;
CREATE FUNCTION coditect.subscription_activate(p_id uuid, p_reference text) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect_internal.subscription_pay(coditect.current_tenant_id(), p_id, p_reference)
$$;
REVOKE ALL ON FUNCTION coditect_internal.subscription_pay(uuid, uuid, text) FROM PUBLIC;
COMMENT ON FUNCTION coditect.subscription_activate(uuid, text) IS
    'The manual payment of a subscription''s period (services, in the tenant''s context): active from now, or renewed; idempotent by the payment reference';
REVOKE ALL ON FUNCTION coditect.subscription_activate(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.subscription_activate(uuid, text) TO coditect_service;

-- The job (pg_cron, every 5 minutes; all tenants): subscriptions canceled at their period's end
-- are canceled when it comes, trials that ended unpaid become past_due, subscriptions still
-- incomplete 23 hours after they were made expire (Stripe's incomplete_expired: the first
-- payment never came), and entitlements past their end end (their licenses stop). Returns how
-- many rows it changed.
CREATE FUNCTION coditect.subscription_maintenance() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int := 0;
    k int;
BEGIN
    UPDATE coditect.subscriptions x SET status = 'canceled', ended_at = x.current_period_end
     WHERE x.status NOT IN ('canceled', 'incomplete_expired') AND x.cancel_at_period_end AND x.current_period_end <= now();
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    UPDATE coditect.subscriptions x SET status = 'past_due'
     WHERE x.status = 'trialing' AND x.trial_end <= now();
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    UPDATE coditect.subscriptions x SET status = 'incomplete_expired'
     WHERE x.status = 'incomplete' AND x.created_at <= now() - coditect.subscription_incomplete_ttl();
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    UPDATE coditect.licenses l SET is_active = false
      FROM coditect.entitlements e
     WHERE e.status = 'active' AND e.ends_at <= now() AND l.tenant_id = e.tenant_id AND l.id = e.license_id AND l.is_active;
    UPDATE coditect.entitlements e SET status = 'ended' WHERE e.status = 'active' AND e.ends_at <= now();
    GET DIAGNOSTICS k = ROW_COUNT;
    RETURN n + k;
END
$$;
COMMENT ON FUNCTION coditect.subscription_maintenance() IS
    'Cancels subscriptions due at their period''s end, moves ended trials to past_due, expires subscriptions incomplete for 23 hours, ends entitlements past their end (all tenants; the pg_cron job coditect-subscriptions)';

------------------------------------------------------------------------------------------------
-- A license issued for an entitlement changes with it only: a client (to whom row-level security
-- applies) cannot switch it back on, extend it, or change its tier, features or seats.
------------------------------------------------------------------------------------------------

-- Invoker's rights, so that row_security_active() is the writer's (the entitlement functions,
-- owner-rights, are not held back).
CREATE FUNCTION coditect_internal.guard_entitled_license() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF row_security_active('coditect.licenses')
       AND EXISTS (SELECT 1 FROM coditect.entitlements e WHERE e.tenant_id = OLD.tenant_id AND e.license_id = OLD.id)
       AND (TG_OP = 'DELETE' OR (NEW.tier, NEW.features, NEW.seats_total, NEW.expiry_date, NEW.is_active)
                                IS DISTINCT FROM (OLD.tier, OLD.features, OLD.seats_total, OLD.expiry_date, OLD.is_active)) THEN
        RAISE EXCEPTION 'this license comes with an entitlement: it changes with its subscription or order'
            USING ERRCODE = 'CD403';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
-- Only updates that name a term fire it: the seat counter's (seats_in_use) does not.
CREATE TRIGGER guard_entitled_license BEFORE UPDATE OF tier, features, seats_total, expiry_date, is_active OR DELETE
    ON coditect.licenses FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_entitled_license();
ALTER TABLE coditect.licenses ENABLE ALWAYS TRIGGER guard_entitled_license;

------------------------------------------------------------------------------------------------
-- Orders (84_orders): a paid order entitles its products, in the transaction that marks it paid
-- (the manual payment, Stripe next); a product that grants a license issues it, for the
-- product's license_duration_days (or without end). A fully refunded order ends them.
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect_internal.order_entitlements() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l record;
BEGIN
    IF NEW.status = 'paid' AND OLD.status IS DISTINCT FROM 'paid' THEN
        FOR l IN SELECT ol.id, ol.product_id, ol.quantity, p.license_duration_days
                   FROM coditect.order_lines ol JOIN coditect.products p ON p.id = ol.product_id
                  WHERE ol.tenant_id = NEW.tenant_id AND ol.order_id = NEW.id AND p.recurring_interval IS NULL LOOP
            PERFORM coditect_internal.entitlement_grant(NEW.tenant_id, l.product_id, 'order', l.id,
                CASE WHEN l.license_duration_days IS NOT NULL THEN now() + make_interval(days => l.license_duration_days) END,
                l.quantity);
        END LOOP;
    ELSIF NEW.status = 'refunded' AND OLD.status IS DISTINCT FROM 'refunded' THEN
        PERFORM coditect_internal.entitlement_end(NEW.tenant_id, 'order', ol.id, now())
           FROM coditect.order_lines ol WHERE ol.tenant_id = NEW.tenant_id AND ol.order_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER order_entitlements AFTER UPDATE OF status ON coditect.orders
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.order_entitlements();
ALTER TABLE coditect.orders ENABLE ALWAYS TRIGGER order_entitlements;
