#!/usr/bin/env bash
# TypeScript types of the REST API, generated from the gateway's OpenAPI 3.1 document
# (GET /api/schema/) by openapi-typescript; no emitter of our own.
#
#   scripts/typescript.sh generate [--url URL | --file FILE]   writes clients/typescript/coditect.d.ts
#   scripts/typescript.sh check    [--url URL | --file FILE]   fails (with a diff) when that file is not
#                                                               current, then tsc --noEmit --strict on it
#                                                               and clients/typescript/usage.ts
#
# --url takes the document from a running gateway (e.g. http://127.0.0.1:8080/api/schema/), --file
# from a saved copy. With neither, the script starts what is needed itself: it builds and installs
# the extension and the gateway, starts a private temporary cluster (port $CODITECT_TS_PORT, default
# 54335) and a gateway on it, and stops both at the end (as root, like test.sh).
#
# The tools are the versions pinned in scripts/ts-tools/package-lock.json (openapi-typescript 7.x,
# typescript 5.x), installed with `npm ci` into build/ts-tools (re-installed only when the lock file
# changes); node and npm come from apt-get when missing.
source "$(dirname "$0")/lib.sh"

TS_DIR=$ROOT/clients/typescript
OUT=$TS_DIR/coditect.d.ts
USAGE=$TS_DIR/usage.ts
TOOLS=$ROOT/build/ts-tools
# Options of openapi-typescript, chosen for exact types:
# - enums stay string literal unions (no --enum): `role: "owner" | "admin" | ...`;
# - --default-non-nullable false: a property is required only when the schema's `required` lists
#   it. The default (true) would also make every property with a `default` required, which is
#   wrong for the create bodies in components/schemas (a field with a default may be left out);
# - --empty-objects-unknown: `{"type": "object"}` without properties (a JSON column such as
#   `metadata`) is any object, as JSON Schema reads it: Record<string, unknown>, not the
#   Record<string, never> that would refuse every key.
OTS_OPTIONS=(--default-non-nullable false --empty-objects-unknown)

usage() {
  echo "usage: $0 generate|check [--url URL | --file FILE]" >&2
  exit 2
}

mode=${1:-}
[ "$mode" = generate ] || [ "$mode" = check ] || usage
shift
url= file=
while (($#)); do
  case $1 in
    --url) url=${2:?--url needs a URL}; shift 2 ;;
    --file) file=${2:?--file needs a file}; shift 2 ;;
    *) usage ;;
  esac
done
[ -z "$url" ] || [ -z "$file" ] || usage

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# node and npm, only when missing (Debian bookworm: nodejs 18.19; the tools need 18.17 or later).
ensure_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "installing nodejs and npm (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends nodejs npm
  fi
  node -e 'const [a, b] = process.versions.node.split(".").map(Number);
    if (a < 18 || (a === 18 && b < 17)) { console.error(`node ${process.version}: 18.17 or later needed`); process.exit(1); }'
}

