-- Catalog-driven checks over every table of schema coditect with a tenant_id column, so that
-- tables added by later domains are held to the same rules without new tests.
BEGIN;
SELECT no_plan();

CREATE TEMP TABLE tenant_tables AS
SELECT c.oid::regclass AS rel, c.relname::text AS name
  FROM pg_class c
 WHERE c.relnamespace = 'coditect'::regnamespace
   AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped);

SELECT cmp_ok((SELECT count(*)::int FROM tenant_tables), '>=', 6, 'the catalog walk finds the tenant tables');

SELECT ok(c.relrowsecurity AND c.relforcerowsecurity, t.name || ': row-level security enabled and forced')
  FROM tenant_tables t JOIN pg_class c ON c.oid = t.rel ORDER BY t.name;

-- (t, or t narrowed further: (t AND ...), coditect_internal.narrow_tenant_policy.)
SELECT ok(EXISTS (SELECT 1 FROM pg_policy p
                   WHERE p.polrelid = t.rel AND p.polcmd IN ('*', 'r')
                     AND (pg_get_expr(p.polqual, p.polrelid) = '(tenant_id = coditect.current_tenant_id())'
                          OR starts_with(pg_get_expr(p.polqual, p.polrelid), '((tenant_id = coditect.current_tenant_id()) AND ')))
          AND (t.name = 'audit_logs'
               OR EXISTS (SELECT 1 FROM pg_policy p
                           WHERE p.polrelid = t.rel AND p.polcmd IN ('*', 'a')
                             AND (pg_get_expr(p.polwithcheck, p.polrelid) = '(tenant_id = coditect.current_tenant_id())'
                                  OR starts_with(pg_get_expr(p.polwithcheck, p.polrelid), '((tenant_id = coditect.current_tenant_id()) AND ')))),
          t.name || ': a tenant policy on coditect.current_tenant_id() for reads and inserts (no subquery)')
  FROM tenant_tables t ORDER BY t.name;

SELECT is((SELECT a.attname::text FROM pg_constraint k
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
            WHERE k.conrelid = t.rel AND k.contype = 'p'),
          'tenant_id', t.name || ': primary key leads with tenant_id')
  FROM tenant_tables t ORDER BY t.name;

-- Every foreign key into another tenant table carries tenant_id on both sides.
SELECT is((SELECT count(*)::int FROM pg_constraint k
            WHERE k.conrelid = t.rel AND k.contype = 'f'
              AND k.confrelid IN (SELECT rel FROM tenant_tables)
              AND NOT EXISTS (SELECT 1 FROM unnest(k.conkey, k.confkey) AS u(l, r)
                                JOIN pg_attribute la ON la.attrelid = k.conrelid AND la.attnum = u.l
                                JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = u.r
                               WHERE la.attname = 'tenant_id' AND ra.attname = 'tenant_id')),
          0, t.name || ': every reference to a tenant table is composite with tenant_id')
  FROM tenant_tables t ORDER BY t.name;

-- audit_logs is exempt: it must outlive purged tenants unchanged.
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint k
                   WHERE k.conrelid = t.rel AND k.contype = 'f'
                     AND k.confrelid = 'coditect.tenants'::regclass),
          t.name || ': references coditect.tenants')
  FROM tenant_tables t WHERE t.name <> 'audit_logs' ORDER BY t.name;

SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = t.rel AND tgname = 'audit_row_change'),
          'A', t.name || ': audit trigger present and ENABLE ALWAYS')
  FROM tenant_tables t WHERE t.name <> 'audit_logs' ORDER BY t.name;

SELECT ok(NOT has_table_privilege(r, t.rel, 'TRUNCATE'), t.name || ': ' || r || ' cannot TRUNCATE')
  FROM tenant_tables t, unnest(ARRAY['coditect_gateway', 'coditect_service', 'coditect_analyst']) r
 ORDER BY t.name, r;

SELECT ok(has_table_privilege('coditect_analyst', t.rel, 'SELECT')
          AND NOT has_table_privilege('coditect_analyst', t.rel, 'INSERT')
          AND NOT has_table_privilege('coditect_analyst', t.rel, 'UPDATE')
          AND NOT has_table_privilege('coditect_analyst', t.rel, 'DELETE'),
          t.name || ': analysts may read and not write')
  FROM tenant_tables t ORDER BY t.name;

-- Partitions are reached through their parent only (direct access would skip the parent's policy).
SELECT ok(NOT has_table_privilege(r, c.oid, 'SELECT') AND NOT has_table_privilege(r, c.oid, 'INSERT'),
          c.relname || ': no direct access for ' || r)
  FROM pg_class c, unnest(ARRAY['coditect_gateway', 'coditect_service', 'coditect_analyst']) r
 WHERE c.relnamespace = 'coditect'::regnamespace AND c.relispartition
 ORDER BY c.relname, r;

-- The tenants table is its own tenant key.
SELECT ok((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'coditect.tenants'::regclass),
          'tenants: row-level security enabled and forced');
SELECT ok(EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = 'coditect.tenants'::regclass
                     AND pg_get_expr(p.polqual, p.polrelid) = '(id = coditect.current_tenant_id())'),
          'tenants: policy on id = coditect.current_tenant_id()');

-- Every table registered through register_tenant_table is one the walk above checked.
SELECT is((SELECT count(*)::int FROM coditect_internal.tenant_tables r
            WHERE r.relid <> 'coditect.tenants'::regclass AND r.relid NOT IN (SELECT rel FROM tenant_tables)),
          0, 'every registered table has a tenant_id column');

SELECT * FROM finish();
ROLLBACK;
