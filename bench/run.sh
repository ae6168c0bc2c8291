#!/usr/bin/env bash
# Every `import` benchmark of BENCHMARKS.md, in one command:
#
#   bench/run.sh                      # all of them: quota baseline overhead resume memory
#   bench/run.sh overhead resume      # some of them
#
# Settings (environment):
#   REPS=3              repetitions of each nl-import measurement
#   BASELINE_REPS=1     repetitions of the Python baseline (at 1-2 s latency it needs about
#                       an hour for 50 windows: it sends one request at a time)
#   QUOTA_WINDOWS=50    workload of the quota runs, in windows' worth of leads (50 x 100 each)
#   LATENCIES="50 1000-2000"   sandbox --latency-ms values for the quota runs
#   MEM_ROWS="100000 1000000 10000000"   file sizes of the memory runs
#   PROFILE=1           also record a perf profile of one overhead run (needs perf)
#   QUIET=0.10 QUIET_WAIT=900   before each CPU-bound run, wait (at most QUIET_WAIT s) until
#                       the machine's busy share over 3 s is below QUIET (other processes)
#   OUT=bench/out/<UTC time>   where results go: results.jsonl, summary.md, logs
#   DATA=/tmp/nl-bench-data    generated inputs (the 10^7-row file is 1.2 GB)
#   REV=<commit>        measure that commit instead of the working tree: it is exported with
#                       `git archive` to $DATA/src-<commit> and built there (own target dir)
#
# Needs: a Rust toolchain, python3 with `requests`, curl, /usr/bin/time (package `time`),
# perf for the profile. Each sandbox listens on a free loopback port; the quota runs are
# bound by the rate limit, the others by the CPU: run those on an otherwise idle machine
# (the load average is recorded beside each result).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCHES=${*:-quota baseline overhead resume memory}
REPS=${REPS:-3}
BASELINE_REPS=${BASELINE_REPS:-1}
QUOTA_WINDOWS=${QUOTA_WINDOWS:-50}
LATENCIES=${LATENCIES:-"50 1000-2000"}
MEM_ROWS=${MEM_ROWS:-"100000 1000000 10000000"}
PROFILE=${PROFILE:-1}
OUT=${OUT:-$ROOT/bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
DATA=${DATA:-/tmp/nl-bench-data}
if [ -n "${REV:-}" ]; then
    REV=$(git -C "$ROOT" rev-parse --short "$REV")
    BUILD=$DATA/src-$REV
    if [ ! -d "$BUILD" ]; then
        mkdir -p "$BUILD"
        git -C "$ROOT" archive "$REV" | tar -x -C "$BUILD"
        # Start from the shared build's dependencies (only the workspace crates rebuild).
        [ -d "$ROOT/target/release" ] && mkdir -p "$BUILD/target" && cp -a "$ROOT/target/release" "$BUILD/target/"
    fi
else
    BUILD=$ROOT
fi
BIN=$BUILD/target/release/nl-import
GEN=$BUILD/target/release/examples/gen_leads
ANALYZE="python3 $ROOT/bench/analyze.py"
NULL_SERVER=$DATA/null_server
KEY=nl_test_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
export NATURALEAD_API_KEY=$KEY

# The sync tier at the documented 50 requests, the window scaled from 60 s to 6 s; the
# other tiers high enough never to bind.
WINDOW=6
LIMIT=50
SCALED=(--window-secs $WINDOW --sync-limit $LIMIT --key-limit 1000000 --ip-limit 1000000 --account-limit 1000000)
# Limits off: every tier far above what a run can send.
OFF=(--window-secs 60 --sync-limit 1000000000 --key-limit 1000000000 --ip-limit 1000000000 --account-limit 1000000000)
OFF_IMPORT=(--rate 1000000000 --rate-window 60)

mkdir -p "$OUT/logs" "$OUT/tmp" "$DATA"
RESULTS=$OUT/results.jsonl
SB_PID=

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 3))" "$1" "$2"; }

