#!/usr/bin/env bash
# Runs every test: C++ unit tests (ctest) and the pgTAP suite (pg_prove) against a private,
# temporary PostgreSQL cluster. Exits non-zero on any failure.
source "$(dirname "$0")/lib.sh"

install_deps
build_extension

log "unit tests (ctest)"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build" -j2 >/dev/null
(cd "$ROOT/build" && ctest --output-on-failure)

DATADIR=$(mktemp -d /tmp/coditect-test.XXXXXX)
PORT=${CODITECT_TEST_PORT:-54329}
trap 'cluster_stop "$DATADIR"; rm -rf "$DATADIR"' EXIT
log "starting a private cluster in $DATADIR on port $PORT"
cluster_start "$DATADIR" "$PORT"
create_database coditect_test
psql -X -q -d coditect_test -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION pgtap'
setup_signing_key "$DATADIR" coditect_test
# A second key for the rotation test in test/pgtap/80_licenses.sql.
openssl genpkey -algorithm ed25519 -out "$DATADIR/rotation.pem" 2>/dev/null
chown postgres:postgres "$DATADIR/rotation.pem"
psql -X -q -d postgres -c "ALTER DATABASE coditect_test SET tap.rotation_key_file = '$DATADIR/rotation.pem'"

log "CREATE EXTENSION coditect CASCADE on a bare database, then drop and create again"
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c 'CREATE DATABASE coditect_bare'
psql -X -q -d coditect_bare -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION coditect CASCADE;
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_inherits WHERE inhparent = 'coditect.audit_logs'::regclass) < 5 THEN
        RAISE EXCEPTION 'audit_logs has no partitions';
    END IF;
END $$;
DROP EXTENSION coditect;
CREATE EXTENSION coditect;
SELECT coditect.create_tenant('Bare', 'bare', 'bare@bare.test', 'owner@bare.test') IS NOT NULL AS created;
SQL
echo "bare-database install: 1 passed, 0 failed"

log "license seat race (pgbench, checked by test/pgtap/85_license_race.sql)"
"$ROOT/scripts/license_race.sh" coditect_test

log "pgTAP (pg_prove)"
pg_prove -d coditect_test --ext .sql -r "$ROOT/test/pgtap"
