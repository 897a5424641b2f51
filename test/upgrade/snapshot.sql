-- Before the update: every row of the data tables (data_tables.psql), as JSON without
-- updated_at (a migration may backfill a new column). verify.sql checks each is still there.
\set ON_ERROR_STOP 1
\ir data_tables.psql
CREATE TABLE upgrade_test.snapshot (tbl text NOT NULL, row jsonb NOT NULL);
DO $$
DECLARE
    t regclass;
BEGIN
    FOREACH t IN ARRAY pg_temp.data_tables() LOOP
        EXECUTE format('INSERT INTO upgrade_test.snapshot SELECT %L, to_jsonb(x) - %L FROM %s x', t, 'updated_at', t);
    END LOOP;
END
$$;
SELECT format('snapshot: %s rows of %s tables', count(*), count(DISTINCT tbl)) FROM upgrade_test.snapshot;
