-- Contacts (sql/62_contacts.sql): the polymorphic (entity_type, entity_id) reference checked by
-- the database (same tenant, live, removed with its entity), phone numbers in E.164 for several
-- countries, e-mails unique per entity, addresses' country and subdivision codes, one default
-- per entity, who writes and who reads whose contacts, and is_verified for the service role only; through
-- the generated API as a gateway login. Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t62
\ir lib/tenants.psql
\ir lib/as_user.psql
INSERT INTO coditect.projects (tenant_id, name, key) VALUES (:'ta', 'Web', 'WEB'), (:'tb', 'Secret', 'SEC');
INSERT INTO coditect.projects (tenant_id, name, key) VALUES (:'ta', 'Site', 'SIT');
SELECT count(pg_temp.put('project_' || key, id)) AS _ FROM coditect.projects WHERE key IN ('WEB', 'SEC', 'SIT') \gset
INSERT INTO coditect.teams (tenant_id, name) VALUES (:'ta', 'Ops') RETURNING id AS team \gset
INSERT INTO coditect.teams (tenant_id, name) VALUES (:'ta', 'Support') RETURNING id AS team2 \gset
SELECT pg_temp.put('owner_b', :'owner_b') AS _ \gset

SELECT is(ARRAY(SELECT entity_type::text FROM coditect_internal.contact_entity_types ORDER BY 1),
          ARRAY['project', 'team', 'tenant', 'user'], 'contacts name tenants, users, teams and projects');
SELECT is((SELECT count(*)::int FROM pg_constraint c JOIN coditect_internal.contact_tables t ON t.relid = c.conrelid
            WHERE c.contype = 'f' AND c.confdeltype = 'c' AND c.conname ~ '_ref_'), 9,
          'one cascading foreign key per contact table and entity type but the tenant, made by the declarations');
SELECT is((SELECT count(*)::int FROM pg_constraint c JOIN coditect_internal.contact_tables t ON t.relid = c.conrelid
            WHERE c.contype = 'c' AND pg_get_constraintdef(c.oid) = 'CHECK (((ref_tenant IS NULL) OR (ref_tenant = tenant_id)))'), 3,
          'for the tenant, a CHECK that it is the row''s (tenant_id''s key cascades; Citus refuses a key from ref_tenant)');

CREATE ROLE tap62_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap62_service LOGIN IN ROLE coditect_service;
GRANT SELECT, INSERT, UPDATE ON refs TO tap62_gateway, tap62_service;
SET ROLE tap62_gateway;

CREATE FUNCTION pg_temp.body(p jsonb) RETURNS text LANGUAGE sql AS $$ SELECT quote_literal(p::text) $$;

------------------------------------------------------------------------------------------------
-- Phone numbers
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_phone_numbers_create(%s) ->> 'phone_number'$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'phone_type', n.t,
                                              'region_code', n.r, 'phone_number', n.num)))),
          n.e164, 'a phone number of ' || n.r || ' is stored in E.164')
  FROM (VALUES ('US', '(201) 555-0123', '+12015550123', 'work'), ('GB', '020 7946 0958', '+442079460958', 'home'),
               ('DE', '030 901820', '+4930901820', 'fax'), ('JP', '03-1234-5678', '+81312345678', 'mobile'),
               ('FR', '+33 1 23 45 67 89', '+33123456789', 'work')) n(r, num, e164, t);
SELECT is(pg_temp.as_user('member', 'member', $$SELECT string_agg(country_code, ',' ORDER BY country_code) FROM coditect.phone_numbers$$),
          '+1,+33,+44,+49,+81', 'the calling code comes from the region');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_phone_numbers_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'phone_type', 'work',
                                              'region_code', 'US', 'phone_number', '+44 20 7946 0958')))),
          'CD422: "+44 20 7946 0958" is not a valid phone number of US', 'a number of another region is refused');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_phone_numbers_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'phone_type', 'work',
                                              'region_code', 'US', 'phone_number', '555')))),
          'CD422: "555" is not a valid phone number of US', 'an invalid number is refused');
