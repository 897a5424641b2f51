-- The policies' helper functions on a Citus cluster (run by scripts/test-citus.sh on the
-- coordinator, as superuser, after coditect.distribute()). A policy runs on the worker inside the
-- shard query, and its helpers (cart_visible, order_visible, has_permission, folder_level,
-- document_level, grant_target_level, folder_granted / document_granted and the sets they read)
-- read other tables of the tenant there: src_ext/pg_nested_read.cpp (README, Running on Citus).
-- Through the coordinator, as a gateway login: a member of tenant A, A's owner, and a context
-- without a user (a bound analyst of A) read carts, orders, their items, lines and payments,
-- and documents, folders, versions, grants, shares and activity; each helper is also asked in
-- the WHERE clause of the shard query, where the document helpers' answers (owner's rights) are
-- the member's rows exactly; the helpers see rows written earlier in the same transaction.
-- Reads are checked on A's shard (WHERE tenant_id = A: the member's rows are there, the owner's
-- and the analyst's are all of A's) and over every shard (the member sees only their rows,
-- nobody sees another tenant's).
\set ON_ERROR_STOP 1
SELECT plan(73);

-- A run's tenants and logins are its own (a run that failed leaves its own behind).
SELECT 'tph-' || substr(md5(random()::text), 1, 8) AS run \gset
SELECT 'tapph_gw_' || substr(:'run', 5) AS gw, 'tapph_analyst_' || substr(:'run', 5) AS analyst \gset
CREATE ROLE :"gw" LOGIN IN ROLE coditect_gateway;
CREATE ROLE :"analyst" LOGIN;
SELECT coditect.create_tenant('Ph A', :'run' || '-a', 'a@tph.test', 'owner@a.' || :'run' || '.test') AS ja \gset
SELECT coditect.create_tenant('Ph B', :'run' || '-b', 'b@tph.test', 'owner@b.' || :'run' || '.test') AS jb \gset
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS oa,
       :'jb'::jsonb ->> 'tenant_id' AS tb, :'jb'::jsonb ->> 'user_id' AS ob \gset
INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'member@a.' || :'run' || '.test') RETURNING id AS ma \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'ta', :'ma', 'member');
SELECT coditect.bind_analyst(:'analyst', :'ta');

