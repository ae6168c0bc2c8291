#!/usr/bin/env python3
"""The baseline: a lead-sync client written the way the Naturalead docs suggest.

It sends batches of 100 leads to POST /api/leads/sync one after the other with `requests`;
on a 429 it sleeps for `Retry-After` seconds and sends the same batch again; on a 500 (or
503, or a connection error) it backs off exponentially with jitter; it never retries 400,
401, 403 or 404. It does not read the `RateLimit-*` headers and has no pacing of its own:
that is what "send a batch, on 429 wait Retry-After" amounts to.

Input: the exact lead payloads, one JSON object per line, as written by
`nl-import check FILE --emit-valid leads.jsonl` (so both clients send the same bytes of
lead data). The key comes from NATURALEAD_API_KEY, as for nl-import.

It uses one `requests.Session` (keep-alive), which is kinder to the baseline than the
docs' bare `requests.post`; on loopback the difference is about a millisecond a request.

Prints a JSON summary on stdout (and writes it to --summary if given).
"""

import argparse
import json
import os
import random
import sys
import time

import requests


def batches(path, size):
    """Yields lists of `size` lead objects read from the JSONL file at `path`."""
    batch = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            batch.append(json.loads(line))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("payloads", help="JSONL of leads (nl-import check --emit-valid)")
    ap.add_argument("--api-url", default="https://api.naturalead.ai/api")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--max-retries", type=int, default=8, help="attempts per batch on 5xx")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--summary", help="also write the JSON summary here")
    args = ap.parse_args()

    key = os.environ.get("NATURALEAD_API_KEY")
    if not key:
        sys.exit("baseline: set NATURALEAD_API_KEY")
    url = args.api_url.rstrip("/") + "/leads/sync"
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    session = requests.Session()

    stats = {
        "client": "baseline.py (requests %s)" % requests.__version__,
        "requests": 0,
        "ok": 0,
        "throttled": 0,
        "server_errors": 0,
        "transport_errors": 0,
        "refused": 0,
        "leads_sent": 0,
        "leads_failed_per_lead": 0,
        "slept_retry_after_s": 0.0,
        "slept_backoff_s": 0.0,
    }
    started = time.monotonic()
    stopped = None
    for batch in batches(args.payloads, args.batch_size):
        failures = 0
        while True:
            stats["requests"] += 1
            try:
                r = session.post(url, headers=headers, json={"leads": batch}, timeout=args.timeout)
            except requests.RequestException:
                stats["transport_errors"] += 1
                status = None
            else:
                status = r.status_code
            if status is not None and 200 <= status < 300:
                stats["ok"] += 1
                stats["leads_sent"] += len(batch)
                try:
                    stats["leads_failed_per_lead"] += int(r.json().get("failed", 0))
                except ValueError:
                    pass
                break
            if status == 429:
                # The docs: wait the number of seconds in Retry-After, then try again.
                stats["throttled"] += 1
                wait = float(r.headers.get("Retry-After", "60"))
                stats["slept_retry_after_s"] += wait
                time.sleep(wait)
                continue
            if status in (400, 401, 403, 404):
                # The docs: never retry these; they need the request fixed.
                stats["refused"] += 1
                if status in (401, 403):
                    stopped = "HTTP %d: %s" % (status, r.text[:200])
                break
            # 500, 503, other 5xx, connection errors: exponential backoff with jitter.
            if status is not None:
                stats["server_errors"] += 1
            failures += 1
            if failures >= args.max_retries:
                break
            wait = random.uniform(0, min(60.0, 2.0 ** failures))
            stats["slept_backoff_s"] += wait
            time.sleep(wait)
        if stopped:
            break
    stats["duration_ms"] = int((time.monotonic() - started) * 1000)
    stats["stopped"] = stopped
    out = json.dumps(stats, indent=2)
    print(out)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(out + "\n")


if __name__ == "__main__":
    main()