# The pinned tools in build/ts-tools, installed by `npm ci` from the committed lock file.
install_tools() {
  if cmp -s "$ROOT/scripts/ts-tools/package-lock.json" "$TOOLS/package-lock.json" &&
    [ -x "$TOOLS/node_modules/.bin/openapi-typescript" ] && [ -x "$TOOLS/node_modules/.bin/tsc" ]; then
    return
  fi
  local t0
  t0=$(now)
  log "installing the pinned openapi-typescript and typescript into $TOOLS (npm ci)"
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS"
  cp "$ROOT/scripts/ts-tools/package.json" "$ROOT/scripts/ts-tools/package-lock.json" "$TOOLS/"
  (cd "$TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "typescript: tools installed in $(since "$t0") s (npm ci)"
}

tool_version() { node -p "require('$TOOLS/node_modules/$1/package.json').version"; }

WORK=$(mktemp -d /tmp/coditect-ts.XXXXXX)
GW_PID= DATADIR=
cleanup() {
  if [ -n "$GW_PID" ]; then
    kill "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
  fi
  if [ -n "$DATADIR" ]; then
    cluster_stop "$DATADIR"
    rm -rf "$DATADIR"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# No --url or --file: a private cluster with the extension and a gateway on it, as test.sh has.
start_gateway() {
  install_deps
  build_extension
  log "building the gateway"
  cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$ROOT/build" -j2 --target coditect-gateway >/dev/null
  local port=${CODITECT_TS_PORT:-54335} gw_port= p
  DATADIR=$(mktemp -d /tmp/coditect-ts-pg.XXXXXX)
  log "starting a private cluster in $DATADIR on port $port"
  cluster_start "$DATADIR" "$port"
  create_database coditect_ts
  psql -X -q -d postgres -v ON_ERROR_STOP=1 \
    -c "DO \$\$ BEGIN CREATE ROLE coditect_gw LOGIN IN ROLE coditect_gateway; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$"
  for p in $(seq $((port + 51)) $((port + 150))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      gw_port=$p
      break
    fi
  done
  CODITECT_DATABASE_URL="host=$DATADIR port=$port dbname=coditect_ts user=coditect_gw" \
    CODITECT_LISTEN="127.0.0.1:$gw_port" CODITECT_JWT_SECRET="$(openssl rand -hex 32)" \
    CODITECT_THREADS=2 "$ROOT/build/coditect-gateway" 2>"$DATADIR/gateway.log" &
  GW_PID=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$gw_port/health/" >/dev/null 2>&1 && break
    if ! kill -0 "$GW_PID" 2>/dev/null; then
      echo "the gateway did not start:" >&2
      cat "$DATADIR/gateway.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  url="http://127.0.0.1:$gw_port/api/schema/"
}

# generate_to FILE: the OpenAPI document ($url or $file) turned into FILE.
generate_to() {
  local dest=$1 doc=$WORK/openapi.json
  if [ -n "$url" ]; then
    curl -fsS --max-time 30 "$url" -o "$doc"
  else
    cp "$file" "$doc"
  fi
  "$TOOLS/node_modules/.bin/openapi-typescript" "$doc" "${OTS_OPTIONS[@]}" -o "$WORK/raw.d.ts" \
    >"$WORK/ots.log" 2>&1 || { cat "$WORK/ots.log" >&2; exit 1; }
  {
    echo "// Types of the Coditect Core REST API, generated from the gateway's OpenAPI document"
    echo "// (GET /api/schema/) by scripts/typescript.sh: openapi-typescript $(tool_version openapi-typescript)" \
      "${OTS_OPTIONS[*]}."
    echo "// Do not edit: regenerate with \`make typescript\` (see README, TypeScript types)."
    cat "$WORK/raw.d.ts"
  } >"$dest"
}

if [ -z "$url" ] && [ -z "$file" ]; then start_gateway; fi
ensure_node
install_tools

t0=$(now)
if [ "$mode" = generate ]; then
  mkdir -p "$TS_DIR"
  generate_to "$OUT"
  echo "typescript: wrote ${OUT#"$ROOT"/} ($(wc -l <"$OUT") lines) in $(since "$t0") s"
  exit 0
fi

generate_to "$WORK/coditect.d.ts"
if ! diff -u --label "committed ${OUT#"$ROOT"/}" --label "generated from ${url:-$file}" \
  "$OUT" "$WORK/coditect.d.ts"; then
  echo "typescript: ${OUT#"$ROOT"/} is not current; regenerate it with \`make typescript\` (or scripts/typescript.sh generate)" >&2
  exit 1
fi
gen_s=$(since "$t0")

# Both files named on the command line, so no tsconfig.json takes part; the .d.ts is checked too
# (no --skipLibCheck).
t0=$(now)
files=("$OUT" "$USAGE")
tsc_status=0
"$TOOLS/node_modules/.bin/tsc" --noEmit --strict --target es2022 --module esnext \
  --moduleResolution bundler --pretty false "${files[@]}" >"$WORK/tsc.log" 2>&1 || tsc_status=$?
errors=$(grep -c ': error TS' "$WORK/tsc.log" || true)
if ((tsc_status != 0)); then
  cat "$WORK/tsc.log" >&2
  echo "typescript: tsc --strict: ${#files[@]} files, $errors errors" >&2
  exit 1
fi
echo "typescript: coditect.d.ts current (generated in $gen_s s), tsc --strict: ${#files[@]} files, 0 errors ($(since "$t0") s; openapi-typescript $(tool_version openapi-typescript), typescript $(tool_version typescript))"