SELECT alike(pg_temp.as_user('member', 'member', format($$UPDATE coditect.phone_numbers SET phone_number = 'call me' WHERE phone_number = '+12015550123' RETURNING 1$$)),
          'CD422:%', 'an update is validated too');

------------------------------------------------------------------------------------------------
-- The polymorphic reference
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_email_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('owner_b'),
                                              'email_type', 'work', 'email', 'x@b.test')))),
          format('CD422: user %s not found in this tenant', pg_temp.id('owner_b')), 'another tenant''s user is refused');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'project', 'entity_id', pg_temp.id('project_SEC'), 'address_type', 'office',
                                              'address_line1', '1 Secret Rd', 'city', 'X', 'country_code', 'US')))),
          format('CD422: project %s not found in this tenant', pg_temp.id('project_SEC')), 'another tenant''s project is refused');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_email_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'tenant', 'entity_id', current_setting('tap.tenant')::uuid::text,
                                              'email_type', 'work', 'email', 'billing@a.test')))),
          '{%', 'the tenant itself has contacts');
RESET ROLE;
SELECT throws_ok(format($$INSERT INTO coditect.email_addresses (tenant_id, entity_type, entity_id, email_type, email)
                          VALUES (%L, 'tenant', %L, 'work', 'x@x.test')$$, :'ta', :'tb'),
                 'CD422', NULL, 'the owner too cannot name another tenant');
-- The foreign key holds when the guard is bypassed: the database, not only the trigger.
ALTER TABLE coditect.email_addresses DISABLE TRIGGER guard_contact;
SELECT throws_ok(format($$INSERT INTO coditect.email_addresses (tenant_id, entity_type, entity_id, email_type, email)
                          VALUES (%L, 'user', %L, 'work', 'x@x.test')$$, :'ta', :'owner_b'),
                 '23503', NULL, 'the foreign key refuses another tenant''s user even without the triggers');
ALTER TABLE coditect.email_addresses ENABLE ALWAYS TRIGGER guard_contact;
SELECT throws_ok(format($$INSERT INTO coditect.email_addresses (tenant_id, entity_type, entity_id, email_type, email)
                          VALUES (%L, 'order', %L, 'work', 'x@x.test')$$, :'ta', :'ta'),
                 'CD422', NULL, 'an undeclared entity type is refused');
SET ROLE tap62_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_addresses_create(%s) ->> 'state_code'$$,
              pg_temp.body(jsonb_build_object('entity_type', 'project', 'entity_id', pg_temp.id('project_WEB'), 'address_type', 'office',
                                              'address_line1', '1 Market St', 'city', 'San Francisco', 'state_code', 'US-CA',
                                              'postal_code', '94105', 'country_code', 'US', 'is_default', true)))),
          'US-CA', 'a project''s office address');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_phone_numbers_create(%s) ->> 'phone_number'$$,
              pg_temp.body(jsonb_build_object('entity_type', 'team', 'entity_id', :'team', 'phone_type', 'work',
                                              'region_code', 'CA', 'phone_number', '416 555 0199')))),
          '+14165550199', 'a team''s phone number (Canada)');
SELECT ok(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_addresses_list('{"entity_type": "project"}')$$))::jsonb
          -> 'results' -> 0 ? 'ref_project' = false, 'the reference columns are not in answers');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'project', 'entity_id', pg_temp.id('project_WEB'), 'address_type', 'office',
                                              'address_line1', '2 Market St', 'city', 'San Francisco', 'state_code', 'CA-ON',
                                              'country_code', 'US')))),
          '23503:%', 'a subdivision of another country is refused');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'project', 'entity_id', pg_temp.id('project_WEB'), 'address_type', 'office',
                                              'address_line1', '2 Market St', 'city', 'Nowhere', 'country_code', 'XX')))),
          '23503:%', 'an unknown country is refused');