# On exit (when stopped: once the command in progress ends, as bash runs traps), also stop
# any child left, so that no importer or baseline goes on against a server that is gone.
killtree() { local c; for c in $(pgrep -P "$1"); do killtree "$c"; kill "$c" 2>/dev/null; done; }
cleanup() {
    # (Its status becomes the script's: a finished run exits 0.)
    [ -z "$SB_PID" ] || kill "$SB_PID" 2>/dev/null || true
    killtree $$ || true
    rm -rf "$OUT/tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# start_sandbox FLAGS...: a sandbox on a free port; sets SB_PID and SB_URL.
# The port is $SB_PORT if set (a resumed run must see the same API URL), else a free one.
start_sandbox() { start_server "$BIN" sandbox --port "${SB_PORT:-0}" "$@"; }
# start_null: bench/null_server.rs on a free port (answers every sync 200, stores nothing).
start_null() { start_server "$NULL_SERVER" 0; }
start_server() {
    local out=$OUT/logs/server-$(date +%s%N).out
    : >"$out"
    "$@" >"$out" 2>&1 &
    SB_PID=$!
    SB_URL=
    for _ in $(seq 200); do
        SB_URL=$(sed -n 's#.*listening on \(http://[^ ]*\)/api.*#\1#p' "$out")
        [ -n "$SB_URL" ] && return 0
        sleep 0.05
    done
    log "server did not start: $(cat "$out")"
    exit 1
}
stop_sandbox() {
    kill "$SB_PID" 2>/dev/null || true
    wait "$SB_PID" 2>/dev/null || true
    SB_PID=
}
# CPU seconds the whole machine has been busy (all CPUs).
machine_busy() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {print ($2 + $3 + $4 + $7 + $8 + $9) / hz}' /proc/stat; }
# wait_quiet: until the machine is idle (other agents' builds and tests share it); prints
# the busy share of all CPUs seen last, over 3 s.
wait_quiet() {
    local deadline=$((SECONDS + ${QUIET_WAIT:-900})) share
    while :; do
        local b0; b0=$(machine_busy)
        sleep 3
        local b1; b1=$(machine_busy)
        share=$(python3 -c "import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) / 3 / $(nproc), 3))" "$b0" "$b1")
        if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$share" "${QUIET:-0.10}" ||
            [ $SECONDS -ge $deadline ]; then
            echo "$share"
            return
        fi
        sleep 2
    done
}
# CPU seconds (user + system) the server used so far.
sandbox_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$SB_PID/stat"; }

machine() {
    {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        if [ -n "${REV:-}" ]; then
            echo "commit: $REV (built from git archive in $BUILD)"
        else
            echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src crates Cargo.toml Cargo.lock || echo ' + uncommitted changes')"
        fi
        echo "nproc: $(nproc)"
        echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(lscpu | sed -n 's/^Hypervisor vendor: *//p') guest)"
        echo "ram: $(free -g | awk '/^Mem:/ {print $2}') GiB"
        echo "rustc: $(rustc --version)"
        echo "python: $(python3 --version 2>&1), requests $(python3 -c 'import requests; print(requests.__version__)')"
        echo "load at start: $(cat /proc/loadavg)"
    } >"$OUT/machine.txt"
    cat "$OUT/machine.txt" >&2
}

# gen_rows N FILE: a deterministic all-valid export of N rows.
gen_rows() { [ -s "$2" ] || { log "generating $1 rows -> $2"; "$GEN" --rows "$1" >"$2.$$" && mv -f "$2.$$" "$2"; }; }

# ---------------------------------------------------------------------------------------
# 1 and 2. Quota utilisation, nl-import and the baseline, at each latency.

quota_inputs() {
    QROWS=$((QUOTA_WINDOWS * LIMIT * 100))
    QCSV=$DATA/leads-q$QUOTA_WINDOWS.csv
    QJSONL=$DATA/leads-q$QUOTA_WINDOWS.jsonl
    gen_rows "$QROWS" "$QCSV"
    if [ ! -s "$QJSONL" ]; then
        "$BIN" check "$QCSV" --emit-valid "$QJSONL.$$" --report-dir "$OUT/tmp/check" -q >/dev/null
        mv -f "$QJSONL.$$" "$QJSONL"
    fi
}

