-- Reference data, money and tax (sql/60_reference.sql, 61_reference_data.sql, 82_products.sql):
-- the catalogs against the installed iso-codes JSON and ICU (drift), who may write them, the
-- exponents, money_format, the one tax computation and its rounding, rate selection by state,
-- products' rules, and both catalogs read through the generated API. Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t60
\ir lib/tenants.psql
\ir lib/as_user.psql

------------------------------------------------------------------------------------------------
-- Drift: the committed rows are what the installed packages say
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE iso AS
SELECT pg_read_file('/usr/share/iso-codes/json/iso_4217.json')::jsonb -> '4217' AS c4217,
       pg_read_file('/usr/share/iso-codes/json/iso_3166-1.json')::jsonb -> '3166-1' AS c3166_1,
       pg_read_file('/usr/share/iso-codes/json/iso_3166-2.json')::jsonb -> '3166-2' AS c3166_2;
SELECT set_eq($$SELECT code, numeric_code, name FROM coditect.currencies$$,
              $$SELECT e ->> 'alpha_3' AS a, e ->> 'numeric' AS b, e ->> 'name' AS c FROM iso, jsonb_array_elements(c4217) e$$,
              'currencies are exactly iso-codes'' ISO 4217');
SELECT is((SELECT count(*)::int FROM coditect.currencies
            WHERE exponent IS DISTINCT FROM coditect_internal.icu_currency_exponent(code)), 0,
          'every currency''s exponent is ICU''s');
SELECT set_eq($$SELECT alpha_2, alpha_3, numeric_code, name FROM coditect.countries$$,
              $$SELECT e ->> 'alpha_2' AS a, e ->> 'alpha_3' AS b, e ->> 'numeric' AS c, e ->> 'name' AS d FROM iso, jsonb_array_elements(c3166_1) e$$,
              'countries are exactly iso-codes'' ISO 3166-1');
SELECT set_eq($$SELECT code, country_code, name, type FROM coditect.subdivisions$$,
              $$SELECT e ->> 'code' AS a, split_part(e ->> 'code', '-', 1) AS b, e ->> 'name' AS c, e ->> 'type' AS d
                  FROM iso, jsonb_array_elements(c3166_2) e$$,
              'subdivisions are exactly iso-codes'' ISO 3166-2');
SELECT cmp_ok((SELECT count(*)::int FROM coditect.subdivisions WHERE country_code = 'US'), '>=', 50, 'the US states are there');

------------------------------------------------------------------------------------------------
-- Exponents and display
------------------------------------------------------------------------------------------------

SELECT is(coditect.currency_exponent('JPY'), 0, 'JPY has no minor unit');
SELECT is(coditect.currency_exponent('USD'), 2, 'USD has cents');
SELECT is(coditect.currency_exponent('KWD'), 3, 'KWD has fils (3 digits)');
SELECT throws_ok($$SELECT coditect.currency_exponent('usd')$$, 'CD422', 'unknown currency "usd" (ISO 4217, upper case)',
                 'codes are upper case ISO 4217');
SELECT throws_ok($$SELECT coditect.currency_exponent('XYZ')$$, 'CD422', NULL, 'an unknown currency is refused');
SELECT is(coditect.money_format(1234, 'USD'), '12.34 USD', '1234 USD minor units are 12.34 USD');
SELECT is(coditect.money_format(1234, 'JPY'), '1234 JPY', '1234 JPY are 1234 JPY');
SELECT is(coditect.money_format(1234, 'KWD'), '1.234 KWD', '1234 KWD minor units are 1.234 KWD');
SELECT is(coditect.money_format(-5, 'KWD'), '-0.005 KWD', 'a negative amount below one unit');
SELECT is(coditect.money_format(7, 'USD'), '0.07 USD', 'leading zeros of the minor unit');
SELECT is(coditect.money_format(-9223372036854775808, 'USD'), '-92233720368547758.08 USD', 'the smallest bigint');

------------------------------------------------------------------------------------------------
-- The tax computation: per line, half away from zero
------------------------------------------------------------------------------------------------

SELECT is(coditect.tax_amount(1000, 20, false), 200::bigint, 'exclusive 20 % of 10.00 is 2.00');
SELECT is(coditect.tax_amount(1200, 20, true), 200::bigint, 'inclusive 20 % in 12.00 is 2.00');
SELECT is(coditect.tax_amount(10, 5, false), 1::bigint, 'exclusive: 0.5 rounds up to 1 (half away from zero)');
-- numeric division keeps 4 decimals here (the exact quotient is ...154.49999...): it must not
-- round twice.
SELECT is(coditect.tax_amount(1000000000021071, 7.1234, true), 66497142549154::bigint,
          'a huge inclusive amount rounds once, from the exact quotient');