-- Deleting the entity removes its contacts (the cascade passes the guard).
SELECT is(pg_temp.as_user('admin', 'admin', format($$DELETE FROM coditect.teams WHERE id = %L RETURNING 'deleted'$$, :'team')),
          'deleted', 'a team is deleted');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT count(*)::text FROM coditect.phone_numbers WHERE entity_id = %L$$, :'team')),
          '0', 'its phone numbers went with it: no dangling rows');
RESET ROLE;
-- A soft-deleted project takes no new contacts.
UPDATE coditect.projects SET deleted_at = now() WHERE id = pg_temp.id('project_WEB');
SET ROLE tap62_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_email_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'project', 'entity_id', pg_temp.id('project_WEB'),
                                              'email_type', 'work', 'email', 'web@a.test')))),
          format('CD422: project %s not found in this tenant', pg_temp.id('project_WEB')), 'a deleted project takes no contacts');
RESET ROLE;
SELECT coditect.purge_deleted('coditect.projects', '0 seconds') AS _ \gset
SELECT is((SELECT count(*)::int FROM coditect.addresses WHERE entity_id = pg_temp.id('project_WEB')), 0,
          'purging the project removes its addresses');
SET ROLE tap62_gateway;

------------------------------------------------------------------------------------------------
-- E-mails and defaults
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_email_addresses_create(%s) ->> 'email'$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'email_type', 'work',
                                              'email', 'Ada@Example.COM', 'is_default', true)))),
          'Ada@example.com', 'an e-mail''s domain is stored in lower case');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_email_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'email_type', 'personal',
                                              'email', 'ada@EXAMPLE.com')))),
          '23505:%email_addresses_entity_email_key%', 'an e-mail once per entity, whatever its case');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_email_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'email_type', 'work',
                                              'email', 'not an e-mail')))),
          '23514:%', 'an invalid e-mail is refused');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_email_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'email_type', 'personal',
                                              'email', 'ada2@example.com', 'is_default', true)))),
          '23505:%email_addresses_one_default%', 'one default e-mail per entity');
SELECT alike(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_email_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member2'), 'email_type', 'work',
                                              'email', 'ada@example.com', 'is_default', true)))),
          '{%', 'another entity has its own default (and may share the address)');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_phone_numbers_update(id, '{"is_default": true}') FROM coditect.phone_numbers WHERE phone_number IN ('+12015550123', '+442079460958')$$)),
          '23505:%phone_numbers_one_default%', 'one default phone number per entity');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'address_type', a.t,
                                              'address_line1', a.t || ' St', 'city', 'Austin', 'state_code', 'US-TX',
                                              'country_code', 'US', 'is_default', true)))),
          '{%', 'a default ' || a.t || ' address')
  FROM unnest(ARRAY['billing', 'shipping']) a(t);
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'address_type', 'billing',
                                              'address_line1', '3 St', 'city', 'Austin', 'country_code', 'US', 'is_default', true)))),
          '23505:%addresses_one_default%', 'one default address of each type per entity');

------------------------------------------------------------------------------------------------
-- Who writes: a member their own user's contacts; is_verified the service only
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_email_addresses_create(%s)$$,
              pg_temp.body(jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'), 'email_type', 'work',
                                              'email', 'spoof@x.test')))),
          'CD403: only administrators manage contacts other than their own user''s', 'a member cannot add to another user''s contacts');
SELECT is(pg_temp.as_user('member2', 'member', $$UPDATE coditect.email_addresses SET label = 'x' WHERE email = 'Ada@example.com' AND entity_id = current_setting('tap.user.member')::uuid RETURNING 1$$),
          'done', 'nor change them (they are not even seen)');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT coditect.api_email_addresses_create(('{"entity_type": "tenant", "entity_id": "' || current_setting('tap.tenant') || '", "email_type": "work", "email": "m@a.test"}')::jsonb)$$),
          'CD403: only administrators manage contacts other than their own user''s', 'nor the tenant''s');
