#!/usr/bin/env bash
# Builds Citus 13.2.2 from its source tarball and installs it into the system PostgreSQL 15
# (citus*.so, control and SQL files, headers), unless Citus 13.2.2 is already installed there:
# a re-run exits at once. Users install Citus from its own packages; this is for tests and CI.
# Usage: citus_build.sh [TARBALL]   (default $CITUS_SRC, else ../shared/vendor/citus-13.2.2.tar.gz
# next to the repository). Needs root (apt-get for missing build dependencies, make install).
# A failed build leaves nothing behind (the sources are unpacked into a temporary directory): run
# it again. About a minute on 2 cores (measured: 61 s), plus apt-get on a fresh machine.
#        citus_build.sh --check [TARBALL]: exit 0 when Citus 13.2.2 is installed or the source is
# there to build it (scripts/test.sh runs the Citus suite then), 1 otherwise; builds nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHECK=
if [ "${1:-}" = --check ]; then
  CHECK=1
  shift
fi
TARBALL=${1:-${CITUS_SRC:-$ROOT/../shared/vendor/citus-13.2.2.tar.gz}}
# sha256 of the v13.2.2 source archive (../shared/vendor/README.md).
SHA=dd2453caec20a830e5e63f1def5c5a98cb6f57ae510407cdcd800916fcdab430
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
DEPS=(build-essential libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libselinux1-dev
      libpam0g-dev libxslt1-dev libssl-dev libreadline-dev zlib1g-dev postgresql-server-dev-15
      python3) # python3: the header patch below

# citus_installed: citus.so of 13.2.2 and its control file are in PostgreSQL's directories.
# (grep on the file itself: `strings | grep -q` under pipefail fails on SIGPIPE.)
citus_installed() {
  [ -f "$($PG_CONFIG --pkglibdir)/citus.so" ] &&
    grep -q "default_version = '13.2-1'" "$($PG_CONFIG --sharedir)/extension/citus.control" 2>/dev/null &&
    grep -aq 'Citus 13\.2\.2 ' "$($PG_CONFIG --pkglibdir)/citus.so"
}

if citus_installed; then
  echo "citus 13.2.2 is installed"
  exit 0
fi
if [ ! -f "$TARBALL" ]; then
  echo "citus 13.2.2 is not installed and there is no source at $TARBALL (set CITUS_SRC)" >&2
  exit 1
fi
if [ -n "$CHECK" ]; then
  echo "citus 13.2.2 is not installed; its source is at $TARBALL"
  exit 0
fi

missing=()
for p in "${DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing build dependencies: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "$SHA  $TARBALL" | sha256sum -c --quiet
BUILD=$(mktemp -d /tmp/citus-build.XXXXXX)
trap 'rm -rf "$BUILD"' EXIT
tar xzf "$TARBALL" -C "$BUILD"
cd "$BUILD/citus-13.2.2"

# PostgreSQL 15.20 back-patched have_createdb_privilege() into commands/dbcommands.h, and Citus's
# compat header for PostgreSQL < 16 defines a static inline of the same name: drop the inline,
# include the header. Fails loudly when the source no longer matches.
python3 - src/include/pg_version_compat.h <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s2, n = re.subn(r'\nstatic inline bool\nhave_createdb_privilege\(void\)\n\{.*?\n\}\n',
                '\n#include "commands/dbcommands.h"\n', s, count=1, flags=re.S)
if n != 1:
    sys.exit("the have_createdb_privilege patch did not apply")
open(p, 'w').write(s2)
PY

echo "building citus 13.2.2 (about 2 minutes on 2 cores)"
./configure PG_CONFIG=$PG_CONFIG >/dev/null
make -j2 with_llvm=no >/dev/null
make install with_llvm=no >/dev/null
citus_installed
echo "citus 13.2.2 installed: $(cd "$($PG_CONFIG --pkglibdir)" && ls citus*.so | tr '\n' ' ')"