SELECT is(coditect.tax_amount(30, 5, false), 2::bigint, 'exclusive: 1.5 rounds up to 2 (not to even)');
SELECT is(coditect.tax_amount(50, 5, false), 3::bigint, 'exclusive: 2.5 rounds up to 3 (half-even would give 2)');
SELECT is(coditect.tax_amount(-50, 5, false), -3::bigint, 'a credit mirrors its charge: -2.5 rounds to -3');
SELECT is(coditect.tax_amount(9, 5, false), 0::bigint, 'exclusive: 0.45 rounds down');
SELECT is(coditect.tax_amount(105, 5, true), 5::bigint, 'inclusive 5 % in 1.05 is exactly 0.05');
SELECT is(coditect.tax_amount(21, 5, true), 1::bigint, 'inclusive: 21 * 5 / 105 = 1.0');
SELECT is(coditect.tax_amount(63, 5, true), 3::bigint, 'inclusive: 63 * 5 / 105 = 3.0');
SELECT is(coditect.tax_amount(100, 10, true), 9::bigint, 'inclusive: 100 * 10 / 110 = 9.09 rounds down');
SELECT is(coditect.tax_amount(105, 10, true), 10::bigint, 'inclusive: 105 * 10 / 110 = 9.545 rounds up');
SELECT is(coditect.tax_amount(1999, 8.875, false), 177::bigint, 'exclusive 8.875 % of 19.99 USD is 1.774 -> 1.77');
SELECT is(coditect.tax_amount(1000, 0, true), 0::bigint, 'a zero rate');
SELECT is(coditect.tax_amount(999, 10, false), 100::bigint, 'JPY (no minor unit): 99.9 yen of tax round to 100');
SELECT is(coditect.tax_amount(1005, 10, false), 101::bigint, 'KWD: 100.5 fils round to 101');
SELECT throws_ok($$SELECT coditect.tax_amount(100, 101, false)$$, 'CD422', NULL, 'a rate above 100 % is refused');
SELECT throws_ok($$SELECT coditect.tax_amount(100, -1, false)$$, 'CD422', NULL, 'a negative rate is refused');
SELECT is((SELECT row(net, tax, gross)::text FROM coditect.tax_line(1000, 20, false)), '(1000,200,1200)', 'an exclusive line: net + tax = gross');
SELECT is((SELECT row(net, tax, gross)::text FROM coditect.tax_line(1000, 20, true)), '(833,167,1000)', 'an inclusive line: 166.67 rounds to 167, net 833');

------------------------------------------------------------------------------------------------
-- Tax rates: only the service writes them; selection by country and state
------------------------------------------------------------------------------------------------

CREATE ROLE tap60_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap60_service LOGIN IN ROLE coditect_service;
CREATE ROLE tap60_analyst LOGIN IN ROLE coditect_analyst;
GRANT SELECT, INSERT, UPDATE ON refs TO tap60_gateway, tap60_service;

SET ROLE tap60_service;
INSERT INTO coditect.tax_rates (display_name, percentage, jurisdiction, country_code, state_code, tax_type, inclusive)
VALUES ('US sales tax', 5, 'US', 'US', NULL, 'sales_tax', false),
       ('NY sales tax', 8.875, 'US-NY', 'US', 'US-NY', 'sales_tax', false),
       ('CA sales tax', 7.25, 'US-CA', 'US', 'US-CA', 'sales_tax', false),
       ('VAT (20%)', 20, 'GB', 'GB', NULL, 'vat', true),
       ('Old VAT', 17.5, 'GB', 'GB', NULL, 'vat', true);
UPDATE coditect.tax_rates SET valid_until = now() - interval '1 day', valid_from = now() - interval '10 years'
 WHERE display_name = 'Old VAT';
INSERT INTO coditect.tax_rates (display_name, percentage, country_code, state_code, active)
VALUES ('TX inactive', 6.25, 'US', 'US-TX', false);
SELECT count(pg_temp.put(display_name, id)) AS _ FROM coditect.tax_rates \gset
SELECT throws_ok($$DELETE FROM coditect.tax_rates$$, '42501', NULL, 'the service deactivates rates, never deletes them');
SELECT throws_ok($$INSERT INTO coditect.tax_rates (display_name, percentage, country_code, state_code)
                   VALUES ('bad', 5, 'US', 'CA-ON')$$, '23503', NULL, 'a rate''s subdivision is one of its country''s');
