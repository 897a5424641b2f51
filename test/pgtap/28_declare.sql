-- Declaring a new resource: a table made here (rolled back at the end) gets, from one
-- register_resource call each, its functions, permissions, RLS, audit and catalog entry; a
-- nested resource follows its parent (a child of a soft-deleted parent is gone too).
BEGIN;
SELECT no_plan();

CREATE TABLE coditect.tapboards (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    title      varchar(80) NOT NULL,
    secret     text NOT NULL DEFAULT 'hush',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
COMMENT ON COLUMN coditect.tapboards.title IS 'What the board is called.';
CREATE TABLE coditect.tapcards (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    board_id   uuid NOT NULL,
    label      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, board_id) REFERENCES coditect.tapboards (tenant_id, id)
);
SELECT lives_ok($$SELECT coditect_internal.register_resource('coditect.tapboards', 'tapboard',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "admin", "restore": "admin"}',
    p_create => '{title,secret}', p_update => '{title}', p_hidden => '{secret}',
    p_filters => '{"title": ["exact", "in"]}', p_orderings => '{created_at,title}', p_search => '{title}')$$,
    'a table is declared a resource with one call');
SELECT lives_ok($$SELECT coditect_internal.register_resource('coditect.tapcards', 'tapcard',
    p_parent => 'tapboard', p_parent_column => 'board_id',
    p_roles => '{"view": "guest", "create": "member", "delete": "member"}', p_create => '{label}')$$,
    'a nested resource is declared under it');

SELECT is((SELECT array_agg(name::text ORDER BY name) FROM coditect_internal.resource_operations WHERE resource = 'tapboard'),
          '{create,delete,get,list,restore,update}', 'the board has the operations of its verbs');
SELECT is((SELECT array_agg(method || ' ' || path ORDER BY path, method) FROM coditect_internal.resource_operations WHERE resource = 'tapcard'),
          '{"GET /api/v1/tapboards/{tapboard_id}/tapcards/","POST /api/v1/tapboards/{tapboard_id}/tapcards/","DELETE /api/v1/tapboards/{tapboard_id}/tapcards/{id}/","GET /api/v1/tapboards/{tapboard_id}/tapcards/{id}/"}',
          'the card''s paths nest under the board');
SELECT is((SELECT array_agg(p.codename || ':' || rp.role ORDER BY p.codename, rp.role) FROM coditect.permissions p
             JOIN coditect.role_permissions rp ON rp.permission_id = p.id WHERE p.codename LIKE 'tapboard.%' AND p.codename LIKE '%.delete'),
          '{tapboard.delete:owner,tapboard.delete:admin}', 'permissions follow the least role');
SELECT ok((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'coditect.tapboards'::regclass), 'RLS is on');
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = 'coditect.tapboards'::regclass AND tgname = 'audit_row_change'), 'A',
          'the audit trigger is attached');
SELECT is((SELECT c -> 'required' FROM jsonb_array_elements(coditect.api_catalog() -> 'resources') r, jsonb_array_elements(r -> 'columns') c
            WHERE r ->> 'name' = 'tapboard' AND c ->> 'name' = 'title'), 'true'::jsonb, 'a NOT NULL column without a default is required');
SELECT is((SELECT c ->> 'description' FROM jsonb_array_elements(coditect.api_catalog() -> 'resources') r, jsonb_array_elements(r -> 'columns') c
            WHERE r ->> 'name' = 'tapboard' AND c ->> 'name' = 'title'), 'What the board is called.', 'its comment is its description');
SELECT is((SELECT c -> 'max_length' FROM jsonb_array_elements(coditect.api_catalog() -> 'resources') r, jsonb_array_elements(r -> 'columns') c
            WHERE r ->> 'name' = 'tapboard' AND c ->> 'name' = 'title'), '80'::jsonb, 'its length is its type''s');
SELECT throws_ok($$SELECT coditect_internal.register_resource('coditect.tapcards', 'tapother', p_roles => '{"view": "guest"}',
                     p_orderings => '{label,no_such_column}')$$, 'CD400', NULL, 'a declaration naming a missing column is refused');
SELECT throws_ok($$SELECT coditect_internal.register_resource('coditect.tapcards', 'tapother', p_roles => '{"peek": "guest"}')$$,
                 'CD400', NULL, 'an unknown verb is refused');

-- Behaviour, as a gateway login in a tenant's context.
SELECT coditect.create_tenant('Declare', 't28-d', 'd@t28.test', 'owner@t28.test') AS j \gset
SELECT set_config('tap.tenant', :'j'::jsonb ->> 'tenant_id', false), set_config('tap.user.owner', :'j'::jsonb ->> 'user_id', false) \gset
\ir lib/as_user.psql
CREATE ROLE tap28_gateway LOGIN IN ROLE coditect_gateway;
SET ROLE tap28_gateway;
SELECT pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_tapboards_create('{"title": "Kanban", "secret": "x"}')$$) AS board \gset
SELECT ok(NOT :'board'::jsonb ? 'secret', 'a hidden column is not answered');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_tapboards_create('{"secret": "x"}')$$),
          'CD400: missing required field(s): title', 'a required field is required');
SELECT pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_tapcards_create(%L, '{"label": "First"}')$$, :'board'::jsonb ->> 'id')) AS card \gset
SELECT is(:'card'::jsonb ->> 'board_id', :'board'::jsonb ->> 'id', 'a child takes its parent from the path');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_tapcards_list(%L) ->> 'count'$$, :'board'::jsonb ->> 'id')), '1',
          'the parent lists its children');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_tapcards_get(%L, %L)$$, coditect.uuid_generate_v7(), :'card'::jsonb ->> 'id')),
             'CD404:%', 'a child is not found under another parent');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_tapboards_delete(%L)$$, :'board'::jsonb ->> 'id')), 'done',
          'an owner deletes the board (soft)');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_tapcards_get(%L, %L)$$, :'board'::jsonb ->> 'id', :'card'::jsonb ->> 'id')),
             'CD404: tapboard % not found', 'a child of a deleted parent is gone');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_tapcards_delete(%L, %L)$$, :'board'::jsonb ->> 'id', :'card'::jsonb ->> 'id')),
             'CD404:%', '... for writes too');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_tapboards_restore(%L) ->> 'title'$$, :'board'::jsonb ->> 'id')), 'Kanban',
          'the board is restored');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_tapcards_get(%L, %L) ->> 'label'$$, :'board'::jsonb ->> 'id', :'card'::jsonb ->> 'id')),
          'First', '... and its child is back');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
