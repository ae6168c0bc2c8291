#!/usr/bin/env bash
# The `check` figures of BENCHMARKS.md (section 5), in one command:
#
#   bench/check.sh
#
# Settings (environment): SETS=3 (pairs of floors + check), RUNS=10 (hyperfine runs of
# check per set), DATA=/tmp/nl-bench-data (the 10^6 and 10^7-row files, 1.3 GB together),
# BIG=1 (also the 10^7-row memory figure). Needs hyperfine and /usr/bin/time (Debian
# packages `hyperfine`, `time`). Run it on an otherwise idle machine: the floors and check
# are measured in pairs because the speed of a shared machine moves.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SETS=${SETS:-3}
RUNS=${RUNS:-10}
BIG=${BIG:-1}
DATA=${DATA:-/tmp/nl-bench-data}
BIN=$ROOT/target/release/nl-import
GEN=$ROOT/target/release/examples/gen_leads
FLOORS=$ROOT/target/release/examples/check_floors
REPORTS=$(mktemp -d)
trap 'rm -rf "$REPORTS"' EXIT

(cd "$ROOT" && cargo build --release --examples --bin nl-import -q)
mkdir -p "$DATA"
gen() { [ -s "$2" ] || { "$GEN" --rows "$1" >"$2.$$" && mv -f "$2.$$" "$2"; }; }
gen 1000000 "$DATA/leads-1m.csv"

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"
for set in $(seq "$SETS"); do
    echo "== set $set"
    "$FLOORS" "$DATA/leads-1m.csv" --runs 5
    hyperfine --warmup 2 --runs "$RUNS" \
        "$BIN check $DATA/leads-1m.csv --report-dir $REPORTS/1m -q"
done

rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): /peak RSS KiB: /p'; }
echo "== memory"
echo "check, 12 rows:   $(rss "$BIN" check "$ROOT/samples/leads.csv" --report-dir "$REPORTS/s" -q)"
echo "check, 10^6 rows: $(rss "$BIN" check "$DATA/leads-1m.csv" --report-dir "$REPORTS/1m" -q)"
"$FLOORS" --index-rows 1000000
if [ "$BIG" = 1 ]; then
    gen 10000000 "$DATA/leads-10000000.csv"
    echo "check, 10^7 rows: $(rss "$BIN" check "$DATA/leads-10000000.csv" --report-dir "$REPORTS/10m" -q)"
    "$FLOORS" --index-rows 10000000
fi
