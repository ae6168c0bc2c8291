#!/usr/bin/env bash
# The nightly-rerun figures of BENCHMARKS.md (section 7), in one command:
#
#   bench/rerun.sh                 # check vs an unchanged rerun of 10^6 rows, paired
#   OLD=/path/to/old/nl-import bench/rerun.sh check-vs-old   # check: this build vs another
#
# Settings (environment): RUNS=10 (pairs), WARMUP=1, ROWS=1000000, DATA=/tmp/nl-bench-data,
# PORT=38917 (the API URL is part of the delta scope, so every rerun must name the same one).
#
# `rerun` (the default): imports the file once against bench/null_server.rs with every
# limit off and keeps the state file as a template; then bench/paired.py times, in
# interleaved pairs, `nl-import check` of the file and an import of the same file from a
# fresh copy of that state file. The rerun runs with no server listening: every lead is
# unchanged, nothing is sent, and a request would fail the run (exit code checked); its
# summary is checked for rows_read = unchanged = ROWS and nothing sent.
# `check-vs-old`: `check` of the file by $OLD and by this build, in interleaved pairs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHAT=${1:-rerun}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
ROWS=${ROWS:-1000000}
DATA=${DATA:-/tmp/nl-bench-data}
PORT=${PORT:-38917}
OUT=${OUT:-$ROOT/bench/out/$(date -u +%Y%m%dT%H%M%SZ)-$WHAT}
BIN=$ROOT/target/release/nl-import
GEN=$ROOT/target/release/examples/gen_leads
export NATURALEAD_API_KEY=nl_test_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

mkdir -p "$OUT" "$DATA"
TMP=$(mktemp -d)
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$TMP"' EXIT
CSV=$DATA/leads-$ROWS.csv
[ -s "$CSV" ] || "$GEN" --rows "$ROWS" >"$CSV"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/about.txt"

case $WHAT in
rerun)
    NULL=$DATA/null_server
    [ -x "$NULL" ] || rustc -O --edition 2021 "$ROOT/bench/null_server.rs" -o "$NULL"
    "$NULL" "$PORT" >/dev/null &
    SERVER=$!
    sleep 0.5
    API=http://127.0.0.1:$PORT/api
    "$BIN" import "$CSV" --api-url "$API" --rate 1000000000 --rate-window 60 \
        --state "$TMP/template.db" --report-dir "$TMP/r0" -q --json >"$OUT/first-import.json"
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=
    # One rerun checked before timing: everything unchanged, nothing sent.
    cp "$TMP/template.db" "$TMP/state.db"
    "$BIN" import "$CSV" --api-url "$API" --state "$TMP/state.db" --report-dir "$TMP/r1" -q --json \
        >"$OUT/rerun.json"
    python3 - "$OUT/rerun.json" "$ROWS" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
rows = int(sys.argv[2])
got = {k: s[k] for k in ("status", "rows_read", "unchanged", "imported", "rejected", "pending", "new", "changed")}
assert got == {"status": "done", "rows_read": rows, "unchanged": rows, "imported": 0, "rejected": 0,
               "pending": 0, "new": 0, "changed": 0}, got
assert s["session"].get("requests", 0) == 0, s["session"]
print(f"rerun summary: {got}, requests {s['session'].get('requests', 0)}")
EOF
    python3 "$ROOT/bench/paired.py" --runs "$RUNS" --warmup "$WARMUP" --json "$OUT/paired.json" \
        --name check --cmd "$BIN check $CSV --report-dir $TMP/rc -q" \
        --name rerun --cmd "$BIN import $CSV --api-url $API --state $TMP/state.db --report-dir $TMP/rr -q" \
        --prepare "cp $TMP/template.db $TMP/state.db" | tee "$OUT/paired.txt"
    ;;
check-vs-old)
    : "${OLD:?OLD=path of the other nl-import binary}"
    python3 "$ROOT/bench/paired.py" --runs "$RUNS" --warmup "$WARMUP" --json "$OUT/paired.json" \
        --name old --cmd "$OLD check $CSV --report-dir $TMP/ro -q" \
        --name new --cmd "$BIN check $CSV --report-dir $TMP/rn -q" | tee "$OUT/paired.txt"
    ;;
*)
    echo "unknown: $WHAT (rerun, check-vs-old)" >&2
    exit 2
    ;;
esac
echo "results: $OUT"
