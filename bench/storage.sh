#!/usr/bin/env bash
# bench/storage.sh: file storage through the gateway against the local disk, in the same run.
#
# Throughput (SIZE_MB, default 200 MB of random bytes):
#   upload:    tus through coditect-gateway (POST, then PATCH pieces of PIECE_MB with their
#              sha256 Upload-Checksum, one curl per piece, as a tus client sends them), each
#              PATCH one transaction that verifies, chunks and hashes the bytes in PostgreSQL;
#              against: writing the same bytes to a file on local disk (dd, bs = the piece
#              size, conv=fsync, since every PATCH commits durably).
#   download:  GET /api/v1/blobs/{id}/content streamed from PostgreSQL (curl to a file);
#              against: reading the file written above (dd to /dev/null; from the page cache,
#              as the database's reads mostly are on a warm cluster).
# Memory (MEM_MB, default 500 MB): the gateway's VmRSS sampled every 0.1 s and VmHWM while such
# a file is uploaded and then downloaded, on a gateway started for it (so the peak is its own).
#
# Prints MB/s and the ratio ours / disk for each direction, and the memory figures. Runs its
# own throw-away cluster on port 55446 and gateway on 55486; reports only, asserts nothing
# about timing. Knobs: SIZE_MB MEM_MB PIECE_MB ROUNDS.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=55446
GW_PORT=55486
DB=coditect_bench_storage
SIZE_MB=${SIZE_MB:-200}
MEM_MB=${MEM_MB:-500}
PIECE_MB=${PIECE_MB:-8}
ROUNDS=${ROUNDS:-3}
GW_THREADS=${GW_THREADS:-4}
GW_POOL=${GW_POOL:-4}
B=http://127.0.0.1:$GW_PORT

install_deps
build_extension
bench_gateway_build
bench_prepare storage "$PORT" "$GW_PORT"
bench_cluster "$PORT" max_wal_size=4GB
create_database "$DB"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
sql -c "CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway"
read -r TENANT USER_ID < <(sql -F ' ' -c "SELECT j->>'tenant_id', j->>'user_id' FROM (SELECT coditect.create_tenant('Bench', 'bench-storage', 'b@bench.test', 'o@bench.test', NULL, 'enterprise') j) x")

