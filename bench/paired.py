#!/usr/bin/env python3
"""Paired, interleaved timing of two commands on a shared machine.

    bench/paired.py --runs 10 --warmup 1 \\
        --name check  --cmd 'nl-import check f.csv ...' \\
        --name rerun  --cmd 'nl-import import f.csv ...' --prepare 'cp template.db state.db'

Runs the two commands in pairs, alternating which goes first (A B, B A, A B, ...), so that a
change in the machine's speed (other work on a shared machine) hits both sides alike. Each
`--prepare` runs untimed before every run of its command (restoring a state file, say).
Every command must exit 0 (or one of `--ok` codes); a run that does not stops the benchmark.

Prints one JSON line per pair (both wall times, the 1-minute load average before the pair),
then the median, min and max of each side, the ratio of the medians, and the median and
range of the per-pair ratios (B / A). `--json FILE` also writes the whole record.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run(cmd, prepare, ok):
    if prepare:
        subprocess.run(prepare, shell=True, check=True, stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if done.returncode not in ok:
        sys.exit(f"exit {done.returncode} from: {cmd}\n{done.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="pairs measured")
    ap.add_argument("--warmup", type=int, default=1, help="pairs run first and not counted")
    ap.add_argument("--name", action="append", required=True)
    ap.add_argument("--cmd", action="append", required=True)
    ap.add_argument("--prepare", action="append", default=[])
    ap.add_argument("--ok", default="0", help="exit codes taken as success, comma-separated")
    ap.add_argument("--json", help="write every run and the summary here")
    a = ap.parse_args()
    if len(a.name) != 2 or len(a.cmd) != 2:
        sys.exit("give exactly two --name/--cmd pairs")
    # --prepare binds to the --cmd it follows; pad to two.
    prepare = [None, None]
    argv = sys.argv[1:]
    side = -1
    for i, arg in enumerate(argv):
        if arg == "--cmd":
            side += 1
        elif arg == "--prepare":
            prepare[side] = argv[i + 1]
    ok = {int(c) for c in a.ok.split(",")}

    times = [[], []]
    pairs = []
    for i in range(a.warmup + a.runs):
        load = os.getloadavg()[0]
        order = (0, 1) if i % 2 == 0 else (1, 0)
        got = [0.0, 0.0]
        for s in order:
            got[s] = run(a.cmd[s], prepare[s], ok)
        if i < a.warmup:
            continue
        times[0].append(got[0])
        times[1].append(got[1])
        rec = {"pair": i - a.warmup + 1, "first": a.name[order[0]], a.name[0]: round(got[0], 4),
               a.name[1]: round(got[1], 4), "ratio": round(got[1] / got[0], 4), "load1": load}
        pairs.append(rec)
        print(json.dumps(rec), flush=True)

    ratios = [p["ratio"] for p in pairs]
    summary = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": a.runs,
        "load1_min_max": [min(p["load1"] for p in pairs), max(p["load1"] for p in pairs)],
        "load1_end": os.getloadavg()[0],
    }
    for s in (0, 1):
        summary[a.name[s]] = {"median_s": round(statistics.median(times[s]), 4),
                              "min_s": round(min(times[s]), 4), "max_s": round(max(times[s]), 4),
                              "cmd": a.cmd[s]}
    summary["ratio_of_medians"] = round(summary[a.name[1]]["median_s"] / summary[a.name[0]]["median_s"], 4)
    summary["pair_ratio_median"] = round(statistics.median(ratios), 4)
    summary["pair_ratio_min_max"] = [round(min(ratios), 4), round(max(ratios), 4)]
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"pairs": pairs, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
