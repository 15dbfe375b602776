#!/usr/bin/env bash
# Run every benchmark: make the data if it is missing, then the audit benchmark.
# Arguments go to bench_audit.py, e.g. `benchmarks/run_all.sh --repeat 5 --skip-ydata`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python}"
data="$here/.data/audit_1m.parquet"
if [[ ! -f "$data" ]]; then
    "$python" "$here/generate.py" --rows 1000000 --out "$data"
fi
exec "$python" "$here/bench_audit.py" --data "$data" "$@"