-- Carts and orders: the member's, the owner's (A) and B's owner's, each with an item, a line and
-- a payment (one transaction: an order's lines are checked at commit).
BEGIN;
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('Helpers ' || :'run', 1000, 'USD') RETURNING id AS product \gset
INSERT INTO coditect.carts (tenant_id, user_id) VALUES (:'ta', :'ma') RETURNING id AS cart_ma \gset
INSERT INTO coditect.carts (tenant_id, user_id) VALUES (:'ta', :'oa') RETURNING id AS cart_oa \gset
INSERT INTO coditect.carts (tenant_id, user_id) VALUES (:'tb', :'ob') RETURNING id AS cart_ob \gset
INSERT INTO coditect.cart_items (tenant_id, cart_id, product_id, quantity)
SELECT tenant_id, id, :'product', 1 FROM coditect.carts WHERE id IN (:'cart_ma', :'cart_oa', :'cart_ob');
INSERT INTO coditect.orders (tenant_id, user_id, currency, subtotal_amount, tax_amount, total_amount, billing_country_code)
VALUES (:'ta', :'ma', 'USD', 1000, 0, 1000, 'US') RETURNING id AS order_ma \gset
INSERT INTO coditect.orders (tenant_id, user_id, currency, subtotal_amount, tax_amount, total_amount, billing_country_code)
VALUES (:'ta', :'oa', 'USD', 1000, 0, 1000, 'US') RETURNING id AS order_oa \gset
INSERT INTO coditect.orders (tenant_id, user_id, currency, subtotal_amount, tax_amount, total_amount, billing_country_code)
VALUES (:'tb', :'ob', 'USD', 1000, 0, 1000, 'US') RETURNING id AS order_ob \gset
INSERT INTO coditect.order_lines (tenant_id, order_id, product_id, product_name, unit_amount, quantity, amount, net_amount, tax_amount, total_amount)
SELECT tenant_id, id, :'product', 'Helpers', 1000, 1, 0, 0, 0, 0 FROM coditect.orders WHERE id IN (:'order_ma', :'order_oa', :'order_ob');
INSERT INTO coditect.payments (tenant_id, order_id, amount, currency, status)
SELECT tenant_id, id, 1000, 'USD', 'succeeded' FROM coditect.orders WHERE id IN (:'order_ma', :'order_oa', :'order_ob');
COMMIT;

-- Documents of A, all the owner's: folder G granted to the member (view), folder P granted to
-- the owner only; d1 in G, d2 and d3 in P, d3 granted to the member (admin) itself. B: one of
-- each. A version, a share and a read of every document.
INSERT INTO coditect.folders (tenant_id, name, created_by) VALUES (:'ta', 'G', :'oa') RETURNING id AS fg \gset
INSERT INTO coditect.folders (tenant_id, name, created_by) VALUES (:'ta', 'P', :'oa') RETURNING id AS fp \gset
INSERT INTO coditect.folders (tenant_id, name, created_by) VALUES (:'tb', 'B', :'ob') RETURNING id AS fb \gset
INSERT INTO coditect.documents (tenant_id, folder_id, title, owner_id) VALUES (:'ta', :'fg', 'd1', :'oa') RETURNING id AS d1 \gset
INSERT INTO coditect.documents (tenant_id, folder_id, title, owner_id) VALUES (:'ta', :'fp', 'd2', :'oa') RETURNING id AS d2 \gset
INSERT INTO coditect.documents (tenant_id, folder_id, title, owner_id) VALUES (:'ta', :'fp', 'd3', :'oa') RETURNING id AS d3 \gset
INSERT INTO coditect.documents (tenant_id, folder_id, title, owner_id) VALUES (:'tb', :'fb', 'db', :'ob') RETURNING id AS db \gset
INSERT INTO coditect.document_permissions (tenant_id, folder_id, user_id, permission_level) VALUES (:'ta', :'fg', :'ma', 'view') RETURNING id AS g_fg \gset
INSERT INTO coditect.document_permissions (tenant_id, folder_id, user_id, permission_level) VALUES (:'ta', :'fp', :'oa', 'view') RETURNING id AS g_fp \gset
INSERT INTO coditect.document_permissions (tenant_id, document_id, user_id, permission_level) VALUES (:'ta', :'d3', :'ma', 'admin') RETURNING id AS g_d3 \gset
INSERT INTO coditect.document_permissions (tenant_id, document_id, user_id, permission_level) VALUES (:'tb', :'db', :'ob', 'admin') RETURNING id AS g_db \gset
INSERT INTO coditect.storage_blobs (tenant_id, sha256, size_bytes, status, ref_count)
SELECT t, sha256('\x01'::bytea), 1, 'ready', 1 FROM unnest(ARRAY[:'ta', :'tb']::uuid[]) t;
INSERT INTO coditect.document_versions (tenant_id, document_id, version_number, blob_id, file_path, file_name, file_size_bytes,
                                        mime_type, checksum)
SELECT d.tenant_id, d.id, 0, b.id, 'db:' || encode(b.sha256, 'hex'), 'a.bin', 1, 'application/octet-stream', encode(b.sha256, 'hex')
  FROM coditect.documents d JOIN coditect.storage_blobs b ON b.tenant_id = d.tenant_id
 WHERE d.id IN (:'d1', :'d2', :'d3', :'db');
CREATE TEMP TABLE new_shares AS
SELECT tenant_id, id AS document_id, gen_random_uuid() AS id, encode(sha256(convert_to(id::text || :'run', 'UTF8')), 'hex') AS share_token_hash
  FROM coditect.documents WHERE id IN (:'d1', :'d2', :'d3', :'db');
SELECT count(coditect_internal.global_key_claim('document_shares.share_token_hash', share_token_hash, tenant_id, id)) FROM new_shares;
INSERT INTO coditect.document_shares (tenant_id, id, document_id, share_token_hash, expires_at)
SELECT tenant_id, id, document_id, share_token_hash, now() + interval '1 day' FROM new_shares;
INSERT INTO coditect.document_activity (tenant_id, document_id, user_id, action)
SELECT tenant_id, id, owner_id, 'viewed' FROM coditect.documents WHERE id IN (:'d1', :'d2', :'d3', :'db');

-- pg_temp.ids(query): the ids a query returns, sorted, as text; pg_temp.set(ids...): the same of
-- a literal set. (Coordinator-only functions: Citus's notice that it does not propagate them
-- is silenced.)
SET client_min_messages = error;
CREATE FUNCTION pg_temp.ids(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    EXECUTE format('SELECT coalesce(string_agg(x::text, %L ORDER BY x::text), %L) FROM (%s) q(x)', ',', '', p_sql) INTO r;
    RETURN r;
END $$;
CREATE FUNCTION pg_temp.set(VARIADIC p_ids uuid[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(x::text, ',' ORDER BY x::text), '') FROM unnest(p_ids) x
$$;
RESET client_min_messages;
-- The rows of each table: the member's (expected with policies that hold), all of A's.
CREATE TEMP TABLE expected (tbl text PRIMARY KEY, helper text, mine text, all_a text);
INSERT INTO expected VALUES
    ('carts', 'true', pg_temp.set(:'cart_ma'), pg_temp.set(:'cart_ma', :'cart_oa')),
    ('cart_items', 'coditect_internal.cart_visible(tenant_id, cart_id)', NULL, NULL),
    ('orders', 'true', pg_temp.set(:'order_ma'), pg_temp.set(:'order_ma', :'order_oa')),
    ('order_lines', 'coditect_internal.order_visible(tenant_id, order_id)', NULL, NULL),
    ('payments', 'coditect_internal.order_visible(tenant_id, order_id)', NULL, NULL),
    ('folders', 'created_by = coditect.current_user_id() OR coditect_internal.folder_granted(tenant_id, id)',
     pg_temp.set(:'fg'), pg_temp.set(:'fg', :'fp')),
    ('documents', 'owner_id = coditect.current_user_id() OR coditect_internal.document_granted(tenant_id, id, folder_id)',
     pg_temp.set(:'d1', :'d3'), pg_temp.set(:'d1', :'d2', :'d3')),
    ('document_versions', 'coditect_internal.document_level(tenant_id, document_id) >= 1', NULL, NULL),
    ('document_permissions', 'coditect_internal.grant_target_level(tenant_id, document_id, folder_id) >= 1',
     pg_temp.set(:'g_fg', :'g_d3'), pg_temp.set(:'g_fg', :'g_fp', :'g_d3')),
    ('document_shares', 'coditect_internal.document_level(tenant_id, document_id) >= 4', NULL, NULL),
    ('document_activity', 'coditect_internal.document_level(tenant_id, document_id) >= 1', NULL, NULL);
-- Rows named by their parent: the items of the member's carts, the versions of the member's documents...
UPDATE expected e SET mine = pg_temp.ids(format('SELECT id FROM coditect.%I WHERE %I IN (%s)', e.tbl, x.col, x.mine)),
                      all_a = pg_temp.ids(format('SELECT id FROM coditect.%I WHERE tenant_id = %L', e.tbl, :'ta'))
  FROM (VALUES ('cart_items', 'cart_id', quote_literal(:'cart_ma')),
               ('order_lines', 'order_id', quote_literal(:'order_ma')),
               ('payments', 'order_id', quote_literal(:'order_ma')),
               ('document_versions', 'document_id', quote_literal(:'d1') || ',' || quote_literal(:'d3')),
               ('document_shares', 'document_id', quote_literal(:'d3')),
               ('document_activity', 'document_id', quote_literal(:'d1') || ',' || quote_literal(:'d3'))) x(tbl, col, mine)
 WHERE e.tbl = x.tbl;
SELECT is((SELECT count(*)::int FROM expected WHERE mine <> '' AND all_a LIKE '%,%' AND mine <> all_a), 11,
          'fixtures: each table has rows of the member''s and others of A''s');
GRANT SELECT ON expected TO :"gw", :"analyst";

-- 1. The member of A through the coordinator: on A's shard (router), the helper asked there, and
-- every shard.
SET SESSION AUTHORIZATION :"gw";
BEGIN;
SELECT coditect.set_request_context(:'ta', :'ma', 'member');
CREATE TEMP TABLE seen_member AS
SELECT e.tbl, pg_temp.ids(format('SELECT id FROM coditect.%I WHERE tenant_id = %L', e.tbl, :'ta')) AS seen_a,
       pg_temp.ids(format('SELECT id FROM coditect.%I WHERE tenant_id = %L AND (%s)', e.tbl, :'ta', e.helper)) AS by_helper,
       pg_temp.ids(format('SELECT id FROM coditect.%I', e.tbl)) AS seen_all, e.mine
  FROM expected e;
COMMIT;
SELECT ok(string_to_array(seen_a, ',') @> string_to_array(mine, ',') AND string_to_array(by_helper, ',') @> string_to_array(mine, ','),
          'member: ' || tbl || ' shows the member''s rows, and its policy''s helper on the shard passes them')
  FROM seen_member ORDER BY tbl;
-- The document helpers read with the owner's rights (grants, folders): their answer on the
-- shard is the member's set exactly, whatever the shards' policies.
SELECT is(by_helper, mine, 'member: ' || tbl || ', the policy''s helper on the shard passes the member''s rows only')
  FROM seen_member WHERE tbl LIKE 'document%' OR tbl = 'folders' ORDER BY tbl;
SELECT is(seen_all, mine, 'member: ' || tbl || ' shows the member''s rows only') FROM seen_member ORDER BY tbl;
SELECT is(by_helper, mine, 'member: ' || tbl || ', the policy''s helper on the shard passes the member''s rows only')
  FROM seen_member WHERE tbl IN ('cart_items', 'order_lines', 'payments') ORDER BY tbl;

-- 2. A's owner: all of A's rows, and the helpers on the shard pass them.
BEGIN;
SELECT coditect.set_request_context(:'ta', :'oa', 'owner');
CREATE TEMP TABLE seen_owner AS
SELECT e.tbl, pg_temp.ids(format('SELECT id FROM coditect.%I WHERE tenant_id = %L', e.tbl, :'ta')) AS seen_a,
       pg_temp.ids(format('SELECT id FROM coditect.%I WHERE tenant_id = %L AND (%s)', e.tbl, :'ta', e.helper)) AS by_helper,
       pg_temp.ids(format('SELECT id FROM coditect.%I', e.tbl)) AS seen_all, e.all_a
  FROM expected e;
COMMIT;
SELECT is(seen_a, all_a, 'owner: ' || tbl || ' shows all of A''s rows') FROM seen_owner ORDER BY tbl;
SELECT is(by_helper, all_a, 'owner: ' || tbl || ', the policy''s helper on the shard passes all of A''s rows')
  FROM seen_owner WHERE tbl IN ('cart_items', 'order_lines', 'payments', 'document_versions', 'document_permissions',
                                'document_shares', 'document_activity') ORDER BY tbl;
SELECT is(seen_all, all_a, 'owner: ' || tbl || ' shows A''s rows only') FROM seen_owner ORDER BY tbl;
RESET SESSION AUTHORIZATION;

-- 3. A context without a user (a bound analyst of A): all of A's documents, folders, versions,
-- shares and activity. (Not carts and orders, whose policies call has_permission, nor grants,
-- whose policy's grant_target_level names coditect_internal in its body: analysts may execute
-- neither, on one node as here.)
SET SESSION AUTHORIZATION :"analyst";
CREATE TEMP TABLE seen_analyst AS
SELECT e.tbl, pg_temp.ids(format('SELECT id FROM coditect.%I WHERE tenant_id = %L', e.tbl, :'ta')) AS seen_a,
       pg_temp.ids(format('SELECT id FROM coditect.%I', e.tbl)) AS seen_all, e.all_a
  FROM expected e WHERE e.tbl IN ('documents', 'folders', 'document_versions', 'document_shares', 'document_activity');
SELECT is(seen_a, all_a, 'no user (analyst of A): ' || tbl || ' shows all of A''s rows') FROM seen_analyst ORDER BY tbl;
SELECT is(seen_all, all_a, 'no user (analyst of A): ' || tbl || ' shows A''s rows only') FROM seen_analyst ORDER BY tbl;
RESET SESSION AUTHORIZATION;

-- 4. In one transaction, the helpers on the shard see the transaction's own rows: a new cart and
-- order of A with their item and line, written by the superuser (RLS aside: only the rows count).
BEGIN;
INSERT INTO coditect.carts (tenant_id, user_id) VALUES (:'ta', :'ma') RETURNING id AS cart_new \gset
INSERT INTO coditect.cart_items (tenant_id, cart_id, product_id, quantity) VALUES (:'ta', :'cart_new', :'product', 1);
INSERT INTO coditect.orders (tenant_id, user_id, currency, subtotal_amount, tax_amount, total_amount, billing_country_code)
VALUES (:'ta', :'ma', 'USD', 1000, 0, 1000, 'US') RETURNING id AS order_new \gset
INSERT INTO coditect.order_lines (tenant_id, order_id, product_id, product_name, unit_amount, quantity, amount, net_amount, tax_amount, total_amount)
VALUES (:'ta', :'order_new', :'product', 'Helpers', 1000, 1, 0, 0, 0, 0);
-- (Read into variables first: a router statement is sent whole to the shard, pgTAP's is() too.)
SELECT array_agg(coditect_internal.cart_visible(tenant_id, cart_id))::text AS v_cart FROM coditect.cart_items
 WHERE tenant_id = :'ta' AND cart_id = :'cart_new' \gset
SELECT array_agg(coditect_internal.order_visible(tenant_id, order_id))::text AS v_order FROM coditect.order_lines
 WHERE tenant_id = :'ta' AND order_id = :'order_new' \gset
ROLLBACK;
-- (Asserted after the rollback, which would take pgTAP's count of them back too.)
SELECT is(:'v_cart'::text, '{t}'::text, 'cart_visible on the shard sees the cart written earlier in the transaction');
SELECT is(:'v_order'::text, '{t}'::text, 'order_visible on the shard sees the order written earlier in the transaction');

SELECT * FROM finish();

-- The tenants stay (purge_tenant is not distributed yet); a run's slugs are its own.
SELECT coditect.unbind_analyst(:'analyst');
DROP OWNED BY :"gw", :"analyst";
DROP ROLE :"gw", :"analyst";