now() { date +%s.%N; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.1f", b / 1048576 / s}'; }

# tus_upload FILE: uploads FILE in PIECE_MB pieces (checksums computed beforehand); prints the
# blob id. Pieces and their checksums are in $WORK/pieces.
tus_upload() {
  local file=$1 size loc at=0 piece sum headers
  size=$(stat -c %s "$file")
  headers=$(curl -fsS -D - -o /dev/null -X POST "$B/api/v1/uploads/" -H "Authorization: Bearer $TOKEN" \
    -H "Tus-Resumable: 1.0.0" -H "Upload-Length: $size" \
    -H "Upload-Metadata: filename $(printf bench.bin | base64),filetype $(printf application/octet-stream | base64)")
  loc=$(printf '%s\n' "$headers" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  for piece in "$WORK"/pieces/p*; do
    [[ $piece == *.sum ]] && continue
    sum=$(cat "$piece.sum")
    curl -fsS -o /dev/null -X PATCH "$B$loc" -H "Authorization: Bearer $TOKEN" -H "Tus-Resumable: 1.0.0" \
      -H "Content-Type: application/offset+octet-stream" -H "Upload-Offset: $at" \
      -H "Upload-Checksum: sha256 $sum" --data-binary "@$piece" || {
      echo "PATCH at $at failed (gateway log: $WORK/gateway.log)" >&2
      exit 1
    }
    at=$((at + $(stat -c %s "$piece")))
  done
  sql -c "SELECT blob_id FROM coditect.upload_sessions WHERE id = '${loc##*/}' AND status = 'completed'"
}

make_file() { # make_file MB: $WORK/file.bin and its pieces
  rm -rf "$WORK/pieces" "$WORK/file.bin"
  mkdir -p "$WORK/pieces"
  head -c "$(($1 * 1048576))" /dev/urandom >"$WORK/file.bin"
  split -b "${PIECE_MB}M" -a 4 "$WORK/file.bin" "$WORK/pieces/p"
  for p in "$WORK"/pieces/p*; do openssl dgst -sha256 -binary "$p" | base64 >"$p.sum"; done
}

# Samples the gateway's VmRSS (kB) every 0.1 s into $WORK/rss until killed.
sample_rss() {
  while :; do
    awk '/^VmRSS:/ {print $2}' "/proc/$GW_PID/status" >>"$WORK/rss" 2>/dev/null || return
    sleep 0.1
  done
}
vm() { awk -v k="$1:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$GW_PID/status"; }

GW_THREADS=$GW_THREADS GW_POOL=$GW_POOL bench_gateway_start "$PORT" "$GW_PORT" "$DB"
TOKEN=$(CODITECT_JWT_SECRET="$SECRET" "$GW" --mint-dev-token --sub "$USER_ID" --tenant "$TENANT" --role owner --ttl 36000)

# --- memory ------------------------------------------------------------------------------------
log "memory: a ${MEM_MB} MB file uploaded (tus, ${PIECE_MB} MB pieces) and downloaded"
make_file "$MEM_MB"
rss_start=$(vm VmRSS)
: >"$WORK/rss"
sample_rss &
SAMPLER=$!
blob=$(tus_upload "$WORK/file.bin")
hwm_upload=$(vm VmHWM)
rss_upload_max=$(sort -n "$WORK/rss" | tail -1 | awk '{printf "%.1f", $1 / 1024}')
: >"$WORK/rss"
curl -fsS -o "$WORK/down.bin" "$B/api/v1/blobs/$blob/content" -H "Authorization: Bearer $TOKEN"
hwm_download=$(vm VmHWM)
rss_download_max=$(sort -n "$WORK/rss" | tail -1 | awk '{printf "%.1f", $1 / 1024}')
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null || true  # killed: its status is 143
cmp -s "$WORK/file.bin" "$WORK/down.bin" || {
  echo "the downloaded file differs from the uploaded one" >&2
  exit 1
}
rm -f "$WORK/down.bin"

# --- throughput --------------------------------------------------------------------------------
log "throughput: a ${SIZE_MB} MB file, $ROUNDS rounds"
make_file "$SIZE_MB"
bytes=$(stat -c %s "$WORK/file.bin")
up_s=0 down_s=0 wr_s=0 rd_s=0
for r in $(seq "$ROUNDS"); do
  # A fresh file each round: identical bytes would dedup (and skip nothing, but also keep
  # the first blob's pages hot); the tenant would also need room for every round.
  head -c 16 /dev/urandom | dd of="$WORK/file.bin" bs=16 count=1 conv=notrunc status=none
  rm -f "$WORK"/pieces/*
  split -b "${PIECE_MB}M" -a 4 "$WORK/file.bin" "$WORK/pieces/p"
  for p in "$WORK"/pieces/p*; do openssl dgst -sha256 -binary "$p" | base64 >"$p.sum"; done
  t0=$(now)
  blob=$(tus_upload "$WORK/file.bin")
  t1=$(now)
  curl -fsS -o "$WORK/down.bin" "$B/api/v1/blobs/$blob/content" -H "Authorization: Bearer $TOKEN"
  t2=$(now)
  cmp -s "$WORK/file.bin" "$WORK/down.bin" || {
    echo "round $r: the downloaded file differs" >&2
    exit 1
  }
  rm -f "$WORK/down.bin" "$WORK/copy.bin"
  t3=$(now)
  dd if="$WORK/file.bin" of="$WORK/copy.bin" bs="${PIECE_MB}M" conv=fsync status=none
  t4=$(now)
  dd if="$WORK/copy.bin" of=/dev/null bs=1M status=none
  t5=$(now)
  up_s=$(awk -v a="$up_s" -v x="$t0" -v y="$t1" 'BEGIN {print a + y - x}')
  down_s=$(awk -v a="$down_s" -v x="$t1" -v y="$t2" 'BEGIN {print a + y - x}')
  wr_s=$(awk -v a="$wr_s" -v x="$t3" -v y="$t4" 'BEGIN {print a + y - x}')
  rd_s=$(awk -v a="$rd_s" -v x="$t4" -v y="$t5" 'BEGIN {print a + y - x}')
done
total=$((bytes * ROUNDS))
up=$(mbps "$total" "$up_s")
down=$(mbps "$total" "$down_s")
wr=$(mbps "$total" "$wr_s")
rd=$(mbps "$total" "$rd_s")

echo
echo "file storage through the gateway vs the local disk (${SIZE_MB} MB x $ROUNDS, ${PIECE_MB} MB pieces, MiB/s)"
printf '  %-10s %10s %10s %8s\n' "" "gateway" "disk" "ratio"
printf '  %-10s %10s %10s %8s\n' upload "$up" "$wr" "$(awk -v a="$up" -v b="$wr" 'BEGIN {printf "%.2f", a / b}')"
printf '  %-10s %10s %10s %8s\n' download "$down" "$rd" "$(awk -v a="$down" -v b="$rd" 'BEGIN {printf "%.3f", a / b}')"
echo "gateway memory with a ${MEM_MB} MB file (MiB): at start VmRSS $rss_start;" \
  "upload: VmRSS max $rss_upload_max, VmHWM $hwm_upload; download: VmRSS max $rss_download_max, VmHWM $hwm_download"
