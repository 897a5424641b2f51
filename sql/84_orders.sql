-- 84_orders: coupons, carts, checkout, orders with their lines, manual payments and refunds (issue 12).
-- After 82_products: carts and orders price from products. Money follows 60_reference: integer
-- minor units of one currency per cart and order, tax computed only by coditect.tax_line /
-- tax_amount (per line, half away from zero). The rules live in triggers, so they hold for
-- every writer: a cart's currency, its expiry, an order's totals (checked at commit), a paid
-- order's immutability, and refunds capped by what was paid (under the payment's row lock).
-- A discount is computed only by coditect_internal.coupon_discounts (per line, before tax).

CREATE TYPE coditect.cart_status AS ENUM ('active', 'checked_out', 'expired');
COMMENT ON TYPE coditect.cart_status IS 'A cart: open (active), turned into an order (checked_out), or past its expiry (expired).';
CREATE TYPE coditect.order_status AS ENUM ('pending', 'paid', 'partially_refunded', 'refunded', 'cancelled');
COMMENT ON TYPE coditect.order_status IS 'An order: placed (pending), paid, partially or fully refunded, or cancelled before payment.';
CREATE TYPE coditect.payment_status AS ENUM ('pending', 'processing', 'succeeded', 'failed', 'refunded', 'cancelled');
COMMENT ON TYPE coditect.payment_status IS 'A payment (the seeds'' statuses); refunded: all of it was given back.';
CREATE TYPE coditect.payment_method AS ENUM ('card', 'bank_account', 'google_pay', 'apple_pay', 'manual');
COMMENT ON TYPE coditect.payment_method IS 'How a payment was made; manual: recorded by a service (bank transfer, invoice).';
CREATE TYPE coditect.refund_reason AS ENUM ('duplicate', 'fraudulent', 'requested_by_customer');
COMMENT ON TYPE coditect.refund_reason IS 'Why money was given back (Stripe''s reasons).';
CREATE TYPE coditect.refund_status AS ENUM ('pending', 'succeeded', 'failed', 'cancelled');
COMMENT ON TYPE coditect.refund_status IS 'A refund (the seeds'' statuses).';

-- How long a cart lives after its last change.
CREATE FUNCTION coditect.cart_ttl() RETURNS interval
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT interval '24 hours' $$;

------------------------------------------------------------------------------------------------
-- Coupons: global like products (the service role writes them), Stripe's shape: a percentage
-- or an amount of one currency off, valid from / until, a redemption cap, optionally limited
-- to some products. Tenants never list them (a code is a secret until it is handed out): a
-- member applies a code to a cart, which finds the coupon by its code.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.coupons (
    id                  uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    stripe_coupon_id    varchar(255) UNIQUE,
    -- What the buyer types; matched whatever its case.
    code                varchar(50) NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$'),
    name                varchar(255) NOT NULL DEFAULT '',
    -- Either a percentage off the eligible lines, or an amount (minor units of currency) off them.
    percent_off         numeric(5, 2) CHECK (percent_off > 0 AND percent_off <= 100),
    amount_off          bigint CHECK (amount_off > 0),
    currency            varchar(3) REFERENCES coditect.currencies (code),
    -- Stripe's applies_to.products: empty, every product.
    applies_to_products uuid[] NOT NULL DEFAULT '{}',
    valid_from          timestamptz,
    valid_until         timestamptz,   -- Stripe's redeem_by
    -- Redemptions (coupon_redemptions) count up to it.
    max_redemptions     integer CHECK (max_redemptions >= 1),
    active              boolean NOT NULL DEFAULT true,
    metadata            coditect.json_object NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT coupons_kind CHECK ((percent_off IS NULL) <> (amount_off IS NULL) AND (amount_off IS NULL) = (currency IS NULL)),
    CONSTRAINT coupons_validity CHECK (valid_from < valid_until)
);
CREATE UNIQUE INDEX coupons_code_key ON coditect.coupons (upper(code));
CREATE INDEX coupons_created_idx ON coditect.coupons (created_at DESC, id DESC);
CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.coupons
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();

-- An amount off is in legal tender; the products it applies to exist, each once.
CREATE FUNCTION coditect_internal.check_coupon() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    missing text;
BEGIN
    IF NEW.currency IS NOT NULL THEN
        PERFORM coditect.require_priceable_currency(NEW.currency);
    END IF;
    IF cardinality(NEW.applies_to_products) <> (SELECT count(DISTINCT r) FROM unnest(NEW.applies_to_products) r) THEN
        RAISE EXCEPTION 'applies_to_products names a product twice' USING ERRCODE = 'CD422';
    END IF;
    SELECT string_agg(r::text, ', ') INTO missing FROM unnest(NEW.applies_to_products) r
     WHERE NOT EXISTS (SELECT 1 FROM coditect.products p WHERE p.id = r);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'applies_to_products names unknown product(s) %', missing USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER check_coupon BEFORE INSERT OR UPDATE OF currency, applies_to_products ON coditect.coupons
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_coupon();

ALTER TABLE coditect.coupons ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY coupons_service ON coditect.coupons TO coditect_service USING (true) WITH CHECK (true);
REVOKE ALL ON coditect.coupons FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON coditect.coupons TO coditect_service;
SELECT pg_catalog.pg_extension_config_dump('coditect.coupons', '');

-- Redemptions: each checkout with a code takes one of its coupon's numbered slots (the key: of
-- two checkouts racing for the last slot the second is refused); the slots up to the coupon's
-- max_redemptions count, and a checkout holds one of those. Global like coupons, and written by
-- the checkout's global part as the caller (cart_checkout_redeem): on Citus a reference table is
-- written from the coordinator, over the connection that then runs the checkout on the tenant's
-- node, which reads the cart's slot there (a write from there crashed Citus 13.2.2). A caller
-- sees and takes its tenant's slots only. (No foreign key to coupons: Citus would have the
-- caller lock the coupon's placements, which needs a right to write coupons.)
CREATE TABLE coditect_internal.coupon_redemptions (
    coupon_id   uuid NOT NULL,
    slot        integer NOT NULL CHECK (slot >= 1),
    tenant_id   uuid NOT NULL,
    cart_id     uuid NOT NULL,
    redeemed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (coupon_id, slot)
);
-- One per cart (the checkout's); the tenant's own, first.
CREATE UNIQUE INDEX coupon_redemptions_cart_key ON coditect_internal.coupon_redemptions (tenant_id, cart_id);
ALTER TABLE coditect_internal.coupon_redemptions ENABLE ROW LEVEL SECURITY;
-- (On Citus a worker that holds none of the tenant's rows has no context: the coordinator's
-- placement, written in the same statement, checks the tenant there; as global_keys.)
CREATE POLICY coupon_redemptions_read ON coditect_internal.coupon_redemptions FOR SELECT TO coditect_gateway, coditect_service
    USING (tenant_id = coditect.current_tenant_id());
CREATE POLICY coupon_redemptions_take ON coditect_internal.coupon_redemptions FOR INSERT TO coditect_gateway, coditect_service
    WITH CHECK (tenant_id = coditect.current_tenant_id() OR coditect_internal.is_citus_worker());
REVOKE ALL ON coditect_internal.coupon_redemptions FROM PUBLIC;
GRANT SELECT, INSERT ON coditect_internal.coupon_redemptions TO coditect_gateway, coditect_service;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.coupon_redemptions', '');

-- How many times coupon p_coupon was redeemed (its slots taken, up to its cap), for the
-- service's reads. (By id: on Citus a query of a reference table reads a placement, whose rows
-- are of the placement's type.)
CREATE FUNCTION coditect.coupon_times_redeemed(p_coupon uuid) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*)::integer FROM coditect_internal.coupon_redemptions r
     WHERE r.coupon_id OPERATOR(pg_catalog.=) p_coupon
       AND r.slot OPERATOR(pg_catalog.<=) coalesce((SELECT c.max_redemptions FROM coditect.coupons c WHERE c.id OPERATOR(pg_catalog.=) p_coupon),
                                                  r.slot)
