-- 60_reference: reference data (ISO 4217 currencies, ISO 3166-1 countries, ISO 3166-2
-- subdivisions), money (amounts are bigint minor units of an ISO 4217 currency) and tax rates.
-- The catalogs are global and read-only: their rows come from 61_reference_data.sql, generated
-- by tools/coditect-refdata.cpp from Debian's iso-codes and ICU (README "Money and reference
-- data"); only the extension owner writes them. Tax rates are global too, written by the
-- service role; coditect.tax_amount is the one place tax is computed and rounded.

------------------------------------------------------------------------------------------------
-- Reference catalogs (rows: 61_reference_data.sql)
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.currencies (
    code         varchar(3) PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    numeric_code varchar(3) NOT NULL UNIQUE CHECK (numeric_code ~ '^[0-9]{3}$'),
    name         varchar(255) NOT NULL,
    exponent     smallint NOT NULL CHECK (exponent BETWEEN 0 AND 4),
    -- Legal tender (ICU/CLDR): false for funds (BOV, CLF, USN...), metals (XAU...), units of
    -- account (XDR...), XTS and XXX. Nothing is priced in those (products, coupons).
    priceable    boolean NOT NULL
);
COMMENT ON TABLE coditect.currencies IS
    'ISO 4217 currencies (Debian iso-codes); exponent: digits of the minor unit, from ICU (CLDR).';
COMMENT ON COLUMN coditect.currencies.exponent IS
    'An amount of 1234 minor units is 12.34 when the exponent is 2, 1234 when it is 0, 1.234 when it is 3.';
COMMENT ON COLUMN coditect.currencies.priceable IS
    'Legal tender (not among ICU''s uncommon codes, CLDR tender="false"): a price may be in it.';

CREATE TABLE coditect.countries (
    alpha_2      varchar(2) PRIMARY KEY CHECK (alpha_2 ~ '^[A-Z]{2}$'),
    alpha_3      varchar(3) NOT NULL UNIQUE CHECK (alpha_3 ~ '^[A-Z]{3}$'),
    numeric_code varchar(3) NOT NULL UNIQUE CHECK (numeric_code ~ '^[0-9]{3}$'),
    name         varchar(255) NOT NULL
);
COMMENT ON TABLE coditect.countries IS 'ISO 3166-1 countries (Debian iso-codes).';

CREATE TABLE coditect.subdivisions (
    code         varchar(6) PRIMARY KEY CHECK (code ~ '^[A-Z]{2}-[A-Z0-9]{1,3}$'),
    country_code varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    name         varchar(255) NOT NULL,
    type         varchar(100) NOT NULL,
    -- The target of (country_code, state_code) foreign keys: a subdivision of that country.
    CONSTRAINT subdivisions_country_code_key UNIQUE (country_code, code),
    CHECK (left(code, 2) = country_code)
);
COMMENT ON TABLE coditect.subdivisions IS 'ISO 3166-2 subdivisions (Debian iso-codes): states, provinces, regions.';

REVOKE ALL ON coditect.currencies, coditect.countries, coditect.subdivisions FROM PUBLIC;
GRANT SELECT ON coditect.currencies, coditect.countries, coditect.subdivisions
    TO coditect_gateway, coditect_service, coditect_analyst;

-- ICU's exponent of a currency, which pgTAP compares with the table (drift from ICU).
CREATE FUNCTION coditect_internal.icu_currency_exponent(text) RETURNS int
    AS 'MODULE_PATHNAME', 'coditect_icu_currency_exponent' LANGUAGE C STABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION coditect_internal.icu_currency_exponent(text) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Money
------------------------------------------------------------------------------------------------

-- The digits of a currency's minor unit: 0 for JPY, 2 for USD, 3 for KWD. CD422 when unknown.
CREATE FUNCTION coditect.currency_exponent(p_currency text) RETURNS int
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e int;
BEGIN
    SELECT c.exponent INTO e FROM coditect.currencies c WHERE c.code = p_currency;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown currency "%" (ISO 4217, upper case)', p_currency USING ERRCODE = 'CD422';
    END IF;
    RETURN e;
END
$$;