SELECT alike(pg_temp.as_user('member', 'member', $$SELECT coditect.api_email_addresses_create(('{"entity_type": "user", "entity_id": "' || current_setting('tap.user.member') || '", "email_type": "work", "email": "v@a.test", "is_verified": true}')::jsonb)$$),
          'CD400:%', 'the API takes no is_verified');
SELECT is(pg_temp.as_user('member', 'member', $$UPDATE coditect.email_addresses SET is_verified = true WHERE email = 'Ada@example.com' RETURNING 1$$),
          'CD403: only the service role sets is_verified', 'the gateway cannot verify an e-mail');
SELECT is(pg_temp.as_user('admin', 'admin', $$UPDATE coditect.phone_numbers SET is_verified = true WHERE phone_number = '+442079460958' RETURNING 1$$),
          'CD403: only the service role sets is_verified', 'not even an administrator');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT coditect.api_phone_numbers_create(('{"entity_type": "user", "entity_id": "' || current_setting('tap.user.member') || '", "phone_type": "home", "region_code": "US", "phone_number": "2015550100"}')::jsonb) ->> 'is_verified'$$),
          'false', 'new contacts are unverified');
RESET ROLE;
SET ROLE tap62_service;
SELECT is(pg_temp.as_user('member', 'member', $$UPDATE coditect.email_addresses SET is_verified = true WHERE email = 'Ada@example.com' RETURNING is_verified::text$$),
          'true', 'the service verifies an e-mail');
SELECT is(pg_temp.as_user('member', 'member', $$UPDATE coditect.email_addresses SET is_verified = false WHERE email = 'Ada@example.com' RETURNING is_verified::text$$),
          'false', 'and may unverify it');
SELECT is(pg_temp.as_user('member', 'member', $$UPDATE coditect.email_addresses SET is_verified = true WHERE email = 'Ada@example.com' RETURNING is_verified::text$$),
          'true', 'verified again');
RESET ROLE;
SET ROLE tap62_gateway;
SELECT is(pg_temp.as_user('member', 'member', $$UPDATE coditect.email_addresses SET label = 'main' WHERE email = 'Ada@example.com' RETURNING is_verified::text$$),
          'true', 'a new label keeps the verification');
SELECT is(pg_temp.as_user('member', 'member', $$UPDATE coditect.email_addresses SET email = 'ada@new.example' WHERE email = 'Ada@example.com' RETURNING is_verified::text$$),
          'false', 'a changed e-mail is no longer verified');
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT count(*)::text FROM coditect.email_addresses$$), '3',
          'tenant A''s e-mails only (row-level security)');

------------------------------------------------------------------------------------------------
-- Who reads: a member the tenant's, teams', projects' and their own user's contacts; owners and
-- administrators everyone's
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT count(coditect.api_phone_numbers_create(jsonb_build_object(
              'entity_type', e.t, 'entity_id', e.id, 'phone_type', 'work', 'region_code', 'US', 'phone_number', e.n)))::text
              FROM (VALUES ('tenant', %L::uuid, '2015550171'), ('team', %L, '2015550172'), ('project', %L, '2015550173'),
                           ('user', %L, '2015550174')) e(t, id, n)$$, :'ta', :'team2', pg_temp.id('project_SIT'), pg_temp.id('member2'))),
          '4', 'an administrator adds numbers of the tenant, a team, a project and member2');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT string_agg(entity_type, ',' ORDER BY entity_type) FROM coditect.phone_numbers
                                                 WHERE phone_number LIKE '+1201555017_'$$),
          'project,team,tenant', 'a member reads the tenant''s, a team''s and a project''s numbers, not another user''s');
SELECT is(pg_temp.as_user('member2', 'member', $$SELECT string_agg(entity_type, ',' ORDER BY entity_type) FROM coditect.phone_numbers
                                                  WHERE phone_number LIKE '+1201555017_'$$),
          'project,team,tenant,user', 'the user''s own numbers are theirs to read');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_phone_numbers_list(%L) ->> 'count'$$,
              jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member2')))),
          '0', 'the API lists none of another user''s contacts');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_phone_numbers_get(%L)$$,
              (SELECT id FROM coditect.phone_numbers WHERE phone_number = '+12015550174'))),
             'CD404:%', 'nor gets one');
