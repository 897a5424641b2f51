-- Subscriptions and entitlements (sql/86_subscriptions.sql): a subscription starts trialing or
-- incomplete as its product says; entitlements and the product's license appear in the
-- transaction that makes it trialing or active, follow its renewals, and end with it: now, or
-- at the period's end (by the job); only admins subscribe and cancel, members read
-- entitlements; the rules for every writer. Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql

\set fx t86
\ir lib/tenants.psql
\ir lib/as_user.psql
CREATE ROLE tap86_gateway LOGIN IN ROLE coditect_gateway;

-- Products are the service's to write; the test writes them as the DBA.
INSERT INTO coditect.products (name, unit_amount, currency, recurring_interval, grants_license, license_tier, license_features, license_seats)
VALUES ('t86 Pro monthly', 4900, 'USD', 'month', true, 'PRO', '["sync", "audit"]', 5) RETURNING id AS pro \gset
INSERT INTO coditect.products (name, unit_amount, currency, recurring_interval, trial_period_days)
VALUES ('t86 Support yearly with a trial', 100000, 'JPY', 'year', 14) RETURNING id AS support \gset
INSERT INTO coditect.products (name, unit_amount, currency, grants_license, license_tier, license_seats, license_duration_days)
VALUES ('t86 One-off', 500, 'USD', true, 'BASIC', 2, 365) RETURNING id AS oneoff \gset
INSERT INTO coditect.products (name, unit_amount, currency, recurring_interval, trial_period_days, grants_license, license_tier, license_seats)
VALUES ('t86 Team with a trial', 2000, 'USD', 'month', 30, true, 'ENTERPRISE', 5) RETURNING id AS team \gset
-- The manual payment, as a service would make it: in the tenant's context.
CREATE FUNCTION pg_temp.pay(p_sub uuid, p_ref text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_user('owner', 'owner', format('SELECT coditect.subscription_activate(%L, %L)::text', p_sub, p_ref))
$$;
CREATE FUNCTION pg_temp.ent(p_subscription uuid) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(concat_ws('|', e.status, e.ends_at = s.current_period_end, l.tier, l.seats_total, l.is_active,
                                l.expiry_date = e.ends_at, l.features::text), ' ; ' ORDER BY e.created_at)
      FROM coditect.entitlements e JOIN coditect.subscriptions s ON s.tenant_id = e.tenant_id AND s.id = e.subscription_id
      LEFT JOIN coditect.licenses l ON l.tenant_id = e.tenant_id AND l.id = e.license_id
     WHERE e.subscription_id = p_subscription
$$;
GRANT EXECUTE ON FUNCTION pg_temp.ent(uuid) TO PUBLIC;

SELECT columns_are('coditect', 'subscriptions', ARRAY['tenant_id', 'id', 'product_id', 'status', 'quantity', 'unit_amount', 'currency',
    'recurring_interval', 'recurring_interval_count', 'current_period_start',
    'current_period_end', 'trial_start', 'trial_end', 'billing_cycle_anchor', 'cancel_at_period_end', 'canceled_at', 'ended_at',
    'stripe_subscription_id', 'last_payment_reference', 'created_by', 'created_at', 'updated_at'],
    'subscriptions: Stripe''s fields, the seeds'' trial and anchor, the payment of the period');
SELECT is(ARRAY(SELECT c.relname || ': ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                 WHERE c.relname IN ('subscriptions', 'entitlements') AND c.relnamespace = 'coditect'::regnamespace
                   AND pg_get_indexdef(i.indexrelid) !~ '^[^(]*\(tenant_id[,)]'), '{}'::text[], 'every index leads with tenant_id');

------------------------------------------------------------------------------------------------
-- Subscribing
------------------------------------------------------------------------------------------------

SET ROLE tap86_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}')::text$$, :'pro')),
          'CD403: permission denied: subscription.create needs a role that holds it (current role: member)', 'members do not subscribe');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}')::text$$, :'oneoff')),
          format('CD422: product %s is not an active subscription product', :'oneoff'), 'a one-time product is not subscribed to');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s", "status": "active"}')::text$$, :'pro')),
          'CD400: unknown or read-only field(s): status', 'a client does not choose the status');
