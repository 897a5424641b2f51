-- Columns that are the database's on INSERT (coditect_internal.protect_insert_columns, sql/00_base.sql):
-- the declaration covers every table that had column-level INSERT grants, and keeps each column
-- those grants withheld from clients (declared, or computed by a trigger that overwrites it);
-- no tenant table keeps a column-level INSERT grant (Citus refuses those on the shards); every
-- declared column of every table is refused with 42501 naming it, for gateway and service
-- logins, driven from the declaration; the owner and superusers may set them; a declared id is
-- given by the trigger; a declaration whose default a Citus shard cannot re-evaluate is refused.
-- Rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t16
\ir lib/tenants.psql
\ir lib/as_user.psql

CREATE ROLE tap16_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap16_service LOGIN IN ROLE coditect_service;
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'P16') RETURNING id AS project \gset

-- The column-level INSERT grants the declaration replaced (0.2.0 and before this change): what
-- clients could write. Every other column is declared or computed by a trigger (created_at and
-- updated_at: stamp_timestamps; carts.expires_at: guard_cart; subscriptions'
-- current_period_start: subscription_rules).
CREATE TEMP TABLE old_grants (tbl regclass PRIMARY KEY, client name[], computed name[]);
INSERT INTO old_grants VALUES
    ('coditect.milestones', '{tenant_id,id,project_id,title,description,status,due_date,completed_at,deleted_at}', '{created_at,updated_at}'),
    ('coditect.folders', '{tenant_id,id,project_id,parent_id,name,description,created_by,deleted_at}', '{created_at,updated_at}'),
    ('coditect.documents', '{tenant_id,id,project_id,folder_id,title,description,status,tags,metadata,deleted_at}', '{created_at,updated_at}'),
    ('coditect.document_permissions', '{tenant_id,id,document_id,folder_id,user_id,team_id,permission_level,expires_at}', '{created_at,updated_at}'),
    ('coditect.workflows', '{tenant_id,project_id,name,description,workflow_type,definition,triggers,approval_expiry_hours,created_by}', '{created_at,updated_at}'),
    ('coditect.audit_reviews', '{tenant_id,id,reviewer_id,review_type,scope_start_date,scope_end_date,findings,recommendations}', '{created_at,updated_at}'),
    ('coditect.licenses', '{tenant_id,id,key_string,tier,features,expiry_date,seats_total,is_active,created_by}', '{created_at,updated_at}'),
    ('coditect.carts', '{tenant_id,currency}', '{created_at,updated_at,expires_at}'),
    ('coditect.cart_items', '{tenant_id,cart_id,product_id,quantity}', '{created_at,updated_at}'),
    ('coditect.subscriptions', '{tenant_id,id,product_id,quantity,billing_cycle_anchor,created_by}', '{created_at,updated_at,current_period_start}');
GRANT SELECT ON old_grants TO PUBLIC;

SELECT set_eq($$SELECT tgrelid::regclass FROM pg_trigger WHERE tgname = 'a_protect_columns'$$,
              $$SELECT tbl FROM old_grants$$, 'the tables with declared columns are those that had column-level INSERT grants');
SELECT is(coalesce(o.client, '{}') || coalesce(coditect_internal.protected_insert_columns(o.tbl), '{}') || o.computed
              @> (SELECT array_agg(attname) FROM pg_attribute WHERE attrelid = o.tbl AND attnum > 0 AND NOT attisdropped),
          true, o.tbl || ': every column is a client''s, declared, or computed by a trigger')
  FROM old_grants o ORDER BY o.tbl::text;
SELECT is(coditect_internal.protected_insert_columns(o.tbl) && (o.client || o.computed), false,
          o.tbl || ': no client column is declared')
  FROM old_grants o ORDER BY o.tbl::text;
SELECT is((SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = o.tbl AND t.tgname = 'a_protect_columns'
              AND t.tgenabled = 'A' AND t.tgtype = 7), 1::bigint, o.tbl || ': one BEFORE INSERT row trigger, enabled always')
  FROM old_grants o ORDER BY o.tbl::text;
