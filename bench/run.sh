#!/usr/bin/env bash
# bench/run.sh: runs both benchmarks, each on its own throw-away cluster (ports 55440 and
# 55441), one after the other; see bench/README.md. Exits non-zero if either failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
status=0
for b in rls audit; do
  echo
  echo "################################ bench/$b.sh"
  if ! bash "$HERE/$b.sh"; then
    echo "bench/$b.sh failed" >&2
    status=1
  fi
done
exit "$status"