SELECT pg_temp.put('pro sub', (pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s", "quantity": 2}')::text$$, :'pro'))::jsonb ->> 'id')::uuid) IS NOT NULL AS _ \gset
RESET ROLE;
SELECT is((SELECT (status::text, current_period_end = current_period_start + interval '1 month', trial_end IS NULL)
             FROM coditect.subscriptions WHERE id = pg_temp.id('pro sub')),
          ROW('incomplete'::text, true, true), 'without a trial it awaits its first payment, for a month''s period');
SELECT is(pg_temp.ent(pg_temp.id('pro sub')), NULL, 'no entitlement before it is paid');

-- The manual payment: active, entitled, licensed, in that transaction.
SELECT is(pg_temp.pay(pg_temp.id('pro sub'), 'pay-1')::jsonb ->> 'status', 'active', 'the service marks it paid');
SELECT is(pg_temp.ent(pg_temp.id('pro sub')), 'active|t|PRO|10|t|t|["sync", "audit"]',
          'an entitlement and a PRO license of 5 seats x 2, its features, until the period''s end');
SELECT is((SELECT count(*) FROM coditect.audit_logs WHERE tenant_id = :'ta' AND action = 'license.issue'), 1::bigint, 'the license issue is audited');

-- A renewal moves the entitlement and the license with the period.
SELECT is((pg_temp.pay(pg_temp.id('pro sub'), 'pay-2')::jsonb ->> 'current_period_end')::timestamptz,
          now() + interval '2 months', 'paying the next period renews it');
SELECT is((pg_temp.pay(pg_temp.id('pro sub'), 'pay-2')::jsonb ->> 'current_period_end')::timestamptz,
          now() + interval '2 months', 'the same payment again renews nothing (a retried call)');
SELECT is(pg_temp.pay(pg_temp.id('pro sub'), ''), 'CD400: a payment reference (1 to 255 characters) names the payment', 'a payment names its reference');
SELECT is(pg_temp.ent(pg_temp.id('pro sub')), 'active|t|PRO|10|t|t|["sync", "audit"]', 'the same entitlement and license, extended');
SELECT is((SELECT count(*) FROM coditect.entitlements WHERE subscription_id = pg_temp.id('pro sub')), 1::bigint, 'one entitlement, not two');

-- A trial entitles at once, until the trial ends.
SET ROLE tap86_gateway;
SELECT pg_temp.put('support sub', (pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}')::text$$, :'support'))::jsonb ->> 'id')::uuid) IS NOT NULL AS _ \gset
SELECT is(pg_temp.as_user('member', 'member', $$SELECT (coditect.api_entitlements_list('{}') ->> 'count')$$), '2', 'members list the tenant''s entitlements');
RESET ROLE;
SELECT is((SELECT (status::text, trial_end = now() + interval '14 days', current_period_end = trial_end) FROM coditect.subscriptions WHERE id = pg_temp.id('support sub')),
          ROW('trialing'::text, true, true), 'a product with a trial starts trialing for its days');
SELECT is(pg_temp.ent(pg_temp.id('support sub')), 'active|t', 'entitled during the trial (no license: the product grants none)');

------------------------------------------------------------------------------------------------
-- Canceling
------------------------------------------------------------------------------------------------

SET ROLE tap86_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.subscription_cancel(%L)::text$$, pg_temp.id('pro sub'))),
          'CD403: permission denied: subscription.cancel needs a role that holds it (current role: member)', 'members do not cancel');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.subscription_cancel(%L)::text$$, pg_temp.id('pro sub')))::jsonb ->> 'cancel_at_period_end',
          'true', 'an admin cancels at the period''s end (the default)');
RESET ROLE;
SELECT is((SELECT status::text FROM coditect.subscriptions WHERE id = pg_temp.id('pro sub')), 'active', 'it stays active until then');
SELECT is(pg_temp.ent(pg_temp.id('pro sub')), 'active|t|PRO|10|t|t|["sync", "audit"]', 'and entitled');
-- The period ends (moved back as the DBA, past the rule that periods move forward: the trigger is bypassed).
ALTER TABLE coditect.subscriptions DISABLE TRIGGER subscription_rules, DISABLE TRIGGER subscription_entitlements;
UPDATE coditect.subscriptions SET current_period_start = now() - interval '2 months', current_period_end = now() - interval '1 second'
 WHERE id = pg_temp.id('pro sub');
UPDATE coditect.entitlements SET ends_at = now() - interval '1 second' WHERE subscription_id = pg_temp.id('pro sub');
ALTER TABLE coditect.subscriptions ENABLE ALWAYS TRIGGER subscription_rules, ENABLE ALWAYS TRIGGER subscription_entitlements;
SELECT is(coditect.subscription_maintenance(), 1, 'the job cancels it (its entitlement ends with it)');
SELECT is((SELECT (status::text, canceled_at = now(), ended_at = current_period_end) FROM coditect.subscriptions WHERE id = pg_temp.id('pro sub')),
          ROW('canceled'::text, true, true), 'canceled at its period''s end');