-- BEFORE triggers fire by name: the check sees what the writer sent.
SELECT is((SELECT min(tgname::text COLLATE "C") FROM pg_trigger t WHERE t.tgrelid = o.tbl AND NOT t.tgisinternal AND t.tgtype & 2 = 2 AND t.tgtype & 4 = 4),
          'a_protect_columns', o.tbl || ': the first BEFORE INSERT trigger')
  FROM old_grants o ORDER BY o.tbl::text;

-- No column-level INSERT grant anywhere: the shard would check all columns (Running on Citus).
SELECT is(array_agg(format('%s.%s', a.attrelid::regclass, a.attname) ORDER BY 1), NULL,
          'no tenant table grants INSERT on some columns only to the gateway or a service')
  FROM coditect_internal.tenant_tables tt
  JOIN pg_attribute a ON a.attrelid = tt.relid AND a.attnum > 0 AND NOT a.attisdropped,
       unnest(ARRAY['coditect_gateway', 'coditect_service']) r
 WHERE has_column_privilege(r, a.attrelid, a.attnum, 'INSERT') AND NOT has_table_privilege(r, a.attrelid, 'INSERT');

-- Declarations that could not be judged on a Citus shard, or nonsense, are refused.
SELECT throws_like($$SELECT coditect_internal.protect_insert_columns('coditect.carts', '{expires_at}')$$,
                   '%default of expires_at is not the same on a Citus shard%', 'a column defaulting to now() cannot be declared');
SELECT throws_like($$SELECT coditect_internal.protect_insert_columns('coditect.projects', '{id}')$$,
                   '%default of id is not the same on a Citus shard%', 'an id with a default cannot be declared');
SELECT throws_like($$SELECT coditect_internal.protect_insert_columns('coditect.projects', '{tenant_id}')$$,
                   '%not one to protect%', 'tenant_id cannot be declared');
SELECT throws_like($$SELECT coditect_internal.protect_insert_columns('coditect.projects', '{nope}')$$,
                   '%no such column%nope%', 'an unknown column cannot be declared');

-- A value other than the column's default, per type (enums: another label).
CREATE FUNCTION pg_temp.other_value(p_table regclass, p_col name) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    t regtype;
    base regtype;
    def text;
BEGIN
    SELECT a.atttypid, coalesce(nullif(ty.typbasetype, 0), a.atttypid), pg_get_expr(d.adbin, d.adrelid) INTO t, base, def
      FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = p_table AND a.attname = p_col;
    IF (SELECT typtype FROM pg_type WHERE oid = base) = 'e' THEN
        RETURN format('%L::%s', (SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = base
                                  AND format('%L::%s', e.enumlabel, t) IS DISTINCT FROM def ORDER BY e.enumsortorder DESC LIMIT 1), t);
    END IF;
    RETURN CASE base
        WHEN 'uuid'::regtype THEN quote_literal(gen_random_uuid()) || '::uuid'
        WHEN 'uuid[]'::regtype THEN format('ARRAY[%L]::uuid[]', gen_random_uuid())
        WHEN 'integer'::regtype THEN '7'
        WHEN 'bigint'::regtype THEN '7'
        WHEN 'boolean'::regtype THEN CASE WHEN def = 'false' THEN 'true' ELSE 'false' END
        WHEN 'timestamptz'::regtype THEN '''2001-02-03T04:05:06Z''::timestamptz'
        WHEN 'jsonb'::regtype THEN '''["forged"]''::jsonb'
        WHEN 'varchar'::regtype THEN '''ZZZ'''
        WHEN 'text'::regtype THEN '''ZZZ'''
    END;
END $$;
CREATE TEMP TABLE cases AS
SELECT o.tbl, c AS col, pg_temp.other_value(o.tbl, c) AS val
  FROM old_grants o, unnest(coditect_internal.protected_insert_columns(o.tbl)) c;
