#!/usr/bin/env bash
# bench/commerce.sh: issue 12's commerce paths against the same rows written as plain SQL.
#
#   1. Checkout: a cart of 3 items checked out through coditect.cart_checkout, as login bench_gw
#      (member of coditect_gateway) in the owner's request context, one pipeline per transaction
#      as the gateway sends it: BEGIN; set_request_context(...); cart_checkout(cart, 'US',
#      'US-NY', address); COMMIT. Baseline, as superuser on plain tables (no triggers, policies,
#      checks or foreign keys): the order with its totals, its three lines (the same tax
#      arithmetic) and the cart marked checked out, three INSERT/UPDATE statements in one pipeline.
#   2. Stripe webhook: payment_intent.succeeded events signed as Stripe signs them, each paying
#      one pending order, sent to coditect.stripe_webhook(signature, body) as bench_gw (what
#      POST /api/v1/webhooks/stripe runs; no login, no context). Baseline, as superuser: the same
#      effect in one plain statement (the event row, a payment, the order marked paid).
#   3. The order list of a tenant with BIG (100,000) orders: coditect.api_orders_list filtered by
#      status and created date, first page and a keyset page DEEP rows into the list, as bench_gw
#      in the owner's context, against the static SELECT with the same explicit filters as
#      superuser. The plan of the list's statement is printed (auto_explain) with its index.
#
# Carts, orders and events are prepared before every slice (pools the clients draw from by a
# sequence, topped up between slices; our events are signed right before each slice), so that no
# two clients contend on one cart. Checkouts and events go round-robin over TENANTS tenants.
# Runs its own throw-away cluster on CODITECT_BENCH_PORT (55447); reports only, asserts nothing
# about timing. Knobs: CLIENTS (16) LIST_CLIENTS (2) DURATION ROUNDS WARMUP TENANTS BIG DEEP.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=${CODITECT_BENCH_PORT:-55447}
DB=coditect_bench_commerce
CLIENTS=${CLIENTS:-16}
LIST_CLIENTS=${LIST_CLIENTS:-2}
DURATION=${DURATION:-15} # measured seconds per configuration, split into ROUNDS slices
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
TENANTS=${TENANTS:-64}
BIG=${BIG:-100000}
DEEP=${DEEP:-25000}
PAGE_SIZE=50
# shellcheck disable=SC2034 # bench_pgbench_slice's (lib.sh)
PGBENCH=$PGBIN/pgbench
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))
WHSEC=whsec_bench_$(openssl rand -hex 16)
ADDRESS='{"line1": "1 Main St", "city": "Albany"}'

install_deps
build_extension
bench_prepare commerce "$PORT"
bench_cluster "$PORT"
create_database "$DB"
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

log "loading: $TENANTS tenants, products, a tax rate, the baseline's tables"
sql -v tenants="$TENANTS" -f "$HERE/commerce_load.sql" >/dev/null
sql -c "CREATE EXTENSION pg_stat_statements"
sql -c "SELECT coditect.set_stripe_webhook_secret('$WHSEC')" >/dev/null
# Tenants are bound to their Stripe customers as a DBA does (UPDATE as superuser; the service
# role's coditect.set_stripe_customer binds only its request's tenant).
sql -c "UPDATE coditect.tenants t SET stripe_customer_id = b.customer FROM bench.tenants b WHERE t.id = b.tenant_id" >/dev/null
HANDLER=$(sql -At -c "SELECT coalesce((SELECT handler::text FROM coditect_internal.stripe_event_handlers
  WHERE event_type IN ('payment_intent.succeeded', 'payment_intent.*') ORDER BY event_type = 'payment_intent.succeeded' DESC LIMIT 1), 'none')")

log "loading: the list tenant's $BIG orders (triggers off for the load only)"
sql -v big="$BIG" -v bench="$HERE" >/dev/null <<'SQL'
SET client_min_messages = warning;
\set table coditect.orders
\set which USER
\i :bench/triggers_off.sql
-- Spread over the past year in created_at order; six in ten paid, two pending, one refunded, one
-- cancelled; the three lines' totals of every cart (no lines: the list reads none).
INSERT INTO coditect.orders (tenant_id, user_id, status, currency, subtotal_amount, tax_amount, total_amount,
                             tax_rate_id, tax_display_name, tax_percentage, tax_inclusive,
                             billing_country_code, billing_state_code, billing_address,
                             paid_at, cancelled_at, refunded_at, created_at, updated_at)