SELECT is((SELECT concat_ws('|', e.status, e.ended_at = now(), l.is_active) FROM coditect.entitlements e
             JOIN coditect.licenses l ON l.tenant_id = e.tenant_id AND l.id = e.license_id WHERE e.subscription_id = pg_temp.id('pro sub')),
          'ended|t|f', 'the entitlement ended and the license is off');

SET ROLE tap86_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.subscription_cancel(%L, false)::text$$, pg_temp.id('support sub')))::jsonb ->> 'status',
          'canceled', 'canceling now');
RESET ROLE;
SELECT is((SELECT concat_ws('|', status, ends_at = now()) FROM coditect.entitlements WHERE subscription_id = pg_temp.id('support sub')), 'ended|t',
          'ends the entitlement now, in that transaction');
SET ROLE tap86_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.subscription_cancel(%L)::text$$, pg_temp.id('support sub'))),
          'CD409: the subscription is already canceled', 'a canceled subscription stays canceled');
RESET ROLE;
SELECT is(pg_temp.pay(pg_temp.id('support sub'), 'pay-9'), 'CD409: the subscription is canceled', 'and is not paid again');
SET ROLE tap86_gateway;
SELECT is((pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}')::text$$, :'support'))::jsonb ->> 'status'),
          'incomplete', 'subscribing again: no second trial (a trial is once per tenant and product)');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}')::text$$, :'support')),
          '23505: duplicate key value violates unique constraint "subscriptions_one_live_key"', 'one live subscription per product');
-- A trial entitles one unit, whatever the quantity.
SELECT pg_temp.put('team sub', (pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s", "quantity": 1000}')::text$$, :'team'))::jsonb ->> 'id')::uuid) IS NOT NULL AS _ \gset
RESET ROLE;
SELECT is(pg_temp.ent(pg_temp.id('team sub')), 'active|t|ENTERPRISE|5|t|t|[]', 'a trial of 1,000 units licenses 5 seats (one unit)');
-- A license that comes with an entitlement changes with it only.
SET ROLE tap86_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_licenses_update(l.id, '{"seats_total": 500}')::text FROM coditect.entitlements e
                                                      JOIN coditect.licenses l ON l.tenant_id = e.tenant_id AND l.id = e.license_id WHERE e.subscription_id = %L$$,
                                                  pg_temp.id('team sub'))),
          'CD403: this license comes with an entitlement: it changes with its subscription or order', 'an admin cannot grow it');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_licenses_update(l.id, '{"is_active": true}')::text FROM coditect.entitlements e
                                                      JOIN coditect.licenses l ON l.tenant_id = e.tenant_id AND l.id = e.license_id WHERE e.subscription_id = %L$$,
                                                  pg_temp.id('pro sub'))),
          'CD403: this license comes with an entitlement: it changes with its subscription or order', 'nor switch an ended one back on');
RESET ROLE;

-- A paid order entitles its one-time products, with the product's license, in that transaction.
SET ROLE tap86_gateway;
SELECT pg_temp.put('cart', (pg_temp.as_user('admin', 'admin', $$SELECT coditect.api_carts_create('{"currency": "USD"}')::text$$)::jsonb ->> 'id')::uuid) IS NOT NULL AS _ \gset
SELECT ok(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.cart_add_item(%L, %L, 3)::text$$, pg_temp.id('cart'), :'oneoff')) LIKE '{%', 'three one-off licenses in a cart');
SELECT pg_temp.put('order', (pg_temp.as_user('admin', 'admin', format($$SELECT coditect.cart_checkout(%L, 'US')::text$$, pg_temp.id('cart')))::jsonb ->> 'id')::uuid) IS NOT NULL AS _ \gset
RESET ROLE;
SELECT is((SELECT count(*) FROM coditect.entitlements WHERE source_type = 'order' AND tenant_id = :'ta'), 0::bigint, 'nothing before the payment');
SELECT ok(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.order_mark_paid(%L, 'cash-1')::text$$, pg_temp.id('order'))) LIKE '{%', 'the order is paid');
SELECT is((SELECT concat_ws('|', e.status, e.ends_at = now() + interval '365 days', l.tier, l.seats_total, l.expiry_date = e.ends_at)
             FROM coditect.entitlements e JOIN coditect.order_lines ol ON ol.tenant_id = e.tenant_id AND ol.id = e.source_id
             JOIN coditect.licenses l ON l.tenant_id = e.tenant_id AND l.id = e.license_id
            WHERE e.source_type = 'order' AND ol.order_id = pg_temp.id('order')),
          'active|t|BASIC|6|t', 'an entitlement for the line, a BASIC license of 2 seats x 3, for the product''s 365 days');

