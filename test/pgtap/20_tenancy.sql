-- Tenancy schema (sql/20_tenancy.sql) against the seed spec (000: TENANT, USER, MEMBERSHIP, TEAM,
-- PROJECT; 002: firebase_uid): for tenants, users, memberships, teams, team_members, projects,
-- permissions and role_permissions every column's type, nullability and default, the keys,
-- indexes and foreign keys, and the behaviour of every constraint; then the timestamp trigger,
-- soft delete / restore / purge of projects, tenant purge, and the permission catalog and
-- functions. Runs as a superuser (RLS bypassed), everything rolled back.
BEGIN;
SELECT plan(500);

CREATE SCHEMA t20;
-- Ids of fixture rows by key.
CREATE TABLE t20.refs (k text PRIMARY KEY, id uuid NOT NULL);
CREATE FUNCTION t20.id(text) RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT id FROM t20.refs WHERE k = $1
$$;
CREATE FUNCTION t20.is_v7(uuid) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT $1::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
$$;
-- Moves a row's timestamps into the past, past the stamp_timestamps trigger (replica mode skips
-- it), so that "kept its old value" and "was set to now()" can be told apart in one transaction.
CREATE FUNCTION t20.backdate(t regclass, k uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL session_replication_role = replica;
    EXECUTE format('UPDATE %s SET created_at = %L, updated_at = %L WHERE id = $1',
                   t, '2001-01-01 00:00:00+00', '2001-01-01 00:00:00+00') USING k;
    SET LOCAL session_replication_role = origin;
END
$$;
-- UPDATE t SET <col> = '2000-01-01' WHERE id = k; returns the row's created_at and updated_at.
CREATE FUNCTION t20.forge(t regclass, k uuid, col text, OUT created_at timestamptz, OUT updated_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %s SET %I = %L WHERE id = $1 RETURNING created_at, updated_at',
                   t, col, '2000-01-01 00:00:00+00') USING k INTO created_at, updated_at;
END
$$;

-- Fixtures: tenants A and B, each with its owner and the owner's membership.
INSERT INTO t20.refs
SELECT v.k || '_' || e.key, e.value::uuid
  FROM (VALUES ('a', coditect.create_tenant('Tenant 20 A', 't20-a', 'a@t20-a.test', 'owner@t20-a.test', 'fb-t20-a')),
               ('b', coditect.create_tenant('Tenant 20 B', 't20-b', 'b@t20-b.test', 'owner@t20-b.test'))) v(k, j),
       jsonb_each_text(v.j) e;

------------------------------------------------------------------------------------------------
-- Structure: columns, types, NOT NULL, defaults
------------------------------------------------------------------------------------------------

CREATE TABLE t20.cols (ord serial, tbl name, col name, typ text, not_null boolean, def text);
INSERT INTO t20.cols (tbl, col, typ, not_null, def) VALUES
    ('tenants', 'id',                     'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('tenants', 'name',                   'character varying(255)',   true,  NULL),
    ('tenants', 'slug',                   'coditect.slug',            true,  NULL),
    ('tenants', 'email',                  'coditect.email',           true,  NULL),
    ('tenants', 'license_tier',           'coditect.tenant_tier',     true,  'trial'),
    ('tenants', 'seats_total',            'integer',                  true,  '1'),
    ('tenants', 'is_active',              'boolean',                  true,  'true'),
    ('tenants', 'stripe_customer_id',     'character varying(255)',   false, NULL),
    ('tenants', 'stripe_subscription_id', 'character varying(255)',   false, NULL),
    ('tenants', 'billing_email',          'coditect.email',           false, NULL),
    ('tenants', 'tax_id',                 'character varying(100)',   false, NULL),
    ('tenants', 'phone_number',           'character varying(50)',    false, NULL),
    ('tenants', 'website',                'coditect.url',             false, NULL),
    ('tenants', 'industry',               'character varying(100)',   false, NULL),
    ('tenants', 'company_size',           'coditect.company_size',    false, NULL),
    ('tenants', 'created_at',             'timestamp with time zone', true,  'now()'),
    ('tenants', 'updated_at',             'timestamp with time zone', true,  'now()'),
    -- The cap on a document share's life (sql/44_document_shares.sql).
    ('tenants', 'share_max_days',         'integer',                  true,  '30'),

    ('users', 'tenant_id',                'uuid',                     true,  NULL),
    ('users', 'id',                       'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('users', 'email',                    'coditect.email',           true,  NULL),
    -- 002: firebase_uid = CharField(max_length=255, unique=True, null=True) / VARCHAR(255).
    ('users', 'firebase_uid',             'character varying(255)',   false, NULL),
    ('users', 'first_name',               'character varying(150)',   true,  ''),
    ('users', 'last_name',                'character varying(150)',   true,  ''),
    ('users', 'role',                     'coditect.member_role',     true,  'member'),
    ('users', 'oauth_provider',           'character varying(50)',    false, NULL),
    ('users', 'oauth_sub',                'character varying(255)',   false, NULL),
    ('users', 'phone_number',             'character varying(50)',    false, NULL),
    ('users', 'avatar_url',               'coditect.url',             false, NULL),
    ('users', 'timezone',                 'character varying(50)',    true,  'UTC'),
    ('users', 'language',                 'character varying(10)',    true,  'en'),
    ('users', 'notification_preferences', 'coditect.json_object',     true,  '{}'),
    ('users', 'is_active',                'boolean',                  true,  'true'),
    ('users', 'last_login',               'timestamp with time zone', false, NULL),
    ('users', 'created_at',               'timestamp with time zone', true,  'now()'),
    ('users', 'updated_at',               'timestamp with time zone', true,  'now()'),

    ('memberships', 'tenant_id',          'uuid',                     true,  NULL),
    ('memberships', 'id',                 'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('memberships', 'user_id',            'uuid',                     true,  NULL),
    ('memberships', 'role',               'coditect.member_role',     true,  'member'),
    ('memberships', 'joined_at',          'timestamp with time zone', true,  'now()'),
    ('memberships', 'revoked_at',         'timestamp with time zone', false, NULL),
    ('memberships', 'created_at',         'timestamp with time zone', true,  'now()'),
    ('memberships', 'updated_at',         'timestamp with time zone', true,  'now()'),

    ('teams', 'tenant_id',                'uuid',                     true,  NULL),
    ('teams', 'id',                       'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('teams', 'name',                     'character varying(255)',   true,  NULL),
    ('teams', 'description',              'text',                     true,  ''),
    ('teams', 'created_at',               'timestamp with time zone', true,  'now()'),
    ('teams', 'updated_at',               'timestamp with time zone', true,  'now()'),

    ('team_members', 'tenant_id',         'uuid',                     true,  NULL),
    ('team_members', 'id',                'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('team_members', 'team_id',           'uuid',                     true,  NULL),
    ('team_members', 'user_id',           'uuid',                     true,  NULL),
    ('team_members', 'role',              'coditect.team_role',       true,  'member'),
    ('team_members', 'created_at',        'timestamp with time zone', true,  'now()'),
    ('team_members', 'updated_at',        'timestamp with time zone', true,  'now()'),

    ('projects', 'tenant_id',             'uuid',                     true,  NULL),
    ('projects', 'id',                    'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('projects', 'name',                  'character varying(255)',   true,  NULL),
    ('projects', 'description',           'text',                     true,  ''),
    ('projects', 'metadata',              'coditect.json_object',     true,  '{}'),
    ('projects', 'created_at',            'timestamp with time zone', true,  'now()'),
    ('projects', 'updated_at',            'timestamp with time zone', true,  'now()'),
    ('projects', 'deleted_at',            'timestamp with time zone', false, NULL),
    ('projects', 'key',                   'character varying(10)',    false, NULL),

    ('permissions', 'id',                 'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('permissions', 'codename',           'character varying(100)',   true,  NULL),
    ('permissions', 'name',               'character varying(255)',   true,  NULL),
    ('permissions', 'description',        'text',                     true,  ''),
    ('permissions', 'created_at',         'timestamp with time zone', true,  'now()'),
    ('permissions', 'updated_at',         'timestamp with time zone', true,  'now()'),

    ('role_permissions', 'role',          'coditect.member_role',     true,  NULL),
    ('role_permissions', 'permission_id', 'uuid',                     true,  NULL),
    ('role_permissions', 'created_at',    'timestamp with time zone', true,  'now()');

-- 8 tables
SELECT has_table('coditect'::name, t, 'table coditect.' || t || ' exists')
  FROM (SELECT DISTINCT tbl AS t FROM t20.cols) s ORDER BY t;
-- 8 tables: exactly these columns, no more, no fewer
SELECT columns_are('coditect'::name, tbl, array_agg(col ORDER BY ord), tbl || ' has exactly the specified columns')
  FROM t20.cols GROUP BY tbl ORDER BY tbl;
-- 73 columns x 3
SELECT col_type_is('coditect'::name, tbl, col, typ, format('%s.%s is %s', tbl, col, typ))
  FROM t20.cols ORDER BY ord;
SELECT CASE WHEN not_null THEN col_not_null('coditect'::name, tbl, col, format('%s.%s is NOT NULL', tbl, col))
            ELSE col_is_null('coditect'::name, tbl, col, format('%s.%s is nullable', tbl, col)) END
  FROM t20.cols ORDER BY ord;
SELECT CASE WHEN def IS NULL THEN col_hasnt_default('coditect'::name, tbl, col, format('%s.%s has no default', tbl, col))
            ELSE col_default_is('coditect'::name, tbl, col, def, format('%s.%s defaults to %s', tbl, col, def)) END
  FROM t20.cols ORDER BY ord;

------------------------------------------------------------------------------------------------
-- Keys, unique constraints, indexes, foreign keys
------------------------------------------------------------------------------------------------

SELECT col_is_pk('coditect', 'tenants', 'id', 'tenants: primary key (id)');
SELECT col_is_pk('coditect', 'users', ARRAY['tenant_id', 'id'], 'users: primary key (tenant_id, id)');
SELECT col_is_pk('coditect', 'memberships', ARRAY['tenant_id', 'id'], 'memberships: primary key (tenant_id, id)');
SELECT col_is_pk('coditect', 'teams', ARRAY['tenant_id', 'id'], 'teams: primary key (tenant_id, id)');
SELECT col_is_pk('coditect', 'team_members', ARRAY['tenant_id', 'id'], 'team_members: primary key (tenant_id, id)');
SELECT col_is_pk('coditect', 'projects', ARRAY['tenant_id', 'id'], 'projects: primary key (tenant_id, id)');
SELECT col_is_pk('coditect', 'permissions', 'id', 'permissions: primary key (id)');
SELECT col_is_pk('coditect', 'role_permissions', ARRAY['role', 'permission_id'],
                 'role_permissions: primary key (role, permission_id)');

-- Global uniqueness lives in coditect_internal.global_keys, claimed by one trigger per column.
SELECT alike((SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t
               WHERE t.tgrelid = ('coditect.' || v.tbl)::regclass AND t.tgname = 'global_key_' || v.col),
             'CREATE TRIGGER global_key_' || v.col || ' AFTER INSERT OR DELETE OR UPDATE OF % ON coditect.' || v.tbl
             || ' FOR EACH ROW EXECUTE FUNCTION coditect_internal.sync_global_key(''' || v.col || ''', '''
             || v.cons || ''', ''' || v.tcol || ''')',
             format('%s.%s is unique across tenants (global_keys)', v.tbl, v.col))
  FROM (VALUES ('tenants', 'slug', 'tenants_slug_key', 'id'),
               ('tenants', 'stripe_customer_id', 'tenants_stripe_customer_key', 'id'),
               ('tenants', 'stripe_subscription_id', 'tenants_stripe_subscription_key', 'id'),
               ('users', 'firebase_uid', 'users_firebase_uid_key', 'tenant_id')) v(tbl, col, cons, tcol)
 ORDER BY v.tbl, v.col;
SELECT col_is_unique('coditect', 'memberships', ARRAY['tenant_id', 'user_id'], 'memberships: (tenant_id, user_id) is unique');
SELECT col_is_unique('coditect', 'teams', ARRAY['tenant_id', 'name'], 'teams: (tenant_id, name) is unique');
SELECT col_is_unique('coditect', 'team_members', ARRAY['tenant_id', 'team_id', 'user_id'],
                     'team_members: (tenant_id, team_id, user_id) is unique');
SELECT col_is_unique('coditect', 'permissions', ARRAY['codename'], 'permissions: codename is unique');

-- Unique constraints by name.
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = ('coditect.' || t)::regclass AND conname = c AND contype = 'u'),
          format('%s: unique constraint %s', t, c))
  FROM (VALUES ('memberships', 'memberships_tenant_user_key'), ('teams', 'teams_tenant_name_key'),
               ('team_members', 'team_members_team_user_key'), ('permissions', 'permissions_codename_key')) v(t, c)
 ORDER BY c;

-- Indexes by name, and each one's full definition (columns, uniqueness, predicate).
CREATE TABLE t20.idx (tbl name, idx name, def text);
INSERT INTO t20.idx VALUES
    ('users', 'users_tenant_email_key',
     'CREATE UNIQUE INDEX users_tenant_email_key ON coditect.users USING btree (tenant_id, lower((email)::text))'),
    ('users', 'users_oauth_idx',
     'CREATE INDEX users_oauth_idx ON coditect.users USING btree (tenant_id, oauth_provider, oauth_sub)'),
    ('users', 'users_role_idx',
     'CREATE INDEX users_role_idx ON coditect.users USING btree (tenant_id, role)'),
    ('memberships', 'memberships_tenant_user_key',
     'CREATE UNIQUE INDEX memberships_tenant_user_key ON coditect.memberships USING btree (tenant_id, user_id)'),
    ('teams', 'teams_tenant_name_key',
     'CREATE UNIQUE INDEX teams_tenant_name_key ON coditect.teams USING btree (tenant_id, name)'),
    ('team_members', 'team_members_team_user_key',
     'CREATE UNIQUE INDEX team_members_team_user_key ON coditect.team_members USING btree (tenant_id, team_id, user_id)'),
    ('projects', 'projects_tenant_name_key',
     'CREATE UNIQUE INDEX projects_tenant_name_key ON coditect.projects USING btree (tenant_id, name) WHERE (deleted_at IS NULL)'),
    ('projects', 'projects_tenant_created_idx',
     'CREATE INDEX projects_tenant_created_idx ON coditect.projects USING btree (tenant_id, created_at DESC, id DESC) WHERE (deleted_at IS NULL)'),
    ('permissions', 'permissions_codename_key',
     'CREATE UNIQUE INDEX permissions_codename_key ON coditect.permissions USING btree (codename)');
SELECT has_index('coditect'::name, tbl, idx, format('%s: index %s', tbl, idx)::text) FROM t20.idx ORDER BY idx;
SELECT is((SELECT indexdef FROM pg_indexes WHERE schemaname = 'coditect' AND indexname = idx), def,
          format('%s: %s is defined as specified', tbl, idx))
  FROM t20.idx ORDER BY idx;
SELECT is((SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i
            WHERE i.indexrelid = ('coditect.' || n)::regclass),
          '(deleted_at IS NULL)', n || ' is partial on deleted_at IS NULL')
  FROM unnest(ARRAY['projects_tenant_name_key', 'projects_tenant_created_idx']) n ORDER BY n;

SELECT fk_ok('coditect', 'users', 'tenant_id', 'coditect', 'tenants', 'id', 'users.tenant_id references tenants');
SELECT fk_ok('coditect', 'memberships', 'tenant_id', 'coditect', 'tenants', 'id', 'memberships.tenant_id references tenants');
SELECT fk_ok('coditect', 'memberships', ARRAY['tenant_id', 'user_id'], 'coditect', 'users', ARRAY['tenant_id', 'id'],
             'memberships (tenant_id, user_id) references users (tenant_id, id)');
SELECT fk_ok('coditect', 'teams', 'tenant_id', 'coditect', 'tenants', 'id', 'teams.tenant_id references tenants');
SELECT fk_ok('coditect', 'team_members', 'tenant_id', 'coditect', 'tenants', 'id', 'team_members.tenant_id references tenants');
SELECT fk_ok('coditect', 'team_members', ARRAY['tenant_id', 'team_id'], 'coditect', 'teams', ARRAY['tenant_id', 'id'],
             'team_members (tenant_id, team_id) references teams (tenant_id, id)');
SELECT fk_ok('coditect', 'team_members', ARRAY['tenant_id', 'user_id'], 'coditect', 'users', ARRAY['tenant_id', 'id'],
             'team_members (tenant_id, user_id) references users (tenant_id, id)');
SELECT fk_ok('coditect', 'projects', 'tenant_id', 'coditect', 'tenants', 'id', 'projects.tenant_id references tenants');
SELECT fk_ok('coditect', 'role_permissions', 'permission_id', 'coditect', 'permissions', 'id',
             'role_permissions.permission_id references permissions');
SELECT is((SELECT count(*)::int FROM pg_constraint
            WHERE contype = 'f' AND conrelid IN ('coditect.tenants'::regclass, 'coditect.users'::regclass,
                  'coditect.memberships'::regclass, 'coditect.teams'::regclass, 'coditect.team_members'::regclass,
                  'coditect.projects'::regclass, 'coditect.permissions'::regclass,
                  'coditect.role_permissions'::regclass)),
          9, 'the eight tables have exactly these nine foreign keys');
SELECT is((SELECT array_agg(conname::text ORDER BY conname) FROM pg_constraint
            WHERE contype = 'f' AND confdeltype <> 'c'
              AND conrelid IN ('coditect.users'::regclass, 'coditect.memberships'::regclass, 'coditect.teams'::regclass,
                               'coditect.team_members'::regclass, 'coditect.projects'::regclass,
                               'coditect.role_permissions'::regclass)),
          NULL, 'every one of them is ON DELETE CASCADE');

------------------------------------------------------------------------------------------------
-- tenants
------------------------------------------------------------------------------------------------

SELECT ok((SELECT count(*) = 3 FROM t20.refs WHERE k LIKE 'a\_%')
          AND t20.id('a_tenant_id') IS NOT NULL AND t20.id('a_user_id') IS NOT NULL
          AND t20.id('a_membership_id') IS NOT NULL,
          'create_tenant returns tenant_id, user_id and membership_id');
SELECT is((SELECT role::text FROM coditect.users WHERE tenant_id = t20.id('a_tenant_id') AND id = t20.id('a_user_id')),
          'owner', 'create_tenant: the owner user has role owner');
SELECT is((SELECT firebase_uid::text FROM coditect.users WHERE id = t20.id('a_user_id')),
          'fb-t20-a', 'create_tenant: the owner user has the given firebase_uid');
SELECT is((SELECT role::text || '/' || user_id::text FROM coditect.memberships
            WHERE tenant_id = t20.id('a_tenant_id') AND id = t20.id('a_membership_id')),
          'owner/' || t20.id('a_user_id'), 'create_tenant: the owner''s membership has role owner');

SELECT lives_ok($$WITH r AS (INSERT INTO coditect.tenants (name, slug, email)
                             VALUES ('Defaults 20', 't20-defaults', 'defaults@t20.test') RETURNING id)
                  INSERT INTO t20.refs SELECT 'tenant_defaults', id FROM r$$,
                'tenants: a row with only name, slug and email');
CREATE TABLE t20.tenant_defaults AS SELECT * FROM coditect.tenants WHERE id = t20.id('tenant_defaults');
SELECT is((SELECT license_tier::text FROM t20.tenant_defaults), 'trial', 'tenants: license_tier defaults to trial');
SELECT is((SELECT seats_total FROM t20.tenant_defaults), 1, 'tenants: seats_total defaults to 1');
SELECT is((SELECT is_active FROM t20.tenant_defaults), true, 'tenants: is_active defaults to true');
SELECT ok((SELECT num_nulls(stripe_customer_id, stripe_subscription_id, billing_email, tax_id, phone_number,
                            website, industry, company_size) = 8 FROM t20.tenant_defaults),
          'tenants: the optional columns default to NULL');
SELECT ok(t20.is_v7((SELECT id FROM t20.tenant_defaults)), 'tenants: id is a UUIDv7');
SELECT is((SELECT created_at FROM t20.tenant_defaults), now(), 'tenants: created_at is set on insert');
SELECT is((SELECT updated_at FROM t20.tenant_defaults), now(), 'tenants: updated_at is set on insert');

SELECT throws_ok($$INSERT INTO coditect.tenants (name, slug, email) VALUES ('', 't20-blank', 'x@t20.test')$$,
                 '23514', NULL, 'tenants: an empty name is rejected');
SELECT throws_ok($$INSERT INTO coditect.tenants (name, slug, email) VALUES ('   ', 't20-blank', 'x@t20.test')$$,
                 '23514', NULL, 'tenants: a blank name is rejected');
SELECT throws_ok($$INSERT INTO coditect.tenants (name, slug, email) VALUES (NULL, 't20-null', 'x@t20.test')$$,
                 '23502', NULL, 'tenants: a NULL name is rejected');
SELECT throws_ok($$INSERT INTO coditect.tenants (name, slug, email) VALUES ('X', 'T20 Bad Slug', 'x@t20.test')$$,
                 '23514', NULL, 'tenants: a slug with spaces and capitals is rejected');
SELECT throws_ok($$INSERT INTO coditect.tenants (name, slug, email) VALUES ('X', 't20--double', 'x@t20.test')$$,
                 '23514', NULL, 'tenants: a slug with an empty segment is rejected');
SELECT throws_ok($$INSERT INTO coditect.tenants (name, slug, email) VALUES ('X', 't20-bad-email', 'not-an-email')$$,
                 '23514', NULL, 'tenants: a malformed email is rejected');
SELECT throws_ok($$UPDATE coditect.tenants SET billing_email = 'billing@' WHERE id = t20.id('a_tenant_id')$$,
                 '23514', NULL, 'tenants: a malformed billing_email is rejected');
SELECT throws_ok($$UPDATE coditect.tenants SET website = 'ftp://t20.test' WHERE id = t20.id('a_tenant_id')$$,
                 '23514', NULL, 'tenants: a non-http(s) website is rejected');
SELECT lives_ok($$UPDATE coditect.tenants SET website = 'https://t20.test/about', billing_email = 'billing@t20-a.test'
                   WHERE id = t20.id('a_tenant_id')$$,
                'tenants: an https website and a valid billing_email are accepted');
SELECT throws_ok($$UPDATE coditect.tenants SET license_tier = 'gold' WHERE id = t20.id('a_tenant_id')$$,
                 '22P02', NULL, 'tenants: an unknown license_tier is rejected');
SELECT lives_ok($$INSERT INTO coditect.tenants (name, slug, email, license_tier)
                  SELECT 'Tier ' || t, 't20-tier-' || t, 'tier@t20.test', t::coditect.tenant_tier
                    FROM unnest(ARRAY['trial', 'starter', 'professional', 'enterprise']) t$$,
                'tenants: the four license tiers are accepted');
SELECT throws_ok($$UPDATE coditect.tenants SET company_size = 'huge' WHERE id = t20.id('a_tenant_id')$$,
                 '22P02', NULL, 'tenants: an unknown company_size is rejected');
SELECT lives_ok($$INSERT INTO coditect.tenants (name, slug, email, company_size)
                  SELECT 'Size ' || s, 't20-size-' || s, 'size@t20.test', s::coditect.company_size
                    FROM unnest(ARRAY['small', 'medium', 'large', 'enterprise']) s$$,
                'tenants: the four company sizes are accepted');
SELECT throws_ok($$UPDATE coditect.tenants SET seats_total = -1 WHERE id = t20.id('a_tenant_id')$$,
                 '23514', NULL, 'tenants: a negative seats_total is rejected');
SELECT lives_ok($$UPDATE coditect.tenants SET seats_total = 0 WHERE id = t20.id('tenant_defaults')$$,
                'tenants: seats_total 0 is accepted (a positive integer field)');
SELECT throws_ok($$INSERT INTO coditect.tenants (name, slug, email) VALUES ('Again', 't20-a', 'again@t20.test')$$,
                 '23505', NULL, 'tenants: a duplicate slug is rejected');
SELECT lives_ok($$UPDATE coditect.tenants SET stripe_customer_id = 'cus_t20', stripe_subscription_id = 'sub_t20'
                   WHERE id = t20.id('a_tenant_id')$$,
                'tenants: stripe ids can be set');
SELECT throws_ok($$UPDATE coditect.tenants SET stripe_customer_id = 'cus_t20' WHERE id = t20.id('b_tenant_id')$$,
                 '23505', NULL, 'tenants: a stripe_customer_id is unique');
SELECT throws_ok($$UPDATE coditect.tenants SET stripe_subscription_id = 'sub_t20' WHERE id = t20.id('b_tenant_id')$$,
                 '23505', NULL, 'tenants: a stripe_subscription_id is unique');

------------------------------------------------------------------------------------------------
-- users
------------------------------------------------------------------------------------------------

SELECT lives_ok($$WITH r AS (INSERT INTO coditect.users (tenant_id, email)
                             VALUES (t20.id('a_tenant_id'), 'plain@t20-a.test') RETURNING id)
                  INSERT INTO t20.refs SELECT 'user_plain', id FROM r$$,
                'users: a row with only tenant_id and email');
CREATE TABLE t20.user_defaults AS SELECT * FROM coditect.users WHERE id = t20.id('user_plain');
SELECT is((SELECT role::text FROM t20.user_defaults), 'member', 'users: role defaults to member');
SELECT is((SELECT timezone::text FROM t20.user_defaults), 'UTC', 'users: timezone defaults to UTC');
SELECT is((SELECT language::text FROM t20.user_defaults), 'en', 'users: language defaults to en');
SELECT is((SELECT notification_preferences::jsonb FROM t20.user_defaults), '{}'::jsonb,
          'users: notification_preferences defaults to {}');
SELECT is((SELECT is_active FROM t20.user_defaults), true, 'users: is_active defaults to true');
SELECT is((SELECT first_name::text || '|' || last_name::text FROM t20.user_defaults), '|',
          'users: first_name and last_name default to empty');
SELECT ok((SELECT num_nulls(firebase_uid, oauth_provider, oauth_sub, phone_number, avatar_url, last_login) = 6
             FROM t20.user_defaults),
          'users: the optional columns default to NULL');
SELECT ok(t20.is_v7((SELECT id FROM t20.user_defaults)), 'users: id is a UUIDv7');
SELECT is((SELECT created_at FROM t20.user_defaults), now(), 'users: created_at is set on insert');
SELECT is((SELECT updated_at FROM t20.user_defaults), now(), 'users: updated_at is set on insert');

SELECT lives_ok($$INSERT INTO coditect.users (tenant_id, email) VALUES (t20.id('a_tenant_id'), 'A@x.test')$$,
                'users: A@x.test in tenant A');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email) VALUES (t20.id('a_tenant_id'), 'a@x.test')$$,
                 '23505', NULL, 'users: a@x.test in the same tenant is a duplicate (case-insensitive)');
SELECT lives_ok($$INSERT INTO coditect.users (tenant_id, email) VALUES (t20.id('b_tenant_id'), 'a@x.test')$$,
                'users: a@x.test in another tenant is fine');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email, firebase_uid)
                   VALUES (t20.id('b_tenant_id'), 'fb@t20-b.test', 'fb-t20-a')$$,
                 '23505', NULL, 'users: firebase_uid is unique across tenants');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email) VALUES (t20.id('a_tenant_id'), 'not-an-email')$$,
                 '23514', NULL, 'users: a malformed email is rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email) VALUES (t20.id('a_tenant_id'), NULL)$$,
                 '23502', NULL, 'users: a NULL email is rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email) VALUES (coditect.uuid_generate_v7(), 'x@t20.test')$$,
                 '23503', NULL, 'users: an unknown tenant is rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email, role) VALUES (t20.id('a_tenant_id'), 'r@t20-a.test', 'root')$$,
                 '22P02', NULL, 'users: an unknown role is rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email, oauth_provider)
                   VALUES (t20.id('a_tenant_id'), 'o1@t20-a.test', 'google')$$,
                 '23514', NULL, 'users: oauth_provider without oauth_sub is rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email, oauth_sub)
                   VALUES (t20.id('a_tenant_id'), 'o2@t20-a.test', 'sub-1')$$,
                 '23514', NULL, 'users: oauth_sub without oauth_provider is rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email, oauth_provider, oauth_sub)
                   VALUES (t20.id('a_tenant_id'), 'o3@t20-a.test', 'Google', 'sub-1')$$,
                 '23514', NULL, 'users: a malformed oauth_provider is rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email, timezone)
                   VALUES (t20.id('a_tenant_id'), 'tz@t20-a.test', 'Mars/Olympus')$$,
                 '23514', NULL, 'users: an invalid timezone is rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email, language)
                   VALUES (t20.id('a_tenant_id'), 'lang@t20-a.test', 'english')$$,
                 '23514', NULL, 'users: an invalid language is rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email, notification_preferences)
                   VALUES (t20.id('a_tenant_id'), 'np@t20-a.test', '["email"]')$$,
                 '23514', NULL, 'users: notification_preferences that are not an object are rejected');
SELECT throws_ok($$INSERT INTO coditect.users (tenant_id, email, avatar_url)
                   VALUES (t20.id('a_tenant_id'), 'av@t20-a.test', 'not a url')$$,
                 '23514', NULL, 'users: a malformed avatar_url is rejected');
SELECT lives_ok($$WITH r AS (
                    INSERT INTO coditect.users (tenant_id, email, firebase_uid, first_name, last_name, role,
                                                oauth_provider, oauth_sub, avatar_url, timezone, language,
                                                notification_preferences)
                    VALUES (t20.id('a_tenant_id'), 'full@t20-a.test', 'fb-t20-full', 'Ada', 'Lovelace', 'guest',
                            'google', 'sub-1', 'https://t20.test/ada.png', 'Europe/Berlin', 'pt-BR',
                            '{"email": true}') RETURNING id)
                  INSERT INTO t20.refs SELECT 'user_full', id FROM r$$,
                'users: a fully specified valid row is accepted');

------------------------------------------------------------------------------------------------
-- memberships
------------------------------------------------------------------------------------------------

SELECT lives_ok($$WITH r AS (INSERT INTO coditect.memberships (tenant_id, user_id)
                             VALUES (t20.id('a_tenant_id'), t20.id('user_plain')) RETURNING id)
                  INSERT INTO t20.refs SELECT 'membership_plain', id FROM r$$,
                'memberships: a row with only tenant_id and user_id');
CREATE TABLE t20.membership_defaults AS SELECT * FROM coditect.memberships WHERE id = t20.id('membership_plain');
SELECT is((SELECT role::text FROM t20.membership_defaults), 'member', 'memberships: role defaults to member');
SELECT is((SELECT joined_at FROM t20.membership_defaults), now(), 'memberships: joined_at defaults to now()');
SELECT is((SELECT revoked_at FROM t20.membership_defaults), NULL, 'memberships: revoked_at defaults to NULL');
SELECT ok(t20.is_v7((SELECT id FROM t20.membership_defaults)), 'memberships: id is a UUIDv7');
SELECT is((SELECT created_at FROM t20.membership_defaults), now(), 'memberships: created_at is set on insert');
SELECT is((SELECT updated_at FROM t20.membership_defaults), now(), 'memberships: updated_at is set on insert');

SELECT throws_ok($$INSERT INTO coditect.memberships (tenant_id, user_id) VALUES (t20.id('a_tenant_id'), t20.id('user_plain'))$$,
                 '23505', NULL, 'memberships: a second membership of the same user is rejected');
SELECT throws_ok($$INSERT INTO coditect.memberships (tenant_id, user_id, role)
                   VALUES (t20.id('a_tenant_id'), t20.id('user_full'), 'root')$$,
                 '22P02', NULL, 'memberships: an unknown role is rejected');
SELECT throws_ok($$INSERT INTO coditect.memberships (tenant_id, user_id) VALUES (t20.id('a_tenant_id'), t20.id('b_user_id'))$$,
                 '23503', NULL, 'memberships: a user of another tenant is rejected');
SELECT throws_ok($$UPDATE coditect.memberships SET revoked_at = joined_at - interval '1 second'
                    WHERE id = t20.id('membership_plain')$$,
                 '23514', NULL, 'memberships: revoked_at before joined_at is rejected');
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'admin')$$,
                        t20.id('a_tenant_id'), t20.id('user_plain')),
                 'CD403', NULL, 'memberships: a context role above the membership role is refused');
SELECT lives_ok($$UPDATE coditect.memberships SET revoked_at = joined_at WHERE id = t20.id('membership_plain')$$,
                'memberships: revoked_at equal to joined_at is accepted');
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'guest')$$,
                        t20.id('a_tenant_id'), t20.id('user_plain')),
                 'CD403', NULL, 'memberships: a revoked membership gives no context');

------------------------------------------------------------------------------------------------
-- teams and team_members
------------------------------------------------------------------------------------------------

SELECT lives_ok($$WITH r AS (INSERT INTO coditect.teams (tenant_id, name) VALUES (t20.id('a_tenant_id'), 'Team 20') RETURNING id)
                  INSERT INTO t20.refs SELECT 'team', id FROM r$$,
                'teams: a row with only tenant_id and name');
SELECT is((SELECT description FROM coditect.teams WHERE id = t20.id('team')), '', 'teams: description defaults to empty');
SELECT ok(t20.is_v7(t20.id('team')), 'teams: id is a UUIDv7');
SELECT is((SELECT created_at FROM coditect.teams WHERE id = t20.id('team')), now(), 'teams: created_at is set on insert');
SELECT is((SELECT updated_at FROM coditect.teams WHERE id = t20.id('team')), now(), 'teams: updated_at is set on insert');
SELECT throws_ok($$INSERT INTO coditect.teams (tenant_id, name) VALUES (t20.id('a_tenant_id'), '')$$,
                 '23514', NULL, 'teams: an empty name is rejected');
SELECT throws_ok($$INSERT INTO coditect.teams (tenant_id, name) VALUES (t20.id('a_tenant_id'), '   ')$$,
                 '23514', NULL, 'teams: a blank name is rejected');
SELECT throws_ok($$INSERT INTO coditect.teams (tenant_id, name) VALUES (t20.id('a_tenant_id'), 'Team 20')$$,
                 '23505', NULL, 'teams: a duplicate name in the tenant is rejected');
SELECT lives_ok($$WITH r AS (INSERT INTO coditect.teams (tenant_id, name) VALUES (t20.id('b_tenant_id'), 'Team 20') RETURNING id)
                  INSERT INTO t20.refs SELECT 'team_b', id FROM r$$,
                'teams: the same name in another tenant is fine');

SELECT lives_ok($$WITH r AS (INSERT INTO coditect.team_members (tenant_id, team_id, user_id)
                             VALUES (t20.id('a_tenant_id'), t20.id('team'), t20.id('a_user_id')) RETURNING id)
                  INSERT INTO t20.refs SELECT 'team_member', id FROM r$$,
                'team_members: a row with only tenant, team and user');
SELECT is((SELECT role::text FROM coditect.team_members WHERE id = t20.id('team_member')), 'member',
          'team_members: role defaults to member');
SELECT ok(t20.is_v7(t20.id('team_member')), 'team_members: id is a UUIDv7');
SELECT is((SELECT created_at FROM coditect.team_members WHERE id = t20.id('team_member')), now(),
          'team_members: created_at is set on insert');
SELECT is((SELECT updated_at FROM coditect.team_members WHERE id = t20.id('team_member')), now(),
          'team_members: updated_at is set on insert');
SELECT throws_ok($$INSERT INTO coditect.team_members (tenant_id, team_id, user_id)
                   VALUES (t20.id('a_tenant_id'), t20.id('team'), t20.id('a_user_id'))$$,
                 '23505', NULL, 'team_members: a duplicate member is rejected');
SELECT throws_ok($$INSERT INTO coditect.team_members (tenant_id, team_id, user_id, role)
                   VALUES (t20.id('a_tenant_id'), t20.id('team'), t20.id('user_plain'), 'owner')$$,
                 '22P02', NULL, 'team_members: a role other than lead/member is rejected');
SELECT lives_ok($$INSERT INTO coditect.team_members (tenant_id, team_id, user_id, role)
                  VALUES (t20.id('a_tenant_id'), t20.id('team'), t20.id('user_plain'), 'lead')$$,
                'team_members: role lead is accepted');
SELECT throws_ok($$INSERT INTO coditect.team_members (tenant_id, team_id, user_id)
                   VALUES (t20.id('a_tenant_id'), t20.id('team_b'), t20.id('user_full'))$$,
                 '23503', NULL, 'team_members: a team of another tenant is rejected');

-- Cascades: a team takes its members with it; a user takes its memberships and team seats.
SELECT lives_ok($$DELETE FROM coditect.teams WHERE id = t20.id('team_b')$$, 'teams: a team can be deleted');
SELECT lives_ok($$INSERT INTO coditect.team_members (tenant_id, team_id, user_id)
                  VALUES (t20.id('a_tenant_id'), t20.id('team'), t20.id('user_full'))$$,
                'team_members: another member');
SELECT lives_ok($$INSERT INTO coditect.memberships (tenant_id, user_id) VALUES (t20.id('a_tenant_id'), t20.id('user_full'))$$,
                'memberships: another membership');
SELECT lives_ok($$DELETE FROM coditect.users WHERE id = t20.id('user_full')$$, 'users: a user can be deleted');
SELECT is((SELECT count(*)::int FROM coditect.memberships WHERE user_id = t20.id('user_full'))
          + (SELECT count(*)::int FROM coditect.team_members WHERE user_id = t20.id('user_full')),
          0, 'deleting a user deletes its memberships and team memberships');

------------------------------------------------------------------------------------------------
-- projects: defaults, constraints, unique names among live rows
------------------------------------------------------------------------------------------------

SELECT lives_ok($$WITH r AS (INSERT INTO coditect.projects (tenant_id, name) VALUES (t20.id('a_tenant_id'), 'Defaults 20') RETURNING id)
                  INSERT INTO t20.refs SELECT 'project_defaults', id FROM r$$,
                'projects: a row with only tenant_id and name');
CREATE TABLE t20.project_defaults AS SELECT * FROM coditect.projects WHERE id = t20.id('project_defaults');
SELECT is((SELECT description FROM t20.project_defaults), '', 'projects: description defaults to empty');
SELECT is((SELECT metadata::jsonb FROM t20.project_defaults), '{}'::jsonb, 'projects: metadata defaults to {}');
SELECT is((SELECT deleted_at FROM t20.project_defaults), NULL, 'projects: deleted_at defaults to NULL');
SELECT ok(t20.is_v7((SELECT id FROM t20.project_defaults)), 'projects: id is a UUIDv7');
SELECT is((SELECT created_at FROM t20.project_defaults), now(), 'projects: created_at is set on insert');
SELECT is((SELECT updated_at FROM t20.project_defaults), now(), 'projects: updated_at is set on insert');

SELECT throws_ok($$INSERT INTO coditect.projects (tenant_id, name) VALUES (t20.id('a_tenant_id'), '')$$,
                 '23514', NULL, 'projects: an empty name is rejected');
SELECT throws_ok($$INSERT INTO coditect.projects (tenant_id, name) VALUES (t20.id('a_tenant_id'), '  ')$$,
                 '23514', NULL, 'projects: a blank name is rejected');
SELECT throws_ok($$INSERT INTO coditect.projects (tenant_id, name, metadata) VALUES (t20.id('a_tenant_id'), 'M', '[1, 2]')$$,
                 '23514', NULL, 'projects: metadata that is an array is rejected');
SELECT throws_ok($$INSERT INTO coditect.projects (tenant_id, name, metadata) VALUES (t20.id('a_tenant_id'), 'M', '"text"')$$,
                 '23514', NULL, 'projects: metadata that is a string is rejected');
SELECT lives_ok($$INSERT INTO coditect.projects (tenant_id, name, metadata) VALUES (t20.id('a_tenant_id'), 'M', '{"k": [1]}')$$,
                'projects: metadata that is an object is accepted');
SELECT throws_ok($$INSERT INTO coditect.projects (tenant_id, name) VALUES (coditect.uuid_generate_v7(), 'Orphan')$$,
                 '23503', NULL, 'projects: an unknown tenant is rejected');

SELECT lives_ok($$WITH r AS (INSERT INTO coditect.projects (tenant_id, name) VALUES (t20.id('a_tenant_id'), 'P') RETURNING id)
                  INSERT INTO t20.refs SELECT 'p1', id FROM r$$,
                'projects: a live P');
SELECT throws_ok($$INSERT INTO coditect.projects (tenant_id, name) VALUES (t20.id('a_tenant_id'), 'P')$$,
                 '23505', NULL, 'projects: a second live P in the tenant is rejected');
SELECT lives_ok($$INSERT INTO coditect.projects (tenant_id, name) VALUES (t20.id('b_tenant_id'), 'P')$$,
                'projects: P in another tenant is fine');
SELECT lives_ok($$UPDATE coditect.projects SET deleted_at = now() WHERE id = t20.id('p1')$$,
                'projects: the first P is soft-deleted');
SELECT lives_ok($$WITH r AS (INSERT INTO coditect.projects (tenant_id, name) VALUES (t20.id('a_tenant_id'), 'P') RETURNING id)
                  INSERT INTO t20.refs SELECT 'p2', id FROM r$$,
                'projects: a new live P is accepted once the first is deleted');
SELECT throws_ok($$SELECT coditect.restore_row('coditect.projects', t20.id('p1'))$$,
                 '23505', NULL, 'projects: restoring the old P while a new P is live fails');
SELECT isnt((SELECT deleted_at FROM coditect.projects WHERE id = t20.id('p1')), NULL,
            'projects: ... and the old P stays deleted');
SELECT throws_ok($$UPDATE coditect.projects SET deleted_at = '2000-01-01' WHERE id = t20.id('p2')$$,
                 '23514', NULL, 'projects: deleted_at before created_at is rejected');

------------------------------------------------------------------------------------------------
-- Timestamps: created_at is fixed at insert, updated_at is the time of the last change
------------------------------------------------------------------------------------------------

SELECT lives_ok($$WITH r AS (INSERT INTO coditect.projects (tenant_id, name, created_at, updated_at)
                             VALUES (t20.id('a_tenant_id'), 'Forged', '2000-01-01', '2000-01-01') RETURNING id)
                  INSERT INTO t20.refs SELECT 'p_forged', id FROM r$$,
                'projects: an insert with explicit timestamps');
SELECT is((SELECT created_at FROM coditect.projects WHERE id = t20.id('p_forged')), now(),
          'projects: created_at given on insert is replaced by now()');
SELECT is((SELECT updated_at FROM coditect.projects WHERE id = t20.id('p_forged')), now(),
          'projects: updated_at given on insert is replaced by now()');

SELECT lives_ok($$WITH r AS (INSERT INTO coditect.permissions (codename, name) VALUES ('tap.check', 'A test permission') RETURNING id)
                  INSERT INTO t20.refs SELECT 'perm', id FROM r$$,
                'permissions: a row with only codename and name');

CREATE TABLE t20.stamped (t regclass, k text);
INSERT INTO t20.stamped VALUES
    ('coditect.tenants', 'a_tenant_id'), ('coditect.users', 'a_user_id'), ('coditect.memberships', 'a_membership_id'),
    ('coditect.teams', 'team'), ('coditect.team_members', 'team_member'), ('coditect.projects', 'p2'),
    ('coditect.permissions', 'perm');
SELECT t20.backdate(t, t20.id(k)) FROM t20.stamped;
SELECT is((t20.forge(t, t20.id(k), 'created_at')).created_at, '2001-01-01 00:00:00+00'::timestamptz,
          t || ': UPDATE ... SET created_at leaves created_at unchanged')
  FROM t20.stamped ORDER BY t::text;
SELECT is((t20.forge(t, t20.id(k), 'updated_at')).updated_at, now(),
          t || ': UPDATE ... SET updated_at is overridden to now()')
  FROM t20.stamped ORDER BY t::text;
SELECT is((SELECT created_at FROM coditect.projects WHERE id = t20.id('p2')), '2001-01-01 00:00:00+00'::timestamptz,
          'projects: created_at still holds its insert time after updates');

SELECT lives_ok($$INSERT INTO coditect.role_permissions (role, permission_id, created_at)
                  VALUES ('guest', t20.id('perm'), '2000-01-01')$$,
                'role_permissions: a grant with an explicit created_at');
SELECT is((SELECT created_at FROM coditect.role_permissions WHERE permission_id = t20.id('perm')), now(),
          'role_permissions: created_at given on insert is replaced by now()');
SELECT is((SELECT description FROM coditect.permissions WHERE id = t20.id('perm')), '',
          'permissions: description defaults to empty');
SELECT ok(t20.is_v7(t20.id('perm')), 'permissions: id is a UUIDv7');

------------------------------------------------------------------------------------------------
-- Soft delete, restore, purge
------------------------------------------------------------------------------------------------

SELECT lives_ok($$DELETE FROM coditect.projects WHERE id = t20.id('p2')$$, 'projects: DELETE of the live P');
SELECT is((SELECT count(*)::int FROM coditect.projects WHERE id = t20.id('p2')), 1,
          'projects: DELETE keeps the row');
SELECT is((SELECT deleted_at FROM coditect.projects WHERE id = t20.id('p2')), now(),
          'projects: DELETE sets deleted_at instead');
SELECT is((SELECT restore_row FROM coditect.restore_row('coditect.projects', t20.id('p1'))), true,
          'projects: the old P can be restored now no other P is live');
SELECT is((SELECT deleted_at FROM coditect.projects WHERE id = t20.id('p1')), NULL,
          'projects: ... and is live again');
SELECT throws_ok($$SELECT coditect.restore_row('coditect.projects', t20.id('p1'))$$,
                 'CD404', NULL, 'restore_row of a row that is not deleted fails CD404');
SELECT throws_ok($$SELECT coditect.restore_row('coditect.teams', t20.id('team'))$$,
                 'CD400', NULL, 'restore_row on a table without soft delete fails CD400');

SELECT lives_ok($$SELECT coditect.purge_deleted('coditect.projects')$$, 'purge_deleted with the default age');
SELECT is((SELECT count(*)::int FROM coditect.projects WHERE id = t20.id('p2')), 1,
          'purge_deleted keeps a row deleted just now (default 30 days)');
-- Deleted "long ago" (soft delete uses the transaction time, as does purge_deleted's now()).
SELECT lives_ok($$SET LOCAL session_replication_role = replica;
                  UPDATE coditect.projects SET created_at = '2001-01-01', deleted_at = '2001-01-02' WHERE id = t20.id('p2');
                  SET LOCAL session_replication_role = origin$$,
                'projects: the deleted P is moved into the past');
SELECT cmp_ok((SELECT coditect.purge_deleted('coditect.projects', '0 seconds')), '>=', 1::bigint,
              'purge_deleted(projects, 0 seconds) reports the rows it removed');
SELECT is((SELECT count(*)::int FROM coditect.projects WHERE id = t20.id('p2')), 0,
          'purge_deleted really removes the soft-deleted row');
SELECT is((SELECT count(*)::int FROM coditect.projects WHERE id = t20.id('p1')), 1,
          'purge_deleted leaves live rows alone');
SELECT throws_ok($$SELECT coditect.purge_deleted('coditect.teams', '0 seconds')$$,
                 'CD400', NULL, 'purge_deleted on a table without soft delete fails CD400');
SELECT throws_ok($$SELECT coditect.purge_deleted('coditect.projects', '-1 day')$$,
                 'CD400', NULL, 'purge_deleted refuses a negative age');
SELECT lives_ok($$DELETE FROM coditect.projects WHERE id = t20.id('p1')$$, 'projects: DELETE after a purge');
SELECT isnt((SELECT deleted_at FROM coditect.projects WHERE id = t20.id('p1')), NULL,
            'projects: after a purge, DELETE is a soft delete again');

SELECT throws_ok($$INSERT INTO coditect.projects (tenant_id, name) VALUES (t20.id('a_tenant_id'), E'\t\n ')$$,
                 '23514', NULL, 'projects: a name of only tabs and newlines is blank');
SELECT throws_ok($$INSERT INTO coditect.teams (tenant_id, name) VALUES (t20.id('a_tenant_id'), E'\r\n')$$,
                 '23514', NULL, 'teams: a name of only line breaks is blank');
-- A purge that fails inside a savepoint must not leave hard deletes switched on.
SELECT throws_ok($$SELECT coditect.purge_deleted('coditect.projects', NULL)$$, 'CD400', NULL,
                 'purge_deleted refuses a NULL age');

------------------------------------------------------------------------------------------------
-- Permission catalog and checks
------------------------------------------------------------------------------------------------

SELECT set_eq($$SELECT rp.role::text FROM coditect.role_permissions rp JOIN coditect.permissions p ON p.id = rp.permission_id
                 WHERE p.codename = 'project.view'$$,
              ARRAY['owner', 'admin', 'member', 'guest'], 'every role has project.view');
SELECT set_eq($$SELECT rp.role::text FROM coditect.role_permissions rp JOIN coditect.permissions p ON p.id = rp.permission_id
                 WHERE p.codename = 'project.create'$$,
              ARRAY['owner', 'admin', 'member'], 'guest lacks project.create');
SELECT set_eq($$SELECT rp.role::text FROM coditect.role_permissions rp JOIN coditect.permissions p ON p.id = rp.permission_id
                 WHERE p.codename = 'audit_log.view'$$,
              ARRAY['owner', 'admin'], 'only owner and admin have audit_log.view');
SELECT is((SELECT count(*)::int FROM coditect.permissions p
            WHERE p.codename <> 'tap.check'
              AND NOT EXISTS (SELECT 1 FROM coditect.role_permissions rp WHERE rp.permission_id = p.id AND rp.role = 'owner')),
          0, 'owner holds every permission');
SELECT throws_ok($$INSERT INTO coditect.permissions (codename, name) VALUES ('project.view', 'Again')$$,
                 '23505', NULL, 'permissions: codename is unique');
SELECT throws_ok($$INSERT INTO coditect.permissions (codename, name) VALUES ('Project.View', 'Bad')$$,
                 '23514', NULL, 'permissions: a malformed codename is rejected');
SELECT throws_ok($$INSERT INTO coditect.role_permissions (role, permission_id) VALUES ('root', t20.id('perm'))$$,
                 '22P02', NULL, 'role_permissions: an unknown role is rejected');
SELECT throws_ok($$INSERT INTO coditect.role_permissions (role, permission_id) VALUES ('guest', t20.id('perm'))$$,
                 '23505', NULL, 'role_permissions: a duplicate grant is rejected');
SELECT throws_ok($$INSERT INTO coditect.role_permissions (role, permission_id) VALUES ('guest', coditect.uuid_generate_v7())$$,
                 '23503', NULL, 'role_permissions: an unknown permission is rejected');

-- The catalog has no owner-only permission (tenant.delete is gone): a test one, declared as the
-- resources declare theirs, tells the owner from an admin.
SELECT lives_ok($$SELECT coditect_internal.declare_permission('tap.owner_only', 'An owner-only test permission', 'owner')$$,
                'declare_permission: an owner-only permission');
SELECT set_eq($$SELECT rp.role::text FROM coditect.role_permissions rp JOIN coditect.permissions p ON p.id = rp.permission_id
                 WHERE p.codename = 'tap.owner_only'$$,
              ARRAY['owner'], 'an owner-only permission is granted to owner alone');
SELECT is(coditect.has_permission('project.view'), false, 'without a context no permission is held');
SELECT throws_ok($$SELECT coditect.require_permission('project.view')$$, 'CD403', NULL,
                 'without a context require_permission raises CD403');
SELECT lives_ok(format($$SELECT coditect.set_request_context(%L, %L, 'guest')$$, t20.id('a_tenant_id'), t20.id('a_user_id')),
                'the owner of A acts as guest');
SELECT is(coditect.has_permission('project.view'), true, 'guest: has project.view');
SELECT is(coditect.has_permission('project.create'), false, 'guest: lacks project.create');
SELECT is(coditect.has_permission('audit_log.view'), false, 'guest: lacks audit_log.view');
SELECT lives_ok($$SELECT coditect.require_permission('project.view')$$, 'guest: require_permission(project.view) passes');
SELECT throws_ok($$SELECT coditect.require_permission('project.create')$$, 'CD403', NULL,
                 'guest: require_permission(project.create) raises CD403');
SELECT throws_ok($$SELECT coditect.has_permission('no.such')$$, 'CD400', NULL, 'has_permission of an unknown codename raises CD400');
SELECT throws_ok($$SELECT coditect.require_permission('no.such')$$, 'CD400', NULL,
                 'require_permission of an unknown codename raises CD400');
SELECT lives_ok(format($$SELECT coditect.set_request_context(%L, %L, 'member')$$, t20.id('a_tenant_id'), t20.id('a_user_id')),
                'the owner of A acts as member');
SELECT is(coditect.has_permission('project.create'), true, 'member: has project.create');
SELECT is(coditect.has_permission('audit_log.view'), false, 'member: lacks audit_log.view');
SELECT lives_ok(format($$SELECT coditect.set_request_context(%L, %L, 'admin')$$, t20.id('a_tenant_id'), t20.id('a_user_id')),
                'the owner of A acts as admin');
SELECT is(coditect.has_permission('audit_log.view'), true, 'admin: has audit_log.view');
SELECT is(coditect.has_permission('tap.owner_only'), false, 'admin: lacks tap.owner_only');
SELECT throws_ok($$SELECT coditect.require_permission('tap.owner_only')$$, 'CD403', NULL,
                 'admin: require_permission(tap.owner_only) raises CD403');
SELECT lives_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, t20.id('a_tenant_id'), t20.id('a_user_id')),
                'the owner of A acts as owner');
SELECT is(coditect.has_permission('audit_log.view'), true, 'owner: has audit_log.view');
SELECT is(coditect.has_permission('tap.owner_only'), true, 'owner: has tap.owner_only');
SELECT lives_ok($$SELECT coditect.require_permission('tap.owner_only')$$, 'owner: require_permission(tap.owner_only) passes');

------------------------------------------------------------------------------------------------
-- Tenant removal: never by DELETE, only by purge_tenant, which takes everything with it
------------------------------------------------------------------------------------------------

-- Tenant B gets a row in every tenant table, and a soft-deleted project.
INSERT INTO coditect.teams (tenant_id, name) VALUES (t20.id('b_tenant_id'), 'Team B');
INSERT INTO coditect.team_members (tenant_id, team_id, user_id)
SELECT t20.id('b_tenant_id'), id, t20.id('b_user_id') FROM coditect.teams WHERE tenant_id = t20.id('b_tenant_id');
INSERT INTO coditect.projects (tenant_id, name) VALUES (t20.id('b_tenant_id'), 'Gone');
DELETE FROM coditect.projects WHERE tenant_id = t20.id('b_tenant_id') AND name = 'Gone';

SELECT is((SELECT count(*)::int FROM coditect.projects WHERE tenant_id = t20.id('b_tenant_id') AND deleted_at IS NOT NULL), 1,
          'tenant B has a soft-deleted project');
SELECT throws_ok($$DELETE FROM coditect.tenants WHERE id = t20.id('b_tenant_id')$$, 'CD403', NULL,
                 'a plain DELETE of a tenant fails CD403');
SELECT is((SELECT count(*)::int FROM coditect.tenants WHERE id = t20.id('b_tenant_id')), 1, '... and the tenant is still there');
SELECT lives_ok($$SELECT coditect.purge_tenant(t20.id('b_tenant_id'))$$, 'purge_tenant(B)');
SELECT is((SELECT count(*)::int FROM coditect.tenants WHERE id = t20.id('b_tenant_id')), 0, 'purge_tenant: the tenant is gone');
SELECT is((SELECT count(*)::int FROM coditect.users WHERE tenant_id = t20.id('b_tenant_id')), 0, 'purge_tenant: its users are gone');
SELECT is((SELECT count(*)::int FROM coditect.memberships WHERE tenant_id = t20.id('b_tenant_id')), 0,
          'purge_tenant: its memberships are gone');
SELECT is((SELECT count(*)::int FROM coditect.teams WHERE tenant_id = t20.id('b_tenant_id')), 0, 'purge_tenant: its teams are gone');
SELECT is((SELECT count(*)::int FROM coditect.team_members WHERE tenant_id = t20.id('b_tenant_id')), 0,
          'purge_tenant: its team members are gone');
SELECT is((SELECT count(*)::int FROM coditect.projects WHERE tenant_id = t20.id('b_tenant_id')), 0,
          'purge_tenant: its projects are gone, soft-deleted ones included');
SELECT is((SELECT count(*)::int FROM coditect.tenants WHERE id = t20.id('a_tenant_id')), 1, 'purge_tenant: tenant A is untouched');
SELECT lives_ok($$DELETE FROM coditect.projects WHERE id = t20.id('project_defaults')$$, 'projects: DELETE after purge_tenant');
SELECT isnt((SELECT deleted_at FROM coditect.projects WHERE id = t20.id('project_defaults')), NULL,
            'projects: after purge_tenant, DELETE is a soft delete again');

-- A failed purge must not leave hard deletes switched on for the rest of the transaction
-- (last: if it does, the tests below really delete).
SELECT throws_ok($$SELECT coditect.purge_tenant(coditect.uuid_generate_v7())$$, 'CD404', NULL,
                 'purge_tenant of an unknown tenant fails CD404');
SELECT lives_ok($$DELETE FROM coditect.projects WHERE id = t20.id('p_forged')$$, 'projects: DELETE after a failed purge_tenant');
SELECT is((SELECT count(*)::int FROM coditect.projects WHERE id = t20.id('p_forged')), 1,
          'projects: after a failed purge_tenant, DELETE is still a soft delete');
SELECT throws_ok($$DELETE FROM coditect.tenants WHERE id = t20.id('a_tenant_id')$$, 'CD403', NULL,
                 'after a failed purge_tenant, a plain DELETE of a tenant still fails CD403');

SELECT * FROM finish();
ROLLBACK;