-- The currency a price or a coupon is in: a known, priceable one (CD422 otherwise).
CREATE FUNCTION coditect.require_priceable_currency(p_currency text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM coditect.currencies c WHERE c.code = p_currency) THEN
        RAISE EXCEPTION 'unknown currency "%" (ISO 4217, upper case)', p_currency USING ERRCODE = 'CD422';
    END IF;
    IF NOT (SELECT c.priceable FROM coditect.currencies c WHERE c.code = p_currency) THEN
        RAISE EXCEPTION 'currency % (%) is not legal tender: nothing is priced in it', p_currency,
            (SELECT c.name FROM coditect.currencies c WHERE c.code = p_currency) USING ERRCODE = 'CD422';
    END IF;
END
$$;

-- An amount for display: 1234 USD is '12.34 USD', 1234 JPY '1234 JPY', -5 KWD '-0.005 KWD'.
-- No grouping or symbols: those are the client's locale's to add.
CREATE FUNCTION coditect.money_format(p_amount bigint, p_currency text) RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e    int := coditect.currency_exponent(p_currency);
    a    numeric := abs(p_amount::numeric);
    unit numeric := (10 ^ e)::bigint::numeric;
BEGIN
    RETURN CASE WHEN p_amount < 0 THEN '-' ELSE '' END || div(a, unit)::text
           || CASE WHEN e = 0 THEN '' ELSE '.' || lpad(mod(a, unit)::text, e, '0') END
           || ' ' || p_currency;
END
$$;

