-- Tenant isolation over every registered tenant table: a gateway login with tenant A's context
-- sees, inserts, updates and deletes nothing of tenant B; references across tenants fail; with
-- no context nothing is visible. Driven by coditect_internal.tenant_tables, so tables added by
-- later domains are covered once they have fixture rows (a test below insists on that).
BEGIN;
SELECT no_plan();

CREATE ROLE tap_gateway LOGIN IN ROLE coditect_gateway;
CREATE SCHEMA tap;
GRANT USAGE ON SCHEMA tap TO PUBLIC;

-- Fixtures: two tenants with a row in every tenant table.
CREATE TABLE tap.ids AS
SELECT 'A'::text AS k, coditect.create_tenant('Tenant A', 'tenant-a', 'a@a.test', 'owner@a.test') AS j
UNION ALL
SELECT 'B', coditect.create_tenant('Tenant B', 'tenant-b', 'b@b.test', 'owner@b.test');
CREATE FUNCTION tap.tid(text) RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT (j->>'tenant_id')::uuid FROM tap.ids WHERE k = $1 $$;
CREATE FUNCTION tap.uid(text) RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT (j->>'user_id')::uuid FROM tap.ids WHERE k = $1 $$;
GRANT SELECT ON tap.ids TO PUBLIC;

INSERT INTO coditect.teams (tenant_id, name) SELECT tap.tid(k), 'Team ' || k FROM tap.ids;
INSERT INTO coditect.team_members (tenant_id, team_id, user_id)
SELECT t.tenant_id, t.id, tap.uid(k) FROM coditect.teams t JOIN tap.ids ON t.tenant_id = tap.tid(k);
INSERT INTO coditect.projects (tenant_id, name) SELECT tap.tid(k), 'Project ' || k FROM tap.ids;
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) SELECT tap.tid(k), now() + interval '1 year', 3 FROM tap.ids;
INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date)
SELECT p.tenant_id, p.id, 'Sprint ' || k, current_date, current_date + 14 FROM coditect.projects p JOIN tap.ids ON p.tenant_id = tap.tid(k);
INSERT INTO coditect.milestones (tenant_id, project_id, title)
SELECT p.tenant_id, p.id, 'Milestone ' || k FROM coditect.projects p JOIN tap.ids ON p.tenant_id = tap.tid(k);
INSERT INTO coditect.tasks (tenant_id, project_id, title, sprint_id, milestone_id, assignee_id)
SELECT p.tenant_id, p.id, 'Task ' || k, s.id, m.id, tap.uid(k)
  FROM coditect.projects p JOIN tap.ids ON p.tenant_id = tap.tid(k)
  JOIN coditect.sprints s ON s.tenant_id = p.tenant_id JOIN coditect.milestones m ON m.tenant_id = p.tenant_id;
INSERT INTO coditect.task_comments (tenant_id, task_id, author_id, content)
SELECT t.tenant_id, t.id, tap.uid(k), 'Comment ' || k FROM coditect.tasks t JOIN tap.ids ON t.tenant_id = tap.tid(k);
INSERT INTO coditect.boards (tenant_id, project_id, name)
SELECT p.tenant_id, p.id, 'Board ' || k FROM coditect.projects p JOIN tap.ids ON p.tenant_id = tap.tid(k);
INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id)
SELECT l.tenant_id, l.id, tap.uid(k), 'machine-' || k FROM coditect.licenses l JOIN tap.ids ON l.tenant_id = tap.tid(k);
-- File storage: the same bytes in both tenants (each its own blob), a chunk and an upload each.
INSERT INTO coditect.storage_blobs (tenant_id, sha256, size_bytes, status, ref_count)
SELECT tap.tid(k), sha256('\x01'::bytea), 1, 'ready', 1 FROM tap.ids;
INSERT INTO coditect.storage_chunks (tenant_id, blob_id, seq, data)
SELECT b.tenant_id, b.id, 0, '\x01' FROM coditect.storage_blobs b JOIN tap.ids ON b.tenant_id = tap.tid(k);
INSERT INTO coditect.upload_sessions (tenant_id, user_id, blob_id, upload_length, upload_offset, hash_state, status,
                                      expires_at, completed_at)
SELECT b.tenant_id, tap.uid(k), b.id, 1, 1, coditect_internal.sha256_resume(NULL, '\x01'), 'completed', now() + interval '1 day', now()
  FROM coditect.storage_blobs b JOIN tap.ids ON b.tenant_id = tap.tid(k);
