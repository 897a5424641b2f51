-- Columns that are the database's on INSERT (protect_insert_columns, sql/00_base.sql) on a Citus
-- cluster: run on the coordinator as a superuser after coditect.distribute(). The coordinator
-- sends every column of an INSERT to the shard, defaults evaluated (column-level INSERT grants
-- refused every insert there: "permission denied for table milestones_102251"). A gateway
-- login with a request context creates a milestone, a folder, a document, a cart, a license, a
-- workflow and an audit review through the generated API functions via the coordinator, each
-- with the database's values in its protected columns; a protected column set by the login is
-- refused on the shard with the one-node error; a declared id is given on the shard. The tenant
-- stays (purge_tenant is not distributed yet); the role is removed at the end.
\set ON_ERROR_STOP 1
SELECT plan(15);

-- (A run stopped by an error left its role.)
SELECT 'DROP OWNED BY tapcc_gw; DROP ROLE tapcc_gw' WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = 'tapcc_gw') \gexec
CREATE ROLE tapcc_gw LOGIN IN ROLE coditect_gateway;
SELECT 'tcc-' || substr(md5(random()::text), 1, 8) AS run \gset
SELECT coditect.create_tenant('Cc A', :'run', 'a@tcc.test', 'owner@' || :'run' || '.test') AS ja \gset
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS oa \gset
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'P') RETURNING id AS project \gset

