#!/usr/bin/env bash
# bench/run.sh: runs rls.sh, audit.sh, seats.sh, gateway.sh, api_list.sh, tasks.sh, storage.sh,
# documents.sh, workflows.sh, commerce.sh and citus_tasks.sh, each on its own throw-away cluster (ports 55440,
# 55441, 55442, 55444, 54343, 54349, 55446, 54346, 54347, 55447 and 55450-55453;
# seats.sh also starts its own redis-server on port 56380, gateway.sh a gateway on 55480,
# api_list.sh one on 54383, storage.sh one on 55486), one after the other; see bench/README.md.
# Exits non-zero if any failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
status=0
for b in rls audit seats gateway api_list tasks storage documents workflows commerce citus_tasks; do
  echo
  echo "################################ bench/$b.sh"
  if ! bash "$HERE/$b.sh"; then
    echo "bench/$b.sh failed" >&2
    status=1
  fi
done
exit "$status"