-- THE tax computation; nothing else rounds tax. p_amount is a line's amount in minor units:
-- the net amount when the rate is exclusive (tax is added), the gross amount when it is
-- inclusive (tax is contained). p_rate is a percentage (20 for 20 %).
--   exclusive: tax = round(amount * rate / 100)
--   inclusive: tax = round(amount * rate / (100 + rate))   (net = amount - tax)
-- Rounding: per line, to the currency's minor unit, half away from zero ("half-up";
-- PostgreSQL's round(numeric)), the rule tax authorities commonly prescribe for invoices;
-- per line so that a line's snapshotted tax is final and a refund of a line returns exactly
-- its tax; away from zero so that a credit mirrors its charge. The quotient is exact enough:
-- amount and rate are exact numerics and a value this close to .5 without being .5 cannot
-- arise from denominators this small.
CREATE FUNCTION coditect.tax_amount(p_amount bigint, p_rate numeric, p_inclusive boolean) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_rate < 0 OR p_rate > 100 THEN
        RAISE EXCEPTION 'a tax rate is a percentage between 0 and 100, not %', p_rate USING ERRCODE = 'CD422';
    END IF;
    -- The quotient at 20 decimals (numeric division keeps the dividend's scale), so that
    -- round() sees it exact even for amounts of 10^12 and more: one rounding, here.
    IF p_inclusive THEN
        RETURN round((p_amount::numeric * p_rate)::numeric(40, 20) / (100 + p_rate))::bigint;
    END IF;
    RETURN round(p_amount::numeric * p_rate / 100)::bigint;
END
$$;

-- A line's three amounts from tax_amount: net + tax = gross, whichever side the price is on.
CREATE FUNCTION coditect.tax_line(p_amount bigint, p_rate numeric, p_inclusive boolean,
                                  OUT net bigint, OUT tax bigint, OUT gross bigint)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    tax := coditect.tax_amount(p_amount, p_rate, p_inclusive);
    IF p_inclusive THEN
        gross := p_amount;
        net := p_amount - tax;
    ELSE
        net := p_amount;
        gross := p_amount + tax;
    END IF;
END
$$;

------------------------------------------------------------------------------------------------
-- Tax rates (global; read by tenants through the catalog, written by the service role)
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.tax_type AS ENUM ('vat', 'gst', 'sales_tax');
COMMENT ON TYPE coditect.tax_type IS 'The kind of tax a rate collects.';

CREATE TABLE coditect.tax_rates (
    id                 uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    stripe_tax_rate_id varchar(255) UNIQUE,
    display_name       varchar(100) NOT NULL CHECK (display_name ~ '\S'),
    -- Four decimals, not the seeds' two: 8.875 % (New York City) exists.
    percentage         numeric(7, 4) NOT NULL CHECK (percentage >= 0 AND percentage <= 100),
    jurisdiction       varchar(100) NOT NULL DEFAULT '',
    country_code       varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    state_code         varchar(6),
    tax_type           coditect.tax_type NOT NULL DEFAULT 'vat',
    inclusive          boolean NOT NULL DEFAULT false,
    active             boolean NOT NULL DEFAULT true,
    valid_from         timestamptz,
    valid_until        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (country_code, state_code) REFERENCES coditect.subdivisions (country_code, code),
    CONSTRAINT tax_rates_validity CHECK (valid_from < valid_until)
);
CREATE INDEX tax_rates_country_state_idx ON coditect.tax_rates (country_code, state_code);
CREATE INDEX tax_rates_active_idx ON coditect.tax_rates (active);
CREATE INDEX tax_rates_created_idx ON coditect.tax_rates (created_at DESC, id DESC);
COMMENT ON COLUMN coditect.tax_rates.state_code IS
    'ISO 3166-2 subdivision of country_code (US-NY); NULL for a country-wide rate.';
COMMENT ON COLUMN coditect.tax_rates.inclusive IS
    'Prices already contain the tax (European VAT) rather than having it added (US sales tax).';
CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.tax_rates
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();

-- Everyone with a request context reads the rates; only the service role writes them (rates
-- are deactivated, never deleted: orders keep a snapshot but the history stays readable).
ALTER TABLE coditect.tax_rates ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tax_rates_read ON coditect.tax_rates FOR SELECT USING (true);
CREATE POLICY tax_rates_service_insert ON coditect.tax_rates FOR INSERT TO coditect_service WITH CHECK (true);
CREATE POLICY tax_rates_service_update ON coditect.tax_rates FOR UPDATE TO coditect_service USING (true) WITH CHECK (true);
REVOKE ALL ON coditect.tax_rates FROM PUBLIC;
GRANT SELECT ON coditect.tax_rates TO coditect_gateway, coditect_service, coditect_analyst;
GRANT INSERT, UPDATE ON coditect.tax_rates TO coditect_service;
-- The service's rows are data, not extension objects: pg_dump keeps them.
SELECT pg_catalog.pg_extension_config_dump('coditect.tax_rates', '');

-- The rate that applies to a billing address in (p_country, p_state) at p_at: an active rate
-- valid then, of the subdivision when it has one, else the country-wide one (a subdivision's
-- rate replaces the country's rather than adding to it: enter a combined rate, such as
-- Ontario's HST, as the subdivision's). Among several, the latest valid_from wins, then the
-- newest row. NULL when none applies (no tax); CD422 for an unknown country, or a subdivision
-- that is not the country's.
CREATE FUNCTION coditect.select_tax_rate(p_country text, p_state text DEFAULT NULL, p_at timestamptz DEFAULT now())
RETURNS coditect.tax_rates
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r coditect.tax_rates;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM coditect.countries c WHERE c.alpha_2 = p_country) THEN
        RAISE EXCEPTION 'unknown country "%" (ISO 3166-1 alpha-2)', p_country USING ERRCODE = 'CD422';
    END IF;
    IF p_state IS NOT NULL AND NOT EXISTS (SELECT 1 FROM coditect.subdivisions s
                                            WHERE s.code = p_state AND s.country_code = p_country) THEN
        RAISE EXCEPTION 'unknown subdivision "%" of %', p_state, p_country USING ERRCODE = 'CD422';
    END IF;
    SELECT t.* INTO r FROM coditect.tax_rates t
     WHERE t.active AND t.country_code = p_country AND (t.state_code IS NULL OR t.state_code = p_state)
       AND (t.valid_from IS NULL OR t.valid_from <= p_at) AND (t.valid_until IS NULL OR p_at < t.valid_until)
     ORDER BY t.state_code IS NULL, t.valid_from DESC NULLS LAST, t.created_at DESC, t.id DESC
     LIMIT 1;
    RETURN r;
END
$$;

REVOKE ALL ON FUNCTION coditect.currency_exponent(text), coditect.require_priceable_currency(text), coditect.money_format(bigint, text),
    coditect.tax_amount(bigint, numeric, boolean), coditect.tax_line(bigint, numeric, boolean),
    coditect.select_tax_rate(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.currency_exponent(text), coditect.require_priceable_currency(text), coditect.money_format(bigint, text),
    coditect.tax_amount(bigint, numeric, boolean), coditect.tax_line(bigint, numeric, boolean),
    coditect.select_tax_rate(text, text, timestamptz) TO coditect_gateway, coditect_service, coditect_analyst;

SELECT coditect_internal.register_resource('coditect.tax_rates', 'tax_rate', p_mechanisms => false,
    p_roles => '{"view": "guest"}',
    p_filters => '{"country_code": ["exact", "in"], "state_code": ["exact", "isnull"], "tax_type": ["exact"],
                   "inclusive": ["exact"], "active": ["exact"]}',
    p_orderings => '{created_at,percentage}');