# quota_run CLIENT LATENCY REP
quota_run() {
    local client=$1 lat=$2 rep=$3 tag=$1-${2}ms-$3 rc=0
    start_sandbox "${SCALED[@]}" --latency-ms "$lat" --seed "$rep"
    log "quota: $client, latency $lat ms, run $rep, $QROWS leads (ideal $((QUOTA_WINDOWS * WINDOW)) s)"
    local load; load=$(load1)
    local t0; t0=$(now)
    if [ "$client" = nl-import ]; then
        rm -f "$OUT/tmp/q.db"*
        "$BIN" import "$QCSV" --api-url "$SB_URL/api" --rate $LIMIT --rate-window $WINDOW \
            --state "$OUT/tmp/q.db" --report-dir "$OUT/tmp/qr" --json -q >"$OUT/logs/$tag.json" || rc=$?
    else
        python3 "$ROOT/bench/baseline.py" "$QJSONL" --api-url "$SB_URL/api" \
            --summary "$OUT/logs/$tag.json" >/dev/null || rc=$?
    fi
    local t1; t1=$(now)
    curl -sf "$SB_URL/__sandbox/requests" >"$OUT/logs/$tag.requests.json"
    stop_sandbox
    $ANALYZE quota "$OUT/logs/$tag.requests.json" --window $WINDOW --limit $LIMIT \
        --wall-s "$(elapsed "$t0" "$t1")" --client-summary "$OUT/logs/$tag.json" \
        --tag bench=quota --tag client="$client" --tag latency="$lat" --tag windows="$QUOTA_WINDOWS" \
        --tag rep="$rep" --tag exit="$rc" --tag load1="$load" | tee -a "$RESULTS" >&2
}

bench_quota() {
    quota_inputs
    for lat in $LATENCIES; do
        for rep in $(seq "$REPS"); do quota_run nl-import "$lat" "$rep"; done
    done
}

bench_baseline() {
    quota_inputs
    for lat in $LATENCIES; do
        for rep in $(seq "$BASELINE_REPS"); do quota_run baseline "$lat" "$rep"; done
    done
}

# ---------------------------------------------------------------------------------------
# 3. Pipeline overhead: limits off, no latency, 10^6 rows.

# timed_import TAG CSV STATE [FLAGS...]: runs an import under /usr/bin/time against $SB_URL.
timed_import() {
    local tag=$1 csv=$2 state=$3 rc=0
    shift 3
    /usr/bin/time -f '%e %U %S %M' -o "$OUT/logs/$tag.time" \
        "$BIN" import "$csv" --api-url "$SB_URL/api" "${OFF_IMPORT[@]}" --state "$state" \
        --report-dir "$OUT/tmp/r-$tag" --json -q "$@" >"$OUT/logs/$tag.json" || rc=$?
    echo "$rc"
}