$$;
REVOKE ALL ON FUNCTION coditect.coupon_times_redeemed(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.coupon_times_redeemed(uuid) TO coditect_service;

------------------------------------------------------------------------------------------------
-- Carts
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.carts (
    tenant_id      uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL,  -- given by protect_columns (no default: see 00_base)
    -- Whose cart: the member who made it (guard_cart sets it from the request context); NULL
    -- once that user is deleted (the cart, and its order, stay).
    user_id        uuid,
    -- The cart's one currency: the first item's (or given at creation).
    currency       varchar(3) REFERENCES coditect.currencies (code),
    status         coditect.cart_status NOT NULL DEFAULT 'active',
    -- The discount code applied (cart_apply_discount); its amount is the computed field
    -- discount_amount, and checkout checks the code again.
    coupon_id      uuid REFERENCES coditect.coupons (id),
    discount_code  varchar(50),
    expires_at     timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    checked_out_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.carts', '{tenant_id,user_id}', '{user_id}');
CREATE INDEX carts_tenant_created_idx ON coditect.carts (tenant_id, created_at DESC, id DESC);
CREATE INDEX carts_user_idx ON coditect.carts (tenant_id, user_id, status);
-- The expiry job's scan of open carts past their time.
CREATE INDEX carts_active_expiry_idx ON coditect.carts (tenant_id, expires_at) WHERE status = 'active';

CREATE TABLE coditect.cart_items (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,  -- given by protect_columns (no default: see 00_base)
    cart_id     uuid NOT NULL,
    product_id  uuid NOT NULL REFERENCES coditect.products (id),
    quantity    integer NOT NULL CHECK (quantity > 0 AND quantity <= 10000),
    -- The product's price when added: shown to the buyer, NOT what the order charges (checkout
    -- snapshots the product's price then).
    unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
    currency    varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, cart_id) REFERENCES coditect.carts (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, cart_id, product_id)
);
CREATE INDEX cart_items_tenant_created_idx ON coditect.cart_items (tenant_id, created_at DESC, id DESC);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('cart', NULL,     'active',      NULL),
    ('cart', 'active', 'checked_out', 'checked_out_at'),
    ('cart', 'active', 'expired',     NULL);

-- Whether a cart is past its expiry (whatever the job has done yet).
CREATE FUNCTION coditect.cart_effective_status(p_cart coditect.carts) RETURNS coditect.cart_status
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_cart.status = 'active' AND p_cart.expires_at <= now() THEN 'expired'::coditect.cart_status
                ELSE p_cart.status END
$$;

-- The cart's owner is the member who makes it; an open cart's expiry moves with every change
-- (items touch their cart). A checked-out cart is kept (its order names it): only open or
-- expired carts are deleted. Plain statements may not change a closed cart.
CREATE FUNCTION coditect_internal.guard_cart() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'checked_out' AND NOT coditect_internal.hard_delete_allowed() THEN
            RAISE EXCEPTION 'cart % was checked out: its order names it', OLD.id USING ERRCODE = 'CD409';
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL AND OLD.user_id IS NOT NULL
       AND to_jsonb(NEW) - '{user_id,updated_at}'::text[] = to_jsonb(OLD) - '{user_id,updated_at}'::text[]
       AND NOT EXISTS (SELECT 1 FROM coditect.users u WHERE u.tenant_id = OLD.tenant_id AND u.id = OLD.user_id) THEN
        RETURN NEW;  -- ON DELETE SET NULL (user_id): its user was deleted
    END IF;
    IF TG_OP = 'INSERT' THEN
        NEW.user_id := coalesce(coditect.current_user_id(), NEW.user_id);
        NEW.status := 'active';
        NEW.checked_out_at := NULL;
    ELSIF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        RAISE EXCEPTION 'a cart cannot change hands' USING ERRCODE = 'CD422';
    ELSIF OLD.status <> 'active' THEN
        RAISE EXCEPTION 'cart % is %: it cannot change', OLD.id, OLD.status USING ERRCODE = 'CD409';
    ELSIF NEW.status = 'active' AND OLD.expires_at <= now() THEN
        RAISE EXCEPTION 'cart % expired at %: start a new cart', OLD.id, OLD.expires_at USING ERRCODE = 'CD409';
    ELSIF NEW.currency IS DISTINCT FROM OLD.currency
          AND EXISTS (SELECT 1 FROM coditect.cart_items i WHERE i.tenant_id = OLD.tenant_id AND i.cart_id = OLD.id) THEN
        RAISE EXCEPTION 'cart % holds items in %: its currency cannot change', OLD.id, OLD.currency USING ERRCODE = 'CD422';
    END IF;
    IF NEW.status = 'active' THEN
        NEW.expires_at := now() + coditect.cart_ttl();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_cart BEFORE INSERT OR UPDATE OR DELETE ON coditect.carts
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_cart();
ALTER TABLE coditect.carts ENABLE ALWAYS TRIGGER guard_cart;

-- An item: its cart is open (locked, so that a checkout waits for it), of one currency with the
-- product (the first item sets the cart's), the product active; the price is the product's now.
-- Every change of an item is a change of its cart (its expiry moves). Owner rights: the
-- writer holds no UPDATE on carts; the cart is found by the item's own tenant.
CREATE FUNCTION coditect_internal.guard_cart_item() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c coditect.carts;
    p coditect.products;
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    IF TG_OP = 'DELETE' AND coditect_internal.hard_delete_allowed() THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.tenant_id, NEW.cart_id, NEW.product_id) IS DISTINCT FROM (OLD.tenant_id, OLD.cart_id, OLD.product_id) THEN
        RAISE EXCEPTION 'a cart item cannot move to another cart or product: add a new one' USING ERRCODE = 'CD422';
    END IF;
    -- A cart the writer may not see (another tenant's, another member's) is left to the row
    -- policies, which refuse the insert after this trigger: nothing about it is told here.
    IF TG_OP = 'INSERT' AND coditect.current_tenant_id() IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM coditect.carts v
                        WHERE v.tenant_id = coditect.current_tenant_id() AND v.tenant_id = NEW.tenant_id AND v.id = NEW.cart_id
                          AND (v.user_id = coditect.current_user_id() OR coditect.has_permission('order.manage'))) THEN
        RETURN NEW;
    END IF;
    SELECT * INTO c FROM coditect.carts WHERE tenant_id = r.tenant_id AND id = r.cart_id FOR UPDATE;
    IF c.id IS NULL THEN
        -- The cart is being deleted (the cascade): nothing to check.
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF c.status <> 'active' THEN
        RAISE EXCEPTION 'cart % is %: its items cannot change', c.id, c.status USING ERRCODE = 'CD409';
    END IF;
    IF c.expires_at <= now() THEN
        RAISE EXCEPTION 'cart % expired at %: start a new cart', c.id, c.expires_at USING ERRCODE = 'CD409';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT * INTO p FROM coditect.products WHERE id = NEW.product_id;
        IF NOT p.active THEN
            RAISE EXCEPTION 'product "%" is not for sale', p.name USING ERRCODE = 'CD422';
        END IF;
        IF c.currency IS NOT NULL AND c.currency <> p.currency THEN
            RAISE EXCEPTION 'product "%" is priced in %, this cart in %: one currency per cart', p.name, p.currency, c.currency
                USING ERRCODE = 'CD422';
        END IF;
        NEW.unit_amount := p.unit_amount;
        NEW.currency := p.currency;
    END IF;
    -- Touching the cart moves its expiry (guard_cart) and sets its currency.
    UPDATE coditect.carts SET currency = coalesce(c.currency, p.currency), updated_at = now()
     WHERE tenant_id = c.tenant_id AND id = c.id;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_cart_item BEFORE INSERT OR UPDATE OR DELETE ON coditect.cart_items
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_cart_item();
ALTER TABLE coditect.cart_items ENABLE ALWAYS TRIGGER guard_cart_item;

------------------------------------------------------------------------------------------------
-- Orders and their lines
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.orders (
    tenant_id            uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                   uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    cart_id              uuid,
    -- Who placed it (members read their own orders).
    user_id              uuid,
    status               coditect.order_status NOT NULL DEFAULT 'pending',
    currency             varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    -- Sums of the lines: net of tax before the discount (net + discount), their tax, their
    -- discount, and what is charged (the lines' totals).
    subtotal_amount      bigint NOT NULL CHECK (subtotal_amount >= 0),
    tax_amount           bigint NOT NULL CHECK (tax_amount >= 0),
    discount_amount      bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
    total_amount         bigint NOT NULL CHECK (total_amount >= 0),
    -- The coupon redeemed, and its code as it was.
    coupon_id            uuid REFERENCES coditect.coupons (id),
    discount_code        varchar(50),
    -- The tax rate as it was at checkout (NULL id: no rate applies, tax 0).
    tax_rate_id          uuid REFERENCES coditect.tax_rates (id),
    tax_display_name     varchar(100),
    tax_percentage       numeric(7, 4) NOT NULL DEFAULT 0 CHECK (tax_percentage BETWEEN 0 AND 100),
    tax_inclusive        boolean NOT NULL DEFAULT false,
    -- The billing address as given at checkout (codes checked against the reference tables).
    billing_country_code varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    billing_state_code   varchar(6),
    billing_address      coditect.json_object NOT NULL DEFAULT '{}',
    -- Stripe's ids (88_invoices' handlers): the PaymentIntent that paid it, its Checkout Session.
    stripe_payment_intent_id   varchar(255),
    stripe_checkout_session_id varchar(255),
    paid_at              timestamptz,
    cancelled_at         timestamptz,
    refunded_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, cart_id) REFERENCES coditect.carts (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (billing_country_code, billing_state_code) REFERENCES coditect.subdivisions (country_code, code),
    CONSTRAINT orders_total CHECK (total_amount = subtotal_amount + tax_amount - discount_amount),
    CONSTRAINT orders_tax_rate_snapshot CHECK (tax_rate_id IS NOT NULL OR tax_percentage = 0),
    CONSTRAINT orders_discount_coupon CHECK ((coupon_id IS NULL) = (discount_code IS NULL)
                                             AND (discount_amount = 0 OR coupon_id IS NOT NULL))
);
SELECT coditect_internal.declare_null_on_delete('coditect.orders', '{tenant_id,user_id}', '{user_id}');
-- One order per cart.
CREATE UNIQUE INDEX orders_one_per_cart ON coditect.orders (tenant_id, cart_id);
CREATE INDEX orders_tenant_created_idx ON coditect.orders (tenant_id, created_at DESC, id DESC);
CREATE INDEX orders_user_idx ON coditect.orders (tenant_id, user_id, created_at DESC);
CREATE INDEX orders_status_idx ON coditect.orders (tenant_id, status, created_at DESC);
CREATE UNIQUE INDEX orders_stripe_payment_intent ON coditect.orders (tenant_id, stripe_payment_intent_id);
CREATE UNIQUE INDEX orders_stripe_checkout_session ON coditect.orders (tenant_id, stripe_checkout_session_id);

