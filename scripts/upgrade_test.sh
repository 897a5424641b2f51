#!/usr/bin/env bash
# The upgrade test: for each frozen old version in test/upgrade/ (coditect--<old>.sql, the install
# script as released), installs <old> in a database, writes data through its functions
# (test/upgrade/seed.sql), runs ALTER EXTENSION coditect UPDATE to the current version, checks the
# data is still there and usable (test/upgrade/verify.sql), and checks that the updated schema
# equals a fresh CREATE EXTENSION coditect of the current version in another database
# (test/upgrade/describe_schema.sql, compared with diff -u). Exits non-zero on any failure.
#
#   ./scripts/upgrade_test.sh [OLD_VERSION...]    # default: every frozen version but the current one
#
# The current version must be built and installed (make -j2 && make install) by the caller; the
# script checks that the installed files are this tree's. The frozen install script is copied
# into the PostgreSQL extension directory for the run only. It uses the cluster that PGHOST /
# PGPORT name when PGHOST is a running cluster's data directory (as scripts/test.sh exports
# them), else starts its own temporary one on CODITECT_UPGRADE_PORT (default 54342). The
# PostgreSQL install is shared: run it under the suite's lock, e.g.
#   flock -o /tmp/coditect-suite.lock ./scripts/upgrade_test.sh
source "$(dirname "$0")/lib.sh"

UP=$ROOT/test/upgrade
EXTDIR=$(${PG_CONFIG:-pg_config} --sharedir)/extension
TO=$(ext_version)
MAKE_VERSION=$(sed -n 's/^EXT_VERSION *= *//p' "$ROOT/Makefile")

die() {
  echo "upgrade test: $*" >&2
  exit 1
}

[ "$TO" = "$MAKE_VERSION" ] ||
  die "extension/coditect.control says $TO but the Makefile builds $MAKE_VERSION"
