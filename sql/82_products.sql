-- 82_products: the product catalog, global like tax rates (60_reference): every tenant reads it
-- through the API, the service role writes it. After 80_licenses: a product that grants a
-- license names a license tier. Carts, orders and subscriptions (next) price from these rows
-- and snapshot what they use.

CREATE TYPE coditect.recurring_interval AS ENUM ('day', 'week', 'month', 'year');
COMMENT ON TYPE coditect.recurring_interval IS 'The billing period of a subscription product (Stripe''s recurring.interval).';

CREATE TABLE coditect.products (
    id                       uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    stripe_product_id        varchar(255) UNIQUE,
    stripe_price_id          varchar(255) UNIQUE,
    name                     varchar(255) NOT NULL CHECK (name ~ '\S'),
    description              text NOT NULL DEFAULT '',
    -- The price: minor units of currency (1999 USD is 19.99 USD), tax per the buyer's rate.
    unit_amount              bigint NOT NULL CHECK (unit_amount >= 0),
    currency                 varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    active                   boolean NOT NULL DEFAULT true,
    -- Products that must be bought with this one (checkout refuses a cart without them).
    requires                 uuid[] NOT NULL DEFAULT '{}',
    -- A license issued to the buyer's tenant when the order is paid or the subscription active.
    grants_license           boolean NOT NULL DEFAULT false,
    license_tier             coditect.license_tier,
    license_features         coditect.json_array NOT NULL DEFAULT '[]'
                             CHECK (NOT jsonb_path_exists(license_features, '$[*] ? (@.type() != "string")')),
    license_seats            integer CHECK (license_seats >= 1),
    -- How long a one-time purchase's license lasts; a subscription's lasts its period.
    license_duration_days    integer CHECK (license_duration_days >= 1),
    recurring_interval       coditect.recurring_interval,
    recurring_interval_count integer NOT NULL DEFAULT 1 CHECK (recurring_interval_count BETWEEN 1 AND 365),
    trial_period_days        integer CHECK (trial_period_days BETWEEN 1 AND 730),
    metadata                 coditect.json_object NOT NULL DEFAULT '{}',
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_license_terms CHECK (
        CASE WHEN grants_license
             THEN license_tier IS NOT NULL AND license_seats IS NOT NULL
                  AND (recurring_interval IS NOT NULL OR license_duration_days IS NOT NULL)
             ELSE license_tier IS NULL AND license_seats IS NULL AND license_duration_days IS NULL
                  AND license_features = '[]' END),
    CONSTRAINT products_trial_is_recurring CHECK (trial_period_days IS NULL OR recurring_interval IS NOT NULL),
    CONSTRAINT products_requires_not_self CHECK (id <> ALL (requires))
);
CREATE INDEX products_created_idx ON coditect.products (created_at DESC, id DESC);
CREATE INDEX products_active_idx ON coditect.products (active);
CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.products
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();

-- requires names products that exist, each once. (A product is deactivated, never deleted,
-- so the names stay good.)
CREATE FUNCTION coditect_internal.check_product_requires() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    missing text;
BEGIN
    IF cardinality(NEW.requires) <> (SELECT count(DISTINCT r) FROM unnest(NEW.requires) r) THEN
        RAISE EXCEPTION 'requires names a product twice' USING ERRCODE = 'CD422';
    END IF;
    SELECT string_agg(r::text, ', ') INTO missing FROM unnest(NEW.requires) r
     WHERE NOT EXISTS (SELECT 1 FROM coditect.products p WHERE p.id = r);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'requires names unknown product(s) %', missing USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER check_product_requires BEFORE INSERT OR UPDATE OF requires ON coditect.products
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_product_requires();

-- A price is in legal tender: not in a fund, metal, unit of account, XTS or XXX (the
-- currencies' priceable flag, from ICU).
CREATE FUNCTION coditect_internal.check_product_currency() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_priceable_currency(NEW.currency);
    RETURN NEW;
END
$$;
CREATE TRIGGER check_product_currency BEFORE INSERT OR UPDATE OF currency ON coditect.products
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_product_currency();

ALTER TABLE coditect.products ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY products_read ON coditect.products FOR SELECT USING (true);
CREATE POLICY products_service_insert ON coditect.products FOR INSERT TO coditect_service WITH CHECK (true);
CREATE POLICY products_service_update ON coditect.products FOR UPDATE TO coditect_service USING (true) WITH CHECK (true);
REVOKE ALL ON coditect.products FROM PUBLIC;
GRANT SELECT ON coditect.products TO coditect_gateway, coditect_service, coditect_analyst;
GRANT INSERT, UPDATE ON coditect.products TO coditect_service;
SELECT pg_catalog.pg_extension_config_dump('coditect.products', '');

SELECT coditect_internal.register_resource('coditect.products', 'product', p_mechanisms => false,
    p_roles => '{"view": "guest"}',
    p_filters => '{"active": ["exact"], "currency": ["exact", "in"], "recurring_interval": ["exact", "isnull"],
                   "grants_license": ["exact"], "license_tier": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_search => '{name,description}',
    p_orderings => '{created_at,name,unit_amount}', p_default_ordering => 'name');