CREATE TABLE coditect.order_lines (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    order_id     uuid NOT NULL,
    product_id   uuid NOT NULL REFERENCES coditect.products (id),
    -- Snapshots of the product at checkout.
    product_name varchar(255) NOT NULL,
    unit_amount  bigint NOT NULL CHECK (unit_amount >= 0),
    quantity     integer NOT NULL CHECK (quantity > 0),
    -- amount = unit_amount x quantity as priced; the line's share of the order's discount;
    -- net + tax = total, from coditect.tax_line of amount - discount.
    amount          bigint NOT NULL,
    discount_amount bigint NOT NULL DEFAULT 0,
    net_amount      bigint NOT NULL,
    tax_amount      bigint NOT NULL CHECK (tax_amount >= 0),
    total_amount    bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES coditect.orders (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT order_lines_amount CHECK (amount = unit_amount * quantity),
    CONSTRAINT order_lines_sum CHECK (net_amount + tax_amount = total_amount),
    CONSTRAINT order_lines_discount CHECK (discount_amount BETWEEN 0 AND amount)
);
CREATE INDEX order_lines_order_idx ON coditect.order_lines (tenant_id, order_id, created_at);
CREATE INDEX order_lines_tenant_created_idx ON coditect.order_lines (tenant_id, created_at DESC, id DESC);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('order', NULL,                 'pending',            NULL),
    ('order', 'pending',            'paid',               'paid_at'),
    ('order', 'pending',            'cancelled',          'cancelled_at'),
    ('order', 'paid',               'partially_refunded', NULL),
    ('order', 'paid',               'refunded',           'refunded_at'),
    ('order', 'partially_refunded', 'refunded',           'refunded_at');

-- A line's tax is the order's snapshotted rate applied by tax_line (the one computation) to the
-- line's amount less its discount: a writer gives the product, price, quantity and the line's
-- discount (checkout: coupon_discounts), the database the rest.
CREATE FUNCTION coditect_internal.price_order_line() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o coditect.orders;
    t record;
BEGIN
    SELECT * INTO o FROM coditect.orders WHERE tenant_id = NEW.tenant_id AND id = NEW.order_id;
    IF o.id IS NULL THEN
        RETURN NEW;  -- the foreign key refuses it
    END IF;
    NEW.amount := NEW.unit_amount * NEW.quantity;
    IF NEW.discount_amount NOT BETWEEN 0 AND NEW.amount THEN
        RAISE EXCEPTION 'a line''s discount is between 0 and its amount (%)', NEW.amount USING ERRCODE = 'CD422';
    END IF;
    t := coditect.tax_line(NEW.amount - NEW.discount_amount, o.tax_percentage, o.tax_inclusive);
    NEW.net_amount := t.net;
    NEW.tax_amount := t.tax;
    NEW.total_amount := t.gross;
    RETURN NEW;
END
$$;

-- Money rows are kept: orders, payments, refunds and invoices are deleted only with their tenant
-- (purge, hard_delete_allowed). One BEFORE DELETE trigger for all of them; its argument is the
-- refusal, with %s for the row's id.
CREATE FUNCTION coditect_internal.keep_rows() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect_internal.hard_delete_allowed() THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '%', format(TG_ARGV[0], OLD.id) USING ERRCODE = 'CD409';
END
$$;

-- Once an order is paid (or cancelled) nothing in it changes but its status along the machine
-- (refunds) and the stamps that go with it. A pending order may change, its totals checked at
-- commit.
CREATE FUNCTION coditect_internal.guard_order() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.status <> 'pending'
       AND to_jsonb(NEW) - '{status,refunded_at,updated_at}'::text[] <> to_jsonb(OLD) - '{status,refunded_at,updated_at}'::text[]
       -- ON DELETE SET NULL (user_id): the user who placed it was deleted.
       AND NOT (NEW.user_id IS NULL AND OLD.user_id IS NOT NULL
                AND to_jsonb(NEW) - '{user_id,updated_at}'::text[] = to_jsonb(OLD) - '{user_id,updated_at}'::text[])
       -- Stripe's Checkout Session, told after its PaymentIntent paid the order: filled in once.
       AND NOT (OLD.stripe_checkout_session_id IS NULL
                AND to_jsonb(NEW) - '{stripe_checkout_session_id,updated_at}'::text[]
                    = to_jsonb(OLD) - '{stripe_checkout_session_id,updated_at}'::text[]) THEN
        RAISE EXCEPTION 'order % is %: nothing in it can change', OLD.id, OLD.status USING ERRCODE = 'CD409';
    END IF;
    IF OLD.status <> 'pending' AND NEW.status = OLD.status AND NEW.refunded_at IS DISTINCT FROM OLD.refunded_at THEN
        RAISE EXCEPTION 'order % is %: nothing in it can change', OLD.id, OLD.status USING ERRCODE = 'CD409';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_order BEFORE UPDATE ON coditect.orders
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_order();
CREATE TRIGGER keep_rows BEFORE DELETE ON coditect.orders
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_rows('orders are kept: cancel order %s instead');
ALTER TABLE coditect.orders ENABLE ALWAYS TRIGGER guard_order, ENABLE ALWAYS TRIGGER keep_rows;

CREATE FUNCTION coditect_internal.guard_order_line() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    st coditect.order_status;
BEGIN
    IF TG_OP = 'DELETE' AND coditect_internal.hard_delete_allowed() THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.tenant_id, NEW.order_id) IS DISTINCT FROM (OLD.tenant_id, OLD.order_id) THEN
        RAISE EXCEPTION 'an order line cannot move to another order' USING ERRCODE = 'CD422';
    END IF;
    SELECT o.status INTO st FROM coditect.orders o WHERE o.tenant_id = r.tenant_id AND o.id = r.order_id;
    IF st IS NOT NULL AND st <> 'pending' THEN
        RAISE EXCEPTION 'order % is %: nothing in it can change', r.order_id, st USING ERRCODE = 'CD409';
    END IF;
    RETURN r;
END
$$;
CREATE TRIGGER guard_order_line BEFORE INSERT OR UPDATE OR DELETE ON coditect.order_lines
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_order_line();
CREATE TRIGGER price_order_line BEFORE INSERT OR UPDATE ON coditect.order_lines
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.price_order_line();
ALTER TABLE coditect.order_lines ENABLE ALWAYS TRIGGER guard_order_line, ENABLE ALWAYS TRIGGER price_order_line;