-- Documents: a folder with a document (its owner the tenant's owner) and a version, and a grant.
INSERT INTO coditect.folders (tenant_id, name) SELECT tap.tid(k), 'Folder ' || k FROM tap.ids;
INSERT INTO coditect.documents (tenant_id, folder_id, title, owner_id)
SELECT f.tenant_id, f.id, 'Document ' || k, tap.uid(k) FROM coditect.folders f JOIN tap.ids ON f.tenant_id = tap.tid(k);
INSERT INTO coditect.document_versions (tenant_id, document_id, version_number, blob_id, file_path, file_name, file_size_bytes,
                                        mime_type, checksum)
SELECT d.tenant_id, d.id, 0, b.id, 'db:' || encode(b.sha256, 'hex'), 'a.bin', 1, 'application/octet-stream', encode(b.sha256, 'hex')
  FROM coditect.documents d JOIN coditect.storage_blobs b ON b.tenant_id = d.tenant_id;
UPDATE coditect.storage_blobs SET ref_count = ref_count + 1;
INSERT INTO coditect.document_permissions (tenant_id, document_id, user_id, permission_level)
SELECT d.tenant_id, d.id, tap.uid(k), 'admin' FROM coditect.documents d JOIN tap.ids ON d.tenant_id = tap.tid(k);
INSERT INTO coditect.task_attachments (tenant_id, task_id, uploader_id, filename, file_path, file_size_bytes, mime_type, checksum, blob_id)
SELECT t.tenant_id, t.id, tap.uid(k), 'a.bin', 'db:' || encode(b.sha256, 'hex'), 1, 'application/octet-stream', encode(b.sha256, 'hex'), b.id
  FROM coditect.tasks t JOIN tap.ids ON t.tenant_id = tap.tid(k) JOIN coditect.storage_blobs b ON b.tenant_id = t.tenant_id;
UPDATE coditect.storage_blobs SET ref_count = ref_count + 1;
-- A share of the document (its activity, "uploaded" and "shared", comes from the triggers).
INSERT INTO coditect.document_shares (tenant_id, document_id, share_token_hash, expires_at)
SELECT d.tenant_id, d.id, encode(sha256(convert_to('share ' || k, 'UTF8')), 'hex'), now() + interval '1 day'
  FROM coditect.documents d JOIN tap.ids ON d.tenant_id = tap.tid(k);
-- A webhook endpoint and a delivery to it (its secret comes from the endpoint's trigger).
INSERT INTO coditect.webhook_endpoints (tenant_id, name, url) SELECT tap.tid(k), 'ops', 'https://hooks.' || k || '.test/' FROM tap.ids;
INSERT INTO coditect.webhook_deliveries (tenant_id, endpoint_id, event, payload, url)
SELECT e.tenant_id, e.id, 'workflow.failed', jsonb_build_object('tenant', k), e.url
  FROM coditect.webhook_endpoints e JOIN tap.ids ON e.tenant_id = tap.tid(k);
-- An audit review (by the owner) and a compliance report being generated.
INSERT INTO coditect.audit_reviews (tenant_id, reviewer_id, review_type, scope_start_date, scope_end_date)
SELECT tap.tid(k), tap.uid(k), 'access', '2026-01-01', '2026-01-31' FROM tap.ids;
INSERT INTO coditect.compliance_reports (tenant_id, report_type, period_start, period_end, generated_by)
SELECT tap.tid(k), 'gdpr', '2026-01-01', '2026-01-31', tap.uid(k) FROM tap.ids;
-- Contacts: the tenant's billing address and phone number, its owner's e-mail.
INSERT INTO coditect.addresses (tenant_id, entity_type, entity_id, address_type, address_line1, city, state_code, country_code)
SELECT tap.tid(k), 'tenant', tap.tid(k), 'billing', '1 Main St', 'Albany', 'US-NY', 'US' FROM tap.ids;
INSERT INTO coditect.phone_numbers (tenant_id, entity_type, entity_id, phone_type, region_code, phone_number)
SELECT tap.tid(k), 'tenant', tap.tid(k), 'work', 'US', '(201) 555-0123' FROM tap.ids;
INSERT INTO coditect.email_addresses (tenant_id, entity_type, entity_id, email_type, email)
SELECT tap.tid(k), 'user', tap.uid(k), 'work', 'contact@' || lower(k) || '.test' FROM tap.ids;
-- Commerce: an open cart with an item each, and a paid order with its line, payment and a
-- partial refund.
INSERT INTO coditect.products (name, unit_amount, currency) VALUES ('Isolation product', 1000, 'USD');
INSERT INTO coditect.carts (tenant_id, user_id) SELECT tap.tid(k), tap.uid(k) FROM tap.ids;
INSERT INTO coditect.cart_items (tenant_id, cart_id, product_id, quantity)
SELECT c.tenant_id, c.id, p.id, 1 FROM coditect.carts c, coditect.products p WHERE p.name = 'Isolation product';
INSERT INTO coditect.orders (tenant_id, user_id, currency, subtotal_amount, tax_amount, total_amount, billing_country_code)
SELECT tap.tid(k), tap.uid(k), 'USD', 1000, 0, 1000, 'US' FROM tap.ids;
INSERT INTO coditect.order_lines (tenant_id, order_id, product_id, product_name, unit_amount, quantity, amount, net_amount, tax_amount, total_amount)
SELECT o.tenant_id, o.id, p.id, p.name, 1000, 1, 0, 0, 0, 0 FROM coditect.orders o, coditect.products p WHERE p.name = 'Isolation product';
INSERT INTO coditect.payments (tenant_id, order_id, amount, currency, status)
SELECT tenant_id, id, 1000, 'USD', 'succeeded' FROM coditect.orders;
INSERT INTO coditect.refunds (tenant_id, payment_id, order_id, amount, currency, status)
SELECT tenant_id, id, order_id, 100, 'USD', 'succeeded' FROM coditect.payments;

-- Workflows: a published one waiting at an approval, so that each tenant has an execution, its
-- steps and an approval.
INSERT INTO coditect.workflows (tenant_id, name, definition)
SELECT tap.tid(k), 'Workflow ' || k,
       '{"nodes": [{"id": "s", "type": "start"}, {"id": "ok", "type": "approval", "settings": {"min_role": "owner"}}, {"id": "e", "type": "end"}],
         "edges": [{"from": "s", "to": "ok"}, {"from": "ok", "to": "e", "on": "approved"}]}'
  FROM tap.ids;
UPDATE coditect.workflows SET status = 'active';
SELECT count(coditect_internal.workflow_start_as(w.tenant_id, w.id, '{}', 'manual', NULL)) AS _ FROM coditect.workflows w \gset

-- A subscription (trialing: entitled at once) and its entitlement.
INSERT INTO coditect.products (name, unit_amount, currency, recurring_interval, trial_period_days)
VALUES ('Isolation plan', 1000, 'USD', 'month', 7);
INSERT INTO coditect.subscriptions (tenant_id, product_id, current_period_end)
SELECT tap.tid(k), (SELECT id FROM coditect.products WHERE name = 'Isolation plan'), now() + interval '1 day' FROM tap.ids;

-- An invoice of the subscription, paid by the payment.
INSERT INTO coditect.invoices (tenant_id, status, currency, subtotal_amount, tax_amount, total_amount, amount_due, amount_paid,
                               amount_remaining, subscription_id, stripe_invoice_id)
SELECT s.tenant_id, 'paid', 'USD', 1000, 0, 1000, 1000, 1000, 0, s.id, 'in_isolation_' || s.tenant_id FROM coditect.subscriptions s;
UPDATE coditect.payments p SET invoice_id = i.id FROM coditect.invoices i WHERE i.tenant_id = p.tenant_id;

-- Generic probes, run as the gateway login.
CREATE FUNCTION tap.count_rows(t regclass, tenant uuid) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s WHERE tenant_id = $1', t) USING tenant INTO n;
    RETURN n;
END $$;
CREATE TABLE tap.protected AS
SELECT relid AS t, coditect_internal.protected_insert_columns(relid) AS cols FROM coditect_internal.tenant_tables;
GRANT SELECT ON tap.protected TO PUBLIC;
-- Copies one row of `src` visible to the caller into tenant `dst`, writing only the columns the
-- gateway may insert (so that column privileges and the columns that are the database's on
-- insert cannot be what stops it); returns 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION tap.insert_copy(t regclass, src uuid, dst uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    cols text;
    vals text;
BEGIN
    EXECUTE format('SELECT to_jsonb(x) FROM %s x WHERE tenant_id = $1 LIMIT 1', t) USING src INTO r;
    IF r IS NULL THEN RETURN 'no source row'; END IF;
    r := r || jsonb_build_object('id', coditect.uuid_generate_v7());
    -- A VALUES row with the tenant as a parameter: Citus routes it to the tenant's shard (an
    -- INSERT ... SELECT from the record is run as a COPY there, refused under RLS).
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum),
           string_agg(CASE WHEN attname = 'tenant_id' THEN '$2'
                           ELSE format('(jsonb_populate_record(NULL::%s, $1)).%I', t, attname) END, ', ' ORDER BY attnum)
      INTO cols, vals FROM pg_attribute
     WHERE attrelid = t AND attnum > 0 AND NOT attisdropped
       AND has_column_privilege('coditect_gateway', t, attname, 'INSERT') AND attgenerated = ''
       AND attname <> ALL (coalesce((SELECT p.cols FROM tap.protected p WHERE p.t = insert_copy.t), '{}'));
    EXECUTE format('INSERT INTO %s (%s) VALUES (%s)', t, cols, vals) USING r, dst;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- Sets a column the gateway may update to itself on the tenant's rows; returns the row count.
