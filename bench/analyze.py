#!/usr/bin/env python3
"""Turns what bench/run.sh collected into figures.

  analyze.py quota LOG.json --window S --limit N --wall-s T [--client-summary F] [--tag k=v ...]
      reads the sandbox's request log (GET /__sandbox/requests) of one run and prints one
      JSON record of quota figures (see QUOTA below)
  analyze.py first-sync LOG.json MARKER_PATH
      prints the seconds between the request to MARKER_PATH (sent just before the command
      was started) and the first sync request, both as the sandbox clocked their arrival
  analyze.py record --tag k=v ... [--json-file F] [--time-file F]
      prints one JSON record made of the tags, an importer summary (F) and a
      `/usr/bin/time -f '%e %U %S %M'` output
  analyze.py profile THREADS.txt CHILDREN.txt
      summarises `perf report` outputs (by thread; inclusive by symbol) of one import
  analyze.py table RESULTS.jsonl
      prints Markdown tables: every figure as median (min – max) over the repetitions

QUOTA. Only sync requests (`POST /api/leads/sync`) count. `ok` are the 200s; the tier
counts only requests it let through, so these are the quota actually used.
- sustained: accepted requests per window over the sending span, (ok - 1) / (last - first
  arrival) * window, as a share of the limit;
- windows: the span cut into consecutive windows of `window` seconds from the first
  arrival; for every full window, the accepted requests and leads in it (median, min);
- max_in_window: the most accepted requests in any sliding window [t, t + window): never
  more than the limit, or the sandbox would have refused one;
- e2e: the ideal time (leads / (limit * batch) windows) over the client's wall time,
  start-up, validation and the last answer included.
"""

import argparse
import json
import statistics
import sys


def sync_entries(log):
    return [e for e in log if e.get("method") == "POST" and e.get("path") == "/api/leads/sync"]


def tags(pairs):
    out = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def quota(args):
    log = json.load(open(args.log))
    entries = sync_entries(log)
    ok = sorted((e["at_ms"], e.get("leads") or 0) for e in entries if e.get("status") == 200)
    statuses = {}
    refused = {}
    for e in entries:
        statuses[str(e.get("status"))] = statuses.get(str(e.get("status")), 0) + 1
        if e.get("refused_by"):
            refused[e["refused_by"]] = refused.get(e["refused_by"], 0) + 1
    w_ms = args.window * 1000.0
    rec = tags(args.tag)
    rec.update(
        sync_requests=len(entries),
        ok=len(ok),
        http_429=statuses.get("429", 0),
        refused_by=refused,
        statuses=statuses,
        leads_ok=sum(n for _, n in ok),
        wall_s=args.wall_s,
    )
    if len(ok) >= 2:
        t = [a for a, _ in ok]
        span = (t[-1] - t[0]) / 1000.0
        rec["span_s"] = span
        rec["sustained"] = (len(ok) - 1) / span * args.window / args.limit
        # Consecutive full windows from the first arrival.
        per_req, per_leads = [], []
        k = 0
        i = 0
        while t[0] + (k + 1) * w_ms <= t[-1]:
            lo, hi = t[0] + k * w_ms, t[0] + (k + 1) * w_ms
            n = leads = 0
            while i < len(ok) and ok[i][0] < hi:
                if ok[i][0] >= lo:
                    n += 1
                    leads += ok[i][1]
                i += 1
            per_req.append(n)
            per_leads.append(leads)
            k += 1
        if per_req:
            rec["full_windows"] = len(per_req)
            rec["window_requests_median"] = statistics.median(per_req)
            rec["window_requests_min"] = min(per_req)
            rec["window_requests_max"] = max(per_req)
            rec["window_leads_median"] = statistics.median(per_leads)
            rec["window_leads_min"] = min(per_leads)
            rec["window_share_median"] = statistics.median(per_leads) / (args.limit * args.batch)
        # Most accepted requests in any sliding window [t_i, t_i + window).
        best, j = 0, 0
        for i2 in range(len(t)):
            while j < len(t) and t[j] < t[i2] + w_ms:
                j += 1
            best = max(best, j - i2)
        rec["max_in_window"] = best
    ideal = rec["leads_ok"] / (args.limit * args.batch) * args.window
    rec["ideal_s"] = ideal
    if args.wall_s:
        rec["e2e"] = ideal / args.wall_s
    if args.client_summary:
        s = json.load(open(args.client_summary))
        sess = s.get("session", s)
        rec["client_requests"] = sess.get("requests")
        rec["client_throttled"] = sess.get("throttled")
        if "quota_used" in sess:
            rec["client_quota_used"] = sess["quota_used"]
        if "imported" in s:
            rec["client_imported"] = s["imported"]
        if "leads_sent" in s and "session" not in s:
            rec["client_imported"] = s["leads_sent"]
    print(json.dumps(rec))


def first_sync(args):
    log = json.load(open(args.log))
    marks = [e["at_ms"] for e in log if e.get("path") == args.marker]
    syncs = [e["at_ms"] for e in sync_entries(log)]
    if not marks or not syncs:
        sys.exit("first-sync: no marker or no sync request in the log")
    print((min(syncs) - max(marks)) / 1000.0)