if (($#)); then
  FROMS=("$@")
else
  FROMS=()
  for f in "$UP"/coditect--*.sql; do
    v=${f##*/coditect--}
    v=${v%.sql}
    [ "$v" != "$TO" ] && FROMS+=("$v")
  done
fi
if ((${#FROMS[@]} == 0)); then
  echo "upgrade test: nothing to do, $TO is the only frozen version (test/upgrade/)"
  exit 0
fi

# The server must run this tree's extension, not another worktree's.
[ "$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$EXTDIR/coditect.control" 2>/dev/null)" = "$TO" ] &&
  cmp -s "$ROOT/extension/coditect--$TO.sql" "$EXTDIR/coditect--$TO.sql" ||
  die "the installed extension is not this tree's $TO: run make -j2 && make install first"
cmp -s "$ROOT/coditect.so" "$(${PG_CONFIG:-pg_config} --pkglibdir)/coditect.so" ||
  die "the installed coditect.so is not this tree's: run make -j2 && make install first"
for m in "$ROOT"/migrations/coditect--*--*.sql; do
  [ -e "$m" ] || continue
  cmp -s "$m" "$EXTDIR/$(basename "$m")" || die "$(basename "$m") is not installed as in this tree: run make install first"
done

WORK=$(mktemp -d /tmp/coditect-upgrade.XXXXXX)
chmod 755 "$WORK"
OWN_CLUSTER=
INSTALLED=()   # fixtures copied into EXTDIR: removed at exit
BACKED_UP=()   # files of EXTDIR the fixtures replaced: put back at exit
DATABASES=()
cleanup() {
  local f
  for f in "${INSTALLED[@]}"; do rm -f "$EXTDIR/$f"; done
  for f in "${BACKED_UP[@]}"; do mv -f "$WORK/backup/$f" "$EXTDIR/$f"; done
  if [ -n "$OWN_CLUSTER" ]; then
    cluster_stop "$WORK/data"
  else
    for f in "${DATABASES[@]}"; do
      psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$f\"" >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${PGHOST:-}" ] && [ -f "$PGHOST/PG_VERSION" ] && psql -X -qtA -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
  DATADIR=$PGHOST
  log "upgrade test on the running cluster in $DATADIR (port ${PGPORT:-5432})"
else
  OWN_CLUSTER=1
  DATADIR=$WORK/data
  log "upgrade test on a private cluster in $DATADIR on port ${CODITECT_UPGRADE_PORT:-54342}"
  cluster_start "$DATADIR" "${CODITECT_UPGRADE_PORT:-54342}"
fi

# new_database NAME VERSION: a database with coditect at VERSION (pg_partman in its own schema,
# as create_database in lib.sh).
new_database() {
  DATABASES+=("$1")
  psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS \"$1\"" -c "CREATE DATABASE \"$1\"" &&
    psql -X -q -d "$1" -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "CREATE SCHEMA partman" \
      -c "CREATE EXTENSION pg_partman SCHEMA partman" -c "CREATE EXTENSION coditect VERSION '$2' CASCADE"
}

run_sql() { # DB FILE [psql args]: the file's output, quietly, stopping at the first error
  local db=$1 file=$2
  shift 2
  psql -X -qAt -v ON_ERROR_STOP=1 -d "$db" -f "$file" "$@"
}

status=0
for FROM in "${FROMS[@]}"; do
  passed=0
  failed=0
  fixture=coditect--$FROM.sql
  [ -f "$UP/$fixture" ] || die "no frozen install script test/upgrade/$fixture"
  if [ -e "$EXTDIR/$fixture" ]; then
    if ! cmp -s "$UP/$fixture" "$EXTDIR/$fixture"; then
      mkdir -p "$WORK/backup"
      mv "$EXTDIR/$fixture" "$WORK/backup/$fixture"
      BACKED_UP+=("$fixture")
      install -m 644 "$UP/$fixture" "$EXTDIR/$fixture"
    fi
  else
    INSTALLED+=("$fixture")
    install -m 644 "$UP/$fixture" "$EXTDIR/$fixture"
  fi

  old_db=coditect_upgrade_${FROM//./_}
  fresh_db=coditect_upgrade_fresh
  log "upgrade $FROM -> $TO: install $FROM and write data"
  if ! new_database "$old_db" "$FROM"; then
    echo "not ok - CREATE EXTENSION coditect VERSION '$FROM' failed (with this tree's coditect.so)"
    echo "upgrade $FROM -> $TO: 0 passed, 1 failed"
    status=1
    continue
  fi
  path=$(psql -X -qtA -d "$old_db" -c \
    "SELECT path FROM pg_extension_update_paths('coditect') WHERE source = '$FROM' AND target = '$TO'")
  if [ -z "$path" ]; then
    echo "not ok - no update path from $FROM to $TO: add migrations/coditect--$FROM--$TO.sql (one step per release)"
    echo "upgrade $FROM -> $TO: 0 passed, 1 failed"
    status=1
    continue
  fi
  setup_signing_key "$DATADIR" "$old_db"
  if ! run_sql "$old_db" "$UP/seed.sql" -v from="$FROM" || ! run_sql "$old_db" "$UP/snapshot.sql"; then
    echo "not ok - writing data at $FROM failed (test/upgrade/seed.sql, snapshot.sql)"
    echo "upgrade $FROM -> $TO: 0 passed, 1 failed"
    status=1
    continue
  fi

  log "upgrade $FROM -> $TO: ALTER EXTENSION coditect UPDATE (path $path)"
  if ! psql -X -q -d "$old_db" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "ALTER EXTENSION coditect UPDATE TO '$TO'" >"$WORK/update.log" 2>&1; then
    cat "$WORK/update.log"
    echo "not ok - ALTER EXTENSION coditect UPDATE TO '$TO' failed"
    echo "upgrade $FROM -> $TO: 0 passed, 1 failed"
    status=1
    continue
  fi
  echo "ok - ALTER EXTENSION coditect UPDATE TO '$TO' (path $path)"
  passed=$((passed + 1))

  log "upgrade $FROM -> $TO: the data after the update"
  if ! run_sql "$old_db" "$UP/verify.sql" -v from="$FROM" -v to="$TO" >"$WORK/verify.out"; then
    echo "not ok - test/upgrade/verify.sql stopped (error above)" >>"$WORK/verify.out"
  fi
  cat "$WORK/verify.out"
  passed=$((passed + $(grep -c '^ok' "$WORK/verify.out" || true)))
  failed=$((failed + $(grep -c '^not ok' "$WORK/verify.out" || true)))

  log "upgrade $FROM -> $TO: the updated schema against a fresh install of $TO"
  if ! new_database "$fresh_db" "$TO" || ! run_sql "$fresh_db" "$UP/describe_schema.sql" >"$WORK/fresh.txt" ||
    ! run_sql "$old_db" "$UP/describe_schema.sql" >"$WORK/updated.txt"; then
    echo "not ok - test/upgrade/describe_schema.sql stopped (error above)"
    failed=$((failed + 1))
  elif diff -u --label "fresh CREATE EXTENSION coditect ($TO)" --label "ALTER EXTENSION coditect UPDATE ($FROM -> $TO)" \
    "$WORK/fresh.txt" "$WORK/updated.txt" >"$WORK/schema.diff"; then
    echo "ok - the updated schema equals a fresh install ($(wc -l <"$WORK/fresh.txt") lines of description: $(
      cut -d' ' -f1 "$WORK/fresh.txt" | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}'))"
    passed=$((passed + 1))
  else
    echo "not ok - the updated schema differs from a fresh install ('-' fresh only, '+' updated only):"
    cat "$WORK/schema.diff"
    failed=$((failed + 1))
  fi
  echo "upgrade $FROM -> $TO: $passed passed, $failed failed"
  ((failed == 0)) || status=1
done
exit $status