bench_overhead() {
    local csv=$DATA/leads-1m.csv
    gen_rows 1000000 "$csv"
    for rep in $(seq "$REPS"); do
        for server in sandbox null; do
            local quiet; quiet=$(wait_quiet)
            "start_$server" "${OFF[@]}"
            rm -f "$OUT/tmp/o.db"*
            local load; load=$(load1)
            local c0; c0=$(sandbox_cpu)
            local m0; m0=$(machine_busy)
            log "overhead: 10^6 rows against the $server, run $rep (load $load, busy before $quiet)"
            local rc; rc=$(timed_import "overhead-$server-$rep" "$csv" "$OUT/tmp/o.db")
            local c1; c1=$(sandbox_cpu)
            local m1; m1=$(machine_busy)
            stop_sandbox
            $ANALYZE record --tag bench=overhead --tag server=$server --tag rows=1000000 --tag rep="$rep" \
                --tag exit="$rc" --tag load1="$load" --tag busy_before="$quiet" \
                --tag server_cpu_s="$(elapsed "$c0" "$c1")" --tag machine_cpu_s="$(elapsed "$m0" "$m1")" \
                --json-file "$OUT/logs/overhead-$server-$rep.json" --time-file "$OUT/logs/overhead-$server-$rep.time" |
                tee -a "$RESULTS" >&2
        done
    done
    if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
        # One more run against each server under perf: samples of every thread of the
        # importer with call chains (DWARF), to split its CPU time by thread and to find the
        # share of the state file (Checkpoint::*, SQLite inside), inclusive.
        for server in sandbox null; do
            local quiet; quiet=$(wait_quiet)
            "start_$server" "${OFF[@]}"
            rm -f "$OUT/tmp/o.db"*
            log "overhead: perf profile against the $server (load $(load1), busy before $quiet)"
            local data=$OUT/tmp/overhead-$server.perf.data
            /usr/bin/time -f '%e %U %S %M' -o "$OUT/logs/profile-$server.time" \
                perf record -q -F 499 --call-graph dwarf,32768 -o "$data" -- \
                "$BIN" import "$csv" --api-url "$SB_URL/api" "${OFF_IMPORT[@]}" --state "$OUT/tmp/o.db" \
                --report-dir "$OUT/tmp/r-perf" --json -q >"$OUT/logs/profile-$server.json" 2>/dev/null || true
            stop_sandbox
            perf report -i "$data" --no-children --sort pid,comm -g none --stdio 2>/dev/null |
                grep -v '^#' | grep -v '^$' >"$OUT/logs/profile-$server.threads.txt" || true
            perf report -i "$data" --children --sort sym -g none --stdio 2>/dev/null |
                grep -v '^#' | grep -v '^$' >"$OUT/logs/profile-$server.children.txt" || true
            rm -f "$data"
            $ANALYZE profile "$OUT/logs/profile-$server.threads.txt" "$OUT/logs/profile-$server.children.txt" | tee "$OUT/profile-$server.txt" >&2
        done
    fi
}

# ---------------------------------------------------------------------------------------
# 4. Resume: a rerun skipping 900,000 settled rows of a 10^6-row file.
#
# Setup: the sandbox answers 403 to every sync request from the 9,001st on; an import with
# one request in flight therefore settles exactly rows 1-900,000 (9,000 batches) and stops
# (resumable). Its state file is kept as a template. Each run restores the template and
# runs the same command against a fresh sandbox without faults. Just before the command
# starts, a `GET /api/leads` marks the time in the sandbox's log; the time to the first sync
# request is start-up + fingerprint + loading the checkpoint + skipping 900,000 rows +
# validating and sending the first batch. The same rows 900,001-1,000,000 imported fresh
# from a file of their own give the cost of the rest of the run, for comparison.

# resume_run BENCH REP CSV STATE ROWS: one timed import against a fresh sandbox without
# faults, with a marker request just before it starts, recorded as BENCH.
resume_run() {
    local bench=$1 rep=$2 csv=$3 state=$4 rows=$5 rc
    local quiet; quiet=$(wait_quiet)
    start_sandbox "${OFF[@]}"
    local load; load=$(load1)
    curl -sf -o /dev/null "$SB_URL/api/leads?limit=1" -H "X-API-Key: $KEY"
    local t0; t0=$(now)
    rc=$(timed_import "$bench-$rep" "$csv" "$state")
    local t1; t1=$(now)
    curl -sf "$SB_URL/__sandbox/requests" >"$OUT/logs/$bench-$rep.requests.json"
    stop_sandbox
    local first; first=$($ANALYZE first-sync "$OUT/logs/$bench-$rep.requests.json" /api/leads)
    $ANALYZE record --tag bench="$bench" --tag rows="$rows" --tag rep="$rep" --tag exit="$rc" \
        --tag load1="$load" --tag busy_before="$quiet" --tag to_first_sync_s="$first" --tag wall_s="$(elapsed "$t0" "$t1")" \
        --json-file "$OUT/logs/$bench-$rep.json" --time-file "$OUT/logs/$bench-$rep.time" |
        tee -a "$RESULTS" >&2
}

