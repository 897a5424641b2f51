#!/usr/bin/env bash
# Concurrency test of seat counting, run by test.sh before pg_prove (test/pgtap/85_license_race.sql
# then asserts the outcome): 32 clients race for a 5-seat license with distinct hardware ids,
# then for another 5-seat license all with the same hardware id. Usage: license_race.sh DB
# (RACE_SLUG names the race's tenant, default race: test-citus.sh races once per round.)
source "$(dirname "$0")/lib.sh"
DB=$1
SLUG=${RACE_SLUG:-race}

psql -X -q -1 -d "$DB" -v ON_ERROR_STOP=1 -v slug="$SLUG" <<'SQL'
CREATE ROLE race_gateway LOGIN IN ROLE coditect_gateway;
CREATE SCHEMA race;
GRANT USAGE ON SCHEMA race TO race_gateway;
CREATE TABLE race.ids AS
SELECT coditect.create_tenant('Race', :'slug', 'race@race.test', 'owner@race.test') AS j;
CREATE TABLE race.licenses (name text PRIMARY KEY, id uuid, key_string text);
-- Keys claimed first, as on Citus the licenses' shard trigger only checks the claim.
CREATE TABLE race.new_licenses AS
SELECT (j->>'tenant_id')::uuid AS tenant_id, gen_random_uuid() AS id, coditect.license_key_generate() AS key_string
  FROM race.ids, generate_series(1, 2);
DO $$ BEGIN
    PERFORM coditect_internal.global_key_claim('licenses.key_string', n.key_string, n.tenant_id, n.id) FROM race.new_licenses n;
END $$;
INSERT INTO coditect.licenses (tenant_id, id, key_string, expiry_date, seats_total)
SELECT tenant_id, id, key_string, now() + interval '1 day', 5 FROM race.new_licenses;
INSERT INTO race.licenses
SELECT CASE row_number() OVER (ORDER BY id) WHEN 1 THEN 'distinct' ELSE 'same' END, id, key_string
  FROM coditect.licenses WHERE tenant_id = (SELECT (j->>'tenant_id')::uuid FROM race.ids);
CREATE TABLE race.outcomes (license text NOT NULL, hardware_id text NOT NULL, result text NOT NULL);
GRANT INSERT ON race.outcomes TO race_gateway;
-- A full license is an expected answer in a race, not a failure of the client.
CREATE FUNCTION race.try_acquire(p_key text, p_hardware text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN coditect.license_acquire(p_key, p_hardware)->>'session_id';
EXCEPTION WHEN SQLSTATE 'CD409' THEN
    RETURN 'full';
END $$;
GRANT EXECUTE ON FUNCTION race.try_acquire(text, text) TO race_gateway;
SQL

vars() {
  psql -X -qtA -d "$DB" -c "SELECT format('-D tenant=%s -D user=%s -D key=%s',
      j->>'tenant_id', j->>'user_id', (SELECT key_string FROM race.licenses WHERE name = '$1')) FROM race.ids"
}
script=$(mktemp)
cat >"$script" <<'PGB'
\set n random(1, 1000000000)
BEGIN;
SELECT coditect.set_request_context(:tenant, :user, 'member');
INSERT INTO race.outcomes SELECT :license::text, :hw::text || :client_id::text || '-' || :n::text, race.try_acquire(:key, :hw::text || :client_id::text || '-' || :n::text) WHERE :hw::text <> 'same';
INSERT INTO race.outcomes SELECT :license::text, 'same-machine', race.try_acquire(:key, 'same-machine') WHERE :hw::text = 'same';
COMMIT;
PGB
for name in distinct same; do
  # shellcheck disable=SC2046
  "$PGBIN/pgbench" -n -M prepared -U race_gateway -c 32 -j 2 -t 5 -f "$script" \
    $(vars "$name") -D license="$name" -D hw="$([ "$name" = same ] && echo same || echo hw-)" "$DB" \
    >/dev/null
done
rm -f "$script"
psql -X -qtA -d "$DB" -c "SELECT format('license race: %s attempts, %s seats taken', count(*),
    count(DISTINCT result) FILTER (WHERE result <> 'full')) FROM race.outcomes WHERE license = 'distinct'"