CREATE FUNCTION tap.touch_rows(t regclass, tenant uuid) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    col name;
BEGIN
    SELECT attname INTO col FROM pg_attribute
     WHERE attrelid = t AND attnum > 0 AND NOT attisdropped
       AND has_column_privilege('coditect_gateway', t, attname, 'UPDATE')
     ORDER BY attnum LIMIT 1;
    EXECUTE format('UPDATE %s SET %I = %I WHERE tenant_id = $1', t, col, col) USING tenant;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
CREATE FUNCTION tap.delete_rows(t regclass, tenant uuid) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('DELETE FROM %s WHERE tenant_id = $1', t) USING tenant;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
-- Moves the caller's rows to another tenant; returns the SQLSTATE or 'ok'.
CREATE FUNCTION tap.move_rows(t regclass, src uuid, dst uuid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %s SET tenant_id = $2 WHERE tenant_id = $1', t) USING src, dst;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tap TO PUBLIC;

-- What the gateway may write itself, each probe where it applies (storage tables are written only
-- by their definer functions, task attachments are made by uploads: a test below checks that
-- the gateway holds no privilege a probe skips).
CREATE TABLE tap.tables AS
SELECT relid AS t, resource,
       has_any_column_privilege('coditect_gateway', relid, 'INSERT') AS inserts,
       has_any_column_privilege('coditect_gateway', relid, 'UPDATE') AS updates,
       has_table_privilege('coditect_gateway', relid, 'DELETE') AS deletes
  FROM coditect_internal.tenant_tables WHERE relid <> 'coditect.tenants'::regclass;
GRANT SELECT ON tap.tables TO PUBLIC;
-- B's rows as they were, to prove nothing of them changed.
CREATE TABLE tap.snapshot AS SELECT t, tap.count_rows(t, tap.tid('B')) AS n FROM tap.tables;

SELECT cmp_ok(tap.count_rows(t, tap.tid('A')), '>', 0::bigint, resource || ': fixture has rows for A')
  FROM tap.tables ORDER BY resource;
SELECT cmp_ok(tap.count_rows(t, tap.tid('B')), '>', 0::bigint, resource || ': fixture has rows for B')
  FROM tap.tables ORDER BY resource;

-- The one refusal Citus gives itself (a change of the tenant column: 0A000, see the helper).
\ir lib/refusal.psql
SET ROLE tap_gateway;

-- No context: nothing at all.
SELECT is(tap.count_rows(t, tap.tid('A')) + tap.count_rows(t, tap.tid('B')), 0::bigint,
          resource || ': nothing visible without a context')
  FROM tap.tables ORDER BY resource;
SELECT is((SELECT count(*) FROM coditect.tenants), 0::bigint, 'tenants: nothing visible without a context');
SELECT is(tap.insert_copy(t, tap.tid('A'), tap.tid('A')), 'no source row',
          resource || ': nothing to copy without a context')
  FROM tap.tables ORDER BY resource;

SELECT lives_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner')$$, tap.tid('A'), tap.uid('A')),
                'the gateway sets tenant A''s context');