SELECT throws_ok($$INSERT INTO coditect.tax_rates (display_name, percentage, country_code) VALUES ('bad', 5, 'XX')$$,
                 '23503', NULL, 'a rate''s country is ISO 3166-1');
SELECT throws_ok($$INSERT INTO coditect.tax_rates (display_name, percentage, country_code) VALUES ('bad', 100.5, 'US')$$,
                 '23514', NULL, 'a rate is at most 100 %');
RESET ROLE;

SET ROLE tap60_gateway;
SELECT throws_ok($$INSERT INTO coditect.tax_rates (display_name, percentage, country_code) VALUES ('x', 5, 'US')$$,
                 '42501', NULL, 'the gateway cannot write tax rates');
SELECT throws_ok($$UPDATE coditect.tax_rates SET percentage = 0$$, '42501', NULL, 'the gateway cannot change tax rates');
SELECT throws_ok($$INSERT INTO coditect.currencies VALUES ('ZZZ', '000', 'x', 2)$$, '42501', NULL, 'nobody but the owner writes currencies');
SELECT throws_ok($$UPDATE coditect.subdivisions SET name = 'x'$$, '42501', NULL, 'nobody but the owner writes subdivisions');
SELECT is((SELECT display_name::text FROM coditect.select_tax_rate('US', 'US-NY')), 'NY sales tax', 'New York: the state''s rate beats the country''s');
SELECT is((SELECT percentage FROM coditect.select_tax_rate('US', 'US-CA')), 7.2500, 'California: 7.25 %');
SELECT is((SELECT display_name::text FROM coditect.select_tax_rate('US', 'US-OR')), 'US sales tax', 'Oregon has no rate of its own: the country''s');
SELECT is((SELECT display_name::text FROM coditect.select_tax_rate('US', 'US-TX')), 'US sales tax', 'an inactive state rate is not chosen');
SELECT is((SELECT display_name::text FROM coditect.select_tax_rate('US')), 'US sales tax', 'no subdivision: the country''s');
SELECT is((SELECT display_name::text FROM coditect.select_tax_rate('GB', 'GB-LND')), 'VAT (20%)', 'an expired rate is not chosen');
SELECT is((SELECT display_name::text FROM coditect.select_tax_rate('GB', NULL, now() - interval '5 years')), 'Old VAT',
          'a past date selects the rate valid then (the later valid_from wins)');
SELECT ok((SELECT r IS NULL FROM coditect.select_tax_rate('FR') r), 'no rate for France: NULL (no tax)');
SELECT throws_ok($$SELECT coditect.select_tax_rate('US', 'CA-ON')$$, 'CD422', 'unknown subdivision "CA-ON" of US',
                 'a subdivision of another country is refused');
SELECT throws_ok($$SELECT coditect.select_tax_rate('XX')$$, 'CD422', NULL, 'an unknown country is refused');
-- Inclusive vs exclusive by state: 100.00 USD in New York, 120.00 GBP in London.
SELECT is((SELECT coditect.tax_amount(10000, r.percentage, r.inclusive) FROM coditect.select_tax_rate('US', 'US-NY') r),
          888::bigint, 'New York (exclusive): 8.875 % of 100.00 is 8.875 -> 8.88 added');
SELECT is((SELECT coditect.tax_amount(12000, r.percentage, r.inclusive) FROM coditect.select_tax_rate('GB', 'GB-LND') r),
          2000::bigint, 'London (inclusive): 120.00 contains 20.00 of VAT');
-- Through the API: any member of any tenant reads the catalog.
SELECT is(pg_temp.as_user('guest', 'guest', $$SELECT (coditect.api_tax_rates_list('{"state_code": "US-NY"}') -> 'count')::text$$),
          '1', 'a guest lists tax rates filtered by state');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_tax_rates_get(%L) ->> 'display_name'$$, pg_temp.id('CA sales tax'))),
          'CA sales tax', 'a guest reads one tax rate');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Products
------------------------------------------------------------------------------------------------

