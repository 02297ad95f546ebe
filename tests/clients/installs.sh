#!/usr/bin/env bash
# The worker packages install from their folders, as a user would: npm install PATH and pip install PATH into
# scratch places, then each imports and answers shardOf / shard_of.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "$root/clients/node" >/dev/null
node -e "import('g-worker').then((m) => { if (m.shardOf('81000000000000000', 16) !== 11) process.exit(1); console.log('g-worker ok'); })"
/usr/bin/python3 -m pip install --quiet --no-build-isolation --no-deps --target "$scratch/py" "$root/clients/python" 2>/dev/null
PYTHONPATH="$scratch/py" /usr/bin/python3 -c "import g_worker; assert g_worker.shard_of('81000000000000000', 16) == 11; print('g_worker ok')"