SELECT cmp_ok(tap.count_rows(t, tap.tid('A')), '>', 0::bigint, resource || ': A sees its own rows')
  FROM tap.tables ORDER BY resource;
SELECT is(tap.count_rows(t, tap.tid('B')), 0::bigint, resource || ': A sees none of B''s rows')
  FROM tap.tables ORDER BY resource;
SELECT alike(pg_temp.insert_refusal(t, tap.insert_copy(t, tap.tid('A'), tap.tid('B')), '42501: new row violates row-level security policy'),
             '42501: new row violates row-level security policy%',
             resource || ': the policy stops A inserting a row for B')
  FROM tap.tables WHERE inserts ORDER BY resource;
-- Control: the same copy into A passes the policy (it may then clash with a unique key).
SELECT unalike(tap.insert_copy(t, tap.tid('A'), tap.tid('A')), '%row-level security%',
               resource || ': ... while the same copy into A passes the policy')
  FROM tap.tables WHERE inserts ORDER BY resource;
SELECT is(tap.touch_rows(t, tap.tid('B')), 0::bigint, resource || ': A updates none of B''s rows')
  FROM tap.tables WHERE updates ORDER BY resource;
SELECT is(tap.delete_rows(t, tap.tid('B')), 0::bigint, resource || ': A deletes none of B''s rows')
  FROM tap.tables WHERE deletes ORDER BY resource;