SET ROLE tap60_service;
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('Base', 1999, 'USD') RETURNING id AS p_base \gset
INSERT INTO coditect.products (name, unit_amount, currency, requires, grants_license, license_tier, license_features,
                               license_seats, recurring_interval, trial_period_days)
VALUES ('Pro plan', 4900, 'USD', ARRAY[:'p_base'::uuid], true, 'PRO', '["analytics"]', 5, 'month', 14) RETURNING id AS p_pro \gset
SELECT lives_ok($$INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('Yen thing', 500, 'JPY'),
                                                                               ('Dinar thing', 1250, 'KWD')$$,
                'products in JPY and KWD');
SELECT throws_ok($$INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('x', 1, 'usd')$$, 'CD422',
                 'unknown currency "usd" (ISO 4217, upper case)', 'a product''s currency is ISO 4217');
-- Priceable: legal tender only (the currencies' flag, generated from ICU's uncommon codes).
SELECT throws_ok($$INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('x', 1, 'XAU')$$, 'CD422',
                 'currency XAU (Gold) is not legal tender: nothing is priced in it', 'no price in gold');
SELECT throws_ok($$INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('x', 1, 'XXX')$$, 'CD422',
                 'currency XXX (The codes assigned for transactions where no currency is involved) is not legal tender: nothing is priced in it',
                 'no price in "no currency"');
SELECT throws_ok(format($$UPDATE coditect.products SET currency = 'XTS' WHERE id = %L$$, :'p_base'), 'CD422', NULL,
                 'nor in the testing code, by an update either');
SELECT set_eq($$SELECT code FROM coditect.currencies WHERE NOT priceable$$,
              $$VALUES ('BOV'), ('CHE'), ('CHW'), ('CLF'), ('COU'), ('MXV'), ('USN'), ('UYI'), ('UYW'), ('VED'), ('XAG'), ('XAU'),
                       ('XBA'), ('XBB'), ('XBC'), ('XBD'), ('XDR'), ('XPD'), ('XPT'), ('XSU'), ('XTS'), ('XUA'), ('XXX')$$,
              'not priceable: funds, metals, units of account, XTS, XXX (and VED, as CLDR says)');
SELECT ok((SELECT bool_and(priceable) FROM coditect.currencies WHERE code IN ('USD', 'EUR', 'JPY', 'KWD', 'XAF', 'XOF', 'XCD', 'XPF')),
          'tender X-codes (CFA and CFP francs, East Caribbean dollar) are priceable');
SELECT throws_ok($$INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('x', -1, 'USD')$$, '23514', NULL,
                 'prices are not negative');
SELECT throws_ok(format($$INSERT INTO coditect.products (name, unit_amount, currency, requires) VALUES ('x', 1, 'USD', ARRAY[%L, %L]::uuid[])$$,
                        :'p_base', coditect.uuid_generate_v7()), 'CD422', NULL, 'requires names existing products');
SELECT throws_ok(format($$UPDATE coditect.products SET requires = ARRAY[id] WHERE id = %L$$, :'p_base'), '23514', NULL,
                 'a product does not require itself');
SELECT throws_ok($$INSERT INTO coditect.products (name, unit_amount, currency, grants_license) VALUES ('x', 1, 'USD', true)$$,
                 '23514', NULL, 'a license product names its tier and seats');
SELECT throws_ok($$INSERT INTO coditect.products (name, unit_amount, currency, grants_license, license_tier, license_seats)
                   VALUES ('x', 1, 'USD', true, 'PRO', 1)$$, '23514', NULL,
                 'a one-time license product says how long the license lasts');
SELECT throws_ok($$INSERT INTO coditect.products (name, unit_amount, currency, trial_period_days) VALUES ('x', 1, 'USD', 7)$$,
                 '23514', NULL, 'a trial needs a subscription product');
RESET ROLE;
SET ROLE tap60_gateway;
SELECT throws_ok($$INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('x', 1, 'USD')$$, '42501', NULL,
                 'the gateway cannot write products');
SELECT is(pg_temp.as_user('guest', 'guest', $$SELECT (coditect.api_products_list('{"recurring_interval": "month"}') -> 'results' -> 0 ->> 'name')$$),
          'Pro plan', 'a guest lists subscription products');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_products_get(%L) ->> 'requires'$$, :'p_pro')),
          format('["%s"]', :'p_base'), 'a product answers its requirements');
RESET ROLE;
SET ROLE tap60_analyst;
SELECT is((SELECT count(*)::int FROM coditect.products), 4, 'analysts read products');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
