#!/usr/bin/env bash
# bench/documents.sh: listing a folder of DOCS (10,000) documents with the permission checks
# (issue 10), for a member against the tenant's owner.
#
# One tenant; a folder "Big" holding DOCS documents of the owner; a team holding the member,
# granted view on the folder (so every document is the member's by inheritance, and row-level
# security asks coditect_internal.document_grant() for each row); DOCS / 10 more documents
# elsewhere that the member may not see. Every transaction, as login bench_gw (member of
# coditect_gateway, RLS applies), is one pipeline:
#   BEGIN READ ONLY; set_request_context(tenant, user, role, ...);
#   SELECT coditect.api_documents_list_by_folder(folder, '{}', 1, PAGE_SIZE, NULL); COMMIT
# as the owner (sees everything by role) and as the member (by the folder's grant), interleaved
# in slices. Printed: tps, p50 and p99 of each, their ratios member / owner. The page carries the
# count, so each call checks every row of the folder.
#
# Runs its own throw-away cluster on CODITECT_BENCH_PORT (54346); reports only, asserts nothing
# about timing. Knobs: DOCS PAGE_SIZE CLIENTS DURATION ROUNDS WARMUP.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=${CODITECT_BENCH_PORT:-54346}
DB=coditect_bench_documents
DOCS=${DOCS:-10000}
PAGE_SIZE=${PAGE_SIZE:-50}
CLIENTS=${CLIENTS:-2}
DURATION=${DURATION:-15} # measured seconds per role, split into ROUNDS slices
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
# shellcheck disable=SC2034 # bench_pgbench_slice's (lib.sh)
PGBENCH=$PGBIN/pgbench
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))

install_deps
build_extension
bench_prepare documents "$PORT"
bench_cluster "$PORT"
create_database "$DB"
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

log "loading: a folder of $DOCS documents, $((DOCS / 10)) elsewhere"
sql -o /dev/null <<SQL
CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway;
SELECT coditect.create_tenant('Docs', 'bench-docs', 'docs@bench.test', 'owner@bench.test') AS j \gset
SELECT :'j'::jsonb ->> 'tenant_id' AS tenant, :'j'::jsonb ->> 'user_id' AS owner \gset
INSERT INTO coditect.users (tenant_id, email, role) VALUES (:'tenant', 'member@bench.test', 'member') RETURNING id AS member \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'tenant', :'member', 'member');
INSERT INTO coditect.teams (tenant_id, name) VALUES (:'tenant', 'Readers') RETURNING id AS team \gset
INSERT INTO coditect.team_members (tenant_id, team_id, user_id) VALUES (:'tenant', :'team', :'member');
INSERT INTO coditect.folders (tenant_id, name, created_by) VALUES (:'tenant', 'Big', :'owner') RETURNING id AS folder \gset
INSERT INTO coditect.folders (tenant_id, name, created_by) VALUES (:'tenant', 'Private', :'owner') RETURNING id AS private \gset
INSERT INTO coditect.document_permissions (tenant_id, folder_id, team_id, permission_level) VALUES (:'tenant', :'folder', :'team', 'view');
INSERT INTO coditect.documents (tenant_id, folder_id, title, owner_id, created_by, updated_by)
SELECT :'tenant', :'folder', 'Document ' || g, :'owner', :'owner', :'owner' FROM generate_series(1, $DOCS) g;
INSERT INTO coditect.documents (tenant_id, folder_id, title, owner_id, created_by, updated_by)
SELECT :'tenant', :'private', 'Hidden ' || g, :'owner', :'owner', :'owner' FROM generate_series(1, $DOCS / 10) g;
CREATE SCHEMA bench;
CREATE TABLE bench.ids AS SELECT :'tenant'::uuid AS tenant, :'owner'::uuid AS owner, :'member'::uuid AS member, :'folder'::uuid AS folder;
GRANT USAGE ON SCHEMA bench TO bench_gw;
GRANT SELECT ON bench.ids TO bench_gw;
VACUUM ANALYZE;
SQL

# Both roles' answers are checked before measuring: the whole folder, page and count.
check=$(sql -At <<'SQL'
SET ROLE bench_gw;
BEGIN;
SELECT coditect.set_request_context(tenant, member, 'member') FROM bench.ids \gset
SELECT (l ->> 'count') || ' ' || jsonb_array_length(l -> 'results') FROM bench.ids,
       LATERAL coditect.api_documents_list_by_folder(folder, '{}', 1, 50) l;
COMMIT;
SQL
)
[ "$check" = "$DOCS 50" ] || { echo "the member's list is wrong: $check (want $DOCS 50)" >&2; exit 1; }

for role in owner member; do
  cat >"$WORK/$role.sql" <<SQL
\set r random(1, 1000000000)
SELECT tenant, $role AS uid, folder FROM bench.ids \gset
\startpipeline
BEGIN READ ONLY;
SELECT coditect.set_request_context(:tenant, :uid, '$role', '127.0.0.1', 'pgbench', 'GET', '/api/v1/folders/', 'pgb-' || :client_id || '-' || :r);
SELECT coditect.api_documents_list_by_folder(:folder, '{}', 1, $PAGE_SIZE, NULL);
COMMIT;
\endpipeline
SQL
done
slice() { bench_pgbench_slice "$1" "$WORK/$1.sql" "$CLIENTS" "$2"; }
bench_slices owner member

read -r o_tps o_p50 o_p99 o_n <<<"$(bench_figures owner)"
read -r m_tps m_p50 m_p99 m_n <<<"$(bench_figures member)"
echo
echo "A folder of $DOCS documents, page of $PAGE_SIZE with the count, as its tenant's owner and as a member"
echo "  whose view comes from a team grant on the folder; $CLIENTS clients, $ROUNDS interleaved slices of ${SLICE}s"
echo "  after ${WARMUP}s of warm-up; $(nproc) CPUs; commit $(git -C "$ROOT" rev-parse --short HEAD)"
printf '%-8s %10s %10s %10s %12s\n' role tps 'p50 ms' 'p99 ms' transactions
printf '%-8s %10s %10s %10s %12s\n' owner "$o_tps" "$o_p50" "$o_p99" "$o_n"
printf '%-8s %10s %10s %10s %12s\n' member "$m_tps" "$m_p50" "$m_p99" "$m_n"
awk -v a="$m_p50" -v b="$o_p50" -v c="$m_p99" -v d="$o_p99" -v e="$m_tps" -v f="$o_tps" \
  'BEGIN { printf "member / owner: p50 %.2f, p99 %.2f, tps %.2f\n", a / b, c / d, e / f }'