SELECT ok(NOT CASE p WHEN 'INSERT' THEN inserts WHEN 'UPDATE' THEN updates ELSE deletes END,
          format('%s: the gateway has no %s (written by its functions only)', resource, p))
  FROM tap.tables, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) p
 WHERE resource IN ('blob', 'upload', 'storage_chunk', 'document_version', 'workflow_execution', 'workflow_step', 'workflow_approval',
                    'entitlement')
    OR (resource = 'task_attachment' AND p = 'INSERT')
 ORDER BY resource, p;
SELECT is(pg_temp.refusal(t, tap.move_rows(t, tap.tid('A'), tap.tid('B')), '42501'), '42501',
          resource || ': A cannot move its rows to B (refused with 42501, or 0A000 on Citus)')
  FROM tap.tables ORDER BY resource;

SELECT is((SELECT count(*) FROM coditect.tenants), 1::bigint, 'tenants: A sees only itself');
SELECT is((SELECT id FROM coditect.tenants), tap.tid('A'), 'tenants: and that row is A');
SELECT is((SELECT count(*) FROM coditect.audit_logs WHERE tenant_id <> tap.tid('A')), 0::bigint,
          'audit_logs: A sees none of B''s audit rows');
SELECT cmp_ok((SELECT count(*) FROM coditect.audit_logs), '>', 0::bigint, 'audit_logs: A sees its own audit rows');
SELECT lives_ok($$UPDATE coditect.tenants SET name = 'Renamed A'$$, 'A may edit its own profile');
SELECT is((SELECT name::text FROM coditect.tenants), 'Renamed A', '... and the edit is applied');
SELECT throws_ok($$UPDATE coditect.tenants SET seats_total = 500$$, '42501', NULL,
                 'the gateway may not change seats (service-only column)');
SELECT throws_ok($$UPDATE coditect.tenants SET license_tier = 'enterprise'$$, '42501', NULL,
                 'the gateway may not change the plan');
SELECT throws_ok($$INSERT INTO coditect.tenants (name, slug, email) VALUES ('X', 'x', 'x@x.test')$$,
                 '42501', NULL, 'the gateway cannot create tenants directly');
SELECT throws_ok($$DELETE FROM coditect.tenants$$, '42501', NULL, 'the gateway cannot delete tenants');

-- Composite keys: a tenant-A row cannot point at a tenant-B row, even knowing its id.
SELECT throws_ok(format($$INSERT INTO coditect.memberships (tenant_id, user_id) VALUES (%L, %L)$$,
                        tap.tid('A'), tap.uid('B')),
                 '23503', NULL, 'membership of A referencing a user of B is rejected');
SELECT throws_ok(format($$INSERT INTO coditect.team_members (tenant_id, team_id, user_id)
                          VALUES (%L, %L, %L)$$,
                        tap.tid('A'), (SELECT id FROM coditect.teams LIMIT 1), tap.uid('B')),
                 '23503', NULL, 'team member of A referencing a user of B is rejected');
RESET ROLE;
-- B's values are read into psql variables before the assertions that use them: on Citus a
-- statement that reads only B's shard runs whole on that shard's node, a pgTAP call in it too,
-- away from this session's test state.
SELECT (SELECT id FROM coditect.teams WHERE tenant_id = tap.tid('B')) AS team_b,
       (SELECT count(*) FROM coditect.projects WHERE tenant_id = tap.tid('B') AND deleted_at IS NOT NULL) AS b_deleted_projects,
       (SELECT name::text FROM coditect.tenants WHERE id = tap.tid('B')) AS b_name \gset
SELECT throws_ok(format($$INSERT INTO coditect.team_members (tenant_id, team_id, user_id)
                          VALUES (%L, %L, %L)$$,
                        tap.tid('A'), :'team_b', tap.uid('A')),
                 '23503', NULL, 'even a superuser cannot attach A''s user to B''s team');

SELECT is(tap.count_rows(s.t, tap.tid('B')), s.n, r.resource || ': B''s rows are all still there')
  FROM tap.snapshot s JOIN tap.tables r ON r.t = s.t ORDER BY r.resource;
SELECT is(:'b_deleted_projects'::bigint, 0::bigint, 'projects: none of B''s were soft-deleted');
SELECT is(:'b_name'::text, 'Tenant B', 'tenants: B unchanged');

SELECT * FROM finish();
ROLLBACK;