GRANT SELECT ON cases TO PUBLIC;
SELECT isnt(val, NULL, format('%s.%s: a forged value to try', tbl, col)) FROM cases ORDER BY tbl::text, col;

-- The forged value alone with the tenant: the trigger fires before any other check.
SET ROLE tap16_gateway;
SELECT is(pg_temp.as_user('owner', 'owner', format('INSERT INTO %s (tenant_id, %I) VALUES (%L, %s)', tbl, col, current_setting('tap.tenant'), val)),
          format('42501: permission denied for column "%s" of table %s', col, tbl),
          format('gateway: %s.%s is refused on insert', tbl, col))
  FROM cases ORDER BY tbl::text, col;
RESET ROLE;
SET ROLE tap16_service;
SELECT is(pg_temp.as_user('owner', 'owner', format('INSERT INTO %s (tenant_id, %I) VALUES (%L, %s)', tbl, col, current_setting('tap.tenant'), val)),
          format('42501: permission denied for column "%s" of table %s', col, tbl),
          format('service: %s.%s is refused on insert', tbl, col))
  FROM cases ORDER BY tbl::text, col;
-- Its default, written out, is what the database would put there: not refused by this trigger.
SELECT is(pg_temp.as_user('owner', 'owner', format('INSERT INTO coditect.milestones (tenant_id, project_id, title, progress_percent) VALUES (%L, %L, %L, 0) RETURNING ''done''',
                                                  current_setting('tap.tenant'), :'project', 'M')),
          'done', 'service: progress_percent = 0, its default written out, passes');
RESET ROLE;

-- Through the API and plain SQL the database fills them.
SET ROLE tap16_gateway;
SELECT pg_temp.put('wf', (pg_temp.as_user('admin', 'admin', $$SELECT coditect.api_workflows_create('{"name": "W", "definition": {"nodes": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}], "edges": [{"from": "s", "to": "e"}]}}') ->> 'id'$$))::uuid);
RESET ROLE;
SELECT is((SELECT (lineage_id = id AND version = 1 AND status = 'draft' AND coditect.uuid_v7_time(id) IS NOT NULL) FROM coditect.workflows WHERE id = pg_temp.id('wf')),
          true, 'a workflow made by the API has the database''s id (a UUIDv7), lineage and version');
SET ROLE tap16_gateway;
SELECT pg_temp.put('cart', (pg_temp.as_user('member', 'member', $$SELECT coditect.api_carts_create('{}') ->> 'id'$$))::uuid);
SELECT is(pg_temp.as_user('member', 'member', $$INSERT INTO coditect.carts (tenant_id, expires_at, created_at) VALUES (current_setting('tap.tenant')::uuid, '2100-01-01', '2000-01-01')
                                                RETURNING (id IS NOT NULL AND expires_at < now() + interval '2 days' AND created_at = now())::text$$),
          'true', 'a forged expiry or creation time of a cart is replaced by the database''s (guard_cart, stamp_timestamps)');
RESET ROLE;
SELECT is((SELECT coditect.uuid_v7_time(id) IS NOT NULL FROM coditect.carts WHERE id = pg_temp.id('cart')), true, 'a cart''s id is a UUIDv7');

-- The owner's code and superusers set them (e.g. restoring rows, definer functions).
SELECT lives_ok(format($$INSERT INTO coditect.workflows (tenant_id, id, name, definition) VALUES (%L, %L, 'DBA', %L)$$,
                       :'ta', gen_random_uuid(), '{"nodes": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}], "edges": [{"from": "s", "to": "e"}]}'),
                'a superuser sets a workflow''s id');
SELECT lives_ok(format($$INSERT INTO coditect.milestones (tenant_id, project_id, title, progress_percent) VALUES (%L, %L, 'DBA', 40)$$, :'ta', :'project'),
                'a superuser sets a milestone''s progress');

SELECT * FROM finish();
ROLLBACK;