SELECT ok(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_phone_numbers_list(%L) ->> 'count'$$,
              jsonb_build_object('entity_type', 'user', 'entity_id', pg_temp.id('member'))))::int > 0,
          'a member lists their own');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT count(*)::text FROM %s WHERE entity_type = 'user'
                                                        AND entity_id <> current_setting('tap.user.member2')::uuid$$, t)),
          '0', t || ': a member reads no other user''s rows')
  FROM unnest(ARRAY['coditect.addresses', 'coditect.phone_numbers', 'coditect.email_addresses']) t;
SELECT ok(pg_temp.as_user(u, u, format($$SELECT count(*)::text FROM %s WHERE entity_type = 'user'
                                         AND entity_id <> current_setting('tap.user.%s')::uuid$$, t, u))::int > 0,
          t || ': the ' || u || ' reads other users'' rows')
  FROM unnest(ARRAY['coditect.addresses', 'coditect.phone_numbers', 'coditect.email_addresses']) t, unnest(ARRAY['owner', 'admin']) u;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM pg_policy WHERE polname = 'tenant_isolation_narrowed' AND polpermissive AND polcmd = 'r'
              AND polrelid IN ('coditect.addresses'::regclass, 'coditect.phone_numbers'::regclass, 'coditect.email_addresses'::regclass)),
          3, 'the read rule narrows the tenant policy for reads on each contact table');

------------------------------------------------------------------------------------------------
-- Billing addresses: the tenant's addresses of type billing (the seeds' BillingAddress), one
-- default per tenant, written by administrators, read by members; a phone in E.164
------------------------------------------------------------------------------------------------

SET ROLE tap62_gateway;
CREATE FUNCTION pg_temp.billing(p_user text, p_role text, p_extra jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_user(p_user, p_role, format($q$SELECT coditect.api_addresses_create(%L)::text$q$,
        jsonb_build_object('entity_type', 'tenant', 'entity_id', current_setting('tap.tenant'), 'address_type', 'billing',
                           'full_name', 'Ada Lovelace', 'company_name', 'T62 Ltd', 'address_line1', '1 Strand',
                           'city', 'London', 'postal_code', 'WC2N 5HR', 'country_code', 'GB') || p_extra))
$$;
SELECT is(pg_temp.billing('admin', 'admin', '{"phone": "020 7946 0958", "is_default": true}')::jsonb ->> 'phone', '+442079460958',
          'an administrator sets the tenant''s default billing address; its phone is stored in E.164, read in its country');
SELECT alike(pg_temp.billing('owner', 'owner', '{"is_default": true, "address_line1": "2 Strand"}'),
             '23505:%addresses_one_default%', 'one default billing address per tenant');
SELECT alike(pg_temp.billing('owner', 'owner', '{"address_type": "shipping", "is_default": true}'),
             '{%', 'a default shipping address besides it');
SELECT alike(pg_temp.billing('owner', 'owner', '{"address_line1": "3 Strand"}'), '{%', 'more billing addresses, not default');
SELECT is(pg_temp.billing('member', 'member', '{}'),
          'CD403: only administrators manage contacts other than their own user''s', 'members do not write the tenant''s billing addresses');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT coditect.api_addresses_list('{"entity_type": "tenant", "address_type": "billing", "is_default": true}') -> 'results' -> 0 ->> 'company_name'$$),
          'T62 Ltd', 'members read them');
SELECT alike(pg_temp.billing('admin', 'admin', '{"phone": "+1 201-555-0123"}'), 'CD422:%', 'a phone must be a number of the address''s country');
SELECT is(pg_temp.billing('admin', 'admin', '{"phone": "+1 201-555-0123", "country_code": "US", "state_code": "US-NJ", "postal_code": "07302"}')::jsonb ->> 'phone',
          '+12015550123', 'a US billing address, its phone in international form');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