-- License keys: the writes that issue licenses claim their keys first (on Citus the license is
-- written on the tenant's worker, where no key can be claimed); the license takes an unused claim.
SELECT is(coditect_internal.license_keys_claim(:'ta', 'order', ARRAY[NULL, NULL]::uuid[], ARRAY[:'oneoff', :'support']::uuid[]), 1,
          'one key claimed for two new sources: one product grants a license');
SELECT is(coditect_internal.license_keys_claim(:'ta', 'order', ARRAY(SELECT ol.id FROM coditect.order_lines ol WHERE ol.order_id = pg_temp.id('order')),
                                               ARRAY[:'oneoff']::uuid[]), 0, 'none for a line already entitled');
SELECT g.row_id AS claimed_id, g.value AS claimed_key FROM coditect_internal.global_keys g
 WHERE g.tenant_id = :'ta' AND g.kind = 'licenses.key_string'
   AND NOT EXISTS (SELECT 1 FROM coditect.licenses l WHERE l.tenant_id = g.tenant_id AND l.id = g.row_id) \gset
SELECT is((SELECT k.id || ' ' || k.key_string FROM coditect_internal.license_key_take(:'ta') k), :'claimed_id' || ' ' || :'claimed_key',
          'the next license takes the unused claim');
INSERT INTO coditect.licenses (tenant_id, id, key_string, expiry_date) VALUES (:'ta', :'claimed_id', :'claimed_key', now() + interval '1 day');
SELECT isnt((SELECT k.id FROM coditect_internal.license_key_take(:'ta') k), :'claimed_id'::uuid,
            'once used, a new key is claimed (one node)');
SELECT is((SELECT count(*)::int FROM coditect.licenses l WHERE l.tenant_id = :'ta'
            AND NOT EXISTS (SELECT 1 FROM coditect_internal.global_keys g
                             WHERE g.kind = 'licenses.key_string' AND g.tenant_id = l.tenant_id AND g.row_id = l.id AND g.value = l.key_string)),
          0, 'every license holds its key''s claim');

------------------------------------------------------------------------------------------------
-- Rules for every writer
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.try(format($$UPDATE coditect.subscriptions SET product_id = %L WHERE id = %L$$, :'support', pg_temp.id('pro sub'))),
          'CD422: a subscription keeps its product (cancel it and subscribe to the other)', 'a subscription keeps its product');
SELECT matches(pg_temp.try(format($$UPDATE coditect.subscriptions SET status = 'trialing' WHERE id = %L$$, pg_temp.id('support sub'))),
               '^CD422: subscription: cannot go from ''canceled'' to ''trialing''', 'its statuses follow the state machine');
SELECT matches(pg_temp.try(format($$INSERT INTO coditect.subscriptions (tenant_id, product_id, current_period_end, status) VALUES (%L, %L, now() + interval '1 day', 'active')$$,
                                  :'ta', :'pro')), '^CD422: subscription: cannot start in ''active''', 'a DBA''s subscription does not start active');
SELECT is(pg_temp.try(format($$INSERT INTO coditect.subscriptions (tenant_id, product_id, current_period_end) VALUES (%L, %L, now() + interval '1 day')$$,
                             :'ta', :'pro')), 'ok', 'a DBA''s insert ...');
SELECT is((SELECT (status::text, current_period_end = now() + interval '1 month') FROM coditect.subscriptions
            WHERE tenant_id = :'ta' AND product_id = :'pro' AND id <> pg_temp.id('pro sub')),
          ROW('incomplete'::text, true), '... has the product''s period all the same: the period and status are the database''s');
SET ROLE tap86_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$UPDATE coditect.subscriptions SET status = 'active' WHERE id = %L$$, pg_temp.id('pro sub'))),
          '42501: permission denied for table subscriptions', 'a client cannot mark a subscription active');
SELECT is(pg_temp.as_user('admin', 'admin', $$INSERT INTO coditect.entitlements (tenant_id, product_id, source_type, source_id) SELECT tenant_id, product_id, 'order', id FROM coditect.subscriptions LIMIT 1$$),
          '42501: permission denied for table entitlements', 'nor grant itself an entitlement');