def record(args):
    rec = tags(args.tag)
    if args.json_file:
        s = json.load(open(args.json_file))
        sess = s.get("session", {})
        rec.update(
            status=s.get("status"),
            rows_read=s.get("rows_read"),
            imported=s.get("imported"),
            rejected=s.get("rejected"),
            session_duration_s=sess.get("duration_ms", 0) / 1000.0,
            rows_skipped=sess.get("rows_skipped"),
            leads_imported_session=sess.get("leads_imported"),
            requests=sess.get("requests"),
            throttled=sess.get("throttled"),
        )
    if args.time_file:
        fields = open(args.time_file).read().split()[-4:]
        wall, user, sys_, rss = float(fields[0]), float(fields[1]), float(fields[2]), int(fields[3])
        rec.update(time_wall_s=wall, user_s=user, sys_s=sys_, max_rss_kib=rss)
    if "time_wall_s" in rec and rec.get("leads_imported_session"):
        rec["leads_per_s"] = rec["leads_imported_session"] / rec["time_wall_s"]
    if "user_s" in rec and rec.get("leads_imported_session"):
        rec["cpu_s_per_1e6_leads"] = (rec["user_s"] + rec["sys_s"]) / rec["leads_imported_session"] * 1e6
    if "machine_cpu_s" in rec and "user_s" in rec:
        # CPU the rest of the machine (other processes) used during the run.
        rec["others_cpu_s"] = round(rec["machine_cpu_s"] - rec["user_s"] - rec["sys_s"] - rec.get("server_cpu_s", 0), 2)
    if "max_rss_kib" in rec:
        rec["max_rss_mib"] = rec["max_rss_kib"] / 1024.0
    if rec.get("rows_skipped") and isinstance(rec.get("to_first_sync_s"), (int, float)):
        rec["skipped_per_s_to_first_sync"] = rec["rows_skipped"] / rec["to_first_sync_s"]
    print(json.dumps(rec))


# Functions whose inclusive share of the samples the profile reports.
PROFILE_SYMBOLS = [
    "naturalead_import::checkpoint::Checkpoint::commit",
    "naturalead_import::checkpoint::Checkpoint::open",
    "naturalead_import::checkpoint::Checkpoint::finish",
    "naturalead_import::checkpoint::Checkpoint::for_each_rejection",
    "sqlite3_step",
    "naturalead_import::import::Coordinator::settle",
    "naturalead_import::import::read_batches",
    "serde_json::ser::to_string",
    "naturalead_import::pipeline::pre_validate",
    "naturalead_import::upload::Uploader::send_part::{{closure}}",
    "naturalead_import::upload::interpret_sync",
    "naturalead_import::upload::Uploader::body",
    "naturalead_import::import::fingerprint",
    "naturalead_import::report::ReportWriter::finish",
]


def profile(args):
    print("samples by thread (pid:comm), share of the importer's samples:")
    for line in open(args.threads):
        if "%" in line:
            print("  " + line.strip())
    shares = {}
    for line in open(args.children):
        parts = line.split(None, 3)
        if len(parts) < 4 or not parts[0].endswith("%"):
            continue
        sym = parts[3].strip()
        sym = sym.replace(" (inlined)", "")
        if sym not in shares:
            shares[sym] = float(parts[0].rstrip("%"))
    print("inclusive share of the importer's samples (children included):")
    for s in PROFILE_SYMBOLS:
        if s in shares:
            print("  %6.2f%%  %s" % (shares[s], s))
    ck = sum(shares.get(s, 0.0) for s in PROFILE_SYMBOLS if "checkpoint::Checkpoint::" in s)
    print("  %6.2f%%  (sum of the Checkpoint:: entry points above: the state file, SQLite inside)" % ck)


def fmt(x):
    if isinstance(x, float):
        if abs(x) < 10:
            return "%.4g" % x
        return "{:,.0f}".format(x)
    if isinstance(x, int):
        return "{:,}".format(x)
    return str(x)


def table(args):
    recs = [json.loads(l) for l in open(args.results) if l.strip()]
    groups = {}
    for r in recs:
        key = tuple((k, r[k]) for k in ("bench", "client", "server", "latency", "rows", "windows") if k in r)
        groups.setdefault(key, []).append(r)
    skip = {"bench", "client", "server", "latency", "rows", "windows", "rep", "refused_by", "statuses", "status"}
    for key, rs in groups.items():
        print("### " + ", ".join("%s=%s" % kv for kv in key) + " (%d runs)" % len(rs))
        print()
        print("| figure | median | min – max | runs |")
        print("|---|---|---|---|")
        names = []
        for r in rs:
            for k in r:
                if k not in skip and k not in names:
                    names.append(k)
        for k in names:
            vals = [r[k] for r in rs if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
            if not vals:
                continue
            med = statistics.median(vals)
            print("| %s | %s | %s – %s | %d |" % (k, fmt(med), fmt(min(vals)), fmt(max(vals)), len(vals)))
        extra = [r.get("statuses") for r in rs if r.get("statuses")]
        if extra:
            print()
            print("statuses per run: " + "; ".join(json.dumps(e, sort_keys=True) for e in extra))
        print()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quota")
    q.add_argument("log")
    q.add_argument("--window", type=float, required=True)
    q.add_argument("--limit", type=int, required=True)
    q.add_argument("--batch", type=int, default=100)
    q.add_argument("--wall-s", type=float)
    q.add_argument("--client-summary")
    q.add_argument("--tag", action="append")
    f = sub.add_parser("first-sync")
    f.add_argument("log")
    f.add_argument("marker")
    r = sub.add_parser("record")
    r.add_argument("--tag", action="append")
    r.add_argument("--json-file")
    r.add_argument("--time-file")
    pr = sub.add_parser("profile")
    pr.add_argument("threads")
    pr.add_argument("children")
    t = sub.add_parser("table")
    t.add_argument("results")
    args = ap.parse_args()
    {"quota": quota, "first-sync": first_sync, "record": record, "table": table, "profile": profile}[args.cmd](args)


if __name__ == "__main__":
    main()