bench_resume() {
    local csv=$DATA/leads-1m.csv tail=$DATA/leads-1m-tail100k.csv
    gen_rows 1000000 "$csv"
    [ -s "$tail" ] || { { head -1 "$csv"; tail -n +900002 "$csv"; } >"$tail.$$" && mv -f "$tail.$$" "$tail"; }
    local template=$OUT/tmp/resume-template.db
    echo '{"script":[{"nth":9001,"times":1000000000,"action":{"kind":"respond","status":403}}]}' >"$OUT/tmp/faults.json"
    start_sandbox "${OFF[@]}" --faults "$OUT/tmp/faults.json"
    # The API URL is part of the run's configuration: every rerun uses this port again.
    local SB_PORT=${SB_URL##*:}
    rm -f "$template"*
    log "resume: setup, settling rows 1-900,000"
    local rc=0
    "$BIN" import "$csv" --api-url "$SB_URL/api" "${OFF_IMPORT[@]}" --state "$template" \
        --report-dir "$OUT/tmp/r-setup" --concurrency 1 --json -q >"$OUT/logs/resume-setup.json" 2>/dev/null || rc=$?
    stop_sandbox
    "$BIN" status --state "$template" >"$OUT/logs/resume-setup.status.txt" 2>&1 || true
    log "resume: setup exit $rc; $(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("imported", s["imported"], "status", s["status"])' "$OUT/logs/resume-setup.json")"
    for rep in $(seq "$REPS"); do
        rm -f "$OUT/tmp/rs.db"*
        for f in "$template"*; do cp "$f" "$OUT/tmp/rs.db${f#"$template"}"; done
        resume_run resume "$rep" "$csv" "$OUT/tmp/rs.db" 1000000
    done
    SB_PORT=
    for rep in $(seq "$REPS"); do
        rm -f "$OUT/tmp/rt.db"*
        resume_run resume-tail "$rep" "$tail" "$OUT/tmp/rt.db" 100000
    done
}

# ---------------------------------------------------------------------------------------
# 5. Memory: peak RSS of an import, limits off, 10^5 / 10^6 / 10^7 rows.

bench_memory() {
    # Against the null server: the sandbox keeps every lead in memory (about 1.8 GB per
    # 10^6), too much for 10^7 on this machine, and the server does not change what the
    # importer holds.
    for rows in $MEM_ROWS; do
        local csv=$DATA/leads-$rows.csv
        [ "$rows" = 1000000 ] && csv=$DATA/leads-1m.csv
        gen_rows "$rows" "$csv"
        for rep in $(seq "$REPS"); do
            local quiet; quiet=$(wait_quiet)
            start_null
            rm -f "$OUT/tmp/m.db"*
            local load; load=$(load1)
            log "memory: $rows rows, run $rep (load $load, busy before $quiet)"
            local rc; rc=$(timed_import "memory-$rows-$rep" "$csv" "$OUT/tmp/m.db")
            stop_sandbox
            $ANALYZE record --tag bench=memory --tag server=null --tag rows="$rows" --tag rep="$rep" \
                --tag exit="$rc" --tag load1="$load" --tag busy_before="$quiet" --json-file "$OUT/logs/memory-$rows-$rep.json" \
                --time-file "$OUT/logs/memory-$rows-$rep.time" | tee -a "$RESULTS" >&2
        done
    done
}

# ---------------------------------------------------------------------------------------

log "building (release)"
(cd "$BUILD" && cargo build --release --examples --bin nl-import -q)
rustc -O --edition 2021 "$ROOT/bench/null_server.rs" -o "$NULL_SERVER.$$" && mv -f "$NULL_SERVER.$$" "$NULL_SERVER"
machine
for b in $BENCHES; do
    case $b in
        quota | baseline | overhead | resume | memory) "bench_$b" ;;
        *) log "unknown benchmark: $b (quota baseline overhead resume memory)"; exit 2 ;;
    esac
done
$ANALYZE table "$RESULTS" | tee "$OUT/summary.md"
log "results: $OUT/results.jsonl, tables: $OUT/summary.md"