RESET ROLE;
SELECT is(pg_temp.try(format($$SELECT coditect_internal.entitlement_grant(%L, %L, 'order', %L, NULL)$$, :'ta', :'oneoff', coditect.uuid_generate_v7())),
          'ok', 'an order line''s entitlement (the orders'' path): no end');
SELECT ok(NOT has_function_privilege('coditect_gateway', 'coditect.subscription_activate(uuid, text)', 'EXECUTE'), 'only services mark payments');

------------------------------------------------------------------------------------------------
-- The price and interval are the subscription's; periods end on the anchor's day
------------------------------------------------------------------------------------------------

SELECT is(coditect_internal.subscription_period_end('month', 1, 31, '2040-01-31 10:00Z'), '2040-02-29 10:00Z'::timestamptz,
          'anchor 31: 31 Jan -> 29 Feb (leap year)');
SELECT is(coditect_internal.subscription_period_end('month', 1, 31, '2040-02-29 10:00Z'), '2040-03-31 10:00Z'::timestamptz,
          '29 Feb -> 31 Mar: from the anchor, not from the previous end');
SELECT is(coditect_internal.subscription_period_end('month', 1, 31, '2041-01-31 10:00Z'), '2041-02-28 10:00Z'::timestamptz,
          '31 Jan -> 28 Feb in another year');
SELECT is(coditect_internal.subscription_period_end('month', 3, 31, '2040-02-29 10:00Z'), '2040-05-31 10:00Z'::timestamptz,
          'every three months: 29 Feb -> 31 May');
SELECT is(coditect_internal.subscription_period_end('year', 1, 29, '2041-02-28 10:00Z'), '2042-02-28 10:00Z'::timestamptz,
          'yearly, anchor 29 (Feb): 2041 -> 2042 ...');
SELECT is(coditect_internal.subscription_period_end('year', 1, 29, '2043-02-28 10:00Z'), '2044-02-29 10:00Z'::timestamptz,
          '... and back to the 29th in a leap year');
SELECT is(coditect_internal.subscription_period_end('week', 2, 31, '2040-02-29 10:00Z'), '2040-03-14 10:00Z'::timestamptz,
          'weeks ignore the anchor');
SELECT is(coditect_internal.subscription_first_period_end('month', 1, 1, '2040-01-10 12:00Z'), '2040-02-01 12:00Z'::timestamptz,
          'an anchor on another day: the first period runs to its first occurrence (1 Feb) ...');
SELECT is(coditect_internal.subscription_first_period_end('month', 1, 25, '2040-01-10 12:00Z'), '2040-01-25 12:00Z'::timestamptz,
          '... (25 Jan)');
SELECT is(coditect_internal.subscription_first_period_end('month', 1, 10, '2040-01-10 12:00Z'), '2040-02-10 12:00Z'::timestamptz,
          'the anchor on the day subscribed: a whole first period');