SELECT t.tenant_id, t.user_id, s.status, 'USD', 9398, 834, 10232, r.id, r.display_name, r.percentage, r.inclusive,
       'US', 'US-NY', '{"line1": "1 Main St", "city": "Albany"}',
       CASE WHEN s.status IN ('paid', 'refunded') THEN ts + interval '1 minute' END,
       CASE WHEN s.status = 'cancelled' THEN ts + interval '1 hour' END,
       CASE WHEN s.status = 'refunded' THEN ts + interval '2 days' END, ts, ts
  FROM bench.tenants t, coditect.tax_rates r, generate_series(1, :big) AS i
 CROSS JOIN LATERAL (SELECT now() - interval '1 year' + i * (interval '1 year' / :big) AS ts,
                            (CASE WHEN i % 10 < 6 THEN 'paid' WHEN i % 10 < 8 THEN 'pending'
                                  WHEN i % 10 = 8 THEN 'refunded' ELSE 'cancelled' END)::coditect.order_status AS status) s
 WHERE t.n = 0 AND r.state_code = 'US-NY'
 ORDER BY ts;
\i :bench/triggers_on.sql
VACUUM (ANALYZE) coditect.orders;
SQL

# pool_fill KIND NEED: at least NEED untaken rows in pool KIND (carts_ours, carts_base,
# events_ours, events_base); ours' rows go into the real tables with their triggers off for the
# load only. Our unused events are then (re)signed with the time now.
FILL_MS=0
pool_fill() {
  local kind=$1 need=$2 left what tables=() t start
  start=$(date +%s%N)
  left=$(sql -At -c "SELECT bench.pool_left('$kind')")
  if ((left < need)); then
    what=${kind%_*}
    case $kind in
      carts_ours) tables=(coditect.carts coditect.cart_items) ;;
      events_ours) tables=(coditect.orders coditect.order_lines) ;;
    esac
    {
      echo 'SET client_min_messages = warning;'
      echo '\set which USER'
      for t in "${tables[@]}"; do echo "\\set table $t"$'\n'"\\i $HERE/triggers_off.sql"; done
      echo "SELECT bench.add_${what}('${kind#*_}', $((need - left)));"
      for t in "${tables[@]}"; do echo "\\set table $t"$'\n'"\\i $HERE/triggers_on.sql"; done
      echo "ANALYZE bench.$kind;"
    } | sql >/dev/null
  fi
  if [ "$kind" = events_ours ]; then sql -c "SELECT bench.sign_events('$WHSEC')" >/dev/null; fi
  FILL_MS=$((FILL_MS + ($(date +%s%N) - start) / 1000000))
}
# pool_check KIND: fails if the last slice asked for more rows than the pool held (its last
# transactions would have found nothing to do).
pool_check() {
  local left
  left=$(sql -At -c "SELECT bench.pool_left('$1')")
  if ((left < 0)); then
    echo "pool $1 ran dry during the slice (left $left); raise its estimate" >&2
    exit 1
  fi
}

# Pipelines of the transactions (one round trip each). n: the pool's next row.
cat >"$WORK/checkout_ours.sql" <<SQL
\\startpipeline
BEGIN;
SELECT coditect.set_request_context(c.tenant_id, c.user_id, 'owner', '127.0.0.1', 'pgbench', 'POST', '/api/v1/carts/checkout/')
  FROM bench.carts_ours c WHERE c.n = (SELECT nextval('bench.carts_ours_n'));
SELECT coditect.cart_checkout(c.cart_id, 'US', 'US-NY', '$ADDRESS')
  FROM bench.carts_ours c WHERE c.n = (SELECT currval('bench.carts_ours_n'));
COMMIT;
\\endpipeline
SQL
cat >"$WORK/checkout_base.sql" <<SQL
\\startpipeline
BEGIN;
INSERT INTO bench.orders (tenant_id, id, cart_id, user_id, currency, subtotal_amount, tax_amount, total_amount,
                          tax_rate_id, tax_display_name, tax_percentage, tax_inclusive,
                          billing_country_code, billing_state_code, billing_address)