\ir lib/as_login.psql
-- The id of a create's answer; its error as a warning (and '': psql's \gset unsets a variable
-- for NULL) when it failed.
CREATE FUNCTION pg_temp.id_of(p_answer text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF p_answer NOT LIKE '{%' THEN
        RAISE WARNING 'create failed: %', p_answer;
        RETURN '';
    END IF;
    RETURN p_answer::jsonb ->> 'id';
END $$;
SELECT set_config('citus_tap.tenant', :'ta', false), set_config('citus_tap.owner', :'oa', false) \gset

-- 1. Creates through the API.
SELECT pg_temp.id_of(pg_temp.as_login('tapcc_gw', format($$SELECT coditect.api_milestones_create(%L)::text$$, jsonb_build_object('project_id', :'project', 'title', 'Beta')))) AS milestone \gset
SELECT coalesce((SELECT progress_percent = 0 AND status = 'open' FROM coditect.milestones WHERE tenant_id = :'ta' AND id = nullif(:'milestone', '')::uuid), false) AS chk \gset
-- (a read of a shard, then the assertion on the coordinator: Citus would push ok() to the worker)
SELECT ok(:'chk'::boolean,
          'a milestone made by the API through the coordinator, its progress the database''s');
SELECT pg_temp.id_of(pg_temp.as_login('tapcc_gw', $$SELECT coditect.api_folders_create('{"name": "Specs"}')::text$$)) AS folder \gset
SELECT coalesce((SELECT path = '/Specs' AND depth = 1 FROM coditect.folders WHERE tenant_id = :'ta' AND id = nullif(:'folder', '')::uuid), false) AS chk \gset
SELECT ok(:'chk'::boolean,
          'a folder, its path computed on the shard');
SELECT pg_temp.id_of(pg_temp.as_login('tapcc_gw', $$SELECT coditect.api_documents_create('{"title": "Spec"}')::text$$)) AS document \gset
SELECT coalesce((SELECT owner_id = :'oa' AND created_by = :'oa' AND version = 0 FROM coditect.documents WHERE tenant_id = :'ta' AND id = nullif(:'document', '')::uuid), false) AS chk \gset
SELECT ok(:'chk'::boolean,
          'a document, its owner and creator the context''s user (the default evaluated on both nodes agrees)');
SELECT pg_temp.id_of(pg_temp.as_login('tapcc_gw', $$SELECT coditect.api_carts_create('{"currency": "USD"}')::text$$)) AS cart \gset
SELECT coalesce((SELECT user_id = :'oa' AND status = 'active' AND coditect.uuid_v7_time(id) IS NOT NULL FROM coditect.carts WHERE tenant_id = :'ta' AND id = nullif(:'cart', '')::uuid), false) AS chk \gset
SELECT ok(:'chk'::boolean,
          'a cart, its id given on the shard (a UUIDv7), its user the context''s');
-- Its key (a default) claimed first by the generated create, as the caller, then checked on the shard.
SELECT pg_temp.id_of(pg_temp.as_login('tapcc_gw', $$SELECT coditect.api_licenses_create('{"expiry_date": "2030-01-01T00:00:00Z", "seats_total": 3}')::text$$)) AS license \gset
SELECT coalesce((SELECT seats_in_use = 0 AND seats_total = 3 FROM coditect.licenses WHERE tenant_id = :'ta' AND id = nullif(:'license', '')::uuid), false) AS chk \gset
SELECT ok(:'chk'::boolean,
          'a license, no seat in use');
SELECT pg_temp.id_of(pg_temp.as_login('tapcc_gw', format($$SELECT coditect.api_workflows_create(%L)::text$$, '{"name": "W", "definition": {"nodes": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}], "edges": [{"from": "s", "to": "e"}]}}'))) AS workflow \gset
SELECT coalesce((SELECT lineage_id = id AND version = 1 AND status = 'draft' AND coditect.uuid_v7_time(id) IS NOT NULL
             FROM coditect.workflows WHERE tenant_id = :'ta' AND id = nullif(:'workflow', '')::uuid), false) AS chk \gset
SELECT ok(:'chk'::boolean,
          'a workflow, its id given on the shard, its lineage and version the database''s');
SELECT pg_temp.id_of(pg_temp.as_login('tapcc_gw', $$SELECT coditect.api_audit_reviews_create('{"review_type": "access", "scope_start_date": "2026-01-01", "scope_end_date": "2026-03-31"}')::text$$)) AS review \gset
SELECT coalesce((SELECT status = 'in_progress' AND reviewer_id = :'oa' FROM coditect.audit_reviews WHERE tenant_id = :'ta' AND id = nullif(:'review', '')::uuid), false) AS chk \gset
SELECT ok(:'chk'::boolean,
          'an audit review, in progress');

-- 2. Protected columns set by the login are refused on the shard, as on one node.
SELECT is(pg_temp.as_login('tapcc_gw', format($$INSERT INTO coditect.milestones (tenant_id, project_id, title, progress_percent) VALUES (%L, %L, 'Forged', 90) RETURNING 'x'$$, :'ta', :'project')),
          '42501: permission denied for column "progress_percent" of table coditect.milestones', 'a forged progress is refused');
SELECT is(pg_temp.as_login('tapcc_gw', format($$INSERT INTO coditect.workflows (tenant_id, id, name, definition) VALUES (%L, %L, 'Mine', '{}') RETURNING 'x'$$, :'ta', gen_random_uuid())),
          '42501: permission denied for column "id" of table coditect.workflows', 'a chosen workflow id is refused');
SELECT is(pg_temp.as_login('tapcc_gw', format($$INSERT INTO coditect.carts (tenant_id, currency, discount_code) VALUES (%L, 'USD', 'FREE') RETURNING 'x'$$, :'ta')),
          '42501: permission denied for column "discount_code" of table coditect.carts', 'a cart''s discount code is refused');
SELECT is(pg_temp.as_login('tapcc_gw', format($$INSERT INTO coditect.documents (tenant_id, title, owner_id) VALUES (%L, 'T', %L) RETURNING 'x'$$, :'ta', gen_random_uuid())),
          '42501: permission denied for column "owner_id" of table coditect.documents', 'another owner of a new document is refused');
SELECT is(pg_temp.as_login('tapcc_gw', format($$INSERT INTO coditect.audit_reviews (tenant_id, review_type, scope_start_date, scope_end_date, status) VALUES (%L, 'access', '2026-01-01', '2026-02-01', 'completed') RETURNING 'x'$$, :'ta')),
          '42501: permission denied for column "status" of table coditect.audit_reviews', 'a review cannot start completed');
SELECT is(pg_temp.as_login('tapcc_gw', format($$INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_in_use) VALUES (%L, '2030-01-01', 1) RETURNING 'x'$$, :'ta')),
          '42501: permission denied for column "seats_in_use" of table coditect.licenses', 'a license''s seats in use are refused');
-- Plain SQL leaving them out passes: the shard judges the coordinator's defaults as the database's.
SELECT is(pg_temp.as_login('tapcc_gw', format($$INSERT INTO coditect.milestones (tenant_id, project_id, title) VALUES (%L, %L, 'Plain') RETURNING (progress_percent = 0)::text$$, :'ta', :'project')),
          'true', 'a plain INSERT of a milestone passes');
SELECT is(pg_temp.as_login('tapcc_gw', format($$INSERT INTO coditect.documents (tenant_id, title) VALUES (%L, 'Plain') RETURNING owner_id::text$$, :'ta')),
          :'oa', 'a plain INSERT of a document passes, its owner the context''s user');

DROP OWNED BY tapcc_gw;
DROP ROLE tapcc_gw;
SELECT * FROM finish();