-- A subscription with anchor 31 renews from it: its period moved (forward, as the DBA) to
-- 31 Jan - 29 Feb 2040, then paid twice.
INSERT INTO coditect.products (name, unit_amount, currency, recurring_interval)
VALUES ('t86 Anchored', 1000, 'KWD', 'month') RETURNING id AS anchored \gset
SET ROLE tap86_gateway;
SELECT pg_temp.put('anchored sub', (pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s", "billing_cycle_anchor": 31}')::text$$, :'anchored'))::jsonb ->> 'id')::uuid) IS NOT NULL AS _ \gset
RESET ROLE;
SELECT is((SELECT (unit_amount, currency::text, recurring_interval::text, recurring_interval_count,
                   current_period_end = coditect_internal.anchored_date(date_trunc('month', now() AT TIME ZONE 'UTC'), 31, now())
                       OR current_period_end = coditect_internal.anchored_date(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month', 31, now()))
             FROM coditect.subscriptions WHERE id = pg_temp.id('anchored sub')),
          ROW(1000::bigint, 'KWD'::text, 'month'::text, 1, true), 'the product''s price and interval snapshotted; the first period ends on the 31st (or the month''s last day)');
SELECT ok(pg_temp.pay(pg_temp.id('anchored sub'), 'a-1') LIKE '{%', 'paid: active');
UPDATE coditect.subscriptions SET current_period_start = '2040-01-31 10:00Z', current_period_end = '2040-02-29 10:00Z'
 WHERE id = pg_temp.id('anchored sub');
-- The product changes afterwards: the subscription keeps what it was made with.
UPDATE coditect.products SET unit_amount = 9999, recurring_interval = 'year' WHERE id = :'anchored';
SELECT is((pg_temp.pay(pg_temp.id('anchored sub'), 'a-2')::jsonb ->> 'current_period_end')::timestamptz, '2040-03-31 10:00Z'::timestamptz,
          'renewed to 31 Mar (a month: the product''s new yearly interval does not apply)');
SELECT is((pg_temp.pay(pg_temp.id('anchored sub'), 'a-3')::jsonb ->> 'current_period_end')::timestamptz, '2040-04-30 10:00Z'::timestamptz,
          'then 30 Apr');
SELECT is((pg_temp.pay(pg_temp.id('anchored sub'), 'a-4')::jsonb ->> 'current_period_end')::timestamptz, '2040-05-31 10:00Z'::timestamptz,
          'then 31 May: no drift');
SELECT is((SELECT unit_amount FROM coditect.subscriptions WHERE id = pg_temp.id('anchored sub')), 1000::bigint,
          'the price stays the one subscribed at');
SELECT is(pg_temp.try(format($$UPDATE coditect.subscriptions SET unit_amount = 1 WHERE id = %L$$, pg_temp.id('anchored sub'))),
          'CD422: a subscription keeps the price, interval and billing cycle anchor it was made with', 'for every writer');
SELECT is(pg_temp.try(format($$UPDATE coditect.subscriptions SET billing_cycle_anchor = 1 WHERE id = %L$$, pg_temp.id('anchored sub'))),
          'CD422: a subscription keeps the price, interval and billing cycle anchor it was made with', 'and its anchor');

------------------------------------------------------------------------------------------------
-- incomplete_expired: unpaid 23 hours after it was made (the job)
------------------------------------------------------------------------------------------------

INSERT INTO coditect.products (name, unit_amount, currency, recurring_interval)
VALUES ('t86 Never paid', 100, 'USD', 'month'), ('t86 Just made', 100, 'USD', 'month');
SET ROLE tap86_gateway;
SELECT pg_temp.put('unpaid sub', (pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}')::text$$,
                                   (SELECT id FROM coditect.products WHERE name = 't86 Never paid')))::jsonb ->> 'id')::uuid) IS NOT NULL AS _ \gset
SELECT pg_temp.put('fresh sub', (pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}')::text$$,
                                  (SELECT id FROM coditect.products WHERE name = 't86 Just made')))::jsonb ->> 'id')::uuid) IS NOT NULL AS _ \gset
RESET ROLE;
ALTER TABLE coditect.subscriptions DISABLE TRIGGER stamp_timestamps;
UPDATE coditect.subscriptions SET created_at = now() - interval '23 hours' WHERE id = pg_temp.id('unpaid sub');
UPDATE coditect.subscriptions SET created_at = now() - interval '22 hours 59 minutes' WHERE id = pg_temp.id('fresh sub');
ALTER TABLE coditect.subscriptions ENABLE TRIGGER stamp_timestamps;
SELECT is(coditect.subscription_maintenance(), 1, 'the job expires the subscription incomplete for 23 hours, not the younger one');
SELECT is((SELECT (status::text, ended_at = now()) FROM coditect.subscriptions WHERE id = pg_temp.id('unpaid sub')),
          ROW('incomplete_expired'::text, true), 'incomplete_expired, ended');
SELECT is((SELECT status::text FROM coditect.subscriptions WHERE id = pg_temp.id('fresh sub')), 'incomplete', 'the younger one waits');
SELECT is(pg_temp.pay(pg_temp.id('unpaid sub'), 'late-1'), 'CD409: the subscription is incomplete_expired', 'a late payment does not revive it');
SET ROLE tap86_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.subscription_cancel(%L)::text$$, pg_temp.id('unpaid sub'))),
          'CD409: the subscription is already incomplete_expired', 'nor is it canceled');
SELECT is((pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_subscriptions_create('{"product_id": "%s"}')::text$$,
                             (SELECT id FROM coditect.products WHERE name = 't86 Never paid')))::jsonb ->> 'status'), 'incomplete',
          'subscribing again is possible (an expired one is not live)');
RESET ROLE;
SELECT matches(pg_temp.try(format($$UPDATE coditect.subscriptions SET status = 'active' WHERE id = %L$$, pg_temp.id('unpaid sub'))),
               '^CD422: subscription: cannot go from ''incomplete_expired'' to ''active''', 'incomplete_expired is final');

SELECT * FROM finish();
ROLLBACK;