SELECT c.tenant_id, c.order_id, c.cart_id, c.user_id, k.currency, sum(l.net), sum(l.tax), sum(l.net + l.tax),
       r.id, r.display_name, r.percentage, r.inclusive, 'US', 'US-NY', '$ADDRESS'
  FROM bench.carts_base c
  JOIN bench.carts k ON k.tenant_id = c.tenant_id AND k.id = c.cart_id
  JOIN bench.cart_items i ON i.tenant_id = c.tenant_id AND i.cart_id = c.cart_id
  JOIN coditect.products p ON p.id = i.product_id
  JOIN coditect.tax_rates r ON r.country_code = 'US' AND r.state_code = 'US-NY' AND r.active
 CROSS JOIN LATERAL (SELECT p.unit_amount * i.quantity AS amount,
                            round(p.unit_amount * i.quantity * r.percentage
                                  / CASE WHEN r.inclusive THEN 100 + r.percentage ELSE 100 END)::bigint AS tax) a
 CROSS JOIN LATERAL (SELECT a.amount, a.tax, CASE WHEN r.inclusive THEN a.amount - a.tax ELSE a.amount END AS net) l
 WHERE c.n = (SELECT nextval('bench.carts_base_n'))
 GROUP BY c.tenant_id, c.order_id, c.cart_id, c.user_id, k.currency, r.id;
INSERT INTO bench.order_lines (tenant_id, order_id, product_id, product_name, unit_amount, quantity,
                               amount, net_amount, tax_amount, total_amount)
SELECT c.tenant_id, c.order_id, p.id, p.name, p.unit_amount, i.quantity, l.amount, l.net, l.tax, l.net + l.tax
  FROM bench.carts_base c
  JOIN bench.cart_items i ON i.tenant_id = c.tenant_id AND i.cart_id = c.cart_id
  JOIN coditect.products p ON p.id = i.product_id
  JOIN coditect.tax_rates r ON r.country_code = 'US' AND r.state_code = 'US-NY' AND r.active
 CROSS JOIN LATERAL (SELECT p.unit_amount * i.quantity AS amount,
                            round(p.unit_amount * i.quantity * r.percentage
                                  / CASE WHEN r.inclusive THEN 100 + r.percentage ELSE 100 END)::bigint AS tax) a
 CROSS JOIN LATERAL (SELECT a.amount, a.tax, CASE WHEN r.inclusive THEN a.amount - a.tax ELSE a.amount END AS net) l
 WHERE c.n = (SELECT currval('bench.carts_base_n'))
 ORDER BY i.created_at, i.id;
UPDATE bench.carts k SET status = 'checked_out', checked_out_at = now(), updated_at = now()
  FROM bench.carts_base c WHERE c.n = (SELECT currval('bench.carts_base_n'))
   AND k.tenant_id = c.tenant_id AND k.id = c.cart_id AND k.status = 'active';
COMMIT;
\\endpipeline
SQL
cat >"$WORK/webhook_ours.sql" <<'SQL'
\startpipeline
BEGIN;
SELECT coditect.stripe_webhook(e.sig, convert_to(e.body, 'UTF8'))
  FROM bench.events_ours e WHERE e.n = (SELECT nextval('bench.events_ours_n'));
