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
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('t86 One-off', 500, 'USD') RETURNING id AS oneoff \gset
CREATE FUNCTION pg_temp.ent(p_subscription uuid) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(concat_ws('|', e.status, e.ends_at = s.current_period_end, l.tier, l.seats_total, l.is_active,
                                l.expiry_date = e.ends_at, l.features::text), ' ; ' ORDER BY e.created_at)
      FROM coditect.entitlements e JOIN coditect.subscriptions s ON s.tenant_id = e.tenant_id AND s.id = e.subscription_id
      LEFT JOIN coditect.licenses l ON l.tenant_id = e.tenant_id AND l.id = e.license_id
     WHERE e.subscription_id = p_subscription
$$;
GRANT EXECUTE ON FUNCTION pg_temp.ent(uuid) TO PUBLIC;

SELECT columns_are('coditect', 'subscriptions', ARRAY['tenant_id', 'id', 'product_id', 'status', 'quantity', 'current_period_start',
    'current_period_end', 'trial_start', 'trial_end', 'billing_cycle_anchor', 'cancel_at_period_end', 'canceled_at', 'ended_at',
    'stripe_subscription_id', 'created_by', 'created_at', 'updated_at'], 'subscriptions: Stripe''s fields and the seeds'' trial and anchor');
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
SELECT is(coditect.subscription_activate(:'ta', pg_temp.id('pro sub')) ->> 'status', 'active', 'the service marks it paid');
SELECT is(pg_temp.ent(pg_temp.id('pro sub')), 'active|t|PRO|10|t|t|["sync", "audit"]',
          'an entitlement and a PRO license of 5 seats x 2, its features, until the period''s end');
SELECT is((SELECT count(*) FROM coditect.audit_logs WHERE tenant_id = :'ta' AND action = 'license.issue'), 1::bigint, 'the license issue is audited');

-- A renewal moves the entitlement and the license with the period.
SELECT is((coditect.subscription_activate(:'ta', pg_temp.id('pro sub')) ->> 'current_period_end')::timestamptz,
          now() + interval '2 months', 'paying the next period renews it');
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
SELECT is(pg_temp.try(format($$SELECT coditect.subscription_activate(%L, %L)$$, :'ta', pg_temp.id('support sub'))),
          'CD409: the subscription is canceled', 'and is not paid again');

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
SELECT ok(NOT has_function_privilege('coditect_gateway', 'coditect.subscription_activate(uuid, uuid)', 'EXECUTE'), 'only services mark payments');

SELECT * FROM finish();
ROLLBACK;
