-- Projects for every tenant of bench.bench_tenants (n, tenant_id, ...), bulk-loaded as superuser
-- (bypasses RLS), interleaved across tenants in created_at order as real traffic would write
-- them, one in 50 soft-deleted; then VACUUM ANALYZE. psql variables, SQL expressions over the
-- tenant t and the project number p:
--   per_tenant     projects of tenant t
--   step           interval between a tenant's consecutive projects
--   tenant_offset  interval added per tenant number, so that tenants' rows do not tie
\ir projects_triggers_off.sql
INSERT INTO coditect.projects (tenant_id, name, description, created_at, updated_at, deleted_at)
SELECT t.tenant_id, 'project-' || p, 'Benchmark project ' || p || ' of tenant ' || t.n, ts, ts,
       CASE WHEN p % 50 = 0 THEN ts + interval '1 day' END
  FROM bench.bench_tenants t
 CROSS JOIN LATERAL generate_series(1, :per_tenant) AS p
 CROSS JOIN LATERAL (SELECT now() - interval '1 year' + p * (:step)
                            + t.n * (:tenant_offset) AS ts) AS x
 ORDER BY ts;
\ir projects_triggers_on.sql
VACUUM (ANALYZE) coditect.projects;
ANALYZE bench.bench_tenants;