COMMIT;
\endpipeline
SQL
cat >"$WORK/webhook_base.sql" <<'SQL'
\startpipeline
BEGIN;
WITH ev AS (SELECT e.body::jsonb AS j FROM bench.events_base e WHERE e.n = (SELECT nextval('bench.events_base_n'))),
     pi AS (SELECT ev.j #> '{data,object}' AS o, c.tenant_id
              FROM ev JOIN bench.stripe_customers c ON c.customer = ev.j #>> '{data,object,customer}'),
     stored AS (
         INSERT INTO bench.stripe_events (event_id, event_type, created, livemode, data_object, payload, status)
         SELECT j ->> 'id', j ->> 'type', to_timestamp((j ->> 'created')::double precision),
                coalesce(j -> 'livemode' = 'true', false), j #> '{data,object}', j, 'processed'
           FROM ev ON CONFLICT (event_id) DO NOTHING),
     paid AS (
         INSERT INTO bench.payments (tenant_id, order_id, stripe_payment_intent_id, stripe_charge_id, amount, currency,
                                     status, payment_method, succeeded_at)
         SELECT tenant_id, (o #>> '{metadata,order_id}')::uuid, o ->> 'id', o ->> 'latest_charge',
                (o ->> 'amount_received')::bigint, upper(o ->> 'currency'), 'succeeded', 'card', now()
           FROM pi)
UPDATE bench.orders t SET status = 'paid', paid_at = now(), updated_at = now()
  FROM pi WHERE t.tenant_id = pi.tenant_id AND t.id = (pi.o #>> '{metadata,order_id}')::uuid AND t.status = 'pending';
COMMIT;
\endpipeline
SQL

# Checks before measuring (each in a transaction rolled back): a checkout gives the baseline's
# totals; our event is received (processed with a handler, else ignored) and the baseline's pays
# its order.
pool_fill carts_ours 10
pool_fill carts_base 10
pool_fill events_ours 10
pool_fill events_base 10
ours_totals=$(psql -X -q -At -v ON_ERROR_STOP=1 -U bench_gw -d "$DB" <<SQL | tail -n 1
BEGIN;
\\o /dev/null
SELECT coditect.set_request_context(c.tenant_id, c.user_id, 'owner') FROM bench.carts_ours c WHERE c.n = (SELECT nextval('bench.carts_ours_n'));
\\o
SELECT j ->> 'status', j ->> 'subtotal_amount', j ->> 'tax_amount', j ->> 'total_amount'
  FROM (SELECT coditect.cart_checkout(c.cart_id, 'US', 'US-NY', '$ADDRESS') AS j
          FROM bench.carts_ours c WHERE c.n = (SELECT currval('bench.carts_ours_n'))) x;
ROLLBACK;
SQL
)
base_totals=$( (echo 'BEGIN;'; sed '/pipeline/d; /^BEGIN;$/d; /^COMMIT;$/d' "$WORK/checkout_base.sql"
  echo "SELECT o.status, o.subtotal_amount, o.tax_amount, o.total_amount, (SELECT count(*) FROM bench.order_lines l WHERE l.order_id = o.id)
          FROM bench.orders o JOIN bench.carts_base c ON c.order_id = o.id WHERE c.n = currval('bench.carts_base_n');"
  echo 'ROLLBACK;') | sql -At | tail -n 1)
ours_event=$(psql -X -q -At -v ON_ERROR_STOP=1 -U bench_gw -d "$DB" <<'SQL' | tail -n 1
BEGIN;
SELECT coditect.stripe_webhook(e.sig, convert_to(e.body, 'UTF8')) FROM bench.events_ours e WHERE e.n = (SELECT nextval('bench.events_ours_n'));
ROLLBACK;
SQL
)
base_paid=$( (echo 'BEGIN;'; sed '/pipeline/d; /^BEGIN;$/d; /^COMMIT;$/d' "$WORK/webhook_base.sql"
  echo "SELECT o.status || ' ' || (SELECT count(*) FROM bench.payments p WHERE p.order_id = o.id)
          FROM bench.orders o JOIN bench.events_base e ON e.order_id = o.id WHERE e.n = currval('bench.events_base_n');"
  echo 'ROLLBACK;') | sql -At | tail -n 1)
echo
echo "Checks: our checkout's order: $ours_totals (status|subtotal|tax|total); the baseline's: $base_totals (+ lines)"
echo "        our webhook answers $ours_event; the baseline's order after its event: $base_paid (status, payments)"
if [ "${ours_totals#pending|}" != "$(echo "$base_totals" | cut -d'|' -f2-4)" ] || [ "$base_paid" != "paid 1" ] ||
  [ "$(echo "$ours_event" | sed -n 's/.*"received": \(true\).*/\1/p')" != true ]; then
  echo "our paths and the baselines do not agree; not benchmarking" >&2
  exit 1
fi
if [ "$(echo "$ours_event" | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p')" != processed ]; then
  echo "our event was not processed (handler for payment_intent.succeeded: $HANDLER); not benchmarking" >&2
  exit 1
fi

# Part 3's list: the big tenant's owner, paid orders created in the last 300 days, newest first.
read -r LT LU < <(sql -At -F ' ' -c "SELECT tenant_id, user_id FROM bench.tenants WHERE n = 0")
SINCE=$(sql -At -c "SELECT to_char(date_trunc('day', now() - interval '300 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
FILTERS="{\"status\": \"paid\", \"created_at__gte\": \"$SINCE\"}"
STATIC_WHERE="t.tenant_id = :tenant AND t.status = 'paid' AND t.created_at >= :since"
static_sql() { # [KEYSET PREDICATE]
  echo "SELECT jsonb_build_object('count', NULL, 'results', coalesce(jsonb_agg(to_jsonb(t)), '[]')) FROM (SELECT * FROM coditect.orders t WHERE $STATIC_WHERE${1:-} ORDER BY t.created_at DESC, t.id DESC LIMIT $((PAGE_SIZE + 1))) t"
}
# The deep page starts after the DEEP-th matching order: its cursor as the function makes them.
read -r C_AT C_ID CURSOR MATCHING < <(sql -At -F ' ' <<SQL
SET TimeZone = 'UTC';
SELECT to_jsonb(created_at) #>> '{}', id,
       coditect_internal.api_cursor_encode('-created_at', to_jsonb(created_at) #>> '{}', id),
       (SELECT count(*) FROM coditect.orders t WHERE t.tenant_id = '$LT' AND t.status = 'paid' AND t.created_at >= '$SINCE')
  FROM coditect.orders t WHERE t.tenant_id = '$LT' AND t.status = 'paid' AND t.created_at >= '$SINCE'
 ORDER BY created_at DESC, id DESC OFFSET $((DEEP - 1)) LIMIT 1
SQL
)
DEEP_PRED=" AND (t.created_at, t.id) < (:c_at, :c_id)"
LIST_VARS=(-D tenant="$LT" -D uid="$LU" -D since="$SINCE" -D filters="$FILTERS" -D cursor="$CURSOR" -D c_at="$C_AT" -D c_id="$C_ID")
list_script() { # STATEMENT [CONTEXT CALL]
  printf '%s\n' '\startpipeline' 'BEGIN READ ONLY;'
  if [ -n "${2:-}" ]; then echo "$2;"; fi
  echo "$1;"
  printf '%s\n' 'COMMIT;' '\endpipeline'
}
CTX="SELECT coditect.set_request_context(:tenant, :uid, 'owner', '127.0.0.1', 'pgbench', 'GET', '/api/v1/orders/')"
list_script "SELECT coditect.api_orders_list(:filters, NULL, $PAGE_SIZE, NULL)" "$CTX" >"$WORK/list_fn_first.sql"
list_script "SELECT coditect.api_orders_list(:filters, NULL, $PAGE_SIZE, :cursor)" "$CTX" >"$WORK/list_fn_deep.sql"
list_script "$(static_sql)" >"$WORK/list_static_first.sql"
list_script "$(static_sql "$DEEP_PRED")" >"$WORK/list_static_deep.sql"

# The same pages both ways: the function's results are the static statement's first PAGE_SIZE
# (the static one reads one more row, as the function does to know whether a next page exists).
# psql_vars: the pgbench variables as psql ones, for the checks and the plans.
psql_vars=(-v tenant="'$LT'" -v uid="'$LU'" -v since="'$SINCE'" -v filters="'$FILTERS'" -v cursor="'$CURSOR'"
  -v c_at="'$C_AT'" -v c_id="'$C_ID'")
same_page() { # FN STATIC
  local fn static
  fn=$(psql -X -q -At -v ON_ERROR_STOP=1 -U bench_gw -d "$DB" "${psql_vars[@]}" <<SQL | tail -n 1
BEGIN READ ONLY;
\\o /dev/null
$CTX;
\\o
$1;
COMMIT;
SQL
)
  static=$(echo "$2;" | sql -At "${psql_vars[@]}")
  sql -At -v fn="$fn" -v static="$static" <<SQL
SELECT (:'fn'::jsonb -> 'results') = (:'static'::jsonb -> 'results') - $PAGE_SIZE
       AND jsonb_array_length(:'fn'::jsonb -> 'results') = $PAGE_SIZE, :'fn'::jsonb -> 'next_cursor' <> 'null'
SQL
}
first_ok=$(same_page "SELECT coditect.api_orders_list(:filters, NULL, $PAGE_SIZE, NULL)" "$(static_sql)")
deep_ok=$(same_page "SELECT coditect.api_orders_list(:filters, NULL, $PAGE_SIZE, :cursor)" "$(static_sql "$DEEP_PRED")")
echo
echo "List tenant: $BIG orders, $MATCHING paid since $SINCE; deep page after the ${DEEP}th (cursor $C_AT $C_ID)."
echo "Checks (function = static statement, $PAGE_SIZE results, a next cursor): first page $first_ok, deep page $deep_ok"
if [ "$first_ok" != "t|t" ] || [ "$deep_ok" != "t|t" ]; then
  echo "the list function and the static statement do not answer alike; not benchmarking" >&2
  exit 1
fi

# The plan of the function's page statement (auto_explain of its nested statements) at its
# eighth call in the session, i.e. the plan the cached statement settled on (PL/pgSQL may switch
# to a generic plan after five), and the indexes it scans, with their leading column.
plan_of() { # CALL
  psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "${psql_vars[@]}" 2>&1 >/dev/null <<SQL |
LOAD 'auto_explain';
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = on;
SET auto_explain.log_timing = off;
SET auto_explain.log_level = notice;
SET ROLE bench_gw;
BEGIN READ ONLY;
$CTX;
$(for _ in 1 2 3 4 5 6 7; do echo "$1;"; done)
RESET ROLE;
SET auto_explain.log_min_duration = 0;
SET ROLE bench_gw;
$1;
COMMIT;
SQL
    awk '/^NOTICE:  duration:/ { keep = 0 } /Query Text: SELECT coalesce\(jsonb_agg\(to_jsonb\(t\)\)/ { keep = 1 } keep'
}
index_report() { # PLAN
  local idx lead
  for idx in $(echo "$1" | sed -n 's/.*Index \(Only \)\{0,1\}Scan \(Backward \)\{0,1\}using \([a-z0-9_]*\) on.*/\3/p; s/.*Bitmap Index Scan on \([a-z0-9_]*\).*/\1/p' | sort -u); do
    lead=$(sql -At -c "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                        WHERE i.indexrelid = 'coditect.$idx'::regclass")
    echo "    index used: $idx (leading column: $lead)"
  done
}
for page in first deep; do
  if [ $page = first ]; then call="SELECT coditect.api_orders_list(:filters, NULL, $PAGE_SIZE, NULL)"; else
    call="SELECT coditect.api_orders_list(:filters, NULL, $PAGE_SIZE, :cursor)"; fi
  plan=$(plan_of "$call")
  echo
  echo "Plan of api_orders_list's page statement, $page page, 8th call (bench_gw, the owner's context; auto_explain):"
  echo "$plan" | sed -n '/(cost=/,$p' | sed 's/^/  /'
  if [ -z "$(index_report "$plan")" ]; then echo "    NO index scan in this plan"; else index_report "$plan"; fi
done

# slice CONFIG SECONDS. Pools: filled for 1.5 times the config's highest rate so far (at least a
# first guess) over the slice, and checked after it.
declare -A GUESS=([checkout_ours]=800 [checkout_base]=4000 [webhook_ours]=4000 [webhook_base]=5000)
# pgss_ms: server time (ms) of every top-level statement so far in pg_stat_statements (slices run
# one at a time, so a slice's delta is its configuration's).
pgss_ms() {
  sql -At -c "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements
               WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND strpos(query, 'pg_stat_statements') = 0"
}
slice() {
  local c=$1 secs=$2 pool rate before
  case $c in
    checkout_*) pool=carts_${c#checkout_} ;;
    webhook_*) pool=events_${c#webhook_} ;;
    *) pool= ;;
  esac
  if [ -n "$pool" ]; then
    rate=$({ cat "$WORK/$c.last" 2>/dev/null || true; } | awk -v r="${GUESS[$c]}" '$1 > r { r = $1 } END { print r }')
    pool_fill "$pool" "$(awk -v r="$rate" -v s="$secs" 'BEGIN { printf "%d", 1.5 * r * s + 500 }')"
  fi
  before=$(pgss_ms)
  case $c in
    checkout_ours | webhook_ours) bench_pgbench_slice "$c" "$WORK/$c.sql" "$CLIENTS" "$secs" ;;
    checkout_base | webhook_base) BENCH_LOGIN=postgres bench_pgbench_slice "$c" "$WORK/$c.sql" "$CLIENTS" "$secs" ;;
    list_fn_*) bench_pgbench_slice "$c" "$WORK/$c.sql" "$LIST_CLIENTS" "$secs" "${LIST_VARS[@]}" ;;
    list_static_*) BENCH_LOGIN=postgres bench_pgbench_slice "$c" "$WORK/$c.sql" "$LIST_CLIENTS" "$secs" "${LIST_VARS[@]}" ;;
  esac
  echo "$before $(pgss_ms)" | awk '{ print $2 - $1 }' >>"$WORK/$c.srv"
  if [ -n "$pool" ]; then
    pool_check "$pool"
    tail -n 1 "$WORK/$c.rate" >>"$WORK/$c.last"
  fi
}
# All eight interleaved (our events are signed again right before each of their slices).
bench_slices checkout_ours checkout_base webhook_ours webhook_base list_fn_first list_static_first list_fn_deep list_static_deep