-- At commit: an order's subtotal (net + discount), tax and discount are the sums of its lines'
-- (the CHECK makes the total follow: the sum of the lines' totals), and an order has lines. Deferred, so that the order and its lines are written in
-- any order within the transaction.
CREATE FUNCTION coditect_internal.check_order_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid;
    ord uuid;
    o coditect.orders;
    n bigint;
    net bigint;
    tax bigint;
    dis bigint;
BEGIN
    IF coditect_internal.trigger_table_name(TG_TABLE_NAME) = 'orders' THEN
        tenant := NEW.tenant_id;
        ord := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        tenant := OLD.tenant_id;
        ord := OLD.order_id;
    ELSE
        tenant := NEW.tenant_id;
        ord := NEW.order_id;
    END IF;
    SELECT * INTO o FROM coditect.orders WHERE tenant_id = tenant AND id = ord;
    IF o.id IS NULL THEN
        RETURN NULL;  -- deleted with its tenant
    END IF;
    SELECT count(*), coalesce(sum(l.net_amount + l.discount_amount), 0), coalesce(sum(l.tax_amount), 0),
           coalesce(sum(l.discount_amount), 0) INTO n, net, tax, dis
      FROM coditect.order_lines l WHERE l.tenant_id = o.tenant_id AND l.order_id = o.id;
    IF n = 0 THEN
        RAISE EXCEPTION 'order % has no lines', o.id USING ERRCODE = 'CD422';
    END IF;
    IF o.subtotal_amount <> net OR o.tax_amount <> tax OR o.discount_amount <> dis THEN
        RAISE EXCEPTION 'order %: subtotal %, tax % and discount % are not the sums of its lines (%, % and %)',
            o.id, o.subtotal_amount, o.tax_amount, o.discount_amount, net, tax, dis USING ERRCODE = 'CD422';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER check_order_totals AFTER INSERT OR UPDATE ON coditect.orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_order_totals();
CREATE CONSTRAINT TRIGGER check_order_totals AFTER INSERT OR UPDATE OR DELETE ON coditect.order_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_order_totals();
ALTER TABLE coditect.orders ENABLE ALWAYS TRIGGER check_order_totals;
ALTER TABLE coditect.order_lines ENABLE ALWAYS TRIGGER check_order_totals;

------------------------------------------------------------------------------------------------
-- Payments and refunds
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.payments (
    tenant_id                uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                       uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    order_id                 uuid NOT NULL,
    invoice_id               uuid,  -- the invoice it paid (88_invoices: the foreign key, SET NULL)
    stripe_payment_intent_id varchar(255),
    stripe_charge_id         varchar(255),
    -- What a manual payment was (a bank transfer's reference).
    reference                varchar(255),
    amount                   bigint NOT NULL CHECK (amount > 0),
    currency                 varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    -- What refunds (pending or succeeded) took back: kept by the refunds' trigger.
    amount_refunded          bigint NOT NULL DEFAULT 0,
    status                   coditect.payment_status NOT NULL DEFAULT 'pending',
    payment_method           coditect.payment_method NOT NULL DEFAULT 'manual',
    card_last4               varchar(4) CHECK (card_last4 ~ '^[0-9]{4}$'),
    card_brand               varchar(20),
    failure_code             varchar(50),
    failure_message          varchar(500),
    succeeded_at             timestamptz,
    refunded_at              timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES coditect.orders (tenant_id, id),
    CONSTRAINT payments_refund_cap CHECK (amount_refunded BETWEEN 0 AND amount)
);
CREATE INDEX payments_tenant_created_idx ON coditect.payments (tenant_id, created_at DESC, id DESC);
CREATE INDEX payments_order_idx ON coditect.payments (tenant_id, order_id);
CREATE INDEX payments_invoice_idx ON coditect.payments (tenant_id, invoice_id);
CREATE INDEX payments_status_idx ON coditect.payments (tenant_id, status);
-- An order is paid once: one payment that is not failed or cancelled.
CREATE UNIQUE INDEX payments_one_live_per_order ON coditect.payments (tenant_id, order_id)
    WHERE status NOT IN ('failed', 'cancelled');
-- The seeds' uniqueness of Stripe's ids (global, as Stripe's are; 12_security: tenant-led).
CREATE UNIQUE INDEX payments_stripe_payment_intent ON coditect.payments (tenant_id, stripe_payment_intent_id);

CREATE TABLE coditect.refunds (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    payment_id       uuid NOT NULL,
    order_id         uuid NOT NULL,
    stripe_refund_id varchar(255),
    amount           bigint NOT NULL CHECK (amount > 0),
    currency         varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    reason           coditect.refund_reason NOT NULL DEFAULT 'requested_by_customer',
    status           coditect.refund_status NOT NULL DEFAULT 'pending',
    refunded_by      uuid,
    succeeded_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES coditect.payments (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, order_id) REFERENCES coditect.orders (tenant_id, id),
    FOREIGN KEY (tenant_id, refunded_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.refunds', '{tenant_id,refunded_by}', '{refunded_by}');
CREATE INDEX refunds_payment_idx ON coditect.refunds (tenant_id, payment_id, created_at DESC);
CREATE INDEX refunds_order_idx ON coditect.refunds (tenant_id, order_id);
CREATE INDEX refunds_tenant_created_idx ON coditect.refunds (tenant_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX refunds_stripe_refund ON coditect.refunds (tenant_id, stripe_refund_id);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('payment', NULL,         'pending',    NULL),
    ('payment', NULL,         'succeeded',  'succeeded_at'),
    ('payment', 'pending',    'processing', NULL),
    ('payment', 'pending',    'succeeded',  'succeeded_at'),
    ('payment', 'processing', 'succeeded',  'succeeded_at'),
    ('payment', 'pending',    'failed',     NULL),
    ('payment', 'processing', 'failed',     NULL),
    ('payment', 'pending',    'cancelled',  NULL),
    ('payment', 'succeeded',  'refunded',   'refunded_at'),
    ('refund',  NULL,         'pending',    NULL),
    ('refund',  NULL,         'succeeded',  'succeeded_at'),
    ('refund',  'pending',    'succeeded',  'succeeded_at'),
    ('refund',  'pending',    'failed',     NULL),
    ('refund',  'pending',    'cancelled',  NULL);

-- A payment is of its order's total and currency, and only while the order is pending; a
-- succeeded payment pays the order (same transaction). Afterwards its amount, currency and
-- order never change (its status goes on through the machine; amount_refunded is the refunds').
CREATE FUNCTION coditect_internal.guard_payment() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o coditect.orders;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.tenant_id, NEW.order_id, NEW.amount, NEW.currency, NEW.payment_method)
           IS DISTINCT FROM (OLD.tenant_id, OLD.order_id, OLD.amount, OLD.currency, OLD.payment_method) THEN
            RAISE EXCEPTION 'a payment''s order, amount, currency and method cannot change' USING ERRCODE = 'CD409';
        END IF;
    ELSE
        SELECT * INTO o FROM coditect.orders WHERE tenant_id = NEW.tenant_id AND id = NEW.order_id FOR UPDATE;
        IF o.id IS NULL THEN
            RETURN NEW;  -- the foreign key refuses it
        END IF;
        IF o.status <> 'pending' THEN
            RAISE EXCEPTION 'order % is %: it takes no payment', o.id, o.status USING ERRCODE = 'CD409';
        END IF;
        IF NEW.amount <> o.total_amount OR NEW.currency <> o.currency THEN
            RAISE EXCEPTION 'a payment of order % is of its total, % (not %)', o.id,
                coditect.money_format(o.total_amount, o.currency), coditect.money_format(NEW.amount, NEW.currency)
                USING ERRCODE = 'CD422';
        END IF;
        NEW.amount_refunded := 0;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_payment BEFORE INSERT OR UPDATE ON coditect.payments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_payment();
CREATE TRIGGER keep_rows BEFORE DELETE ON coditect.payments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_rows('payments are kept');
ALTER TABLE coditect.payments ENABLE ALWAYS TRIGGER guard_payment, ENABLE ALWAYS TRIGGER keep_rows;

CREATE FUNCTION coditect_internal.payment_pays_order() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.orders SET status = 'paid'
     WHERE tenant_id = NEW.tenant_id AND id = NEW.order_id AND status = 'pending';
    RETURN NULL;
END
$$;
CREATE TRIGGER payment_pays_order AFTER INSERT OR UPDATE OF status ON coditect.payments
    FOR EACH ROW WHEN (NEW.status = 'succeeded') EXECUTE FUNCTION coditect_internal.payment_pays_order();
ALTER TABLE coditect.payments ENABLE ALWAYS TRIGGER payment_pays_order;

-- A refund takes from its payment under the payment's row lock: two refunds racing are
-- serialised, and the second sees the first's amount (the CHECK on payments is the backstop).
-- The payment and its order move to refunded / partially_refunded. A refund that fails or is
-- cancelled gives its amount back. Only the status of a refund changes.
CREATE FUNCTION coditect_internal.apply_refund() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p coditect.payments;
    delta bigint := 0;
BEGIN
    SELECT * INTO p FROM coditect.payments WHERE tenant_id = NEW.tenant_id AND id = NEW.payment_id FOR UPDATE;
    IF p.id IS NULL THEN
        RETURN NEW;  -- the foreign key refuses it
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF to_jsonb(NEW) - '{status,succeeded_at,stripe_refund_id,updated_at}'::text[]
           <> to_jsonb(OLD) - '{status,succeeded_at,stripe_refund_id,updated_at}'::text[]
           AND NOT (NEW.refunded_by IS NULL AND OLD.refunded_by IS NOT NULL
                    AND to_jsonb(NEW) - '{refunded_by,updated_at}'::text[] = to_jsonb(OLD) - '{refunded_by,updated_at}'::text[]) THEN
            RAISE EXCEPTION 'a refund''s amount, payment and reason cannot change' USING ERRCODE = 'CD409';
        END IF;
        IF OLD.status IN ('pending', 'succeeded') AND NEW.status IN ('failed', 'cancelled') THEN
            delta := -OLD.amount;
        END IF;
    ELSE
        IF p.status NOT IN ('succeeded', 'refunded') THEN
            RAISE EXCEPTION 'payment % is %: nothing was paid to refund', p.id, p.status USING ERRCODE = 'CD409';
        END IF;
        NEW.order_id := p.order_id;
        NEW.currency := p.currency;
        IF NEW.status IN ('pending', 'succeeded') THEN
            IF p.amount_refunded + NEW.amount > p.amount THEN
                RAISE EXCEPTION 'a refund of % exceeds what is left of payment % (% of %)',
                    coditect.money_format(NEW.amount, p.currency), p.id,
                    coditect.money_format(p.amount - p.amount_refunded, p.currency),
                    coditect.money_format(p.amount, p.currency) USING ERRCODE = 'CD409';
            END IF;
            delta := NEW.amount;
        END IF;
    END IF;
    IF delta <> 0 THEN
        UPDATE coditect.payments
           SET amount_refunded = amount_refunded + delta,
               status = CASE WHEN amount_refunded + delta = amount THEN 'refunded'::coditect.payment_status ELSE status END
         WHERE tenant_id = p.tenant_id AND id = p.id;
        UPDATE coditect.orders
           SET status = CASE WHEN p.amount_refunded + delta = p.amount THEN 'refunded'::coditect.order_status
                             ELSE 'partially_refunded'::coditect.order_status END
         WHERE tenant_id = p.tenant_id AND id = p.order_id AND status IN ('paid', 'partially_refunded')
           AND status <> CASE WHEN p.amount_refunded + delta = p.amount THEN 'refunded'::coditect.order_status
                              ELSE 'partially_refunded'::coditect.order_status END;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER apply_refund BEFORE INSERT OR UPDATE ON coditect.refunds
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.apply_refund();
CREATE TRIGGER keep_rows BEFORE DELETE ON coditect.refunds
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_rows('refunds are kept');
ALTER TABLE coditect.refunds ENABLE ALWAYS TRIGGER apply_refund, ENABLE ALWAYS TRIGGER keep_rows;

------------------------------------------------------------------------------------------------
-- Discounts
------------------------------------------------------------------------------------------------

-- THE discount computation; nothing else computes or splits a discount. Given a cart's or an
-- order's lines (product, amount = unit price x quantity, in one currency), the coupon's
-- discount of each line, in minor units:
--   1. the eligible lines are those of the coupon's products (all lines when it names none),
--      E their amounts' sum;
--   2. the discount D is computed once on E: percent_off: round(E x percent / 100), half away
--      from zero like tax; amount_off: min(amount_off, E) (never more than the lines cost);
--   3. D is split across the eligible lines in proportion to their amounts by the largest
--      remainder method: each line gets floor(D x amount / E), and the units left over (fewer
--      than the eligible lines) go one each to the lines with the largest remainders, the
--      earlier line first on a tie. The shares sum to D exactly and none exceeds its line.
-- Tax is then tax_line(amount - share) per line (price_order_line): the only rounding of tax.
-- Owner rights: only the coupon row named is read (clients cannot read coupons).
CREATE FUNCTION coditect_internal.coupon_discounts(p_coupon uuid, p_products uuid[], p_amounts bigint[])
RETURNS bigint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c coditect.coupons;
    eligible numeric;
    d numeric;
    shares bigint[];
BEGIN
    SELECT * INTO c FROM coditect.coupons x WHERE x.id = p_coupon;
    SELECT sum(u.a) INTO eligible FROM unnest(p_products, p_amounts) u(p, a)
     WHERE cardinality(c.applies_to_products) = 0 OR u.p = ANY (c.applies_to_products);
    IF c.id IS NULL OR coalesce(eligible, 0) = 0 THEN
        RETURN ARRAY(SELECT 0::bigint FROM unnest(p_amounts));
    END IF;
    d := CASE WHEN c.percent_off IS NOT NULL THEN round(eligible * c.percent_off / 100)
              ELSE least(c.amount_off, eligible) END;
    WITH l AS (
        SELECT u.i, CASE WHEN cardinality(c.applies_to_products) = 0 OR u.p = ANY (c.applies_to_products)
                         THEN u.a ELSE 0 END::numeric AS a
          FROM unnest(p_products, p_amounts) WITH ORDINALITY u(p, a, i)
    ), f AS (
        SELECT l.i, div(d * l.a, eligible) AS share, mod(d * l.a, eligible) AS remainder FROM l
    ), r AS (
        SELECT f.i, f.share, row_number() OVER (ORDER BY f.remainder DESC, f.i) AS rank FROM f
    )
    SELECT array_agg((r.share + CASE WHEN r.rank <= d - (SELECT sum(share) FROM f) THEN 1 ELSE 0 END)::bigint ORDER BY r.i)
      INTO shares FROM r;
    RETURN shares;
END
$$;

-- Whether coupon p_coupon (found by p_code) may be redeemed now by cart p_cart in p_currency
-- holding p_products: CD422 saying why not. The same check when a code is applied and at
-- checkout (where the cart's own slot is not counted against it).
CREATE FUNCTION coditect_internal.coupon_check(p_coupon coditect.coupons, p_code text, p_currency text, p_products uuid[],
                                               p_cart uuid)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_coupon.id IS NULL OR NOT p_coupon.active THEN
        RAISE EXCEPTION 'discount code "%" is not valid', p_code USING ERRCODE = 'CD422';
    END IF;
    IF p_coupon.valid_from > now() THEN
        RAISE EXCEPTION 'discount code "%" is not valid before %', p_coupon.code, p_coupon.valid_from USING ERRCODE = 'CD422';
    END IF;
    IF p_coupon.valid_until <= now() THEN
        RAISE EXCEPTION 'discount code "%" expired at %', p_coupon.code, p_coupon.valid_until USING ERRCODE = 'CD422';
    END IF;
    IF (SELECT count(*) FROM coditect_internal.coupon_redemptions r
         WHERE r.coupon_id = p_coupon.id AND r.slot <= p_coupon.max_redemptions AND r.cart_id <> p_cart) >= p_coupon.max_redemptions THEN
        RAISE EXCEPTION 'discount code "%" has been redeemed its % times', p_coupon.code, p_coupon.max_redemptions
            USING ERRCODE = 'CD422';
    END IF;
    IF p_coupon.currency IS NOT NULL AND p_coupon.currency IS DISTINCT FROM p_currency THEN
        RAISE EXCEPTION 'discount code "%" is an amount in %, this cart is in %', p_coupon.code, p_coupon.currency,
            coalesce(p_currency, 'no currency yet') USING ERRCODE = 'CD422';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM unnest(p_products) p
                    WHERE cardinality(p_coupon.applies_to_products) = 0 OR p = ANY (p_coupon.applies_to_products)) THEN
        RAISE EXCEPTION 'discount code "%" applies to none of the products in this cart', p_coupon.code
            USING ERRCODE = 'CD422';
    END IF;
END
$$;

-- A cart's discount as it stands (the computed field discount_amount): its items, under the
-- caller's row-level security, through coupon_discounts. Checkout may still refuse the code.
-- PL/pgSQL, not SQL: Citus cannot route a SQL function's statement on its parameters. The items
-- are read first, coupon_discounts called on them in a statement of its own: in one statement
-- with the items' reads, Citus would run it on the shard, where its read of coupons (a reference
-- table) is a distributed query from a shard.
CREATE FUNCTION coditect.cart_discount_amount(p_cart coditect.carts) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    products uuid[];
    amounts  bigint[];
BEGIN
    IF p_cart.coupon_id IS NULL THEN
        RETURN 0;
    END IF;
    SELECT coalesce(array_agg(i.product_id ORDER BY i.created_at, i.id), '{}'),
           coalesce(array_agg(i.unit_amount * i.quantity ORDER BY i.created_at, i.id), '{}')
      INTO products, amounts
      FROM coditect.cart_items i WHERE i.tenant_id = p_cart.tenant_id AND i.cart_id = p_cart.id;
    RETURN (SELECT coalesce(sum(x), 0)::bigint FROM unnest(coditect_internal.coupon_discounts(p_cart.coupon_id, products, amounts)) x);
END
$$;

------------------------------------------------------------------------------------------------
-- Resources: members see their own carts and orders, order.manage (administrators) all of the
-- tenant's (the tenant policy narrowed by narrow_tenant_policy, for reads and writes; lines,
-- payments and refunds follow their order). No request user (an analyst bound to the tenant, maintenance): the tenant's.
------------------------------------------------------------------------------------------------

SELECT coditect_internal.declare_permission('order.manage', 'Read and manage every cart and order of the tenant', 'admin');

SELECT coditect_internal.register_resource('coditect.carts', 'cart', p_state_machine => 'cart',
    p_roles => '{"view": "member", "create": "member", "delete": "member"}',
    p_create => '{currency}',
    p_filters => '{"status": ["exact", "in"], "currency": ["exact"], "user_id": ["exact"], "created_at": ["gte", "lt"],
                   "expires_at": ["gte", "lt"]}',
    p_orderings => '{created_at,expires_at}', p_audit_exclude => '{expires_at}',
    p_example => '{"currency": "USD"}');
SELECT coditect_internal.register_computed_field('cart', 'effective_status', 'coditect.cart_effective_status(coditect.carts)');
SELECT coditect_internal.register_computed_field('cart', 'discount_amount', 'coditect.cart_discount_amount(coditect.carts)');
REVOKE INSERT, UPDATE ON coditect.carts FROM coditect_gateway, coditect_service;
-- (UPDATE of currency: an empty cart's may change; the generated delete locks the row.) On
-- insert clients give the currency alone (protect_insert_columns, 00_base, which gives the id;
-- expires_at is guard_cart's).
GRANT INSERT, UPDATE (currency) ON coditect.carts TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.carts', '{id,user_id,status,coupon_id,discount_code,checked_out_at}');

SELECT coditect_internal.register_resource('coditect.cart_items', 'cart_item',
    p_parent => 'cart', p_parent_column => 'cart_id', p_path => '/api/v1/carts/{cart_id}/items/',
    p_roles => '{"view": "member", "update": "member", "delete": "member"}',
    p_update => '{quantity}',
    p_filters => '{"product_id": ["exact"]}',
    p_orderings => '{created_at}', p_default_ordering => 'created_at', p_page_size => 100);
REVOKE INSERT, UPDATE ON coditect.cart_items FROM coditect_gateway, coditect_service;
-- On insert clients give the cart, product and quantity (protect_insert_columns, 00_base,
-- which gives the id; the price is guard_cart_item's).
GRANT INSERT, UPDATE (quantity) ON coditect.cart_items TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.cart_items', '{id,unit_amount,currency}');

SELECT coditect_internal.register_resource('coditect.orders', 'order', p_state_machine => 'order',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"status": ["exact", "in"], "currency": ["exact"], "user_id": ["exact"], "cart_id": ["exact"],
                   "created_at": ["gte", "lt"], "paid_at": ["gte", "lt"]}',
    p_orderings => '{created_at,total_amount}', p_keyset => true);
SELECT coditect_internal.register_resource('coditect.order_lines', 'order_line',
    p_parent => 'order', p_parent_column => 'order_id', p_path => '/api/v1/orders/{order_id}/lines/',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"product_id": ["exact"]}',
    p_orderings => '{created_at}', p_default_ordering => 'created_at', p_page_size => 100);
SELECT coditect_internal.register_resource('coditect.payments', 'payment', p_state_machine => 'payment',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"order_id": ["exact"], "status": ["exact", "in"], "payment_method": ["exact", "in"],
                   "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at}');
SELECT coditect_internal.register_resource('coditect.refunds', 'refund', p_state_machine => 'refund',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"order_id": ["exact"], "payment_id": ["exact"], "status": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at}');

-- A cart's or an order's rows (items, lines, payments, refunds, invoices) are read with it: these
-- say whether the caller sees the cart or order (its policies decide: invoker rights). A function
-- call rather than an EXISTS in the policy, which Citus refuses (no subqueries in policies). C
-- (src_ext/pg_nested_read.cpp) calling the PL/pgSQL *_body, so that on a Citus worker the read
-- runs inside the shard query (Citus refuses a SQL function's parameters there).
CREATE FUNCTION coditect_internal.cart_visible_body(p_tenant uuid, p_cart uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM coditect.carts c
                    WHERE c.tenant_id OPERATOR(pg_catalog.=) p_tenant AND c.id OPERATOR(pg_catalog.=) p_cart);
END
$$;
CREATE FUNCTION coditect_internal.order_visible_body(p_tenant uuid, p_order uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM coditect.orders o
                    WHERE o.tenant_id OPERATOR(pg_catalog.=) p_tenant AND o.id OPERATOR(pg_catalog.=) p_order);
END
$$;
CREATE FUNCTION coditect_internal.cart_visible(p_tenant uuid, p_cart uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_cart_visible' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.order_visible(p_tenant uuid, p_order uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_order_visible' LANGUAGE C STABLE;
GRANT EXECUTE ON FUNCTION coditect_internal.cart_visible(uuid, uuid), coditect_internal.order_visible(uuid, uuid)
    TO coditect_gateway, coditect_service, coditect_analyst;

SELECT coditect_internal.narrow_tenant_policy('coditect.carts', 'ALL',
    $$coditect.current_user_id() IS NULL OR user_id = coditect.current_user_id()
      OR coditect.has_permission('order.manage')$$);
SELECT coditect_internal.narrow_tenant_policy('coditect.cart_items', 'ALL',
    $$coditect_internal.cart_visible(tenant_id, cart_id)$$);
SELECT coditect_internal.narrow_tenant_policy('coditect.orders', 'ALL',
    $$coditect.current_user_id() IS NULL OR user_id = coditect.current_user_id()
      OR coditect.has_permission('order.manage')$$);
SELECT coditect_internal.narrow_tenant_policy('coditect.order_lines', 'ALL',
    $$coditect_internal.order_visible(tenant_id, order_id)$$);
SELECT coditect_internal.narrow_tenant_policy('coditect.payments', 'ALL',
    $$coditect_internal.order_visible(tenant_id, order_id)$$);
SELECT coditect_internal.narrow_tenant_policy('coditect.refunds', 'ALL',
    $$coditect_internal.order_visible(tenant_id, order_id)$$);

------------------------------------------------------------------------------------------------
-- Actions
------------------------------------------------------------------------------------------------

-- Adds a product to a cart (its quantity added to the item's if it is there already).
-- Invoker rights: the cart must be visible to the caller (its own, or order.manage).
CREATE FUNCTION coditect.cart_add_item(p_cart uuid, p_product uuid, p_quantity integer DEFAULT 1) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
BEGIN
    PERFORM coditect.require_permission('cart.add_item');
    IF NOT EXISTS (SELECT 1 FROM coditect.carts c WHERE c.tenant_id = v_tenant AND c.id = p_cart) THEN
        RAISE EXCEPTION 'cart % not found', p_cart USING ERRCODE = 'CD404';
    END IF;
    IF p_product IS NULL OR NOT EXISTS (SELECT 1 FROM coditect.products p WHERE p.id = p_product) THEN
        RAISE EXCEPTION 'product % not found', p_product USING ERRCODE = 'CD422';
    END IF;
    -- An absent body field arrives as NULL: the default, one.
    p_quantity := coalesce(p_quantity, 1);
    IF p_quantity < 1 THEN
        RAISE EXCEPTION 'quantity must be at least 1' USING ERRCODE = 'CD422';
    END IF;
    INSERT INTO coditect.cart_items AS i (tenant_id, cart_id, product_id, quantity)
    VALUES (v_tenant, p_cart, p_product, p_quantity)
    ON CONFLICT (tenant_id, cart_id, product_id) DO UPDATE SET quantity = i.quantity + excluded.quantity;
    RETURN coditect.api_carts_get(p_cart);
END
$$;

-- Applies a discount code to a cart (or, without a code, removes the cart's): the code must be
-- one a checkout of the cart would redeem now (coupon_check). Owner rights (clients cannot read
-- coupons), scoped to the request's tenant and to carts the caller may see.
CREATE FUNCTION coditect_internal.cart_apply_discount_as(p_cart uuid, p_code text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect.current_tenant_id();
    c coditect.carts;
    cp coditect.coupons;
BEGIN
    PERFORM coditect.require_permission('cart.apply_discount');
    SELECT * INTO c FROM coditect.carts
     WHERE tenant_id = tenant AND id = p_cart AND (user_id = coditect.current_user_id() OR coditect.has_permission('order.manage'))
       FOR UPDATE;
    IF c.id IS NULL THEN
        RAISE EXCEPTION 'cart % not found', p_cart USING ERRCODE = 'CD404';
    END IF;
    IF p_code IS NULL OR p_code !~ '\S' THEN
        UPDATE coditect.carts SET coupon_id = NULL, discount_code = NULL WHERE tenant_id = tenant AND id = c.id;
        RETURN c.id;
    END IF;
    SELECT * INTO cp FROM coditect.coupons x WHERE upper(x.code) = upper(btrim(p_code));
    PERFORM coditect_internal.coupon_check(cp, left(btrim(p_code), 50), c.currency,
        ARRAY(SELECT i.product_id FROM coditect.cart_items i WHERE i.tenant_id = tenant AND i.cart_id = c.id), c.id);
    -- (guard_cart refuses a closed or expired cart.)
    UPDATE coditect.carts SET coupon_id = cp.id, discount_code = cp.code WHERE tenant_id = tenant AND id = c.id;
    RETURN c.id;
END
$$;

-- Checkout: the cart (locked: a second checkout waits, then finds it checked out) becomes an
-- order with a line per item, priced from the products now, discounted by the cart's code
-- (checked again and redeemed, under the coupon's lock), taxed at the rate the billing address
-- selects. The billing address is, in this order: the given address (an address of type
-- billing of the tenant, or of the caller's user), the given country and subdivision (with a
-- free billing_address object), or the tenant's default billing address; its snapshot stays on
-- the order. Owner rights (clients do not write orders), scoped to the request's tenant and to
-- carts the caller may see.
CREATE FUNCTION coditect_internal.cart_checkout_as(p_cart uuid, p_country text DEFAULT NULL, p_state text DEFAULT NULL,
                                                   p_address jsonb DEFAULT NULL, p_billing_address uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect.current_tenant_id();
    me uuid := coditect.current_user_id();
    c coditect.carts;
    a coditect.addresses;
    cp coditect.coupons;
    rate coditect.tax_rates;
    missing text;
    v_country text := p_country;
    v_state text := p_state;
    v_address jsonb := coalesce(p_address, '{}');
    v_items uuid[];
    v_products uuid[];
    v_amounts bigint[];
    v_discounts bigint[];
    v_order uuid;
BEGIN
    PERFORM coditect.require_permission('cart.checkout');
    SELECT * INTO c FROM coditect.carts
     WHERE tenant_id = tenant AND id = p_cart AND (user_id = me OR coditect.has_permission('order.manage'))
       FOR UPDATE;
    IF c.id IS NULL THEN
        RAISE EXCEPTION 'cart % not found', p_cart USING ERRCODE = 'CD404';
    END IF;
    IF c.status <> 'active' THEN
        RAISE EXCEPTION 'cart % is %', c.id, c.status USING ERRCODE = 'CD409';
    END IF;
    IF c.expires_at <= now() THEN
        RAISE EXCEPTION 'cart % expired at %: start a new cart', c.id, c.expires_at USING ERRCODE = 'CD409';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM coditect.cart_items i WHERE i.tenant_id = tenant AND i.cart_id = c.id) THEN
        RAISE EXCEPTION 'cart % is empty', c.id USING ERRCODE = 'CD422';
    END IF;
    IF p_address IS NOT NULL AND jsonb_typeof(p_address) <> 'object' THEN
        RAISE EXCEPTION 'billing_address must be an object' USING ERRCODE = 'CD422';
    END IF;
    IF p_billing_address IS NOT NULL AND (p_country IS NOT NULL OR p_state IS NOT NULL OR p_address IS NOT NULL) THEN
        RAISE EXCEPTION 'give billing_address_id or country_code (with state_code and billing_address), not both'
            USING ERRCODE = 'CD422';
    END IF;
    IF p_country IS NULL AND (p_state IS NOT NULL OR p_address IS NOT NULL) THEN
        RAISE EXCEPTION 'country_code is required with state_code or billing_address (ISO 3166-1 alpha-2)' USING ERRCODE = 'CD422';
    END IF;
    IF p_billing_address IS NOT NULL THEN
        SELECT * INTO a FROM coditect.addresses x
         WHERE x.tenant_id = tenant AND x.id = p_billing_address AND x.address_type = 'billing'
           AND (x.entity_type = 'tenant' OR (x.entity_type = 'user' AND x.entity_id = me));
        IF a.id IS NULL THEN
            RAISE EXCEPTION 'billing address % not found (a billing address of the tenant or of your user)', p_billing_address
                USING ERRCODE = 'CD422';
        END IF;
    ELSIF p_country IS NULL THEN
        SELECT * INTO a FROM coditect.addresses x
         WHERE x.tenant_id = tenant AND x.entity_type = 'tenant' AND x.entity_id = tenant
           AND x.address_type = 'billing' AND x.is_default;
        IF a.id IS NULL THEN
            RAISE EXCEPTION 'no billing address: give billing_address_id or country_code, or set the tenant''s default billing address'
                USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF a.id IS NOT NULL THEN
        v_country := a.country_code;
        v_state := a.state_code;
        v_address := jsonb_strip_nulls(jsonb_build_object(
            'address_id', a.id, 'full_name', a.full_name, 'company_name', a.company_name,
            'address_line1', a.address_line1, 'address_line2', a.address_line2, 'city', a.city,
            'state_code', a.state_code, 'postal_code', a.postal_code, 'country_code', a.country_code, 'phone', a.phone));
    END IF;
    SELECT string_agg(format('"%s" requires "%s"', p.name, r.name), '; ' ORDER BY p.name, r.name) INTO missing
      FROM coditect.cart_items i
      JOIN coditect.products p ON p.id = i.product_id
      CROSS JOIN LATERAL unnest(p.requires) req(id)
      JOIN coditect.products r ON r.id = req.id
     WHERE i.tenant_id = tenant AND i.cart_id = c.id
       AND NOT EXISTS (SELECT 1 FROM coditect.cart_items j WHERE j.tenant_id = tenant AND j.cart_id = c.id AND j.product_id = req.id);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'checkout refused: missing required products: %', missing USING ERRCODE = 'CD422';
    END IF;
    SELECT string_agg(format('"%s"', p.name), ', ' ORDER BY p.name) INTO missing
      FROM coditect.cart_items i JOIN coditect.products p ON p.id = i.product_id
     WHERE i.tenant_id = tenant AND i.cart_id = c.id AND (NOT p.active OR p.currency <> c.currency);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'checkout refused: no longer for sale in %: %', c.currency, missing USING ERRCODE = 'CD422';
    END IF;
    -- Validates the codes against the reference tables (CD422) and picks the rate.
    rate := coditect.select_tax_rate(v_country, v_state, now());

    SELECT array_agg(i.id ORDER BY i.created_at, i.id), array_agg(p.id ORDER BY i.created_at, i.id),
           array_agg(p.unit_amount * i.quantity ORDER BY i.created_at, i.id)
      INTO v_items, v_products, v_amounts
      FROM coditect.cart_items i JOIN coditect.products p ON p.id = i.product_id
     WHERE i.tenant_id = tenant AND i.cart_id = c.id;
    IF c.coupon_id IS NOT NULL THEN
        -- Checked again now; redeemed by the checkout's global part (cart_checkout_redeem), which
        -- took this cart a slot of the coupon.
        SELECT * INTO cp FROM coditect.coupons x WHERE x.id = c.coupon_id;
        PERFORM coditect_internal.coupon_check(cp, c.discount_code, c.currency, v_products, c.id);
        IF NOT EXISTS (SELECT 1 FROM coditect_internal.coupon_redemptions r
                        WHERE r.tenant_id = tenant AND r.cart_id = c.id AND r.coupon_id = cp.id
                          AND (cp.max_redemptions IS NULL OR r.slot <= cp.max_redemptions)) THEN
            RAISE EXCEPTION 'the discount code of cart % is not redeemed (its code changed meanwhile, or checkout skipped coditect.cart_checkout): check out again', c.id
                USING ERRCODE = 'CD409';
        END IF;
        v_discounts := coditect_internal.coupon_discounts(cp.id, v_products, v_amounts);
    ELSE
        v_discounts := ARRAY(SELECT 0::bigint FROM unnest(v_amounts));
    END IF;

    INSERT INTO coditect.orders (tenant_id, cart_id, user_id, currency, subtotal_amount, tax_amount, discount_amount,
                                 total_amount, coupon_id, discount_code,
                                 tax_rate_id, tax_display_name, tax_percentage, tax_inclusive,
                                 billing_country_code, billing_state_code, billing_address)
    SELECT tenant, c.id, me, c.currency, sum((t).net + l.d), sum((t).tax), sum(l.d), sum((t).gross), cp.id, cp.code,
           rate.id, rate.display_name, coalesce(rate.percentage, 0), coalesce(rate.inclusive, false),
           v_country, v_state, v_address
      FROM (SELECT u.d, coditect.tax_line(u.a - u.d, coalesce(rate.percentage, 0), coalesce(rate.inclusive, false)) AS t
              FROM unnest(v_amounts, v_discounts) u(a, d)) l
    RETURNING id INTO v_order;
    INSERT INTO coditect.order_lines (tenant_id, order_id, product_id, product_name, unit_amount, quantity,
                                      amount, discount_amount, net_amount, tax_amount, total_amount)
    SELECT tenant, v_order, p.id, p.name, p.unit_amount, i.quantity, 0, u.d, 0, 0, 0  -- priced by price_order_line
      FROM unnest(v_items, v_discounts) WITH ORDINALITY u(item, d, n)
      JOIN coditect.cart_items i ON i.tenant_id = tenant AND i.id = u.item
      JOIN coditect.products p ON p.id = i.product_id
     ORDER BY u.n;
    UPDATE coditect.carts SET status = 'checked_out' WHERE tenant_id = tenant AND id = c.id;
    RETURN v_order;
END
$$;

-- Cancels a pending order (its placer, or order.manage).
CREATE FUNCTION coditect_internal.order_cancel_as(p_order uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    o coditect.orders;
BEGIN
    PERFORM coditect.require_permission('order.cancel');
    SELECT * INTO o FROM coditect.orders
     WHERE tenant_id = v_tenant AND id = p_order
       AND (user_id = coditect.current_user_id() OR coditect.has_permission('order.manage'))
       FOR UPDATE;
    IF o.id IS NULL THEN
        RAISE EXCEPTION 'order % not found', p_order USING ERRCODE = 'CD404';
    END IF;
    IF o.status <> 'pending' THEN
        RAISE EXCEPTION 'order % is %: only a pending order is cancelled', o.id, o.status USING ERRCODE = 'CD409';
    END IF;
    UPDATE coditect.orders SET status = 'cancelled' WHERE tenant_id = o.tenant_id AND id = o.id;
    RETURN o.id;
END
$$;

-- The manual payment path (services only: a bank transfer seen, an invoice settled): a
-- succeeded payment of the order's total, which pays the order (payment_pays_order).
CREATE FUNCTION coditect.order_mark_paid(p_order uuid, p_reference text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    o coditect.orders;
    pay coditect.payments;
BEGIN
    SELECT * INTO o FROM coditect.orders WHERE tenant_id = v_tenant AND id = p_order FOR UPDATE;
    IF o.id IS NULL THEN
        RAISE EXCEPTION 'order % not found', p_order USING ERRCODE = 'CD404';
    END IF;
    IF o.status <> 'pending' THEN
        RAISE EXCEPTION 'order % is %: it takes no payment', o.id, o.status USING ERRCODE = 'CD409';
    END IF;
    IF o.total_amount = 0 THEN
        RAISE EXCEPTION 'order % costs nothing: there is nothing to pay', o.id USING ERRCODE = 'CD422';
    END IF;
    -- The licenses the payment issues (order_entitlements, on the tenant's node): keys first.
    PERFORM coditect_internal.order_license_keys_claim(o.tenant_id, o.id);
    INSERT INTO coditect.payments (tenant_id, order_id, reference, amount, currency, status, payment_method)
    VALUES (o.tenant_id, o.id, left(p_reference, 255), o.total_amount, o.currency, 'succeeded', 'manual')
    RETURNING * INTO pay;
    RETURN to_jsonb(pay);
END
$$;

-- A refund of part or all of an order's payment (order.refund: administrators). The cap is
-- apply_refund's, under the payment's lock.
CREATE FUNCTION coditect_internal.order_refund_as(p_order uuid, p_amount bigint, p_reason text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect.current_tenant_id();
    pay coditect.payments;
    reason coditect.refund_reason;
    id uuid;
BEGIN
    PERFORM coditect.require_permission('order.refund');
    IF NOT EXISTS (SELECT 1 FROM coditect.orders o WHERE o.tenant_id = tenant AND o.id = p_order) THEN
        RAISE EXCEPTION 'order % not found', p_order USING ERRCODE = 'CD404';
    END IF;
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'amount must be a positive number of minor units' USING ERRCODE = 'CD422';
    END IF;
    IF p_reason IS NOT NULL AND p_reason NOT IN (SELECT unnest(enum_range(NULL::coditect.refund_reason))::text) THEN
        RAISE EXCEPTION 'reason must be one of duplicate, fraudulent, requested_by_customer' USING ERRCODE = 'CD422';
    END IF;
    reason := coalesce(p_reason, 'requested_by_customer')::coditect.refund_reason;
    SELECT * INTO pay FROM coditect.payments p
     WHERE p.tenant_id = tenant AND p.order_id = p_order AND p.status IN ('succeeded', 'refunded');
    IF pay.id IS NULL THEN
        RAISE EXCEPTION 'order % has no payment to refund', p_order USING ERRCODE = 'CD409';
    END IF;
    INSERT INTO coditect.refunds (tenant_id, payment_id, order_id, amount, currency, reason, status, refunded_by)
    VALUES (tenant, pay.id, p_order, p_amount, pay.currency, reason, 'succeeded', coditect.current_user_id())
    RETURNING refunds.id INTO id;
    RETURN id;
END
$$;

-- Checkout's global part (register_action p_global), as the caller before cart_checkout_as: the
-- cart's code takes the coupon's next free slot (coupon_redemptions). The slots taken and the
-- cap (NULL: none) are read with owner rights (coupon_slots): callers see their tenant's slots only.
CREATE FUNCTION coditect_internal.coupon_slots(p_coupon uuid, OUT taken integer, OUT cap integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect.coupon_times_redeemed(p_coupon), (SELECT c.max_redemptions FROM coditect.coupons c WHERE c.id OPERATOR(pg_catalog.=) p_coupon)
$$;
CREATE FUNCTION coditect_internal.cart_checkout_redeem(p_cart uuid, p_country text DEFAULT NULL, p_state text DEFAULT NULL,
                                                       p_address jsonb DEFAULT NULL, p_billing_address uuid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    c        record;
    s        record;
    v_slot   integer;
BEGIN
    PERFORM coditect.require_permission('cart.checkout');
    -- The cart as the caller sees it; the checkout refuses what is not there.
    SELECT x.id, x.coupon_id, x.discount_code INTO c FROM coditect.carts x
     WHERE x.tenant_id = v_tenant AND x.id = p_cart AND x.status = 'active';
    IF c.coupon_id IS NULL OR EXISTS (SELECT 1 FROM coditect_internal.coupon_redemptions r
                                       WHERE r.tenant_id = v_tenant AND r.cart_id = c.id) THEN
        RETURN;
    END IF;
    s := coditect_internal.coupon_slots(c.coupon_id);
    v_slot := s.taken + 1;
    LOOP
        IF v_slot > s.cap THEN
            RAISE EXCEPTION 'discount code "%" has been redeemed its % times', c.discount_code, s.cap USING ERRCODE = 'CD422';
        END IF;
        BEGIN
            INSERT INTO coditect_internal.coupon_redemptions (coupon_id, slot, tenant_id, cart_id)
            VALUES (c.coupon_id, v_slot, v_tenant, c.id);
            RETURN;
        EXCEPTION
            WHEN unique_violation THEN
                -- The slot was taken meanwhile: the next one; unless this cart was redeemed
                -- meanwhile (its checkout then finds it checked out).
                IF EXISTS (SELECT 1 FROM coditect_internal.coupon_redemptions r WHERE r.tenant_id = v_tenant AND r.cart_id = c.id) THEN
                    RETURN;
                END IF;
                v_slot := v_slot + 1;
        END;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.coupon_slots(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.coupon_slots(uuid) TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_action('cart', 'add_item', 'coditect.cart_add_item(uuid, uuid, integer)',
    'POST', '/api/v1/carts/{id}/add/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "product_id", "required": true},
      {"from": "body_field", "name": "quantity"}]',
    p_min_role => 'member', p_response => '{"resource": "cart"}',
    p_summary => 'Add a product to the cart (quantity, default 1, added to the item''s); one currency per cart');
SELECT coditect_internal.register_action('cart', 'apply_discount', 'coditect.cart_apply_discount(uuid, text)',
    'POST', '/api/v1/carts/{id}/discount/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "code"}]',
    p_min_role => 'member', p_as => 'coditect_internal.cart_apply_discount_as(uuid, text)',
    p_summary => 'Apply a discount code to the cart (checked now and again at checkout); without a code, remove the cart''s');
SELECT coditect_internal.register_action('cart', 'checkout', 'coditect.cart_checkout(uuid, text, text, jsonb, uuid)',
    'POST', '/api/v1/carts/{id}/checkout/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "country_code"},
      {"from": "body_field", "name": "state_code"}, {"from": "body_field", "name": "billing_address"},
      {"from": "body_field", "name": "billing_address_id"}]',
    p_min_role => 'member', p_as => 'coditect_internal.cart_checkout_as(uuid, text, text, jsonb, uuid)',
    p_global => 'coditect_internal.cart_checkout_redeem(uuid, text, text, jsonb, uuid)',
    p_answers => 'order', p_status => 201,
    p_summary => 'Place the order: prices, the discount, the billing address (given by id, by country and state, or the tenant''s default) and its tax rate are snapshotted; every product''s requirements must be in the cart');
SELECT coditect_internal.register_action('order', 'cancel', 'coditect.order_cancel(uuid)',
    'POST', '/api/v1/orders/{id}/cancel/', '[{"from": "path", "name": "id"}]',
    p_min_role => 'member', p_as => 'coditect_internal.order_cancel_as(uuid)',
    p_summary => 'Cancel a pending order (who placed it, or an administrator)');
SELECT coditect_internal.register_action('order', 'refund', 'coditect.order_refund(uuid, bigint, text)',
    'POST', '/api/v1/orders/{id}/refunds/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "amount", "required": true},
      {"from": "body_field", "name": "reason"}]',
    p_min_role => 'admin', p_as => 'coditect_internal.order_refund_as(uuid, bigint, text)',
    p_answers => 'refund', p_status => 201,
    p_summary => 'Refund part or all of a paid order (minor units); refunds never exceed what was paid');

REVOKE ALL ON FUNCTION coditect_internal.cart_checkout_as(uuid, text, text, jsonb, uuid), coditect_internal.order_cancel_as(uuid),
    coditect_internal.order_refund_as(uuid, bigint, text), coditect.order_mark_paid(uuid, text),
    coditect_internal.cart_apply_discount_as(uuid, text), coditect_internal.coupon_discounts(uuid, uuid[], bigint[]),
    coditect_internal.coupon_check(coditect.coupons, text, text, uuid[], uuid), coditect.cart_discount_amount(coditect.carts) FROM PUBLIC;
-- The computed field discount_amount of carts, for whoever reads carts.
GRANT EXECUTE ON FUNCTION coditect.cart_discount_amount(coditect.carts), coditect_internal.coupon_discounts(uuid, uuid[], bigint[])
    TO coditect_gateway, coditect_service, coditect_analyst;
GRANT EXECUTE ON FUNCTION coditect.order_mark_paid(uuid, text) TO coditect_service;
GRANT EXECUTE ON FUNCTION coditect.cart_ttl() TO coditect_gateway, coditect_service, coditect_analyst;

-- Maintenance (DBA and its pg_cron job): open carts past their expiry become expired; expired
-- carts a week past it are deleted (with their items). Returns how many of each.
CREATE FUNCTION coditect.expire_carts(OUT expired bigint, OUT deleted bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.carts SET status = 'expired' WHERE status = 'active' AND expires_at <= now();
    GET DIAGNOSTICS expired = ROW_COUNT;
    DELETE FROM coditect.carts WHERE status = 'expired' AND expires_at <= now() - interval '7 days';
    GET DIAGNOSTICS deleted = ROW_COUNT;
    deleted := deleted + coditect_internal.purge_guest_carts();  -- (87_guest_carts)
END
$$;
REVOKE ALL ON FUNCTION coditect.expire_carts() FROM PUBLIC;
