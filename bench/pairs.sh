#!/usr/bin/env bash
# Interleaved pipeline-overhead runs of several nl-import builds (BENCHMARKS.md, section 2):
#
#   bench/pairs.sh OLD/nl-import NEW/nl-import [MORE...]
#
# Each round measures the machine's speed first (the one-core parse + phone floor of
# `check_floors`, one run), then imports the 10^6-row file once with each binary, in the
# order given, against bench/null_server.rs with every limit off (the command of
# `bench/run.sh overhead`'s null-server run; the state file and reports in a temporary
# directory). One line per import: wall, user and sys seconds, peak RSS, leads/s.
#
# Settings (environment): ROUNDS=5, DATA=/tmp/nl-bench-data. Run `bench/run.sh overhead`
# once first: it builds check_floors and the null server and writes the 10^6-row file.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DATA=${DATA:-/tmp/nl-bench-data}
CSV=$DATA/leads-1m.csv
FLOORS=$ROOT/target/release/examples/check_floors
[ $# -ge 1 ] || { echo "usage: bench/pairs.sh BIN [BIN...]" >&2; exit 2; }
for f in "$CSV" "$DATA/null_server" "$FLOORS" "$@"; do
    [ -e "$f" ] || { echo "missing: $f (run bench/run.sh overhead first)" >&2; exit 2; }
done
export NATURALEAD_API_KEY=nl_test_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
TMP=$(mktemp -d)
NS=
trap '[ -z "$NS" ] || kill "$NS" 2>/dev/null; rm -rf "$TMP"' EXIT

# One import against a fresh null server; prints its line.
import_once() {
    local bin=$1 url=
    "$DATA/null_server" 0 >"$TMP/null.out" 2>&1 &
    NS=$!
    for _ in $(seq 100); do
        url=$(sed -n 's#.*listening on \(http://[^ ]*\)/api.*#\1#p' "$TMP/null.out")
        [ -n "$url" ] && break
        sleep 0.05
    done
    rm -rf "$TMP"/state.db* "$TMP/reports"
    /usr/bin/time -f '%e %U %S %M' -o "$TMP/time" "$bin" import "$CSV" --api-url "$url/api" \
        --rate 1000000000 --rate-window 60 --state "$TMP/state.db" --report-dir "$TMP/reports" \
        --json -q >/dev/null 2>"$TMP/err" || { echo "failed: $bin" >&2; cat "$TMP/err" >&2; exit 1; }
    kill "$NS"
    wait "$NS" 2>/dev/null || true
    NS=
    local wall user sys rss
    read -r wall user sys rss <"$TMP/time"
    echo "  $bin wall=$wall user=$user sys=$sys rss_kib=$rss leads/s=$(python3 -c "print(round(1e6 / $wall))")"
}

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs"
for round in $(seq "$ROUNDS"); do
    floor=$("$FLOORS" "$CSV" --runs 1 2>&1 | sed -n 's/(b) parse + phone *\([0-9]*\).*/\1/p')
    echo "round $round $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) phone_floor=$floor rows/s"
    for bin in "$@"; do
        import_once "$bin"
    done
done
