#!/usr/bin/env bash
# Run the benchmarks: make the data if it is missing, then the audit benchmark, then the training one.
#   benchmarks/run_all.sh [all|audit|train|registry|log|serving|score|drift|ui|scale] [ARGS...]
# registry, log, serving, score, drift, ui and scale run that one benchmark with ARGS (serving, score and
# scale build their project from the training data the first time; scale writes its Parquet files; drift makes its own data and Evidently venv;
# ui builds the dashboard's workspace, 50 versions and 1,000,000 logged predictions, the first time).
# `audit` and `train` run one benchmark and pass every argument to it, e.g.
#   benchmarks/run_all.sh audit --repeat 5 --skip-ydata
#   benchmarks/run_all.sh train --repeat 5 --skip-time
# `all` (the default, so `benchmarks/run_all.sh --repeat 5 --skip-ydata` still works) passes the
# arguments to bench_audit.py, and only --repeat and --no-record of them to bench_train.py;
# TRAIN_ARGS adds more for it, e.g. TRAIN_ARGS="--skip-time" benchmarks/run_all.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python}"
audit_data="$here/.data/audit_1m.parquet"
train_data="$here/.data/train_100k.parquet"

which=all
case "${1:-}" in
    all | audit | train | registry | log | serving | score | drift | ui | scale)
        which="$1"
        shift
        ;;
esac

run_audit() {
    if [[ ! -f "$audit_data" ]]; then
        "$python" "$here/generate.py" --rows 1000000 --out "$audit_data"
    fi
    "$python" "$here/bench_audit.py" --data "$audit_data" "$@"
}

run_train() {
    if [[ ! -f "$train_data" ]]; then
        "$python" "$here/generate.py" --rows 100000 --out "$train_data"
    fi
    "$python" "$here/bench_train.py" --data "$train_data" "$@"
}

case "$which" in
    audit) run_audit "$@" ;;
    train) run_train "$@" ;;
    registry | log | drift | ui) "$python" "$here/bench_$which.py" "$@" ;;
    serving | score | scale)
        if [[ ! -f "$train_data" ]]; then
            "$python" "$here/generate.py" --rows 100000 --out "$train_data"
        fi
        "$python" "$here/bench_$which.py" "$@"
        ;;
    all)
        train_args=()
        args=("$@")
        for ((i = 0; i < ${#args[@]}; i++)); do
            case "${args[i]}" in
                --repeat) train_args+=("--repeat" "${args[i + 1]:-}") ;;
                --repeat=*) train_args+=("${args[i]}") ;;
                --no-record) train_args+=("--no-record") ;;
            esac
        done
        # shellcheck disable=SC2206  # TRAIN_ARGS is meant to split into words
        extra=(${TRAIN_ARGS:-})
        run_audit "$@"
        run_train ${train_args[@]+"${train_args[@]}"} ${extra[@]+"${extra[@]}"}
        ;;
esac