declare -A RPS P50 P99 N SRV
for c in checkout_ours checkout_base webhook_ours webhook_base list_fn_first list_static_first list_fn_deep list_static_deep; do
  read -r "RPS[$c]" "P50[$c]" "P99[$c]" "N[$c]" < <(bench_figures "$c")
  SRV[$c]=$(awk -v n="${N[$c]}" '{ t += $1 } END { printf "%.3f", t / n }' "$WORK/$c.srv")
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
read -r ev_processed ev_ignored paid_ours paid_base < <(sql -At -F ' ' -c "
  SELECT count(*) FILTER (WHERE status = 'processed'), count(*) FILTER (WHERE status = 'ignored'),
         (SELECT count(*) FROM coditect.orders o JOIN bench.events_ours e ON e.tenant_id = o.tenant_id AND e.order_id = o.id WHERE o.status = 'paid'),
         (SELECT count(*) FROM bench.orders WHERE status = 'paid')
    FROM coditect_internal.stripe_events")

echo
echo "Commerce: ours against plain SQL as superuser, in the same run; $ROUNDS interleaved slices of ${SLICE}s per"
echo "configuration after ${WARMUP}s of warm-up; $(nproc) CPUs; commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "(pgbench -M prepared, each transaction one pipeline; per s: mean of the slices' tps; p50/p99 over all"
echo " transactions; srv ms/tx: server time of the transaction's statements from pg_stat_statements, per"
echo " transaction, waiting for a CPU included: with more clients than CPUs it grows with the queue)"
echo
row() { printf '%-56s %10s %8s %8s %10s %9s\n' "$@"; }
line() { row "$1" "${RPS[$2]}" "${P50[$2]}" "${P99[$2]}" "${SRV[$2]}" "${N[$2]}"; } # LABEL CONFIG
row "" "per s" "p50 ms" "p99 ms" "srv ms/tx" "count"
echo "1. Checkout of a 3-item cart, $CLIENTS clients, $TENANTS tenants"
line "   ours: cart_checkout as bench_gw with context" checkout_ours
line "   baseline: order, lines, cart by plain SQL" checkout_base
row "   checkouts/s ours / baseline" "$(ratio "${RPS[checkout_ours]}" "${RPS[checkout_base]}")"
echo "2. Stripe payment_intent.succeeded, one per pending order, $CLIENTS clients"
line "   ours: stripe_webhook(signature, body) as bench_gw" webhook_ours
line "   baseline: event, payment, order paid by plain SQL" webhook_base
row "   events/s ours / baseline" "$(ratio "${RPS[webhook_ours]}" "${RPS[webhook_base]}")"
echo "   our events: $ev_processed processed, $ev_ignored ignored (handler: $HANDLER);"
echo "   orders paid by them: $paid_ours (baseline: $paid_base)"
echo "3. Order list of a $BIG-order tenant (status=paid, created_at__gte), page of $PAGE_SIZE, $LIST_CLIENTS clients"
line "   first page: api_orders_list as bench_gw with context" list_fn_first
line "   first page: static statement as superuser" list_static_first
row "   first page: lists/s function / static" "$(ratio "${RPS[list_fn_first]}" "${RPS[list_static_first]}")"
line "   deep page (keyset): api_orders_list" list_fn_deep
line "   deep page (keyset): static statement" list_static_deep
row "   deep page: lists/s function / static" "$(ratio "${RPS[list_fn_deep]}" "${RPS[list_static_deep]}")"
echo
echo "Prepared: $(sql -At -F ', ' -c "SELECT (SELECT max(n) FROM bench.carts_ours) || ' + ' || (SELECT max(n) FROM bench.carts_base) || ' carts',
  (SELECT max(n) FROM bench.events_ours) || ' + ' || (SELECT max(n) FROM bench.events_base) || ' pending orders with their events'")" \
  "(ours + baseline), in $((FILL_MS / 1000)) s between slices; the whole script took $SECONDS s."
